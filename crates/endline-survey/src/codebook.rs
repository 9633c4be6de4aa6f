//! The codebook: every stored variable with its type, labels in each language, choices,
//! skip logic written out, unit, missing codes and PII flag.

use std::fmt::Write as _;

use serde::Serialize;

use crate::expr::{BinOp, Expr, ExprKind};
use crate::model::{Item, QuestionType, Required, Survey};

/// One variable of the codebook.
#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    /// The table the variable is stored in.
    pub table: String,
    /// The variable (question) name.
    pub name: String,
    /// The question type.
    #[serde(rename = "type")]
    pub qtype: String,
    /// The type of the stored value.
    pub value_type: String,
    /// `(language, label)` pairs.
    pub labels: Vec<LangText>,
    /// The groups around the variable, outermost first.
    pub groups: Vec<String>,
    /// The choices of a select question.
    pub choices: Vec<CodeChoice>,
    /// When the question is asked, written out; `None` when always.
    pub asked_when: Option<String>,
    /// Whether an answer is required: `yes`, `no`, or the condition written out.
    pub required: String,
    /// The constraint, written out.
    pub constraint: Option<String>,
    /// The calculation, written out.
    pub calculation: Option<String>,
    /// The unit.
    pub unit: Option<String>,
    /// The missing codes the question accepts, as `name = value`.
    pub missing_codes: Vec<String>,
    /// Whether the value identifies a person (stored only in the PII side table).
    pub pii: bool,
    /// The description.
    pub description: Option<String>,
}

/// A text in one language.
#[derive(Debug, Clone, Serialize)]
pub struct LangText {
    /// The language code (empty for a one-language survey).
    pub language: String,
    /// The text.
    pub text: String,
}

/// One choice in the codebook.
#[derive(Debug, Clone, Serialize)]
pub struct CodeChoice {
    /// The value stored.
    pub value: String,
    /// Its labels.
    pub labels: Vec<LangText>,
}

/// The whole codebook.
#[derive(Debug, Clone, Serialize)]
pub struct Codebook {
    /// The survey id.
    pub survey: String,
    /// The version.
    pub version: String,
    /// The title in each language.
    pub title: Vec<LangText>,
    /// The languages.
    pub languages: Vec<String>,
    /// The key question.
    pub key: String,
    /// Every table with its parent.
    pub tables: Vec<TableInfo>,
    /// Every stored variable, table by table, in interview order.
    pub variables: Vec<Variable>,
}

/// A table in the codebook.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    /// The table's name.
    pub name: String,
    /// The parent table of a repeat.
    pub parent: Option<String>,
    /// How many rows a repeat should have, written out.
    pub rows: Option<String>,
}

fn texts(label: Option<&crate::Label>) -> Vec<LangText> {
    label.map_or_else(Vec::new, |l| {
        l.texts().iter().map(|(language, text)| LangText { language: language.clone(), text: text.clone() }).collect()
    })
}

/// Writes an expression for people: `${x}` becomes `x`, and a comparison of a select
/// question with a value shows the choice's label.
pub fn describe(survey: &Survey, e: &Expr) -> String {
    let choice = |q: &Expr, v: &Expr| -> Option<String> {
        let ExprKind::Ref(name) = &q.kind else { return None };
        let value = match &v.kind {
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Str(s) => s.clone(),
            _ => return None,
        };
        let item = survey.item(name)?;
        let c = survey.choices_of(item)?.find(&value)?;
        Some(format!("{value} ({})", c.label().default_text()))
    };
    fn prec(op: BinOp) -> u8 {
        match op {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            _ => 6,
        }
    }
    fn go(e: &Expr, parent: u8, choice: &dyn Fn(&Expr, &Expr) -> Option<String>) -> String {
        match &e.kind {
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Dec(d) => d.to_string(),
            ExprKind::Str(s) => format!("'{s}'"),
            ExprKind::Ref(n) => n.clone(),
            ExprKind::Name(n) => format!("the choice's {n}"),
            ExprKind::SelfRef => "the answer".into(),
            ExprKind::Neg(x) => format!("-{}", go(x, 7, choice)),
            ExprKind::Binary(op, a, b) => {
                let p = prec(*op);
                let lhs = go(a, p, choice);
                let rhs = if matches!(op, BinOp::Eq | BinOp::Ne) {
                    choice(a, b).unwrap_or_else(|| go(b, p + 1, choice))
                } else {
                    go(b, p + 1, choice)
                };
                let s = format!("{lhs} {} {rhs}", op.as_str());
                if p < parent { format!("({s})") } else { s }
            }
            ExprKind::Call { name, args, .. } if name == "selected" && args.len() == 2 => {
                let v = choice(&args[0], &args[1]).unwrap_or_else(|| go(&args[1], 0, choice));
                format!("{} includes {v}", go(&args[0], 7, choice))
            }
            ExprKind::Call { name, args, .. } => {
                format!("{name}({})", args.iter().map(|a| go(a, 0, choice)).collect::<Vec<_>>().join(", "))
            }
        }
    }
    go(e, 0, &choice)
}

/// Builds the codebook of a validated survey.
pub fn build(survey: &Survey) -> Codebook {
    let mut variables = Vec::new();
    let mut tables = Vec::new();
    for t in survey.tables() {
        tables.push(TableInfo {
            name: t.name.to_string(),
            parent: t.parent.map(str::to_string),
            rows: t.repeat.and_then(Item::count).map(|c| describe(survey, c.ast())),
        });
    }
    survey.visit(&mut |p| {
        let item = p.item;
        if !item.question_type().has_value() {
            return;
        }
        // Group conditions first, then the item's own: all must hold.
        let conditions: Vec<&Expr> =
            p.path.iter().filter_map(|g| g.relevant()).chain(item.relevant()).map(|r| r.ast()).collect();
        let several = conditions.len() > 1;
        let asked_when = (!conditions.is_empty()).then(|| {
            conditions
                .iter()
                .map(|c| {
                    let text = describe(survey, c);
                    let compound = matches!(c.kind, ExprKind::Binary(BinOp::Or, ..));
                    if several && compound { format!("({text})") } else { text }
                })
                .collect::<Vec<_>>()
                .join(" and ")
        });
        let choices = survey
            .choices_of(item)
            .map(|l| {
                l.choices()
                    .iter()
                    .map(|c| CodeChoice { value: c.value().as_text(), labels: texts(Some(c.label())) })
                    .collect()
            })
            .unwrap_or_default();
        variables.push(Variable {
            table: p.table.to_string(),
            name: item.name().to_string(),
            qtype: item.question_type().name().to_string(),
            value_type: item.value_type().to_string(),
            labels: texts(item.label()),
            groups: p
                .path
                .iter()
                .filter(|g| g.question_type() == QuestionType::Group)
                .map(|g| g.name().to_string())
                .collect(),
            choices,
            asked_when,
            required: match item.required() {
                Required::No => "no".into(),
                Required::Yes => "yes".into(),
                Required::When(e) => format!("when {}", describe(survey, e.ast())),
            },
            constraint: item.constraint().map(|c| describe(survey, c.ast())),
            calculation: item.calculation().map(|c| describe(survey, c.ast())),
            unit: item.unit().map(str::to_string),
            missing_codes: item
                .missing()
                .iter()
                .filter_map(|m| survey.missing_code(m))
                .map(|m| format!("{} = {}", m.name(), m.value()))
                .collect(),
            pii: item.is_pii(),
            description: item.description().map(str::to_string),
        });
    });
    Codebook {
        survey: survey.id().to_string(),
        version: survey.version().to_string(),
        title: texts(survey.title()),
        languages: survey.languages().to_vec(),
        key: survey.key().to_string(),
        tables,
        variables,
    }
}

/// Text for the Markdown codebook: HTML cannot pass (`<`, `>`, `&` become entities), and
/// the characters that would start emphasis, code, links or a table cell are escaped.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Codebook {
    /// The codebook as Markdown: a section per table, a block per variable.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let title = self.title.first().map_or(self.survey.as_str(), |t| t.text.as_str());
        let _ = writeln!(out, "# Codebook: {}\n", md_escape(title));
        let _ = writeln!(out, "Survey `{}`, version {}. Key: `{}`.", self.survey, self.version, self.key);
        if !self.languages.is_empty() {
            let _ = writeln!(out, "Languages: {}.", self.languages.join(", "));
        }
        for t in &self.tables {
            let _ = write!(out, "\n## Table `{}`\n\n", t.name);
            match (&t.parent, &t.rows) {
                (Some(p), Some(rows)) => {
                    let _ = writeln!(out, "A repeat: rows belong to a row of `{p}`; there should be {rows} of them.");
                }
                (Some(p), None) => {
                    let _ = writeln!(out, "A repeat: rows belong to a row of `{p}`.");
                }
                _ => {
                    let _ = writeln!(out, "One row per submission, identified by `{}`.", self.key);
                }
            }
            for v in self.variables.iter().filter(|v| v.table == t.name) {
                let _ = write!(out, "\n### `{}` ({})\n\n| | |\n|---|---|\n", v.name, v.qtype);
                for l in &v.labels {
                    let lang = if l.language.is_empty() { String::new() } else { format!(" ({})", l.language) };
                    let _ = writeln!(out, "| Label{lang} | {} |", md_escape(&l.text));
                }
                if v.qtype == "calculate" {
                    let _ = writeln!(out, "| Value type | {} |", v.value_type);
                }
                if !v.groups.is_empty() {
                    let _ = writeln!(out, "| Group | {} |", v.groups.join(" / "));
                }
                let _ = writeln!(out, "| Asked when | {} |", md_escape(v.asked_when.as_deref().unwrap_or("always")));
                let _ = writeln!(out, "| Required | {} |", md_escape(&v.required));
                for (k, val) in [
                    ("Constraint", &v.constraint),
                    ("Calculation", &v.calculation),
                    ("Unit", &v.unit),
                    ("Description", &v.description),
                ] {
                    if let Some(val) = val {
                        let _ = writeln!(out, "| {k} | {} |", md_escape(val));
                    }
                }
                if !v.missing_codes.is_empty() {
                    let _ = writeln!(out, "| Missing codes | {} |", v.missing_codes.join(", "));
                }
                if v.pii {
                    let _ = writeln!(out, "| PII | yes: stored only in `{}.pii.parquet` |", v.table);
                }
                if !v.choices.is_empty() {
                    let _ = writeln!(out, "\n| Value | {} |", self.label_headers().join(" | "));
                    let _ = writeln!(out, "|---|{}", "---|".repeat(self.label_headers().len()));
                    for c in &v.choices {
                        let labels: Vec<String> = c.labels.iter().map(|l| md_escape(&l.text)).collect();
                        let _ = writeln!(out, "| {} | {} |", md_escape(&c.value.to_string()), labels.join(" | "));
                    }
                }
            }
        }
        out
    }

    fn label_headers(&self) -> Vec<String> {
        if self.languages.is_empty() {
            vec!["Label".into()]
        } else {
            self.languages.iter().map(|l| format!("Label ({l})")).collect()
        }
    }

    /// The codebook as CSV: one row per variable; choices as `value=label` joined by `; `.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = ["table", "name", "type", "value_type"].iter().map(|s| s.to_string()).collect();
        let langs: Vec<String> = if self.languages.is_empty() { vec![String::new()] } else { self.languages.clone() };
        for l in &langs {
            header.push(if l.is_empty() { "label".into() } else { format!("label_{l}") });
        }
        header.extend(
            [
                "choices",
                "asked_when",
                "required",
                "constraint",
                "calculation",
                "unit",
                "missing_codes",
                "pii",
                "description",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let mut out = csv_row(&header);
        for v in &self.variables {
            let mut row = vec![v.table.clone(), v.name.clone(), v.qtype.clone(), v.value_type.clone()];
            for l in &langs {
                row.push(v.labels.iter().find(|t| &t.language == l).map_or_else(String::new, |t| t.text.clone()));
            }
            row.push(
                v.choices
                    .iter()
                    .map(|c| format!("{}={}", c.value, c.labels.first().map_or("", |l| l.text.as_str())))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            row.push(v.asked_when.clone().unwrap_or_default());
            row.push(v.required.clone());
            row.push(v.constraint.clone().unwrap_or_default());
            row.push(v.calculation.clone().unwrap_or_default());
            row.push(v.unit.clone().unwrap_or_default());
            row.push(v.missing_codes.join("; "));
            row.push(if v.pii { "yes" } else { "no" }.into());
            row.push(v.description.clone().unwrap_or_default());
            out.push_str(&csv_row(&row));
        }
        out
    }
}

/// One CSV record (RFC 4180 quoting), ending in `\n`.
/// A CSV row; formula-like cells (`=`, `+`, `@`, ...) neutralised, as in every CSV
/// endline writes ([`endline_output::csv_cell`]).
fn csv_row(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| endline_output::csv_cell::neutralize(f))
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.into_owned() }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}
