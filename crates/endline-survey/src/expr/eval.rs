//! Evaluation with XLSForm's semantics for empty values.
//!
//! An empty answer is [`Value::Null`]. As in ODK (XPath 1.0), arithmetic on an empty value
//! gives an empty result, an ordering comparison with an empty value is false, and
//! `${x} = ''` is true when `x` is empty. Division by zero is empty rather than
//! infinite, so that it never reaches a typed column as `inf`.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::ast::{BinOp, Expr, ExprKind};

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (an empty cell, a missing code, a non-relevant question).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A decimal.
    Dec(f64),
    /// Text, or a select_one choice with a text value.
    Text(String),
    /// A calendar date.
    Date(NaiveDate),
    /// A timestamp with its offset.
    DateTime(DateTime<FixedOffset>),
    /// The choices of a select_multiple, in the order given.
    Multi(Vec<String>),
    /// latitude, longitude, altitude, accuracy.
    Geo([f64; 4]),
}

impl Value {
    /// Whether the value is empty.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a number, as XPath's `number()`: None is NaN.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Null | Value::Multi(_) | Value::Geo(_) => None,
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Dec(d) => Some(*d).filter(|d| d.is_finite()),
            Value::Text(s) => s.trim().parse::<f64>().ok().filter(|d| d.is_finite()),
            Value::Date(d) => Some(days_since_epoch(*d) as f64),
            Value::DateTime(t) => Some(t.timestamp() as f64 / 86_400.0),
        }
    }

    /// The value as a boolean, as XPath's `boolean()`.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Dec(d) => *d != 0.0 && !d.is_nan(),
            Value::Text(s) => !s.is_empty(),
            Value::Multi(v) => !v.is_empty(),
            Value::Date(_) | Value::DateTime(_) | Value::Geo(_) => true,
        }
    }

    /// The value as text, as XPath's `string()`; empty for [`Value::Null`].
    pub fn as_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Dec(d) => write!(f, "{}", format_decimal(*d)),
            Value::Text(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::DateTime(t) => write!(f, "{}", t.to_rfc3339()),
            Value::Multi(v) => f.write_str(&v.join(" ")),
            Value::Geo(g) => write!(f, "{} {} {} {}", g[0], g[1], g[2], g[3]),
        }
    }
}

/// Integral decimals print without a fraction (`3`, not `3.0`), as XPath does.
fn format_decimal(d: f64) -> String {
    if d.fract() == 0.0 && d.abs() < 1e15 { format!("{}", d as i64) } else { format!("{d}") }
}

fn days_since_epoch(d: NaiveDate) -> i64 {
    (d - NaiveDate::default()).num_days()
}

fn date_plus_days(d: NaiveDate, days: f64) -> Value {
    let whole = days.floor();
    if !whole.is_finite() || whole.abs() > 1e7 {
        return Value::Null;
    }
    d.checked_add_signed(chrono::TimeDelta::days(whole as i64)).map_or(Value::Null, Value::Date)
}

/// What the evaluator reads answers from. Ingest implements this over a record. Only
/// `value` is required; by default there is no own value, no repeat and no clock.
pub trait Context {
    /// The value of a question in scope (the same row, or an enclosing one).
    fn value(&self, name: &str) -> Value;
    /// A column of the choice being filtered, for a bare name in a `choice_filter`.
    fn choice_column(&self, _name: &str) -> Value {
        Value::Null
    }
    /// The question's own value, for `.` in a constraint.
    fn self_value(&self) -> Value {
        Value::Null
    }
    /// The values of a question in a repeat, one per row (for `sum`, `min`, `max`), or
    /// one entry per row of a repeat itself (for `count`).
    fn repeat_values(&self, _name: &str) -> Vec<Value> {
        Vec::new()
    }
    /// The date `today()` returns. Supplied by the caller so that results never depend
    /// on the wall clock.
    fn today(&self) -> Option<NaiveDate> {
        None
    }
    /// The timestamp `now()` returns, likewise supplied.
    fn now(&self) -> Option<DateTime<FixedOffset>> {
        None
    }
}

/// `count-selected(v)`: how many choices a select_multiple answer holds (the words of
/// any other value).
pub(crate) fn count_selected(v: &Value) -> i64 {
    match v {
        Value::Multi(v) => v.len() as i64,
        Value::Null => 0,
        v => v.as_text().split_whitespace().count() as i64,
    }
}

/// Evaluates an expression that has passed the type checker.
pub fn eval(e: &Expr, ctx: &dyn Context) -> Value {
    match &e.kind {
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Dec(d) => Value::Dec(*d),
        ExprKind::Str(s) => Value::Text(s.clone()),
        ExprKind::Ref(n) => ctx.value(n),
        ExprKind::SelfRef => ctx.self_value(),
        ExprKind::Name(n) => ctx.choice_column(n),
        ExprKind::Neg(x) => match eval(x, ctx) {
            Value::Int(i) => i.checked_neg().map_or(Value::Null, Value::Int),
            v => v.as_number().map_or(Value::Null, |n| Value::Dec(-n)),
        },
        ExprKind::Binary(BinOp::And, a, b) => Value::Bool(eval(a, ctx).truthy() && eval(b, ctx).truthy()),
        ExprKind::Binary(BinOp::Or, a, b) => Value::Bool(eval(a, ctx).truthy() || eval(b, ctx).truthy()),
        ExprKind::Binary(op, a, b) => binary(*op, eval(a, ctx), eval(b, ctx)),
        ExprKind::Call { name, args, .. } => call(name, args, ctx),
    }
}

fn binary(op: BinOp, a: Value, b: Value) -> Value {
    if op.is_comparison() { Value::Bool(compare(op, &a, &b)) } else { arithmetic(op, a, b) }
}

/// `a op b` for a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`): what [`eval`] gives, as a
/// bool. Ordering compares numbers only (anything else is false).
pub(crate) fn compare(op: BinOp, a: &Value, b: &Value) -> bool {
    match op {
        BinOp::Eq => equal(a, b),
        BinOp::Ne => !equal(a, b),
        _ => {
            let (Some(x), Some(y)) = (a.as_number(), b.as_number()) else { return false };
            match op {
                BinOp::Lt => x < y,
                BinOp::Le => x <= y,
                BinOp::Gt => x > y,
                _ => x >= y,
            }
        }
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Bool(x), y) | (y, Value::Bool(x)) => *x == y.truthy(),
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Dec(_), y) | (y, Value::Int(_) | Value::Dec(_)) => {
            let x = if matches!(a, Value::Int(_) | Value::Dec(_)) { a } else { b };
            matches!((x.as_number(), y.as_number()), (Some(p), Some(q)) if p == q)
        }
        _ => a.as_text() == b.as_text(),
    }
}

fn arithmetic(op: BinOp, a: Value, b: Value) -> Value {
    match (op, &a, &b) {
        (BinOp::Sub, Value::Date(x), Value::Date(y)) => return Value::Int((*x - *y).num_days()),
        (BinOp::Add | BinOp::Sub, Value::Date(d), n) => {
            let Some(n) = n.as_number() else { return Value::Null };
            return date_plus_days(*d, if op == BinOp::Sub { -n } else { n });
        }
        (BinOp::Add, n, Value::Date(d)) => return n.as_number().map_or(Value::Null, |n| date_plus_days(*d, n)),
        (_, Value::Int(x), Value::Int(y)) if op != BinOp::Div => {
            let r = match op {
                BinOp::Add => x.checked_add(*y),
                BinOp::Sub => x.checked_sub(*y),
                BinOp::Mul => x.checked_mul(*y),
                _ => x.checked_rem(*y),
            };
            return r.map_or_else(|| float_op(op, *x as f64, *y as f64), Value::Int);
        }
        _ => {}
    }
    match (a.as_number(), b.as_number()) {
        (Some(x), Some(y)) => float_op(op, x, y),
        _ => Value::Null,
    }
}

fn float_op(op: BinOp, x: f64, y: f64) -> Value {
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        _ => x % y,
    };
    if r.is_finite() { Value::Dec(r) } else { Value::Null }
}

fn number_result(d: f64) -> Value {
    if d.is_finite() { Value::Dec(d) } else { Value::Null }
}

fn call(name: &str, args: &[Expr], ctx: &dyn Context) -> Value {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |a| eval(a, ctx));
    let aggregate_values = || match args.first().map(|a| &a.kind) {
        Some(ExprKind::Ref(r)) => Some(ctx.repeat_values(r)),
        _ => None,
    };
    match name {
        "not" => Value::Bool(!arg(0).truthy()),
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "boolean" => Value::Bool(arg(0).truthy()),
        "if" => {
            if arg(0).truthy() {
                arg(1)
            } else {
                arg(2)
            }
        }
        "coalesce" => {
            // The first non-empty argument (SurveyCTO takes more than ODK's two).
            let last = args.len().saturating_sub(1);
            (0..last).map(arg).find(|a| !(a.is_null() || a.as_text().is_empty())).unwrap_or_else(|| arg(last))
        }
        "selected" => {
            let wanted = arg(1).as_text();
            Value::Bool(match arg(0) {
                Value::Multi(v) => v.contains(&wanted),
                Value::Null => false,
                v => v.as_text().split_whitespace().any(|c| c == wanted),
            })
        }
        "selected-at" => {
            let i = arg(1).as_number().unwrap_or(-1.0);
            let items: Vec<String> = match arg(0) {
                Value::Multi(v) => v,
                v => v.as_text().split_whitespace().map(str::to_string).collect(),
            };
            if i < 0.0 { Value::Null } else { items.get(i as usize).map_or(Value::Null, |s| Value::Text(s.clone())) }
        }
        "count-selected" => Value::Int(count_selected(&arg(0))),
        "regex" => {
            let Value::Text(pattern) = arg(1) else { return Value::Bool(false) };
            // The validator has compiled every literal pattern, so failure here means a
            // computed pattern: no match, as ODK treats an invalid one.
            let anchored = format!("^(?:{pattern})$");
            Value::Bool(regex::Regex::new(&anchored).is_ok_and(|re| re.is_match(&arg(0).as_text())))
        }
        "string-length" => Value::Int(arg(0).as_text().chars().count() as i64),
        "substr" => {
            let s: Vec<char> = arg(0).as_text().chars().collect();
            let start = arg(1).as_number().unwrap_or(0.0).max(0.0) as usize;
            let end = if args.len() > 2 { arg(2).as_number().unwrap_or(0.0).max(0.0) as usize } else { s.len() };
            Value::Text(
                s.get(start.min(s.len())..end.clamp(start.min(s.len()), s.len())).unwrap_or(&[]).iter().collect(),
            )
        }
        "concat" => Value::Text(args.iter().map(|a| eval(a, ctx).as_text()).collect()),
        "contains" => Value::Bool(arg(0).as_text().contains(&arg(1).as_text())),
        "starts-with" => Value::Bool(arg(0).as_text().starts_with(&arg(1).as_text())),
        "ends-with" => Value::Bool(arg(0).as_text().ends_with(&arg(1).as_text())),
        "int" => match arg(0) {
            Value::Int(i) => Value::Int(i),
            v => v.as_number().filter(|n| n.abs() < 9.2e18).map_or(Value::Null, |n| Value::Int(n.trunc() as i64)),
        },
        "number" => arg(0).as_number().map_or(Value::Null, Value::Dec),
        "string" => Value::Text(arg(0).as_text()),
        "round" => {
            let Some(x) = arg(0).as_number() else { return Value::Null };
            let digits = if args.len() > 1 { arg(1).as_number().unwrap_or(0.0) } else { 0.0 };
            let scale = 10f64.powi(digits.clamp(-15.0, 15.0) as i32);
            // Half away from zero, as ODK's round().
            number_result((x * scale).round() / scale)
        }
        "abs" => match arg(0) {
            Value::Int(i) => i.checked_abs().map_or(Value::Null, Value::Int),
            v => v.as_number().map_or(Value::Null, |n| Value::Dec(n.abs())),
        },
        "pow" => match (arg(0).as_number(), arg(1).as_number()) {
            (Some(x), Some(y)) => number_result(x.powf(y)),
            _ => Value::Null,
        },
        "min" | "max" => {
            let values = if args.len() == 1 {
                aggregate_values().unwrap_or_else(|| vec![arg(0)])
            } else {
                args.iter().map(|a| eval(a, ctx)).collect()
            };
            fold_extreme(name == "max", values)
        }
        "sum" => {
            let values = aggregate_values().unwrap_or_default();
            let mut int_sum: Option<i64> = Some(0);
            let mut dec_sum = 0.0;
            for v in &values {
                match v {
                    Value::Null => {}
                    Value::Int(i) => {
                        int_sum = int_sum.and_then(|s| s.checked_add(*i));
                        dec_sum += *i as f64;
                    }
                    v => {
                        int_sum = None;
                        dec_sum += v.as_number().unwrap_or(0.0);
                    }
                }
            }
            int_sum.map_or_else(|| number_result(dec_sum), Value::Int)
        }
        "count" => Value::Int(aggregate_values().map_or(0, |v| v.len() as i64)),
        "today" => ctx.today().map_or(Value::Null, Value::Date),
        "now" => ctx.now().map_or(Value::Null, Value::DateTime),
        "date" => match arg(0) {
            Value::Date(d) => Value::Date(d),
            Value::DateTime(t) => Value::Date(t.date_naive()),
            Value::Text(s) => parse_date(&s).map_or(Value::Null, Value::Date),
            v => v.as_number().map_or(Value::Null, |n| date_plus_days(NaiveDate::default(), n)),
        },
        _ => Value::Null,
    }
}

/// The smallest or largest non-empty value (empty when there is none). Dates stay dates.
fn fold_extreme(max: bool, values: Vec<Value>) -> Value {
    let mut best: Option<(f64, Value)> = None;
    for v in values {
        let Some(n) = v.as_number() else { continue };
        if best.as_ref().is_none_or(|(b, _)| if max { n > *b } else { n < *b }) {
            best = Some((n, v));
        }
    }
    match best {
        Some((_, v @ (Value::Int(_) | Value::Dec(_) | Value::Date(_) | Value::DateTime(_)))) => v,
        Some((n, _)) => Value::Dec(n),
        None => Value::Null,
    }
}

/// Parses an ISO 8601 calendar date, `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    // The common YYYY-MM-DD without chrono's format parser (what ingest meets per cell).
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let num = |r: std::ops::Range<usize>| s.get(r).filter(|d| d.bytes().all(|c| c.is_ascii_digit()))?.parse().ok();
        if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) {
            return NaiveDate::from_ymd_opt(y as i32, m, d);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Parses an ISO 8601 timestamp with an offset (`Z` or `±hh:mm`).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s.trim()).ok()
}
