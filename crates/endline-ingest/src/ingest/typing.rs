//! From cells to typed answers: numbers, dates, points, choices and missing codes, with
//! the shortcuts the common cases take.

use super::*;

/// The shortcut for a question's answers, decided once per question: most answers are
/// integers, decimals or integer choices of a question without missing codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Quick {
    Int,
    Dec,
    IntChoice,
    /// No shortcut: every answer goes through [`parse_answer`].
    None,
}

impl Quick {
    pub(super) fn of(item: &Item, int_choices: bool, missing: bool) -> Self {
        match item.question_type() {
            _ if missing => Quick::None,
            QuestionType::Integer => Quick::Int,
            QuestionType::Decimal => Quick::Dec,
            QuestionType::SelectOne if int_choices => Quick::IntChoice,
            _ => Quick::None,
        }
    }
}

/// An answer typed by its question's [`Quick`] shortcut: what [`parse_answer`] gives it,
/// without asking the question's type again; `None` when the shortcut does not apply
/// (anything unusual, or invalid, goes the general way).
#[inline]
pub(super) fn quick_answer(spec: &Spec<'_>, raw: &str) -> Option<Value> {
    match spec.quick {
        Quick::Int => parse_i64(trim(raw)).map(Value::Int),
        Quick::Dec => parse_f64(trim(raw)).ok().filter(|f| f.is_finite()).map(Value::Dec),
        Quick::IntChoice => int_choice(spec, trim(raw)).map(Value::Int),
        Quick::None => None,
    }
}

pub(super) fn truthy_cell(s: &str) -> bool {
    matches!(trim(s), "1" | "true" | "True" | "TRUE")
}

/// `s.trim()`, without its cost when neither end can be white space (the usual cell).
pub(super) fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [a, .., b] | [a @ b] if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `t.parse::<f64>()`, with a shortcut for the usual decimal (an optional sign, at most 15
/// digits, an optional point): the digits as an integer divided by a power of ten. Both
/// are exact in an f64 and IEEE division rounds correctly, so the result is the same
/// (Clinger's fast path).
pub(super) fn parse_f64(t: &str) -> Result<f64, std::num::ParseFloatError> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    // At most 15 digits and a point; anything longer or else goes to the standard parser.
    if digits.len() > 16 {
        return t.parse();
    }
    let (mut m, mut point) = (0u64, None);
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            m = m * 10 + u64::from(d);
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return t.parse();
        }
    }
    let n = digits.len() - usize::from(point.is_some());
    if n == 0 || n > 15 {
        return t.parse();
    }
    let scale = point.map_or(0, |p| digits.len() - 1 - p);
    let v = m as f64 / POW10[scale];
    Ok(if negative { -v } else { v })
}

/// `t` as an i64, as `str::parse` reads it: an optional sign, then digits. Up to 18
/// digits (which cannot overflow) are read here, the rest by the standard parser.
pub(super) fn parse_i64(t: &str) -> Option<i64> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() || digits.len() > 18 {
        return t.parse().ok();
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if negative { -v } else { v })
}

pub(super) fn parse_value(item: &Item, raw: &str) -> Result<Value, String> {
    let t = trim(raw);
    let bad = |what: &str| Err(format!("`{t}` is not {what}"));
    match item.question_type() {
        QuestionType::Text => Ok(Value::Text(raw.to_string())),
        QuestionType::Integer => match parse_i64(t) {
            Some(v) => Ok(Value::Int(v)),
            None => match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Value::Int(f as i64)),
                _ => bad("an integer"),
            },
        },
        QuestionType::Decimal => match parse_f64(t) {
            Ok(f) if f.is_finite() => Ok(Value::Dec(f)),
            _ => bad("a number"),
        },
        QuestionType::Date => parse_date(t).map(Value::Date).map_or_else(|| bad("a date (YYYY-MM-DD)"), Ok),
        QuestionType::DateTime => parse_datetime(t)
            .map(Value::DateTime)
            .map_or_else(|| bad("a timestamp with offset (2025-06-01T09:30:00+08:00)"), Ok),
        QuestionType::Geopoint => {
            let (mut g, mut n) = ([f64::NAN; 4], 0);
            for part in t.split_whitespace() {
                match (g.get_mut(n), parse_f64(part)) {
                    (Some(slot), Ok(v)) => *slot = v,
                    _ => return bad("a point (\"lat lon [alt [accuracy]]\")"),
                }
                n += 1;
            }
            if n < 2 {
                return bad("a point (\"lat lon [alt [accuracy]]\")");
            }
            if !(-90.0..=90.0).contains(&g[0]) || !(-180.0..=180.0).contains(&g[1]) {
                return Err(format!("`{t}` is outside the globe (latitude -90..90, longitude -180..180)"));
            }
            Ok(Value::Geo(g))
        }
        QuestionType::SelectOne
        | QuestionType::SelectMultiple
        | QuestionType::Calculate
        | QuestionType::Note
        | QuestionType::Group
        | QuestionType::Repeat => Ok(Value::Text(raw.to_string())),
    }
}

/// Types record `at` of file `fi`, appending its values to `values`.
pub(super) fn type_record(
    survey: &Survey,
    t: &TableData<'_>,
    fi: usize,
    at: usize,
    key_col: Option<usize>,
    values: &mut Vec<Value>,
) -> Row {
    let file = &t.files[fi];
    let cells = &t.cells[fi];
    let record = cells.record(at);
    let cell = |i: usize| record.cell(i);
    let base = values.len();
    let mut row = Row {
        file: fi,
        row: match file.source_row_at.and_then(&cell).and_then(|r| r.parse().ok()) {
            Some(r) => r,
            None => cells.row(at),
        },
        at,
        // A roster row's key is its household's, found by `link`.
        key: None,
        parent: None,
        problems: None,
    };
    // Split select_multiple and geopoint columns are joined into the answer they stand
    // for, unless the item also has a column of its own.
    let mut joined: Vec<(usize, String)> = Vec::new();
    for (c, cols) in &file.split_at {
        if file.item_at[*c].and_then(&cell).is_none() {
            let chosen: Vec<&str> =
                cols.iter().filter(|(i, _)| cell(*i).is_some_and(truthy_cell)).map(|(_, v)| v.as_str()).collect();
            if !chosen.is_empty() {
                joined.push((*c, chosen.join(" ")));
            }
        }
    }
    for (c, parts) in &file.geo_at {
        let cells = parts.map(|p| p.and_then(&cell));
        if file.item_at[*c].and_then(&cell).is_none() && cells[0].is_some() {
            joined.push((*c, cells.map(Option::unwrap_or_default).join(" ").trim().to_string()));
        }
    }
    for (c, spec) in t.specs.iter().enumerate() {
        let value = 'typed: {
            let raw = match file.item_at[c].and_then(&cell) {
                Some(cell) => cell,
                None => match joined.iter().find(|(x, _)| *x == c) {
                    Some((_, j)) => j.as_str(),
                    None => break 'typed Value::Null,
                },
            };
            if let Some(v) = quick_answer(spec, raw) {
                break 'typed v;
            }
            let item = spec.item;
            if item.question_type() == QuestionType::Calculate {
                // Kept as written, compared with the recomputed value later.
                break 'typed Value::Text(raw.to_string());
            }
            if !spec.missing.is_empty() {
                let trimmed = trim(raw);
                if let Some((_, name)) = spec.missing.iter().find(|(v, _)| v == trimmed) {
                    row.problems().missing.push((c, name.to_string()));
                    break 'typed Value::Null;
                }
            }
            match parse_answer(spec, survey, raw) {
                Ok(v) => v,
                Err(message) => {
                    row.problems().invalid.push(c);
                    let rule = if item.question_type().is_select() { "choice" } else { "type" };
                    let iss = issue(
                        t,
                        &row,
                        item.name(),
                        rule,
                        Severity::Error,
                        Some(raw.to_string()),
                        format!("{}: {message}", item.name()),
                    );
                    row.push_issue(iss);
                    Value::Null
                }
            }
        };
        values.push(value);
    }
    let values = &values[base..];
    row.key = match key_col.map(|kc| &values[kc]) {
        Some(Value::Null) => None,
        Some(Value::Text(t)) => Some(Arc::from(t.as_str())),
        Some(v) => Some(Arc::from(v.as_text())),
        // Without a survey key, a top-level record's key is the parent link as written.
        None if t.parent.is_none() => file.links.parent.and_then(&cell).map(Arc::from),
        // A roster row's key is its household's, set (with its problems') by `link`.
        None => None,
    };
    row.key_issues();
    row
}

/// Types an answer (not a missing code): a select's choices, or a value of the question's type.
pub(super) fn parse_answer(spec: &Spec<'_>, survey: &Survey, raw: &str) -> Result<Value, String> {
    if spec.item.question_type().is_select() { parse_choice(spec, survey, raw) } else { parse_value(spec.item, raw) }
}

/// `t` (trimmed) as one of the question's integer choices, when it is written as one.
pub(super) fn int_choice(spec: &Spec<'_>, t: &str) -> Option<i64> {
    parse_i64(t).filter(|v| spec.int_values.binary_search(v).is_ok())
}

/// Parses a select answer; the error names the values that are not choices.
pub(super) fn parse_choice(spec: &Spec<'_>, survey: &Survey, raw: &str) -> Result<Value, String> {
    let item = spec.item;
    let Some(list) = survey.choices_of(item) else { return Ok(Value::Text(raw.to_string())) };
    let single = item.question_type() == QuestionType::SelectOne;
    let t = trim(raw);
    // The common case, an integer choice: what the text comparison and normalising below
    // would give it.
    if single
        && spec.int_choices
        && let Some(v) = int_choice(spec, t)
    {
        return Ok(Value::Int(v));
    }
    // One value written as the choice is: no allocation but the value's.
    if single && spec.choices.iter().any(|c| c == t) {
        return Ok(if spec.int_choices {
            t.parse::<i64>().map_or_else(|_| Value::Text(t.to_string()), Value::Int)
        } else {
            Value::Text(t.to_string())
        });
    }
    // Choices written as they are, the common case: no normalising.
    if !single && raw.split_whitespace().all(|v| spec.choices.iter().any(|c| c == v)) {
        return Ok(Value::Multi(first_of_each(raw.split_whitespace())));
    }
    normalised_choice(spec, list.name(), raw, single)
}

/// Parses a select answer whose values are normalised first ("1.0" from a spreadsheet
/// is the integer choice 1); the error names the values that are not choices of `list`.
pub(super) fn normalised_choice(spec: &Spec<'_>, list: &str, raw: &str, single: bool) -> Result<Value, String> {
    let norm = |v: &str| -> String {
        if spec.int_choices
            && let Ok(f) = v.parse::<f64>()
            && f.fract() == 0.0
        {
            return format!("{}", f as i64);
        }
        v.to_string()
    };
    let values: Vec<String> = raw.split_whitespace().map(norm).collect();
    let unknown: Vec<&String> = values.iter().filter(|v| !spec.choices.contains(v)).collect();
    if !unknown.is_empty() {
        let shown: Vec<&str> = spec.choices.iter().take(12).map(String::as_str).collect();
        return Err(format!(
            "{} not a choice of `{}` ({})",
            unknown.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                + if unknown.len() == 1 { " is" } else { " are" },
            list,
            shown.join(", ")
        ));
    }
    if single {
        if values.len() != 1 {
            return Err(format!("`{raw}` gives {} choices to a select_one", values.len()));
        }
        return Ok(if spec.int_choices {
            values[0].parse::<i64>().map_or(Value::Text(values[0].clone()), Value::Int)
        } else {
            Value::Text(values[0].clone())
        });
    }
    Ok(Value::Multi(first_of_each(values.into_iter())))
}

/// A select_multiple's choices in the order given, each once (a choice written twice is
/// chosen once); a repeat is not copied.
pub(super) fn first_of_each<S: AsRef<str> + Into<String>>(values: impl Iterator<Item = S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.iter().any(|o| o == v.as_ref()) {
            out.push(v.into());
        }
    }
    out
}
