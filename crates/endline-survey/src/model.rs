//! The validated survey: built only by the validator, so its invariants hold.

use std::fmt;

use endline_diag::Span;

use crate::expr::{Expr, Ty};

/// A choice value or a missing code: an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChoiceValue {
    /// An integer value, such as `1`.
    Int(i64),
    /// A string value without spaces, such as `yak_dairy`.
    Text(String),
}

impl ChoiceValue {
    /// The value as it appears in data.
    pub fn as_text(&self) -> String {
        self.to_string()
    }

    /// Whether this is an integer value.
    pub fn is_int(&self) -> bool {
        matches!(self, ChoiceValue::Int(_))
    }
}

impl fmt::Display for ChoiceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChoiceValue::Int(i) => write!(f, "{i}"),
            ChoiceValue::Text(s) => f.write_str(s),
        }
    }
}

/// A label in one or more languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    texts: Vec<(String, String)>,
}

impl Label {
    pub(crate) fn new(texts: Vec<(String, String)>) -> Self {
        Label { texts }
    }

    /// The text in `language`, if given.
    pub fn get(&self, language: &str) -> Option<&str> {
        self.texts.iter().find(|(l, _)| l == language).map(|(_, t)| t.as_str())
    }

    /// The text in the default (first) language.
    pub fn default_text(&self) -> &str {
        self.texts.first().map_or("", |(_, t)| t.as_str())
    }

    /// `(language, text)` pairs in the survey's language order. A one-language survey
    /// has a single pair with an empty language.
    pub fn texts(&self) -> &[(String, String)] {
        &self.texts
    }
}

/// One choice of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub(crate) value: ChoiceValue,
    pub(crate) label: Label,
    pub(crate) filter: Vec<(String, ChoiceValue)>,
}

impl Choice {
    /// The value stored in data.
    pub fn value(&self) -> &ChoiceValue {
        &self.value
    }

    /// The label shown.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The choice's columns for a `choice_filter`, in the order written.
    pub fn filter(&self) -> &[(String, ChoiceValue)] {
        &self.filter
    }
}

/// A list of choices: named under `choices:`, or inline on one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceList {
    pub(crate) name: String,
    pub(crate) inline: bool,
    pub(crate) choices: Vec<Choice>,
}

impl ChoiceList {
    /// The list's name (an inline list takes its question's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the list was written inline on a question.
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// The choices, in order. Never empty; values are unique and of one kind.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// Whether the values are integers.
    pub fn has_int_values(&self) -> bool {
        self.choices.first().is_some_and(|c| c.value.is_int())
    }

    /// The choice with this value as it appears in data.
    pub fn find(&self, text: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.value.as_text() == text)
    }
}

/// A question type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuestionType {
    /// Free text.
    Text,
    /// A 64-bit integer.
    Integer,
    /// A 64-bit float.
    Decimal,
    /// One choice from a list.
    SelectOne,
    /// A set of choices from a list.
    SelectMultiple,
    /// A calendar date.
    Date,
    /// A timestamp with offset.
    DateTime,
    /// latitude, longitude, altitude, accuracy.
    Geopoint,
    /// Text shown to the enumerator; never stored.
    Note,
    /// A value derived by `calculation`.
    Calculate,
    /// A set of questions sharing relevance.
    Group,
    /// A set of questions asked once per row; its own table.
    Repeat,
}

impl QuestionType {
    /// Every type name, as written in YAML.
    pub const NAMES: &'static [&'static str] = &[
        "text",
        "integer",
        "decimal",
        "select_one",
        "select_multiple",
        "date",
        "datetime",
        "geopoint",
        "note",
        "calculate",
        "group",
        "repeat",
    ];

    /// The type from its YAML name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "text" => Self::Text,
            "integer" => Self::Integer,
            "decimal" => Self::Decimal,
            "select_one" => Self::SelectOne,
            "select_multiple" => Self::SelectMultiple,
            "date" => Self::Date,
            "datetime" => Self::DateTime,
            "geopoint" => Self::Geopoint,
            "note" => Self::Note,
            "calculate" => Self::Calculate,
            "group" => Self::Group,
            "repeat" => Self::Repeat,
            _ => return None,
        })
    }

    /// The YAML name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::SelectOne => "select_one",
            Self::SelectMultiple => "select_multiple",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Geopoint => "geopoint",
            Self::Note => "note",
            Self::Calculate => "calculate",
            Self::Group => "group",
            Self::Repeat => "repeat",
        }
    }

    /// Whether answers of this type are stored as a column.
    pub fn has_value(self) -> bool {
        !matches!(self, Self::Note | Self::Group | Self::Repeat)
    }

    /// Whether this is a select type.
    pub fn is_select(self) -> bool {
        matches!(self, Self::SelectOne | Self::SelectMultiple)
    }

    /// Whether items of this type contain other items.
    pub fn is_container(self) -> bool {
        matches!(self, Self::Group | Self::Repeat)
    }
}

impl fmt::Display for QuestionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A checked expression: its text, syntax tree, static type and place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub(crate) text: String,
    pub(crate) ast: Expr,
    pub(crate) ty: Ty,
    pub(crate) span: Span,
    pub(crate) map: Vec<usize>,
}

impl Expression {
    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The syntax tree, for [`eval`](crate::expr::eval).
    pub fn ast(&self) -> &Expr {
        &self.ast
    }

    /// The static type.
    pub fn ty(&self) -> Ty {
        self.ty
    }

    /// Where the expression is in the survey file.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The file span of a span inside the expression text.
    pub fn file_span(&self, inner: Span) -> Span {
        crate::yaml::map_span(&self.map, inner)
    }

    /// The names this expression refers to, in order, without repeats.
    pub fn references(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (n, _) in self.ast.references() {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// Whether a question must be answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Required {
    /// It may be left empty.
    No,
    /// It must be answered whenever relevant.
    Yes,
    /// It must be answered whenever relevant and this holds.
    When(Expression),
}

/// A declared missing code: a special answer meaning "no value, for this reason".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingCode {
    pub(crate) name: String,
    pub(crate) value: ChoiceValue,
}

impl MissingCode {
    /// The reason, such as `dont_know`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value written in data, such as `-99`.
    pub fn value(&self) -> &ChoiceValue {
        &self.value
    }
}

/// One item of the questionnaire: a question, note, calculation, group or repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub(crate) name: String,
    pub(crate) span: Span,
    pub(crate) qtype: QuestionType,
    pub(crate) value_ty: Ty,
    pub(crate) label: Option<Label>,
    pub(crate) hint: Option<Label>,
    pub(crate) required: Required,
    pub(crate) required_message: Option<Label>,
    pub(crate) relevant: Option<Expression>,
    pub(crate) constraint: Option<Expression>,
    pub(crate) constraint_message: Option<Label>,
    pub(crate) calculation: Option<Expression>,
    pub(crate) count: Option<Expression>,
    pub(crate) default: Option<String>,
    pub(crate) list: Option<usize>,
    pub(crate) missing: Vec<String>,
    pub(crate) unit: Option<String>,
    pub(crate) pii: bool,
    pub(crate) description: Option<String>,
    pub(crate) renamed_from: Vec<String>,
    pub(crate) recode: Vec<(String, String)>,
    pub(crate) appearance: Option<String>,
    pub(crate) read_only: bool,
    pub(crate) choice_filter: Option<Expression>,
    pub(crate) children: Vec<Item>,
}

impl Item {
    /// The name, unique in the survey.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Where the name is written.
    pub fn span(&self) -> Span {
        self.span
    }
    /// The type.
    pub fn question_type(&self) -> QuestionType {
        self.qtype
    }
    /// The type of the stored value (for `calculate`, inferred from the calculation).
    pub fn value_type(&self) -> Ty {
        self.value_ty
    }
    /// The label.
    pub fn label(&self) -> Option<&Label> {
        self.label.as_ref()
    }
    /// The hint.
    pub fn hint(&self) -> Option<&Label> {
        self.hint.as_ref()
    }
    /// Whether an answer is required.
    pub fn required(&self) -> &Required {
        &self.required
    }
    /// The message shown when a required answer is missing.
    pub fn required_message(&self) -> Option<&Label> {
        self.required_message.as_ref()
    }
    /// Skip logic: the item is asked only when this holds.
    pub fn relevant(&self) -> Option<&Expression> {
        self.relevant.as_ref()
    }
    /// A condition every present answer must meet.
    pub fn constraint(&self) -> Option<&Expression> {
        self.constraint.as_ref()
    }
    /// The message shown when the constraint fails.
    pub fn constraint_message(&self) -> Option<&Label> {
        self.constraint_message.as_ref()
    }
    /// For `calculate`: how the value is derived.
    pub fn calculation(&self) -> Option<&Expression> {
        self.calculation.as_ref()
    }
    /// For `repeat`: how many rows there should be.
    pub fn count(&self) -> Option<&Expression> {
        self.count.as_ref()
    }
    /// The default answer, as written.
    pub fn default(&self) -> Option<&str> {
        self.default.as_deref()
    }
    /// The names of the missing codes this question accepts.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }
    /// The unit of the answer, such as `CNY`.
    pub fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
    /// Whether the answer identifies a person.
    pub fn is_pii(&self) -> bool {
        self.pii
    }
    /// Codebook text.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The names the question had in earlier versions of the survey (`renamed_from`), so
    /// that one variable keeps one meaning across rounds.
    pub fn renamed_from(&self) -> &[String] {
        &self.renamed_from
    }
    /// How codes of earlier versions map to this version's (`recode`): (earlier value,
    /// value now), as written. Applied to data of other versions when waves are stacked.
    pub fn recode(&self) -> &[(String, String)] {
        &self.recode
    }
    /// How the device shows the item (`appearance`, such as `minimal` or
    /// `field-list`), passed to the form as written.
    pub fn appearance(&self) -> Option<&str> {
        self.appearance.as_deref()
    }
    /// Whether the enumerator sees the answer but cannot change it (`read_only`).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
    /// Which of the list's choices are offered (`choice_filter`), over the choices'
    /// `filter` columns and earlier answers.
    pub fn choice_filter(&self) -> Option<&Expression> {
        self.choice_filter.as_ref()
    }
    /// The items inside a group or repeat.
    pub fn children(&self) -> &[Item] {
        &self.children
    }
}

/// A data item with where it sits: its table and the groups around it.
#[derive(Debug, Clone)]
pub struct Placed<'s> {
    /// The item.
    pub item: &'s Item,
    /// The table it is stored in: the survey id, or the enclosing repeat's name.
    pub table: &'s str,
    /// The groups and repeats around it, outermost first.
    pub path: Vec<&'s Item>,
}

/// A table of collected data: the top level, or one repeat.
#[derive(Debug, Clone)]
pub struct Table<'s> {
    /// The table name: the survey id for the top level, else the repeat's name.
    pub name: &'s str,
    /// The repeat, for a repeat table.
    pub repeat: Option<&'s Item>,
    /// The parent table, for a repeat table.
    pub parent: Option<&'s str>,
    /// The items whose values this table stores, in questionnaire order.
    pub columns: Vec<&'s Item>,
}

/// A validated survey. Only [`validate`](crate::validate) makes one, and only when the
/// definition has no errors, so its invariants hold: names are unique identifiers, every
/// reference resolves, every select question has a non-empty list, expressions type-check
/// and have no dependency cycles.
#[derive(Debug, Clone)]
pub struct Survey {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) title: Option<Label>,
    pub(crate) description: Option<String>,
    pub(crate) languages: Vec<String>,
    pub(crate) key: String,
    pub(crate) missing_codes: Vec<MissingCode>,
    pub(crate) pii_metadata: Vec<String>,
    pub(crate) lists: Vec<ChoiceList>,
    pub(crate) items: Vec<Item>,
}

impl Survey {
    /// The survey identifier, also the name of its top-level table.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The version, stamped on every ingested record.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The title.
    pub fn title(&self) -> Option<&Label> {
        self.title.as_ref()
    }
    /// The description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The label languages, default first. Empty for a one-language survey.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }
    /// The name of the question that identifies a submission.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The declared missing codes.
    pub fn missing_codes(&self) -> &[MissingCode] {
        &self.missing_codes
    }
    /// Platform metadata columns this survey declares as personal data, beyond the ones
    /// endline always treats so (`pii_metadata:`; names as exported, or their last
    /// `-`/`/` segment).
    pub fn pii_metadata(&self) -> &[String] {
        &self.pii_metadata
    }
    /// Whether the survey key is personal data (`pii: true` on the key question): it is
    /// then replaced by a pseudonym in every table but the PII side tables.
    pub fn key_is_pii(&self) -> bool {
        self.item(&self.key).is_some_and(Item::is_pii)
    }
    /// Every choice list, named and inline.
    pub fn choice_lists(&self) -> &[ChoiceList] {
        &self.lists
    }
    /// The items, in interview order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The choice list of a select question.
    pub fn choices_of(&self, item: &Item) -> Option<&ChoiceList> {
        item.list.and_then(|i| self.lists.get(i))
    }

    /// The missing code named `name`.
    pub fn missing_code(&self, name: &str) -> Option<&MissingCode> {
        self.missing_codes.iter().find(|m| m.name == name)
    }

    /// Calls `f` on every item, depth first in interview order, with its table and path.
    pub fn visit<'s>(&'s self, f: &mut dyn FnMut(Placed<'s>)) {
        fn go<'s>(items: &'s [Item], table: &'s str, path: &mut Vec<&'s Item>, f: &mut dyn FnMut(Placed<'s>)) {
            for item in items {
                f(Placed { item, table, path: path.clone() });
                if item.qtype.is_container() {
                    let inner = if item.qtype == QuestionType::Repeat { item.name.as_str() } else { table };
                    path.push(item);
                    go(&item.children, inner, path, f);
                    path.pop();
                }
            }
        }
        go(&self.items, &self.id, &mut Vec::new(), f);
    }

    /// The item named `name`, anywhere in the survey.
    pub fn item(&self, name: &str) -> Option<&Item> {
        let mut found = None;
        self.visit(&mut |p| {
            if found.is_none() && p.item.name == name {
                found = Some(p.item);
            }
        });
        found
    }

    /// The tables collected data falls into: the top level first, then each repeat in
    /// interview order.
    pub fn tables(&self) -> Vec<Table<'_>> {
        let mut tables = vec![Table { name: &self.id, repeat: None, parent: None, columns: Vec::new() }];
        self.visit(&mut |p| {
            if p.item.qtype == QuestionType::Repeat {
                tables.push(Table {
                    name: &p.item.name,
                    repeat: Some(p.item),
                    parent: Some(p.table),
                    columns: Vec::new(),
                });
            }
            if p.item.qtype.has_value()
                && let Some(t) = tables.iter_mut().find(|t| t.name == p.table)
            {
                t.columns.push(p.item);
            }
        });
        tables
    }
}
