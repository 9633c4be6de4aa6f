//! A unit × period panel out of a long table, for the DiD estimators.

use std::collections::HashMap;

use polars::prelude::DataFrame;

use crate::data::{self, Level, MISSING};
use crate::error::{AnalysisError, Result};

/// The columns of a DiD panel.
#[derive(Debug, Clone, Default)]
pub struct PanelSpec {
    /// The outcome.
    pub outcome: String,
    /// The unit identifier.
    pub unit: String,
    /// The period (integer-valued, such as a year or a survey wave).
    pub time: String,
    /// Each unit's first treated period; 0 or missing means never treated.
    pub cohort: String,
    /// Covariates (taken at the base period of each comparison).
    pub covariates: Vec<String>,
    /// Unit-level sampling weights (constant within a unit).
    pub weights: Option<String>,
    /// A cluster variable (constant within a unit).
    pub cluster: Option<String>,
}

/// A panel: `n` units × `t` periods, with per-unit cohort, weight and cluster.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The periods, sorted.
    pub periods: Vec<i64>,
    /// The unit labels.
    pub units: Vec<Level>,
    /// Cohort of each unit (0: never treated).
    pub cohort: Vec<i64>,
    /// Outcome, `y[u * t + p]`; NaN where the unit is not observed.
    pub y: Vec<f64>,
    /// Covariates, `x[k][u * t + p]`.
    pub x: Vec<Vec<f64>>,
    /// Unit weights, normalised to mean 1.
    pub weights: Vec<f64>,
    /// Cluster code of each unit, if clustering.
    pub cluster: Option<Vec<u32>>,
    /// Rows of the input table used.
    pub n_obs: usize,
    /// What the user should know: dropped units, unbalanced panel, recoded cohorts.
    pub warnings: Vec<String>,
}

impl Panel {
    /// Number of units.
    pub fn n_units(&self) -> usize {
        self.units.len()
    }

    /// Number of periods.
    pub fn n_periods(&self) -> usize {
        self.periods.len()
    }

    /// The outcome of unit `u` in period index `p`.
    pub fn y_at(&self, u: usize, p: usize) -> f64 {
        self.y[u * self.periods.len() + p]
    }

    /// Whether every unit is observed in every period.
    pub fn is_balanced(&self) -> bool {
        !self.y.iter().any(|v| v.is_nan())
    }
}

fn integer_column(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>> {
    // Waves are often text ("2021", as ingest stamps them): text that reads as whole
    // numbers is accepted.
    let v = match data::numeric(df, name) {
        Ok(v) => v,
        Err(AnalysisError::ColumnType { .. }) => data::text(df, name)?
            .into_iter()
            .enumerate()
            .map(|(i, t)| match t {
                None => Ok(f64::NAN),
                Some(t) => t.trim().parse::<f64>().map_err(|_| AnalysisError::ColumnType {
                    name: name.into(),
                    problem: format!("must hold whole periods, but row {} has `{t}`", i + 1),
                }),
            })
            .collect::<Result<Vec<f64>>>()?,
        Err(e) => return Err(e),
    };
    v.iter()
        .enumerate()
        .map(|(i, x)| {
            if x.is_nan() {
                Ok(None)
            } else if x.fract() != 0.0 {
                Err(AnalysisError::ColumnType {
                    name: name.into(),
                    problem: format!("must hold whole periods, but row {} has {x}", i + 1),
                })
            } else {
                Ok(Some(*x as i64))
            }
        })
        .collect()
}

/// The error when every unit is treated from the first period on.
pub(crate) fn all_treated(first: i64) -> AnalysisError {
    AnalysisError::Invalid(format!(
        "every unit is treated from the first period ({first}) on: no unit-period is untreated, so there is no \
         comparison; a difference in differences needs never-treated units or units treated later"
    ))
}

/// Builds the panel. Errors: a unit observed twice in one period, a cohort, weight or
/// cluster that changes within a unit, a cohort that is not one of the periods.
pub fn build(df: &DataFrame, spec: &PanelSpec) -> Result<Panel> {
    if df.height() == 0 {
        return Err(AnalysisError::NoObservations { reason: "the table is empty".into() });
    }
    let unit = data::factor(df, &spec.unit)?;
    let time = integer_column(df, &spec.time)?;
    let cohort_col = data::numeric(df, &spec.cohort)?;
    let y_col = data::numeric(df, &spec.outcome)?;
    let xs: Vec<Vec<f64>> = spec.covariates.iter().map(|c| data::numeric(df, c)).collect::<Result<_>>()?;
    let w_col = spec.weights.as_ref().map(|w| data::numeric(df, w)).transpose()?;
    let cl_col = spec.cluster.as_ref().map(|c| data::factor(df, c)).transpose()?;

    let mut periods: Vec<i64> = time.iter().flatten().copied().collect();
    periods.sort_unstable();
    periods.dedup();
    if periods.len() < 2 {
        return Err(AnalysisError::NotIdentified(format!(
            "`{}` has {} distinct period(s); a DiD needs at least two",
            spec.time,
            periods.len()
        )));
    }
    let pidx: HashMap<i64, usize> = periods.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let (n, t) = (unit.n_levels(), periods.len());
    let mut y = vec![f64::NAN; n * t];
    let mut x = vec![vec![f64::NAN; n * t]; xs.len()];
    let mut seen = vec![false; n * t];
    let mut cohort: Vec<Option<i64>> = vec![None; n];
    let mut weights: Vec<Option<f64>> = vec![None; n];
    let mut cluster: Vec<u32> = vec![MISSING; n];
    let mut n_obs = 0;
    let mut n_missing = 0;
    for i in 0..df.height() {
        let (u, Some(tp)) = (unit.codes[i], time[i]) else {
            n_missing += 1;
            continue;
        };
        if u == MISSING {
            n_missing += 1;
            continue;
        }
        let u = u as usize;
        let p = pidx[&tp];
        let cell = u * t + p;
        if seen[cell] {
            return Err(AnalysisError::Invalid(format!(
                "unit {} appears twice in period {tp} (row {}); a panel has one row per unit and period",
                unit.levels[u],
                i + 1
            )));
        }
        seen[cell] = true;
        let g = if cohort_col[i].is_nan() { 0 } else { cohort_col[i] as i64 };
        match cohort[u] {
            None => cohort[u] = Some(g),
            Some(prev) if prev != g => {
                return Err(AnalysisError::Invalid(format!(
                    "the cohort `{}` of unit {} changes over time ({prev}, then {g} in row {}); it must be the unit's first treated period",
                    spec.cohort,
                    unit.levels[u],
                    i + 1
                )));
            }
            Some(_) => {}
        }
        if let Some(w) = &w_col {
            let wi = w[i];
            if !wi.is_finite() || wi < 0.0 {
                return Err(AnalysisError::InvalidWeight {
                    name: spec.weights.clone().unwrap_or_default(),
                    value: wi,
                    row: i + 1,
                });
            }
            match weights[u] {
                None => weights[u] = Some(wi),
                Some(prev) if (prev - wi).abs() > 1e-12 * prev.abs().max(1.0) => {
                    return Err(AnalysisError::Invalid(format!(
                        "the weight of unit {} changes over time; DiD weights are per unit",
                        unit.levels[u]
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(c) = &cl_col {
            let code = c.codes[i];
            if cluster[u] == MISSING {
                cluster[u] = code;
            } else if cluster[u] != code {
                return Err(AnalysisError::Invalid(format!(
                    "the cluster of unit {} changes over time; clusters must contain whole units",
                    unit.levels[u]
                )));
            }
        }
        let covs_ok = xs.iter().all(|c| !c[i].is_nan());
        if y_col[i].is_nan() || !covs_ok {
            n_missing += 1;
            continue;
        }
        y[cell] = y_col[i];
        for (k, c) in xs.iter().enumerate() {
            x[k][cell] = c[i];
        }
        n_obs += 1;
    }
    let mut warnings = Vec::new();
    if n_missing > 0 {
        warnings.push(format!("{n_missing} rows with a missing outcome, period, unit or covariate were not used"));
    }
    // Validate cohorts.
    let last = *periods.last().unwrap_or(&0);
    let mut cohort: Vec<i64> = cohort.into_iter().map(|c| c.unwrap_or(0)).collect();
    let mut recoded = 0;
    for g in cohort.iter_mut() {
        if *g > last {
            *g = 0;
            recoded += 1;
        } else if *g != 0 && !pidx.contains_key(g) {
            return Err(AnalysisError::Invalid(format!(
                "cohort {g} is not one of the periods of `{}` ({:?})",
                spec.time, periods
            )));
        }
    }
    if recoded > 0 {
        warnings
            .push(format!("{recoded} units first treated after the last period ({last}) are counted as never treated"));
    }
    let weights: Vec<f64> = weights.into_iter().map(|w| w.unwrap_or(1.0)).collect();
    let mean_w = weights.iter().sum::<f64>() / n as f64;
    if mean_w <= 0.0 {
        return Err(AnalysisError::NoObservations { reason: "every unit has weight 0".into() });
    }
    let weights = weights.iter().map(|w| w / mean_w).collect();
    let mut panel = Panel {
        periods,
        units: unit.levels.clone(),
        cohort: std::mem::take(&mut cohort),
        y,
        x,
        weights,
        cluster: cl_col.map(|_| cluster),
        n_obs,
        warnings,
    };
    if let Some(c) = &panel.cluster {
        let mut codes: Vec<u32> = c.iter().copied().filter(|&c| c != MISSING).collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.len() < 2 {
            return Err(AnalysisError::Invalid(format!(
                "clustering by `{}` needs at least two clusters, but the panel has {}",
                spec.cluster.as_deref().unwrap_or_default(),
                codes.len()
            )));
        }
    }
    // A difference in differences needs units untreated in some period: when every unit
    // is treated from the first period on, there is nothing to compare (TWFE would print
    // 0 and the Bacon decomposition nothing).
    let first = panel.periods.first().copied().unwrap_or(0);
    if panel.cohort.iter().all(|&g| g != 0 && g <= first) {
        return Err(all_treated(first));
    }
    if !panel.is_balanced() {
        let missing = panel.y.iter().filter(|v| v.is_nan()).count();
        panel.warnings.push(format!(
            "the panel is unbalanced: {missing} of {} unit-periods are missing; each comparison uses the units observed in both of its periods",
            n * t
        ));
    }
    Ok(panel)
}
