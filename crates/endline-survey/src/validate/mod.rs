//! The second pass: meaning. Turns a [`RawSurvey`] into a [`Survey`], reporting every
//! problem on the way.

use std::collections::{BTreeMap, HashMap, HashSet};

use endline_diag::{Diagnostic, Severity, SourceFile, Span};

use crate::codes;
use crate::expr::check::{Checker, Ctx, Env, ExprProblem, Symbol, SymbolKind};
use crate::expr::{Expr, Ty, parse, parse_filter, sat};
use crate::model::{
    Choice, ChoiceList, ChoiceValue, Expression, Item, Label, MissingCode, QuestionType, Required, Survey,
};
use crate::raw::{RawChoices, RawExpr, RawItem, RawLabel, RawList, RawRequired, RawSurvey, Reader, Sp};
use crate::yaml::{Doc, map_span};

mod expressions;
mod labels;

use expressions::*;

/// The outcome of validating one survey file: the survey when it has no errors, and
/// every diagnostic (errors and warnings) in source order.
#[derive(Debug)]
pub struct Validation {
    /// The validated survey, present exactly when there are no errors.
    pub survey: Option<Survey>,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Validates a survey definition. Does no I/O: the caller reads the file. Needs
/// [`crate::expr::STACK_BYTES`] of stack for the deepest expressions a survey may hold (a
/// main thread has it).
pub fn validate(file: &SourceFile) -> Validation {
    let doc = Doc::new(file);
    let root = match doc.parse() {
        Ok(root) => root,
        Err(d) => {
            return Validation { survey: None, diagnostics: vec![*d] };
        }
    };
    let mut reader = Reader { doc: &doc, diags: Vec::new() };
    let raw = reader.survey(&root);
    let mut v = Validator {
        diags: reader.diags,
        languages: Vec::new(),
        lists: Vec::new(),
        list_index: HashMap::new(),
        used_lists: HashSet::new(),
        missing: Vec::new(),
        symbols: HashMap::new(),
        decls: BTreeMap::new(),
        repeat_count: 0,
        edges: Vec::new(),
    };
    let survey = v.survey(&raw);
    let mut diagnostics = v.diags;
    endline_diag::sort(&mut diagnostics);
    diagnostics.dedup();
    let survey = survey.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    Validation { survey, diagnostics }
}

/// Whether `s` is a name: ASCII letters, digits and `_`, not starting with a digit.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` is a BCP 47 language tag as surveys write them (`en`, `zh-Hans`).
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A dependency between two items, for cycle detection.
struct Edge {
    from: String,
    to: String,
    property: &'static str,
    span: Span,
}

/// An item after the first pass over items: its name, type and place are known.
struct Pre<'r> {
    raw: &'r RawItem,
    name: String,
    span: Span,
    qtype: Option<QuestionType>,
    list: Option<usize>,
    /// Repeats enclosing the item (a repeat includes itself).
    repeats: Vec<usize>,
    /// Groups and repeats enclosing the item, nearest first.
    containers: Vec<String>,
    children: Vec<Pre<'r>>,
}

struct Validator {
    diags: Vec<Diagnostic>,
    languages: Vec<String>,
    lists: Vec<ChoiceList>,
    list_index: HashMap<String, usize>,
    used_lists: HashSet<usize>,
    missing: Vec<MissingCode>,
    symbols: HashMap<String, Symbol>,
    decls: BTreeMap<String, Span>,
    repeat_count: usize,
    edges: Vec<Edge>,
}

/// The checker's view of the survey: symbols plus choice values.
/// What an expression sees, borrowed from the validator: made for every expression, so
/// it copies nothing (names and choice values are listed only when a check asks).
struct Scope<'v> {
    symbols: &'v HashMap<String, Symbol>,
    decls: &'v BTreeMap<String, Span>,
    lists: &'v [ChoiceList],
}

impl Env for Scope<'_> {
    fn symbol(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }
    fn names(&self) -> Vec<&str> {
        self.decls.keys().map(String::as_str).collect()
    }
    fn list_values(&self, list: usize) -> Vec<ChoiceValue> {
        self.lists.get(list).map_or_else(Vec::new, |l| l.choices.iter().map(|c| c.value.clone()).collect())
    }
}

impl Validator {
    fn error(&mut self, code: endline_diag::Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, message));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    fn warn(&mut self, code: endline_diag::Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(code, span, message));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    fn survey(&mut self, raw: &RawSurvey) -> Option<Survey> {
        let top = Span::point(raw.span.start);
        for (present, key, help) in [
            (raw.survey.is_some(), "survey", "name the survey: `survey: border_household`"),
            (raw.version.is_some(), "version", "give a version string: `version: \"2025.1\"`"),
            (raw.key.is_some(), "key", "name the question that identifies a submission: `key: household_id`"),
            (raw.questions.is_some(), "questions", "list the questions under `questions:`"),
        ] {
            if !present {
                let d =
                    Diagnostic::error(codes::MISSING_KEY, top, format!("the survey has no `{key}`")).with_help(help);
                self.diags.push(d);
            }
        }
        if let Some(id) = &raw.survey {
            let ok = is_identifier(&id.v)
                && id.v.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && !id.v.chars().any(|c| c.is_ascii_uppercase());
            if !ok {
                self.error(codes::INVALID_IDENTIFIER, id.span, format!("survey id `{}` is not an identifier", id.v))
                    .help =
                    Some("use lower-case letters, digits and `_`, starting with a letter: `border_household`".into());
            }
        }
        if let Some(version) = &raw.version {
            if raw.version_is_number {
                self.error(
                    codes::INVALID_VALUE,
                    version.span,
                    format!("`version` must be a string, but YAML reads `{}` as a number", version.v),
                )
                .help = Some(format!("quote it, or `2025.10` becomes 2025.1: `version: \"{}\"`", version.v));
            } else if version.v.trim().is_empty() {
                self.error(codes::INVALID_VALUE, version.span, "`version` must not be empty");
            }
        }
        self.languages(raw);
        let title = raw.title.as_ref().map(|l| self.label(l, "the title"));
        self.missing_codes(raw);
        for list in &raw.lists {
            if !is_identifier(&list.name.v) {
                self.error(
                    codes::INVALID_IDENTIFIER,
                    list.name.span,
                    format!("choice list name `{}` is not an identifier", list.name.v),
                );
            }
            if let Some(l) = self.choice_list(list, false) {
                self.list_index.insert(list.name.v.clone(), self.lists.len());
                self.lists.push(l);
            }
        }
        let raw_items = raw.questions.as_ref().map_or(&[][..], |q| q.v.as_slice());
        if let Some(q) = &raw.questions
            && q.v.is_empty()
        {
            self.error(codes::INVALID_VALUE, q.span, "`questions` is empty: a survey needs at least one question");
        }
        let pre = self.pre_items(raw_items, &[], &[]);
        self.infer_calculations(&pre);
        let items = self.items(&pre);
        self.key(raw, &pre);
        self.cycles();
        for list in &raw.lists {
            if let Some(&i) = self.list_index.get(&list.name.v)
                && !self.used_lists.contains(&i)
            {
                self.warn(
                    codes::UNUSED_CHOICE_LIST,
                    list.name.span,
                    format!("choice list `{}` is not used by any question", list.name.v),
                );
            }
        }
        Some(Survey {
            id: raw.survey.as_ref()?.v.clone(),
            version: raw.version.as_ref()?.v.clone(),
            title,
            description: raw.description.as_ref().map(|d| d.v.clone()),
            languages: self.languages.clone(),
            key: raw.key.as_ref()?.v.clone(),
            missing_codes: std::mem::take(&mut self.missing),
            pii_metadata: raw.pii_metadata.iter().map(|c| c.v.clone()).collect(),
            lists: std::mem::take(&mut self.lists),
            items,
        })
    }

    /// First pass over items: names, types, shapes, lists. Fills the symbol table.
    fn pre_items<'r>(&mut self, raw: &'r [RawItem], repeats: &[usize], containers: &[String]) -> Vec<Pre<'r>> {
        raw.iter().map(|r| self.pre_item(r, repeats, containers)).collect()
    }

    fn pre_item<'r>(&mut self, raw: &'r RawItem, repeats: &[usize], containers: &[String]) -> Pre<'r> {
        let (name, span) = match &raw.name {
            Some(n) => (n.v.clone(), n.span),
            None => {
                self.error(codes::MISSING_KEY, Span::point(raw.span.start), "this question has no `name`");
                (String::new(), Span::point(raw.span.start))
            }
        };
        let named = !name.is_empty();
        if named && !is_identifier(&name) {
            self.error(codes::INVALID_IDENTIFIER, span, format!("`{name}` is not an identifier"))
                .help = Some("names use letters, digits and `_`, and start with a letter, as they become column names and `${name}` references".into());
        } else if named && (name.starts_with('_') || matches!(name.as_str(), "KEY" | "PARENT_KEY")) {
            self.error(codes::INVALID_IDENTIFIER, span, format!("`{name}` is reserved")).help =
                Some("names starting with `_`, and KEY and PARENT_KEY, are provenance columns in ingested data".into());
        }
        for earlier in &raw.renamed_from {
            if !is_identifier(&earlier.v) {
                self.error(codes::INVALID_IDENTIFIER, earlier.span, format!("`{}` is not an identifier", earlier.v))
                    .help = Some("`renamed_from` names the question's earlier names".into());
            }
        }
        let (qtype, shorthand) = self.question_type(raw, &name);
        let mut list = None;
        if let Some(t) = qtype {
            self.placement(raw, t, &name);
            if t.is_select() {
                list = self.select_list(raw, &name, shorthand);
            }
        }
        // A recode's new codes are codes of the question's list now.
        if let Some(l) = list {
            let values: Vec<String> =
                self.lists.get(l).map(|c| c.choices.iter().map(|c| c.value.as_text()).collect()).unwrap_or_default();
            for (old, new) in &raw.recode {
                if !values.contains(&new.v) {
                    self.error(
                        codes::INVALID_VALUE,
                        new.span,
                        format!("`recode` maps `{}` to `{}`, which is not a value of `{name}`'s choices", old.v, new.v),
                    )
                    .help = Some(format!("its values are: {}", values.join(", ")));
                }
            }
        }
        let mut my_repeats = repeats.to_vec();
        if qtype == Some(QuestionType::Repeat) {
            my_repeats.push(self.repeat_count);
            self.repeat_count += 1;
        }
        if named && is_identifier(&name) {
            if let Some(&first) = self.decls.get(&name) {
                let d = Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    span,
                    format!("`{name}` is already the name of another item"),
                )
                .with_note(first, "first defined here")
                .with_help("every name must be unique in the survey, since `${name}` must say which one it means");
                self.diags.push(d);
            } else {
                self.decls.insert(name.clone(), span);
                let kind = match qtype {
                    Some(QuestionType::Group) => SymbolKind::Group,
                    Some(QuestionType::Note) => SymbolKind::Note,
                    Some(QuestionType::Repeat) => SymbolKind::Repeat,
                    Some(t) => SymbolKind::Value(value_ty(t, list, &self.lists)),
                    None => SymbolKind::Value(Ty::Any),
                };
                self.symbols.insert(name.clone(), Symbol { kind, repeats: my_repeats.clone() });
            }
        }
        let mut children = Vec::new();
        if let Some(q) = &raw.questions
            && qtype.is_some_and(QuestionType::is_container)
        {
            if q.v.is_empty() {
                self.error(
                    codes::INVALID_VALUE,
                    q.span,
                    format!("{} `{name}` has no questions", qtype.map_or("", QuestionType::name)),
                );
            }
            let mut inner = vec![name.clone()];
            inner.extend_from_slice(containers);
            children = self.pre_items(&q.v, &my_repeats, &inner);
        }
        Pre { raw, name, span, qtype, list, repeats: my_repeats, containers: containers.to_vec(), children }
    }

    /// The question type, and the list named by the `select_one LIST` shorthand.
    fn question_type(&mut self, raw: &RawItem, name: &str) -> (Option<QuestionType>, Option<Sp<String>>) {
        let Some(ty) = &raw.ty else {
            let at = raw.name.as_ref().map_or(Span::point(raw.span.start), |n| n.span);
            self.error(codes::MISSING_KEY, at, format!("question `{name}` has no `type`")).help =
                Some(format!("the types are: {}", QuestionType::NAMES.join(", ")));
            return (None, None);
        };
        let mut words = ty.v.split_whitespace();
        let head = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let head_span = Span::new(ty.span.start, ty.span.start + head.len());
        let Some(t) = QuestionType::from_name(head) else {
            let help = match head {
                "begin_group" | "begin" | "end_group" | "end" => {
                    Some("write `type: group` with the group's questions nested under `questions:`".to_string())
                }
                "begin_repeat" | "end_repeat" => {
                    Some("write `type: repeat` with the roster's questions nested under `questions:`".to_string())
                }
                "int" => Some("did you mean `integer`?".to_string()),
                "select1" | "select_one_from_file" => Some("did you mean `select_one`?".to_string()),
                _ => endline_diag::suggest(head, QuestionType::NAMES.iter().copied())
                    .map(|s| format!("did you mean `{s}`?")),
            };
            let help = help.unwrap_or_else(|| format!("the types are: {}", QuestionType::NAMES.join(", ")));
            self.error(codes::UNKNOWN_TYPE, head_span, format!("unknown question type `{head}`")).help = Some(help);
            return (None, None);
        };
        match (t.is_select(), rest.as_slice()) {
            (_, []) => (Some(t), None),
            (true, [list]) => {
                let at = ty.span.start + ty.v.find(list).unwrap_or(0);
                (Some(t), Some(Sp { v: (*list).to_string(), span: Span::new(at, at + list.len()) }))
            }
            _ => {
                self.error(
                    codes::INVALID_VALUE,
                    ty.span,
                    format!("`{}` is not a type: only select types take a list name (`select_one LIST`)", ty.v),
                );
                (Some(t), None)
            }
        }
    }

    /// Reports properties that do not belong on an item of type `t`.
    fn placement(&mut self, raw: &RawItem, t: QuestionType, name: &str) {
        use QuestionType as Q;
        for key in &raw.keys {
            if let Some(why) = misplaced(t, &key.v) {
                self.error(
                    codes::MISPLACED_KEY,
                    key.span,
                    format!("`{}` does not belong on {} `{name}`: {why}", key.v, t.name()),
                );
            }
        }
        let at = raw.name.as_ref().map_or(Span::point(raw.span.start), |n| n.span);
        if t == Q::Calculate && raw.calculation.is_none() {
            self.error(codes::MISSING_KEY, at, format!("calculate `{name}` has no `calculation`"));
        }
        if t.is_container() && raw.questions.is_none() {
            self.error(codes::MISSING_KEY, at, format!("{} `{name}` has no `questions`", t.name()));
        }
        let needs_label = !matches!(t, Q::Calculate | Q::Group | Q::Repeat);
        if needs_label && raw.label.is_none() {
            self.warn(
                codes::MISSING_LABEL,
                at,
                format!("{} `{name}` has no label, so the enumerator sees nothing to read out", t.name()),
            );
        }
    }

    /// Resolves the choice list of a select question.
    fn select_list(&mut self, raw: &RawItem, name: &str, shorthand: Option<Sp<String>>) -> Option<usize> {
        let named = match (&shorthand, &raw.choices) {
            (Some(s), Some(c)) => {
                let at = raw.key_span("choices").unwrap_or(s.span);
                let d = Diagnostic::error(
                    codes::CONFLICTING_CHOICES,
                    at,
                    format!("`{name}` names its list twice: in `type` and in `choices`"),
                )
                .with_note(s.span, "the type names a list here")
                .with_help("keep one of them");
                self.diags.push(d);
                let _ = c;
                return None;
            }
            (Some(s), None) => s.clone(),
            (None, Some(RawChoices::Named(n))) => n.clone(),
            (None, Some(RawChoices::Inline(list))) => {
                let l = self.choice_list(list, true)?;
                self.lists.push(l);
                return Some(self.lists.len() - 1);
            }
            (None, None) => {
                let at = raw.ty.as_ref().map_or(Span::point(raw.span.start), |t| t.span);
                self.error(codes::MISSING_KEY, at, format!("select question `{name}` has no choice list")).help =
                    Some("name a list in the type (`select_one yes_no`) or add `choices:`".into());
                return None;
            }
        };
        match self.list_index.get(&named.v) {
            Some(&i) => {
                self.used_lists.insert(i);
                Some(i)
            }
            None => {
                // An empty named list was reported where it is defined, and is not indexed.
                let help = endline_diag::suggest(&named.v, self.list_index.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"));
                self.error(
                    codes::UNKNOWN_CHOICE_LIST,
                    named.span,
                    format!("`{name}` uses choice list `{}`, which is not defined or has no choices", named.v),
                )
                .help = help.or_else(|| Some("define it under `choices:` at the top of the survey".into()));
                None
            }
        }
    }

    /// Second pass over items: expressions, defaults, missing codes; builds the model.
    fn items(&mut self, pre: &[Pre<'_>]) -> Vec<Item> {
        pre.iter().filter_map(|p| self.item(p)).collect()
    }

    fn item(&mut self, p: &Pre<'_>) -> Option<Item> {
        let raw = p.raw;
        let qtype = p.qtype;
        let value_ty = match self.symbols.get(&p.name) {
            Some(Symbol { kind: SymbolKind::Value(t), .. }) => *t,
            _ => Ty::Any,
        };
        // A repeat's own relevance and count are evaluated in its parent's rows.
        let outer: Vec<usize> = if qtype == Some(QuestionType::Repeat) {
            p.repeats[..p.repeats.len().saturating_sub(1)].to_vec()
        } else {
            p.repeats.clone()
        };
        let self_ty = qtype.filter(|t| t.has_value()).map(|_| value_ty);
        let relevant = raw.relevant.as_ref().and_then(|e| self.expression(p, e, &outer, None, "relevant"));
        let required = match &raw.required {
            None => Required::No,
            Some(RawRequired::Bool(b)) => {
                if b.v {
                    Required::Yes
                } else {
                    Required::No
                }
            }
            Some(RawRequired::Expr(e)) => {
                self.expression(p, e, &outer, None, "required").map_or(Required::No, Required::When)
            }
        };
        let constraint = raw.constraint.as_ref().and_then(|e| self.expression(p, e, &outer, self_ty, "constraint"));
        let calculation = raw.calculation.as_ref().and_then(|e| self.expression(p, e, &outer, None, "calculation"));
        let count = raw.count.as_ref().and_then(|e| self.expression(p, e, &outer, None, "count"));
        let choice_filter =
            raw.choice_filter.as_ref().and_then(|e| self.expression(p, e, &outer, None, "choice_filter"));
        if let (Some(f), Some(raw_filter)) = (&choice_filter, &raw.choice_filter)
            && !matches!(f.ty, Ty::Bool | Ty::Any)
        {
            self.error(
                codes::TYPE_MISMATCH,
                raw_filter.span,
                format!("`choice_filter` must be a condition on each choice, but this expression is {}", f.ty),
            );
        }
        if let (Some(c), Some(raw_count)) = (&count, &raw.count)
            && !matches!(c.ty, Ty::Int | Ty::Dec | Ty::Any | Ty::Select { int: true, multi: false, .. })
        {
            self.error(
                codes::TYPE_MISMATCH,
                raw_count.span,
                format!("`count` must be a number of rows, but this expression is {}", c.ty),
            );
        }
        if let Some(c) = &constraint {
            let int_self = value_ty == Ty::Int;
            if sat::never_true(&c.ast, &|v| (v == "." && int_self) || self.is_int(v)) {
                self.warn(
                    codes::UNSATISFIABLE_CONSTRAINT,
                    c.span,
                    format!("the constraint of `{}` can never hold: every answer would be rejected", p.name),
                );
            }
        }
        if let Some(r) = &relevant
            && sat::never_true(&r.ast, &|v| self.is_int(v))
        {
            self.warn(
                codes::NEVER_RELEVANT,
                r.span,
                format!("`{}` is never relevant: its condition can never be true, so it is never asked", p.name),
            );
        }
        for container in &p.containers {
            self.edges.push(Edge { from: p.name.clone(), to: container.clone(), property: "inside", span: p.span });
        }
        let missing = self.item_missing(p, value_ty);
        if let (Some(t), Some(d)) = (qtype, &raw.default) {
            self.check_default(t, p.list, d);
        }
        let children = self.items(&p.children);
        let label = raw.label.as_ref().map(|l| self.label(l, "the label"));
        let hint = raw.hint.as_ref().map(|l| self.label(l, "the hint"));
        let required_message = raw.required_message.as_ref().map(|l| self.label(l, "the required message"));
        let constraint_message = raw.constraint_message.as_ref().map(|l| self.label(l, "the constraint message"));
        Some(Item {
            name: p.name.clone(),
            span: p.span,
            qtype: qtype?,
            value_ty,
            label,
            hint,
            required,
            required_message,
            relevant,
            constraint,
            constraint_message,
            calculation,
            count,
            default: raw.default.as_ref().map(|d| d.v.clone()),
            list: p.list,
            missing,
            unit: raw.unit.as_ref().map(|u| u.v.clone()),
            pii: raw.pii.as_ref().is_some_and(|b| b.v),
            description: raw.description.as_ref().map(|d| d.v.clone()),
            renamed_from: raw.renamed_from.iter().map(|r| r.v.clone()).collect(),
            recode: raw.recode.iter().map(|(o, n)| (o.v.clone(), n.v.clone())).collect(),
            appearance: raw.appearance.as_ref().map(|a| a.v.clone()),
            read_only: raw.read_only.as_ref().is_some_and(|b| b.v),
            choice_filter,
            children,
        })
    }

    fn item_missing(&mut self, p: &Pre<'_>, value_ty: Ty) -> Vec<String> {
        let mut out = Vec::new();
        for m in &p.raw.missing {
            let Some(code) = self.missing.iter().find(|c| c.name == m.v).cloned() else {
                let help = endline_diag::suggest(&m.v, self.missing.iter().map(|c| c.name.as_str()))
                    .map(|s| format!("did you mean `{s}`?"));
                let declared = if self.missing.is_empty() {
                    "none are declared".to_string()
                } else {
                    format!("declared: {}", self.missing.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "))
                };
                self.error(
                    codes::UNKNOWN_MISSING_CODE,
                    m.span,
                    format!("`{}` is not a declared missing code ({declared})", m.v),
                )
                .help = help.or_else(|| Some("declare it under `missing_codes:` at the top of the survey".into()));
                continue;
            };
            let numeric = matches!(p.qtype, Some(QuestionType::Integer | QuestionType::Decimal));
            let int_select = matches!(value_ty, Ty::Select { int: true, .. });
            if (numeric || int_select) && !code.value.is_int() {
                self.error(
                    codes::TYPE_MISMATCH,
                    m.span,
                    format!(
                        "`{}` holds numbers, but missing code `{}` is the text `{}`",
                        p.name, code.name, code.value
                    ),
                );
            }
            if let Some(list) = p.list.and_then(|i| self.lists.get(i))
                && list.choices.iter().any(|c| c.value.as_text() == code.value.as_text())
            {
                self.error(
                    codes::MISSING_CODE_COLLISION,
                    m.span,
                    format!(
                        "missing code `{}` = `{}` is also a choice of `{}`, so the answer would be ambiguous",
                        code.name, code.value, p.name
                    ),
                );
            }
            out.push(code.name.clone());
        }
        out
    }

    fn check_default(&mut self, t: QuestionType, list: Option<usize>, d: &Sp<String>) {
        use QuestionType as Q;
        let v = d.v.trim();
        let ok = match t {
            Q::Integer => v.parse::<i64>().is_ok(),
            Q::Decimal => v.parse::<f64>().is_ok_and(f64::is_finite),
            Q::Date => crate::expr::parse_date(v).is_some(),
            Q::DateTime => crate::expr::parse_datetime(v).is_some(),
            Q::SelectOne | Q::SelectMultiple => {
                let Some(l) = list.and_then(|i| self.lists.get(i)) else { return };
                let mut parts = v.split_whitespace();
                if t == Q::SelectOne { l.find(v).is_some() } else { parts.all(|p| l.find(p).is_some()) }
            }
            _ => true,
        };
        if !ok {
            self.error(codes::INVALID_DEFAULT, d.span, format!("default `{}` is not a valid {} answer", d.v, t.name()));
        }
    }

    fn key(&mut self, raw: &RawSurvey, pre: &[Pre<'_>]) {
        let Some(key) = &raw.key else { return };
        let Some(sym) = self.symbols.get(&key.v) else {
            let help = endline_diag::suggest(&key.v, self.decls.keys().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            self.error(codes::KEY_NOT_FOUND, key.span, format!("the key question `{}` is not in the survey", key.v))
                .help = help;
            return;
        };
        if !sym.repeats.is_empty() {
            self.error(
                codes::INVALID_KEY_QUESTION,
                key.span,
                format!("the key `{}` is inside a repeat, but it must identify a whole submission", key.v),
            );
            return;
        }
        let qtype = find(pre, &key.v).and_then(|p| p.qtype);
        if !matches!(
            qtype,
            Some(QuestionType::Text | QuestionType::Integer | QuestionType::Calculate | QuestionType::SelectOne) | None
        ) {
            let t = qtype.map_or("", QuestionType::name);
            self.error(
                codes::INVALID_KEY_QUESTION,
                key.span,
                format!("the key `{}` is a {t}, which cannot identify a submission", key.v),
            )
            .help = Some("use a text, integer or calculate question".into());
        }
    }
}

/// Why `key` does not belong on an item of type `t`, if it does not.
fn misplaced(t: QuestionType, key: &str) -> Option<&'static str> {
    use QuestionType as Q;
    match key {
        "choices" if !t.is_select() => Some("only select questions have choices"),
        "calculation" if t != Q::Calculate => Some("only `calculate` items have a calculation"),
        "count" if t != Q::Repeat => Some("only a repeat has a `count`"),
        "questions" if !t.is_container() => Some("only a group or a repeat contains questions"),
        "constraint" | "constraint_message" | "missing" | "pii" if !t.has_value() => Some("this item stores no value"),
        "required" | "required_message" | "default" if !t.has_value() || t == Q::Calculate => {
            Some("this item is not answered by the enumerator")
        }
        "unit" if !matches!(t, Q::Integer | Q::Decimal | Q::Calculate) => Some("only numeric questions have a unit"),
        "recode" if !t.is_select() => Some("only a select question's codes are recoded"),
        "choice_filter" if !t.is_select() => Some("only a select question's choices are filtered"),
        "read_only" if !t.has_value() || t == Q::Calculate => Some("this item is not answered by the enumerator"),
        _ => None,
    }
}

fn value_ty(t: QuestionType, list: Option<usize>, lists: &[ChoiceList]) -> Ty {
    use QuestionType as Q;
    match t {
        Q::Text => Ty::Text,
        Q::Integer => Ty::Int,
        Q::Decimal => Ty::Dec,
        Q::Date => Ty::Date,
        Q::DateTime => Ty::DateTime,
        Q::Geopoint => Ty::Geo,
        Q::SelectOne | Q::SelectMultiple => match list {
            Some(l) => Ty::Select {
                list: l,
                multi: t == Q::SelectMultiple,
                int: lists.get(l).is_some_and(ChoiceList::has_int_values),
            },
            None => Ty::Any,
        },
        Q::Calculate | Q::Note | Q::Group | Q::Repeat => Ty::Any,
    }
}
