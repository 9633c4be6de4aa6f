use thiserror::Error;

/// Everything that can stop an estimation. Each message states the rule and the value
/// that broke it; the CLI maps them to exit codes (all are "input read but cannot be
/// estimated", exit 1, except where the caller decides otherwise).
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The formula does not parse.
    #[error("invalid formula: {message}")]
    Formula {
        /// What is wrong.
        message: String,
        /// Byte offset in the formula where it went wrong.
        at: usize,
    },
    /// A column the specification names is not in the table.
    #[error("no column `{name}` in the data{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownColumn {
        /// The column asked for.
        name: String,
        /// The closest existing column.
        suggestion: Option<String>,
    },
    /// A column has a type the role cannot use.
    #[error("column `{name}` {problem}")]
    ColumnType {
        /// The column.
        name: String,
        /// What is wrong with its type.
        problem: String,
    },
    /// Weights must be finite and non-negative.
    #[error("weights column `{name}` has the value {value} in row {row}; weights must be finite and non-negative")]
    InvalidWeight {
        /// The column.
        name: String,
        /// The offending value.
        value: f64,
        /// 1-based row.
        row: usize,
    },
    /// Nothing left to estimate on.
    #[error("no observations left: {reason}")]
    NoObservations {
        /// Why (missing values, singletons, zero weights).
        reason: String,
    },
    /// The model cannot be identified.
    #[error("{0}")]
    NotIdentified(String),
    /// An invalid option.
    #[error("{0}")]
    Invalid(String),
    /// polars failed to read a column.
    #[error("data error: {0}")]
    Data(String),
}

impl From<polars::error::PolarsError> for AnalysisError {
    fn from(e: polars::error::PolarsError) -> Self {
        AnalysisError::Data(e.to_string())
    }
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, AnalysisError>;
