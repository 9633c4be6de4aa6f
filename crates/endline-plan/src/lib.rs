//! Analysis plans: what a study estimates and reports (its unit, outcomes, estimators and
//! report), read with file:line:column diagnostics and checked against its survey before
//! anything runs. The language only: `endline-study` runs a plan.

mod checks;
pub mod codes;
pub mod plan;

pub use plan::{Plan, Validation, validate};
