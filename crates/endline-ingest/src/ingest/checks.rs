//! The rules within and across records: relevance, required answers, constraints,
//! recomputed calculations, duplicate keys, orphans and roster counts.

use super::*;

/// The evaluation context of one row.
pub(super) struct RowCtx<'a, 's> {
    tables: &'a [TableData<'s>],
    location: &'a FnvMap<&'s str, (usize, usize)>,
    table: usize,
    row: usize,
    own: Option<Value>,
    today: Option<NaiveDate>,
}

impl RowCtx<'_, '_> {
    fn ancestor(&self, target: usize) -> Option<usize> {
        let (mut t, mut r) = (self.table, self.row);
        while t != target {
            r = self.tables[t].rows[r].parent?;
            t = self.tables[t].parent?;
        }
        Some(r)
    }

    fn descendants(&self, target: usize) -> Vec<usize> {
        // Rows of `target` under the current row, in order.
        let mut path = vec![target];
        while let Some(&last) = path.last() {
            if last == self.table {
                break;
            }
            match self.tables[last].parent {
                Some(p) => path.push(p),
                None => return Vec::new(),
            }
        }
        path.reverse();
        let mut rows = vec![self.row];
        for w in path.windows(2) {
            let (from, to) = (w[0], w[1]);
            let slot = self.tables[from].children.iter().position(|c| *c == to).unwrap_or(0);
            let kids = &self.tables[from].kids[slot];
            rows = rows.iter().flat_map(|&r| kids.of(r).iter().copied()).collect();
        }
        rows
    }
}

impl Context for RowCtx<'_, '_> {
    fn value(&self, name: &str) -> Value {
        let Some(&(t, c)) = self.location.get(name) else { return Value::Null };
        self.ancestor(t).map_or(Value::Null, |r| self.tables[t].value(r, c).clone())
    }
    fn self_value(&self) -> Value {
        self.own.clone().unwrap_or(Value::Null)
    }
    fn repeat_values(&self, name: &str) -> Vec<Value> {
        if let Some(t) = self.tables.iter().position(|t| t.name == name && t.parent.is_some()) {
            return self.descendants(t).into_iter().map(|_| Value::Null).collect();
        }
        let Some(&(t, c)) = self.location.get(name) else { return Vec::new() };
        self.descendants(t).into_iter().map(|r| self.tables[t].value(r, c).clone()).collect()
    }
    fn today(&self) -> Option<NaiveDate> {
        self.ancestor(0).and_then(|top| self.tables[0].dates.get(top).copied().flatten()).or(self.today)
    }
    fn now(&self) -> Option<DateTime<FixedOffset>> {
        None
    }
}

/// A condition that only compares one question with constants (`${consent} = 1`, the
/// usual relevance), read once, with where the question is stored.
pub(super) type Compared = Option<(RefComparisons, (usize, usize))>;

/// Whether every condition holds in `ctx`'s row. Condition `k` with a `compared[k]` is
/// checked on the question's stored value, as `RowCtx::value` reads it for the evaluator,
/// without the evaluator; the others are evaluated.
pub(super) fn relevant(ctx: &RowCtx<'_, '_>, conds: &[&Expression], compared: &[Compared]) -> bool {
    conds.iter().enumerate().all(|(k, e)| match compared.get(k).and_then(Option::as_ref) {
        Some((c, (qt, qc))) => c.holds(ctx.ancestor(*qt).map_or(&Value::Null, |qr| ctx.tables[*qt].value(qr, *qc))),
        None => eval(e.ast(), ctx).truthy(),
    })
}

/// Types a computed value as the calculate's inferred type.
pub(super) fn typed(v: Value, ty: Ty) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (Ty::Int, Value::Dec(d)) if d.fract() == 0.0 && d.abs() < 9e15 => Value::Int(d as i64),
        (Ty::Dec, Value::Int(i)) => Value::Dec(i as f64),
        (Ty::Text, v) => Value::Text(v.as_text()),
        (_, v) => v,
    }
}

/// Computes every `calculate` in dependency order (calculations may use each other and
/// aggregates of repeat rows), keeping what the export wrote for comparison.
pub(super) fn compute_calculations<'s>(
    tables: &mut [TableData<'s>],
    location: &FnvMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
) {
    let mut calcs: Vec<(usize, usize)> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        for (c, item) in t.items.iter().enumerate() {
            if item.question_type() == QuestionType::Calculate {
                calcs.push((ti, c));
            }
        }
    }
    // Order: a calculation after those it references (the validator rules out cycles).
    let mut ordered: Vec<(usize, usize)> = Vec::new();
    let mut placed = vec![false; calcs.len()];
    while ordered.len() < calcs.len() {
        let before = ordered.len();
        for (k, &(ti, c)) in calcs.iter().enumerate() {
            if placed[k] {
                continue;
            }
            let refs = tables[ti].items[c].calculation().map(|e| e.references()).unwrap_or_default();
            let ready = refs.iter().all(|r| {
                calcs.iter().enumerate().all(|(j, &(tj, cj))| placed[j] || tables[tj].items[cj].name() != *r || j == k)
            });
            if ready {
                placed[k] = true;
                ordered.push((ti, c));
            }
        }
        if ordered.len() == before {
            ordered.extend(calcs.iter().enumerate().filter(|(k, _)| !placed[*k]).map(|(_, x)| *x));
            break;
        }
    }
    for (ti, c) in ordered {
        let item = tables[ti].items[c];
        let Some(expr) = item.calculation() else { continue };
        let computed: Vec<Value> = (0..tables[ti].rows.len())
            .map(|r| {
                let ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
                let spec = &tables[ti].specs[c];
                if relevant(&ctx, &spec.conditions, &spec.compared) {
                    typed(eval(expr.ast(), &ctx), item.value_type())
                } else {
                    Value::Null
                }
            })
            .collect();
        for (r, v) in computed.into_iter().enumerate() {
            let width = tables[ti].items.len();
            let exported = std::mem::replace(&mut tables[ti].values[r * width + c], v.clone());
            if let Value::Text(written) = exported
                && !same(&written, &v)
            {
                let t = &tables[ti];
                let row = &t.rows[r];
                let iss = issue(
                    t,
                    row,
                    item.name(),
                    "calculation",
                    Severity::Warning,
                    Some(written.clone()),
                    format!(
                        "the export has `{written}` for `{}`, but the answers give `{}`; the recomputed value is kept",
                        item.name(),
                        v.as_text()
                    ),
                );
                tables[ti].rows[r].push_issue(iss);
            }
        }
    }
}

pub(super) fn same(written: &str, v: &Value) -> bool {
    let w = written.trim();
    match (w.parse::<f64>(), v.as_number()) {
        (Ok(a), Some(b)) if !matches!(v, Value::Text(_)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => w == v.as_text(),
    }
}

/// Relevance, required and constraint, per row and question.
pub(super) fn check_rows<'s>(
    tables: &mut [TableData<'s>],
    location: &FnvMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
) {
    for ti in 0..tables.len() {
        let mut found: Vec<(usize, Issue)> = Vec::new();
        let clocked = tables[ti].specs.iter().any(|s| s.clocked);
        // The questions with something to check, found once: not those always relevant,
        // never required and without a constraint, nor calculations.
        let checked: Vec<usize> = (tables[ti].specs.iter().enumerate())
            .filter(|(_, s)| {
                let item = s.item;
                !(s.conditions.is_empty() && matches!(item.required(), Required::No) && item.constraint().is_none())
                    && item.question_type() != QuestionType::Calculate
            })
            .map(|(c, _)| c)
            .collect();
        for r in 0..tables[ti].rows.len() {
            let t = &tables[ti];
            let row = &t.rows[r];
            let mut ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
            let clock_unknown = clocked && ctx.today().is_none();
            for (c, spec) in checked.iter().filter_map(|&c| Some((c, t.specs.get(c)?))) {
                let item = spec.item;
                if row.is_invalid(c) {
                    continue;
                }
                let conds = &spec.conditions;
                if clock_unknown && conds.iter().any(|e| clock_in(e)) {
                    continue;
                }
                let is_relevant = relevant(&ctx, conds, &spec.compared);
                let missing = row.missing(c);
                let answered = !t.value(r, c).is_null() || missing.is_some();
                let written = || {
                    missing.map_or_else(
                        || Some(t.value(r, c).as_text()).filter(|s| !s.is_empty()),
                        |m| Some(m.to_string()),
                    )
                };
                if !is_relevant && answered {
                    let why = conds.iter().map(|e| e.text().to_string()).collect::<Vec<_>>().join(" and ");
                    found.push((
                        r,
                        issue(
                            t,
                            row,
                            item.name(),
                            "relevance",
                            Severity::Error,
                            written(),
                            format!("`{}` is answered, but it is not asked here ({why} is false)", item.name()),
                        ),
                    ));
                    continue;
                }
                if !is_relevant {
                    continue;
                }
                let required = match item.required() {
                    Required::No => false,
                    Required::Yes => true,
                    Required::When(e) => (!clock_unknown || !clock_in(e)) && eval(e.ast(), &ctx).truthy(),
                };
                if required && !answered {
                    let msg = item.required_message().map_or_else(
                        || format!("`{}` is required", item.name()),
                        |l| format!("`{}` is required: {}", item.name(), l.default_text()),
                    );
                    found.push((r, issue(t, row, item.name(), "required", Severity::Error, None, msg)));
                    continue;
                }
                if let Some(con) = item.constraint() {
                    if t.value(r, c).is_null() || (clock_unknown && clock_in(con)) {
                        continue;
                    }
                    let holds = match &spec.comparisons {
                        Some(comparisons) => comparisons.holds(t.value(r, c)),
                        None => {
                            ctx.own = Some(t.value(r, c).clone());
                            eval(con.ast(), &ctx).truthy()
                        }
                    };
                    if !holds {
                        let msg = item.constraint_message().map_or_else(
                            || format!("`{}` breaks its constraint `{}`", item.name(), con.text()),
                            |l| {
                                format!(
                                    "`{}` breaks its constraint `{}`: {}",
                                    item.name(),
                                    con.text(),
                                    l.default_text()
                                )
                            },
                        );
                        found.push((r, issue(t, row, item.name(), "constraint", Severity::Error, written(), msg)));
                    }
                }
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].push_issue(i);
        }
    }
}

/// Duplicate keys, repeat counts, and repeat rows whose parent was rejected.
pub(super) fn cross_checks<'s>(
    survey: &Survey,
    tables: &mut [TableData<'s>],
    location: &FnvMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
    earlier: &FnvMap<Box<str>, usize>,
) {
    // Duplicate and empty keys in the top table (keys first used in an earlier batch
    // are in `earlier`, with the row that used them).
    let mut first: FnvMap<Arc<str>, usize> = FnvMap::with_capacity_and_hasher(tables[0].rows.len(), Default::default());
    let mut found = Vec::new();
    for (r, row) in tables[0].rows.iter().enumerate() {
        match &row.key {
            None => {
                if !row.issues().iter().any(|i| i.column == survey.key()) {
                    found.push((
                        r,
                        issue(
                            &tables[0],
                            row,
                            survey.key(),
                            "required",
                            Severity::Error,
                            None,
                            format!("the key `{}` is empty: the record cannot be identified", survey.key()),
                        ),
                    ));
                }
            }
            Some(k) => {
                // Where the key was first used: a row of this batch (named with its file
                // when that is another file, as an earlier batch of an --append is), or
                // of an earlier batch of this run.
                let at = first.get(k).map(|&f| {
                    let by = &tables[0].rows[f];
                    match tables[0].files.get(by.file) {
                        Some(file) if by.file != row.file => format!("{} of {}", by.row, file.display),
                        _ => by.row.to_string(),
                    }
                });
                if let Some(at) = earlier.get(&**k).map(usize::to_string).or(at) {
                    found.push((
                        r,
                        issue(
                            &tables[0],
                            row,
                            survey.key(),
                            "duplicate-key",
                            Severity::Error,
                            Some(k.to_string()),
                            format!("this key was already used by row {at}"),
                        ),
                    ));
                } else {
                    first.insert(k.clone(), r);
                }
            }
        }
    }
    for (r, i) in found {
        tables[0].rows[r].push_issue(i);
    }
    crate::record_keys::duplicates(tables);
    // Rows of a repeat that is not asked in its parent record (its own or an enclosing
    // group's relevance is false there) must not exist.
    for ti in 0..tables.len() {
        let (Some(pi), Some(repeat)) = (tables[ti].parent, tables[ti].repeat) else { continue };
        if tables[ti].repeat_conditions.is_empty() {
            continue;
        }
        let mut found = Vec::new();
        for (r, row) in tables[ti].rows.iter().enumerate() {
            let Some(p) = row.parent else { continue };
            let ctx = RowCtx { tables, location, table: pi, row: p, own: None, today };
            let conds = &tables[ti].repeat_conditions;
            if ctx.today().is_none() && conds.iter().any(|e| clock_in(e)) {
                continue;
            }
            if !relevant(&ctx, conds, &tables[ti].repeat_compared) {
                let why = conds.iter().map(|e| e.text().to_string()).collect::<Vec<_>>().join(" and ");
                found.push((
                    r,
                    issue(
                        &tables[ti],
                        row,
                        repeat.name(),
                        "relevance",
                        Severity::Error,
                        None,
                        format!(
                            "`{}` is not asked in this row's parent record ({why} is false), so it has no rows",
                            repeat.name()
                        ),
                    ),
                ));
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].push_issue(i);
        }
    }
    // Repeat counts.
    for ti in 0..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let Some(repeat) = tables[ti].repeat else { continue };
        let Some(count) = repeat.count() else { continue };
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        let mut found = Vec::new();
        for r in 0..tables[pi].rows.len() {
            let ctx = RowCtx { tables, location, table: pi, row: r, own: None, today };
            let Some(expected) = eval(count.ast(), &ctx).as_number() else { continue };
            let actual = tables[pi].kids[slot].of(r).len();
            if (expected - actual as f64).abs() > 0.5 {
                let t = &tables[pi];
                found.push((
                    r,
                    issue(
                        t,
                        &t.rows[r],
                        repeat.name(),
                        "count-mismatch",
                        Severity::Warning,
                        Some(actual.to_string()),
                        format!("`{}` has {actual} rows, but `{}` gives {expected}", repeat.name(), count.text()),
                    ),
                ));
            }
        }
        for (r, i) in found {
            tables[pi].rows[r].push_issue(i);
        }
    }
    // A repeat row whose parent record has an error goes with it.
    for ti in 1..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let mut found = Vec::new();
        for (r, row) in tables[ti].rows.iter().enumerate() {
            if let Some(p) = row.parent {
                let parent = &tables[pi].rows[p];
                if parent.has_error() {
                    found.push((
                        r,
                        issue(
                            &tables[ti],
                            row,
                            survey.key(),
                            "orphan",
                            Severity::Error,
                            row.key.as_deref().map(str::to_string),
                            format!(
                                "its parent record ({} row {}) was rejected",
                                tables[pi].files.get(parent.file).map_or("", |f| f.display.as_str()),
                                parent.row
                            ),
                        ),
                    ));
                }
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].push_issue(i);
        }
    }
    crate::rosters::partial(tables);
}
