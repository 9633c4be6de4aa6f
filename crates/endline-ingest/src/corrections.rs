//! Corrections in the style of IPA's high-frequency checks: a CSV of `key, column,
//! old_value, new_value, reason`, one line per cell of a record already in the wave.
//!
//! A correction is applied only when the cell still holds its old value (a correction
//! written against an earlier state of the data is refused, not applied over a newer
//! answer), and every correction of a file is applied, or none: each problem is reported
//! at its line. The corrected records are checked again like any other, and every applied
//! correction is kept in the wave's `corrections.csv` (the audit trail), with its batch,
//! its reason and the file and line it came from.

use std::path::Path;

use crate::error::IngestError;

/// One line of a corrections file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The line in the file, as an editor counts (the header is line 1).
    pub line: usize,
    /// The record: a top-level record's survey key, or any record's `KEY`
    /// (`meta-instanceID`).
    pub key: String,
    /// The question.
    pub column: String,
    /// The value the cell holds now, as an export writes it (empty: no answer).
    pub old: String,
    /// The value it gets.
    pub new: String,
    /// Why (required: it is the audit trail's point).
    pub reason: String,
}

/// A corrections file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrections {
    /// The file, as named on the command line.
    pub file: String,
    /// Its corrections, in file order.
    pub list: Vec<Correction>,
}

/// The names each column may go by (lower case; spaces, dashes and underscores alike).
const COLUMNS: [(&str, &[&str]); 5] = [
    ("key", &["key", "id", "record", "instanceid"]),
    ("column", &["column", "variable", "var", "question", "field"]),
    ("old_value", &["old_value", "old", "value_old", "current_value", "from"]),
    ("new_value", &["new_value", "new", "value_new", "corrected_value", "to"]),
    ("reason", &["reason", "comment", "note", "justification"]),
];

fn normal(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').to_lowercase().replace([' ', '-'], "_")
}

impl Corrections {
    /// Reads `path` (named `display` in messages). Every problem of the file is reported
    /// at once, each at its line.
    pub fn read(path: &Path, display: &str) -> Result<Corrections, IngestError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| IngestError::Usage(format!("cannot read {display}: {e}")))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| IngestError::Usage(format!("cannot read {display}: {e}")))?
            .iter()
            .map(normal)
            .collect();
        let mut at = [0usize; 5];
        let mut missing = Vec::new();
        for (k, (name, aliases)) in COLUMNS.iter().enumerate() {
            match header.iter().position(|h| aliases.contains(&h.as_str())) {
                Some(i) => at[k] = i,
                None => missing.push(*name),
            }
        }
        if !missing.is_empty() {
            return Err(IngestError::Usage(format!(
                "{display}:1: a corrections file needs the columns key, column, old_value, new_value and reason; \
                 missing: {}",
                missing.join(", ")
            )));
        }
        let mut list = Vec::new();
        let mut problems = Vec::new();
        for record in reader.records() {
            let r = record.map_err(|e| IngestError::Usage(format!("cannot read {display}: {e}")))?;
            let line = r.position().map_or(0, |p| p.line() as usize);
            let cell = |k: usize| r.get(at[k]).unwrap_or_default().to_string();
            if r.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let c = Correction {
                line,
                key: cell(0).trim().to_string(),
                column: cell(1).trim().to_string(),
                old: cell(2),
                new: cell(3),
                reason: cell(4).trim().to_string(),
            };
            for (what, empty) in
                [("key", c.key.is_empty()), ("column", c.column.is_empty()), ("reason", c.reason.is_empty())]
            {
                if empty {
                    problems.push(format!("{display}:{line}: the {what} is empty"));
                }
            }
            if let Some(earlier) = list.iter().find(|e: &&Correction| e.key == c.key && e.column == c.column) {
                problems.push(format!(
                    "{display}:{line}: `{}` of `{}` is already corrected on line {}: one correction per cell",
                    c.column, c.key, earlier.line
                ));
            }
            list.push(c);
        }
        if !problems.is_empty() {
            return Err(IngestError::Corrections(problems));
        }
        Ok(Corrections { file: display.to_string(), list })
    }
}

/// Whether a cell holding `now` holds the `old` value a correction gives: the same text,
/// or the same number (`30` and `30.0`), or the same words of a select_multiple in any
/// order.
pub(crate) fn holds(now: Option<&str>, old: &str) -> bool {
    let now = now.unwrap_or_default().trim();
    let old = old.trim();
    if now == old {
        return true;
    }
    if let (Ok(a), Ok(b)) = (now.parse::<f64>(), old.parse::<f64>()) {
        return a == b;
    }
    fn words(s: &str) -> Vec<&str> {
        let mut w: Vec<&str> = s.split_whitespace().collect();
        w.sort_unstable();
        w
    }
    words(now) == words(old) && now.contains(' ')
}

/// A correction applied, for the audit trail.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) correction: Correction,
    pub(crate) table: String,
    /// Whether the column holds personal data (its values stay out of `corrections.csv`).
    pub(crate) personal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_values_match_as_text_numbers_or_sets() {
        assert!(holds(Some("30"), "30.0"));
        assert!(holds(Some("a b"), "b a"));
        assert!(holds(None, ""));
        assert!(!holds(Some("31"), "30"));
        assert!(!holds(Some("ab"), "ba"));
        assert!(!holds(None, "0"));
    }
}
