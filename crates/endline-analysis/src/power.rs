//! Analytic power for difference-in-differences designs, beside the simulated power of
//! `endline power`.
//!
//! - The noncentral t: two-sided power of a t test, and the minimum detectable effect
//!   (Bloom 1995): MDE = (t_{1−α/2} + t_{power}) · SE, with the t quantiles on the
//!   clusters' degrees of freedom.
//! - The design's standard error for Callaway & Sant'Anna's simple aggregation (with a
//!   discrete covariate, as the stratified comparison it amounts to): the estimate is a linear combination Σ_j Σ_t w_jt ȳ_jt of the units'
//!   wave means, with Σ_t w_jt = 0 for every unit, so the units' persistent levels cancel
//!   and, with transitory unit × wave variation σ²_T independent across waves (no serial
//!   correlation, the case of Burlig, Preonas & Woerman (2020) with ψ = 0), its variance
//!   is σ²_T Σ w²_jt, exactly.

use statrs::distribution::{ChiSquared, ContinuousCDF, StudentsT};

use crate::honest::normal;

/// P(T > x) for a noncentral t with `df` degrees of freedom and noncentrality `ncp`:
/// E[Φ̄(x·S − ncp)] over S = sqrt(χ²_df/df), integrated numerically (tanh–sinh over the
/// central 1 − 2e-16 of S's distribution). For df above 10⁵, the normal limit.
pub fn noncentral_t_sf(x: f64, df: f64, ncp: f64) -> f64 {
    if df > 1e5 {
        return normal::sf(x - ncp);
    }
    let Ok(chi) = ChiSquared::new(df) else { return f64::NAN };
    let (lo, hi) = ((chi.inverse_cdf(1e-16) / df).sqrt(), (chi.inverse_cdf(1.0 - 1e-16) / df).sqrt());
    // The density of S at s: 2 df s f_χ²(df s²).
    let log_density = |s: f64| {
        let v = df * s * s;
        (2.0 * df * s).ln() + (df / 2.0 - 1.0) * v.ln()
            - v / 2.0
            - (df / 2.0) * std::f64::consts::LN_2
            - statrs::function::gamma::ln_gamma(df / 2.0)
    };
    let (nodes, weights) = crate::pretrends::tanh_sinh(1.0 / 64.0);
    let mut total = 0.0;
    for (x01, w) in nodes.iter().zip(&weights) {
        let s = lo + (hi - lo) * x01;
        total += w * (hi - lo) * log_density(s).exp() * normal::sf(x * s - ncp);
    }
    total
}

/// Φ⁻¹(p).
pub fn normal_quantile(p: f64) -> f64 {
    normal::quantile(p)
}

/// Two-sided power of a t test at level `alpha` with noncentrality `ncp`.
pub fn t_power(ncp: f64, df: f64, alpha: f64) -> f64 {
    let crit = t_quantile(1.0 - alpha / 2.0, df);
    noncentral_t_sf(crit, df, ncp) + noncentral_t_sf(crit, df, -ncp)
}

/// The t distribution's quantile.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

/// Bloom's minimum detectable effect: (t_{1−α/2} + t_{power}) · SE.
pub fn mde(se: f64, df: f64, alpha: f64, power: f64) -> f64 {
    (t_quantile(1.0 - alpha / 2.0, df) + t_quantile(power, df)) * se
}

/// Comparison units in Callaway & Sant'Anna.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controls {
    /// Never treated.
    Never,
    /// Never or not yet treated.
    NotYet,
}

/// The weights w_jt (unit-major, `periods.len()` per unit) with which Callaway &
/// Sant'Anna's simple aggregation combines the units' wave means, with equal unit
/// weights and a covariate that takes few values (`cell` per unit; all equal: no
/// covariate). Each post cell (g, t) compares cohort g's change from g−1 to t with the
/// comparison units' in the same covariate cell, the covariate cells weighted by their
/// share of cohort g (what the doubly robust estimator does with a saturated discrete
/// covariate), and the post cells are weighted by cohort size. None when no cell has both
/// treated and comparison units.
pub fn simple_att_weights(cohort: &[i64], cell: &[usize], periods: &[i64], controls: Controls) -> Option<Vec<f64>> {
    let t_n = periods.len();
    let mut groups: Vec<i64> = cohort.iter().copied().filter(|g| *g > 0).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut cells: Vec<usize> = cell.to_vec();
    cells.sort_unstable();
    cells.dedup();
    // (cohort, base period, period, [(treated, comparison) per covariate cell])
    type Comparison = (i64, usize, usize, Vec<(Vec<usize>, Vec<usize>)>);
    let mut comparisons: Vec<Comparison> = Vec::new();
    for &g in &groups {
        let Some(base) = (0..t_n).rev().find(|&i| periods[i] < g) else { continue };
        for t in 0..t_n {
            if periods[t] < g {
                continue;
            }
            let later = periods[t].max(periods[base]);
            let is_control = |j: usize| match controls {
                Controls::Never => cohort[j] == 0,
                Controls::NotYet => cohort[j] == 0 || (cohort[j] > later && cohort[j] != g),
            };
            let by_cell: Vec<(Vec<usize>, Vec<usize>)> = cells
                .iter()
                .map(|&c| {
                    let treated = (0..cohort.len()).filter(|&j| cohort[j] == g && cell[j] == c).collect();
                    let control = (0..cohort.len()).filter(|&j| is_control(j) && cell[j] == c).collect();
                    (treated, control)
                })
                .collect();
            // Treated units of a covariate cell without comparison units cannot be
            // compared: the estimator has no overlap there.
            if by_cell.iter().any(|(t, c)| !t.is_empty() && c.is_empty()) {
                return None;
            }
            if by_cell.iter().any(|(t, _)| !t.is_empty()) {
                comparisons.push((g, base, t, by_cell));
            }
        }
    }
    if comparisons.is_empty() {
        return None;
    }
    let n = cohort.len() as f64;
    let share = |g: i64| cohort.iter().filter(|c| **c == g).count() as f64 / n;
    let total: f64 = comparisons.iter().map(|c| share(c.0)).sum();
    let mut w = vec![0.0; cohort.len() * t_n];
    for (g, base, t, by_cell) in &comparisons {
        let n_g: usize = by_cell.iter().map(|(tr, _)| tr.len()).sum();
        for (treated, control) in by_cell.iter().filter(|(tr, _)| !tr.is_empty()) {
            let cw = share(*g) / total * treated.len() as f64 / n_g as f64;
            for &j in treated {
                w[j * t_n + t] += cw / treated.len() as f64;
                w[j * t_n + base] -= cw / treated.len() as f64;
            }
            for &j in control {
                w[j * t_n + t] -= cw / control.len() as f64;
                w[j * t_n + base] += cw / control.len() as f64;
            }
        }
    }
    Some(w)
}

/// The transitory variance σ²_T of unit × wave means (units × periods, unit-major): the
/// residual variance after removing unit means and wave means, the wave means taken
/// within each `cell` of units (those alike in the covariates, whose trends the
/// estimator conditions on), pooled on Σ (J_c − 1)(T − 1) degrees of freedom. Units with
/// a missing wave are left out.
pub fn transitory_variance(means: &[f64], periods: usize, cell: &[usize]) -> Option<f64> {
    let t = periods;
    let mut cells: std::collections::BTreeMap<usize, Vec<&[f64]>> = std::collections::BTreeMap::new();
    for (r, c) in means.chunks(t).zip(cell) {
        if r.iter().all(|v| v.is_finite()) {
            cells.entry(*c).or_default().push(r);
        }
    }
    let (mut ss, mut df) = (0.0, 0usize);
    for rows in cells.values() {
        let j = rows.len();
        if j < 2 || t < 2 {
            continue;
        }
        let unit: Vec<f64> = rows.iter().map(|r| r.iter().sum::<f64>() / t as f64).collect();
        let wave: Vec<f64> = (0..t).map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / j as f64).collect();
        let grand = unit.iter().sum::<f64>() / j as f64;
        ss += rows
            .iter()
            .enumerate()
            .map(|(a, r)| r.iter().enumerate().map(|(c, v)| (v - unit[a] - wave[c] + grand).powi(2)).sum::<f64>())
            .sum::<f64>();
        df += (j - 1) * (t - 1);
    }
    (df > 0).then(|| ss / df as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R pwr 1.3 (as statsmodels' tests carry it): pwr.t.test(d = 1, n = 30) gives power
    /// 0.967708258242517 (two samples of 30, two-sided, α = 0.05).
    #[test]
    fn two_sample_t_power_matches_r_pwr() {
        let ncp = 1.0 * (30.0f64 / 2.0).sqrt();
        let p = t_power(ncp, 58.0, 0.05);
        assert!((p - 0.967708258242517).abs() < 1e-10, "{p}");
    }

    #[test]
    fn the_noncentral_t_reduces_to_the_central_one() {
        let t = StudentsT::new(0.0, 1.0, 7.0).unwrap_or_else(|e| panic!("{e}"));
        for x in [-3.0, -0.5, 0.0, 1.2, 4.0] {
            let d = noncentral_t_sf(x, 7.0, 0.0) - (1.0 - t.cdf(x));
            assert!(d.abs() < 1e-10, "{x}: {d:e}");
        }
        // R 4.2.2: pt(1.2, 7, ncp = 0.5, lower.tail = FALSE) = 0.2653549494022927.
        assert!((noncentral_t_sf(1.2, 7.0, 0.5) - 0.2653549494022927).abs() < 1e-10);
    }

    #[test]
    fn a_two_period_design_has_the_textbook_variance() {
        // Two periods, half the units treated in the second: the DiD of means has
        // variance σ²(1/J_T + 1/J_C)·2, since each unit contributes a difference of two
        // independent transitory terms.
        let cohort = [2020, 2020, 2020, 0, 0, 0, 0, 0];
        let w =
            simple_att_weights(&cohort, &[0; 8], &[2019, 2020], Controls::Never).unwrap_or_else(|| panic!("no cells"));
        let sum_sq: f64 = w.iter().map(|v| v * v).sum();
        assert!((sum_sq - 2.0 * (1.0 / 3.0 + 1.0 / 5.0)).abs() < 1e-15);
        for u in w.chunks(2) {
            assert!((u[0] + u[1]).abs() < 1e-15, "levels cancel");
        }
    }

    #[test]
    fn a_covariate_makes_the_comparison_within_its_cells() {
        // Cell 0: 2 treated, 2 comparison; cell 1: 1 treated, 3 comparison. The ATT is
        // (2/3) DiD₀ + (1/3) DiD₁, each DiD with variance 2σ²(1/n_T + 1/n_C).
        let cohort = [2020, 2020, 0, 0, 2020, 0, 0, 0];
        let cell = [0, 0, 0, 0, 1, 1, 1, 1];
        let w = simple_att_weights(&cohort, &cell, &[2019, 2020], Controls::Never).unwrap_or_else(|| panic!("none"));
        let sum_sq: f64 = w.iter().map(|v| v * v).sum();
        let want = (2.0f64 / 3.0).powi(2) * 2.0 * (0.5 + 0.5) + (1.0f64 / 3.0).powi(2) * 2.0 * (1.0 + 1.0 / 3.0);
        assert!((sum_sq - want).abs() < 1e-15, "{sum_sq} vs {want}");
        // Treated units of a cell with no comparison units: no estimate.
        let lonely = [2020, 2020, 0, 0, 2020, 2020, 2020, 2020];
        assert!(simple_att_weights(&lonely, &cell, &[2019, 2020], Controls::Never).is_none());
    }
}
