use thiserror::Error;

/// What stops an ingest before any record is judged. Record-level problems are not
/// errors: they are [`Issue`](crate::Issue)s.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum IngestError {
    /// The command was called wrongly (unknown table, unknown encoding, bad file name).
    #[error("{0}")]
    Usage(String),
    /// A file cannot be read or written.
    #[error("{0}")]
    Io(String),
    /// A file is not in the declared encoding.
    #[error("{file}, line {line} (byte {byte}): {message}")]
    Encoding {
        /// The file.
        file: String,
        /// 1-based line of the first undecodable byte.
        line: usize,
        /// Its byte offset.
        byte: usize,
        /// What is wrong.
        message: String,
    },
    /// A file's structure is broken (ragged rows, truncation, invalid JSON).
    #[error("{file}, row {row}: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// 1-based record (0: the header or the whole file).
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// Corrections that cannot be applied, each `FILE:LINE: what` (none was applied).
    #[error("{}", .0.join("\n"))]
    Corrections(Vec<String>),
    /// `--on-error fail` and some records have errors.
    #[error("{0} records have errors; nothing was written (--on-error fail)")]
    Rejected(usize),
}

impl From<endline_output::OutputError> for IngestError {
    fn from(e: endline_output::OutputError) -> Self {
        match e {
            endline_output::OutputError::Io { .. } => IngestError::Io(e.to_string()),
            _ => IngestError::Usage(e.to_string()),
        }
    }
}
