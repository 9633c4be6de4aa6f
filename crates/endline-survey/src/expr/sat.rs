//! A small satisfiability check for conditions, used for the warnings "this constraint
//! can never hold" and "this question is never relevant".
//!
//! It is sound but incomplete: it says "never" only when it can prove it, from constant
//! subexpressions and from bounds on one variable within a conjunction
//! (`. > 10 and . < 5`, `${age} = 3 and ${age} = 4`). Integer variables tighten open
//! bounds (`. > 3 and . < 4` is empty for an integer).
//!
//! The same reading of comparisons with numbers gives [`self_bounds`] (for simulating
//! answers that pass a constraint) and [`SelfComparisons`] (for checking one without the
//! evaluator); [`RefComparisons`] does the same for a condition on one question (the usual
//! relevance).

use std::collections::BTreeMap;

use super::ast::{BinOp, Expr, ExprKind};
use super::eval::{Context, Value, compare, count_selected, eval};

#[derive(Debug, Clone, Copy)]
struct Interval {
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
}

impl Interval {
    const ALL: Interval = Interval { lo: f64::NEG_INFINITY, lo_open: false, hi: f64::INFINITY, hi_open: false };

    fn meet(&mut self, op: BinOp, v: f64) {
        match op {
            BinOp::Gt | BinOp::Ge if v > self.lo || (v == self.lo && op == BinOp::Gt) => {
                self.lo = v;
                self.lo_open = op == BinOp::Gt;
            }
            BinOp::Lt | BinOp::Le if v < self.hi || (v == self.hi && op == BinOp::Lt) => {
                self.hi = v;
                self.hi_open = op == BinOp::Lt;
            }
            BinOp::Eq => {
                self.meet(BinOp::Ge, v);
                self.meet(BinOp::Le, v);
            }
            _ => {}
        }
    }

    fn is_empty(self, integer: bool) -> bool {
        if integer {
            let lo = if self.lo_open { self.lo.floor() + 1.0 } else { self.lo.ceil() };
            let hi = if self.hi_open { self.hi.ceil() - 1.0 } else { self.hi.floor() };
            return lo > hi;
        }
        self.lo > self.hi || (self.lo == self.hi && (self.lo_open || self.hi_open))
    }
}

/// A context where `.` is `own` and every question is `others`: with `Value::Null` for
/// both ([`Fixed::NOTHING`]), only constant subexpressions evaluate.
struct Fixed {
    own: Value,
    others: Value,
}

impl Fixed {
    const NOTHING: Fixed = Fixed { own: Value::Null, others: Value::Null };
}

impl Context for Fixed {
    fn value(&self, _: &str) -> Value {
        self.others.clone()
    }
    fn self_value(&self) -> Value {
        self.own.clone()
    }
}

fn is_constant(e: &Expr) -> bool {
    let mut constant = true;
    e.walk(&mut |n| match &n.kind {
        ExprKind::Ref(_) | ExprKind::SelfRef => constant = false,
        ExprKind::Call { name, .. } if matches!(name.as_str(), "today" | "now") => constant = false,
        _ => {}
    });
    constant
}

fn variable(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Ref(n) => Some(n.clone()),
        ExprKind::SelfRef => Some(".".into()),
        _ => None,
    }
}

fn number(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Int(i) => Some(*i as f64),
        ExprKind::Dec(d) => Some(*d),
        ExprKind::Neg(x) => number(x).map(|v| -v),
        _ => None,
    }
}

fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    if let ExprKind::Binary(BinOp::And, a, b) = &e.kind {
        conjuncts(a, out);
        conjuncts(b, out);
    } else {
        out.push(e);
    }
}

/// Whether `e` is false for every possible answer. `is_integer` says which variables
/// (`.` or a question name) hold integers.
pub fn never_true(e: &Expr, is_integer: &dyn Fn(&str) -> bool) -> bool {
    if is_constant(e) {
        return !eval(e, &Fixed::NOTHING).truthy();
    }
    match &e.kind {
        ExprKind::Binary(BinOp::Or, a, b) => never_true(a, is_integer) && never_true(b, is_integer),
        _ => {
            let mut atoms = Vec::new();
            conjuncts(e, &mut atoms);
            if atoms.len() > 1 && atoms.iter().any(|a| never_true(a, is_integer)) {
                return true;
            }
            let mut bounds: BTreeMap<String, Interval> = BTreeMap::new();
            for atom in atoms {
                let ExprKind::Binary(op, a, b) = &atom.kind else { continue };
                let (var, op, v) = match (variable(a), number(b), variable(b), number(a)) {
                    (Some(var), Some(v), _, _) => (var, *op, v),
                    (_, _, Some(var), Some(v)) => (var, op.flipped(), v),
                    _ => continue,
                };
                bounds.entry(var).or_insert(Interval::ALL).meet(op, v);
            }
            bounds.iter().any(|(var, i)| i.is_empty(is_integer(var)))
        }
    }
}

/// Bounds on `.` that a constraint implies through its top-level conjunction of
/// comparisons with numbers (`. >= 0 and . <= 120` gives `(Some(0), Some(120))`); strict
/// bounds are returned as the bound itself. For generating answers that pass.
pub fn self_bounds(e: &Expr) -> (Option<f64>, Option<f64>) {
    let mut atoms = Vec::new();
    conjuncts(e, &mut atoms);
    let mut i = Interval::ALL;
    for atom in atoms {
        let ExprKind::Binary(op, a, b) = &atom.kind else { continue };
        let (op, v) = match (&a.kind, number(b), &b.kind, number(a)) {
            (ExprKind::SelfRef, Some(v), _, _) => (*op, v),
            (_, _, ExprKind::SelfRef, Some(v)) => (op.flipped(), v),
            _ => continue,
        };
        i.meet(op, v);
    }
    (i.lo.is_finite().then_some(i.lo), i.hi.is_finite().then_some(i.hi))
}

/// A condition that compares only `.` with numbers, joined by `and` (`. >= 0 and . <= 120`,
/// the usual constraint), worked out once: [`SelfComparisons::holds`] gives what [`eval`]
/// gives, without walking the syntax tree or copying the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfComparisons(Vec<(BinOp, f64)>);

impl SelfComparisons {
    /// The comparisons of `e`, if it is only such comparisons (and each number is finite).
    pub fn of(e: &Expr) -> Option<SelfComparisons> {
        let mut atoms = Vec::new();
        conjuncts(e, &mut atoms);
        let compare = |atom: &Expr| {
            let ExprKind::Binary(op, a, b) = &atom.kind else { return None };
            let (op, v) = match (&a.kind, &b.kind) {
                (ExprKind::SelfRef, _) => (*op, number(b)?),
                (_, ExprKind::SelfRef) => (op.flipped(), number(a)?),
                _ => return None,
            };
            (op.is_ordering() && v.is_finite()).then_some((op, v))
        };
        atoms.into_iter().map(compare).collect::<Option<Vec<_>>>().map(SelfComparisons)
    }

    /// Whether the answer `own` meets every comparison (a value that is not a number meets
    /// none, as in [`eval`]).
    pub fn holds(&self, own: &Value) -> bool {
        let Some(x) = own.as_number() else { return false };
        self.0.iter().all(|&(op, v)| match op {
            BinOp::Lt => x < v,
            BinOp::Le => x <= v,
            BinOp::Gt => x > v,
            _ => x >= v,
        })
    }
}

/// A condition that compares one question (`${name}`), or how many choices it holds
/// (`count-selected(${name})`), with constants, joined by `and` (`${consent} = 1`,
/// `${age} >= 15`, `${water} != 'piped'`, `count-selected(${crops}) > 0`: the usual
/// relevance), worked out once: [`RefComparisons::holds`] on the question's value gives
/// what [`eval`] gives, without walking the syntax tree, looking the name up or copying
/// the value.
#[derive(Debug, Clone, PartialEq)]
pub struct RefComparisons {
    name: String,
    /// Whether the comparisons are of `count-selected(${name})`, not of `${name}`.
    counted: bool,
    /// Each comparison: its operator, its constant, and whether the question is written
    /// first (`${x} < 3`) or second (`3 < ${x}`).
    atoms: Vec<(BinOp, Value, bool)>,
}

/// The question an operand reads: `${name}` (false) or `count-selected(${name})` (true).
fn question_of(e: &Expr) -> Option<(&str, bool)> {
    match &e.kind {
        ExprKind::Ref(n) => Some((n, false)),
        ExprKind::Call { name, args, .. } if name == "count-selected" => match args.as_slice() {
            [Expr { kind: ExprKind::Ref(n), .. }] => Some((n, true)),
            _ => None,
        },
        _ => None,
    }
}

impl RefComparisons {
    /// The comparisons of `e`, if it is only comparisons of one question with constants
    /// (numbers or text).
    pub fn of(e: &Expr) -> Option<RefComparisons> {
        let mut atoms = Vec::new();
        conjuncts(e, &mut atoms);
        let mut read: Option<(&str, bool)> = None;
        let mut compared = Vec::with_capacity(atoms.len());
        for atom in atoms {
            let ExprKind::Binary(op, a, b) = &atom.kind else { return None };
            if !op.is_comparison() {
                return None;
            }
            let (question, constant, first) = match (question_of(a), question_of(b)) {
                (Some(q), _) => (q, constant(b)?, true),
                (_, Some(q)) => (q, constant(a)?, false),
                _ => return None,
            };
            if *read.get_or_insert(question) != question {
                return None;
            }
            compared.push((*op, constant, first));
        }
        let (name, counted) = read?;
        Some(RefComparisons { name: name.to_string(), counted, atoms: compared })
    }

    /// The question compared.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the question's value `v` meets every comparison.
    pub fn holds(&self, v: &Value) -> bool {
        let count;
        let v = if self.counted {
            count = Value::Int(count_selected(v));
            &count
        } else {
            v
        };
        self.atoms.iter().all(|(op, c, first)| if *first { compare(*op, v, c) } else { compare(*op, c, v) })
    }
}

/// A literal's value: a number (negated or not) or text.
fn constant(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Int(i) => Some(Value::Int(*i)),
        ExprKind::Dec(d) => Some(Value::Dec(*d)),
        ExprKind::Str(s) => Some(Value::Text(s.clone())),
        ExprKind::Neg(_) => Some(eval(e, &Fixed::NOTHING)).filter(|v| !v.is_null()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::parse;
    use proptest::prelude::*;

    // Few numbers, so that answers often equal the bounds.
    fn answer() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-4i64..=4).prop_map(Value::Int),
            prop::sample::select(vec![-2.5, 0.5, 2.5, 1.0, -0.0, f64::NAN, f64::INFINITY]).prop_map(Value::Dec),
            prop::sample::select(vec![" 3 ", "-2.5", "0.5", "yes", ""]).prop_map(|s| Value::Text(s.into())),
            (0u64..4).prop_map(|d| Value::Date(chrono::NaiveDate::default() + chrono::Days::new(d))),
            Just(Value::Multi(vec!["1".into()])),
            Just(Value::Multi(Vec::new())),
            Just(Value::Multi(vec!["1".into(), "a".into()])),
        ]
    }

    fn comparison() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            (-3i64..=3).prop_map(|i| i.to_string()),
            prop::sample::select(vec!["-2.5", "0.5", "2.5", "-0"]).prop_map(String::from)
        ];
        (prop::sample::select(vec!["<", "<=", ">", ">="]), number, any::<bool>())
            .prop_map(|(op, n, self_first)| if self_first { format!(". {op} {n}") } else { format!("{n} {op} .") })
    }

    /// `holds` (the shortcut's reading of `src`, `None` if it does not take it) gives what
    /// the evaluator gives in `ctx`.
    fn agrees(src: &str, ctx: &Fixed, holds: impl FnOnce(&Expr) -> Option<bool>) -> Result<(), TestCaseError> {
        let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
        let holds = holds(&e).unwrap_or_else(|| panic!("{src} is not taken by the shortcut"));
        prop_assert_eq!(holds, eval(&e, ctx).truthy(), "{} in {:?} / {:?}", src, ctx.own, ctx.others);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// On any answer, the comparisons give what the evaluator gives.
        #[test]
        fn self_comparisons_agree_with_eval(
            atoms in prop::collection::vec(comparison(), 1..4),
            own in answer(),
        ) {
            let ctx = Fixed { own: own.clone(), others: Value::Null };
            agrees(&atoms.join(" and "), &ctx, |e| SelfComparisons::of(e).map(|c| c.holds(&own)))?;
        }
    }

    /// A comparison of `${x}` (or, `counted`, of `count-selected(${x})`) with a constant.
    fn ref_comparison(counted: bool) -> impl Strategy<Value = String> {
        let constant = prop_oneof![
            (-3i64..=3).prop_map(|i| i.to_string()),
            prop::sample::select(vec!["-2.5", "0.5", "2.5", "-0", "'yes'", "'1'", "' 3 '", "''", "-(1 + 1)"])
                .prop_map(String::from)
        ];
        let x = if counted { "count-selected(${x})" } else { "${x}" };
        (prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]), constant, any::<bool>())
            .prop_map(move |(op, c, first)| if first { format!("{x} {op} {c}") } else { format!("{c} {op} {x}") })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// On any value of the question, the comparisons give what the evaluator gives.
        #[test]
        fn ref_comparisons_agree_with_eval(
            atoms in any::<bool>().prop_flat_map(|counted| prop::collection::vec(ref_comparison(counted), 1..4)),
            value in answer(),
        ) {
            let ctx = Fixed { own: Value::Null, others: value.clone() };
            agrees(&atoms.join(" and "), &ctx, |e| RefComparisons::of(e).filter(|c| c.name() == "x").map(|c| c.holds(&value)))?;
        }
    }

    #[test]
    fn only_comparisons_of_one_question_with_constants() {
        for src in [
            "${x} = ${y}",
            "${x} > 3 and ${y} < 2",
            "${x} + 1 > 2",
            ". = 1",
            "${x} > 1 or ${x} < 0",
            "selected(${x}, 'a')",
            "${x} = today()",
            "${x} = -${y}",
            "count-selected(${x}) > 0 and ${x} = 1",
            "count-selected(${x}) > count-selected(${y})",
            "count-selected('a b') > 1",
        ] {
            let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
            assert_eq!(RefComparisons::of(&e), None, "{src}");
        }
        let e = parse("${x} >= 15 and 'a' != ${x}").unwrap_or_else(|err| panic!("{err:?}"));
        let c = RefComparisons::of(&e).unwrap_or_else(|| panic!("comparisons"));
        assert_eq!(c.atoms, vec![(BinOp::Ge, Value::Int(15), true), (BinOp::Ne, Value::Text("a".into()), false)]);
        let e = parse("count-selected(${crops}) > 0").unwrap_or_else(|err| panic!("{err:?}"));
        let c = RefComparisons::of(&e).unwrap_or_else(|| panic!("comparisons"));
        assert_eq!((c.name(), c.counted), ("crops", true));
        assert!(c.holds(&Value::Multi(vec!["barley".into()])) && !c.holds(&Value::Null));
    }

    #[test]
    fn only_comparisons_of_self_with_numbers() {
        for src in [". = 5", "${x} > 3", ". > 1 or . < 0", ". > ${x}", "regex(., 'x') and . > 0", ". + 1 > 2"] {
            let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
            assert_eq!(SelfComparisons::of(&e), None, "{src}");
        }
        let e = parse("0 <= . and . < -2.5").unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(SelfComparisons::of(&e), Some(SelfComparisons(vec![(BinOp::Ge, 0.0), (BinOp::Lt, -2.5)])));
    }

    fn never(src: &str) -> bool {
        let e = parse(src).unwrap_or_else(|err| panic!("{src}: {err:?}"));
        never_true(&e, &|v| v == ".")
    }

    #[test]
    fn finds_contradictions() {
        assert!(never(". > 10 and . < 5"));
        assert!(never(". > 3 and . < 4"));
        assert!(never("${x} = 1 and ${x} = 2"));
        assert!(never("1 = 2"));
        assert!(never("false()"));
        assert!(never("(. < 0 and . > 0) or 1 > 2"));
        assert!(never(". >= 0 and ${y} = 'a' and 5 < .".replace("5 < .", ". < -1").as_str()));
    }

    #[test]
    fn bounds_of_the_answer() {
        let e = parse(". >= 1 and . <= 30").unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(self_bounds(&e), (Some(1.0), Some(30.0)));
        let e = parse("regex(., 'x') and . > 0").unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(self_bounds(&e), (Some(0.0), None));
    }

    #[test]
    fn accepts_satisfiable() {
        assert!(!never(". >= 0 and . <= 120"));
        assert!(!never("${x} > 3 and ${x} < 4"));
        assert!(!never(". = 5 or . = 6"));
        assert!(!never("${a} = 'yes'"));
        assert!(!never("true()"));
        assert!(!never("today() > date('2020-01-01')"));
    }
}
