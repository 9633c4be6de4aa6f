//! From the estimated ATT(g,t) and their influence functions to the aggregations, the
//! pre-test and the intervals: `compute.aggte` of R's `did`, once for both ways of holding
//! influence functions: as values per unit (the in-memory estimator) or as linear forms
//! over per-cohort sufficient statistics ([`super::stats`]).

use ndarray::Array2;
use statrs::distribution::{ContinuousCDF, Normal};

use super::{Aggregate, AggregateBy, AttGt, CohortSize, CsResult, Effect, PreTest};
use crate::error::{AnalysisError, Result};

/// Where influence functions live, and how a standard error is taken from one.
pub(super) trait Space {
    /// One influence function.
    type F: Clone + Send + Sync;
    /// The zero function.
    fn zero(&self) -> Self::F;
    /// `y += a · x`.
    fn axpy(&self, y: &mut Self::F, a: f64, x: &Self::F);
    /// `y_i += f(G_i, w_i)` for every unit i, with cohort G_i and weight w_i.
    fn add_by_cohort(&self, y: &mut Self::F, f: &dyn Fn(i64, f64) -> f64);
    /// The standard error of the estimate whose influence function is `f`.
    fn se(&self, f: &Self::F) -> Result<f64>;
    /// n times the covariance matrix of several estimates.
    fn covariance(&self, fs: &[&Self::F]) -> Result<Array2<f64>>;
}

/// What the aggregation needs besides the cells.
pub(super) struct Inputs<'a> {
    /// The sorted periods.
    pub periods: &'a [i64],
    /// The treated cohorts, sorted.
    pub groups: &'a [i64],
    /// Units in the estimation.
    pub n: usize,
    /// Cohort shares P(G = g), weighted.
    pub shares: &'a std::collections::HashMap<i64, f64>,
    /// Units per cohort.
    pub cohorts: Vec<CohortSize>,
    /// Significance level.
    pub alpha: f64,
    /// Bootstrap standard errors of the cells and the band's critical value.
    pub bootstrap: Option<(Vec<f64>, f64)>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// The aggregations, the pre-test and the intervals. `reference[c]` marks the cells fixed
/// at 0 (the universal base period's own period).
pub(super) fn finish<S: Space>(
    space: &S,
    mut cells: Vec<AttGt>,
    infs: Vec<S::F>,
    reference: &[bool],
    inp: Inputs<'_>,
) -> Result<CsResult> {
    let Inputs { periods, groups, n, shares, cohorts, alpha, bootstrap, mut warnings } = inp;
    let pg = |g: i64| shares.get(&g).copied().unwrap_or(0.0);
    let att: Vec<f64> = cells.iter().map(|c| c.att).collect();

    // The influence function of an aggregation Σ_k w_k ATT_k with w_k ∝ P(G = g_k),
    // including the estimation of the weights (did's `wif`).
    let agg = |which: &[usize], with_wif: bool| -> (f64, S::F) {
        let pgs: Vec<f64> = which.iter().map(|&c| pg(cells[c].group)).collect();
        let total: f64 = pgs.iter().sum();
        let est: f64 = which.iter().zip(&pgs).map(|(&c, p)| p * att[c]).sum::<f64>() / total;
        let mut inf = space.zero();
        for (&c, p) in which.iter().zip(&pgs) {
            space.axpy(&mut inf, p / total, &infs[c]);
        }
        if with_wif {
            // The estimated-weights term (did's `wif`), per unit i with cohort G_i:
            //   Σ_c (w_i 1{G_i = g_c} - p_c) att_c / T  -  (Σ_c (w_i 1{G_i = g_c} - p_c)) Σ_c p_c att_c / T²,
            // which depends on i only through w_i, the summed ATT and the count of the
            // cells of i's cohort: O(n) instead of O(n × cells).
            let weighted: f64 = which.iter().zip(&pgs).map(|(&c, p)| p * att[c]).sum();
            let p_att_over_t = weighted / total;
            let mut by_cohort: std::collections::HashMap<i64, (f64, f64)> = std::collections::HashMap::new();
            for &c in which {
                let e = by_cohort.entry(cells[c].group).or_insert((0.0, 0.0));
                e.0 += att[c];
                e.1 += 1.0;
            }
            space.add_by_cohort(&mut inf, &|g, w| {
                let (sum_att, count) = by_cohort.get(&g).copied().unwrap_or((0.0, 0.0));
                let a = (w * sum_att - weighted) / total;
                let s = w * count - total;
                a - s * p_att_over_t / total
            });
        }
        (est, inf)
    };
    let mean_of = |parts: &[(f64, S::F)]| -> (f64, S::F) {
        let m = parts.len() as f64;
        let est = parts.iter().map(|p| p.0).sum::<f64>() / m;
        let mut inf = space.zero();
        for p in parts {
            space.axpy(&mut inf, 1.0 / m, &p.1);
        }
        (est, inf)
    };

    let post: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].group <= cells[c].time).collect();
    let simple = agg(&post, true);

    let mut event_times: Vec<i64> = cells.iter().map(|c| c.time - c.group).collect();
    event_times.sort_unstable();
    event_times.dedup();
    let dynamic_by: Vec<(i64, (f64, S::F))> = event_times
        .iter()
        .map(|&e| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time - cells[c].group == e).collect();
            (e, agg(&which, true))
        })
        .collect();
    let dyn_post: Vec<(f64, S::F)> = dynamic_by.iter().filter(|(e, _)| *e >= 0).map(|(_, p)| p.clone()).collect();
    let dynamic_overall = mean_of(&dyn_post);

    let group_by: Vec<(i64, (f64, S::F))> = groups
        .iter()
        .filter_map(|&g| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].group == g && g <= cells[c].time).collect();
            if which.is_empty() {
                return None;
            }
            let parts: Vec<(f64, S::F)> = which.iter().map(|&c| (att[c], infs[c].clone())).collect();
            Some((g, mean_of(&parts)))
        })
        .collect();
    let group_overall = {
        let pgs: Vec<f64> = group_by.iter().map(|(g, _)| pg(*g)).collect();
        let total: f64 = pgs.iter().sum();
        let est: f64 = group_by.iter().zip(&pgs).map(|((_, (a, _)), p)| a * p).sum::<f64>() / total;
        let mut inf = space.zero();
        for ((_, (_, f)), p) in group_by.iter().zip(&pgs) {
            space.axpy(&mut inf, p / total, f);
        }
        space.add_by_cohort(&mut inf, &|cohort, w| {
            let mut a = 0.0;
            let mut s = 0.0;
            for ((g, (att_g, _)), p) in group_by.iter().zip(&pgs) {
                let ind = if cohort == *g { w } else { 0.0 };
                a += (ind - p) / total * att_g;
                s += ind - p;
            }
            a - s * est * total / (total * total)
        });
        (est, inf)
    };

    let min_group = groups[0];
    let calendar_by: Vec<(i64, (f64, S::F))> = periods
        .iter()
        .filter(|&&t| t >= min_group)
        .filter_map(|&t| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time == t && cells[c].group <= t).collect();
            (!which.is_empty()).then(|| (t, agg(&which, true)))
        })
        .collect();
    let cal_parts: Vec<(f64, S::F)> = calendar_by.iter().map(|(_, p)| p.clone()).collect();
    let calendar_overall = mean_of(&cal_parts);

    // Pre-test: every pre-treatment ATT(g,t) = 0 (cells normalised to 0 excluded).
    let pre: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].group > cells[c].time && !reference[c]).collect();
    let pretrend_test = if pre.is_empty() {
        None
    } else {
        // The covariance of the pre-treatment cells, from their influence functions: over
        // units (R did's analytic V), or over cluster sums when clustering, like every
        // standard error here. R did's analytic pre-test ignores clustering (it leaves
        // clustering to the bootstrap); with households clustered in counties, that
        // rejects far too often.
        let m = pre.len();
        let pre_infs: Vec<&S::F> = pre.iter().map(|&c| &infs[c]).collect();
        let v = space.covariance(&pre_infs)?;
        let theta: Vec<f64> = pre.iter().map(|&c| att[c]).collect();
        match crate::inference::quadratic_form(v.view(), &theta) {
            Some(q) => {
                let stat = n as f64 * q;
                Some(PreTest { statistic: stat, df: m, p_value: crate::inference::chi2_p_value(stat, m) })
            }
            None => {
                warnings.push("the pre-test of parallel trends is not available: the variance of the pre-treatment ATT(g,t) is singular".into());
                None
            }
        }
    };

    // Inference: analytic, or the multiplier bootstrap with uniform bands over ATT(g,t).
    let normal = Normal::new(0.0, 1.0).map_err(|e| AnalysisError::Invalid(e.to_string()))?;
    let z = normal.inverse_cdf(1.0 - alpha / 2.0);
    let crit = bootstrap.as_ref().map_or(z, |b| b.1);
    for (i, cell) in cells.iter_mut().enumerate() {
        if let Some((se, _)) = bootstrap.as_ref().filter(|_| cell.std_error > 0.0) {
            cell.std_error = se[i];
        }
        cell.conf_low = cell.att - crit * cell.std_error;
        cell.conf_high = cell.att + crit * cell.std_error;
    }
    let effect = |(est, inf): &(f64, S::F)| -> Result<Effect> {
        let se = space.se(inf)?;
        Ok(Effect { att: *est, std_error: se, conf_low: est - z * se, conf_high: est + z * se })
    };
    let by = |v: &[(i64, (f64, S::F))]| -> Result<Vec<AggregateBy>> {
        v.iter().map(|(i, p)| Ok(AggregateBy { index: *i, effect: effect(p)? })).collect()
    };
    let dynamic_vcov = {
        let dyn_infs: Vec<&S::F> = dynamic_by.iter().map(|(_, (_, f))| f).collect();
        let v = space.covariance(&dyn_infs)?;
        (0..dyn_infs.len()).map(|a| (0..dyn_infs.len()).map(|b| v[[a, b]] / n as f64).collect()).collect()
    };
    Ok(CsResult {
        dynamic_vcov,
        simple: effect(&simple)?,
        dynamic: Aggregate { overall: effect(&dynamic_overall)?, by: by(&dynamic_by)? },
        group: Aggregate { overall: effect(&group_overall)?, by: by(&group_by)? },
        calendar: Aggregate { overall: effect(&calendar_overall)?, by: by(&calendar_by)? },
        att_gt: cells,
        pretrend_test,
        n_units: n,
        cohorts,
        critical_value: crit,
        warnings,
    })
}
