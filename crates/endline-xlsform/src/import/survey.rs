//! The walk over the sheets: settings, choice lists and the survey's rows, into the YAML.

use endline_survey::expr::{ExprKind, FUNCTIONS, parse, parse_filter};

use super::dialect::{RowType, SURVEY_COLUMNS, platform_column, row_type};
use super::yaml::{Writer, quoted, scalar};
use super::{Cell, Gaps, Languages, Problems, Table, Texts, texts};

type Val = (String, Cell);

/// The settings sheet, read.
#[derive(Default)]
pub(crate) struct Settings {
    form_id: Option<Val>,
    version: Option<Val>,
    title: Option<Val>,
    /// `endline::title::<Language (code)>`: the title's other languages.
    titles: Vec<(String, String, Cell)>,
    pub default_language: Option<Val>,
    instance_name: Option<Val>,
    missing_codes: Option<Val>,
    description: Option<Val>,
    pii_metadata: Option<Val>,
}

impl Settings {
    pub fn read(t: Option<&Table<'_>>, problems: &mut Problems) -> Self {
        let mut s = Settings::default();
        let Some(t) = t else { return s };
        let Some(row) = t.rows.first() else { return s };
        for (i, h) in t.headers.iter().enumerate() {
            let Some(text) = row.cells.get(i).filter(|c| !c.is_empty()) else { continue };
            let v = Some((text.clone(), t.cell(row, i)));
            match h.key.as_str() {
                "form_id" => s.form_id = v,
                "version" => s.version = v,
                "form_title" => s.title = v,
                "default_language" => s.default_language = v,
                "instance_name" => s.instance_name = v,
                "endline::missing_codes" => s.missing_codes = v,
                "endline::description" => s.description = v,
                "endline::pii_metadata" => s.pii_metadata = v,
                k if k.starts_with("endline::title::") => {
                    s.titles.push((k["endline::title::".len()..].to_string(), text.clone(), t.cell(row, i)));
                }
                other => problems.warn(
                    Some(t.cell(row, i)),
                    "xlsform-platform-only",
                    format!("setting `{other}` is for the platform, not the survey: not imported"),
                ),
            }
        }
        if t.rows.len() > 1 {
            problems.warn(
                Some(t.cell(&t.rows[1], 0)),
                "xlsform-platform-only",
                "the settings sheet has more than one row: only the first is read".into(),
            );
        }
        s
    }
}

struct Choice {
    value: Val,
    label: Option<Texts>,
    filter: Vec<(String, String, Cell)>,
}

struct List {
    name: Val,
    choices: Vec<Choice>,
    /// Whether a question uses it (lists only the export's mapping used are left out).
    used: bool,
}

fn choice_lists(t: &Table<'_>, langs: &Languages, gaps: &mut Gaps, problems: &mut Problems) -> Vec<List> {
    let mut lists: Vec<List> = Vec::new();
    let (Some(list_col), Some(name_col)) = (t.column("list_name"), t.column("name")) else {
        problems.error(
            t.header_cell(0),
            "xlsform-missing-column",
            format!("the `{}` sheet needs `list_name` and `name` columns", t.grid.name),
            None,
        );
        return lists;
    };
    // Extra columns are the choices' filter columns; media are the device's.
    let (mut filters, mut dropped) = (Vec::new(), Vec::new());
    for (i, h) in t.headers.iter().enumerate() {
        let used = t.rows.iter().any(|r| r.cells.get(i).is_some_and(|c| !c.is_empty()));
        if i == list_col || i == name_col || h.key == "label" || h.key.is_empty() || !used {
            continue;
        }
        let ident = h.key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && h.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ident && h.lang.is_none() && !h.key.starts_with("media") {
            filters.push(i);
        } else {
            dropped.push(i);
        }
    }
    for row in t.rows {
        let list = row.cells.get(list_col).filter(|c| !c.is_empty());
        let name = row.cells.get(name_col).filter(|c| !c.is_empty());
        let (Some(list), Some(name)) = (list, name) else {
            if list.is_none() && name.is_none() {
                problems.warn(
                    Some(t.cell(row, list_col)),
                    "xlsform-comment-row",
                    "a choice row with no list_name and no name is a comment: not imported".into(),
                );
                continue;
            }
            let (col, what) = if list.is_none() { (list_col, "list_name") } else { (name_col, "name") };
            problems.error(
                Some(t.cell(row, col)),
                "xlsform-missing-name",
                format!("this choice has no `{what}`"),
                None,
            );
            continue;
        };
        for &i in &dropped {
            if row.cells.get(i).is_some_and(|c| !c.is_empty()) {
                let h = t.header_row.and_then(|r| r.cells.get(i)).map_or("", String::as_str);
                problems.warn(
                    Some(t.cell(row, i)),
                    "xlsform-platform-only",
                    format!("`{h}` (media for the device, or a column endline cannot filter on) is not imported"),
                );
            }
        }
        let mut label = texts(t, row, "label", langs, gaps);
        if label.is_none() {
            // A choice shown by its image alone: its value stands in as the label.
            let cell = t.cell(row, name_col);
            problems.warn(
                Some(cell.clone()),
                "xlsform-kept-as",
                format!("choice `{name}` has no label (only media): its value is used as the label"),
            );
            let codes: Vec<String> = if langs.single() { vec![String::new()] } else { langs.codes.clone() };
            label = Some(codes.into_iter().map(|c| (c, name.clone(), cell.clone())).collect());
        }
        let choice = Choice {
            value: (name.clone(), t.cell(row, name_col)),
            label,
            filter: filters
                .iter()
                .filter_map(|&i| {
                    row.cells
                        .get(i)
                        .filter(|c| !c.is_empty())
                        .map(|c| (t.headers[i].key.clone(), c.clone(), t.cell(row, i)))
                })
                .collect(),
        };
        match lists.iter_mut().find(|l| &l.name.0 == list) {
            Some(l) if l.choices.iter().any(|c| c.value.0 == choice.value.0) => {
                problems.warn(
                    Some(choice.value.1.clone()),
                    "xlsform-duplicate-choice",
                    format!(
                        "`{}` appears twice in list `{list}` (allow_choice_duplicates): data cannot tell them apart, so the first is kept and this row's label and filter columns are dropped",
                        choice.value.0
                    ),
                );
            }
            Some(l) => l.choices.push(choice),
            None => {
                lists.push(List { name: (list.clone(), t.cell(row, list_col)), choices: vec![choice], used: false })
            }
        }
    }
    lists
}

#[derive(Default)]
struct Q {
    name: Option<Val>,
    ty: String,
    ty_cell: Option<Cell>,
    container: bool,
    label: Option<Texts>,
    hint: Option<Texts>,
    required: Option<Val>,
    required_message: Option<Texts>,
    relevant: Option<Val>,
    constraint: Option<Val>,
    constraint_message: Option<Texts>,
    calculation: Option<Val>,
    default: Option<Val>,
    choice_filter: Option<Val>,
    appearance: Option<Val>,
    read_only: Option<Cell>,
    count: Option<Val>,
    missing: Option<Val>,
    unit: Option<Val>,
    pii: Option<Cell>,
    description: Option<Val>,
    renamed_from: Option<Val>,
    comments: Vec<String>,
    /// pyxform's `or_other`: a `<name>_other` text question follows.
    or_other: bool,
    children: Vec<Q>,
}

impl Q {
    fn name(&self) -> &str {
        self.name.as_ref().map_or("", |n| n.0.as_str())
    }
    fn list(&self) -> Option<&str> {
        self.ty.strip_prefix("select_one ").or_else(|| self.ty.strip_prefix("select_multiple "))
    }
    fn set_list(&mut self, list: &str) {
        let kind = if self.ty.starts_with("select_one") { "select_one" } else { "select_multiple" };
        self.ty = format!("{kind} {list}");
    }
}

/// Checks an expression endline must be able to read: what uses XPath paths or
/// functions endline does not have is dropped with a warning, a syntax error is an
/// error.
fn expression(v: Val, property: &str, q: &mut Q, problems: &mut Problems) -> Option<Val> {
    let (text, cell) = v;
    let parsed = if property == "choice_filter" { parse_filter(&text) } else { parse(&text) };
    let dropped = |why: String, q: &mut Q, problems: &mut Problems| {
        let message = format!("`{property}` dropped: `{text}` {why}");
        q.comments.push(format!("XLSForm {property}: {text} (dropped: {why})"));
        problems.warn(Some(cell.clone()), "xlsform-platform-only", message);
    };
    match parsed {
        Err(e) => {
            let platform = ["/", "current()", "instance(", "[", "@"].iter().any(|p| text.contains(p));
            if platform {
                dropped("uses XPath paths, which endline's expressions do not have".into(), q, problems);
            } else {
                problems.error(
                    Some(cell),
                    "xlsform-expression",
                    format!("invalid {property} expression `{text}`: {}", e.message),
                    None,
                );
            }
            None
        }
        Ok(ast) => {
            let mut unknown: Vec<String> = Vec::new();
            ast.walk(&mut |n| {
                if let ExprKind::Call { name, .. } = &n.kind
                    && !FUNCTIONS.iter().any(|(f, _, _)| f == name)
                    && !unknown.contains(name)
                {
                    unknown.push(name.clone());
                }
            });
            if unknown.is_empty() {
                return Some((text, cell));
            }
            let names: Vec<String> = unknown.iter().map(|n| format!("{n}()")).collect();
            dropped(format!("uses {}, which endline cannot evaluate", names.join(", ")), q, problems);
            None
        }
    }
}

fn truthy(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "true()" | "1" | "y" => Some(true),
        "no" | "false" | "false()" | "0" | "n" => Some(false),
        _ => None,
    }
}

struct Walk<'a, 't> {
    t: &'a Table<'t>,
    langs: &'a Languages,
    gaps: &'a mut Gaps,
    problems: &'a mut Problems,
    /// Platform metadata that identifies people or devices (`deviceid`…).
    pii_metadata: Vec<String>,
    /// Lists made for `or_other`: (list, the copy with `other`).
    or_other: Vec<(String, String)>,
}

impl Walk<'_, '_> {
    fn rows(&mut self) -> Vec<Q> {
        let t = self.t;
        let Some(type_col) = t.column("type") else {
            self.problems.error(
                t.header_cell(0),
                "xlsform-missing-column",
                "the survey sheet has no `type` column".into(),
                Some("its first row names the columns: type, name, label, …".into()),
            );
            return Vec::new();
        };
        for (i, h) in t.headers.iter().enumerate() {
            let used = t.rows.iter().any(|r| r.cells.get(i).is_some_and(|c| !c.is_empty()));
            if !used || SURVEY_COLUMNS.contains(&h.key.as_str()) || platform_column(&h.key).is_some() {
                continue;
            }
            self.problems.warn(
                t.header_cell(i),
                "xlsform-unknown-column",
                format!("column `{}` is neither XLSForm's nor endline's: its cells are not imported", h.key),
            );
        }
        // The open groups and repeats, innermost last; the bottom is the survey.
        let mut stack: Vec<Q> = vec![Q::default()];
        for row in t.rows {
            let Some(ty) = row.cells.get(type_col).filter(|c| !c.is_empty()) else {
                // As pyxform: a row with neither name nor label is a comment.
                let has_label = t.headers.iter().enumerate().any(|(i, h)| {
                    (h.key == "name" || h.key == "label") && row.cells.get(i).is_some_and(|c| !c.is_empty())
                });
                if has_label {
                    self.problems.error(
                        Some(t.cell(row, type_col)),
                        "xlsform-missing-type",
                        "this row has a name or label but no `type`".into(),
                        Some("give it a type, or clear the row".into()),
                    );
                } else if row.cells.iter().any(|c| !c.is_empty()) {
                    self.problems.warn(
                        Some(t.cell(row, type_col)),
                        "xlsform-comment-row",
                        "a row with no type, name or label is a comment, as pyxform reads it: not imported".into(),
                    );
                }
                continue;
            };
            let ty_cell = t.cell(row, type_col);
            if let Some((d, cell)) = t.get(row, "disabled")
                && truthy(&d) == Some(true)
            {
                self.problems.warn(
                    Some(cell),
                    "xlsform-platform-only",
                    "a disabled row is left out, as pyxform does".into(),
                );
                continue;
            }
            match row_type(ty) {
                RowType::EndGroup | RowType::EndRepeat => {
                    let want_repeat = row_type(ty) == RowType::EndRepeat;
                    let open = stack.len() > 1 && stack.last().is_some_and(|q| (q.ty == "repeat") == want_repeat);
                    if !open {
                        self.problems.error(
                            Some(ty_cell),
                            "xlsform-unmatched-end",
                            format!("`{ty}` closes no open {}", if want_repeat { "repeat" } else { "group" }),
                            None,
                        );
                        continue;
                    }
                    if let Some(q) = stack.pop()
                        && let Some(parent) = stack.last_mut()
                    {
                        parent.children.push(q);
                    }
                }
                kind => {
                    if let Some(q) = self.question(row, ty, ty_cell, kind) {
                        if q.container {
                            stack.push(q);
                        } else if let Some(parent) = stack.last_mut() {
                            parent.children.push(q);
                        }
                    }
                }
            }
        }
        while stack.len() > 1 {
            let Some(q) = stack.pop() else { break };
            self.problems.error(
                q.ty_cell.clone(),
                "xlsform-unclosed-block",
                format!("{} `{}` is never closed", q.ty, q.name()),
                Some(format!("add an `end_{}` row after its last question", q.ty)),
            );
            if let Some(parent) = stack.last_mut() {
                parent.children.push(q);
            }
        }
        stack.pop().map(|q| q.children).unwrap_or_default()
    }

    fn question(&mut self, row: &crate::GridRow, ty: &str, ty_cell: Cell, kind: RowType) -> Option<Q> {
        let t = self.t;
        let name = t.get(row, "name");
        let mut q = Q { name: name.clone(), ty_cell: Some(ty_cell.clone()), ..Q::default() };
        match kind {
            RowType::Plain(p) => {
                if ty.trim().eq_ignore_ascii_case("phone number") {
                    // pyxform's `phone number` is text that only takes digits.
                    q.constraint = Some(("regex(., '^\\d*$')".into(), ty_cell.clone()));
                }
                q.ty = p;
            }
            RowType::Select { multi, list, or_other } => {
                q.ty = format!("{} {list}", if multi { "select_multiple" } else { "select_one" });
                if or_other {
                    let copy = format!("{list}_or_other");
                    if !self.or_other.iter().any(|(l, _)| *l == list) {
                        self.or_other.push((list.clone(), copy.clone()));
                    }
                    q.set_list(&copy);
                    q.or_other = true;
                    q.comments.push(format!(
                        "XLSForm: {ty} (the list with `other` added, and the `_other` text question pyxform adds)"
                    ));
                    self.problems.warn(
                        Some(ty_cell.clone()),
                        "xlsform-kept-as",
                        format!("`or_other` kept as list `{copy}` (with `other`) and a question `{}_other`", q.name()),
                    );
                }
            }
            RowType::BeginGroup | RowType::BeginRepeat => {
                q.ty = if kind == RowType::BeginGroup { "group" } else { "repeat" }.into();
                q.container = true;
            }
            RowType::Loop => {
                self.problems.error(
                    Some(ty_cell.clone()),
                    "xlsform-unsupported",
                    format!("`{ty}` (pyxform's deprecated loop: a copy of the group per choice) has no endline form"),
                    Some("write it as a repeat, or as one group per choice with distinct names".into()),
                );
                q.ty = "group".into();
                q.container = true;
            }
            RowType::Meta { identifies } => {
                let n = name.as_ref().map_or(ty.to_string(), |n| n.0.clone());
                let kept = if identifies {
                    self.pii_metadata.push(n.clone());
                    "ingest keeps its column in the PII side table (`pii_metadata`)"
                } else {
                    "ingest keeps its column as platform metadata"
                };
                self.problems.warn(
                    Some(ty_cell),
                    "xlsform-platform-only",
                    format!("`{ty}` is platform metadata, not a question: {kept}"),
                );
                return None;
            }
            RowType::Kept { as_type, why } => {
                q.ty = as_type.into();
                q.comments.push(format!("XLSForm type: {ty} ({why})"));
                self.problems.warn(Some(ty_cell.clone()), "xlsform-kept-as", format!("`{ty}`: {why}"));
            }
            RowType::Range => {
                let params = t.get(row, "parameters").map(|p| p.0).unwrap_or_default();
                let get = |k: &str| {
                    params
                        .split_whitespace()
                        .find_map(|kv| kv.split_once('=').filter(|(a, _)| *a == k).map(|(_, v)| v.to_string()))
                };
                let (start, end, step) = (get("start"), get("end"), get("step"));
                let int = [&start, &end, &step].iter().all(|v| v.as_ref().is_none_or(|v| v.parse::<i64>().is_ok()));
                q.ty = if int { "integer" } else { "decimal" }.into();
                let bounds: Vec<String> = [start.map(|s| format!(". >= {s}")), end.map(|e| format!(". <= {e}"))]
                    .into_iter()
                    .flatten()
                    .collect();
                if !bounds.is_empty() {
                    q.constraint = Some((bounds.join(" and "), ty_cell.clone()));
                }
                q.comments.push(format!("XLSForm type: range {params} (kept as a number within its bounds)"));
                self.problems.warn(
                    Some(ty_cell.clone()),
                    "xlsform-kept-as",
                    format!("`range` kept as {} within its bounds; the slider is the device's", q.ty),
                );
            }
            RowType::Unknown
                if ty.trim().eq_ignore_ascii_case("include") || ty.to_ascii_lowercase().starts_with("include ") =>
            {
                self.problems.error(
                    Some(ty_cell),
                    "xlsform-unsupported",
                    format!("`{ty}` (pyxform's include of another form's rows) has no endline form"),
                    Some("paste the included form's rows in its place".into()),
                );
                return None;
            }
            RowType::Unknown => {
                self.problems.error(
                    Some(ty_cell),
                    "xlsform-unknown-type",
                    format!("`{ty}` is not a question type endline or XLSForm knows"),
                    Some("types: text, integer, decimal, select_one LIST, select_multiple LIST, date, dateTime, geopoint, note, calculate, begin_group, begin_repeat, …".into()),
                );
                return None;
            }
            RowType::EndGroup | RowType::EndRepeat => return None,
        }
        if q.name.is_none() && q.ty == "note" {
            // pyxform accepts a note without a name, and names it after its row: so does endline.
            let name = format!("generated_note_name_{}", row.row);
            self.problems.warn(
                Some(ty_cell.clone()),
                "xlsform-kept-as",
                format!("this note has no name: it is named `{name}`"),
            );
            q.name = Some((name, ty_cell.clone()));
        }
        if q.name.is_none() {
            self.problems.error(
                Some(t.cell(row, t.column("name").unwrap_or(0))),
                "xlsform-missing-name",
                format!("this `{ty}` row has no name"),
                Some("every question, group and repeat needs a `name`".into()),
            );
            return None;
        }
        let (langs, gaps) = (self.langs, &mut *self.gaps);
        q.label = texts(t, row, "label", langs, gaps);
        q.hint = texts(t, row, "hint", langs, gaps);
        q.required_message = texts(t, row, "required_message", langs, gaps);
        q.constraint_message = texts(t, row, "constraint_message", langs, gaps);
        if let Some((r, cell)) = t.get(row, "required") {
            match truthy(&r) {
                Some(true) => q.required = Some(("true".into(), cell)),
                Some(false) => {}
                None => q.required = expression((r, cell), "required", &mut q, self.problems),
            }
        }
        for (key, property) in [
            ("relevant", "relevant"),
            ("constraint", "constraint"),
            ("calculation", "calculation"),
            ("choice_filter", "choice_filter"),
            ("repeat_count", "count"),
        ] {
            let Some(v) = t.get(row, key) else { continue };
            let kept = expression(v, property, &mut q, self.problems);
            match property {
                "relevant" => q.relevant = kept,
                "constraint" => {
                    q.constraint = match (kept, q.constraint.take()) {
                        (Some((c, cell)), Some((bounds, _))) => Some((format!("({c}) and {bounds}"), cell)),
                        (a, b) => a.or(b),
                    }
                }
                "calculation" => q.calculation = kept,
                "choice_filter" => q.choice_filter = kept,
                _ => q.count = kept,
            }
        }
        if q.ty == "note" && q.calculation.is_some() {
            q.ty = "calculate".into();
            q.comments
                .push("XLSForm type: note (showing a calculation; kept as a calculate, whose value is stored)".into());
            self.problems.warn(
                Some(ty_cell.clone()),
                "xlsform-kept-as",
                "a note that shows a calculation is kept as a calculate: its value is stored".into(),
            );
        }
        if q.list().is_none()
            && let Some((f, cell)) = q.choice_filter.take()
        {
            q.comments.push(format!("XLSForm choice_filter: {f} (dropped: the question has no choice list here)"));
            self.problems.warn(
                Some(cell),
                "xlsform-kept-as",
                format!("choice_filter `{f}` dropped: `{}` is kept without its choices", q.name()),
            );
        }
        if q.ty == "calculate" && q.calculation.is_none() && t.get(row, "calculation").is_some() {
            // The device computes it with what endline cannot: its value is kept as text.
            q.ty = "text".into();
            q.comments.push("kept as text: the value the device calculated".into());
        }
        if let Some((d, cell)) = t.get(row, "default") {
            if d.contains("${") || d.contains('(') {
                q.comments.push(format!("XLSForm default: {d} (dropped: computed on the device)"));
                self.problems.warn(
                    Some(cell),
                    "xlsform-platform-only",
                    format!("the dynamic default `{d}` is computed on the device: not imported"),
                );
            } else {
                q.default = Some((d, cell));
            }
        }
        q.appearance = t.get(row, "appearance");
        if let Some((r, cell)) = t.get(row, "read_only") {
            match truthy(&r) {
                Some(true) => q.read_only = Some(cell),
                Some(false) => {}
                None => {
                    q.comments.push(format!("XLSForm read_only: {r} (dropped: the question stays editable)"));
                    self.problems.warn(
                        Some(cell),
                        "xlsform-platform-only",
                        format!("read_only `{r}` is a condition; endline's read_only is yes or no: not imported"),
                    );
                }
            }
        }
        q.missing = t.get(row, "endline::missing");
        q.unit = t.get(row, "endline::unit");
        q.pii = t.get(row, "endline::pii").filter(|(p, _)| truthy(p) == Some(true)).map(|(_, c)| c);
        q.description = t.get(row, "endline::description");
        q.renamed_from = t.get(row, "endline::renamed_from");
        for (i, h) in t.headers.iter().enumerate() {
            if let Some(what) = platform_column(&h.key)
                && h.key != "disabled"
                && h.key != "parameters"
                && let Some(text) = row.cells.get(i).filter(|c| !c.is_empty())
            {
                q.comments.push(format!(
                    "XLSForm {}: {text} (not imported)",
                    t.header_row.and_then(|r| r.cells.get(i)).map_or("", |s| s)
                ));
                self.problems.warn(Some(t.cell(row, i)), "xlsform-platform-only", format!("{what} is not imported"));
            }
        }
        if let Some((p, cell)) = t.get(row, "parameters")
            && !matches!(q.ty.as_str(), "integer" | "decimal")
        {
            self.problems.warn(
                Some(cell),
                "xlsform-platform-only",
                format!("parameters `{p}` are for the device: not imported"),
            );
        }
        Some(q)
    }
}

/// Builds the survey YAML, or `None` when the form's errors leave nothing to check.
pub(crate) fn build(
    t: &Table<'_>,
    choices: Option<&Table<'_>>,
    settings: &Settings,
    langs: &Languages,
    gaps: &mut Gaps,
    problems: &mut Problems,
    stem: &str,
) -> Option<Writer> {
    let mut lists = choices.map(|c| choice_lists(c, langs, gaps, problems)).unwrap_or_default();
    let mut walk = Walk { t, langs, gaps, problems, pii_metadata: Vec::new(), or_other: Vec::new() };
    let mut items = walk.rows();
    let (mut pii_metadata, or_other) = (walk.pii_metadata, walk.or_other);
    // The export's missing codes: declared in settings, accepted per question.
    let codes: Vec<(String, String)> = settings
        .missing_codes
        .as_ref()
        .map(|(s, _)| {
            s.split_whitespace().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
        })
        .unwrap_or_default();
    undo_missing(&mut items, &codes, &lists);
    for (list, copy) in &or_other {
        // pyxform adds `other` to the list itself: so does endline, unless another
        // question uses the list without `or_other`.
        let shared = uses(&items, list);
        add_other(&mut lists, list, if shared { copy } else { list }, problems);
        if !shared {
            rename_list(&mut items, copy, list);
        }
    }
    add_other_questions(&mut items);
    mark_used(&items, &mut lists);
    for l in lists.iter().filter(|l| !l.used) {
        let exported_copy = l.name.0.ends_with("_missing")
            && lists.iter().any(|x| x.used && format!("{}_missing", x.name.0) == l.name.0);
        if !exported_copy {
            problems.warn(
                Some(l.name.1.clone()),
                "xlsform-unused-list",
                format!("choice list `{}` is used by no imported question: not imported", l.name.0),
            );
        }
    }
    if let Some((p, _)) = &settings.pii_metadata {
        for c in p.split_whitespace() {
            if !pii_metadata.iter().any(|m| m == c) {
                pii_metadata.push(c.to_string());
            }
        }
    }
    let key = choose_key(&items, settings, problems)?;

    let mut w = Writer::default();
    w.comment(0, &format!("Imported from an XLSForm by `endline convert` ({stem}). Comments mark what the form held that endline keeps differently; docs/survey-format.md describes this file."));
    let id = survey_id(settings, stem, problems);
    w.field(0, "survey", &scalar(&id.0), id.1.as_ref());
    match &settings.version {
        Some((v, cell)) => w.field(0, "version", &quoted(v), Some(cell)),
        None => {
            problems.warn(None, "xlsform-setting", "the form has no `version` setting: written as \"1\"".into());
            w.field(0, "version", "\"1\"", None);
        }
    }
    if let Some((title, cell)) = &settings.title {
        if langs.single() {
            w.field(0, "title", &scalar(title), Some(cell));
        } else {
            w.line(0, &[("title:", None)]);
            for (i, code) in langs.codes.iter().enumerate() {
                let other = settings.titles.iter().find(|(l, _, _)| super::dialect::language_code(l).0 == *code);
                let (text, c) = match (i, other) {
                    (_, Some((_, text, c))) => (text, c),
                    _ => (title, cell),
                };
                w.field(2, code, &scalar(text), Some(c));
            }
        }
    }
    if let Some((d, cell)) = &settings.description {
        w.field(0, "description", &scalar(d), Some(cell));
    }
    if !langs.single() {
        w.line(
            0,
            &[(&format!("languages: [{}]", langs.codes.join(", ")), settings.default_language.as_ref().map(|d| &d.1))],
        );
    }
    w.field(0, "key", &scalar(&key.0), key.1.as_ref());
    if !codes.is_empty() {
        w.line(0, &[("missing_codes:", None)]);
        for (k, v) in &codes {
            w.field(2, k, &value_scalar(v, v.parse::<i64>().is_ok()), settings.missing_codes.as_ref().map(|m| &m.1));
        }
    }
    if !pii_metadata.is_empty() {
        let names: Vec<String> = pii_metadata.iter().map(|p| scalar(p)).collect();
        w.line(0, &[(&format!("pii_metadata: [{}]", names.join(", ")), settings.pii_metadata.as_ref().map(|p| &p.1))]);
    }
    if lists.iter().any(|l| l.used) {
        w.blank();
        w.line(0, &[("choices:", None)]);
        for l in lists.iter().filter(|l| l.used) {
            write_list(&mut w, l, langs);
        }
    }
    w.blank();
    w.line(0, &[("questions:", None)]);
    for q in &items {
        write_item(&mut w, q, 2, langs);
    }
    Some(w)
}

/// Undoes the export's mapping of missing codes: `<list>_missing` back to `<list>`, the
/// `or . = -99` a numeric constraint gained and the codes a filter kept offered.
fn undo_missing(items: &mut [Q], codes: &[(String, String)], lists: &[List]) {
    for q in items.iter_mut() {
        undo_missing(&mut q.children, codes, lists);
        let Some((names, _)) = &q.missing else { continue };
        let values: Vec<&str> = names
            .split_whitespace()
            .filter_map(|n| codes.iter().find(|(c, _)| c == n))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            continue;
        }
        if let Some(list) = q.list().and_then(|l| l.strip_suffix("_missing")).map(str::to_string)
            && lists.iter().any(|l| l.name.0 == list)
        {
            q.set_list(&list);
        }
        let accepts = |name: &str| -> String {
            values
                .iter()
                .map(|v| {
                    let lit = if v.parse::<i64>().is_ok() { v.to_string() } else { format!("'{v}'") };
                    format!(" or {name} = {lit}")
                })
                .collect()
        };
        for (slot, name) in [(&mut q.constraint, "."), (&mut q.choice_filter, "name")] {
            if let Some((c, _)) = slot.as_mut()
                && let Some(inner) =
                    c.strip_suffix(&accepts(name)).and_then(|s| s.strip_prefix('(')).and_then(|s| s.strip_suffix(')'))
            {
                *c = inner.to_string();
            }
        }
    }
}

/// Whether a question selects from `list` without `or_other`.
fn uses(items: &[Q], list: &str) -> bool {
    items.iter().any(|q| q.list() == Some(list) || uses(&q.children, list))
}

fn rename_list(items: &mut [Q], from: &str, to: &str) {
    for q in items {
        if q.list() == Some(from) {
            q.set_list(to);
        }
        rename_list(&mut q.children, from, to);
    }
}

/// The list `copy`: `list` with pyxform's `other` choice added (in place when `copy`
/// is `list`).
fn add_other(lists: &mut Vec<List>, list: &str, copy: &str, problems: &mut Problems) {
    let Some(l) = lists.iter().find(|l| l.name.0 == list) else { return };
    if l.choices.iter().any(|c| c.value.0 == "other") {
        return;
    }
    if l.choices.iter().all(|c| c.value.0.parse::<i64>().is_ok()) {
        problems.warn(
            Some(l.name.1.clone()),
            "xlsform-kept-as",
            format!("list `{list}` has integer values: its `other` choice is written as the text `other`, so the copy's values are text"),
        );
    }
    let mut choices: Vec<Choice> = l
        .choices
        .iter()
        .map(|c| Choice { value: c.value.clone(), label: c.label.clone(), filter: c.filter.clone() })
        .collect();
    let cell = l.name.1.clone();
    let label =
        l.choices.first().and_then(|c| c.label.as_ref()).map(|t| {
            t.iter().map(|(code, _, cell)| (code.clone(), "Other".to_string(), cell.clone())).collect::<Texts>()
        });
    choices.push(Choice { value: ("other".into(), cell.clone()), label, filter: Vec::new() });
    if copy == list {
        if let Some(l) = lists.iter_mut().find(|l| l.name.0 == list) {
            l.choices = choices;
        }
    } else {
        lists.push(List { name: (copy.to_string(), cell), choices, used: false });
    }
}

/// pyxform's `<name>_other` text question after each `or_other` select.
fn add_other_questions(items: &mut Vec<Q>) {
    let mut i = 0;
    while i < items.len() {
        add_other_questions(&mut items[i].children);
        if items[i].or_other {
            let q = &items[i];
            let cell = q.ty_cell.clone();
            let name = format!("{}_other", q.name());
            let label = q.label.as_ref().map(|t| {
                t.iter().map(|(code, _, c)| (code.clone(), "Specify other.".to_string(), c.clone())).collect::<Texts>()
            });
            let other = Q {
                name: cell.clone().map(|c| (name, c)),
                ty: "text".into(),
                ty_cell: cell.clone(),
                label,
                relevant: cell.map(|c| (format!("selected(${{{}}}, 'other')", q.name()), c)),
                comments: vec!["added for `or_other`, as pyxform adds it".into()],
                ..Q::default()
            };
            items.insert(i + 1, other);
            i += 1;
        }
        i += 1;
    }
}

fn mark_used(items: &[Q], lists: &mut [List]) {
    for q in items {
        if let Some(l) = q.list()
            && let Some(list) = lists.iter_mut().find(|x| x.name.0 == l)
        {
            list.used = true;
        }
        mark_used(&q.children, lists);
    }
}

/// The question that identifies a submission: the one the form names its submissions
/// by (`instance_name: concat(${x})`), else the first identifier-like question.
fn choose_key(items: &[Q], settings: &Settings, problems: &mut Problems) -> Option<(String, Option<Cell>)> {
    let mut eligible: Vec<&Q> = Vec::new();
    fn gather<'q>(items: &'q [Q], out: &mut Vec<&'q Q>) {
        for q in items {
            match q.ty.as_str() {
                "group" => gather(&q.children, out),
                "text" | "integer" | "calculate" => out.push(q),
                t if t.starts_with("select_one ") => out.push(q),
                _ => {}
            }
        }
    }
    gather(items, &mut eligible);
    if let Some((inst, cell)) = &settings.instance_name {
        let inner = inst.trim().strip_prefix("concat(").and_then(|s| s.strip_suffix(')')).unwrap_or(inst).trim();
        if let Some(name) = inner.strip_prefix("${").and_then(|s| s.strip_suffix('}'))
            && eligible.iter().any(|q| q.name() == name)
        {
            return Some((name.to_string(), Some(cell.clone())));
        }
    }
    let id_like = |n: &str| {
        let n = n.to_ascii_lowercase();
        matches!(n.as_str(), "key" | "id" | "uid" | "hhid" | "hh_id" | "household_id" | "caseid")
            || n.ends_with("_id")
            || n.ends_with("id") && n.len() <= 8
    };
    let chosen = eligible
        .iter()
        .find(|q| id_like(q.name()) && q.required.is_some())
        .or_else(|| eligible.iter().find(|q| id_like(q.name())))
        .or_else(|| eligible.first());
    match chosen {
        Some(q) => {
            let cell = q.name.as_ref().map(|n| n.1.clone());
            problems.warn(
                cell.clone(),
                "xlsform-key",
                format!(
                    "the form does not say which question identifies a submission: `{}` was taken as the survey's key; change `key:` if another does",
                    q.name()
                ),
            );
            Some((q.name().to_string(), cell))
        }
        None => {
            problems.error(
                None,
                "xlsform-key",
                "no question can identify a submission (a text, integer, select_one or calculate outside repeats)"
                    .into(),
                Some("add the household or respondent ID as a question".into()),
            );
            None
        }
    }
}

fn survey_id(settings: &Settings, stem: &str, problems: &mut Problems) -> (String, Option<Cell>) {
    let (raw, cell) = match &settings.form_id {
        Some((id, cell)) => (id.clone(), Some(cell.clone())),
        None => (stem.to_string(), None),
    };
    let mut id: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id = format!("form_{id}");
    }
    if id != raw {
        problems.warn(
            cell.clone(),
            "xlsform-setting",
            format!("the form id `{raw}` is written as the survey id `{id}` (lower-case letters, digits and `_`)"),
        );
    }
    (id, cell)
}

fn value_scalar(v: &str, int: bool) -> String {
    if int { v.to_string() } else { flow(v) }
}

/// A scalar inside a flow mapping, where `,` and brackets end a plain one.
fn flow(s: &str) -> String {
    if s.contains([',', '{', '}', '[', ']']) { quoted(s) } else { scalar(s) }
}

fn write_list(w: &mut Writer, l: &List, langs: &Languages) {
    let int = l.choices.iter().all(|c| c.value.0.parse::<i64>().is_ok_and(|i| i.to_string() == c.value.0));
    w.line(2, &[(&format!("{}:", scalar(&l.name.0)), Some(&l.name.1))]);
    for c in &l.choices {
        let mut segs: Vec<(String, Option<&Cell>)> =
            vec![("- {value: ".into(), None), (value_scalar(&c.value.0, int), Some(&c.value.1))];
        if let Some(label) = &c.label {
            segs.push((", label: ".into(), None));
            if langs.single() {
                segs.push((flow(&label[0].1), Some(&label[0].2)));
            } else {
                segs.push(("{".into(), None));
                for (i, (code, text, cell)) in label.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    segs.push((format!("{sep}{code}: "), None));
                    segs.push((flow(text), Some(cell)));
                }
                segs.push(("}".into(), None));
            }
        }
        if !c.filter.is_empty() {
            segs.push((", filter: {".into(), None));
            for (i, (col, v, cell)) in c.filter.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let int = v.parse::<i64>().is_ok_and(|x| x.to_string() == *v);
                segs.push((format!("{sep}{col}: "), None));
                segs.push((value_scalar(v, int), Some(cell)));
            }
            segs.push(("}".into(), None));
        }
        segs.push(("}".into(), None));
        let refs: Vec<(&str, Option<&Cell>)> = segs.iter().map(|(s, c)| (s.as_str(), *c)).collect();
        w.line(4, &refs);
    }
}

fn write_texts(w: &mut Writer, indent: usize, key: &str, t: &Texts, langs: &Languages) {
    if langs.single() {
        w.field(indent, key, &scalar(&t[0].1), Some(&t[0].2));
        return;
    }
    w.line(indent, &[(&format!("{key}:"), None)]);
    for (code, text, cell) in t {
        w.field(indent + 2, code, &scalar(text), Some(cell));
    }
}

fn write_item(w: &mut Writer, q: &Q, indent: usize, langs: &Languages) {
    for c in &q.comments {
        w.comment(indent, c);
    }
    let inner = indent + 2;
    w.line(indent, &[("- name: ", None), (&scalar(q.name()), q.name.as_ref().map(|n| &n.1))]);
    w.field(inner, "type", &scalar(&q.ty), q.ty_cell.as_ref());
    let texts = [("label", &q.label), ("hint", &q.hint)];
    for (k, t) in texts {
        if let Some(t) = t {
            write_texts(w, inner, k, t, langs);
        }
    }
    if let Some((r, cell)) = &q.required {
        let v = if r == "true" { "true".to_string() } else { quoted(r) };
        w.field(inner, "required", &v, Some(cell));
    }
    if let Some(t) = &q.required_message {
        write_texts(w, inner, "required_message", t, langs);
    }
    for (k, v) in [("relevant", &q.relevant), ("constraint", &q.constraint)] {
        if let Some((e, cell)) = v {
            w.field(inner, k, &quoted(e), Some(cell));
        }
    }
    if let Some(t) = &q.constraint_message {
        write_texts(w, inner, "constraint_message", t, langs);
    }
    for (k, v) in [("calculation", &q.calculation), ("count", &q.count), ("choice_filter", &q.choice_filter)] {
        if let Some((e, cell)) = v {
            w.field(inner, k, &quoted(e), Some(cell));
        }
    }
    if let Some((d, cell)) = &q.default {
        w.field(inner, "default", &quoted(d), Some(cell));
    }
    if let Some((a, cell)) = &q.appearance {
        w.field(inner, "appearance", &scalar(a), Some(cell));
    }
    if let Some(cell) = &q.read_only {
        w.field(inner, "read_only", "true", Some(cell));
    }
    if let Some((m, cell)) = &q.missing {
        let names: Vec<&str> = m.split_whitespace().collect();
        w.field(inner, "missing", &format!("[{}]", names.join(", ")), Some(cell));
    }
    if let Some((u, cell)) = &q.unit {
        w.field(inner, "unit", &scalar(u), Some(cell));
    }
    if let Some(cell) = &q.pii {
        w.field(inner, "pii", "true", Some(cell));
    }
    if let Some((d, cell)) = &q.description {
        w.field(inner, "description", &scalar(d), Some(cell));
    }
    if let Some((r, cell)) = &q.renamed_from {
        let names: Vec<&str> = r.split_whitespace().collect();
        w.field(inner, "renamed_from", &format!("[{}]", names.join(", ")), Some(cell));
    }
    if q.container {
        w.line(inner, &[("questions:", None)]);
        for c in &q.children {
            write_item(w, c, inner + 2, langs);
        }
    }
}
