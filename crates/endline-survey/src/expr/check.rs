//! Static type checking of expressions against the questions they reference.

use std::fmt;

use endline_diag::{Code, Severity, Span};

use super::ast::{BinOp, Expr, ExprKind};
use crate::codes;
use crate::model::ChoiceValue;

/// The static type of an expression or of a question's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    /// true/false.
    Bool,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Dec,
    /// A string.
    Text,
    /// A calendar date.
    Date,
    /// A timestamp with offset.
    DateTime,
    /// lat lon alt acc.
    Geo,
    /// A choice from list `list` (an index into the survey's lists); `multi` for
    /// select_multiple; `int` when the list's values are integers.
    Select {
        /// Which list.
        list: usize,
        /// select_multiple.
        multi: bool,
        /// The list's values are integers.
        int: bool,
    },
    /// Unknown: an error was already reported, or the type depends on a cycle.
    Any,
}

impl Ty {
    fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Dec | Ty::Any | Ty::Select { multi: false, int: true, .. })
    }

    fn is_temporal(self) -> bool {
        matches!(self, Ty::Date | Ty::DateTime)
    }

    /// The common type of two branches (`if`, `coalesce`).
    fn join(self, other: Ty) -> Ty {
        match (self, other) {
            (a, b) if a == b => a,
            (Ty::Any, b) => b,
            (a, Ty::Any) => a,
            (a, b) if a.is_numeric() && b.is_numeric() => Ty::Dec,
            (Ty::Select { multi: false, int: false, .. }, Ty::Text)
            | (Ty::Text, Ty::Select { multi: false, int: false, .. }) => Ty::Text,
            _ => Ty::Any,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Bool => "boolean",
            Ty::Int => "integer",
            Ty::Dec => "decimal",
            Ty::Text => "text",
            Ty::Date => "date",
            Ty::DateTime => "datetime",
            Ty::Geo => "geopoint",
            Ty::Select { multi: false, .. } => "select_one",
            Ty::Select { multi: true, .. } => "select_multiple",
            Ty::Any => "any",
        })
    }
}

/// What a name in `${name}` stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SymbolKind {
    /// A question with a value of this type.
    Value(Ty),
    /// A group: no value of its own.
    Group,
    /// A note: shown, never stored.
    Note,
    /// A repeat: a set of rows, counted with `count()`.
    Repeat,
}

/// A name the checker can resolve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Symbol {
    pub kind: SymbolKind,
    /// The repeats enclosing the item, outermost first (a repeat includes itself).
    pub repeats: Vec<usize>,
}

/// What the checker needs to know about the survey.
pub(crate) trait Env {
    fn symbol(&self, name: &str) -> Option<&Symbol>;
    fn names(&self) -> Vec<&str>;
    fn list_values(&self, list: usize) -> Vec<ChoiceValue>;
}

/// Where an expression stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The repeats enclosing the item the expression belongs to.
    pub repeats: &'a [usize],
    /// The type of `.`, or None where `.` is not allowed.
    pub self_ty: Option<Ty>,
    /// Which property this is, for messages.
    pub property: &'static str,
    /// In a `choice_filter`: the columns of the list's choices (`name` and the
    /// `filter` keys) and their types. Elsewhere a bare name is a syntax error.
    pub columns: &'a [(String, Ty)],
}

/// A problem found in an expression; its span is in the expression text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExprProblem {
    pub code: Code,
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

/// The functions the expression language knows, with their arities (`None`: any number).
pub const FUNCTIONS: &[(&str, usize, Option<usize>)] = &[
    ("not", 1, Some(1)),
    ("if", 3, Some(3)),
    ("coalesce", 2, None),
    ("selected", 2, Some(2)),
    ("selected-at", 2, Some(2)),
    ("count-selected", 1, Some(1)),
    ("regex", 2, Some(2)),
    ("string-length", 1, Some(1)),
    ("substr", 2, Some(3)),
    ("concat", 1, None),
    ("contains", 2, Some(2)),
    ("starts-with", 2, Some(2)),
    ("ends-with", 2, Some(2)),
    ("int", 1, Some(1)),
    ("number", 1, Some(1)),
    ("string", 1, Some(1)),
    ("boolean", 1, Some(1)),
    ("round", 1, Some(2)),
    ("abs", 1, Some(1)),
    ("pow", 2, Some(2)),
    ("min", 1, None),
    ("max", 1, None),
    ("today", 0, Some(0)),
    ("now", 0, Some(0)),
    ("date", 1, Some(1)),
    ("count", 1, Some(1)),
    ("sum", 1, Some(1)),
    ("true", 0, Some(0)),
    ("false", 0, Some(0)),
];

/// Functions that fold a question in a repeat into one value.
const AGGREGATES: &[&str] = &["count", "sum", "min", "max"];

pub(crate) struct Checker<'e, E: Env> {
    env: &'e E,
    ctx: Ctx<'e>,
    pub problems: Vec<ExprProblem>,
}

impl<'e, E: Env> Checker<'e, E> {
    pub fn new(env: &'e E, ctx: Ctx<'e>) -> Self {
        Checker { env, ctx, problems: Vec::new() }
    }

    fn error(&mut self, code: Code, span: Span, message: String, help: Option<String>) {
        self.problems.push(ExprProblem { code, severity: Severity::Error, span, message, help });
    }

    fn warn(&mut self, code: Code, span: Span, message: String) {
        self.problems.push(ExprProblem { code, severity: Severity::Warning, span, message, help: None });
    }

    /// Resolves `${name}` (or `.`); `aggregate` is true directly under an aggregate.
    fn reference(&mut self, name: &str, span: Span, aggregate: bool) -> Ty {
        let Some(sym) = self.env.symbol(name) else {
            let names = self.env.names();
            let help = endline_diag::suggest(name, names.iter().copied()).map(|s| format!("did you mean `${{{s}}}`?"));
            self.error(codes::UNKNOWN_REFERENCE, span, format!("`{name}` is not a question in this survey"), help);
            return Ty::Any;
        };
        let enclosing = self.ctx.repeats.starts_with(&sym.repeats);
        match sym.kind.clone() {
            SymbolKind::Group => {
                self.error(
                    codes::INVALID_REFERENCE,
                    span,
                    format!("`{name}` is a group and has no value"),
                    Some("refer to a question inside the group".into()),
                );
                Ty::Any
            }
            SymbolKind::Note => {
                self.error(codes::INVALID_REFERENCE, span, format!("`{name}` is a note and has no value"), None);
                Ty::Any
            }
            SymbolKind::Repeat if !aggregate => {
                self.error(
                    codes::REPEAT_REFERENCE,
                    span,
                    format!("`{name}` is a repeat: it has rows, not a value"),
                    Some(format!("count its rows with count(${{{name}}})")),
                );
                Ty::Any
            }
            SymbolKind::Repeat => Ty::Int,
            SymbolKind::Value(ty) => {
                if !enclosing && !aggregate {
                    self.error(
                        codes::REPEAT_REFERENCE,
                        span,
                        format!("`{name}` is inside a repeat, so outside it there is one value per row, not one value"),
                        Some(format!("aggregate it: sum(${{{name}}}), count(${{{name}}}), min(...) or max(...)")),
                    );
                    return Ty::Any;
                }
                ty
            }
        }
    }

    /// The type of `e`, reporting every problem inside it.
    pub fn check(&mut self, e: &Expr) -> Ty {
        match &e.kind {
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Dec(_) => Ty::Dec,
            ExprKind::Str(_) => Ty::Text,
            ExprKind::Ref(name) => self.reference(name, e.span, false),
            ExprKind::Name(name) => match self.ctx.columns.iter().find(|(c, _)| c == name) {
                Some((_, t)) => *t,
                None => {
                    let help = endline_diag::suggest(name, self.ctx.columns.iter().map(|(c, _)| c.as_str()))
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| Some("give the list's choices a `filter: {column: value}` to filter on".into()));
                    let known: Vec<&str> = self.ctx.columns.iter().map(|(c, _)| c.as_str()).collect();
                    self.error(
                        codes::UNKNOWN_REFERENCE,
                        e.span,
                        format!("`{name}` is not a column of this question's choices ({})", known.join(", ")),
                        help,
                    );
                    Ty::Any
                }
            },
            ExprKind::SelfRef => match self.ctx.self_ty {
                Some(t) => t,
                None => {
                    self.error(
                        codes::SELF_REFERENCE,
                        e.span,
                        format!(
                            "`.` (the question's own value) is only meaningful in a constraint, not in `{}`",
                            self.ctx.property
                        ),
                        Some("refer to the question by name: `${name}`".into()),
                    );
                    Ty::Any
                }
            },
            ExprKind::Neg(inner) => {
                let t = self.check(inner);
                self.numeric_operand(t, inner, "-");
                if t == Ty::Int { Ty::Int } else { Ty::Dec }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::Call { name, name_span, args } => self.call(name, *name_span, args, e.span),
        }
    }

    fn numeric_operand(&mut self, t: Ty, e: &Expr, op: &str) {
        if t.is_numeric() || t.is_temporal() {
            return;
        }
        let what = describe(e, t);
        self.error(
            codes::TYPE_MISMATCH,
            e.span,
            format!("`{op}` needs numbers, but {what} is {}", article(t)),
            match t {
                Ty::Text => Some("convert text that holds a number with number(...) or int(...)".into()),
                Ty::Select { multi: true, .. } => Some("count the choices with count-selected(...)".into()),
                _ => None,
            },
        );
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> Ty {
        let ta = self.check(a);
        let tb = self.check(b);
        match op {
            BinOp::And | BinOp::Or => Ty::Bool,
            _ if op.is_arithmetic() => {
                self.numeric_operand(ta, a, op.as_str());
                self.numeric_operand(tb, b, op.as_str());
                match (op, ta, tb) {
                    (BinOp::Sub, x, y) if x.is_temporal() && y.is_temporal() => Ty::Int,
                    (BinOp::Add | BinOp::Sub, x, _) if x.is_temporal() => x,
                    (BinOp::Add, _, y) if y.is_temporal() => y,
                    (BinOp::Div, _, _) => Ty::Dec,
                    (_, Ty::Int, Ty::Int) => Ty::Int,
                    _ => Ty::Dec,
                }
            }
            BinOp::Eq | BinOp::Ne => {
                self.literal_choice(ta, b);
                self.literal_choice(tb, a);
                for (t, e) in [(ta, a), (tb, b)] {
                    if let Ty::Select { multi: true, .. } = t {
                        let what = describe(e, t);
                        self.error(
                            codes::TYPE_MISMATCH,
                            e.span,
                            format!("`{}` compares single values, but {what} is a select_multiple", op.as_str()),
                            Some("test one choice with selected(...)".into()),
                        );
                    }
                }
                Ty::Bool
            }
            _ => {
                // Ordering converts both sides to numbers (XPath 1.0): text, choice sets and
                // points never order meaningfully, and dates order only against dates.
                for (t, e) in [(ta, a), (tb, b)] {
                    if !(t.is_numeric() || t.is_temporal()) {
                        let what = describe(e, t);
                        self.error(
                            codes::TYPE_MISMATCH,
                            e.span,
                            format!("`{}` compares numbers or dates, but {what} is {}", op.as_str(), article(t)),
                            match (t, e.kind.clone()) {
                                (Ty::Text, ExprKind::Str(s)) if looks_like_date(&s) => {
                                    Some(format!("compare with a date: date('{s}')"))
                                }
                                (Ty::Select { multi: true, .. }, _) => {
                                    Some("count the choices with count-selected(...)".into())
                                }
                                _ => None,
                            },
                        );
                    }
                }
                self.literal_choice(ta, b);
                self.literal_choice(tb, a);
                Ty::Bool
            }
        }
    }

    /// Warns when a literal compared with a select question is not one of its choices.
    fn literal_choice(&mut self, t: Ty, lit: &Expr) {
        let Ty::Select { list, .. } = t else { return };
        let text = match &lit.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Str(s) => s.clone(),
            _ => return,
        };
        let values = self.env.list_values(list);
        if !values.iter().any(|v| v.as_text() == text) {
            let shown: Vec<String> = values.iter().take(12).map(|v| v.to_string()).collect();
            self.warn(
                codes::UNKNOWN_CHOICE_VALUE,
                lit.span,
                format!("`{text}` is not a value of this question's choice list ({})", shown.join(", ")),
            );
        }
    }

    fn call(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Ty {
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            let help = endline_diag::suggest(name, FUNCTIONS.iter().map(|(n, _, _)| *n))
                .map(|s| format!("did you mean `{s}`?"));
            self.error(codes::UNKNOWN_FUNCTION, name_span, format!("unknown function `{name}`"), help);
            for a in args {
                self.check(a);
            }
            return Ty::Any;
        };
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            let wanted = match max {
                Some(m) if m == min => format!("{min} argument{}", if min == 1 { "" } else { "s" }),
                Some(m) => format!("{min} to {m} arguments"),
                None => format!("at least {min} argument{}", if min == 1 { "" } else { "s" }),
            };
            self.error(
                codes::WRONG_ARITY,
                span,
                format!(
                    "`{name}` takes {wanted}, but {} {} given",
                    args.len(),
                    if args.len() == 1 { "was" } else { "were" }
                ),
                None,
            );
            for a in args {
                self.check(a);
            }
            return Ty::Any;
        }
        if AGGREGATES.contains(&name) && args.len() == 1 {
            if let ExprKind::Ref(r) = &args[0].kind {
                if let Some(ty) = self.aggregate(name, r, &args[0]) {
                    return ty;
                }
            } else if matches!(name, "count" | "sum") {
                self.check(&args[0]);
                self.error(
                    codes::TYPE_MISMATCH,
                    args[0].span,
                    format!(
                        "`{name}` aggregates over a repeat: its argument must be a reference such as `${{members}}`"
                    ),
                    None,
                );
                return Ty::Any;
            }
        }
        let tys: Vec<Ty> = args.iter().map(|a| self.check(a)).collect();
        match name {
            "not" | "true" | "false" | "boolean" | "contains" | "starts-with" | "ends-with" => Ty::Bool,
            "if" => tys[1].join(tys[2]),
            "coalesce" => tys[1..].iter().fold(tys[0], |t, u| t.join(*u)),
            "selected" | "selected-at" | "count-selected" => {
                match tys[0] {
                    Ty::Select { multi, .. } => {
                        if name == "selected" {
                            self.literal_choice(tys[0], &args[1]);
                        }
                        if name == "selected-at" && !multi {
                            self.not_multi(name, &args[0], tys[0]);
                        }
                    }
                    Ty::Any => {}
                    t => self.not_multi(name, &args[0], t),
                }
                match name {
                    "selected" => Ty::Bool,
                    "selected-at" => Ty::Text,
                    _ => Ty::Int,
                }
            }
            "regex" => {
                if let ExprKind::Str(pattern) = &args[1].kind
                    && let Err(e) = regex::Regex::new(pattern)
                {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("invalid pattern").trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                    self.error(codes::INVALID_REGEX, args[1].span, format!("invalid regular expression: {last}"), None);
                }
                Ty::Bool
            }
            "string-length" | "int" => {
                if name == "int" {
                    self.scalar_arg(name, &args[0], tys[0]);
                }
                Ty::Int
            }
            "substr" | "concat" | "string" => Ty::Text,
            "number" | "pow" => {
                for (a, t) in args.iter().zip(&tys) {
                    if name == "pow" {
                        self.numeric_operand(*t, a, name);
                    } else {
                        self.scalar_arg(name, a, *t);
                    }
                }
                Ty::Dec
            }
            "round" | "abs" => {
                for (a, t) in args.iter().zip(&tys) {
                    self.numeric_operand(*t, a, name);
                }
                if name == "abs" && tys[0] == Ty::Int { Ty::Int } else { Ty::Dec }
            }
            "min" | "max" => {
                for (a, t) in args.iter().zip(&tys) {
                    self.numeric_operand(*t, a, name);
                }
                tys.iter().copied().reduce(Ty::join).map_or(Ty::Any, |t| {
                    if t.is_temporal() {
                        t
                    } else if t == Ty::Int {
                        Ty::Int
                    } else {
                        Ty::Dec
                    }
                })
            }
            "today" | "date" => {
                if name == "date" {
                    self.scalar_arg(name, &args[0], tys[0]);
                }
                Ty::Date
            }
            "now" => Ty::DateTime,
            "count" => Ty::Int,
            "sum" => {
                self.numeric_operand(tys[0], &args[0], name);
                if tys[0] == Ty::Int { Ty::Int } else { Ty::Dec }
            }
            _ => Ty::Any,
        }
    }

    /// `count(${r})`, `sum(${q})`, `min(${q})`, `max(${q})` over a repeat. Returns None
    /// when the reference is not into a repeat, so the call is checked as scalar.
    fn aggregate(&mut self, name: &str, r: &str, arg: &Expr) -> Option<Ty> {
        let sym = self.env.symbol(r)?;
        let into_repeat = !self.ctx.repeats.starts_with(&sym.repeats);
        let ty = self.reference(r, arg.span, true);
        if sym.kind == SymbolKind::Repeat {
            if name != "count" {
                self.error(
                    codes::TYPE_MISMATCH,
                    arg.span,
                    format!("`{name}` needs a question inside the repeat `{r}`, not the repeat itself"),
                    None,
                );
                return Some(Ty::Any);
            }
            return Some(Ty::Int);
        }
        if !into_repeat {
            if matches!(name, "count" | "sum") {
                self.error(
                    codes::TYPE_MISMATCH,
                    arg.span,
                    format!("`{name}` aggregates over a repeat, but `{r}` has one value here"),
                    None,
                );
                return Some(Ty::Any);
            }
            return None;
        }
        Some(match name {
            "count" => Ty::Int,
            _ => {
                self.numeric_operand(ty, arg, name);
                if ty == Ty::Int || matches!(ty, Ty::Select { int: true, multi: false, .. }) {
                    Ty::Int
                } else {
                    Ty::Dec
                }
            }
        })
    }

    fn not_multi(&mut self, name: &str, arg: &Expr, t: Ty) {
        let what = describe(arg, t);
        let wanted = if name == "selected-at" { "a select_multiple question" } else { "a select question" };
        self.error(
            codes::TYPE_MISMATCH,
            arg.span,
            format!("`{name}` needs {wanted}, but {what} is {}", article(t)),
            None,
        );
    }

    fn scalar_arg(&mut self, name: &str, arg: &Expr, t: Ty) {
        if matches!(t, Ty::Geo | Ty::Select { multi: true, .. }) {
            let what = describe(arg, t);
            self.error(
                codes::TYPE_MISMATCH,
                arg.span,
                format!("`{name}` needs a single value, but {what} is {}", article(t)),
                None,
            );
        }
    }
}

fn describe(e: &Expr, t: Ty) -> String {
    match &e.kind {
        ExprKind::Ref(n) => format!("`${{{n}}}`"),
        ExprKind::Name(n) => format!("the choice's `{n}`"),
        ExprKind::SelfRef => "`.`".into(),
        ExprKind::Str(s) => format!("'{s}'"),
        _ => format!("this {t} expression"),
    }
}

fn article(t: Ty) -> &'static str {
    match t {
        Ty::Bool => "a boolean",
        Ty::Int => "an integer",
        Ty::Dec => "a decimal",
        Ty::Text => "text",
        Ty::Date => "a date",
        Ty::DateTime => "a datetime",
        Ty::Geo => "a geopoint",
        Ty::Select { multi: false, int: false, .. } => "a select_one with text values",
        Ty::Select { multi: false, int: true, .. } => "a select_one",
        Ty::Select { multi: true, .. } => "a select_multiple",
        Ty::Any => "of unknown type",
    }
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
