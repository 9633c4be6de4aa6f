//! Regression-based DiD on top of [`FeolsSpec`]: the canonical 2×2, static two-way fixed
//! effects, and the dynamic TWFE event study.

use polars::prelude::{Column, DataFrame};
use serde::Serialize;

use super::panel::PanelSpec;
use crate::data;
use crate::error::{AnalysisError, Result};
use crate::feols::{FeolsFit, FeolsSpec, Vcov};
use crate::inference;

/// Relative time given to never-treated units, outside any real event time, so that an
/// event study can leave them in the reference category.
pub const NEVER: i64 = -1_000_000;

/// Options shared by the regression-based methods.
#[derive(Debug, Clone, Default)]
pub struct RegressionOptions {
    /// Periods of anticipation: treatment is dated `anticipation` periods early.
    pub anticipation: i64,
    /// Bin event times below this (event study).
    pub min_event: Option<i64>,
    /// Bin event times above this (event study).
    pub max_event: Option<i64>,
}

/// One event-study coefficient.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventCoefficient {
    /// The term, as fixest names it (`rel_time::-2`).
    pub term: String,
    /// Periods relative to the first treated period.
    pub event_time: i64,
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Lower bound of the 95% interval.
    pub conf_low: f64,
    /// Upper bound.
    pub conf_high: f64,
}

/// A joint test that every pre-treatment coefficient is zero.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct WaldTest {
    /// The statistic (F form for regressions, χ² for Callaway & Sant'Anna).
    pub statistic: f64,
    /// Numerator degrees of freedom (restrictions).
    pub df: usize,
    /// The p-value.
    pub p_value: f64,
}

fn fresh_name(df: &DataFrame, want: &str) -> String {
    let names = data::column_names(df);
    let mut name = want.to_string();
    while names.contains(&name) {
        name.push('_');
    }
    name
}

/// Per row: the unit's cohort (0 for never treated) and the period. A cohort first
/// treated after the last period is never treated within the sample, as
/// [`super::panel::build`] counts it (and warns): it is 0 here too, so that an event
/// study does not give its units leads of their own.
fn cohort_and_time(df: &DataFrame, spec: &PanelSpec) -> Result<(Vec<f64>, Vec<f64>)> {
    let time = data::numeric(df, &spec.time)?;
    let last = time.iter().copied().filter(|t| !t.is_nan()).fold(f64::NEG_INFINITY, f64::max);
    let cohort: Vec<f64> =
        data::numeric(df, &spec.cohort)?.into_iter().map(|g| if g.is_nan() || g > last { 0.0 } else { g }).collect();
    Ok((cohort, time))
}

fn vcov_for(spec: &PanelSpec) -> Vcov {
    Vcov::Cluster(vec![spec.cluster.clone().unwrap_or_else(|| spec.unit.clone())])
}

fn covariate_terms(spec: &PanelSpec) -> String {
    spec.covariates.iter().map(|c| format!(" + {c}")).collect()
}

/// Static TWFE: `y ~ D | unit + time`, D = 1 from the first treated period (less
/// anticipation) on. Clustered by unit unless a cluster is given.
pub fn static_twfe(df: &DataFrame, spec: &PanelSpec, opts: &RegressionOptions) -> Result<FeolsFit> {
    let (cohort, time) = cohort_and_time(df, spec)?;
    let d_name = fresh_name(df, "treat_post");
    let d: Vec<f64> = cohort
        .iter()
        .zip(&time)
        .map(|(g, t)| if *g > 0.0 && *t >= g - opts.anticipation as f64 { 1.0 } else { 0.0 })
        .collect();
    let mut df = df.clone();
    df.with_column(Column::new(d_name.as_str().into(), d))?;
    let formula = format!("{} ~ {d_name}{} | {} + {}", spec.outcome, covariate_terms(spec), spec.unit, spec.time);
    FeolsSpec::new(&formula)?.vcov(vcov_for(spec)).weights(spec.weights.as_deref()).fit(&df)
}

/// The canonical 2×2: `y ~ treated + post + treated:post (+ covariates)`, where treated
/// marks units ever treated and post the periods from the first treatment on. Needs a
/// single treated cohort.
pub fn two_by_two(df: &DataFrame, spec: &PanelSpec, opts: &RegressionOptions) -> Result<FeolsFit> {
    let (cohort, time) = cohort_and_time(df, spec)?;
    let mut cohorts: Vec<i64> = cohort.iter().filter(|g| **g > 0.0).map(|g| *g as i64).collect();
    cohorts.sort_unstable();
    cohorts.dedup();
    let g = match cohorts.as_slice() {
        [g] => *g as f64 - opts.anticipation as f64,
        [] => return Err(AnalysisError::NotIdentified("no unit is treated".into())),
        many => {
            return Err(AnalysisError::Invalid(format!(
                "the 2×2 needs one treated cohort, but there are {}: {many:?}; use --method cs or twfe",
                many.len()
            )));
        }
    };
    let (tr, po) = (fresh_name(df, "treated"), fresh_name(df, "post"));
    let treated: Vec<f64> = cohort.iter().map(|c| f64::from(u8::from(*c > 0.0))).collect();
    let post: Vec<f64> = time.iter().map(|t| f64::from(u8::from(*t >= g))).collect();
    let mut df = df.clone();
    df.with_column(Column::new(tr.as_str().into(), treated))?;
    df.with_column(Column::new(po.as_str().into(), post))?;
    let formula = format!("{} ~ {tr} + {po} + {tr}:{po}{}", spec.outcome, covariate_terms(spec));
    FeolsSpec::new(&formula)?.vcov(vcov_for(spec)).weights(spec.weights.as_deref()).fit(&df)
}

/// The dynamic TWFE event study: `y ~ i(rel_time, ref=-1) | unit + time`, with
/// never-treated units in the reference category, event times optionally binned at
/// `min_event`/`max_event`, and a joint F test that every lead is zero.
pub fn event_study(
    df: &DataFrame,
    spec: &PanelSpec,
    opts: &RegressionOptions,
) -> Result<(FeolsFit, Vec<EventCoefficient>, Option<WaldTest>)> {
    let (cohort, time) = cohort_and_time(df, spec)?;
    let rel_name = fresh_name(df, "rel_time");
    let rel: Vec<i64> = cohort
        .iter()
        .zip(&time)
        .map(|(g, t)| {
            if *g <= 0.0 || t.is_nan() {
                return NEVER;
            }
            let mut e = (*t - *g) as i64 + opts.anticipation;
            if let Some(lo) = opts.min_event {
                e = e.max(lo);
            }
            if let Some(hi) = opts.max_event {
                e = e.min(hi);
            }
            e
        })
        .collect();
    if !rel.contains(&-1) {
        return Err(AnalysisError::NotIdentified(
            "no treated unit is observed in the period before its treatment (event time -1, the reference)".into(),
        ));
    }
    let mut df = df.clone();
    df.with_column(Column::new(rel_name.as_str().into(), rel))?;
    let refs = if cohort.iter().any(|g| *g <= 0.0) { format!("c(-1, {NEVER})") } else { "-1".to_string() };
    let formula = format!(
        "{} ~ i({rel_name}, ref={refs}){} | {} + {}",
        spec.outcome,
        covariate_terms(spec),
        spec.unit,
        spec.time
    );
    let fit = FeolsSpec::new(&formula)?.vcov(vcov_for(spec)).weights(spec.weights.as_deref()).fit(&df)?;
    let prefix = format!("{rel_name}::");
    let coefs: Vec<EventCoefficient> = fit
        .coefficients
        .iter()
        .filter_map(|c| {
            let e = c.term.strip_prefix(&prefix)?.parse::<i64>().ok()?;
            Some(EventCoefficient {
                term: c.term.clone(),
                event_time: e,
                estimate: c.estimate,
                std_error: c.std_error,
                conf_low: c.conf_low,
                conf_high: c.conf_high,
            })
        })
        .collect();
    let leads: Vec<usize> = fit
        .coefficients
        .iter()
        .enumerate()
        .filter(|(_, c)| c.term.strip_prefix(&prefix).and_then(|e| e.parse::<i64>().ok()).is_some_and(|e| e < -1))
        .map(|(i, _)| i)
        .collect();
    let pretrend = wald(&fit, &leads);
    Ok((fit, coefs, pretrend))
}

/// The F-form Wald test that the coefficients at `which` are all zero.
pub fn wald(fit: &FeolsFit, which: &[usize]) -> Option<WaldTest> {
    if which.is_empty() {
        return None;
    }
    let q = which.len();
    let v = ndarray::Array2::from_shape_fn((q, q), |(a, b)| fit.vcov_matrix[which[a]][which[b]]);
    let b: Vec<f64> = which.iter().map(|&i| fit.coefficients[i].estimate).collect();
    let stat = inference::quadratic_form(v.view(), &b)? / q as f64;
    Some(WaldTest { statistic: stat, df: q, p_value: inference::f_p_value(stat, q, fit.dof_resid)? })
}
