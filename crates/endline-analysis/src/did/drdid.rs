//! The 2×2 panel DiD estimators of Sant'Anna & Zhao (2020), with influence functions:
//! outcome regression, (standardised) inverse probability weighting, and doubly robust.
//! These are the building blocks of Callaway & Sant'Anna's ATT(g,t); the formulas follow
//! the DRDID package (`reg_did_panel`, `std_ipw_did_panel`, `drdid_panel`), which R's
//! `did` calls.

use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{AnalysisError, Result};

/// How ATT(g,t) adjusts for covariates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EstMethod {
    /// Doubly robust (the default).
    Dr,
    /// Inverse probability weighting.
    Ipw,
    /// Outcome regression.
    Reg,
}

/// One 2×2 comparison: the change in outcome of each unit, whether it is treated, its
/// covariates (with an intercept column) and its weight.
pub struct TwoByTwo<'a> {
    /// Each unit's change in outcome between the base and the later period.
    pub dy: &'a [f64],
    /// Whether the unit is in the treated cohort.
    pub treated: &'a [bool],
    /// Covariates, the first column the intercept.
    pub x: ArrayView2<'a, f64>,
    /// Sampling weights (normalised to mean 1 here).
    pub w: &'a [f64],
}

/// The ATT and each unit's influence function.
pub struct Estimate {
    /// The ATT.
    pub att: f64,
    /// Each unit's influence function (same order as the input).
    pub inf: Vec<f64>,
}

/// Column means of x with each row scaled by `s(i)`: (1/n) Σ_i s_i x_i.
fn weighted_col_means(x: ArrayView2<'_, f64>, s: impl Fn(usize) -> f64) -> Array1<f64> {
    let (n, k) = x.dim();
    let mut out = Array1::<f64>::zeros(k);
    for i in 0..n {
        let si = s(i);
        if si != 0.0 {
            out.scaled_add(si, &x.row(i));
        }
    }
    out / n as f64
}

/// Weighted least squares of `dy` on `x` among the controls, with the linear
/// representation of the coefficients (DRDID's `asy.lin.rep.ols`).
fn control_regression(p: &TwoByTwo<'_>, w: &[f64]) -> Result<(Array1<f64>, Array2<f64>)> {
    let (n, k) = p.x.dim();
    let wc: Vec<f64> = (0..n).map(|i| if p.treated[i] { 0.0 } else { w[i] }).collect();
    let mut xtx = Array2::<f64>::zeros((k, k));
    let mut xty = Array1::<f64>::zeros(k);
    for i in 0..n {
        if wc[i] == 0.0 {
            continue;
        }
        let xi = p.x.row(i);
        for a in 0..k {
            xty[a] += wc[i] * xi[a] * p.dy[i];
            for b in 0..k {
                xtx[[a, b]] += wc[i] * xi[a] * xi[b];
            }
        }
    }
    let inv = crate::linalg::inverse_spd(&xtx).ok_or_else(|| {
        AnalysisError::NotIdentified(
            "the outcome regression on the comparison units is singular (collinear covariates?)".into(),
        )
    })?;
    let beta = inv.dot(&xty);
    // asy.lin.rep = (w_c * (dy - x'b) * x) (X'WX / n)^-1
    // Row i is (w_c,i * resid_i) * x_i' (X'WX/n)^-1: one matrix product, then row scaling.
    let mut rep = p.x.dot(&(&inv * n as f64));
    for (i, mut row) in rep.rows_mut().into_iter().enumerate() {
        let s = wc[i] * (p.dy[i] - p.x.row(i).dot(&beta));
        row.mapv_inplace(|v| v * s);
    }
    Ok((beta, rep))
}

/// A logit propensity score by weighted Newton–Raphson, which also gives the Hessian the
/// influence function needs. Returns the fitted probabilities (capped at 1 - 1e-6, as
/// DRDID) and the linear representation score × (X'WX/n)^-1.
fn propensity(p: &TwoByTwo<'_>, w: &[f64]) -> Result<(Vec<f64>, Array2<f64>)> {
    let (n, k) = p.x.dim();
    let d: Vec<f64> = p.treated.iter().map(|t| f64::from(u8::from(*t))).collect();
    let wsum: f64 = w.iter().sum();
    let share = (0..n).map(|i| w[i] * d[i]).sum::<f64>() / wsum;
    // Newton–Raphson on the weighted log-likelihood (what R's glm does by IRLS), from the
    // intercept-only maximum (the weighted treated share; the first column is the
    // intercept), halving a step that would lower the likelihood. linfa-logistic's L-BFGS
    // served as a warm start before; its line search never returns once the loss turns
    // NaN, which hung not-yet-treated cells with a binary covariate.
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let loglik = |b: &Array1<f64>| -> f64 {
        (0..n)
            .map(|i| {
                let pi = sigmoid(p.x.row(i).dot(b)).clamp(1e-300, 1.0 - 1e-16);
                w[i] * (d[i] * pi.ln() + (1.0 - d[i]) * (1.0 - pi).ln())
            })
            .sum()
    };
    let mut beta = Array1::<f64>::zeros(k);
    beta[0] = (share / (1.0 - share)).ln();
    let mut current = loglik(&beta);
    let mut hess_inv = Array2::<f64>::zeros((k, k));
    let mut last_size = f64::INFINITY;
    for iter in 0..100 {
        let mut grad = Array1::<f64>::zeros(k);
        let mut hess = Array2::<f64>::zeros((k, k));
        for i in 0..n {
            let xi = p.x.row(i);
            let pi = sigmoid(xi.dot(&beta));
            let r = w[i] * (d[i] - pi);
            let h = w[i] * pi * (1.0 - pi);
            for a in 0..k {
                grad[a] += r * xi[a];
                for b in 0..k {
                    hess[[a, b]] += h * xi[a] * xi[b];
                }
            }
        }
        hess_inv = crate::linalg::inverse_spd(&hess).ok_or_else(|| {
            AnalysisError::NotIdentified(
                "the propensity score model is singular: a covariate separates treated from comparison units".into(),
            )
        })?;
        let mut step = hess_inv.dot(&grad);
        let mut next = &beta + &step;
        let mut value = loglik(&next);
        for _ in 0..30 {
            if value.is_finite() && value >= current - 1e-12 * current.abs().max(1.0) {
                break;
            }
            step.mapv_inplace(|v| v / 2.0);
            next = &beta + &step;
            value = loglik(&next);
        }
        beta = next;
        let gain = value - current;
        current = value;
        let size = step.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if size < 1e-11 * (1.0 + beta.iter().fold(0.0f64, |m, v| m.max(v.abs()))) {
            break;
        }
        // Quasi-complete separation: a coefficient runs off to infinity in steps that do not
        // shrink, while the likelihood stops moving. Stop there, as R's glm does (its
        // criterion: a relative deviance change below 1e-8); the units ruled out get
        // probabilities of about zero. Converging fits never get here: their steps shrink
        // quadratically.
        if size > 0.5 * last_size && gain.abs() <= 1e-10 * (current.abs() + 0.1) {
            break;
        }
        last_size = size;
        if iter == 99 || !size.is_finite() {
            return Err(AnalysisError::NotIdentified(
                "the propensity score model does not converge (perfect separation?)".into(),
            ));
        }
    }
    let ps: Vec<f64> = (0..n).map(|i| sigmoid(p.x.row(i).dot(&beta)).min(1.0 - 1e-6)).collect();
    let mut rep = p.x.dot(&(&hess_inv * n as f64));
    for (i, mut row) in rep.rows_mut().into_iter().enumerate() {
        let s = w[i] * (d[i] - ps[i]);
        row.mapv_inplace(|v| v * s);
    }
    Ok((ps, rep))
}

fn mean(v: impl Iterator<Item = f64>, n: usize) -> f64 {
    v.sum::<f64>() / n as f64
}

/// Estimates one 2×2 ATT with its influence function.
pub fn estimate(p: &TwoByTwo<'_>, method: EstMethod) -> Result<Estimate> {
    let n = p.dy.len();
    let mw = p.w.iter().sum::<f64>() / n as f64;
    let w: Vec<f64> = p.w.iter().map(|v| v / mw).collect();
    let d: Vec<f64> = p.treated.iter().map(|t| f64::from(u8::from(*t))).collect();
    let w_treat: Vec<f64> = (0..n).map(|i| w[i] * d[i]).collect();
    let mean_wt = mean(w_treat.iter().copied(), n);
    if mean_wt == 0.0 || d.iter().all(|v| *v == 1.0) {
        return Err(AnalysisError::NotIdentified("a comparison needs both treated and comparison units".into()));
    }
    let row_dot = |m: &Array2<f64>, v: &Array1<f64>| -> Vec<f64> { m.dot(v).to_vec() };
    match method {
        EstMethod::Reg => {
            let (beta, rep) = control_regression(p, &w)?;
            let out: Vec<f64> = (0..n).map(|i| p.dx_row_dot(i, &beta)).collect();
            let att_treat: Vec<f64> = (0..n).map(|i| w_treat[i] * p.dy[i]).collect();
            let att_cont: Vec<f64> = (0..n).map(|i| w_treat[i] * out[i]).collect();
            let eta_t = mean(att_treat.iter().copied(), n) / mean_wt;
            let eta_c = mean(att_cont.iter().copied(), n) / mean_wt;
            let m1 = weighted_col_means(p.x, |i| w_treat[i]);
            let cont2 = row_dot(&rep, &m1);
            let inf = (0..n)
                .map(|i| {
                    (att_treat[i] - w_treat[i] * eta_t) / mean_wt
                        - (att_cont[i] - w_treat[i] * eta_c + cont2[i]) / mean_wt
                })
                .collect();
            Ok(Estimate { att: eta_t - eta_c, inf })
        }
        EstMethod::Ipw => {
            let (ps, rep) = propensity(p, &w)?;
            let w_cont: Vec<f64> = (0..n).map(|i| w[i] * ps[i] * (1.0 - d[i]) / (1.0 - ps[i])).collect();
            let mean_wc = mean(w_cont.iter().copied(), n);
            let eta_t = mean((0..n).map(|i| w_treat[i] * p.dy[i]), n) / mean_wt;
            let eta_c = mean((0..n).map(|i| w_cont[i] * p.dy[i]), n) / mean_wc;
            let m2 = weighted_col_means(p.x, |i| w_cont[i] * (p.dy[i] - eta_c));
            let cont2 = row_dot(&rep, &m2);
            let inf = (0..n)
                .map(|i| {
                    let treat = (w_treat[i] * p.dy[i] - w_treat[i] * eta_t) / mean_wt;
                    let cont = (w_cont[i] * p.dy[i] - w_cont[i] * eta_c + cont2[i]) / mean_wc;
                    treat - cont
                })
                .collect();
            Ok(Estimate { att: eta_t - eta_c, inf })
        }
        EstMethod::Dr => {
            let (ps, rep_ps) = propensity(p, &w)?;
            let (beta, rep_ols) = control_regression(p, &w)?;
            let out: Vec<f64> = (0..n).map(|i| p.dx_row_dot(i, &beta)).collect();
            let w_cont: Vec<f64> = (0..n).map(|i| w[i] * ps[i] * (1.0 - d[i]) / (1.0 - ps[i])).collect();
            let mean_wc = mean(w_cont.iter().copied(), n);
            let r: Vec<f64> = (0..n).map(|i| p.dy[i] - out[i]).collect();
            let eta_t = mean((0..n).map(|i| w_treat[i] * r[i]), n) / mean_wt;
            let eta_c = mean((0..n).map(|i| w_cont[i] * r[i]), n) / mean_wc;
            let m1 = weighted_col_means(p.x, |i| w_treat[i]);
            let m2 = weighted_col_means(p.x, |i| w_cont[i] * (r[i] - eta_c));
            let m3 = weighted_col_means(p.x, |i| w_cont[i]);
            let (t2, c2, c3) = (row_dot(&rep_ols, &m1), row_dot(&rep_ps, &m2), row_dot(&rep_ols, &m3));
            let inf = (0..n)
                .map(|i| {
                    let treat = (w_treat[i] * r[i] - w_treat[i] * eta_t - t2[i]) / mean_wt;
                    let cont = (w_cont[i] * r[i] - w_cont[i] * eta_c + c2[i] - c3[i]) / mean_wc;
                    treat - cont
                })
                .collect();
            Ok(Estimate { att: eta_t - eta_c, inf })
        }
    }
}

impl TwoByTwo<'_> {
    fn dx_row_dot(&self, i: usize, beta: &Array1<f64>) -> f64 {
        self.x.row(i).dot(beta)
    }
}
