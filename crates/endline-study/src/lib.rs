//! Running an analysis plan, stage by stage:
//!
//! 1. [`load`]: the data of each wave (simulated, or the plan's field exports) and the
//!    unit table;
//! 2. [`ingest`]: every wave checked against its survey version, typed, with its quality;
//! 3. [`panel`]: the waves stacked, the unit table joined, each outcome built (a question,
//!    a category indicator or an expression) on its scale, unit means at `level: unit`;
//! 4. [`estimate`]: each outcome's estimates;
//! 5. [`assemble`]: the typed [`StudyResults`] (`results.json`), every number the report
//!    shows.
//!
//! Everything is written under one directory the caller chooses (a staging directory that
//! the CLI renames into place), and every path recorded in an output is relative to it or
//! as the plan wrote it, so that two runs give the same bytes.

pub mod assemble;
pub mod estimate;
pub mod ingest;
pub mod linkage;
pub mod load;
pub mod panel;
pub mod results;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endline_analysis::AnalysisError;
use endline_plan::Plan;
use endline_survey::Survey;
use polars::prelude::PolarsError;

pub use crate::results::{SCHEMA_VERSION, StudyResults};

/// What went wrong while running a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// The data cannot support the plan (a wave that does not ingest, an outcome that
    /// cannot be logged, an estimate that cannot be identified).
    #[error("{0}")]
    Data(String),
}

impl From<AnalysisError> for RunError {
    fn from(e: AnalysisError) -> Self {
        RunError::Data(e.to_string())
    }
}

impl From<PolarsError> for RunError {
    fn from(e: PolarsError) -> Self {
        RunError::Data(e.to_string())
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    /// Every number of the report (results.json).
    pub results: StudyResults,
    /// The input files read, as the plan resolved them (for the manifest).
    pub inputs: Vec<PathBuf>,
}

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// The level of every test the report reads as a rejection (1 − LEVEL, written out).
pub const ALPHA: f64 = 0.05;

/// Runs the plan, writing field data (when simulated) and ingested waves under `out`.
/// `wave_surveys` holds the surveys of waves collected with another version than
/// `survey` (`endline_plan::Validation::wave_surveys`). `progress` hears each stage.
pub fn run(
    plan: &Plan,
    survey: &Survey,
    wave_surveys: &BTreeMap<i64, Survey>,
    out: &Path,
    progress: &dyn Fn(&str),
) -> Result<Run, RunError> {
    std::fs::create_dir_all(out).map_err(|e| RunError::Io(format!("cannot write {}: {e}", out.display())))?;
    let loaded = load::load(plan, survey, out, progress)?;
    let ingested = ingest::ingest(plan, survey, wave_surveys, &loaded, out, progress)?;
    progress("building the analysis panel");
    let panel = panel::build(plan, survey, &loaded, &ingested, out)?;
    let mut outcomes = Vec::new();
    for (o, column) in plan.outcomes.iter().zip(&panel.outcomes) {
        progress(&format!("estimating the effect on {}", o.name));
        outcomes.push(estimate::outcome(plan, survey, &panel, o, column, &loaded.truth)?);
    }
    let linkage = match &plan.linkage {
        None => None,
        Some(spec) => {
            progress("following households and members across waves");
            let dirs: Vec<PathBuf> =
                ingested.quality.iter().map(|w| out.join("data").join(w.wave.to_string())).collect();
            // A run keeps no personal data, so names are not compared here (`endline link`
            // compares them from an ingest's side tables).
            let spec = &endline_plan::plan::Linkage { name: None, ..spec.clone() };
            let (waves, _, _) = linkage::load(&dirs, survey, spec).map_err(RunError::Data)?;
            let l = endline_analysis::linkage::link(
                &waves,
                &endline_analysis::linkage::Options { age_tolerance: spec.age_tolerance },
            );
            Some(linkage::summary(&waves, &l, spec))
        }
    };
    let results = assemble::results(plan, survey, &ingested, &panel, outcomes, linkage)?;
    Ok(Run { results, inputs: loaded.inputs })
}
