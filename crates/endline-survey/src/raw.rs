//! The first pass: YAML nodes into `Raw*` structs that keep every span.
//!
//! This pass checks shape only (keys, and whether a value is a string, a list or a
//! mapping); meaning is checked by `validate`. Every problem is recorded and the walk
//! goes on, so one run reports them all.

use endline_diag::{Diagnostic, Span};
use marked_yaml::types::{MarkedMappingNode, Node};

use crate::codes;
use crate::model::ChoiceValue;
pub(crate) use crate::yaml::{Reader, Sp, kind_of};

/// A label: one string, or one string per language.
#[derive(Debug, Clone)]
pub(crate) enum RawLabel {
    Plain(Sp<String>),
    Map { span: Span, entries: Vec<(Sp<String>, Sp<String>)> },
}

/// An expression as written, with the map from its text into the file.
#[derive(Debug, Clone)]
pub(crate) struct RawExpr {
    pub text: String,
    pub span: Span,
    pub map: Vec<usize>,
}

/// `required:` is a boolean or an expression.
#[derive(Debug, Clone)]
pub(crate) enum RawRequired {
    Bool(Sp<bool>),
    Expr(RawExpr),
}

#[derive(Debug, Clone)]
pub(crate) struct RawChoice {
    pub value: Sp<Option<ChoiceValue>>,
    pub label: Option<RawLabel>,
    /// The choice's columns for a `choice_filter` (`filter: {county: 3}`).
    pub filter: Vec<(Sp<String>, Sp<Option<ChoiceValue>>)>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct RawList {
    pub name: Sp<String>,
    pub choices: Vec<RawChoice>,
}

#[derive(Debug, Clone)]
pub(crate) enum RawChoices {
    Named(Sp<String>),
    Inline(RawList),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RawItem {
    pub span: Span,
    pub keys: Vec<Sp<String>>,
    pub name: Option<Sp<String>>,
    pub ty: Option<Sp<String>>,
    pub label: Option<RawLabel>,
    pub hint: Option<RawLabel>,
    pub required: Option<RawRequired>,
    pub required_message: Option<RawLabel>,
    pub relevant: Option<RawExpr>,
    pub constraint: Option<RawExpr>,
    pub constraint_message: Option<RawLabel>,
    pub calculation: Option<RawExpr>,
    pub default: Option<Sp<String>>,
    pub choices: Option<RawChoices>,
    pub missing: Vec<Sp<String>>,
    pub unit: Option<Sp<String>>,
    pub pii: Option<Sp<bool>>,
    pub description: Option<Sp<String>>,
    pub renamed_from: Vec<Sp<String>>,
    /// Earlier codes and the codes they became (`recode: {old: new}`).
    pub recode: Vec<(Sp<String>, Sp<String>)>,
    pub count: Option<RawExpr>,
    pub appearance: Option<Sp<String>>,
    pub read_only: Option<Sp<bool>>,
    pub choice_filter: Option<RawExpr>,
    pub questions: Option<Sp<Vec<RawItem>>>,
}

impl RawItem {
    /// The span of the key `key` (for "misplaced here" diagnostics).
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.keys.iter().find(|k| k.v == key).map(|k| k.span)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RawSurvey {
    pub span: Span,
    pub survey: Option<Sp<String>>,
    pub version: Option<Sp<String>>,
    pub version_is_number: bool,
    pub title: Option<RawLabel>,
    pub description: Option<Sp<String>>,
    pub languages: Option<Sp<Vec<Sp<String>>>>,
    pub key: Option<Sp<String>>,
    pub missing_codes: Vec<(Sp<String>, Sp<Option<ChoiceValue>>)>,
    pub pii_metadata: Vec<Sp<String>>,
    pub lists: Vec<RawList>,
    pub questions: Option<Sp<Vec<RawItem>>>,
}

pub(crate) const TOP_KEYS: &[&str] = &[
    "survey",
    "version",
    "title",
    "description",
    "languages",
    "key",
    "missing_codes",
    "pii_metadata",
    "choices",
    "questions",
];
pub(crate) const ITEM_KEYS: &[&str] = &[
    "name",
    "type",
    "label",
    "hint",
    "required",
    "required_message",
    "relevant",
    "constraint",
    "constraint_message",
    "calculation",
    "default",
    "choices",
    "missing",
    "unit",
    "pii",
    "description",
    "renamed_from",
    "recode",
    "count",
    "appearance",
    "read_only",
    "choice_filter",
    "questions",
];

impl Reader<'_, '_> {
    fn expr(&mut self, node: &Node, what: &str) -> Option<RawExpr> {
        match node {
            Node::Scalar(s) => Some(RawExpr {
                text: s.as_str().to_string(),
                span: self.doc.scalar_span(s),
                map: self.doc.value_map(s),
            }),
            other => {
                self.invalid(other, format!("{what} must be an expression string, but is {}", kind_of(other)));
                None
            }
        }
    }

    fn label(&mut self, node: &Node, what: &str) -> Option<RawLabel> {
        match node {
            Node::Scalar(s) => Some(RawLabel::Plain(self.sp(s))),
            Node::Mapping(m) => {
                let mut entries = Vec::new();
                for (k, v) in m.iter() {
                    if let Some(text) = self.string(v, &format!("the `{}` text of {what}", k.as_str())) {
                        entries.push((self.sp(k), text));
                    }
                }
                Some(RawLabel::Map { span: self.mapping_span(m), entries })
            }
            other => {
                self.invalid(other, format!("{what} must be a string or a map from language to string, but is a list"));
                None
            }
        }
    }

    /// A choice or missing-code value: an integer, or a string (quoted, or not a number).
    fn choice_value(&mut self, node: &Node, what: &str) -> Sp<Option<ChoiceValue>> {
        let span = self.doc.span(node);
        let Node::Scalar(s) = node else {
            self.invalid(node, format!("{what} must be an integer or a string, but is {}", kind_of(node)));
            return Sp { v: None, span };
        };
        let text = s.as_str();
        if !s.may_coerce() {
            return Sp { v: Some(ChoiceValue::Text(text.to_string())), span };
        }
        if let Ok(i) = text.parse::<i64>() {
            return Sp { v: Some(ChoiceValue::Int(i)), span };
        }
        if text.parse::<f64>().is_ok() || text.is_empty() || matches!(text, "~" | "null" | "true" | "false") {
            let shown = if text.is_empty() { "empty" } else { text };
            self.diags.push(
                Diagnostic::error(
                    codes::INVALID_CHOICE_VALUE,
                    span,
                    format!("{what} must be an integer or a string, but is `{shown}`"),
                )
                .with_help("quote it to use it as a string"),
            );
            return Sp { v: None, span };
        }
        Sp { v: Some(ChoiceValue::Text(text.to_string())), span }
    }

    fn choice_list(&mut self, name: Sp<String>, node: &Node) -> RawList {
        let mut choices = Vec::new();
        for item in self.list(node, &format!("choice list `{}`", name.v)).unwrap_or(&[]) {
            let Node::Mapping(m) = item else {
                self.invalid(
                    item,
                    format!("a choice must be a mapping `{{value: ..., label: ...}}`, but is {}", kind_of(item)),
                );
                continue;
            };
            let span = self.mapping_span(m);
            let mut value = None;
            let mut label = None;
            let mut filter = Vec::new();
            for (k, v) in self.fields(m, &["value", "label", "filter"], "a choice") {
                match k.as_str() {
                    "value" => value = Some(self.choice_value(v, "a choice value")),
                    "filter" => match v {
                        Node::Mapping(cols) => {
                            for (col, value) in cols.iter() {
                                let value = self.choice_value(value, &format!("filter column `{}`", col.as_str()));
                                filter.push((self.sp(col), value));
                            }
                        }
                        other => self.invalid(
                            other,
                            format!(
                                "a choice's `filter` must map columns to values, such as `{{county: 3}}`, but is {}",
                                kind_of(other)
                            ),
                        ),
                    },
                    _ => label = self.label(v, "a choice label"),
                }
            }
            let Some(value) = value else {
                self.diags.push(Diagnostic::error(codes::MISSING_KEY, span, "this choice has no `value`"));
                continue;
            };
            choices.push(RawChoice { value, label, filter, span });
        }
        RawList { name, choices }
    }

    pub(crate) fn survey(&mut self, root: &Node) -> RawSurvey {
        let mut raw = RawSurvey::default();
        let Node::Mapping(m) = root else {
            self.invalid(root, "a survey file must be a YAML mapping".into());
            return raw;
        };
        raw.span = self.mapping_span(m);
        for (k, v) in self.fields(m, TOP_KEYS, "a survey") {
            match k.as_str() {
                "survey" => raw.survey = self.string(v, "`survey`"),
                "version" => {
                    raw.version = self.string(v, "`version`");
                    raw.version_is_number =
                        matches!(v, Node::Scalar(s) if s.may_coerce() && s.as_str().parse::<f64>().is_ok());
                }
                "title" => raw.title = self.label(v, "`title`"),
                "description" => raw.description = self.string(v, "`description`"),
                "key" => raw.key = self.string(v, "`key`"),
                "languages" => {
                    let span = self.doc.span(v);
                    if let Some(items) = self.list(v, "`languages`") {
                        let langs = items.iter().filter_map(|l| self.string(l, "a language")).collect();
                        raw.languages = Some(Sp { v: langs, span });
                    }
                }
                "pii_metadata" => {
                    if let Some(items) = self.list(v, "`pii_metadata`") {
                        raw.pii_metadata = items.iter().filter_map(|c| self.string(c, "a column name")).collect();
                    }
                }
                "missing_codes" => match v {
                    Node::Mapping(codes) => {
                        for (name, value) in codes.iter() {
                            let value = self.choice_value(value, &format!("missing code `{}`", name.as_str()));
                            raw.missing_codes.push((self.sp(name), value));
                        }
                    }
                    other => self.invalid(
                        other,
                        format!(
                            "`missing_codes` must map names to values, such as `dont_know: -99`, but is {}",
                            kind_of(other)
                        ),
                    ),
                },
                "choices" => match v {
                    Node::Mapping(lists) => {
                        for (name, list) in lists.iter() {
                            let name = self.sp(name);
                            let list = self.choice_list(name, list);
                            raw.lists.push(list);
                        }
                    }
                    other => self.invalid(
                        other,
                        format!("`choices` must map list names to lists of choices, but is {}", kind_of(other)),
                    ),
                },
                _ => raw.questions = self.items(v),
            }
        }
        raw
    }

    fn items(&mut self, node: &Node) -> Option<Sp<Vec<RawItem>>> {
        let span = self.doc.span(node);
        let nodes = self.list(node, "`questions`")?;
        let items = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Mapping(m) => Some(self.item(m)),
                other => {
                    self.invalid(
                        other,
                        format!("a question must be a mapping with `name` and `type`, but is {}", kind_of(other)),
                    );
                    None
                }
            })
            .collect();
        Some(Sp { v: items, span })
    }

    fn item(&mut self, m: &MarkedMappingNode) -> RawItem {
        let mut it = RawItem { span: self.mapping_span(m), ..RawItem::default() };
        for (k, v) in self.fields(m, ITEM_KEYS, "a question") {
            let key = k.as_str();
            it.keys.push(self.sp(k));
            let what = format!("`{key}`");
            match key {
                "name" => it.name = self.string(v, &what),
                "type" => it.ty = self.string(v, &what),
                "label" => it.label = self.label(v, &what),
                "hint" => it.hint = self.label(v, &what),
                "required_message" => it.required_message = self.label(v, &what),
                "constraint_message" => it.constraint_message = self.label(v, &what),
                "required" => {
                    it.required = match v {
                        Node::Scalar(s) if s.may_coerce() && matches!(s.as_str(), "true" | "false" | "yes" | "no") => {
                            self.boolean(v, &what).map(RawRequired::Bool)
                        }
                        _ => self.expr(v, &what).map(RawRequired::Expr),
                    }
                }
                "relevant" => it.relevant = self.expr(v, &what),
                "constraint" => it.constraint = self.expr(v, &what),
                "calculation" => it.calculation = self.expr(v, &what),
                "count" => it.count = self.expr(v, &what),
                "choice_filter" => it.choice_filter = self.expr(v, &what),
                "appearance" => it.appearance = self.string(v, &what),
                "read_only" => it.read_only = self.boolean(v, &what),
                "default" => it.default = self.string(v, &what),
                "unit" => it.unit = self.string(v, &what),
                "description" => it.description = self.string(v, &what),
                "renamed_from" => match v {
                    Node::Scalar(_) => it.renamed_from.extend(self.string(v, &what)),
                    other => {
                        let items = self.list(other, &what).unwrap_or(&[]);
                        it.renamed_from = items.iter().filter_map(|c| self.string(c, "an earlier name")).collect();
                    }
                },
                "recode" => match v {
                    Node::Mapping(m) => {
                        for (old, new) in m.iter() {
                            if let Some(new) = self.string(new, "a recoded value") {
                                it.recode.push((self.sp(old), new));
                            }
                        }
                    }
                    other => self.invalid(
                        other,
                        format!(
                            "`recode` must map earlier codes to the codes they became, such as `{{3: 2}}`, but is {}",
                            kind_of(other)
                        ),
                    ),
                },
                "pii" => it.pii = self.boolean(v, &what),
                "missing" => match v {
                    Node::Scalar(_) => it.missing.extend(self.string(v, &what)),
                    other => {
                        let items = self.list(other, &what).unwrap_or(&[]);
                        it.missing = items.iter().filter_map(|c| self.string(c, "a missing code name")).collect();
                    }
                },
                "choices" => {
                    it.choices = match v {
                        Node::Scalar(s) => Some(RawChoices::Named(self.sp(s))),
                        other => {
                            let owner = it.name.as_ref().map_or_else(|| "inline".to_string(), |n| n.v.clone());
                            let name = Sp { v: owner, span: self.doc.span(other) };
                            Some(RawChoices::Inline(self.choice_list(name, other)))
                        }
                    }
                }
                _ => it.questions = self.items(v),
            }
        }
        it
    }
}
