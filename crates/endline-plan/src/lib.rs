//! Analysis plans (`analysis/*.yaml`): what a study estimates and reports.
//!
//! [`plan::validate`] reads a plan with the same diagnostics as a survey (file, line and
//! column, every problem in one run, did-you-mean help) and checks every name it uses
//! against the survey it names. [`run::run`] runs a valid plan: simulate when the plan
//! says so, ingest every wave, build the analysis panel, estimate, and return
//! [`run::Results`], every number the report shows. Rendering is endline-report's.

pub mod codes;
pub mod plan;
pub mod run;

pub use plan::{Plan, Validation, validate};
pub use run::{Results, RunError, run};
