//! The checks: every record against the survey, with XLSForm's semantics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, NaiveDate};
use endline_survey::expr::{Context, ExprKind, Ty, Value, eval, parse_date, parse_datetime};
use endline_survey::{Expression, Item, QuestionType, Required, Survey};

use crate::error::IngestError;
use crate::model::{Issue, OnError, Severity, TableCounts};
use crate::read::{self, RawTable};

/// One data file, optionally assigned to a table (`TABLE=PATH`).
#[derive(Debug, Clone)]
pub struct Input {
    /// The table it belongs to; None: matched by ODK Central's file names.
    pub table: Option<String>,
    /// Where it is.
    pub path: PathBuf,
    /// How to name it in messages and outputs (as the user wrote it).
    pub display: String,
}

/// How to ingest.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The wave stamped on every record.
    pub wave: String,
    /// What to do with records that have errors.
    pub on_error: OnError,
    /// The files' encoding (UTF-8 when None).
    pub encoding: Option<String>,
    /// The date `today()` means when a record has no submission date; expressions that
    /// use `today()` or `now()` are not checked for records with neither.
    pub today: Option<NaiveDate>,
    /// Told what is being done, for a progress bar.
    pub progress: Option<Progress>,
}

/// The function behind [`Progress`]: `(what, done, total)`.
pub type ProgressFn = dyn Fn(&str, usize, usize) + Send + Sync;

/// A progress callback.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<ProgressFn>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Options {
    fn report(&self, what: &str, done: usize, total: usize) {
        if let Some(p) = &self.progress {
            (p.0)(what, done, total);
        }
    }
}

/// The role of a file column.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    Item(usize),
    SplitChoice(usize, String),
    GeoPart(usize, usize),
    ParentKey,
    Meta(usize),
    /// Columns endline itself writes (provenance, rejects' reasons): replaced, not kept,
    /// so a fixed rejects file can be ingested again.
    Own,
    Unknown,
}

/// The columns endline writes into its own outputs.
const OWN_COLUMNS: &[&str] =
    &["_wave", "_survey_version", "_source_file", "_source_row", "_rules", "_reasons", "_valid", "_issues"];

/// One record being ingested.
#[derive(Debug, Clone)]
pub struct Row {
    /// Index of its file in [`TableData::files`].
    pub file: usize,
    /// 1-based record in the file.
    pub row: usize,
    /// The cells as written (for rejects).
    pub cells: Vec<Option<String>>,
    /// Typed values, one per item of the table.
    pub values: Vec<Value>,
    /// The missing-code reason, one per item.
    pub missing: Vec<Option<String>>,
    /// Metadata, one per [`TableData::meta`] column.
    pub meta: Vec<Option<String>>,
    /// The key of the submission (for repeat rows, the parent submission's key).
    pub key: Option<String>,
    /// The parent row, for repeat rows.
    pub parent: Option<usize>,
    /// Items whose cell could not be read (type or choice): not checked further.
    invalid: Vec<bool>,
    children: Vec<Vec<usize>>,
    /// Problems found.
    pub issues: Vec<Issue>,
}

impl Row {
    /// Whether any problem is an error.
    pub fn has_error(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

/// A data file of a table.
#[derive(Debug, Clone)]
pub struct FileData {
    /// The file, as the user named it.
    pub display: String,
    /// Its columns, as written.
    pub columns: Vec<String>,
}

/// One table: the top level or a repeat.
#[derive(Debug)]
pub struct TableData<'s> {
    /// Its name.
    pub name: String,
    /// The parent table, for a repeat.
    pub parent: Option<usize>,
    /// The items stored.
    pub items: Vec<&'s Item>,
    /// Metadata columns kept (KEY, PARENT_KEY, _index, SubmissionDate, ...).
    pub meta: Vec<String>,
    /// Its files.
    pub files: Vec<FileData>,
    /// Its records.
    pub rows: Vec<Row>,
    conditions: Vec<Vec<&'s Expression>>,
    /// For a repeat: its own relevance and its enclosing groups', evaluated in the parent row.
    repeat_conditions: Vec<&'s Expression>,
    repeat: Option<&'s Item>,
    children: Vec<usize>,
}

/// Everything ingested.
#[derive(Debug)]
pub struct Ingested<'s> {
    /// The survey.
    pub survey: &'s Survey,
    /// The tables, top level first.
    pub tables: Vec<TableData<'s>>,
    /// File-level problems (unknown and missing columns).
    pub file_issues: Vec<Issue>,
    /// The wave.
    pub wave: String,
    /// What was done with records that have errors.
    pub on_error: OnError,
}

const META_NAMES: &[&str] = &[
    "KEY",
    "PARENT_KEY",
    "SubmissionDate",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
    "instanceID",
    "instanceName",
    "start",
    "end",
    "deviceid",
    "username",
];

fn is_meta(col: &str) -> bool {
    let last = col.rsplit(['-', '/']).next().unwrap_or(col);
    col.starts_with('_')
        || META_NAMES.contains(&col)
        || matches!(last, "instanceID" | "instanceName" | "deprecatedID")
        || col.starts_with("meta-")
        || col.starts_with("meta/")
        || col.starts_with("formhub/")
}

fn truthy_cell(s: &str) -> bool {
    matches!(s.trim(), "1" | "true" | "True" | "TRUE")
}

/// The table of each input: explicit, or by ODK Central's names `<survey>.csv` and
/// `<survey>-<repeat>.csv` (also `.jsonl`/`.json`).
fn table_of(survey: &Survey, input: &Input, names: &[String]) -> Result<usize, IngestError> {
    let wanted = match &input.table {
        Some(t) => t.clone(),
        None => {
            let stem = input.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if stem == survey.id() {
                stem
            } else if let Some(rest) = stem.strip_prefix(&format!("{}-", survey.id())) {
                rest.to_string()
            } else {
                return Err(IngestError::Usage(format!(
                    "cannot tell which table {} holds: name it `{}.csv` or `{}-<repeat>.csv` as ODK Central does, or write TABLE={}",
                    input.display,
                    survey.id(),
                    survey.id(),
                    input.display
                )));
            }
        }
    };
    names.iter().position(|n| *n == wanted).ok_or_else(|| {
        IngestError::Usage(format!(
            "{}: `{wanted}` is not a table of survey `{}` (tables: {})",
            input.display,
            survey.id(),
            names.join(", ")
        ))
    })
}

fn parse_value(item: &Item, raw: &str) -> Result<Value, String> {
    let t = raw.trim();
    let bad = |what: &str| Err(format!("`{t}` is not {what}"));
    match item.question_type() {
        QuestionType::Text => Ok(Value::Text(raw.to_string())),
        QuestionType::Integer => match t.parse::<i64>() {
            Ok(v) => Ok(Value::Int(v)),
            Err(_) => match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Value::Int(f as i64)),
                _ => bad("an integer"),
            },
        },
        QuestionType::Decimal => match t.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Dec(f)),
            _ => bad("a number"),
        },
        QuestionType::Date => parse_date(t).map(Value::Date).map_or_else(|| bad("a date (YYYY-MM-DD)"), Ok),
        QuestionType::DateTime => parse_datetime(t)
            .map(Value::DateTime)
            .map_or_else(|| bad("a timestamp with offset (2025-06-01T09:30:00+08:00)"), Ok),
        QuestionType::Geopoint => {
            let parts: Vec<f64> = t.split_whitespace().filter_map(|p| p.parse::<f64>().ok()).collect();
            let n = t.split_whitespace().count();
            if !(2..=4).contains(&n) || parts.len() != n {
                return bad("a point (\"lat lon [alt [accuracy]]\")");
            }
            let g = [
                parts[0],
                parts[1],
                parts.get(2).copied().unwrap_or(f64::NAN),
                parts.get(3).copied().unwrap_or(f64::NAN),
            ];
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

/// Parses a select answer; the error names the values that are not choices.
fn parse_choice(item: &Item, survey: &Survey, raw: &str) -> Result<Value, String> {
    let Some(list) = survey.choices_of(item) else { return Ok(Value::Text(raw.to_string())) };
    let norm = |v: &str| -> String {
        // "1.0" from a spreadsheet is the integer choice 1.
        if list.has_int_values()
            && let Ok(f) = v.parse::<f64>()
            && f.fract() == 0.0
        {
            return format!("{}", f as i64);
        }
        v.to_string()
    };
    let values: Vec<String> = raw.split_whitespace().map(norm).collect();
    let unknown: Vec<&String> = values.iter().filter(|v| list.find(v).is_none()).collect();
    if !unknown.is_empty() {
        let shown: Vec<String> = list.choices().iter().take(12).map(|c| c.value().as_text()).collect();
        return Err(format!(
            "{} not a choice of `{}` ({})",
            unknown.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                + if unknown.len() == 1 { " is" } else { " are" },
            list.name(),
            shown.join(", ")
        ));
    }
    if item.question_type() == QuestionType::SelectOne {
        if values.len() != 1 {
            return Err(format!("`{raw}` gives {} choices to a select_one", values.len()));
        }
        return Ok(if list.has_int_values() {
            values[0].parse::<i64>().map_or(Value::Text(values[0].clone()), Value::Int)
        } else {
            Value::Text(values[0].clone())
        });
    }
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(Value::Multi(out))
}

/// Reads, types, links and checks every record.
pub fn ingest<'s>(survey: &'s Survey, inputs: &[Input], opts: &Options) -> Result<Ingested<'s>, IngestError> {
    // Tables, their items and their relevance chains (conditions within the table).
    let survey_tables = survey.tables();
    let names: Vec<String> = survey_tables.iter().map(|t| t.name.to_string()).collect();
    let mut tables: Vec<TableData<'s>> = survey_tables
        .iter()
        .map(|t| TableData {
            name: t.name.to_string(),
            parent: t.parent.and_then(|p| names.iter().position(|n| n == p)),
            items: t.columns.clone(),
            meta: Vec::new(),
            files: Vec::new(),
            rows: Vec::new(),
            conditions: vec![Vec::new(); t.columns.len()],
            repeat_conditions: Vec::new(),
            repeat: t.repeat,
            children: Vec::new(),
        })
        .collect();
    for i in 0..tables.len() {
        if let Some(p) = tables[i].parent {
            tables[p].children.push(i);
        }
    }
    let mut chains: HashMap<&str, Vec<&'s Expression>> = HashMap::new();
    survey.visit(&mut |p| {
        // Conditions of enclosing groups up to (not including) the table's repeat.
        let mut conds: Vec<&Expression> = Vec::new();
        for g in p.path.iter().rev() {
            if g.question_type() == QuestionType::Repeat {
                break;
            }
            conds.extend(g.relevant());
        }
        conds.reverse();
        conds.extend(p.item.relevant());
        chains.insert(p.item.name(), conds);
    });
    for t in &mut tables {
        for (c, item) in t.items.iter().enumerate() {
            t.conditions[c] = chains.get(item.name()).cloned().unwrap_or_default();
        }
        if let Some(r) = t.repeat {
            t.repeat_conditions = chains.get(r.name()).cloned().unwrap_or_default();
        }
    }
    let location: HashMap<&str, (usize, usize)> = tables
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| t.items.iter().enumerate().map(move |(c, i)| (i.name(), (ti, c))))
        .collect();

    // Read and type every file.
    let mut file_issues = Vec::new();
    for input in inputs {
        let ti = table_of(survey, input, &names)?;
        opts.report(&format!("reading {}", input.display), 0, 1);
        let raw: RawTable = read::read_file(&input.path, &input.display, opts.encoding.as_deref())?;
        opts.report(&format!("reading {}", input.display), 1, 1);
        let fi = tables[ti].files.len();
        tables[ti].files.push(FileData { display: input.display.clone(), columns: raw.columns.clone() });
        type_file(survey, &mut tables, ti, fi, raw, &mut file_issues);
    }
    if tables[0].files.is_empty() {
        return Err(IngestError::Usage(format!("no file holds the top-level table `{}`", survey.id())));
    }
    opts.report("linking rosters", 0, 4);
    link(survey, &mut tables);
    let today = opts.today;
    opts.report("recomputing calculations", 1, 4);
    compute_calculations(&mut tables, &location, today);
    opts.report("checking records", 2, 4);
    check_rows(&mut tables, &location, today);
    opts.report("checking keys and rosters", 3, 4);
    cross_checks(survey, &mut tables, &location, today);
    opts.report("checked", 4, 4);
    let errors = tables.iter().flat_map(|t| &t.rows).filter(|r| r.has_error()).count();
    if opts.on_error == OnError::Fail && errors > 0 {
        return Err(IngestError::Rejected(errors));
    }
    file_issues.sort();
    Ok(Ingested { survey, tables, file_issues, wave: opts.wave.clone(), on_error: opts.on_error })
}

fn issue(
    t: &TableData<'_>,
    row: &Row,
    column: &str,
    rule: &str,
    severity: Severity,
    value: Option<String>,
    message: String,
) -> Issue {
    Issue {
        table: t.name.clone(),
        file: t.files.get(row.file).map(|f| f.display.clone()).unwrap_or_default(),
        row: row.row,
        key: row.key.clone(),
        column: column.to_string(),
        rule: rule.to_string(),
        severity,
        value,
        message,
    }
}

/// Maps a file's columns, then types each record's cells.
fn type_file(
    survey: &Survey,
    tables: &mut [TableData<'_>],
    ti: usize,
    fi: usize,
    raw: RawTable,
    file_issues: &mut Vec<Issue>,
) {
    let key_name = survey.key();
    let is_repeat = tables[ti].parent.is_some();
    let mut roles = Vec::with_capacity(raw.columns.len());
    for col in &raw.columns {
        let t = &tables[ti];
        let segs: Vec<&str> = col.split(['-', '/']).collect();
        let last = *segs.last().unwrap_or(&col.as_str());
        let find = |name: &str| t.items.iter().position(|i| i.name() == name);
        let role = if OWN_COLUMNS.contains(&col.as_str()) {
            Role::Own
        } else if let Some(c) = find(col) {
            Role::Item(c)
        } else if is_repeat && (col == key_name || last == key_name) {
            Role::ParentKey
        } else if is_meta(col) {
            let m = match t.meta.iter().position(|m| m == col) {
                Some(m) => m,
                None => {
                    tables[ti].meta.push(col.clone());
                    tables[ti].meta.len() - 1
                }
            };
            Role::Meta(m)
        } else if let Some(c) = find(last) {
            Role::Item(c)
        } else if segs.len() >= 2 {
            let owner = segs[segs.len() - 2];
            match find(owner) {
                Some(c) if t.items[c].question_type() == QuestionType::SelectMultiple => {
                    Role::SplitChoice(c, last.to_string())
                }
                Some(c) if t.items[c].question_type() == QuestionType::Geopoint => match last {
                    "Latitude" | "latitude" => Role::GeoPart(c, 0),
                    "Longitude" | "longitude" => Role::GeoPart(c, 1),
                    "Altitude" | "altitude" => Role::GeoPart(c, 2),
                    "Accuracy" | "accuracy" | "precision" => Role::GeoPart(c, 3),
                    _ => Role::Unknown,
                },
                _ => Role::Unknown,
            }
        } else {
            Role::Unknown
        };
        roles.push(role);
    }
    let t = &tables[ti];
    let display = raw.file.clone();
    for (col, role) in raw.columns.iter().zip(&roles) {
        if *role == Role::Unknown {
            file_issues.push(Issue {
                table: t.name.clone(),
                file: display.clone(),
                row: 0,
                key: None,
                column: col.clone(),
                rule: "unknown-column".into(),
                severity: Severity::Warning,
                value: None,
                message: format!("`{col}` is not a question of table `{}`; its values are not kept", t.name),
            });
        }
    }
    for (c, item) in t.items.iter().enumerate() {
        let present =
            roles.iter().any(|r| matches!(r, Role::Item(x) | Role::SplitChoice(x, _) | Role::GeoPart(x, _) if *x == c));
        if !present && item.question_type() != QuestionType::Calculate {
            file_issues.push(Issue {
                table: t.name.clone(),
                file: display.clone(),
                row: 0,
                key: None,
                column: item.name().to_string(),
                rule: "missing-column".into(),
                severity: Severity::Warning,
                value: None,
                message: format!("the file has no column for `{}`; every record counts it as unanswered", item.name()),
            });
        }
    }
    let n_items = t.items.len();
    let n_meta = t.meta.len();
    let key_col = if is_repeat { None } else { t.items.iter().position(|i| i.name() == key_name) };
    let mut rows = Vec::with_capacity(raw.records.len());
    for rec in raw.records {
        let mut row = Row {
            file: fi,
            row: rec.row,
            cells: Vec::new(),
            values: vec![Value::Null; n_items],
            missing: vec![None; n_items],
            meta: vec![None; n_meta],
            key: None,
            parent: None,
            invalid: vec![false; n_items],
            children: vec![Vec::new(); t.children.len()],
            issues: Vec::new(),
        };
        // Cells are borrowed from the record; only values built from several cells
        // (split select_multiple and geopoint columns) are allocated.
        let mut split: HashMap<usize, Vec<&str>> = HashMap::new();
        let mut geo: HashMap<usize, [Option<&str>; 4]> = HashMap::new();
        let mut direct: Vec<Option<Cow<'_, str>>> = vec![None; n_items];
        for (cell, role) in rec.cells.iter().zip(&roles) {
            let cell = cell.as_deref();
            match role {
                Role::Item(c) => direct[*c] = cell.map(Cow::Borrowed),
                Role::SplitChoice(c, v) => {
                    let e = split.entry(*c).or_default();
                    if cell.is_some_and(truthy_cell) {
                        e.push(v);
                    }
                }
                Role::GeoPart(c, k) => geo.entry(*c).or_default()[*k] = cell,
                Role::ParentKey => row.key = cell.map(str::to_owned),
                Role::Meta(m) => row.meta[*m] = cell.map(str::to_owned),
                Role::Own | Role::Unknown => {}
            }
        }
        for (c, parts) in split {
            if direct[c].is_none() && !parts.is_empty() {
                direct[c] = Some(Cow::Owned(parts.join(" ")));
            }
        }
        for (c, parts) in geo {
            if direct[c].is_none() && parts[0].is_some() {
                let joined = parts.map(Option::unwrap_or_default).join(" ");
                direct[c] = Some(Cow::Owned(joined.trim().to_string()));
            }
        }
        for (c, cell) in direct.into_iter().enumerate() {
            let item = t.items[c];
            let Some(raw) = cell else { continue };
            if item.question_type() == QuestionType::Calculate {
                // Kept as written, compared with the recomputed value later.
                row.values[c] = Value::Text(raw.into_owned());
                continue;
            }
            let trimmed = raw.trim();
            if let Some(code) =
                item.missing().iter().filter_map(|m| survey.missing_code(m)).find(|m| m.value().as_text() == trimmed)
            {
                row.missing[c] = Some(code.name().to_string());
                continue;
            }
            let parsed = if item.question_type().is_select() {
                parse_choice(item, survey, &raw)
            } else {
                parse_value(item, &raw)
            };
            match parsed {
                Ok(v) => row.values[c] = v,
                Err(message) => {
                    row.invalid[c] = true;
                    let rule = if item.question_type().is_select() { "choice" } else { "type" };
                    let iss = issue(
                        t,
                        &row,
                        item.name(),
                        rule,
                        Severity::Error,
                        Some(raw.into_owned()),
                        format!("{}: {message}", item.name()),
                    );
                    row.issues.push(iss);
                }
            }
        }
        // The cells as written are kept (moved, not copied) for the rejects file.
        row.cells = rec.cells;
        if let Some(kc) = key_col {
            row.key = match &row.values[kc] {
                Value::Null => None,
                v => Some(v.as_text()),
            };
        }
        rows.push(row);
    }
    tables[ti].rows.extend(rows);
}

/// Links repeat rows to their parent row: by the survey key, ODK Central's
/// PARENT_KEY/KEY, or KoboToolbox's _parent_index/_index.
fn link(survey: &Survey, tables: &mut [TableData<'_>]) {
    for ti in 0..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let meta_of = |t: &TableData<'_>, name: &str| {
            t.meta.iter().position(|m| m == name || m.rsplit(['-', '/']).next() == Some(name))
        };
        let (p_key, p_index) = (meta_of(&tables[pi], "KEY"), meta_of(&tables[pi], "_index"));
        let (c_pkey, c_pindex) = (meta_of(&tables[ti], "PARENT_KEY"), meta_of(&tables[ti], "_parent_index"));
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut by_odk: HashMap<String, usize> = HashMap::new();
        let mut by_kobo: HashMap<String, usize> = HashMap::new();
        for (r, row) in tables[pi].rows.iter().enumerate() {
            if pi == 0
                && let Some(k) = &row.key
            {
                by_key.entry(k.clone()).or_insert(r);
            }
            if let Some(v) = p_key.and_then(|m| row.meta[m].clone()) {
                by_odk.entry(v).or_insert(r);
            }
            if let Some(v) = p_index.and_then(|m| row.meta[m].clone()) {
                by_kobo.entry(v).or_insert(r);
            }
        }
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        let mut links: Vec<(usize, Option<usize>, Option<String>)> = Vec::new();
        for (r, row) in tables[ti].rows.iter().enumerate() {
            let parent = c_pkey
                .and_then(|m| row.meta[m].as_ref())
                .and_then(|v| by_odk.get(v))
                .or_else(|| c_pindex.and_then(|m| row.meta[m].as_ref()).and_then(|v| by_kobo.get(v)))
                .or_else(|| if pi == 0 { row.key.as_ref().and_then(|k| by_key.get(k)) } else { None })
                .copied();
            let key = parent.and_then(|p| tables[pi].rows[p].key.clone());
            links.push((r, parent, key));
        }
        for (r, parent, key) in links {
            let row = &mut tables[ti].rows[r];
            row.parent = parent;
            if key.is_some() {
                row.key = key;
            }
            match parent {
                Some(p) => tables[pi].rows[p].children[slot].push(r),
                None => {
                    let how = if c_pkey.is_some() {
                        "PARENT_KEY"
                    } else if c_pindex.is_some() {
                        "_parent_index"
                    } else {
                        survey.key()
                    };
                    let t = &tables[ti];
                    let row = &t.rows[r];
                    let iss = issue(
                        t,
                        row,
                        how,
                        "orphan",
                        Severity::Error,
                        None,
                        format!("no record of `{}` matches this row's {how}", tables[pi].name),
                    );
                    tables[ti].rows[r].issues.push(iss);
                }
            }
        }
    }
}

/// The evaluation context of one row.
struct RowCtx<'a, 's> {
    tables: &'a [TableData<'s>],
    location: &'a HashMap<&'s str, (usize, usize)>,
    table: usize,
    row: usize,
    own: Option<Value>,
    today: Option<NaiveDate>,
}

impl RowCtx<'_, '_> {
    fn ancestor(&self, target: usize) -> Option<usize> {
        let (mut t, mut r) = (self.table, self.row);
        while t != target {
            r = self.tables[t].rows[r].parent?;
            t = self.tables[t].parent?;
        }
        Some(r)
    }

    fn descendants(&self, target: usize) -> Vec<usize> {
        // Rows of `target` under the current row, in order.
        let mut path = vec![target];
        while let Some(&last) = path.last() {
            if last == self.table {
                break;
            }
            match self.tables[last].parent {
                Some(p) => path.push(p),
                None => return Vec::new(),
            }
        }
        path.reverse();
        let mut rows = vec![self.row];
        for w in path.windows(2) {
            let (from, to) = (w[0], w[1]);
            let slot = self.tables[from].children.iter().position(|c| *c == to).unwrap_or(0);
            rows = rows.iter().flat_map(|&r| self.tables[from].rows[r].children[slot].clone()).collect();
        }
        rows
    }
}

impl Context for RowCtx<'_, '_> {
    fn value(&self, name: &str) -> Value {
        let Some(&(t, c)) = self.location.get(name) else { return Value::Null };
        self.ancestor(t).map_or(Value::Null, |r| self.tables[t].rows[r].values[c].clone())
    }
    fn self_value(&self) -> Value {
        self.own.clone().unwrap_or(Value::Null)
    }
    fn repeat_values(&self, name: &str) -> Vec<Value> {
        if let Some(t) = self.tables.iter().position(|t| t.name == name && t.parent.is_some()) {
            return self.descendants(t).into_iter().map(|_| Value::Null).collect();
        }
        let Some(&(t, c)) = self.location.get(name) else { return Vec::new() };
        self.descendants(t).into_iter().map(|r| self.tables[t].rows[r].values[c].clone()).collect()
    }
    fn today(&self) -> Option<NaiveDate> {
        self.submission_date().or(self.today)
    }
    fn now(&self) -> Option<DateTime<FixedOffset>> {
        None
    }
}

impl RowCtx<'_, '_> {
    fn submission_date(&self) -> Option<NaiveDate> {
        let top = self.ancestor(0)?;
        let t = &self.tables[0];
        let m = t.meta.iter().position(|m| m == "SubmissionDate" || m == "_submission_time")?;
        let v = t.rows[top].meta[m].as_deref()?;
        parse_datetime(v).map(|d| d.date_naive()).or_else(|| parse_date(v.get(..10).unwrap_or(v)))
    }
}

fn uses_clock(e: &Expression) -> bool {
    let mut uses = false;
    e.ast().walk(&mut |n| {
        if let ExprKind::Call { name, .. } = &n.kind
            && (name == "today" || name == "now")
        {
            uses = true;
        }
    });
    uses
}

fn relevant(ctx: &RowCtx<'_, '_>, conds: &[&Expression]) -> bool {
    conds.iter().all(|c| eval(c.ast(), ctx).truthy())
}

/// Types a computed value as the calculate's inferred type.
fn typed(v: Value, ty: Ty) -> Value {
    match (ty, v) {
        (_, Value::Null) => Value::Null,
        (Ty::Int, Value::Dec(d)) if d.fract() == 0.0 && d.abs() < 9e15 => Value::Int(d as i64),
        (Ty::Dec, Value::Int(i)) => Value::Dec(i as f64),
        (Ty::Text, v) => Value::Text(v.as_text()),
        (_, v) => v,
    }
}

/// Computes every `calculate` in dependency order (calculations may use each other and
/// aggregates of repeat rows), keeping what the export wrote for comparison.
fn compute_calculations<'s>(
    tables: &mut [TableData<'s>],
    location: &HashMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
) {
    let mut calcs: Vec<(usize, usize)> = Vec::new();
    for (ti, t) in tables.iter().enumerate() {
        for (c, item) in t.items.iter().enumerate() {
            if item.question_type() == QuestionType::Calculate {
                calcs.push((ti, c));
            }
        }
    }
    // Order: a calculation after those it references (the validator rules out cycles).
    let mut ordered: Vec<(usize, usize)> = Vec::new();
    let mut placed = vec![false; calcs.len()];
    while ordered.len() < calcs.len() {
        let before = ordered.len();
        for (k, &(ti, c)) in calcs.iter().enumerate() {
            if placed[k] {
                continue;
            }
            let refs = tables[ti].items[c].calculation().map(|e| e.references()).unwrap_or_default();
            let ready = refs.iter().all(|r| {
                calcs.iter().enumerate().all(|(j, &(tj, cj))| placed[j] || tables[tj].items[cj].name() != *r || j == k)
            });
            if ready {
                placed[k] = true;
                ordered.push((ti, c));
            }
        }
        if ordered.len() == before {
            ordered.extend(calcs.iter().enumerate().filter(|(k, _)| !placed[*k]).map(|(_, x)| *x));
            break;
        }
    }
    for (ti, c) in ordered {
        let item = tables[ti].items[c];
        let (Some(expr), conds) = (item.calculation(), tables[ti].conditions[c].clone()) else { continue };
        let computed: Vec<Value> = (0..tables[ti].rows.len())
            .map(|r| {
                let ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
                if !relevant(&ctx, &conds) { Value::Null } else { typed(eval(expr.ast(), &ctx), item.value_type()) }
            })
            .collect();
        for (r, v) in computed.into_iter().enumerate() {
            let exported = std::mem::replace(&mut tables[ti].rows[r].values[c], v.clone());
            if let Value::Text(written) = exported
                && !same(&written, &v)
            {
                let t = &tables[ti];
                let row = &t.rows[r];
                let iss = issue(
                    t,
                    row,
                    item.name(),
                    "calculation",
                    Severity::Warning,
                    Some(written.clone()),
                    format!(
                        "the export has `{written}` for `{}`, but the answers give `{}`; the recomputed value is kept",
                        item.name(),
                        v.as_text()
                    ),
                );
                tables[ti].rows[r].issues.push(iss);
            }
        }
    }
}

fn same(written: &str, v: &Value) -> bool {
    let w = written.trim();
    match (w.parse::<f64>(), v.as_number()) {
        (Ok(a), Some(b)) if !matches!(v, Value::Text(_)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => w == v.as_text(),
    }
}

/// Relevance, required and constraint, per row and question.
fn check_rows<'s>(tables: &mut [TableData<'s>], location: &HashMap<&'s str, (usize, usize)>, today: Option<NaiveDate>) {
    for ti in 0..tables.len() {
        let mut found: Vec<(usize, Issue)> = Vec::new();
        for r in 0..tables[ti].rows.len() {
            let t = &tables[ti];
            let row = &t.rows[r];
            for (c, item) in t.items.iter().enumerate() {
                if item.question_type() == QuestionType::Calculate || row.invalid[c] {
                    continue;
                }
                let mut ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
                let clock_unknown = ctx.today().is_none();
                let conds = &t.conditions[c];
                if clock_unknown && conds.iter().any(|e| uses_clock(e)) {
                    continue;
                }
                let is_relevant = relevant(&ctx, conds);
                let answered = !row.values[c].is_null() || row.missing[c].is_some();
                let written = if row.missing[c].is_some() {
                    row.missing[c].clone()
                } else {
                    Some(row.values[c].as_text()).filter(|s| !s.is_empty())
                };
                if !is_relevant && answered {
                    let why = conds.iter().map(|e| e.text().to_string()).collect::<Vec<_>>().join(" and ");
                    found.push((
                        r,
                        issue(
                            t,
                            row,
                            item.name(),
                            "relevance",
                            Severity::Error,
                            written.clone(),
                            format!("`{}` is answered, but it is not asked here ({why} is false)", item.name()),
                        ),
                    ));
                    continue;
                }
                if !is_relevant {
                    continue;
                }
                let required = match item.required() {
                    Required::No => false,
                    Required::Yes => true,
                    Required::When(e) => (!clock_unknown || !uses_clock(e)) && eval(e.ast(), &ctx).truthy(),
                };
                if required && !answered {
                    let msg = item.required_message().map_or_else(
                        || format!("`{}` is required", item.name()),
                        |l| format!("`{}` is required: {}", item.name(), l.default_text()),
                    );
                    found.push((r, issue(t, row, item.name(), "required", Severity::Error, None, msg)));
                    continue;
                }
                if let Some(con) = item.constraint() {
                    if row.values[c].is_null() || (clock_unknown && uses_clock(con)) {
                        continue;
                    }
                    ctx.own = Some(row.values[c].clone());
                    if !eval(con.ast(), &ctx).truthy() {
                        let msg = item.constraint_message().map_or_else(
                            || format!("`{}` breaks its constraint `{}`", item.name(), con.text()),
                            |l| {
                                format!(
                                    "`{}` breaks its constraint `{}`: {}",
                                    item.name(),
                                    con.text(),
                                    l.default_text()
                                )
                            },
                        );
                        found.push((r, issue(t, row, item.name(), "constraint", Severity::Error, written, msg)));
                    }
                }
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].issues.push(i);
        }
    }
}

/// Duplicate keys, repeat counts, and repeat rows whose parent was rejected.
fn cross_checks<'s>(
    survey: &Survey,
    tables: &mut [TableData<'s>],
    location: &HashMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
) {
    // Duplicate and empty keys in the top table.
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut found = Vec::new();
    for (r, row) in tables[0].rows.iter().enumerate() {
        match &row.key {
            None => {
                if !row.issues.iter().any(|i| i.column == survey.key()) {
                    found.push((
                        r,
                        issue(
                            &tables[0],
                            row,
                            survey.key(),
                            "required",
                            Severity::Error,
                            None,
                            format!("the key `{}` is empty: the record cannot be identified", survey.key()),
                        ),
                    ));
                }
            }
            Some(k) => {
                if let Some(&f) = first.get(k) {
                    let at = tables[0].rows[f].row;
                    found.push((
                        r,
                        issue(
                            &tables[0],
                            row,
                            survey.key(),
                            "duplicate-key",
                            Severity::Error,
                            Some(k.clone()),
                            format!("key `{k}` was already used by row {at}"),
                        ),
                    ));
                } else {
                    first.insert(k.clone(), r);
                }
            }
        }
    }
    for (r, i) in found {
        tables[0].rows[r].issues.push(i);
    }
    // Rows of a repeat that is not asked in its parent record (its own or an enclosing
    // group's relevance is false there) must not exist.
    for ti in 0..tables.len() {
        let (Some(pi), Some(repeat)) = (tables[ti].parent, tables[ti].repeat) else { continue };
        if tables[ti].repeat_conditions.is_empty() {
            continue;
        }
        let mut found = Vec::new();
        for (r, row) in tables[ti].rows.iter().enumerate() {
            let Some(p) = row.parent else { continue };
            let ctx = RowCtx { tables, location, table: pi, row: p, own: None, today };
            let conds = &tables[ti].repeat_conditions;
            if ctx.today().is_none() && conds.iter().any(|e| uses_clock(e)) {
                continue;
            }
            if !relevant(&ctx, conds) {
                let why = conds.iter().map(|e| e.text().to_string()).collect::<Vec<_>>().join(" and ");
                found.push((
                    r,
                    issue(
                        &tables[ti],
                        row,
                        repeat.name(),
                        "relevance",
                        Severity::Error,
                        None,
                        format!(
                            "`{}` is not asked in this row's parent record ({why} is false), so it has no rows",
                            repeat.name()
                        ),
                    ),
                ));
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].issues.push(i);
        }
    }
    // Repeat counts.
    for ti in 0..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let Some(repeat) = tables[ti].repeat else { continue };
        let Some(count) = repeat.count() else { continue };
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        let mut found = Vec::new();
        for r in 0..tables[pi].rows.len() {
            let ctx = RowCtx { tables, location, table: pi, row: r, own: None, today };
            let Some(expected) = eval(count.ast(), &ctx).as_number() else { continue };
            let actual = tables[pi].rows[r].children[slot].len();
            if (expected - actual as f64).abs() > 0.5 {
                let t = &tables[pi];
                found.push((
                    r,
                    issue(
                        t,
                        &t.rows[r],
                        repeat.name(),
                        "count-mismatch",
                        Severity::Warning,
                        Some(actual.to_string()),
                        format!("`{}` has {actual} rows, but `{}` gives {expected}", repeat.name(), count.text()),
                    ),
                ));
            }
        }
        for (r, i) in found {
            tables[pi].rows[r].issues.push(i);
        }
    }
    // A repeat row whose parent record has an error goes with it.
    for ti in 1..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let mut found = Vec::new();
        for (r, row) in tables[ti].rows.iter().enumerate() {
            if let Some(p) = row.parent {
                let parent = &tables[pi].rows[p];
                if parent.has_error() {
                    found.push((
                        r,
                        issue(
                            &tables[ti],
                            row,
                            survey.key(),
                            "orphan",
                            Severity::Error,
                            row.key.clone(),
                            format!(
                                "its parent record ({} row {}) was rejected",
                                tables[pi].files.get(parent.file).map_or("", |f| f.display.as_str()),
                                parent.row
                            ),
                        ),
                    ));
                }
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].issues.push(i);
        }
    }
}

impl Ingested<'_> {
    /// Counts per table, reconciled: rows_in = rows_written + rows_rejected.
    pub fn counts(&self) -> Vec<(String, TableCounts)> {
        self.tables
            .iter()
            .map(|t| {
                let rows_in = t.rows.len();
                let rejected =
                    if self.on_error == OnError::Reject { t.rows.iter().filter(|r| r.has_error()).count() } else { 0 };
                (t.name.clone(), TableCounts { rows_in, rows_written: rows_in - rejected, rows_rejected: rejected })
            })
            .collect()
    }

    /// Every issue: file-level first, then by table, file and row.
    pub fn issues(&self) -> Vec<Issue> {
        let mut all: Vec<Issue> = self.file_issues.clone();
        let mut rows: Vec<Issue> =
            self.tables.iter().flat_map(|t| t.rows.iter().flat_map(|r| r.issues.clone())).collect();
        rows.sort_by(|a, b| {
            (&a.table, &a.file, a.row, &a.column, &a.rule).cmp(&(&b.table, &b.file, b.row, &b.column, &b.rule))
        });
        all.extend(rows);
        all
    }
}
