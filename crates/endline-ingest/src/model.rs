//! The result of an ingest, as `ingest.json` reports it.

use serde::Serialize;

pub use endline_diag::Severity;

/// One problem with one record (or, for `unknown-column`/`missing-column`, with a file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Issue {
    /// The table.
    pub table: String,
    /// The file, as the user named it.
    pub file: String,
    /// 1-based record in the file (0 for a file-level issue).
    pub row: usize,
    /// The record's key, when known.
    pub key: Option<String>,
    /// The column (question name).
    pub column: String,
    /// The rule broken: type, choice, constraint, required, relevance, duplicate-key,
    /// unknown-column, missing-column, orphan, count-mismatch, calculation.
    pub rule: String,
    /// Error or warning.
    pub severity: Severity,
    /// The value as written.
    pub value: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

/// The order of records' issues in `ingest.json` and `issues.csv`: by table, file, row,
/// column and rule, ties by every other field, so the order is the same however the
/// input was batched.
pub(crate) fn report_order(a: &Issue, b: &Issue) -> std::cmp::Ordering {
    (&a.table, &a.file, a.row, &a.column, &a.rule)
        .cmp(&(&b.table, &b.file, b.row, &b.column, &b.rule))
        .then_with(|| a.cmp(b))
}

/// Every issue as ingest.json lists them: the file-level ones (already in order), then
/// the records' in [`report_order`].
pub(crate) fn in_report_order(file_issues: &[Issue], mut records: Vec<Issue>) -> Vec<Issue> {
    records.sort_by(report_order);
    let mut all = file_issues.to_vec();
    all.extend(records);
    all
}

/// How many issues of one kind an ingest found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IssueCount {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The rule.
    pub rule: String,
    /// Error or warning.
    pub severity: Severity,
    /// How many.
    pub count: usize,
}

/// Counts for one table. Always `rows_in = rows_written + rows_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct TableCounts {
    /// Records read.
    pub rows_in: usize,
    /// Records written to the table's Parquet file.
    pub rows_written: usize,
    /// Records written to `rejects/<table>.csv` instead.
    pub rows_rejected: usize,
}

/// What to do with a record that has an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Write it to the rejects file (the default).
    #[default]
    Reject,
    /// Keep it in the table, flagged `_valid = false`, with its problems in `_issues`.
    Keep,
    /// Stop: write nothing.
    Fail,
}
