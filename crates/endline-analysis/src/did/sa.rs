//! Sun & Abraham (2021): the interaction-weighted event study.
//!
//! One regression, `y ~ Σ_g Σ_{e≠-1} 1{G=g}·1{t−g=e} | unit + time`, estimates a separate
//! effect δ(g,e) for each treated cohort and event time, with never-treated units (or,
//! when there are none, the last-treated cohort, whose treated periods are dropped) as the
//! comparison. Each event time's effect is the average of δ(g,e) weighted by the cohorts'
//! shares of the observations at that event time; its variance is w'Vw.

use polars::prelude::{Column, DataFrame};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::panel::PanelSpec;
use super::twfe::{EventCoefficient, WaldTest};
use crate::data;
use crate::error::{AnalysisError, Result};
use crate::feols::{FeolsFit, FeolsSpec, Vcov};

/// One cohort × event-time effect.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CohortEffect {
    /// The cohort.
    pub cohort: i64,
    /// The event time.
    pub event_time: i64,
    /// δ(g,e).
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Observations of the cohort at this event time.
    pub n_obs: usize,
}

/// The interaction-weighted estimates.
#[derive(Debug, Clone, Serialize)]
pub struct SunAbraham {
    /// Effects by event time (the reference −1 omitted).
    pub coefficients: Vec<EventCoefficient>,
    /// The average over post-treatment cohort × event-time cells, by observations.
    pub overall: EventCoefficient,
    /// δ(g,e) for every cohort and event time.
    pub cohort_effects: Vec<CohortEffect>,
    /// The comparison units: "never" or the last-treated cohort.
    pub control: String,
    /// Joint χ² test that every lead (e ≤ −2) is zero.
    pub pretrend_test: Option<WaldTest>,
    /// The underlying regression.
    pub fit: FeolsFit,
}

/// Estimates Sun & Abraham's event study.
pub fn estimate(df: &DataFrame, spec: &PanelSpec) -> Result<SunAbraham> {
    let cohort: Vec<i64> =
        data::numeric(df, &spec.cohort)?.into_iter().map(|g| if g.is_nan() { 0 } else { g as i64 }).collect();
    let time_f = data::numeric(df, &spec.time)?;
    let time: Vec<i64> = time_f.iter().map(|t| if t.is_nan() { i64::MIN } else { *t as i64 }).collect();
    let mut cohorts: Vec<i64> = cohort.iter().copied().filter(|g| *g > 0).collect();
    cohorts.sort_unstable();
    cohorts.dedup();
    let has_never = cohort.contains(&0);
    let (control, control_label, cutoff) = if has_never {
        (None, "never".to_string(), i64::MAX)
    } else {
        let last = *cohorts.last().ok_or_else(|| AnalysisError::NotIdentified("no unit is treated".into()))?;
        (Some(last), format!("last-treated cohort {last}"), last)
    };
    let treated_cohorts: Vec<i64> = cohorts.iter().copied().filter(|g| Some(*g) != control).collect();
    if treated_cohorts.is_empty() {
        return Err(AnalysisError::NotIdentified(
            "Sun & Abraham needs a treated cohort besides the comparison cohort".into(),
        ));
    }
    // Rows kept: all, except periods at or after the control cohort's treatment.
    let keep: Vec<bool> = time.iter().map(|t| *t < cutoff).collect();
    let mut cells: Vec<(i64, i64)> = Vec::new();
    for i in 0..df.height() {
        let g = cohort[i];
        if keep[i] && g > 0 && Some(g) != control && time[i] != i64::MIN {
            let e = time[i] - g;
            if e != -1 && !cells.contains(&(g, e)) {
                cells.push((g, e));
            }
        }
    }
    cells.sort_by_key(|(g, e)| (*e, *g));
    let mut counts = vec![0usize; cells.len()];
    let mask: polars::prelude::BooleanChunked = keep.iter().copied().collect();
    let mut work = df.filter(&mask)?;
    let idx_map: std::collections::HashMap<(i64, i64), usize> =
        cells.iter().enumerate().map(|(k, c)| (*c, k)).collect();
    let kept_rows: Vec<usize> = (0..df.height()).filter(|&i| keep[i]).collect();
    let mut columns: Vec<Vec<f64>> = vec![vec![0.0; kept_rows.len()]; cells.len()];
    for (r, &i) in kept_rows.iter().enumerate() {
        let g = cohort[i];
        if g > 0
            && Some(g) != control
            && time[i] != i64::MIN
            && let Some(&k) = idx_map.get(&(g, time[i] - g))
        {
            columns[k][r] = 1.0;
            counts[k] += 1;
        }
    }
    let names: Vec<String> = (0..cells.len()).map(|k| format!("sa_cell_{k}_")).collect();
    for (name, col) in names.iter().zip(columns) {
        work.with_column(Column::new(name.as_str().into(), col))?;
    }
    let formula = format!(
        "{} ~ {}{} | {} + {}",
        spec.outcome,
        names.join(" + "),
        spec.covariates.iter().map(|c| format!(" + {c}")).collect::<String>(),
        spec.unit,
        spec.time
    );
    let cluster = spec.cluster.clone().unwrap_or_else(|| spec.unit.clone());
    let mut fit =
        FeolsSpec::new(&formula)?.vcov(Vcov::Cluster(vec![cluster])).weights(spec.weights.as_deref()).fit(&work)?;
    // Position of each cell's coefficient (some may be dropped as collinear).
    let pos: Vec<Option<usize>> = names.iter().map(|n| fit.coefficients.iter().position(|c| &c.term == n)).collect();
    let mut cohort_effects = Vec::new();
    for (k, (g, e)) in cells.iter().enumerate() {
        if let Some(j) = pos[k] {
            let c = &fit.coefficients[j];
            cohort_effects.push(CohortEffect {
                cohort: *g,
                event_time: *e,
                estimate: c.estimate,
                std_error: c.std_error,
                n_obs: counts[k],
            });
        }
    }
    for c in fit.coefficients.iter_mut() {
        if let Some(k) = names.iter().position(|n| *n == c.term) {
            c.term = format!("rel_time::{}:cohort::{}", cells[k].1, cells[k].0);
        }
    }
    let tdist =
        StudentsT::new(0.0, 1.0, fit.dof_resid as f64).map_err(|e| AnalysisError::NotIdentified(e.to_string()))?;
    let q = tdist.inverse_cdf(0.975);
    let kdim = fit.coefficients.len();
    let combine = |weights: &[(usize, f64)]| -> (f64, f64) {
        let est: f64 = weights.iter().map(|(j, w)| w * fit.coefficients[*j].estimate).sum();
        let var: f64 = weights
            .iter()
            .flat_map(|(a, wa)| weights.iter().map(move |(b, wb)| (a, wa, b, wb)))
            .map(|(a, wa, b, wb)| wa * wb * fit.vcov_matrix[*a][*b])
            .sum();
        (est, var.max(0.0).sqrt())
    };
    let mut event_times: Vec<i64> = cells.iter().map(|c| c.1).collect();
    event_times.sort_unstable();
    event_times.dedup();
    let mut coefficients = Vec::new();
    let mut lead_weights: Vec<Vec<(usize, f64)>> = Vec::new();
    for &e in &event_times {
        let members: Vec<(usize, usize)> =
            (0..cells.len()).filter(|&k| cells[k].1 == e).filter_map(|k| pos[k].map(|j| (j, counts[k]))).collect();
        let total: usize = members.iter().map(|m| m.1).sum();
        if total == 0 {
            continue;
        }
        let w: Vec<(usize, f64)> = members.iter().map(|(j, n)| (*j, *n as f64 / total as f64)).collect();
        let (est, se) = combine(&w);
        if e < -1 {
            lead_weights.push(w.clone());
        }
        coefficients.push(EventCoefficient {
            term: format!("rel_time::{e}"),
            event_time: e,
            estimate: est,
            std_error: se,
            conf_low: est - q * se,
            conf_high: est + q * se,
        });
    }
    let post: Vec<(usize, usize)> =
        (0..cells.len()).filter(|&k| cells[k].1 >= 0).filter_map(|k| pos[k].map(|j| (j, counts[k]))).collect();
    let total: usize = post.iter().map(|m| m.1).sum();
    let w: Vec<(usize, f64)> = post.iter().map(|(j, n)| (*j, *n as f64 / total.max(1) as f64)).collect();
    let (est, se) = combine(&w);
    let overall = EventCoefficient {
        term: "ATT".into(),
        event_time: 0,
        estimate: est,
        std_error: se,
        conf_low: est - q * se,
        conf_high: est + q * se,
    };
    // Joint test of the aggregated leads: θ = Wβ, Var = W V W'.
    let pretrend_test = if lead_weights.is_empty() {
        None
    } else {
        let m = lead_weights.len();
        let mut wmat = ndarray::Array2::<f64>::zeros((m, kdim));
        for (r, ws) in lead_weights.iter().enumerate() {
            for (j, w) in ws {
                wmat[[r, *j]] = *w;
            }
        }
        let v = ndarray::Array2::from_shape_fn((kdim, kdim), |(a, b)| fit.vcov_matrix[a][b]);
        let beta = ndarray::Array1::from_iter(fit.coefficients.iter().map(|c| c.estimate));
        let theta = wmat.dot(&beta);
        let vt = wmat.dot(&v).dot(&wmat.t());
        let theta = theta.to_vec();
        crate::inference::quadratic_form(vt.view(), &theta).map(|stat| WaldTest {
            statistic: stat,
            df: m,
            p_value: crate::inference::chi2_p_value(stat, m),
        })
    };
    Ok(SunAbraham { coefficients, overall, cohort_effects, control: control_label, pretrend_test, fit })
}
