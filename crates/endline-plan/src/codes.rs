//! Every diagnostic code the plan validator emits. The YAML-level codes are the survey
//! validator's (the same words mean the same thing); the rest are the plan's own.

use endline_diag::Code;
pub use endline_survey::codes::{
    DUPLICATE_KEY, INVALID_VALUE, MISSING_KEY, UNKNOWN_KEY, YAML_SYNTAX, YAML_UNSUPPORTED,
};

/// A question the plan names is not in the survey, or not of a usable type.
pub const UNKNOWN_QUESTION: Code = Code::new("unknown-question");
/// A file the plan names (survey, data, treatment table, template) does not exist.
pub const FILE_NOT_FOUND: Code = Code::new("file-not-found");
/// The survey the plan names is not valid (its own diagnostics follow).
pub const INVALID_SURVEY: Code = Code::new("invalid-survey");
/// An outcome estimated on the log scale can be zero or negative.
pub const LOG_OF_ZERO: Code = Code::new("log-of-zero");
/// A covariate, subgroup or cluster that does not exist at the plan's level of analysis.
pub const NOT_AT_LEVEL: Code = Code::new("not-at-level");
/// A variable the plan uses changes between survey versions in a way no declaration
/// harmonises.
pub const NOT_HARMONISED: Code = Code::new("not-harmonised");
/// A choice the format defines but endline does not implement yet.
pub const UNSUPPORTED: Code = Code::new("unsupported");

/// Every code of this catalogue, shared ones included.
pub const ALL: &[Code] = &[
    YAML_SYNTAX,
    YAML_UNSUPPORTED,
    DUPLICATE_KEY,
    UNKNOWN_KEY,
    MISSING_KEY,
    INVALID_VALUE,
    UNKNOWN_QUESTION,
    FILE_NOT_FOUND,
    INVALID_SURVEY,
    LOG_OF_ZERO,
    NOT_AT_LEVEL,
    NOT_HARMONISED,
    UNSUPPORTED,
];
