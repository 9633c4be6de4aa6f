//! The wild cluster restricted (WCR) bootstrap of a t test, for designs with few
//! clusters (Cameron, Gelbach & Miller 2008; Roodman, MacKinnon, Nielsen & Webb 2019).
//!
//! For the hypothesis β_j = 0: fit the model without column j, keep its fitted values
//! ŷ_r and residuals ũ; draw one weight v_g per cluster; form y* = ŷ_r + v_g ũ; refit;
//! compute t*_j with the same CR1 variance as the original t. The p-value is the share of
//! |t*| at least |t|.
//!
//! When every fixed effect is nested in the bootstrap cluster (or there is none), the
//! demeaned v_g ũ needs no new demeaning and each draw costs O(G·K) from per-cluster
//! sums. Otherwise each draw demeans v_g ũ again, which is exact but O(N) per draw.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::Serialize;

use crate::data::FactorColumn;
use crate::demean::{Absorber, DemeanOptions};
use crate::error::{AnalysisError, Result};
use endline_rng::Rng;

/// The distribution of the cluster weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WildWeights {
    /// ±1 with probability 1/2.
    Rademacher,
    /// Webb's six-point distribution: ±√(1/2), ±1, ±√(3/2), for very few clusters.
    Webb,
}

/// A wild cluster bootstrap request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildBootstrap {
    /// Draws.
    pub reps: usize,
    /// Weight distribution.
    pub weights: WildWeights,
    /// Seed of the generator: the same seed gives the same p-values.
    pub seed: u64,
    /// The cluster variable (default: the variance's first cluster).
    pub cluster: Option<String>,
}

/// The bootstrap test of one coefficient.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WildResult {
    /// Share of bootstrap |t*| at least the sample |t|.
    pub p_value: f64,
    /// Draws.
    pub reps: usize,
    /// Weights used.
    pub weights: WildWeights,
    /// Seed used.
    pub seed: u64,
    /// The bootstrap cluster variable's number of clusters.
    pub clusters: usize,
}

/// The estimated model, as the bootstrap needs it (all in the sqrt(w)-scaled,
/// demeaned space).
pub(crate) struct Problem<'a> {
    pub x: ArrayView2<'a, f64>,
    pub y: ArrayView1<'a, f64>,
    pub cluster: &'a FactorColumn,
    pub bread: &'a Array2<f64>,
    pub df_k: usize,
    /// For fixed effects not nested in the cluster: how to demean again.
    pub absorber: Option<(&'a Absorber<'a>, Option<&'a [f64]>, DemeanOptions)>,
}

fn draw(rng: &mut Rng, w: WildWeights) -> f64 {
    match w {
        WildWeights::Rademacher => {
            if rng.next_u64() >> 63 == 0 {
                -1.0
            } else {
                1.0
            }
        }
        WildWeights::Webb => {
            const V: [f64; 6] = [
                -1.224_744_871_391_589,
                -1.0,
                -std::f64::consts::FRAC_1_SQRT_2,
                std::f64::consts::FRAC_1_SQRT_2,
                1.0,
                1.224_744_871_391_589,
            ];
            V[rng.below(6) as usize]
        }
    }
}

/// Tests β_j = 0; `t` is the sample t statistic.
pub(crate) fn test(p: &Problem<'_>, j: usize, t: f64, b: &WildBootstrap) -> Result<WildResult> {
    let (n, k) = p.x.dim();
    let g = p.cluster.n_levels();
    if g < 2 {
        return Err(AnalysisError::NotIdentified("the wild cluster bootstrap needs at least two clusters".into()));
    }
    if b.reps == 0 {
        return Err(AnalysisError::Invalid("the bootstrap needs at least one draw".into()));
    }
    let adj = g as f64 / (g as f64 - 1.0) * (n as f64 - 1.0) / (n - p.df_k) as f64;
    // Restricted fit: y on X without column j.
    let others: Vec<usize> = (0..k).filter(|&c| c != j).collect();
    let (fitted_r, resid_r): (Array1<f64>, Array1<f64>) = if others.is_empty() {
        (Array1::zeros(n), p.y.to_owned())
    } else {
        let xr = p.x.select(ndarray::Axis(1), &others);
        let xtx = xr.t().dot(&xr);
        let xty = xr.t().dot(&p.y);
        let beta = crate::linalg::solve_spd(xtx.view(), xty.as_slice().unwrap_or(&xty.to_vec()))
            .ok_or_else(|| AnalysisError::NotIdentified("the restricted model is singular".into()))?;
        let f = xr.dot(&Array1::from_vec(beta));
        let r = &p.y - &f;
        (f, r)
    };
    let bj = p.bread.row(j).to_owned();
    let codes = &p.cluster.codes;
    let mut rng = Rng::new(b.seed);
    let mut v = vec![0.0; g];
    let mut exceed = 0usize;
    match p.absorber {
        None => {
            // Per-cluster sums: A_g = X_g'ŷ_r, B_g = X_g'ũ, and h_g = X_g'X_g b_j.
            let mut a = Array2::<f64>::zeros((g, k));
            let mut bb = Array2::<f64>::zeros((g, k));
            let mut h = Array2::<f64>::zeros((g, k));
            for i in 0..n {
                let c = codes[i] as usize;
                let xb: f64 = (0..k).map(|m| p.x[[i, m]] * bj[m]).sum();
                for m in 0..k {
                    let xm = p.x[[i, m]];
                    a[[c, m]] += xm * fitted_r[i];
                    bb[[c, m]] += xm * resid_r[i];
                    h[[c, m]] += xm * xb;
                }
            }
            let beta_a = p.bread.dot(&a.sum_axis(ndarray::Axis(0)));
            let beta_b = bb.dot(p.bread);
            let a_j = a.dot(&bj);
            let b_j = bb.dot(&bj);
            let mut beta = vec![0.0; k];
            for _ in 0..b.reps {
                v.iter_mut().for_each(|x| *x = draw(&mut rng, b.weights));
                beta.copy_from_slice(beta_a.as_slice().unwrap_or(&beta_a.to_vec()));
                for c in 0..g {
                    for m in 0..k {
                        beta[m] += v[c] * beta_b[[c, m]];
                    }
                }
                let mut ss = 0.0;
                for c in 0..g {
                    let hb: f64 = (0..k).map(|m| h[[c, m]] * beta[m]).sum();
                    let s = a_j[c] + v[c] * b_j[c] - hb;
                    ss += s * s;
                }
                let tb = beta[j] / (adj * ss).sqrt();
                if tb.abs() >= t.abs() {
                    exceed += 1;
                }
            }
        }
        Some((absorber, sw, opts)) => {
            let mut e = vec![0.0; n];
            for _ in 0..b.reps {
                v.iter_mut().for_each(|x| *x = draw(&mut rng, b.weights));
                for i in 0..n {
                    e[i] = v[codes[i] as usize] * resid_r[i];
                }
                // Demean in the unscaled space, then scale back.
                if let Some(sw) = sw {
                    e.iter_mut().zip(sw).for_each(|(x, s)| *x /= s);
                }
                absorber.demean(&mut e, opts);
                if let Some(sw) = sw {
                    e.iter_mut().zip(sw).for_each(|(x, s)| *x *= s);
                }
                let ystar: Array1<f64> = &fitted_r + &Array1::from_vec(e.clone());
                let beta = p.bread.dot(&p.x.t().dot(&ystar));
                let u = &ystar - &p.x.dot(&beta);
                let mut s = vec![0.0; g];
                for i in 0..n {
                    let xb: f64 = (0..k).map(|m| p.x[[i, m]] * bj[m]).sum();
                    s[codes[i] as usize] += xb * u[i];
                }
                let ss: f64 = s.iter().map(|x| x * x).sum();
                let tb = beta[j] / (adj * ss).sqrt();
                if tb.abs() >= t.abs() {
                    exceed += 1;
                }
            }
        }
    }
    Ok(WildResult {
        p_value: exceed as f64 / b.reps as f64,
        reps: b.reps,
        weights: b.weights,
        seed: b.seed,
        clusters: g,
    })
}
