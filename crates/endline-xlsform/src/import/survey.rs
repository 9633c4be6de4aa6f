//! The walk over the sheets: settings, choice lists and the survey's rows, into the YAML.

use endline_survey::expr::{ExprKind, FUNCTIONS, parse, parse_filter};

use super::dialect::{RowType, SURVEY_COLUMNS, platform_column, row_type};
use super::emit::{value_scalar, write_item, write_list};
use super::post::{add_other, add_other_questions, choose_key, mark_used, rename_list, survey_id, undo_missing, uses};
use super::yaml::{Writer, quoted, scalar};
use super::{Cell, Gaps, Languages, Problems, Table, Texts, texts};

type Val = (String, Cell);

/// The settings sheet, read.
#[derive(Default)]
pub(crate) struct Settings {
    pub(super) form_id: Option<Val>,
    version: Option<Val>,
    title: Option<Val>,
    /// `endline::title::<Language (code)>`: the title's other languages.
    titles: Vec<(String, String, Cell)>,
    pub default_language: Option<Val>,
    pub(super) instance_name: Option<Val>,
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

pub(super) struct Choice {
    pub(super) value: Val,
    pub(super) label: Option<Texts>,
    pub(super) filter: Vec<(String, String, Cell)>,
}

pub(super) struct List {
    pub(super) name: Val,
    pub(super) choices: Vec<Choice>,
    /// Whether a question uses it (lists only the export's mapping used are left out).
    pub(super) used: bool,
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
        if endline_survey::is_identifier(&h.key) && h.lang.is_none() && !h.key.starts_with("media") {
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
pub(super) struct Q {
    pub(super) name: Option<Val>,
    pub(super) ty: String,
    pub(super) ty_cell: Option<Cell>,
    pub(super) container: bool,
    pub(super) label: Option<Texts>,
    pub(super) hint: Option<Texts>,
    pub(super) required: Option<Val>,
    pub(super) required_message: Option<Texts>,
    pub(super) relevant: Option<Val>,
    pub(super) constraint: Option<Val>,
    pub(super) constraint_message: Option<Texts>,
    pub(super) calculation: Option<Val>,
    pub(super) default: Option<Val>,
    pub(super) choice_filter: Option<Val>,
    pub(super) appearance: Option<Val>,
    pub(super) read_only: Option<Cell>,
    pub(super) count: Option<Val>,
    pub(super) missing: Option<Val>,
    pub(super) unit: Option<Val>,
    pub(super) pii: Option<Cell>,
    pub(super) description: Option<Val>,
    pub(super) renamed_from: Option<Val>,
    pub(super) comments: Vec<String>,
    /// pyxform's `or_other`: a `<name>_other` text question follows.
    pub(super) or_other: bool,
    pub(super) children: Vec<Q>,
}

impl Q {
    pub(super) fn name(&self) -> &str {
        self.name.as_ref().map_or("", |n| n.0.as_str())
    }
    pub(super) fn list(&self) -> Option<&str> {
        self.ty.strip_prefix("select_one ").or_else(|| self.ty.strip_prefix("select_multiple "))
    }
    pub(super) fn set_list(&mut self, list: &str) {
        let kind = if self.ty.starts_with("select_one") { "select_one" } else { "select_multiple" };
        self.ty = format!("{kind} {list}");
    }
}

/// Checks an expression endline must be able to read: what uses XPath paths or
/// functions endline does not have is dropped with a warning, a syntax error is an
/// error.
fn expression(v: Val, property: &str, q: &mut Q, problems: &mut Problems, meta: &[String]) -> Option<Val> {
    let (text, cell) = v;
    if let Some(m) = meta.iter().find(|m| text.contains(&format!("${{{m}}}"))) {
        let why = format!("refers to the platform's metadata `{m}`, which is not a question of the survey");
        q.comments.push(format!("XLSForm {property}: {text} (dropped: {why})"));
        problems.warn(Some(cell), "xlsform-platform-only", format!("`{property}` dropped: `{text}` {why}"));
        return None;
    }
    let parsed = if property == "choice_filter" { parse_filter(&text) } else { parse(&text) };
    let dropped = |why: String, q: &mut Q, problems: &mut Problems| {
        let message = format!("`{property}` dropped: `{text}` {why}");
        q.comments.push(format!("XLSForm {property}: {text} (dropped: {why})"));
        problems.warn(Some(cell.clone()), "xlsform-platform-only", message);
    };
    match parsed {
        Err(e) => {
            // XPath paths (`/data/x`, `../x`, `current()`), and bare names such as the
            // `null` SurveyCTO forms compare with (an empty path to XPath).
            let platform = ["/", "..", "current()", "instance(", "[", "@"].iter().any(|p| text.contains(p))
                || e.message.starts_with("bare name");
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

/// Properties a platform allows where endline's format has no place for them (SurveyCTO
/// puts `required` on a note to stop the form): left out, each with a warning.
fn drop_misplaced(q: &mut Q, problems: &mut Problems) {
    let answered = !matches!(q.ty.as_str(), "note" | "calculate" | "group" | "repeat");
    let stores = !matches!(q.ty.as_str(), "note" | "group" | "repeat");
    let ty = q.ty.clone();
    let mut drop = |what: &str, cell: Option<Cell>, comments: &mut Vec<String>| {
        comments.push(format!("XLSForm {what} on a {ty} (not imported: endline's {ty} has none)"));
        problems.warn(
            cell,
            "xlsform-platform-only",
            format!("`{what}` on a {ty} is not imported: endline's {ty} has none"),
        );
    };
    if !answered {
        if let Some((_, c)) = q.required.take() {
            drop("required", Some(c), &mut q.comments);
        }
        if let Some(t) = q.required_message.take() {
            drop("required_message", t.first().map(|x| x.2.clone()), &mut q.comments);
        }
        if let Some((_, c)) = q.default.take() {
            drop("default", Some(c), &mut q.comments);
        }
        if let Some(c) = q.read_only.take() {
            drop("read_only", Some(c), &mut q.comments);
        }
    }
    if !stores {
        if let Some((_, c)) = q.constraint.take() {
            drop("constraint", Some(c), &mut q.comments);
        }
        if let Some(t) = q.constraint_message.take() {
            drop("constraint_message", t.first().map(|x| x.2.clone()), &mut q.comments);
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
    /// Cells whose value the validator refused and the import leaves out, with why.
    drops: &'a [(Cell, String)],
    /// Comments for the question being read, from cells left out.
    pending: Vec<String>,
    langs: &'a Languages,
    gaps: &'a mut Gaps,
    problems: &'a mut Problems,
    /// Platform metadata that identifies people or devices (`deviceid`…).
    pii_metadata: Vec<String>,
    /// The names of the platform's metadata rows (`deviceid`…), which are not questions.
    meta: Vec<String>,
    /// Group names already used: a group named again is renamed (groups hold no data).
    groups: Vec<String>,
    /// Lists made for `or_other`: (list, the copy with `other`).
    or_other: Vec<(String, String)>,
}

impl Walk<'_, '_> {
    /// A row's cell in `key`, unless the validator refused it in an earlier pass: then
    /// it is left out with a warning and a comment.
    fn get(&mut self, row: &crate::GridRow, key: &str) -> Option<Val> {
        let (v, cell) = self.t.get(row, key)?;
        let Some((_, why)) = self.drops.iter().find(|(c, _)| *c == cell) else { return Some((v, cell)) };
        self.pending.push(format!("XLSForm {key}: {v} (dropped: endline cannot check it)"));
        self.problems.warn(
            Some(cell),
            "xlsform-unchecked",
            format!("`{key}` `{v}` dropped: {why}; the device checks it, endline cannot"),
        );
        None
    }

    fn rows(&mut self) -> Vec<Q> {
        let t = self.t;
        if let (Some(tc), Some(nc)) = (t.column("type"), t.column("name")) {
            self.meta = t
                .rows
                .iter()
                .filter(|r| r.cells.get(tc).is_some_and(|c| matches!(row_type(c), RowType::Meta { .. })))
                .filter_map(|r| r.cells.get(nc).filter(|n| !n.is_empty()).cloned())
                .collect();
        }
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
                if let Some((n, cell)) = q.name.clone() {
                    if kind == RowType::BeginGroup && self.groups.contains(&n) {
                        // XForm paths tell two groups of one name apart; endline's names
                        // are unique. A group holds no data, so renaming it loses none.
                        let mut k = 2;
                        while self.groups.contains(&format!("{n}_{k}")) {
                            k += 1;
                        }
                        let renamed = format!("{n}_{k}");
                        q.comments.push(format!("XLSForm name: {n} (a second group of that name)"));
                        self.problems.warn(
                            Some(cell.clone()),
                            "xlsform-kept-as",
                            format!("a second group named `{n}` is named `{renamed}`: names are unique in endline, and a group holds no data"),
                        );
                        q.name = Some((renamed.clone(), cell));
                        self.groups.push(renamed);
                    } else {
                        self.groups.push(n);
                    }
                }
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
        if let Some((r, cell)) = self.get(row, "required") {
            match truthy(&r) {
                Some(true) => q.required = Some(("true".into(), cell)),
                Some(false) => {}
                None => q.required = expression((r, cell), "required", &mut q, self.problems, &self.meta),
            }
        }
        for (key, property) in [
            ("relevant", "relevant"),
            ("constraint", "constraint"),
            ("calculation", "calculation"),
            ("choice_filter", "choice_filter"),
            ("repeat_count", "count"),
        ] {
            let Some(v) = self.get(row, key) else { continue };
            let kept = expression(v, property, &mut q, self.problems, &self.meta);
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
        if let Some((d, cell)) = self.get(row, "default") {
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
        q.appearance = self.get(row, "appearance");
        if let Some((r, cell)) = self.get(row, "read_only") {
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
        q.comments.append(&mut self.pending);
        drop_misplaced(&mut q, self.problems);
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

/// The form's sheets, read.
pub(crate) struct Sheets<'a, 't> {
    pub survey: &'a Table<'t>,
    pub choices: Option<&'a Table<'t>>,
    pub settings: &'a Settings,
    pub langs: &'a Languages,
}

/// Builds the survey YAML, or `None` when the form's errors leave nothing to check.
pub(crate) fn build(
    form: &Sheets<'_, '_>,
    gaps: &mut Gaps,
    problems: &mut Problems,
    stem: &str,
    drops: &[(Cell, String)],
) -> Option<Writer> {
    let Sheets { survey: t, choices, settings, langs } = *form;
    let mut lists = choices.map(|c| choice_lists(c, langs, gaps, problems)).unwrap_or_default();
    let mut walk = Walk {
        t,
        drops,
        pending: Vec::new(),
        langs,
        gaps,
        problems,
        pii_metadata: Vec::new(),
        meta: Vec::new(),
        groups: Vec::new(),
        or_other: Vec::new(),
    };
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
