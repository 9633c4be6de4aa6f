//! Stage 4: one outcome's estimates. Callaway & Sant'Anna is the main estimate; the other
//! comparison group, no covariates, static TWFE, Sun & Abraham and the Goodman-Bacon
//! decomposition are robustness checks; then subgroups, raw trends, the naive comparison,
//! the sample it rests on and, for a simulation, whether it recovers the truth.

use std::collections::{BTreeMap, HashSet};

use endline_analysis::aggregate::{AggregateSpec, aggregate};
use endline_analysis::data;
use endline_analysis::did::bacon;
use endline_analysis::did::cs::{self, Aggregates, BasePeriod, Control, CsOptions, Effect};
use endline_analysis::did::panel::{self, Panel, PanelSpec};
use endline_analysis::did::{sa, twfe};
use endline_analysis::inference::chi2_p_value;
use endline_analysis::sampling::DesignSpec;
use endline_analysis::{AnalysisError, Vcov};
use endline_plan::Plan;
use endline_plan::plan::{ControlGroup, Estimator, Level, Outcome, OutcomeType, Source, Transform};
use endline_simulate::EffectScale;
use endline_survey::Survey;
use polars::prelude::*;

use crate::panel::{AnalysisPanel, COHORT, OutcomeColumn, PROGRAMME, WAVE};
use crate::results::{
    Bacon, BaconKind, Counts, CsSummary, Growth, Naive, NaivePre, OutcomeResults, Reading, Robustness,
    SensitivityResults, Subgroup, Trend, Truth,
};
use crate::{ALPHA, RunError};

pub(crate) fn control_name(c: ControlGroup) -> &'static str {
    match c {
        ControlGroup::Never => "never-treated",
        ControlGroup::Notyet => "not-yet-treated",
    }
}

/// The plan's design by names, as the analysis crate reads it.
fn design_spec(d: &endline_plan::plan::SampleDesign) -> DesignSpec {
    DesignSpec {
        strata: d.strata.clone(),
        psu: d.psu.clone(),
        ssu: d.ssu.clone(),
        fpc: d.fpc.clone(),
        lonely: d.lonely_psu.parse().unwrap_or_default(),
        replicates: None,
    }
}

fn cs_options(control: ControlGroup) -> CsOptions {
    CsOptions {
        control: match control {
            ControlGroup::Never => Control::Never,
            ControlGroup::Notyet => Control::Notyet,
        },
        alpha: ALPHA,
        // Doubly robust, varying base period, analytic errors.
        ..CsOptions::default()
    }
}

/// The sensitivity analysis of the plan (`sensitivity:`) on the main estimate's event
/// study, re-estimated against the last pre-programme period (a universal base period,
/// which the analysis needs), with the pre-test's power.
fn sensitivity_of(plan: &Plan, panel: &Panel, opts: &CsOptions) -> SensitivityResults {
    use endline_analysis::honest::{self, Restriction, Target};
    let run = || -> Result<SensitivityResults, AnalysisError> {
        let r = cs::estimate(panel, &CsOptions { base_period: BasePeriod::Universal, ..opts.clone() })?;
        let times: Vec<i64> = r.dynamic.by.iter().map(|b| b.index).collect();
        let beta: Vec<f64> = r.dynamic.by.iter().map(|b| b.effect.att).collect();
        let s = &plan.sensitivity;
        let restriction = Restriction::parse(&s.restriction).unwrap_or(Restriction::RelativeMagnitudes);
        let target = Target::parse(&s.target).unwrap_or(Target::Average);
        let mut o = honest::Options::new(restriction, target);
        o.values = s.values.clone();
        o.alpha = ALPHA;
        let (analysis, power) = honest::analyse(&times, &beta, &r.dynamic_vcov, &o, None)?;
        Ok(SensitivityResults {
            conclusion: Some(analysis.conclusion()),
            pretrend_power: Some(power),
            honest: Some(analysis),
            error: None,
        })
    };
    run().unwrap_or_else(|e| SensitivityResults {
        honest: None,
        pretrend_power: None,
        conclusion: None,
        error: Some(e.to_string()),
    })
}

/// The two-sided normal p-value of an effect: P(|Z| > |z|) = P(χ²₁ > z²).
fn p_value(e: &Effect) -> f64 {
    if e.std_error > 0.0 { chi2_p_value((e.att / e.std_error).powi(2), 1) } else { f64::NAN }
}

/// A robustness row: its name and estimate, or why it could not be estimated.
fn robustness(name: &str, r: Result<(Effect, Option<f64>), AnalysisError>) -> Robustness {
    match r {
        Ok((effect, pretrend_p)) => Robustness { name: name.into(), effect: Some(effect), pretrend_p, error: None },
        Err(e) => Robustness { name: name.into(), effect: None, pretrend_p: None, error: Some(e.to_string()) },
    }
}

/// How the outcome's effects read.
pub(crate) fn reading(o: &Outcome, kind: OutcomeType) -> Reading {
    let unit = o.unit.clone().unwrap_or_default();
    let (multiplier, decimals, effect_unit, level_unit, mean) = match (kind, o.transform) {
        (OutcomeType::Binary, _) => (100.0, 1, "percentage points".to_string(), "%".to_string(), "share"),
        (_, Transform::Log) => (1.0, 3, "log points".to_string(), String::new(), "mean log"),
        (_, Transform::Log1p) => (1.0, 3, "log points (of 1 + y)".to_string(), String::new(), "mean log(1 + y)"),
        (_, Transform::Asinh) => (1.0, 3, "inverse hyperbolic sine points".to_string(), String::new(), "mean asinh"),
        (OutcomeType::Count, Transform::Level) if unit.is_empty() => {
            (1.0, 2, "per household".to_string(), String::new(), "mean")
        }
        (_, Transform::Level) => (1.0, if kind == OutcomeType::Count { 2 } else { 3 }, unit.clone(), unit, "mean"),
    };
    Reading { multiplier, decimals, unit: effect_unit, level_unit, mean: mean.to_string() }
}

/// One outcome's estimates.
pub fn outcome(
    plan: &Plan,
    survey: &Survey,
    p: &AnalysisPanel,
    o: &Outcome,
    column: &OutcomeColumn,
    truth: &[endline_simulate::Truth],
) -> Result<OutcomeResults, RunError> {
    let var = column.variable.as_str();
    let df = &p.analysis;
    let (unit, weights) = match plan.level {
        Level::Household => (p.household_key.clone(), plan.weights.clone()),
        Level::Unit => (p.unit_key.clone(), None),
    };
    let spec = |covariates: &[String]| PanelSpec {
        outcome: var.to_string(),
        unit: unit.clone(),
        time: WAVE.into(),
        cohort: COHORT.into(),
        covariates: covariates.to_vec(),
        weights: weights.clone(),
        cluster: Some(p.cluster.clone()),
    };
    // Under a sample design, the design over the panel's units; its own weights (from its
    // FPCs) become the panel's when the plan has none.
    let mut design_df = df.clone();
    let mut main_spec = spec(&plan.covariates);
    let survey_design = match &plan.design {
        Some(d) => Some(std::sync::Arc::new(
            design_spec(d)
                .for_panel(&mut design_df, &mut main_spec)
                .map_err(|e| RunError::Data(format!("the sample design (`design:`): {e}")))?,
        )),
        None => None,
    };
    let df = &design_df;
    let spec = |covariates: &[String]| PanelSpec { covariates: covariates.to_vec(), ..main_spec.clone() };
    let with_design = |control| CsOptions { survey: survey_design.clone(), ..cs_options(control) };
    let main_panel = panel::build(df, &spec(&plan.covariates))?;
    let main = cs::estimate(&main_panel, &with_design(plan.control))?;
    // The design effect: against the same estimate with units as if drawn independently.
    let design_effect = match &survey_design {
        Some(_) => {
            let plain = panel::build(df, &PanelSpec { cluster: None, ..spec(&plan.covariates) })
                .and_then(|pl| cs::estimate(&pl, &cs_options(plan.control)))?;
            Some((main.simple.std_error / plain.simple.std_error).powi(2)).filter(|d| d.is_finite())
        }
        None => None,
    };
    let sensitivity = sensitivity_of(plan, &main_panel, &with_design(plan.control));
    let p_main = p_value(&main.simple);
    let mut robust = Vec::new();
    let other = match plan.control {
        ControlGroup::Never => ControlGroup::Notyet,
        ControlGroup::Notyet => ControlGroup::Never,
    };
    let cs_row = |panel: Result<&Panel, AnalysisError>, control| {
        panel
            .and_then(|pl| cs::estimate(pl, &with_design(control)))
            .map(|r| (r.simple, r.pretrend_test.map(|t| t.p_value)))
    };
    robust.push(robustness(&format!("{} controls", control_name(other)), cs_row(Ok(&main_panel), other)));
    if !plan.covariates.is_empty() {
        let unconditional = panel::build(df, &spec(&[]));
        robust.push(robustness(
            "no covariates (unconditional parallel trends)",
            cs_row(unconditional.as_ref().map_err(Clone::clone), plan.control),
        ));
    }
    if plan.estimators.contains(&Estimator::Twfe) {
        let r = twfe::static_twfe(df, &spec(&[]), &twfe::RegressionOptions::default()).and_then(|fit| {
            // The treatment dummy is the only regressor; absorbed, it has no estimate.
            let c = fit.coefficients.first().ok_or_else(|| {
                AnalysisError::NotIdentified("the treatment indicator is collinear with the fixed effects".into())
            })?;
            Ok((Effect { att: c.estimate, std_error: c.std_error, conf_low: c.conf_low, conf_high: c.conf_high }, None))
        });
        robust.push(robustness("static two-way fixed effects", r));
    }
    if plan.estimators.contains(&Estimator::Sa) {
        let r = sa::estimate(df, &spec(&[])).map(|s| {
            let c = &s.overall;
            (
                Effect { att: c.estimate, std_error: c.std_error, conf_low: c.conf_low, conf_high: c.conf_high },
                s.pretrend_test.map(|t| t.p_value),
            )
        });
        robust.push(robustness("Sun & Abraham (interaction-weighted)", r));
    }
    let bacon = plan.estimators.contains(&Estimator::Bacon).then(|| bacon_of(plan, p, var));
    let mut subgroups = Vec::new();
    for g in &plan.subgroups {
        subgroups.extend(subgroups_of(survey, df, g, &spec(&plan.covariates), plan.control)?);
    }
    let means = group_means(&p.households, var, plan.weights.as_deref())?;
    let first_adoption = main.cohorts.iter().map(|c| c.cohort).filter(|g| *g > 0).min();
    let truth = truth_of(o, column.kind, truth, &main.simple);
    // The estimator's own note on rows it could not use says again what the panel's note
    // on missing values said.
    let mut warnings = column.warnings.clone();
    let unused = format!("{} rows with a missing outcome", column.missing);
    warnings.extend(main.warnings.iter().filter(|w| column.missing == 0 || !w.starts_with(&unused)).cloned());
    Ok(OutcomeResults {
        name: o.name.clone(),
        label: o.label.clone(),
        question: o.question.clone(),
        kind: column.kind,
        transform: o.transform,
        unit: o.unit.clone(),
        variable: var.to_string(),
        reading: reading(o, column.kind),
        n: counts(p, var)?,
        trends: p
            .waves
            .iter()
            .map(|w| Trend {
                wave: *w,
                programme: means.get(&(*w, true)).copied(),
                comparison: means.get(&(*w, false)).copied(),
            })
            .collect(),
        naive: naive(&means, o.transform, &p.waves, first_adoption),
        cs: CsSummary {
            aggregates: Aggregates::of(&main),
            p_value: p_main,
            q_value: p_main,
            pretrend_test: main.pretrend_test,
            n_units: main.n_units,
            cohorts: main.cohorts.clone(),
            design_effect,
        },
        sensitivity,
        robustness: robust,
        bacon,
        subgroups,
        truth,
        warnings,
    })
}

/// Household interviews, households and units with a value of the outcome.
fn counts(p: &AnalysisPanel, var: &str) -> Result<Counts, RunError> {
    let v = data::numeric(&p.households, var)?;
    let keys = data::text(&p.households, &p.household_key)?;
    let units = data::text(&p.households, &p.unit_key)?;
    let has: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_finite()).collect();
    let households: HashSet<&str> = has.iter().filter_map(|&i| keys[i].as_deref()).collect();
    let with_units: HashSet<&str> = has.iter().filter_map(|&i| units[i].as_deref()).collect();
    Ok(Counts {
        interviews: has.len(),
        households: households.len(),
        units: with_units.len(),
        missing: v.len() - has.len(),
    })
}

/// The planted effect on the scale the outcome is estimated on, for a simulated outcome
/// read straight from its question.
fn truth_of(o: &Outcome, kind: OutcomeType, truth: &[endline_simulate::Truth], main: &Effect) -> Option<Truth> {
    if o.source != Source::Question {
        return None;
    }
    let t = truth.iter().find(|t| Some(t.question.as_str()) == o.question.as_deref())?;
    let att = match (kind, o.transform) {
        (_, Transform::Level) => t.att.level,
        (_, Transform::Log) => t.att.log,
        (_, Transform::Log1p) => t.att.log1p,
        (_, Transform::Asinh) => t.att.asinh,
    }?;
    let scale = match t.scale {
        EffectScale::Points => "points",
        EffectScale::Log => "log",
        EffectScale::Add => "add",
    };
    Some(Truth {
        att,
        planted: t.effect,
        planted_scale: scale.into(),
        covered: main.conf_low <= att && att <= main.conf_high,
    })
}

/// The Goodman-Bacon decomposition, on unit × wave means (it needs a balanced panel).
fn bacon_of(plan: &Plan, p: &AnalysisPanel, var: &str) -> Bacon {
    let key = p.unit_key.as_str();
    let means = AggregateSpec {
        by: vec![key.to_string(), WAVE.into()],
        means: vec![var.to_string()],
        constants: vec![COHORT.into(), PROGRAMME.into()],
        weights: plan.weights.clone(),
    };
    let r = aggregate(&p.households, &means).and_then(|c| {
        let spec = PanelSpec {
            outcome: var.to_string(),
            unit: key.to_string(),
            time: WAVE.into(),
            cohort: COHORT.into(),
            covariates: Vec::new(),
            weights: None,
            cluster: None,
        };
        bacon::decompose(&panel::build(&c, &spec)?)
    });
    match r {
        Ok(b) => Bacon {
            twfe: Some(b.twfe),
            by_kind: b
                .by_kind
                .into_iter()
                .map(|(kind, weight, estimate)| BaconKind { kind, weight, estimate })
                .collect(),
            error: None,
        },
        Err(e) => Bacon { twfe: None, by_kind: Vec::new(), error: Some(e.to_string()) },
    }
}

/// The main estimate within each level of a subgroup variable.
fn subgroups_of(
    survey: &Survey,
    df: &DataFrame,
    var: &str,
    spec: &PanelSpec,
    control: ControlGroup,
) -> Result<Vec<Subgroup>, RunError> {
    // Levels sorted numerically, whole numbers as integers (a unit mean of a 0/1
    // attribute is stored as 1.0).
    let factor = data::factor(df, var)?;
    let choice_label = |v: &str| -> String {
        survey
            .item(var)
            .and_then(|i| survey.choices_of(i))
            .and_then(|l| l.choices().iter().find(|c| c.value().as_text() == v))
            .map_or_else(|| format!("{var} = {v}"), |c| c.label().default_text().to_string())
    };
    let mut out = Vec::new();
    for (code, level) in factor.levels.iter().enumerate() {
        let level = level.to_string();
        let mask: BooleanChunked = factor.codes.iter().map(|c| *c as usize == code).collect();
        let sub = df.filter(&mask)?;
        // The covariates stay in the model only where they vary within the subgroup.
        let covariates: Vec<String> = spec
            .covariates
            .iter()
            .filter(|c| data::numeric(&sub, c).is_ok_and(|v| v.iter().any(|x| *x != v[0])))
            .cloned()
            .collect();
        let s = PanelSpec { covariates, ..spec.clone() };
        let r = panel::build(&sub, &s).and_then(|p| cs::estimate(&p, &cs_options(control)));
        let name = choice_label(&level);
        out.push(match r {
            Ok(r) => Subgroup {
                variable: var.into(),
                value: level,
                name,
                effect: Some(r.simple),
                n_units: Some(r.n_units),
                error: None,
            },
            Err(e) => Subgroup {
                variable: var.into(),
                value: level,
                name,
                effect: None,
                n_units: None,
                error: Some(e.to_string()),
            },
        });
    }
    Ok(out)
}

/// Programme and comparison households' weighted mean of an outcome, by wave.
type GroupMeans = BTreeMap<(i64, bool), f64>;

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

/// The naive comparison: changes and last-wave gaps in the outcome's own reading, and for
/// an outcome on a log scale, yearly growth in percent.
fn naive(m: &GroupMeans, transform: Transform, waves: &[i64], first_adoption: Option<i64>) -> Naive {
    let (first, last) = (waves.first().copied().unwrap_or(0), waves.last().copied().unwrap_or(0));
    let at = |w: i64, p: bool| m.get(&(w, p)).copied();
    let gap = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
    let change = |from: i64, to: i64, p: bool| gap(at(to, p), at(from, p));
    let change_gap = |from: i64, to: i64| gap(change(from, to, true), change(from, to, false));
    let logged = matches!(transform, Transform::Log | Transform::Log1p | Transform::Asinh);
    let growth = |from: i64, to: i64| -> Option<Growth> {
        let years = (to - from) as f64;
        if !logged || years <= 0.0 {
            return None;
        }
        let pct = |p: bool| change(from, to, p).map(|d| 100.0 * ((d / years).exp() - 1.0)).filter(|g| g.is_finite());
        let (gp, gc) = (pct(true), pct(false));
        Some(Growth { programme_pct: gp, comparison_pct: gc, gap_pct_points: gap(gp, gc) })
    };
    let pre_last = first_adoption.and_then(|g| waves.iter().copied().filter(|w| *w < g).max()).filter(|w| *w > first);
    Naive {
        from: first,
        to: last,
        years: last - first,
        programme_first: at(first, true),
        programme_last: at(last, true),
        comparison_first: at(first, false),
        comparison_last: at(last, false),
        change_gap: change_gap(first, last),
        last_wave_gap: gap(at(last, true), at(last, false)),
        pre: pre_last.map(|to| NaivePre {
            from: first,
            to,
            change_gap: change_gap(first, to),
            growth: growth(first, to),
        }),
        growth: growth(first, last),
    }
}

/// Baseline balance: programme against comparison households in the first wave, on the
/// outcomes and the covariates, with standard errors clustered as the estimates are.
pub(crate) fn balance(
    plan: &Plan,
    p: &AnalysisPanel,
    outcomes: &[OutcomeResults],
) -> Result<crate::results::Balance, RunError> {
    let base_wave = p.waves.first().copied().unwrap_or(0);
    let mask: BooleanChunked = data::numeric(&p.households, WAVE)?.iter().map(|w| *w as i64 == base_wave).collect();
    let base = p.households.filter(&mask)?;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for o in outcomes {
        let scale = match o.transform {
            Transform::Level if o.kind == OutcomeType::Binary => " (share)",
            Transform::Level => "",
            Transform::Log => " (log)",
            Transform::Log1p => " (log of 1 + y)",
            Transform::Asinh => " (asinh)",
        };
        labels.insert(o.variable.clone(), format!("{}{scale}", o.label));
    }
    let vars: Vec<String> =
        outcomes.iter().map(|o| o.variable.clone()).chain(plan.covariates.iter().cloned()).collect();
    let t = endline_analysis::balance::balance(
        &base,
        PROGRAMME,
        &vars,
        plan.weights.as_deref(),
        Vcov::Cluster(vec![p.cluster.clone()]),
    )?;
    let rows: Vec<crate::results::BalanceRow> = t
        .rows
        .iter()
        .map(|r| crate::results::BalanceRow {
            variable: r.variable.clone(),
            label: labels.get(&r.variable).cloned().unwrap_or_else(|| r.variable.clone()),
            mean_programme: r.mean_treated,
            mean_comparison: r.mean_control,
            difference: r.difference,
            p_value: r.p_value,
            normalized_difference: r.normalized_difference,
            n_programme: r.n_treated,
            n_comparison: r.n_control,
        })
        .collect();
    let joint_test = t.joint_test.map(|f| crate::results::JointTest {
        statistic: f.statistic,
        df1: f.df1,
        df2: f.df2,
        p_value: f.p_value,
    });
    let differs = rows.iter().any(|r| r.p_value < ALPHA) || joint_test.as_ref().is_some_and(|j| j.p_value < ALPHA);
    Ok(crate::results::Balance { wave: base_wave, rows, joint_test, differs })
}
