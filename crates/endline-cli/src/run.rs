//! `endline run`: a whole study from its analysis plan, into `<out>/<plan>/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use endline_output::{Kind, OutDir};
use endline_plan::Validation;
use endline_plan::plan::Data;
use endline_report::render::{Template, format_number, format_p_relation, render};
use endline_study::StudyResults;
use endline_study::results::{FileHash, Reproducibility, SurveyVersion};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::{DiagFormat, read_source, render as render_diagnostics};

/// Arguments of `endline run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The analysis plan (analysis/*.yaml).
    pub plan: PathBuf,
    /// Where outputs go: the study is written to `<out>/<plan id>/`, replacing an earlier
    /// run's output of the same plan only once the new one is complete. A `<out>/<plan
    /// id>/` that holds anything endline did not write is refused, never replaced.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
}

/// A file's SHA-256, read in pieces (inputs include every wave's exports).
fn sha256(path: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    std::fs::File::open(path)
        .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize().iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Every file under `dir`, as sorted paths relative to it.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A path as recorded in outputs: forward slashes, whatever the platform.
fn shown(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// A plan that validated, with its surveys.
pub(crate) struct ValidPlan {
    pub plan: endline_plan::Plan,
    pub survey: endline_survey::Survey,
    pub wave_surveys: std::collections::BTreeMap<i64, endline_survey::Survey>,
}

/// Reads and validates a plan, printing every diagnostic of it and its surveys to
/// stderr; None (after saying so) when it has errors.
pub(crate) fn valid_plan(path: &Path, color: bool) -> anyhow::Result<Option<ValidPlan>> {
    let file = read_source(path)?;
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let Validation { plan, survey, wave_surveys, diagnostics, survey_diagnostics } =
        endline_plan::validate(&file, &base);
    let color = color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut rendered = render_diagnostics(&file, &diagnostics, DiagFormat::Human, color);
    for (sf, ds) in &survey_diagnostics {
        rendered.push_str(&render_diagnostics(sf, ds, DiagFormat::Human, color));
    }
    eprint!("{rendered}");
    match (plan, survey) {
        (Some(plan), Some(survey)) => Ok(Some(ValidPlan { plan, survey, wave_surveys })),
        _ => {
            error!("{} is not a valid plan; fix the errors above first", file.name());
            Ok(None)
        }
    }
}

pub fn run(args: &RunArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(ValidPlan { plan, survey, wave_surveys }) = valid_plan(&args.plan, color)? else {
        return Ok(Outcome::Invalid);
    };
    let survey = &survey;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stages = std::cell::Cell::new(0);
    let progress = |what: &str| {
        stages.set(stages.get() + 1);
        if terminal {
            eprintln!("[{:>2}] {what}", stages.get());
        }
    };
    let final_dir = args.out.join(&plan.id);
    // Every input the plan names: the study's output may not hold (and so replace) one.
    let mut protected: Vec<&Path> = vec![args.plan.as_path(), plan.survey.as_path()];
    protected.extend(plan.templates.iter().map(PathBuf::as_path));
    protected.extend(plan.unit.table.as_deref());
    protected.extend(plan.pii_secret.as_deref());
    if let Data::Waves(waves) = &plan.data {
        for w in waves {
            protected.extend(w.survey.as_deref());
            protected.extend(w.files.iter().map(PathBuf::as_path));
        }
    }
    let claim = OutDir::claim(&final_dir, Kind::Study, Some(&plan.id), &protected)?;
    let staging = claim.staging().to_path_buf();
    let run = match endline_study::run(&plan, survey, &wave_surveys, &staging, &progress) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return Ok(match e {
                endline_study::RunError::Io(_) => Outcome::Failure,
                _ => Outcome::Invalid,
            });
        }
    };
    let mut results = run.results;
    // The reproducibility record: inputs by content, the version, the seed, the command.
    let mut inputs = vec![args.plan.clone(), plan.survey.clone()];
    inputs.extend(plan.templates.iter().cloned());
    inputs.extend(run.inputs.iter().cloned());
    let inputs: Vec<FileHash> =
        inputs.iter().map(|p| Ok(FileHash { path: shown(p), sha256: sha256(p)? })).collect::<anyhow::Result<_>>()?;
    let command: Vec<String> = std::iter::once("endline".to_string()).chain(std::env::args().skip(1)).collect();
    let seed = match &plan.data {
        Data::Simulate(s) => Some(s.seed),
        Data::Waves(_) => None,
    };
    let reproducibility = Reproducibility {
        endline_version: env!("CARGO_PKG_VERSION").to_string(),
        command,
        seed,
        survey: SurveyVersion { id: survey.id().to_string(), version: survey.version().to_string() },
        wave_surveys: results.wave_surveys.clone(),
        inputs,
    };
    results.reproducibility = Some(reproducibility.clone());
    let json = serde_json::to_value(&results)?;
    progress("rendering the report");
    let templates: Vec<Template> = plan
        .templates
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(Template { name, text })
        })
        .collect::<anyhow::Result<_>>()?;
    let rendered = match render(&templates, &json) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Invalid);
        }
    };
    let write = |name: &str, text: &str| {
        let p = staging.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write("results.json", &format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    for (name, text) in &rendered {
        write(name, text)?;
    }
    let outputs: Vec<serde_json::Value> = files_under(&staging)?
        .iter()
        .map(|p| Ok(json!({"path": shown(p), "sha256": sha256(&staging.join(p))?})))
        .collect::<anyhow::Result<_>>()?;
    let mut manifest = serde_json::to_value(&reproducibility)?;
    manifest["plan"] = json!(plan.id);
    manifest["outputs"] = json!(outputs);
    write("manifest.json", &format!("{}\n", serde_json::to_string_pretty(&manifest)?))?;
    // Only a complete run replaces the previous one.
    claim.commit()?;
    print(&summary(&results, &final_dir, &rendered))?;
    Ok(Outcome::Success)
}

/// The one-screen answer: each outcome's main estimate in its reading, and where the
/// report is.
fn summary(r: &StudyResults, dir: &Path, rendered: &[(String, String)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", r.plan.title);
    for o in &r.outcomes {
        let e = &o.cs.aggregates.simple;
        let n = |v: f64| format_number(Some(v * o.reading.multiplier), o.reading.decimals as usize);
        let q = format_p_relation(Some(o.cs.q_value));
        let _ = write!(
            s,
            "  {:<28} ATT {:>7} {}  95% CI [{}, {}]  q {q}",
            o.label,
            n(e.att),
            o.reading.unit,
            n(e.conf_low),
            n(e.conf_high),
        );
        if let Some(t) = &o.truth {
            let _ = write!(s, "  (true {})", n(t.att));
        }
        s.push('\n');
    }
    for (name, _) in rendered {
        let _ = writeln!(s, "report: {}", dir.join(name).display());
    }
    let _ = writeln!(s, "results: {}", dir.join("results.json").display());
    s
}
