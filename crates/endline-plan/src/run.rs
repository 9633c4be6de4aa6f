//! Running a plan: simulate (when the plan says so) → ingest every wave → build the
//! analysis panel → estimate → [`Results`], every number the report shows.
//!
//! Everything is written under one directory the caller chooses (a staging directory
//! that the CLI renames into place), and every path recorded in an output is relative to
//! it or as the plan wrote it, so that two runs give the same bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endline_analysis::aggregate::{AggregateSpec, add_log, aggregate, left_join, stack};
use endline_analysis::balance::balance;
use endline_analysis::data;
use endline_analysis::did::bacon;
use endline_analysis::did::cs::{self, BasePeriod, Control, CsOptions, CsResult, Effect};
use endline_analysis::did::drdid::EstMethod;
use endline_analysis::did::panel::{self, Panel, PanelSpec};
use endline_analysis::did::{sa, twfe};
use endline_analysis::inference::chi2_p_value;
use endline_analysis::multiple::benjamini_hochberg;
use endline_analysis::{AnalysisError, Vcov};
use endline_ingest::IngestError;
use endline_ingest::ingest::{Input, Options};
use endline_ingest::ingest_to;
use endline_ingest::pii::Pseudonyms;
use endline_survey::Survey;
use polars::prelude::*;
use serde_json::{Value, json};

use crate::plan::{ControlGroup, Correction, Data, Estimator, Level, Plan};

/// What went wrong while running a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// The data cannot support the plan (a wave that does not ingest, an estimate that
    /// cannot be identified).
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

/// The outcome of a run.
#[derive(Debug)]
pub struct Results {
    /// Every number of the report (results.json).
    pub json: Value,
    /// The input files read, relative paths as the plan resolved them (for the manifest).
    pub inputs: Vec<PathBuf>,
}

/// A wave and its export files.
type Wave = (i64, Vec<Input>);

/// The confidence level of every interval.
const LEVEL: f64 = 0.95;
/// The level of every test the report reads as a rejection (1 − LEVEL, written out).
const ALPHA: f64 = 0.05;
/// Columns the run adds to the household table.
const WAVE: &str = "wave";
const PROGRAMME: &str = "programme";

/// Runs the plan, writing field data (when simulated) and ingested waves under `out`.
/// `wave_surveys` holds the surveys of waves collected with another version than
/// `survey` ([`crate::Validation::wave_surveys`]). `progress` hears each stage.
pub fn run(
    plan: &Plan,
    survey: &Survey,
    wave_surveys: &BTreeMap<i64, Survey>,
    out: &Path,
    progress: &dyn Fn(&str),
) -> Result<Results, RunError> {
    let io = |what: &Path, e: std::io::Error| RunError::Io(format!("cannot write {}: {e}", what.display()));
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut inputs = Vec::new();
    // 1. The data of each wave, and the county table.
    let (waves, county_table, truth): (Vec<Wave>, PathBuf, Vec<(String, f64)>) = match &plan.data {
        Data::Simulate(study) => {
            progress(&format!(
                "simulating {} counties x {} households x {} waves",
                study.counties,
                study.households_per_county,
                study.waves.len()
            ));
            let field = out.join("field");
            endline_simulate::simulate(survey, study, &field).map_err(|e| match e {
                endline_simulate::SimulateError::Io(m) => RunError::Io(m),
                other => RunError::Data(other.to_string()),
            })?;
            let waves = study
                .waves
                .iter()
                .map(|w| Ok((*w, wave_files(&field.join(w.to_string()), &format!("field/{w}"))?)))
                .collect::<Result<_, RunError>>()?;
            (waves, field.join("counties.csv"), study.effects.clone())
        }
        Data::Waves(waves) => {
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
            let table = plan.treatment.table.clone().unwrap_or_default();
            inputs.push(table.clone());
            (waves, table, Vec::new())
        }
    };
    // 2. Ingest every wave. A study's output holds no personal data: no PII side tables or
    // rejects (`endline ingest` writes those), and a personal key is pseudonymised, with
    // the plan's secret (a simulation's own, derived from its seed: its data are synthetic).
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
    let mut quality = Vec::new();
    let mut frames = Vec::new();
    let mut versions = Vec::new();
    for (wave, files) in &waves {
        let survey = wave_surveys.get(wave).unwrap_or(survey);
        progress(&format!("ingesting wave {wave} (survey {} version {})", survey.id(), survey.version()));
        versions.push(json!({"wave": wave, "survey": survey.id(), "version": survey.version()}));
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
        quality.push(json!({
            "wave": wave,
            "tables": counts.iter().map(|(t, c)| json!({"table": t, "rows_in": c.rows_in,
                "rows_written": c.rows_written, "rows_rejected": c.rows_rejected})).collect::<Vec<_>>(),
            "issues": by_rule.iter().map(|((rule, severity), n)| json!({"rule": rule, "severity": severity, "count": n})).collect::<Vec<_>>(),
        }));
        let path = dir.join(format!("{}.parquet", survey.id()));
        let file =
            std::fs::File::open(&path).map_err(|e| RunError::Io(format!("cannot read {}: {e}", path.display())))?;
        frames.push(ParquetReader::new(file).finish()?);
    }
    // 3. The analysis panel: waves stacked, the county table joined, logs added.
    progress("building the analysis panel");
    let mut df = stack(frames)?;
    let counties = endline_analysis::data::read_table(&county_table).map_err(RunError::Io)?;
    let key = plan.treatment.key.as_str();
    df = left_join(df, counties, key)?;
    let first = data::numeric(&df, &plan.treatment.first_treated)?;
    let cohort: Vec<i64> = first.iter().map(|g| if g.is_nan() { 0 } else { *g as i64 }).collect();
    let wave: Vec<i64> =
        data::text(&df, "_wave")?.iter().map(|w| w.as_deref().and_then(|w| w.parse().ok()).unwrap_or(0)).collect();
    df.with_column(Column::new(WAVE.into(), wave))?;
    df.with_column(Column::new("cohort".into(), cohort.clone()))?;
    df.with_column(Column::new(PROGRAMME.into(), cohort.iter().map(|g| i64::from(*g > 0)).collect::<Vec<_>>()))?;
    let mut variables = Vec::new();
    for o in &plan.outcomes {
        variables.push(if o.log { add_log(&mut df, &o.name)? } else { o.name.clone() });
    }
    let household_panel = df.clone();
    let unit = match plan.level {
        Level::Household => survey.key().to_string(),
        Level::County => key.to_string(),
    };
    if plan.level == Level::County {
        df = county_means(&df, key, &variables, &plan.covariates, plan.weights.as_deref())?;
    }
    write_parquet(&mut df, &out.join("panel.parquet"))?;
    let weights = match plan.level {
        Level::Household => plan.weights.clone(),
        Level::County => None,
    };
    let spec = |outcome: &str, covariates: &[String]| PanelSpec {
        outcome: outcome.to_string(),
        unit: unit.clone(),
        time: WAVE.into(),
        cohort: "cohort".into(),
        covariates: covariates.to_vec(),
        weights: weights.clone(),
        cluster: Some(key.to_string()),
    };
    // 4. Estimates, outcome by outcome.
    let all_waves = sorted_unique(&data::numeric(&df, WAVE)?.iter().map(|w| *w as i64).collect::<Vec<_>>());
    let sample = sample_json(df.height(), &household_panel, key, survey.key())?;
    let mut outcomes = Vec::new();
    let mut p_values = Vec::new();
    for (o, var) in plan.outcomes.iter().zip(&variables) {
        progress(&format!("estimating the effect on {}", o.name));
        let main_opts = cs_options(plan.control);
        let main_panel = panel::build(&df, &spec(var, &plan.covariates))?;
        let main = cs::estimate(&main_panel, &main_opts)?;
        let p = p_value(&main.simple);
        p_values.push(p);
        let mut robustness = Vec::new();
        let other = match plan.control {
            ControlGroup::Never => ControlGroup::Notyet,
            ControlGroup::Notyet => ControlGroup::Never,
        };
        robustness.push(robust_cs(&format!("{} controls", control_name(other)), Ok(&main_panel), other));
        if !plan.covariates.is_empty() {
            let unconditional = panel::build(&df, &spec(var, &[]));
            robustness.push(robust_cs(
                "no covariates (unconditional parallel trends)",
                unconditional.as_ref().map_err(Clone::clone),
                plan.control,
            ));
        }
        if plan.estimators.contains(&Estimator::Twfe) {
            let r = twfe::static_twfe(&df, &spec(var, &[]), &twfe::RegressionOptions::default()).and_then(|fit| {
                // The treatment dummy is the only regressor; absorbed, it has no estimate.
                let c = fit.coefficients.first().ok_or_else(|| {
                    AnalysisError::NotIdentified("the treatment indicator is collinear with the fixed effects".into())
                })?;
                Ok(json!({"estimate": c.estimate, "std_error": c.std_error, "conf_low": c.conf_low, "conf_high": c.conf_high, "pretrend_p": Value::Null}))
            });
            robustness.push(labelled("static two-way fixed effects", r));
        }
        if plan.estimators.contains(&Estimator::Sa) {
            let r = sa::estimate(&df, &spec(var, &[])).map(|s| {
                json!({"estimate": s.overall.estimate, "std_error": s.overall.std_error, "conf_low": s.overall.conf_low,
                       "conf_high": s.overall.conf_high, "pretrend_p": s.pretrend_test.map(|t| t.p_value)})
            });
            robustness.push(labelled("Sun & Abraham (interaction-weighted)", r));
        }
        let bacon = if plan.estimators.contains(&Estimator::Bacon) {
            Some(bacon_json(&household_panel, key, var, plan.weights.as_deref()))
        } else {
            None
        };
        let mut subgroups = Vec::new();
        for g in &plan.subgroups {
            subgroups.extend(subgroup_json(survey, &df, g, &spec(var, &plan.covariates), plan.control)?);
        }
        let planted = truth.iter().find(|(n, _)| *n == o.name).map(|(_, e)| *e);
        let means = group_means(&household_panel, var, plan.weights.as_deref())?;
        outcomes.push(json!({
            "name": o.name,
            "label": o.label,
            "log": o.log,
            "variable": var,
            "trends": trends_json(&means, &all_waves),
            "naive": naive_json(&means, o.log, &all_waves, first_cohort(&cohort)),
            "cs": cs_json(&main, p),
            "robustness": robustness,
            "bacon": bacon,
            "subgroups": subgroups,
            "truth": planted.map(|t| json!({"effect": t, "covered": main.simple.conf_low <= t && t <= main.simple.conf_high})),
        }));
    }
    let q = match plan.correction {
        Correction::Bh => benjamini_hochberg(&p_values),
        Correction::None => p_values.clone(),
    };
    for (o, q) in outcomes.iter_mut().zip(q) {
        o["cs"]["q_value"] = json!(q);
    }
    let base_wave = all_waves.first().copied().unwrap_or(0);
    let json = json!({
        "plan": {
            "id": plan.id, "title": plan.title, "question": plan.question, "programme": plan.programme,
            "level": plan.level, "control": plan.control, "covariates": plan.covariates, "weights": plan.weights,
            "estimators": plan.estimators, "subgroups": plan.subgroups, "correction": plan.correction,
            "simulated": matches!(plan.data, Data::Simulate(_)),
        },
        "survey": {"id": survey.id(), "version": survey.version(), "title": survey.title().map(|t| t.default_text())},
        "wave_surveys": versions,
        "confidence_level": LEVEL * 100.0,
        "significance_level": ALPHA,
        "waves": all_waves,
        "data_quality": quality,
        "sample": sample,
        "balance": balance_json(&household_panel, base_wave, plan, &variables, key)?,
        "outcomes": outcomes,
    });
    Ok(Results { json, inputs })
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

fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), RunError> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(df)?;
    std::fs::write(path, bytes).map_err(|e| RunError::Io(format!("cannot write {}: {e}", path.display())))
}

fn sorted_unique(v: &[i64]) -> Vec<i64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

fn first_cohort(cohort: &[i64]) -> Option<i64> {
    cohort.iter().copied().filter(|g| *g > 0).min()
}

/// County × wave survey-weighted means of the outcomes and covariates.
fn county_means(
    df: &DataFrame,
    key: &str,
    variables: &[String],
    covariates: &[String],
    weights: Option<&str>,
) -> Result<DataFrame, RunError> {
    let spec = AggregateSpec {
        by: vec![key.to_string(), WAVE.into()],
        means: variables.iter().chain(covariates).cloned().collect(),
        constants: vec!["cohort".into(), PROGRAMME.into()],
        weights: weights.map(str::to_string),
    };
    Ok(aggregate(df, &spec)?)
}

fn control_name(c: ControlGroup) -> &'static str {
    match c {
        ControlGroup::Never => "never-treated",
        ControlGroup::Notyet => "not-yet-treated",
    }
}

fn cs_options(control: ControlGroup) -> CsOptions {
    CsOptions {
        control: match control {
            ControlGroup::Never => Control::Never,
            ControlGroup::Notyet => Control::Notyet,
        },
        est_method: EstMethod::Dr,
        base_period: BasePeriod::Varying,
        anticipation: 0,
        bootstrap: None,
        alpha: ALPHA,
    }
}

/// The two-sided normal p-value of an effect: P(|Z| > |z|) = P(χ²₁ > z²).
fn p_value(e: &Effect) -> f64 {
    if e.std_error > 0.0 { chi2_p_value((e.att / e.std_error).powi(2), 1) } else { f64::NAN }
}

fn effect_json(e: &Effect) -> Value {
    json!({"estimate": e.att, "std_error": e.std_error, "conf_low": e.conf_low, "conf_high": e.conf_high})
}

fn cs_json(r: &CsResult, p: f64) -> Value {
    let by = |a: &cs::Aggregate, key: &str| -> Vec<Value> {
        a.by.iter()
            .map(|b| {
                let mut v = effect_json(&b.effect);
                v[key] = json!(b.index);
                v
            })
            .collect()
    };
    json!({
        "simple": effect_json(&r.simple),
        "p_value": p,
        "dynamic": {"overall": effect_json(&r.dynamic.overall), "by": by(&r.dynamic, "event_time")},
        "group": {"overall": effect_json(&r.group.overall), "by": by(&r.group, "cohort")},
        "calendar": {"overall": effect_json(&r.calendar.overall), "by": by(&r.calendar, "wave")},
        "pretrend_test": r.pretrend_test.map(|t| json!({"statistic": t.statistic, "df": t.df, "p_value": t.p_value})),
        "n_units": r.n_units,
        "cohorts": r.cohorts.iter().map(|c| json!({"cohort": c.cohort, "units": c.units})).collect::<Vec<_>>(),
        "warnings": r.warnings,
    })
}

/// A robustness row: its name and estimate, or why it could not be estimated.
fn labelled(name: &str, r: Result<Value, AnalysisError>) -> Value {
    match r {
        Ok(mut v) => {
            v["name"] = json!(name);
            v
        }
        Err(e) => json!({"name": name, "error": e.to_string()}),
    }
}

/// Callaway & Sant'Anna's simple ATT on a panel with another comparison group, or why
/// the panel could not be built.
fn robust_cs(name: &str, panel: Result<&Panel, AnalysisError>, control: ControlGroup) -> Value {
    let r = panel.and_then(|p| cs::estimate(p, &cs_options(control))).map(|r| {
        let mut v = effect_json(&r.simple);
        v["pretrend_p"] = json!(r.pretrend_test.map(|t| t.p_value));
        v
    });
    labelled(name, r)
}

/// The Goodman-Bacon decomposition, on county × wave means (it needs a balanced panel).
fn bacon_json(households: &DataFrame, key: &str, var: &str, weights: Option<&str>) -> Value {
    let r = county_means(households, key, &[var.to_string()], &[], weights)
        .map_err(|e| AnalysisError::Invalid(e.to_string()))
        .and_then(|c| {
            let spec = PanelSpec {
                outcome: var.to_string(),
                unit: key.to_string(),
                time: WAVE.into(),
                cohort: "cohort".into(),
                covariates: Vec::new(),
                weights: None,
                cluster: None,
            };
            bacon::decompose(&panel::build(&c, &spec)?)
        });
    match r {
        Ok(b) => json!({
            "twfe": b.twfe,
            "by_kind": b.by_kind.iter().map(|(k, w, a)| json!({"kind": k, "weight": w, "estimate": a})).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// The main estimate within each level of a subgroup variable.
fn subgroup_json(
    survey: &Survey,
    df: &DataFrame,
    var: &str,
    spec: &PanelSpec,
    control: ControlGroup,
) -> Result<Vec<Value>, RunError> {
    // Levels sorted numerically, whole numbers as integers (a county mean of a 0/1
    // attribute is stored as 1.0).
    let factor = data::factor(df, var)?;
    let choice_label = |v: &str| -> String {
        survey
            .item(var)
            .and_then(|i| survey.choices_of(i))
            .and_then(|l| l.choices().iter().find(|c| c.value().as_text() == v))
            .map_or_else(|| format!("{var} = {v}"), |c| c.label().default_text().to_string())
    };
    // The covariates stay in the model only where they vary within the subgroup.
    let mut out = Vec::new();
    for (code, level) in factor.levels.iter().enumerate() {
        let level = level.to_string();
        let mask: BooleanChunked = factor.codes.iter().map(|c| *c as usize == code).collect();
        let sub = df.filter(&mask)?;
        let covariates: Vec<String> = spec
            .covariates
            .iter()
            .filter(|c| data::numeric(&sub, c).is_ok_and(|v| v.iter().any(|x| *x != v[0])))
            .cloned()
            .collect();
        let s = PanelSpec { covariates, ..spec.clone() };
        let r = panel::build(&sub, &s).and_then(|p| {
            let r = cs::estimate(&p, &cs_options(control))?;
            let mut v = effect_json(&r.simple);
            v["n_units"] = json!(r.n_units);
            Ok(v)
        });
        let mut v = labelled(&choice_label(&level), r);
        v["variable"] = json!(var);
        v["value"] = json!(level);
        out.push(v);
    }
    Ok(out)
}

/// Programme and comparison households' weighted mean of an outcome, by wave.
type GroupMeans = BTreeMap<(i64, bool), f64>;

/// Weighted mean of `var` by wave, for programme and comparison households.
fn group_means(df: &DataFrame, var: &str, weights: Option<&str>) -> Result<GroupMeans, RunError> {
    let spec = AggregateSpec {
        by: vec![WAVE.into(), PROGRAMME.into()],
        means: vec![var.to_string()],
        constants: Vec::new(),
        weights: weights.map(str::to_string),
    };
    let m = aggregate(df, &spec)?;
    let (wave, prog, y) = (data::numeric(&m, WAVE)?, data::numeric(&m, PROGRAMME)?, data::numeric(&m, var)?);
    Ok((0..m.height()).filter(|&i| y[i].is_finite()).map(|i| ((wave[i] as i64, prog[i] == 1.0), y[i])).collect())
}

fn trends_json(m: &GroupMeans, waves: &[i64]) -> Vec<Value> {
    waves
        .iter()
        .map(|w| json!({"wave": w, "programme": m.get(&(*w, true)), "comparison": m.get(&(*w, false))}))
        .collect()
}

/// The naive comparison: yearly growth of programme and comparison households over the
/// whole study and before the programme began, and the gap in the last wave.
fn naive_json(m: &GroupMeans, log: bool, waves: &[i64], first_adoption: Option<i64>) -> Value {
    let growth = |from: i64, to: i64, programme: bool| -> Option<f64> {
        let (a, b) = (m.get(&(from, programme))?, m.get(&(to, programme))?);
        let years = (to - from) as f64;
        let g = if log { ((b - a) / years).exp() - 1.0 } else { (b / a).powf(1.0 / years) - 1.0 };
        (years > 0.0 && g.is_finite()).then_some(100.0 * g)
    };
    let (Some(&first), Some(&last)) = (waves.first(), waves.last()) else { return Value::Null };
    let pre_last = first_adoption.and_then(|g| waves.iter().copied().filter(|w| *w < g).max()).filter(|w| *w > first);
    let gap = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
    let (gp, gc) = (growth(first, last, true), growth(first, last, false));
    let pre = pre_last.map(|p| {
        let (pp, pc) = (growth(first, p, true), growth(first, p, false));
        json!({"from": first, "to": p, "programme_pct": pp, "comparison_pct": pc, "gap_pct_points": gap(pp, pc)})
    });
    let level_gap = gap(m.get(&(last, true)).copied(), m.get(&(last, false)).copied());
    let change = |p: bool| Some(m.get(&(last, p))? - m.get(&(first, p))?);
    json!({
        "from": first,
        "to": last,
        "years": last - first,
        "programme_pct": gp,
        "comparison_pct": gc,
        "gap_pct_points": gap(gp, gc),
        "last_wave_gap": level_gap,
        "change_gap": gap(change(true), change(false)),
        "pre": pre,
    })
}

/// Counties, programme counties, households and first programme years; `analysis_rows`
/// is the analysis panel's height (households × waves, or counties × waves).
fn sample_json(analysis_rows: usize, households: &DataFrame, key: &str, hh_key: &str) -> Result<Value, RunError> {
    let counties = data::text(households, key)?;
    let prog = data::numeric(households, PROGRAMME)?;
    let cohort = data::numeric(households, "cohort")?;
    let mut by_county: BTreeMap<String, (bool, i64)> = BTreeMap::new();
    for i in 0..counties.len() {
        if let Some(c) = &counties[i] {
            by_county.insert(c.clone(), (prog[i] == 1.0, cohort[i] as i64));
        }
    }
    let mut cohorts: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, g) in by_county.values() {
        *cohorts.entry(*g).or_default() += 1;
    }
    let hh: std::collections::BTreeSet<String> = data::text(households, hh_key)?.into_iter().flatten().collect();
    Ok(json!({
        "counties": by_county.len(),
        "programme_counties": by_county.values().filter(|(p, _)| *p).count(),
        "comparison_counties": by_county.values().filter(|(p, _)| !*p).count(),
        "households": hh.len(),
        "household_interviews": households.height(),
        "analysis_rows": analysis_rows,
        "cohorts": cohorts.iter().map(|(g, n)| json!({"cohort": g, "counties": n})).collect::<Vec<_>>(),
    }))
}

/// Baseline balance: programme against comparison households in the first wave, on the
/// outcomes and the covariates, with standard errors clustered by county.
fn balance_json(
    households: &DataFrame,
    base_wave: i64,
    plan: &Plan,
    variables: &[String],
    key: &str,
) -> Result<Value, RunError> {
    let mask: BooleanChunked = data::numeric(households, WAVE)?.iter().map(|w| *w as i64 == base_wave).collect();
    let base = households.filter(&mask)?;
    let vars: Vec<String> = variables.iter().chain(&plan.covariates).cloned().collect();
    let labels: BTreeMap<&str, String> = plan
        .outcomes
        .iter()
        .zip(variables)
        .map(|(o, v)| (v.as_str(), if o.log { format!("{} (log)", o.label) } else { o.label.clone() }))
        .collect();
    let t = balance(&base, PROGRAMME, &vars, plan.weights.as_deref(), Vcov::Cluster(vec![key.to_string()]))?;
    Ok(json!({
        "wave": base_wave,
        "rows": t.rows.iter().map(|r| json!({
            "variable": r.variable,
            "label": labels.get(r.variable.as_str()).cloned().unwrap_or_else(|| r.variable.clone()),
            "mean_programme": r.mean_treated, "mean_comparison": r.mean_control,
            "difference": r.difference, "p_value": r.p_value, "normalized_difference": r.normalized_difference,
            "n_programme": r.n_treated, "n_comparison": r.n_control,
        })).collect::<Vec<_>>(),
        "joint_test": t.joint_test.map(|f| serde_json::to_value(f).unwrap_or(Value::Null)),
    }))
}
