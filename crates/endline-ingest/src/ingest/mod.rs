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

mod checks;
mod layout;
mod link;
mod typing;

use checks::*;
pub use layout::Layout;
pub(crate) use layout::key_of;
use layout::*;
use link::*;
use typing::*;

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
    /// Write each table as a hive-partitioned dataset by these columns (`_wave`, then
    /// optionally a unit column; [`crate::hive::partition_columns`]) instead of one file.
    pub partition_by: Vec<String>,
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
            partition_by: Vec::new(),
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
    /// A note of the survey: platforms export its (empty) column, endline stores no value.
    Note,
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
            Role::Own | Role::Note | Role::Unknown => false,
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
