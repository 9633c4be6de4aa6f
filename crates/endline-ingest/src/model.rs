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

/// The first table that rejected too much, said for people: more than `max_share` of its
/// records (a share from 0 to 1), or, with no share given, every one of them (a table
/// whose every record is rejected points at a survey and an export that do not match,
/// not at bad records).
pub fn too_many_rejected(counts: &[(String, TableCounts)], max_share: Option<f64>) -> Option<String> {
    counts.iter().find_map(|(table, c)| {
        if c.rows_in == 0 {
            return None;
        }
        let share = c.rows_rejected as f64 / c.rows_in as f64;
        let over = match max_share {
            Some(max) => share > max,
            None => c.rows_rejected == c.rows_in,
        };
        over.then(|| match max_share {
            Some(max) => format!(
                "table `{table}` rejected {} of {} records ({:.1}%), more than --max-reject-share {max} allows",
                c.rows_rejected,
                c.rows_in,
                100.0 * share
            ),
            None => format!(
                "table `{table}` rejected every one of its {} records: does the export match this survey?",
                c.rows_in
            ),
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejecting_too_much_is_found() {
        let t = |rows_in, rows_rejected| TableCounts { rows_in, rows_written: rows_in - rows_rejected, rows_rejected };
        let all = [("hh".to_string(), t(10, 1)), ("members".to_string(), t(4, 4))];
        assert!(too_many_rejected(&all, None).is_some_and(|m| m.contains("`members` rejected every one of its 4")));
        assert_eq!(too_many_rejected(&all, Some(1.0)), None);
        assert!(
            too_many_rejected(&all, Some(0.05)).is_some_and(|m| m.contains("`hh` rejected 1 of 10 records (10.0%)"))
        );
        assert_eq!(too_many_rejected(&[("e".into(), t(0, 0))], None), None, "an empty table rejects nothing");
    }
}
