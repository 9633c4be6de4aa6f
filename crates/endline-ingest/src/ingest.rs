//! The checks: every record against the survey, with XLSForm's semantics.
//!
//! A [`Layout`] is what the files' headers say: each file's table and the role of each of
//! its columns. Records are then typed and checked a batch at a time
//! ([`Layout::check`]): a batch holds every record of some submissions (the top-level
//! record and its roster rows), so that every rule, within a record or across a record
//! and its rosters, is decided inside one batch. [`ingest`] checks all records as one
//! batch; [`crate::ingest_to`] splits large inputs into batches on disk.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use endline_survey::expr::{
    Context, ExprKind, RefComparisons, SelfComparisons, Ty, Value, eval, parse_date, parse_datetime,
};
use endline_survey::{Expression, Item, QuestionType, Required, Survey};

use crate::error::IngestError;
use crate::hash::FnvMap;
use crate::model::{Issue, OnError, Severity, TableCounts, in_report_order};
use crate::read::{self, Cells, RawRecord, Records};

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
#[derive(Debug, Clone)]
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
    /// Inputs larger than this many bytes in all are checked in batches of about this
    /// size (see [`crate::ingest_to`]), which bounds memory.
    pub batch_bytes: u64,
    /// Pseudonyms for a survey key flagged `pii: true` (required for such a survey).
    pub pseudonyms: Option<crate::pii::Pseudonyms>,
    /// Whether to write the personal-data side files (`<table>.pii.parquet`,
    /// `rejects/<table>.pii.csv`): `endline run` leaves them out of a study's output.
    pub personal_data: bool,
    /// The wave already ingested that this batch is appended to (`--append`): its
    /// accepted records are read first and checked again with the batch.
    pub prior: Option<std::sync::Arc<crate::append::Prior>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wave: String::new(),
            on_error: OnError::default(),
            encoding: None,
            today: None,
            progress: None,
            batch_bytes: 4 << 20,
            pseudonyms: None,
            personal_data: true,
            prior: None,
        }
    }
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
    pub(crate) fn report(&self, what: &str, done: usize, total: usize) {
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
pub(crate) const OWN_COLUMNS: &[&str] =
    &["_wave", "_survey_version", "_source_file", "_source_row", "_rules", "_reasons", "_valid", "_issues"];

/// One record being ingested: 64 bytes, its problems behind a pointer that is null for
/// most rows (every record's row is written by the checking thread, read by the writers
/// and dropped, so its size is paid for at every step).
#[derive(Debug, Clone)]
pub struct Row {
    /// Index of its file in [`TableData::files`].
    pub file: usize,
    /// 1-based record in the file.
    pub row: usize,
    /// Its place among its file's [`Cells`] (the cells as written, for rejects).
    at: usize,
    /// The key of the submission (for repeat rows, the parent submission's key), shared
    /// by a record and its roster rows.
    pub key: Option<Arc<str>>,
    /// The parent row, for repeat rows.
    pub parent: Option<usize>,
    /// Its missing codes, unreadable cells and problems; `None` while it has none.
    problems: Option<Box<Problems>>,
}

/// What a row has besides its values, when it has anything.
#[derive(Debug, Clone, Default)]
struct Problems {
    /// Items answered with a missing code: (item, the code's name).
    missing: Vec<(usize, String)>,
    /// Items whose cell could not be read (type or choice): not checked further.
    invalid: Vec<usize>,
    /// Problems found.
    issues: Vec<Issue>,
}

impl Row {
    /// Whether any problem is an error.
    pub fn has_error(&self) -> bool {
        self.issues().iter().any(|i| i.severity == Severity::Error)
    }

    /// Problems found.
    pub fn issues(&self) -> &[Issue] {
        self.problems.as_ref().map_or(&[], |p| &p.issues)
    }

    /// The missing code item `c` was answered with.
    pub fn missing(&self, c: usize) -> Option<&str> {
        self.problems.as_ref()?.missing.iter().find(|(i, _)| *i == c).map(|(_, m)| m.as_str())
    }

    /// Whether item `c`'s cell could not be read.
    fn is_invalid(&self, c: usize) -> bool {
        self.problems.as_ref().is_some_and(|p| p.invalid.contains(&c))
    }

    /// Its problems, made when the first is found.
    fn problems(&mut self) -> &mut Problems {
        self.problems.get_or_insert_default()
    }

    /// Adds a problem.
    pub(crate) fn push_issue(&mut self, issue: Issue) {
        self.problems().issues.push(issue);
    }

    /// Files the problems found before its key was known (while typing) under it.
    fn key_issues(&mut self) {
        if let (Some(key), Some(p)) = (&self.key, &mut self.problems) {
            for i in p.issues.iter_mut().filter(|i| i.key.is_none()) {
                i.key = Some(key.to_string());
            }
        }
    }
}

/// A data file of a table.
#[derive(Debug, Clone)]
pub struct FileData {
    /// The file, as the user named it.
    pub display: String,
    /// Its columns, as written.
    pub columns: Vec<String>,
    roles: Vec<Role>,
    /// For each of the table's metadata columns, its position in this file.
    meta_at: Vec<Option<usize>>,
    /// For each item, the column holding it whole.
    item_at: Vec<Option<usize>>,
    /// Items written as split columns: select_multiple's 0/1 columns (column, choice),
    /// and geopoint's parts (column, part).
    split_at: Vec<(usize, Vec<(usize, String)>)>,
    geo_at: Vec<(usize, [Option<usize>; 4])>,
    /// The columns that link records, worked out once all files are known.
    pub(crate) links: LinkColumns,
    /// Whether it holds records accepted in an earlier batch of the wave (see
    /// [`crate::append`]): they keep the source row written in its `_source_row`.
    pub(crate) prior: bool,
    source_row_at: Option<usize>,
}

/// Where a file keeps the values that link records: its own KEY and `_index`, its
/// parent's (`PARENT_KEY`, `_parent_index`, or the survey key in a roster file), and, in
/// a top-level file, the survey key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LinkColumns {
    pub(crate) key: Option<usize>,
    pub(crate) index: Option<usize>,
    pub(crate) parent_key: Option<usize>,
    pub(crate) parent_index: Option<usize>,
    pub(crate) parent: Option<usize>,
    pub(crate) survey_key: Option<usize>,
}

/// The link by which a roster row finds its parent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Via {
    /// ODK Central: PARENT_KEY is the parent's KEY.
    Odk,
    /// KoboToolbox: `_parent_index` is the parent's `_index`.
    Kobo,
    /// The survey key, written in the roster file (rosters of the top level only).
    Key,
}

impl LinkColumns {
    /// A roster row's links to its parent as written (`None`: not written), in the order
    /// linking tries them; `cell` reads the row's cells.
    pub(crate) fn parents<'c>(
        &self,
        cell: impl Fn(usize) -> Option<&'c str>,
        top_parent: bool,
    ) -> [Option<(Via, &'c str)>; 3] {
        let at = |c: Option<usize>| c.and_then(&cell);
        [
            at(self.parent_key).map(|v| (Via::Odk, v)),
            at(self.parent_index).map(|v| (Via::Kobo, v)),
            at(self.parent).filter(|_| top_parent).map(|v| (Via::Key, v)),
        ]
    }
}

/// What a question needs to type and check a cell, worked out once.
#[derive(Debug, Clone)]
struct Spec<'s> {
    item: &'s Item,
    /// Its choices as they appear in data, for a select.
    choices: Vec<String>,
    int_choices: bool,
    /// Its choices' values, sorted, when they are integers.
    int_values: Vec<i64>,
    /// Its missing codes: (value as written, name).
    missing: Vec<(String, &'s str)>,
    /// Its relevance and its enclosing groups' (within the table).
    conditions: Vec<&'s Expression>,
    /// Each condition read as comparisons of one question, where it is one (see [`relevant`]).
    compared: Vec<Compared>,
    /// Whether the relevance, required or constraint use `today()`/`now()`.
    clocked: bool,
    /// Its constraint, when it only compares the answer with numbers (checked without
    /// the evaluator).
    comparisons: Option<SelfComparisons>,
    /// How its answers are typed in the common case (see [`quick_answer`]).
    quick: Quick,
}

/// The shortcut for a question's answers, decided once per question: most answers are
/// integers, decimals or integer choices of a question without missing codes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quick {
    Int,
    Dec,
    IntChoice,
    /// No shortcut: every answer goes through [`parse_answer`].
    None,
}

impl Quick {
    fn of(item: &Item, int_choices: bool, missing: bool) -> Self {
        match item.question_type() {
            _ if missing => Quick::None,
            QuestionType::Integer => Quick::Int,
            QuestionType::Decimal => Quick::Dec,
            QuestionType::SelectOne if int_choices => Quick::IntChoice,
            _ => Quick::None,
        }
    }
}

/// An answer typed by its question's [`Quick`] shortcut: what [`parse_answer`] gives it,
/// without asking the question's type again; `None` when the shortcut does not apply
/// (anything unusual, or invalid, goes the general way).
#[inline]
fn quick_answer(spec: &Spec<'_>, raw: &str) -> Option<Value> {
    match spec.quick {
        Quick::Int => parse_i64(trim(raw)).map(Value::Int),
        Quick::Dec => parse_f64(trim(raw)).ok().filter(|f| f.is_finite()).map(Value::Dec),
        Quick::IntChoice => int_choice(spec, trim(raw)).map(Value::Int),
        Quick::None => None,
    }
}

/// Child rows of each row, for one child table (rows of row `r`: `rows[start[r]..start[r + 1]]`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Kids {
    start: Vec<usize>,
    rows: Vec<usize>,
}

impl Kids {
    pub(crate) fn of(&self, r: usize) -> &[usize] {
        match (self.start.get(r), self.start.get(r + 1)) {
            (Some(&a), Some(&b)) => &self.rows[a..b],
            _ => &[],
        }
    }
}

/// One table: the top level or a repeat.
#[derive(Debug, Clone)]
pub struct TableData<'s> {
    /// Its name.
    pub name: String,
    /// The parent table, for a repeat.
    pub parent: Option<usize>,
    /// The items stored.
    pub items: Vec<&'s Item>,
    specs: Vec<Spec<'s>>,
    /// Metadata columns kept (KEY, PARENT_KEY, _index, SubmissionDate, ...).
    pub meta: Vec<String>,
    /// Its files.
    pub files: Vec<FileData>,
    /// Its records.
    pub rows: Vec<Row>,
    /// Their typed values, row by row: `items.len()` per row.
    values: Vec<Value>,
    /// Their cells as written, per file.
    cells: Vec<Cells>,
    /// For a repeat: its own relevance and its enclosing groups', evaluated in the parent row.
    repeat_conditions: Vec<&'s Expression>,
    /// Each of them read as comparisons of one question, where it is one.
    repeat_compared: Vec<Compared>,
    pub(crate) repeat: Option<&'s Item>,
    pub(crate) children: Vec<usize>,
    pub(crate) kids: Vec<Kids>,
    /// For the top table: each row's submission date, `today()` for it and its rosters.
    dates: Vec<Option<NaiveDate>>,
    /// Its columns that hold personal data: `pii: true` questions, and the survey key
    /// (or a roster's link to it) when the key is one. Their values never appear in
    /// `ingest.json`, messages or the reasons of rejects.
    pub pii_columns: Vec<&'s str>,
    /// The survey's own identifying metadata columns (`pii_metadata:`).
    pii_metadata: &'s [String],
    /// Whether the survey key is personal data.
    key_is_pii: bool,
}

impl FileData {
    /// The position in this file of the table's metadata column `m`.
    pub(crate) fn meta_at(&self, m: usize) -> Option<usize> {
        self.meta_at.get(m).copied().flatten()
    }
}

impl TableData<'_> {
    /// Whether column `name` (a question, or the survey key's link) holds personal data.
    pub fn is_pii_column(&self, name: &str) -> bool {
        self.pii_columns.contains(&name)
    }

    /// Whether metadata column `m` identifies people or devices ([`crate::pii`]).
    pub fn is_pii_meta(&self, m: usize) -> bool {
        self.meta.get(m).is_some_and(|name| crate::pii::is_identifying(name, self.pii_metadata))
    }

    /// Whether column `col` of file `f`, as written, holds personal data.
    pub fn is_pii_file_column(&self, f: usize, col: usize) -> bool {
        let Some(role) = self.files.get(f).and_then(|f| f.roles.get(col)) else { return false };
        match role {
            Role::Item(c) | Role::SplitChoice(c, _) | Role::GeoPart(c, _) => {
                self.items.get(*c).is_some_and(|i| self.is_pii_column(i.name()))
            }
            Role::ParentKey => self.key_is_pii,
            Role::Meta(m) => self.is_pii_meta(*m),
            Role::Own | Role::Unknown => false,
        }
    }

    /// The typed value of item `c` in row `r`.
    pub fn value(&self, r: usize, c: usize) -> &Value {
        &self.values[r * self.items.len() + c]
    }

    /// Every value of row `r`, in item order.
    pub(crate) fn row_values(&self, r: usize) -> &[Value] {
        let w = self.items.len();
        self.values.get(r * w..(r + 1) * w).unwrap_or_default()
    }

    /// Cell `i` of a row, as written; `None` when empty.
    pub fn cell(&self, row: &Row, i: usize) -> Option<&str> {
        self.cells.get(row.file)?.cell(row.at, i)
    }

    /// Metadata column `m` of a row.
    pub fn meta_of(&self, row: &Row, m: usize) -> Option<&str> {
        self.cell(row, self.files.get(row.file)?.meta_at(m)?)
    }

    /// Every metadata column of a row, each given to `f` with its index (one lookup of
    /// the row's cells for all).
    pub(crate) fn each_meta<'a>(&'a self, row: &Row, mut f: impl FnMut(usize, Option<&'a str>)) {
        let file = self.files.get(row.file);
        let record = self.cells.get(row.file).map(|c| c.record(row.at));
        for m in 0..self.meta.len() {
            f(m, file.and_then(|fd| fd.meta_at(m)).and_then(|i| record.and_then(|r| r.cell(i))));
        }
    }

    pub(crate) fn meta_index(&self, name: &str) -> Option<usize> {
        self.meta.iter().position(|m| m == name || m.rsplit(['-', '/']).next() == Some(name))
    }
}

/// Everything ingested (or one batch of it).
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

/// Two columns of one header that would fill the same place (the same name twice, or an
/// ODK Central `grp-name` path and a plain name for one question): which copy is right
/// cannot be told, so the file is refused rather than one copy silently kept.
fn ambiguous(columns: &[String], roles: &[Role], items: &[&Item]) -> Option<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, (col, role)) in columns.iter().zip(roles).enumerate() {
        let place = match role {
            Role::Item(c) => format!("question `{}`", items[*c].name()),
            Role::SplitChoice(c, v) => format!("choice `{v}` of `{}`", items[*c].name()),
            Role::GeoPart(c, k) => format!("part {k} of `{}`", items[*c].name()),
            Role::ParentKey => "the parent's key".to_string(),
            Role::Meta(_) | Role::Own | Role::Unknown => format!("column `{col}`"),
        };
        if let Some(first) = seen.insert(place.clone(), i) {
            return Some(format!(
                "columns {} (`{}`) and {} (`{col}`) both hold {place}: endline cannot tell which copy is right; \
                 remove or rename one",
                first + 1,
                columns[first],
                i + 1
            ));
        }
    }
    None
}

fn truthy_cell(s: &str) -> bool {
    matches!(trim(s), "1" | "true" | "True" | "TRUE")
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

/// `s.trim()`, without its cost when neither end can be white space (the usual cell).
fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [a, .., b] | [a @ b] if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `t.parse::<f64>()`, with a shortcut for the usual decimal (an optional sign, at most 15
/// digits, an optional point): the digits as an integer divided by a power of ten. Both
/// are exact in an f64 and IEEE division rounds correctly, so the result is the same
/// (Clinger's fast path).
fn parse_f64(t: &str) -> Result<f64, std::num::ParseFloatError> {
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    // At most 15 digits and a point; anything longer or else goes to the standard parser.
    if digits.len() > 16 {
        return t.parse();
    }
    let (mut m, mut point) = (0u64, None);
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            m = m * 10 + u64::from(d);
        } else if c == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return t.parse();
        }
    }
    let n = digits.len() - usize::from(point.is_some());
    if n == 0 || n > 15 {
        return t.parse();
    }
    let scale = point.map_or(0, |p| digits.len() - 1 - p);
    let v = m as f64 / POW10[scale];
    Ok(if negative { -v } else { v })
}

/// `t` as an i64, as `str::parse` reads it: an optional sign, then digits. Up to 18
/// digits (which cannot overflow) are read here, the rest by the standard parser.
fn parse_i64(t: &str) -> Option<i64> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() || digits.len() > 18 {
        return t.parse().ok();
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if negative { -v } else { v })
}

fn parse_value(item: &Item, raw: &str) -> Result<Value, String> {
    let t = trim(raw);
    let bad = |what: &str| Err(format!("`{t}` is not {what}"));
    match item.question_type() {
        QuestionType::Text => Ok(Value::Text(raw.to_string())),
        QuestionType::Integer => match parse_i64(t) {
            Some(v) => Ok(Value::Int(v)),
            None => match t.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Value::Int(f as i64)),
                _ => bad("an integer"),
            },
        },
        QuestionType::Decimal => match parse_f64(t) {
            Ok(f) if f.is_finite() => Ok(Value::Dec(f)),
            _ => bad("a number"),
        },
        QuestionType::Date => parse_date(t).map(Value::Date).map_or_else(|| bad("a date (YYYY-MM-DD)"), Ok),
        QuestionType::DateTime => parse_datetime(t)
            .map(Value::DateTime)
            .map_or_else(|| bad("a timestamp with offset (2025-06-01T09:30:00+08:00)"), Ok),
        QuestionType::Geopoint => {
            let (mut g, mut n) = ([f64::NAN; 4], 0);
            for part in t.split_whitespace() {
                match (g.get_mut(n), parse_f64(part)) {
                    (Some(slot), Ok(v)) => *slot = v,
                    _ => return bad("a point (\"lat lon [alt [accuracy]]\")"),
                }
                n += 1;
            }
            if n < 2 {
                return bad("a point (\"lat lon [alt [accuracy]]\")");
            }
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

/// The survey's tables and each input file's place in them, worked out from the files'
/// headers before any record is read.
#[derive(Debug, Clone)]
pub struct Layout<'s> {
    survey: &'s Survey,
    tables: Vec<TableData<'s>>,
    location: FnvMap<&'s str, (usize, usize)>,
    /// Each input's table and its index among the table's files.
    places: Vec<(usize, usize)>,
    /// Unknown and missing columns.
    pub(crate) file_issues: Vec<Issue>,
    wave: String,
    on_error: OnError,
    today: Option<NaiveDate>,
    /// Whether any expression ingest evaluates uses `today()` or `now()`: only then are
    /// submission dates read ([`submission_dates`]).
    clocked: bool,
}

fn clock_in(e: &Expression) -> bool {
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

fn spec<'s>(survey: &'s Survey, item: &'s Item, conditions: Vec<&'s Expression>) -> Spec<'s> {
    let list = survey.choices_of(item);
    let clocked = conditions.iter().any(|e| clock_in(e))
        || item.constraint().is_some_and(clock_in)
        || matches!(item.required(), Required::When(e) if clock_in(e));
    let mut int_values: Vec<i64> = list
        .filter(|l| l.has_int_values())
        .map(|l| l.choices().iter().filter_map(|c| c.value().as_text().parse().ok()).collect())
        .unwrap_or_default();
    int_values.sort_unstable();
    let missing: Vec<(String, &str)> =
        item.missing().iter().filter_map(|m| survey.missing_code(m)).map(|m| (m.value().as_text(), m.name())).collect();
    Spec {
        item,
        choices: list.map(|l| l.choices().iter().map(|c| c.value().as_text()).collect()).unwrap_or_default(),
        int_choices: list.is_some_and(|l| l.has_int_values()),
        quick: Quick::of(item, !int_values.is_empty(), !missing.is_empty()),
        int_values,
        missing,
        compared: Vec::new(),
        conditions,
        clocked,
        comparisons: item.constraint().and_then(|c| SelfComparisons::of(c.ast())),
    }
}

impl<'s> Layout<'s> {
    /// Opens every input, assigns it to its table and maps its columns; returns the
    /// layout and each input's records, unread.
    pub fn new(survey: &'s Survey, inputs: &[Input], opts: &Options) -> Result<(Self, Vec<Records>), IngestError> {
        let survey_tables = survey.tables();
        let names: Vec<String> = survey_tables.iter().map(|t| t.name.to_string()).collect();
        // Relevance chains: the conditions of enclosing groups up to (not including) the
        // table's repeat, then the item's own.
        let mut chains: HashMap<&str, Vec<&'s Expression>> = HashMap::new();
        survey.visit(&mut |p| {
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
        let chain = |name: &str| chains.get(name).cloned().unwrap_or_default();
        let mut tables: Vec<TableData<'s>> = survey_tables
            .iter()
            .map(|t| TableData {
                name: t.name.to_string(),
                parent: t.parent.and_then(|p| names.iter().position(|n| n == p)),
                items: t.columns.clone(),
                specs: t.columns.iter().map(|i| spec(survey, i, chain(i.name()))).collect(),
                meta: Vec::new(),
                files: Vec::new(),
                rows: Vec::new(),
                values: Vec::new(),
                cells: Vec::new(),
                repeat_conditions: t.repeat.map(|r| chain(r.name())).unwrap_or_default(),
                repeat_compared: Vec::new(),
                repeat: t.repeat,
                children: Vec::new(),
                kids: Vec::new(),
                dates: Vec::new(),
                pii_columns: t
                    .columns
                    .iter()
                    .filter(|i| i.is_pii())
                    .map(|i| i.name())
                    .chain(survey.key_is_pii().then_some(survey.key()))
                    .collect(),
                pii_metadata: survey.pii_metadata(),
                key_is_pii: survey.key_is_pii(),
            })
            .collect();
        for i in 0..tables.len() {
            if let Some(p) = tables[i].parent {
                tables[p].children.push(i);
            }
        }
        let location: FnvMap<&str, (usize, usize)> = tables
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| t.items.iter().enumerate().map(move |(c, i)| (i.name(), (ti, c))))
            .collect();
        let compare = |conds: &[&Expression]| -> Vec<Compared> {
            conds
                .iter()
                .map(|e| {
                    let c = RefComparisons::of(e.ast())?;
                    let at = *location.get(c.name())?;
                    Some((c, at))
                })
                .collect()
        };
        for t in &mut tables {
            t.repeat_compared = compare(&t.repeat_conditions);
            for spec in &mut t.specs {
                spec.compared = compare(&spec.conditions);
            }
        }
        let mut layout = Layout {
            survey,
            tables,
            location,
            places: Vec::new(),
            file_issues: Vec::new(),
            wave: opts.wave.clone(),
            on_error: opts.on_error,
            today: opts.today,
            clocked: uses_clock(survey),
        };
        let mut sources = Vec::new();
        let prior = opts.prior.as_ref().map_or(0, |p| p.inputs().len());
        for (i, input) in inputs.iter().enumerate() {
            let ti = table_of(survey, input, &names)?;
            let records = read::open(&input.path, &input.display, opts.encoding.as_deref())?;
            let fi = layout.add_file(ti, records.file(), records.columns(), i < prior)?;
            layout.places.push((ti, fi));
            sources.push(records);
        }
        if layout.tables[0].files.is_empty() {
            return Err(IngestError::Usage(format!("no file holds the top-level table `{}`", survey.id())));
        }
        for t in &mut layout.tables {
            let at = |f: &FileData, name: &str| t.meta_index(name).and_then(|m| f.meta_at(m));
            let key_item = t.items.iter().position(|i| i.name() == survey.key()).filter(|_| t.parent.is_none());
            let links: Vec<LinkColumns> = t
                .files
                .iter()
                .map(|f| LinkColumns {
                    key: at(f, "KEY"),
                    index: at(f, "_index"),
                    parent_key: at(f, "PARENT_KEY"),
                    parent_index: at(f, "_parent_index"),
                    parent: f.roles.iter().rposition(|r| *r == Role::ParentKey),
                    survey_key: key_item.and_then(|c| f.item_at[c]),
                })
                .collect();
            for (f, l) in t.files.iter_mut().zip(links) {
                f.links = l;
            }
        }
        layout.file_issues.sort();
        Ok((layout, sources))
    }

    /// Maps a file's columns to the table's items and metadata; notes unknown and
    /// missing columns.
    /// A `prior` file (an earlier batch's records written back) has no issues of its own.
    fn add_file(&mut self, ti: usize, display: &str, columns: &[String], prior: bool) -> Result<usize, IngestError> {
        let key_name = self.survey.key();
        let t = &mut self.tables[ti];
        let is_repeat = t.parent.is_some();
        let mut roles = Vec::with_capacity(columns.len());
        for col in columns {
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
                        t.meta.push(col.clone());
                        t.meta.len() - 1
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
        if let Some(message) = ambiguous(columns, &roles, &t.items) {
            return Err(IngestError::Malformed { file: display.to_string(), row: 0, message });
        }
        let file_issue = |column: &str, rule: &str, message: String| Issue {
            table: t.name.clone(),
            file: display.to_string(),
            row: 0,
            key: None,
            column: column.to_string(),
            rule: rule.into(),
            severity: Severity::Warning,
            value: None,
            message,
        };
        for (col, role) in columns.iter().zip(&roles).filter(|_| !prior) {
            if *role == Role::Unknown {
                self.file_issues.push(file_issue(
                    col,
                    "unknown-column",
                    format!("`{col}` is not a question of table `{}`; its values are not kept", t.name),
                ));
            }
        }
        for (c, item) in t.items.iter().enumerate() {
            let present = roles
                .iter()
                .any(|r| matches!(r, Role::Item(x) | Role::SplitChoice(x, _) | Role::GeoPart(x, _) if *x == c));
            if !present && item.question_type() != QuestionType::Calculate && !prior {
                self.file_issues.push(file_issue(
                    item.name(),
                    "missing-column",
                    format!("the file has no column for `{}`; every record counts it as unanswered", item.name()),
                ));
            }
        }
        let mut meta_at = vec![None; t.meta.len()];
        for (i, role) in roles.iter().enumerate() {
            if let Role::Meta(m) = role {
                meta_at[*m] = Some(i);
            }
        }
        let mut item_at = vec![None; t.items.len()];
        let mut split_at: Vec<(usize, Vec<(usize, String)>)> = Vec::new();
        let mut geo_at: Vec<(usize, [Option<usize>; 4])> = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            match role {
                Role::Item(c) => item_at[*c] = Some(i),
                Role::SplitChoice(c, v) => match split_at.iter_mut().find(|(x, _)| x == c) {
                    Some((_, cols)) => cols.push((i, v.clone())),
                    None => split_at.push((*c, vec![(i, v.clone())])),
                },
                Role::GeoPart(c, k) => match geo_at.iter_mut().find(|(x, _)| x == c) {
                    Some((_, parts)) => parts[*k] = Some(i),
                    None => {
                        let mut parts = [None; 4];
                        parts[*k] = Some(i);
                        geo_at.push((*c, parts));
                    }
                },
                _ => {}
            }
        }
        t.files.push(FileData {
            display: display.to_string(),
            columns: columns.to_vec(),
            roles,
            meta_at,
            item_at,
            split_at,
            geo_at,
            links: LinkColumns::default(),
            prior,
            source_row_at: prior.then(|| columns.iter().position(|c| c == "_source_row")).flatten(),
        });
        Ok(t.files.len() - 1)
    }

    /// The survey.
    pub fn survey(&self) -> &'s Survey {
        self.survey
    }

    /// The tables, without records.
    pub fn tables(&self) -> &[TableData<'s>] {
        &self.tables
    }

    /// Input `i`'s table and its index among that table's files.
    pub fn place(&self, i: usize) -> (usize, usize) {
        self.places[i]
    }

    /// Types, links and checks one batch: `records[i]` are records of input `i`. Every
    /// record of a submission (its top-level record and roster rows) must be in the
    /// same batch. The result has no file-level issues (see [`Layout::file_issues`]).
    pub fn check(&self, records: Vec<Cells>) -> Ingested<'s> {
        self.check_after(records, &FnvMap::default(), None)
    }

    /// [`Layout::check`] for a batch after others: `earlier` holds the keys its
    /// top-level records share with earlier batches, with the row that first used each;
    /// `spare` is an earlier batch's typed vectors, emptied here and filled again.
    pub(crate) fn check_after(
        &self,
        records: Vec<Cells>,
        earlier: &FnvMap<Box<str>, usize>,
        spare: Option<Vec<Typed>>,
    ) -> Ingested<'s> {
        let mut spare = spare.unwrap_or_default().into_iter();
        let mut tables = self.tables.clone();
        for t in &mut tables {
            t.cells = vec![Cells::default(); t.files.len()];
        }
        for (i, cells) in records.into_iter().enumerate() {
            let (ti, fi) = self.places[i];
            tables[ti].cells[fi] = cells;
        }
        for t in &mut tables {
            let key_col =
                t.parent.is_none().then(|| t.items.iter().position(|i| i.name() == self.survey.key())).flatten();
            let n: usize = t.cells.iter().map(Cells::len).sum();
            // A spare's values and rows are dropped here, on the thread that made them
            // (freeing another thread's memory costs the allocator more).
            let (mut values, mut rows) = spare.next().unwrap_or_default();
            values.clear();
            rows.clear();
            values.reserve(n * t.items.len());
            rows.reserve(n);
            for fi in 0..t.files.len() {
                for at in 0..t.cells[fi].len() {
                    rows.push(type_record(self.survey, t, fi, at, key_col, &mut values));
                }
            }
            (t.rows, t.values) = (rows, values);
        }
        link(self.survey, &mut tables);
        if self.clocked {
            submission_dates(&mut tables);
        }
        compute_calculations(&mut tables, &self.location, self.today);
        check_rows(&mut tables, &self.location, self.today);
        cross_checks(self.survey, &mut tables, &self.location, self.today, earlier);
        Ingested {
            survey: self.survey,
            tables,
            file_issues: Vec::new(),
            wave: self.wave.clone(),
            on_error: self.on_error,
        }
    }

    /// Unknown and missing columns, sorted.
    pub fn file_issues(&self) -> &[Issue] {
        &self.file_issues
    }
}

/// Reads, types, links and checks every record, all in memory (for inputs of any size,
/// with memory bounded, see [`crate::ingest_to`]).
pub fn ingest<'s>(survey: &'s Survey, inputs: &[Input], opts: &Options) -> Result<Ingested<'s>, IngestError> {
    let (layout, sources) = Layout::new(survey, inputs, opts)?;
    let records = read_all(sources, opts)?;
    opts.report("checking records", 0, 1);
    let mut data = layout.check(records);
    opts.report("checked", 1, 1);
    let errors = data.records_with_errors();
    if opts.on_error == OnError::Fail && errors > 0 {
        return Err(IngestError::Rejected(errors));
    }
    data.file_issues = layout.file_issues;
    Ok(data)
}

/// A top-level record's key as [`Row::key`] will have it (typed as the key question),
/// read from its cells alone: what batches are split by.
pub(crate) fn key_of<'r>(layout: &Layout<'_>, ti: usize, fi: usize, rec: &'r RawRecord) -> Option<Cow<'r, str>> {
    let t = &layout.tables[ti];
    let at = t.files[fi].links.survey_key?;
    let raw = rec.cell(at)?;
    let Role::Item(kc) = t.files[fi].roles[at] else { return None };
    let spec = &t.specs[kc];
    if spec.missing.iter().any(|(v, _)| v == trim(raw)) {
        return None;
    }
    if spec.item.question_type() == QuestionType::Text {
        return Some(Cow::Borrowed(raw)); // as parse_value keeps it
    }
    parse_answer(spec, layout.survey, raw).ok().filter(|v| !v.is_null()).map(|v| Cow::Owned(v.as_text()))
}

/// Reads every record of every source.
pub(crate) fn read_all(sources: Vec<Records>, opts: &Options) -> Result<Vec<Cells>, IngestError> {
    let mut all = Vec::with_capacity(sources.len());
    let mut rec = RawRecord::default();
    for mut source in sources {
        opts.report(&format!("reading {}", source.file()), 0, 1);
        let mut cells = Cells::default();
        while source.next_into(&mut rec)? {
            cells.push(&rec);
        }
        all.push(cells);
    }
    Ok(all)
}

pub(crate) fn issue(
    t: &TableData<'_>,
    row: &Row,
    column: &str,
    rule: &str,
    severity: Severity,
    value: Option<String>,
    message: String,
) -> Issue {
    // A personal column's value is never repeated: not as the value, nor in the message
    // of the rules whose messages quote it.
    let (value, message) = if t.is_pii_column(column) {
        let message = match rule {
            "type" => format!("`{column}`: the answer is not of the question's type (personal data: not shown)"),
            "choice" => format!("`{column}`: the answer is not one of its choices (personal data: not shown)"),
            "calculation" => format!(
                "`{column}`: the export's value is not the one the answers give; the recomputed value is kept \
                 (personal data: not shown)"
            ),
            _ => message,
        };
        (None, message)
    } else {
        (value, message)
    };
    Issue {
        table: t.name.clone(),
        file: t.files.get(row.file).map(|f| f.display.clone()).unwrap_or_default(),
        row: row.row,
        key: row.key.as_deref().map(str::to_string),
        column: column.to_string(),
        rule: rule.to_string(),
        severity,
        value,
        message,
    }
}

/// Types record `at` of file `fi`, appending its values to `values`.
fn type_record(
    survey: &Survey,
    t: &TableData<'_>,
    fi: usize,
    at: usize,
    key_col: Option<usize>,
    values: &mut Vec<Value>,
) -> Row {
    let file = &t.files[fi];
    let cells = &t.cells[fi];
    let record = cells.record(at);
    let cell = |i: usize| record.cell(i);
    let base = values.len();
    let mut row = Row {
        file: fi,
        row: match file.source_row_at.and_then(&cell).and_then(|r| r.parse().ok()) {
            Some(r) => r,
            None => cells.row(at),
        },
        at,
        // A roster row's key is its household's, found by `link`.
        key: None,
        parent: None,
        problems: None,
    };
    // Split select_multiple and geopoint columns are joined into the answer they stand
    // for, unless the item also has a column of its own.
    let mut joined: Vec<(usize, String)> = Vec::new();
    for (c, cols) in &file.split_at {
        if file.item_at[*c].and_then(&cell).is_none() {
            let chosen: Vec<&str> =
                cols.iter().filter(|(i, _)| cell(*i).is_some_and(truthy_cell)).map(|(_, v)| v.as_str()).collect();
            if !chosen.is_empty() {
                joined.push((*c, chosen.join(" ")));
            }
        }
    }
    for (c, parts) in &file.geo_at {
        let cells = parts.map(|p| p.and_then(&cell));
        if file.item_at[*c].and_then(&cell).is_none() && cells[0].is_some() {
            joined.push((*c, cells.map(Option::unwrap_or_default).join(" ").trim().to_string()));
        }
    }
    for (c, spec) in t.specs.iter().enumerate() {
        let value = 'typed: {
            let raw = match file.item_at[c].and_then(&cell) {
                Some(cell) => cell,
                None => match joined.iter().find(|(x, _)| *x == c) {
                    Some((_, j)) => j.as_str(),
                    None => break 'typed Value::Null,
                },
            };
            if let Some(v) = quick_answer(spec, raw) {
                break 'typed v;
            }
            let item = spec.item;
            if item.question_type() == QuestionType::Calculate {
                // Kept as written, compared with the recomputed value later.
                break 'typed Value::Text(raw.to_string());
            }
            if !spec.missing.is_empty() {
                let trimmed = trim(raw);
                if let Some((_, name)) = spec.missing.iter().find(|(v, _)| v == trimmed) {
                    row.problems().missing.push((c, name.to_string()));
                    break 'typed Value::Null;
                }
            }
            match parse_answer(spec, survey, raw) {
                Ok(v) => v,
                Err(message) => {
                    row.problems().invalid.push(c);
                    let rule = if item.question_type().is_select() { "choice" } else { "type" };
                    let iss = issue(
                        t,
                        &row,
                        item.name(),
                        rule,
                        Severity::Error,
                        Some(raw.to_string()),
                        format!("{}: {message}", item.name()),
                    );
                    row.push_issue(iss);
                    Value::Null
                }
            }
        };
        values.push(value);
    }
    let values = &values[base..];
    row.key = match key_col.map(|kc| &values[kc]) {
        Some(Value::Null) => None,
        Some(Value::Text(t)) => Some(Arc::from(t.as_str())),
        Some(v) => Some(Arc::from(v.as_text())),
        // Without a survey key, a top-level record's key is the parent link as written.
        None if t.parent.is_none() => file.links.parent.and_then(&cell).map(Arc::from),
        // A roster row's key is its household's, set (with its problems') by `link`.
        None => None,
    };
    row.key_issues();
    row
}

/// Types an answer (not a missing code): a select's choices, or a value of the question's type.
fn parse_answer(spec: &Spec<'_>, survey: &Survey, raw: &str) -> Result<Value, String> {
    if spec.item.question_type().is_select() { parse_choice(spec, survey, raw) } else { parse_value(spec.item, raw) }
}

/// `t` (trimmed) as one of the question's integer choices, when it is written as one.
fn int_choice(spec: &Spec<'_>, t: &str) -> Option<i64> {
    parse_i64(t).filter(|v| spec.int_values.binary_search(v).is_ok())
}

/// Parses a select answer; the error names the values that are not choices.
fn parse_choice(spec: &Spec<'_>, survey: &Survey, raw: &str) -> Result<Value, String> {
    let item = spec.item;
    let Some(list) = survey.choices_of(item) else { return Ok(Value::Text(raw.to_string())) };
    let single = item.question_type() == QuestionType::SelectOne;
    let t = trim(raw);
    // The common case, an integer choice: what the text comparison and normalising below
    // would give it.
    if single
        && spec.int_choices
        && let Some(v) = int_choice(spec, t)
    {
        return Ok(Value::Int(v));
    }
    // One value written as the choice is: no allocation but the value's.
    if single && spec.choices.iter().any(|c| c == t) {
        return Ok(if spec.int_choices {
            t.parse::<i64>().map_or_else(|_| Value::Text(t.to_string()), Value::Int)
        } else {
            Value::Text(t.to_string())
        });
    }
    // Choices written as they are, the common case: no normalising.
    if !single && raw.split_whitespace().all(|v| spec.choices.iter().any(|c| c == v)) {
        return Ok(Value::Multi(first_of_each(raw.split_whitespace())));
    }
    normalised_choice(spec, list.name(), raw, single)
}

/// Parses a select answer whose values are normalised first ("1.0" from a spreadsheet
/// is the integer choice 1); the error names the values that are not choices of `list`.
fn normalised_choice(spec: &Spec<'_>, list: &str, raw: &str, single: bool) -> Result<Value, String> {
    let norm = |v: &str| -> String {
        if spec.int_choices
            && let Ok(f) = v.parse::<f64>()
            && f.fract() == 0.0
        {
            return format!("{}", f as i64);
        }
        v.to_string()
    };
    let values: Vec<String> = raw.split_whitespace().map(norm).collect();
    let unknown: Vec<&String> = values.iter().filter(|v| !spec.choices.contains(v)).collect();
    if !unknown.is_empty() {
        let shown: Vec<&str> = spec.choices.iter().take(12).map(String::as_str).collect();
        return Err(format!(
            "{} not a choice of `{}` ({})",
            unknown.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                + if unknown.len() == 1 { " is" } else { " are" },
            list,
            shown.join(", ")
        ));
    }
    if single {
        if values.len() != 1 {
            return Err(format!("`{raw}` gives {} choices to a select_one", values.len()));
        }
        return Ok(if spec.int_choices {
            values[0].parse::<i64>().map_or(Value::Text(values[0].clone()), Value::Int)
        } else {
            Value::Text(values[0].clone())
        });
    }
    Ok(Value::Multi(first_of_each(values.into_iter())))
}

/// A select_multiple's choices in the order given, each once (a choice written twice is
/// chosen once); a repeat is not copied.
fn first_of_each<S: AsRef<str> + Into<String>>(values: impl Iterator<Item = S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.iter().any(|o| o == v.as_ref()) {
            out.push(v.into());
        }
    }
    out
}

/// Links repeat rows to their parent row: by the survey key, ODK Central's
/// PARENT_KEY/KEY, or KoboToolbox's _parent_index/_index.
fn link(survey: &Survey, tables: &mut [TableData<'_>]) {
    for t in tables.iter_mut() {
        t.kids = vec![Kids::default(); t.children.len()];
    }
    for ti in 0..tables.len() {
        let Some(pi) = tables[ti].parent else { continue };
        let (parents, children) = (&tables[pi], &tables[ti]);
        let n = parents.rows.len();
        let sized = |used: bool| FnvMap::with_capacity_and_hasher(if used { n } else { 0 }, Default::default());
        let mut by_key: FnvMap<&str, usize> = sized(pi == 0);
        let mut by_odk: FnvMap<&str, usize> = sized(parents.meta_index("KEY").is_some());
        let mut by_kobo: FnvMap<&str, usize> = sized(parents.meta_index("_index").is_some());
        for (r, row) in parents.rows.iter().enumerate() {
            if pi == 0
                && let Some(k) = &row.key
            {
                by_key.entry(k).or_insert(r);
            }
            let own = parents.files[row.file].links;
            if let Some(v) = own.key.and_then(|c| parents.cell(row, c)) {
                by_odk.entry(v).or_insert(r);
            }
            if let Some(v) = own.index.and_then(|c| parents.cell(row, c)) {
                by_kobo.entry(v).or_insert(r);
            }
        }
        // A parent's rows come together: a link the same as the previous row's finds
        // the same parent without a lookup.
        let mut last: Option<(Via, &str, usize)> = None;
        let links: Vec<Option<usize>> = children
            .rows
            .iter()
            .map(|row| {
                // The row's cells found once for its (up to three) links.
                let record = children.cells.get(row.file).filter(|c| row.at < c.len()).map(|c| c.record(row.at));
                let written = children.files[row.file].links.parents(|c| record.and_then(|r| r.cell(c)), pi == 0);
                written.iter().flatten().find_map(|&(via, v)| {
                    if let Some((lv, lt, p)) = last
                        && lv == via
                        && lt == v
                    {
                        return Some(p);
                    }
                    let p = match via {
                        Via::Odk => by_odk.get(v).copied(),
                        Via::Kobo => by_kobo.get(v).copied(),
                        Via::Key => by_key.get(v).copied(),
                    }?;
                    last = Some((via, v, p));
                    Some(p)
                })
            })
            .collect();
        drop((by_key, by_odk, by_kobo));
        // The parent's rows, in order, for each parent row.
        let mut start = vec![0usize; tables[pi].rows.len() + 1];
        for p in links.iter().flatten() {
            start[p + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut rows = vec![0usize; start.last().copied().unwrap_or(0)];
        for (r, p) in links.iter().enumerate() {
            if let Some(p) = p {
                rows[fill[*p]] = r;
                fill[*p] += 1;
            }
        }
        let slot = tables[pi].children.iter().position(|c| *c == ti).unwrap_or(0);
        tables[pi].kids[slot] = Kids { start, rows };
        let how = if tables[ti].meta_index("PARENT_KEY").is_some() {
            "PARENT_KEY"
        } else if tables[ti].meta_index("_parent_index").is_some() {
            "_parent_index"
        } else {
            survey.key()
        };
        for (r, parent) in links.into_iter().enumerate() {
            // The household's key, or (an orphan, or a household without one) the link
            // as written.
            let key = parent.and_then(|p| tables[pi].rows[p].key.clone()).or_else(|| {
                let (t, row) = (&tables[ti], &tables[ti].rows[r]);
                t.files[row.file].links.parent.and_then(|c| t.cell(row, c)).map(Arc::from)
            });
            let row = &mut tables[ti].rows[r];
            row.parent = parent;
            row.key = key;
            row.key_issues();
            if parent.is_none() {
                let t = &tables[ti];
                let iss = issue(
                    t,
                    &t.rows[r],
                    how,
                    "orphan",
                    Severity::Error,
                    None,
                    format!("no record of `{}` matches this row's {how}", tables[pi].name),
                );
                tables[ti].rows[r].push_issue(iss);
            }
        }
    }
}

/// Whether any expression of the survey that ingest evaluates (relevance, constraint,
/// required, calculation, repeat count) uses `today()` or `now()`.
fn uses_clock(survey: &Survey) -> bool {
    let mut uses = false;
    survey.visit(&mut |p| {
        let item = p.item;
        let required = match item.required() {
            Required::When(e) => Some(e),
            _ => None,
        };
        uses |= [item.relevant(), item.constraint(), item.calculation(), item.count(), required]
            .into_iter()
            .flatten()
            .any(clock_in);
    });
    uses
}

/// Each top-level record's submission date (ODK Central's SubmissionDate, KoboToolbox's
/// _submission_time): what `today()` means for it and its roster rows. Read only when
/// an expression uses the clock (parsing a timestamp is most of the cost of a record's
/// metadata).
fn submission_dates(tables: &mut [TableData<'_>]) {
    let t = &tables[0];
    let m = t.meta.iter().position(|m| m == "SubmissionDate" || m == "_submission_time");
    let dates = t
        .rows
        .iter()
        .map(|row| {
            let v = t.meta_of(row, m?)?;
            parse_datetime(v).map(|d| d.date_naive()).or_else(|| parse_date(v.get(..10).unwrap_or(v)))
        })
        .collect();
    tables[0].dates = dates;
}

/// The evaluation context of one row.
struct RowCtx<'a, 's> {
    tables: &'a [TableData<'s>],
    location: &'a FnvMap<&'s str, (usize, usize)>,
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
            let kids = &self.tables[from].kids[slot];
            rows = rows.iter().flat_map(|&r| kids.of(r).iter().copied()).collect();
        }
        rows
    }
}

impl Context for RowCtx<'_, '_> {
    fn value(&self, name: &str) -> Value {
        let Some(&(t, c)) = self.location.get(name) else { return Value::Null };
        self.ancestor(t).map_or(Value::Null, |r| self.tables[t].value(r, c).clone())
    }
    fn self_value(&self) -> Value {
        self.own.clone().unwrap_or(Value::Null)
    }
    fn repeat_values(&self, name: &str) -> Vec<Value> {
        if let Some(t) = self.tables.iter().position(|t| t.name == name && t.parent.is_some()) {
            return self.descendants(t).into_iter().map(|_| Value::Null).collect();
        }
        let Some(&(t, c)) = self.location.get(name) else { return Vec::new() };
        self.descendants(t).into_iter().map(|r| self.tables[t].value(r, c).clone()).collect()
    }
    fn today(&self) -> Option<NaiveDate> {
        self.ancestor(0).and_then(|top| self.tables[0].dates.get(top).copied().flatten()).or(self.today)
    }
    fn now(&self) -> Option<DateTime<FixedOffset>> {
        None
    }
}

/// A condition that only compares one question with constants (`${consent} = 1`, the
/// usual relevance), read once, with where the question is stored.
type Compared = Option<(RefComparisons, (usize, usize))>;

/// Whether every condition holds in `ctx`'s row. Condition `k` with a `compared[k]` is
/// checked on the question's stored value, as `RowCtx::value` reads it for the evaluator,
/// without the evaluator; the others are evaluated.
fn relevant(ctx: &RowCtx<'_, '_>, conds: &[&Expression], compared: &[Compared]) -> bool {
    conds.iter().enumerate().all(|(k, e)| match compared.get(k).and_then(Option::as_ref) {
        Some((c, (qt, qc))) => c.holds(ctx.ancestor(*qt).map_or(&Value::Null, |qr| ctx.tables[*qt].value(qr, *qc))),
        None => eval(e.ast(), ctx).truthy(),
    })
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
    location: &FnvMap<&'s str, (usize, usize)>,
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
        let Some(expr) = item.calculation() else { continue };
        let computed: Vec<Value> = (0..tables[ti].rows.len())
            .map(|r| {
                let ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
                let spec = &tables[ti].specs[c];
                if relevant(&ctx, &spec.conditions, &spec.compared) {
                    typed(eval(expr.ast(), &ctx), item.value_type())
                } else {
                    Value::Null
                }
            })
            .collect();
        for (r, v) in computed.into_iter().enumerate() {
            let width = tables[ti].items.len();
            let exported = std::mem::replace(&mut tables[ti].values[r * width + c], v.clone());
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
                tables[ti].rows[r].push_issue(iss);
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
fn check_rows<'s>(tables: &mut [TableData<'s>], location: &FnvMap<&'s str, (usize, usize)>, today: Option<NaiveDate>) {
    for ti in 0..tables.len() {
        let mut found: Vec<(usize, Issue)> = Vec::new();
        let clocked = tables[ti].specs.iter().any(|s| s.clocked);
        // The questions with something to check, found once: not those always relevant,
        // never required and without a constraint, nor calculations.
        let checked: Vec<usize> = (tables[ti].specs.iter().enumerate())
            .filter(|(_, s)| {
                let item = s.item;
                !(s.conditions.is_empty() && matches!(item.required(), Required::No) && item.constraint().is_none())
                    && item.question_type() != QuestionType::Calculate
            })
            .map(|(c, _)| c)
            .collect();
        for r in 0..tables[ti].rows.len() {
            let t = &tables[ti];
            let row = &t.rows[r];
            let mut ctx = RowCtx { tables, location, table: ti, row: r, own: None, today };
            let clock_unknown = clocked && ctx.today().is_none();
            for (c, spec) in checked.iter().filter_map(|&c| Some((c, t.specs.get(c)?))) {
                let item = spec.item;
                if row.is_invalid(c) {
                    continue;
                }
                let conds = &spec.conditions;
                if clock_unknown && conds.iter().any(|e| clock_in(e)) {
                    continue;
                }
                let is_relevant = relevant(&ctx, conds, &spec.compared);
                let missing = row.missing(c);
                let answered = !t.value(r, c).is_null() || missing.is_some();
                let written = || {
                    missing.map_or_else(
                        || Some(t.value(r, c).as_text()).filter(|s| !s.is_empty()),
                        |m| Some(m.to_string()),
                    )
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
                            written(),
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
                    Required::When(e) => (!clock_unknown || !clock_in(e)) && eval(e.ast(), &ctx).truthy(),
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
                    if t.value(r, c).is_null() || (clock_unknown && clock_in(con)) {
                        continue;
                    }
                    let holds = match &spec.comparisons {
                        Some(comparisons) => comparisons.holds(t.value(r, c)),
                        None => {
                            ctx.own = Some(t.value(r, c).clone());
                            eval(con.ast(), &ctx).truthy()
                        }
                    };
                    if !holds {
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
                        found.push((r, issue(t, row, item.name(), "constraint", Severity::Error, written(), msg)));
                    }
                }
            }
        }
        for (r, i) in found {
            tables[ti].rows[r].push_issue(i);
        }
    }
}

/// Duplicate keys, repeat counts, and repeat rows whose parent was rejected.
fn cross_checks<'s>(
    survey: &Survey,
    tables: &mut [TableData<'s>],
    location: &FnvMap<&'s str, (usize, usize)>,
    today: Option<NaiveDate>,
    earlier: &FnvMap<Box<str>, usize>,
) {
    // Duplicate and empty keys in the top table (keys first used in an earlier batch
    // are in `earlier`, with the row that used them).
    let mut first: FnvMap<Arc<str>, usize> = FnvMap::with_capacity_and_hasher(tables[0].rows.len(), Default::default());
    let mut found = Vec::new();
    for (r, row) in tables[0].rows.iter().enumerate() {
        match &row.key {
            None => {
                if !row.issues().iter().any(|i| i.column == survey.key()) {
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
                // Where the key was first used: a row of this batch (named with its file
                // when that is another file, as an earlier batch of an --append is), or
                // of an earlier batch of this run.
                let at = first.get(k).map(|&f| {
                    let by = &tables[0].rows[f];
                    match tables[0].files.get(by.file) {
                        Some(file) if by.file != row.file => format!("{} of {}", by.row, file.display),
                        _ => by.row.to_string(),
                    }
                });
                if let Some(at) = earlier.get(&**k).map(usize::to_string).or(at) {
                    found.push((
                        r,
                        issue(
                            &tables[0],
                            row,
                            survey.key(),
                            "duplicate-key",
                            Severity::Error,
                            Some(k.to_string()),
                            format!("this key was already used by row {at}"),
                        ),
                    ));
                } else {
                    first.insert(k.clone(), r);
                }
            }
        }
    }
    for (r, i) in found {
        tables[0].rows[r].push_issue(i);
    }
    crate::record_keys::duplicates(tables);
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
            if ctx.today().is_none() && conds.iter().any(|e| clock_in(e)) {
                continue;
            }
            if !relevant(&ctx, conds, &tables[ti].repeat_compared) {
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
            tables[ti].rows[r].push_issue(i);
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
            let actual = tables[pi].kids[slot].of(r).len();
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
            tables[pi].rows[r].push_issue(i);
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
                            row.key.as_deref().map(str::to_string),
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
            tables[ti].rows[r].push_issue(i);
        }
    }
    crate::rosters::partial(tables);
}

/// A table's typed values and rows, kept for their memory.
pub(crate) type Typed = (Vec<Value>, Vec<Row>);

/// What a written batch leaves to be used again: each input's cells and each table's
/// typed vectors (allocating them afresh for every batch costs page faults): the cells
/// emptied, the typed vectors as they are, emptied by the checking thread that fills them.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    pub(crate) cells: Vec<Cells>,
    pub(crate) typed: Vec<Typed>,
}

impl Ingested<'_> {
    /// Hands this batch's large vectors to a later batch, keeping their memory.
    pub(crate) fn into_spare(mut self, layout: &Layout<'_>) -> Spare {
        let cells = (0..layout.places.len())
            .map(|i| {
                let (ti, fi) = layout.place(i);
                let mut c = self.tables.get_mut(ti).and_then(|t| t.cells.get_mut(fi)).map(std::mem::take);
                c.as_mut().map(Cells::clear);
                c.unwrap_or_default()
            })
            .collect();
        let typed =
            self.tables.iter_mut().map(|t| (std::mem::take(&mut t.values), std::mem::take(&mut t.rows))).collect();
        Spare { cells, typed }
    }

    /// The number of records with an error, in all tables.
    pub fn records_with_errors(&self) -> usize {
        self.tables.iter().flat_map(|t| &t.rows).filter(|r| r.has_error()).count()
    }

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
        let records = self.tables.iter().flat_map(|t| t.rows.iter().flat_map(|r| r.issues().to_vec())).collect();
        in_report_order(&self.file_issues, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A survey with the integer choices `five` and one question `q` of type `ty` on them.
    fn choice_survey(ty: &str) -> Survey {
        let yaml = format!(
            "survey: s\nversion: \"1\"\nkey: id\nchoices:\n  five: [{{value: 1, label: A}}, {{value: 2, label: B}}, \
             {{value: 10, label: C}}, {{value: -3, label: D}}]\nquestions:\n  - {{name: id, type: text, label: I}}\n  \
             - {{name: q, type: {ty} five, label: Q}}\n"
        );
        endline_survey::validate(&endline_diag::SourceFile::new("s.yaml", yaml))
            .survey
            .unwrap_or_else(|| panic!("the test survey is invalid"))
    }

    /// The spec of `survey`'s question `q`.
    fn q_spec(survey: &Survey) -> Spec<'_> {
        let item = survey.tables()[0].columns.iter().copied().find(|i| i.name() == "q");
        spec(survey, item.unwrap_or_else(|| panic!("no q")), Vec::new())
    }

    /// A row is 64 bytes on 64-bit targets (its problems behind one pointer).
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn rows_are_64_bytes() {
        assert_eq!(std::mem::size_of::<Row>(), 64);
    }

    /// The clock is found in each kind of expression ingest evaluates, nested in a
    /// group or a roster, and only there.
    #[test]
    fn the_clock_is_found_wherever_ingest_evaluates_it() {
        let uses = |extra: &str| {
            let yaml = format!(
                "survey: s\nversion: \"1\"\nkey: id\nquestions:\n  - {{name: id, type: text, label: I}}\n  \
                 - {{name: n, type: integer, label: N}}\n  - name: g\n    type: group\n    questions:\n      \
                 - name: r\n        type: repeat\n        count: \"${{n}}\"\n        questions:\n          \
                 - {{name: a, type: date, label: A}}\n          - {extra}\n"
            );
            let survey = endline_survey::validate(&endline_diag::SourceFile::new("s.yaml", yaml))
                .survey
                .unwrap_or_else(|| panic!("the test survey is invalid: {extra}"));
            uses_clock(&survey)
        };
        assert!(!uses("{name: b, type: date, label: B, relevant: \"${a} != ''\", constraint: \". >= ${a}\"}"));
        for extra in [
            "{name: b, type: date, label: B, relevant: \"${a} < today()\"}",
            "{name: b, type: date, label: B, constraint: \". <= today()\"}",
            "{name: b, type: date, label: B, required: \"${a} < today()\"}",
            "{name: b, type: calculate, calculation: \"today()\"}",
            "{name: b, type: date, label: B, relevant: \"${a} < now()\"}",
            "{name: b, type: repeat, count: \"if(date('2025-01-01') < today(), 1, 2)\", \
             questions: [{name: c, type: integer, label: C}]}",
        ] {
            assert!(uses(extra), "{extra}");
        }
    }

    /// A survey of an integer, a decimal and an integer with a missing code.
    fn number_survey() -> Survey {
        let yaml = "survey: s\nversion: \"1\"\nkey: id\nmissing_codes: {dk: -9}\nquestions:\n  \
                    - {name: id, type: text, label: I}\n  - {name: qi, type: integer, label: I}\n  \
                    - {name: qd, type: decimal, label: D}\n  - {name: qm, type: integer, label: M, missing: [dk]}\n";
        endline_survey::validate(&endline_diag::SourceFile::new("s.yaml", yaml.to_string()))
            .survey
            .unwrap_or_else(|| panic!("the test survey is invalid"))
    }

    /// Checks that each question's shortcut is the expected one and, where it gives a
    /// value for `t`, gives what the general way gives.
    fn quick_agrees(numbers: &Survey, choices: &Survey, t: &str) -> Result<(), TestCaseError> {
        fn question<'s>(survey: &'s Survey, name: &str) -> &'s Item {
            let item = survey.tables()[0].columns.iter().copied().find(|i| i.name() == name);
            item.unwrap_or_else(|| panic!("no {name}"))
        }
        let cases = [
            (numbers, "qi", Quick::Int),
            (numbers, "qd", Quick::Dec),
            (numbers, "qm", Quick::None),
            (choices, "q", Quick::IntChoice),
        ];
        for (survey, name, expected) in cases {
            let spec = spec(survey, question(survey, name), Vec::new());
            prop_assert_eq!(spec.quick, expected);
            if let Some(v) = quick_answer(&spec, t) {
                prop_assert_eq!(Ok(v), parse_answer(&spec, survey, t), "{} {:?}", name, t);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// A question's shortcut, where it applies, gives what the general way gives: for
        /// integers, decimals and integer choices (and none for a question with missing
        /// codes, whose answers are first compared with the codes).
        #[test]
        fn quick_answers_are_parse_answer(t in "[ ]?[-+]?[0-9]{0,17}(\\.[0-9]{0,4})?[ ]?|[-+ 0-9.eaE]{0,5}") {
            quick_agrees(&number_survey(), &choice_survey("select_one"), &t)?;
        }
    }

    #[test]
    fn quick_answers_at_the_edges() {
        let (numbers, choices) = (number_survey(), choice_survey("select_one"));
        for t in ["1e999", "-inf", "inf", "NaN", "7", "10", " 10 ", "-3", "+1", "1.0", "9223372036854775808", "", " "] {
            if let Err(e) = quick_agrees(&numbers, &choices, t) {
                panic!("{t:?}: {e}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The integer shortcut of `parse_choice` gives what the text comparison and
        /// normalising give (the same spec without its sorted integers takes that path).
        #[test]
        fn integer_choices_are_read_as_before(t in "[ ]?[-+]?0?[0-9]{1,2}(\\.0?)?[ ]?|[-+ 0-9.a]{0,4}") {
            let survey = choice_survey("select_one");
            let fast = q_spec(&survey);
            prop_assert!(!fast.int_values.is_empty());
            let slow = Spec { int_values: Vec::new(), ..fast.clone() };
            prop_assert_eq!(parse_choice(&fast, &survey, &t), parse_choice(&slow, &survey, &t));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The shortcut for select_multiple answers written as the choices are gives
        /// what normalising gives.
        #[test]
        fn multiple_choices_are_read_as_before(tokens in prop::collection::vec("1|2|10|-3|01|1\\.0|a|", 0..5), sep in "[ ]{1,2}") {
            let survey = choice_survey("select_multiple");
            let spec = q_spec(&survey);
            let raw = tokens.join(&sep);
            prop_assert_eq!(parse_choice(&spec, &survey, &raw), normalised_choice(&spec, "five", &raw, false), "{:?}", raw);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]
        /// The shortcut gives the standard parser's result, bit for bit, and fails where
        /// it fails.
        #[test]
        fn parse_i64_is_the_standard_parse(t in "[-+]?[0-9]{0,21}|[-+0-9a .]{0,5}") {
            prop_assert_eq!(parse_i64(&t), t.parse::<i64>().ok(), "{:?}", t);
        }

        #[test]
        fn parse_f64_is_the_standard_parse(t in "[-+]?[0-9]{0,17}(\\.[0-9]{0,17})?([eE][0-9]{1,2})?|[-+.0-9a ]{0,6}") {
            let ours = parse_f64(&t).map(f64::to_bits).map_err(|e| e.to_string());
            let standard = t.parse::<f64>().map(f64::to_bits).map_err(|e| e.to_string());
            prop_assert_eq!(ours, standard, "{:?}", t);
        }
    }

    proptest! {
        /// The shortcut trims what `str::trim` trims (Unicode white space included).
        #[test]
        fn trim_is_str_trim(t in "[ \t\u{3000}\u{a0}a-c1.é\n]{0,6}") {
            prop_assert_eq!(trim(&t), t.trim());
        }
    }

    #[test]
    fn parse_f64_cases() {
        for t in
            ["0.1", "-0", "5.", ".5", "+2.25", "999999999999999", "9999999999999999", "0.30000000000000004", "-", "."]
        {
            assert_eq!(parse_f64(t).map(f64::to_bits).ok(), t.parse::<f64>().map(f64::to_bits).ok(), "{t}");
        }
    }
}
