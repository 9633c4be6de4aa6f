//! Partial rosters: a record kept while some of its repeat rows have errors (and are
//! rejected) is written with fewer rows than it had. Said on the record, per repeat, as
//! a `partial-roster` warning (issue #19). Run last among ingest's cross-record checks,
//! when every row's errors are known.

use crate::ingest::{TableData, issue};
use crate::model::Severity;

/// Warns each kept record whose repeat rows lost some to errors.
pub(crate) fn partial(tables: &mut [TableData<'_>]) {
    for ti in (1..tables.len()).rev() {
        let Some(pi) = tables[ti].parent else { continue };
        let name = tables[ti].repeat.map_or_else(|| tables[ti].name.clone(), |r| r.name().to_string());
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        let mut found = Vec::new();
        for p in 0..tables[pi].rows.len() {
            if tables[pi].rows[p].has_error() {
                continue;
            }
            let kids = tables[pi].kids[slot].of(p);
            // (Rows of a repeat the record was not to be asked have no place in it: their
            // loss leaves the record whole.)
            let lost = |k: usize| {
                let row = &tables[ti].rows[k];
                row.has_error() && !row.issues().iter().any(|i| i.rule == "relevance" && i.column == name)
            };
            let bad: Vec<usize> = kids.iter().filter(|&&k| lost(k)).map(|&k| tables[ti].rows[k].row).collect();
            if bad.is_empty() {
                continue;
            }
            let t = &tables[pi];
            let shown: Vec<String> = bad.iter().take(5).map(usize::to_string).collect();
            found.push((
                p,
                issue(
                    t,
                    &t.rows[p],
                    &name,
                    "partial-roster",
                    Severity::Warning,
                    Some((kids.len() - bad.len()).to_string()),
                    format!(
                        "{} of its {} `{name}` rows have errors (row {}{} of {}), so the record has {} rows without them",
                        bad.len(),
                        kids.len(),
                        shown.join(", "),
                        if bad.len() > shown.len() { ", …" } else { "" },
                        tables[ti].name,
                        kids.len() - bad.len()
                    ),
                ),
            ));
        }
        for (r, i) in found {
            tables[pi].rows[r].push_issue(i);
        }
    }
}
