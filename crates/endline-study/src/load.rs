//! Stage 1: the data of each wave and the unit table, simulated or from the field.

use std::path::{Path, PathBuf};

use endline_ingest::ingest::Input;
use endline_plan::Plan;
use endline_plan::plan::Data;
use endline_simulate::Truth;
use endline_survey::Survey;

use crate::RunError;

/// What the run reads.
#[derive(Debug)]
pub struct Loaded {
    /// Each wave's export files.
    pub waves: Vec<(i64, Vec<Input>)>,
    /// The unit table.
    pub unit_table: PathBuf,
    /// What a simulation planted (empty for field data).
    pub truth: Vec<Truth>,
    /// Field inputs, for the manifest.
    pub inputs: Vec<PathBuf>,
}

/// Simulates the study into `out/field/`, or lists the plan's field exports.
pub fn load(plan: &Plan, survey: &Survey, out: &Path, progress: &dyn Fn(&str)) -> Result<Loaded, RunError> {
    match &plan.data {
        Data::Simulate(study) => {
            progress(&format!(
                "simulating {} {} x {} households x {} waves",
                study.units,
                plan.unit.plural,
                study.households_per_unit,
                study.waves.len()
            ));
            let field = out.join("field");
            let sim = endline_simulate::simulate(survey, study, &field).map_err(|e| match e {
                endline_simulate::SimulateError::Io(m) => RunError::Io(m),
                other => RunError::Data(other.to_string()),
            })?;
            let waves = study
                .waves
                .iter()
                .map(|w| Ok((*w, wave_files(&field.join(w.to_string()), &format!("field/{w}"))?)))
                .collect::<Result<_, RunError>>()?;
            Ok(Loaded { waves, unit_table: field.join("units.csv"), truth: sim.truth, inputs: Vec::new() })
        }
        Data::Waves(waves) => {
            let mut inputs = Vec::new();
            let waves = waves
                .iter()
                .map(|w| {
                    inputs.extend(w.survey.iter().cloned());
                    inputs.extend(w.files.iter().cloned());
                    let files = w
                        .files
                        .iter()
                        .map(|p| Input { table: None, path: p.clone(), display: p.display().to_string() })
                        .collect();
                    (w.wave, files)
                })
                .collect();
            let table = plan.unit.table.clone().unwrap_or_default();
            inputs.push(table.clone());
            Ok(Loaded { waves, unit_table: table, truth: Vec::new(), inputs })
        }
    }
}

/// The export files of one wave directory, in name order, displayed as `display/<name>`.
fn wave_files(dir: &Path, display: &str) -> Result<Vec<Input>, RunError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| RunError::Io(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| Input { table: None, path: dir.join(&n), display: format!("{display}/{n}") })
        .collect())
}
