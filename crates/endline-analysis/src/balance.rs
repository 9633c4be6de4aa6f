//! A balance table in the style of the World Bank's `iebaltab`: for each variable, the
//! mean (and its standard error) in each group, the difference with its p-value from a
//! regression on the group indicator, and the normalised difference; and a joint F test
//! that the variables do not predict the group.

use polars::prelude::DataFrame;
use serde::Serialize;

use crate::data;
use crate::error::{AnalysisError, Result};
use crate::feols::{FTest, FeolsSpec, Vcov};

/// One row of the balance table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BalanceRow {
    /// The variable.
    pub variable: String,
    /// Observations in the comparison group (indicator 0).
    pub n_control: usize,
    /// Mean in the comparison group.
    pub mean_control: f64,
    /// Standard error of that mean.
    pub se_control: f64,
    /// Observations in the treated group (indicator 1).
    pub n_treated: usize,
    /// Mean in the treated group.
    pub mean_treated: f64,
    /// Standard error of that mean.
    pub se_treated: f64,
    /// Treated minus comparison, from `variable ~ group`.
    pub difference: f64,
    /// The p-value of the difference (with the table's variance estimator).
    pub p_value: f64,
    /// (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2).
    pub normalized_difference: f64,
}

/// The balance table.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceTable {
    /// One row per variable.
    pub rows: Vec<BalanceRow>,
    /// F test of all variables in `group ~ v1 + v2 + ...` (None if it cannot be computed).
    pub joint_test: Option<FTest>,
    /// The variance estimator of the tests.
    pub vcov: String,
}

fn moments(v: &[f64], w: Option<&[f64]>) -> (usize, f64, f64) {
    let pairs: Vec<(f64, f64)> =
        v.iter().enumerate().filter(|(_, x)| !x.is_nan()).map(|(i, x)| (*x, w.map_or(1.0, |w| w[i]))).collect();
    let n = pairs.len();
    let sw: f64 = pairs.iter().map(|p| p.1).sum();
    if n == 0 || sw <= 0.0 {
        return (n, f64::NAN, f64::NAN);
    }
    let mean = pairs.iter().map(|(x, wi)| x * wi).sum::<f64>() / sw;
    // Sample variance with frequency-style normalisation n/(n-1).
    let var = if n > 1 {
        pairs.iter().map(|(x, wi)| wi * (x - mean).powi(2)).sum::<f64>() / sw * n as f64 / (n as f64 - 1.0)
    } else {
        f64::NAN
    };
    (n, mean, var)
}

/// Builds the balance table of `variables` between the groups of the 0/1 column `group`.
pub fn balance(
    df: &DataFrame,
    group: &str,
    variables: &[String],
    weights: Option<&str>,
    vcov: Vcov,
) -> Result<BalanceTable> {
    let g = data::numeric(df, group)?;
    if g.iter().any(|v| !(v.is_nan() || *v == 0.0 || *v == 1.0)) {
        return Err(AnalysisError::ColumnType {
            name: group.into(),
            problem: "must be 0/1 (comparison/treated)".into(),
        });
    }
    let w = weights.map(|c| data::numeric(df, c)).transpose()?;
    let mut rows = Vec::new();
    for var in variables {
        let v = data::numeric(df, var)?;
        let split = |want: f64| -> (Vec<f64>, Option<Vec<f64>>) {
            let idx: Vec<usize> = (0..v.len()).filter(|&i| g[i] == want).collect();
            (idx.iter().map(|&i| v[i]).collect(), w.as_ref().map(|w| idx.iter().map(|&i| w[i]).collect()))
        };
        let (v0, w0) = split(0.0);
        let (v1, w1) = split(1.0);
        let (n0, m0, var0) = moments(&v0, w0.as_deref());
        let (n1, m1, var1) = moments(&v1, w1.as_deref());
        let fit = FeolsSpec::new(&format!("{var} ~ {group}"))?.vcov(vcov.clone()).weights(weights).fit(df)?;
        let c = fit
            .coefficient(group)
            .ok_or_else(|| AnalysisError::NotIdentified(format!("`{var}` does not vary with `{group}`")))?;
        rows.push(BalanceRow {
            variable: var.clone(),
            n_control: n0,
            mean_control: m0,
            se_control: (var0 / n0 as f64).sqrt(),
            n_treated: n1,
            mean_treated: m1,
            se_treated: (var1 / n1 as f64).sqrt(),
            difference: c.estimate,
            p_value: c.p_value,
            normalized_difference: (m1 - m0) / ((var0 + var1) / 2.0).sqrt(),
        });
    }
    let joint_test = FeolsSpec::new(&format!("{group} ~ {}", variables.join(" + ")))?
        .vcov(vcov.clone())
        .weights(weights)
        .fit(df)
        .ok()
        .and_then(|f| f.f_test);
    Ok(BalanceTable { rows, joint_test, vcov: vcov.to_string() })
}
