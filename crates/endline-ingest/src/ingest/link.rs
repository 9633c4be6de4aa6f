//! Roster rows to their parent rows (by the survey key, ODK Central's PARENT_KEY or
//! KoboToolbox's _parent_index), and each submission's date for `today()`.

use super::*;

/// Links repeat rows to their parent row: by the survey key, ODK Central's
/// PARENT_KEY/KEY, or KoboToolbox's _parent_index/_index.
pub(super) fn link(survey: &Survey, tables: &mut [TableData<'_>]) {
    for t in tables.iter_mut() {
        t.kids = vec![Kids::default(); t.children.len()];
    }
    for ti in 0..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let (parents, children) = (&tables[pi], &tables[ti]);
        let n = parents.rows.len();
        let sized = |used: bool| FnvMap::with_capacity_and_hasher(if used { n } else { 0 }, Default::default());
        let mut by_key: FnvMap<&str, usize> = sized(pi == 0);
        let mut by_odk: FnvMap<&str, usize> = sized(parents.meta_index("KEY").is_some());
        let mut by_kobo: FnvMap<&str, usize> = sized(parents.meta_index("_index").is_some());
        for (r, row) in parents.rows.iter().enumerate() {
            if pi == 0
                && let Some(k) = &row.key
            {
                by_key.entry(k).or_insert(r);
            }
            let own = parents.files[row.file].links;
            if let Some(v) = own.key.and_then(|c| parents.cell(row, c)) {
                by_odk.entry(v).or_insert(r);
            }
            if let Some(v) = own.index.and_then(|c| parents.cell(row, c)) {
                by_kobo.entry(v).or_insert(r);
            }
        }
        // A parent's rows come together: a link the same as the previous row's finds
        // the same parent without a lookup.
        let mut last: Option<(Via, &str, usize)> = None;
        let links: Vec<Option<usize>> = children
            .rows
            .iter()
            .map(|row| {
                // The row's cells found once for its (up to three) links.
                let record = children.cells.get(row.file).filter(|c| row.at < c.len()).map(|c| c.record(row.at));
                let written = children.files[row.file].links.parents(|c| record.and_then(|r| r.cell(c)), pi == 0);
                written.iter().flatten().find_map(|&(via, v)| {
                    if let Some((lv, lt, p)) = last
                        && lv == via
                        && lt == v
                    {
                        return Some(p);
                    }
                    let p = match via {
                        Via::Odk => by_odk.get(v).copied(),
                        Via::Kobo => by_kobo.get(v).copied(),
                        Via::Key => by_key.get(v).copied(),
                    }?;
                    last = Some((via, v, p));
                    Some(p)
                })
            })
            .collect();
        drop((by_key, by_odk, by_kobo));
        // The parent's rows, in order, for each parent row.
        let mut start = vec![0usize; tables[pi].rows.len() + 1];
        for p in links.iter().flatten() {
            start[p + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut rows = vec![0usize; start.last().copied().unwrap_or(0)];
        for (r, p) in links.iter().enumerate() {
            if let Some(p) = p {
                rows[fill[*p]] = r;
                fill[*p] += 1;
            }
        }
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        tables[pi].kids[slot] = Kids { start, rows };
        let how = if tables[ti].meta_index("PARENT_KEY").is_some() {
            "PARENT_KEY"
        } else if tables[ti].meta_index("_parent_index").is_some() {
            "_parent_index"
        } else {
            survey.key()
        };
        for (r, parent) in links.into_iter().enumerate() {
            // The household's key, or (an orphan, or a household without one) the link
            // as written.
            let key = parent.and_then(|p| tables[pi].rows[p].key.clone()).or_else(|| {
                let (t, row) = (&tables[ti], &tables[ti].rows[r]);
                t.files[row.file].links.parent.and_then(|c| t.cell(row, c)).map(Arc::from)
            });
            let row = &mut tables[ti].rows[r];
            row.parent = parent;
            row.key = key;
            row.key_issues();
            if parent.is_none() {
                let t = &tables[ti];
                let iss = issue(
                    t,
                    &t.rows[r],
                    how,
                    "orphan",
                    Severity::Error,
                    None,
                    format!("no record of `{}` matches this row's {how}", tables[pi].name),
                );
                tables[ti].rows[r].push_issue(iss);
            }
        }
    }
}

/// Whether any expression of the survey that ingest evaluates (relevance, constraint,
/// required, calculation, repeat count) uses `today()` or `now()`.
pub(super) fn uses_clock(survey: &Survey) -> bool {
    let mut uses = false;
    survey.visit(&mut |p| {
        let item = p.item;
        let required = match item.required() {
            Required::When(e) => Some(e),
            _ => None,
        };
        uses |= [item.relevant(), item.constraint(), item.calculation(), item.count(), required]
            .into_iter()
            .flatten()
            .any(clock_in);
    });
    uses
}

/// Each top-level record's submission date (ODK Central's SubmissionDate, KoboToolbox's
/// _submission_time): what `today()` means for it and its roster rows. Read only when
/// an expression uses the clock (parsing a timestamp is most of the cost of a record's
/// metadata).
pub(super) fn submission_dates(tables: &mut [TableData<'_>]) {
    let t = &tables[0];
    let m = t.meta.iter().position(|m| m == "SubmissionDate" || m == "_submission_time");
    let dates = t
        .rows
        .iter()
        .map(|row| {
            let v = t.meta_of(row, m?)?;
            parse_datetime(v).map(|d| d.date_naive()).or_else(|| parse_date(v.get(..10).unwrap_or(v)))
        })
        .collect();
    tables[0].dates = dates;
}
