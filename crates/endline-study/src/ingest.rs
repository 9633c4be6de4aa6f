//! Stage 2: every wave ingested against its survey version. A study's output holds no
//! personal data: no PII side tables or rejects (`endline ingest` writes those), and a
//! personal key is pseudonymised, with the plan's secret (a simulation's own, derived
//! from its seed: its data are synthetic).

use std::collections::BTreeMap;
use std::path::Path;

use endline_ingest::IngestError;
use endline_ingest::ingest::Options;
use endline_ingest::ingest_to;
use endline_ingest::pii::Pseudonyms;
use endline_plan::Plan;
use endline_plan::plan::Data;
use endline_survey::Survey;
use polars::prelude::*;

use crate::RunError;
use crate::load::Loaded;
use crate::results::{IssueCount, TableCounts, WaveQuality, WaveSurvey};

/// The ingested waves.
pub struct Ingested {
    /// Each wave's household table.
    pub frames: Vec<DataFrame>,
    /// What ingest found.
    pub quality: Vec<WaveQuality>,
    /// Each wave's survey version.
    pub versions: Vec<WaveSurvey>,
}

/// Ingests every wave into `out/data/<wave>/`.
pub fn ingest(
    plan: &Plan,
    survey: &Survey,
    wave_surveys: &BTreeMap<i64, Survey>,
    loaded: &Loaded,
    out: &Path,
    progress: &dyn Fn(&str),
) -> Result<Ingested, RunError> {
    let personal_key = std::iter::once(survey).chain(wave_surveys.values()).any(Survey::key_is_pii);
    let pseudonyms = match (&plan.data, &plan.pii_secret) {
        _ if !personal_key => None,
        (Data::Simulate(study), _) => Some(Pseudonyms::new(format!("endline simulation {}", study.seed).as_bytes())),
        // (Not among the manifest's inputs: nothing derived from the secret is published.)
        (Data::Waves(_), Some(path)) => {
            Some(endline_ingest::pii::secret_file(path, false).map_err(|e| RunError::Io(e.to_string()))?)
        }
        (Data::Waves(_), None) => return Err(RunError::Data("the plan names no `pii_secret`".into())),
    };
    let mut done = Ingested { frames: Vec::new(), quality: Vec::new(), versions: Vec::new() };
    let main = survey;
    for (wave, files) in &loaded.waves {
        let survey = wave_surveys.get(wave).unwrap_or(survey);
        progress(&format!("ingesting wave {wave} (survey {} version {})", survey.id(), survey.version()));
        done.versions.push(WaveSurvey {
            wave: *wave,
            survey: survey.id().to_string(),
            version: survey.version().to_string(),
        });
        let opts = Options {
            wave: wave.to_string(),
            pseudonyms: pseudonyms.clone(),
            personal_data: false,
            ..Options::default()
        };
        // An unreadable file is an I/O failure (exit 2); data that fail the survey under
        // `--on-error reject` never get here, they are rejects.
        let dir = out.join("data").join(wave.to_string());
        let report = ingest_to(survey, files, &opts, &dir).map_err(|e| match e {
            IngestError::Io(_) | IngestError::Usage(_) => RunError::Io(format!("wave {wave}: {e}")),
            _ => RunError::Data(format!("wave {wave}: {e}")),
        })?;
        let counts = &report.counts;
        if let Some(why) = endline_ingest::too_many_rejected(counts, None) {
            return Err(RunError::Data(format!("wave {wave}: {why}")));
        }
        let mut by_rule: BTreeMap<(String, &str), usize> = BTreeMap::new();
        for c in &report.issue_counts {
            *by_rule.entry((c.rule.clone(), c.severity.as_str())).or_default() += c.count;
        }
        done.quality.push(WaveQuality {
            wave: *wave,
            tables: counts
                .iter()
                .map(|(t, c)| TableCounts {
                    table: t.to_string(),
                    rows_in: c.rows_in,
                    rows_written: c.rows_written,
                    rows_rejected: c.rows_rejected,
                })
                .collect(),
            issues: by_rule
                .into_iter()
                .map(|((rule, severity), count)| IssueCount { rule, severity: severity.to_string(), count })
                .collect(),
            harmonised: Vec::new(),
        });
        let path = dir.join(format!("{}.parquet", survey.id()));
        let file =
            std::fs::File::open(&path).map_err(|e| RunError::Io(format!("cannot read {}: {e}", path.display())))?;
        let mut frame = ParquetReader::new(file).finish()?;
        // A wave of another survey version, lined up with the plan's survey.
        if survey.version() != main.version() {
            let (lined_up, applied) = endline_ingest::harmonise::harmonise(frame, Some(survey), main).map_err(|e| {
                RunError::Data(format!("wave {wave}: harmonising with version {}: {e}", main.version()))
            })?;
            frame = lined_up;
            if let Some(q) = done.quality.last_mut() {
                q.harmonised = applied;
            }
        }
        done.frames.push(frame);
    }
    Ok(done)
}
