//! The fixed-length confidence interval (FLCI) under smoothness, Δ^SD(M): the affine
//! estimator a'β̂ of θ = l'τ_post with the shortest interval cv_α(bias/sd)·sd, where the
//! bias is its worst case over every violation whose slope changes by at most M between
//! periods (Armstrong & Kolesár 2018; Rambachan & Roth 2023, section 4.1).
//!
//! As in the HonestDiD R package (`findOptimalFLCI`), the pre-period weights are written
//! through their running sums u (u_K fixed by l), in which the worst-case bias is
//! M·(const + Σ|u_k|). The package traces the bias–variance frontier with a conic solver
//! over a grid of variance bounds and simulates the folded normal's quantile; here the
//! frontier is traced exactly as a lasso path (min var(u) + λΣ|u_k|, solved by coordinate
//! descent and polished on its active set), the length is minimised along it by golden
//! section, and the quantile is computed, not simulated.

use super::dense;
use super::normal;

/// An FLCI: the interval and the estimator behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Flci {
    /// Lower bound.
    pub lb: f64,
    /// Upper bound.
    pub ub: f64,
    /// The weights on (β_pre, β_post).
    pub weights: Vec<f64>,
    /// The half-length.
    pub half_length: f64,
}

/// The problem in the free running sums u_1..u_{K−1}: var = u'Pu + 2q'u + r, and the
/// pre-period weights l_pre = D u + c e_K.
struct Problem {
    p: Vec<Vec<f64>>,
    q: Vec<f64>,
    r: f64,
    d: Vec<Vec<f64>>,
    c: f64,
    bias_const: f64,
}

impl Problem {
    fn new(sigma: &[Vec<f64>], pre: usize, l: &[f64]) -> Problem {
        let post = l.len();
        let c: f64 = l.iter().enumerate().map(|(s, v)| (s + 1) as f64 * v).sum();
        let constant: f64 =
            (1..=post).map(|s| (1..=s).map(|j| j as f64 * l[post - s + j - 1]).sum::<f64>().abs()).sum::<f64>() - c;
        let free = pre - 1;
        // l_pre_k = u_k − 2u_{k−1} + u_{k−2} (u_0 = u_{−1} = 0, u_K = c).
        let mut d = vec![vec![0.0; free]; pre];
        for (k, row) in d.iter_mut().enumerate() {
            for (lag, coef) in [(0usize, 1.0), (1, -2.0), (2, 1.0)] {
                if k >= lag && k - lag < free {
                    row[k - lag] += coef;
                }
            }
        }
        let mut e = vec![0.0; pre];
        e[pre - 1] = c;
        let spp: Vec<Vec<f64>> = (0..pre).map(|i| sigma[i][..pre].to_vec()).collect();
        let spq_l: Vec<f64> = (0..pre).map(|i| (0..post).map(|j| sigma[i][pre + j] * l[j]).sum()).collect();
        let sqq: Vec<Vec<f64>> = (0..post).map(|i| sigma[pre + i][pre..].to_vec()).collect();
        let dt: Vec<Vec<f64>> = (0..free).map(|j| d.iter().map(|row| row[j]).collect()).collect();
        let p = dense::sandwich(&dt, &spp);
        let lin: Vec<f64> = dense::mat_vec(&spp, &e).iter().zip(&spq_l).map(|(a, b)| a + b).collect();
        let q = dense::mat_vec(&dt, &lin);
        let r = dense::bilinear(&e, &spp, &e)
            + 2.0 * e.iter().zip(&spq_l).map(|(a, b)| a * b).sum::<f64>()
            + dense::bilinear(l, &sqq, l);
        Problem { p, q, r, d, c, bias_const: constant + c.abs() }
    }

    fn var(&self, u: &[f64]) -> f64 {
        (dense::bilinear(u, &self.p, u) + 2.0 * u.iter().zip(&self.q).map(|(a, b)| a * b).sum::<f64>() + self.r)
            .max(0.0)
    }

    fn bias(&self, u: &[f64]) -> f64 {
        self.bias_const + u.iter().map(|v| v.abs()).sum::<f64>()
    }

    /// argmin var(u) + λ Σ|u_j|, warm-started at `u`.
    fn lasso(&self, lambda: f64, u: &mut [f64]) {
        let n = u.len();
        let scale = u.iter().fold(1e-300f64, |m, v| m.max(v.abs())).max(self.c.abs()).max(1.0);
        for _ in 0..100_000 {
            let mut change = 0.0f64;
            for j in 0..n {
                if self.p[j][j] <= 0.0 {
                    continue;
                }
                let rest: f64 = self.q[j] + (0..n).filter(|&i| i != j).map(|i| self.p[j][i] * u[i]).sum::<f64>();
                let z = -rest;
                let t = lambda / 2.0;
                let new = if z > t {
                    (z - t) / self.p[j][j]
                } else if z < -t {
                    (z + t) / self.p[j][j]
                } else {
                    0.0
                };
                change = change.max((new - u[j]).abs());
                u[j] = new;
            }
            if change <= 1e-15 * scale {
                break;
            }
        }
        self.polish(lambda, u);
    }

    /// Solves the lasso's optimality conditions exactly on the active set coordinate
    /// descent found, keeping the result only if it satisfies them.
    fn polish(&self, lambda: f64, u: &mut [f64]) {
        let active: Vec<usize> = (0..u.len()).filter(|&j| u[j] != 0.0).collect();
        if active.is_empty() {
            return;
        }
        let a: Vec<Vec<f64>> = active.iter().map(|&i| active.iter().map(|&j| self.p[i][j]).collect()).collect();
        let b: Vec<f64> = active.iter().map(|&i| -self.q[i] - lambda / 2.0 * u[i].signum()).collect();
        let Some(sol) = dense::solve(&a, &b) else { return };
        let mut cand = vec![0.0; u.len()];
        for (&i, v) in active.iter().zip(&sol) {
            if v.signum() != u[i].signum() {
                return;
            }
            cand[i] = *v;
        }
        let grad: Vec<f64> = dense::mat_vec(&self.p, &cand).iter().zip(&self.q).map(|(a, b)| 2.0 * (a + b)).collect();
        let ok = (0..u.len()).filter(|j| !active.contains(j)).all(|j| grad[j].abs() <= lambda * (1.0 + 1e-9));
        if ok {
            u.copy_from_slice(&cand);
        }
    }

    fn weights(&self, u: &[f64], l: &[f64]) -> Vec<f64> {
        let mut w: Vec<f64> = self.d.iter().map(|row| row.iter().zip(u).map(|(a, b)| a * b).sum()).collect();
        let k = w.len();
        w[k - 1] += self.c;
        w.extend_from_slice(l);
        w
    }
}

/// The optimal FLCI for θ = l'τ_post at smoothness bound `m`, level 1 − `alpha`.
pub fn flci(beta: &[f64], sigma: &[Vec<f64>], pre: usize, l: &[f64], m: f64, alpha: f64) -> Flci {
    let prob = Problem::new(sigma, pre, l);
    let free = pre - 1;
    let half = |u: &[f64]| {
        let h = prob.var(u).sqrt();
        if h == 0.0 {
            return f64::INFINITY;
        }
        normal::folded_quantile(alpha, m * prob.bias(u) / h) * h
    };
    let lambda_max = 2.0 * prob.q.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let mut u = vec![0.0; free];
    let best_u = if free == 0 {
        u
    } else if m == 0.0 {
        // No bias to trade: the minimum-variance estimator.
        prob.lasso(0.0, &mut u);
        u
    } else {
        // Golden section along the frontier, λ from 0 (least variance) to λ_max (least bias).
        let at = |lambda: f64, warm: &[f64]| -> (f64, Vec<f64>) {
            let mut v = warm.to_vec();
            prob.lasso(lambda, &mut v);
            (half(&v), v)
        };
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (0.0, lambda_max * 1.0001);
        let mut x1 = b - g * (b - a);
        let mut x2 = a + g * (b - a);
        let (mut f1, mut u1) = at(x1, &u);
        let (mut f2, mut u2) = at(x2, &u1);
        for _ in 0..200 {
            if b - a <= 1e-14 * lambda_max.max(1e-300) {
                break;
            }
            if f1 <= f2 {
                b = x2;
                x2 = x1;
                f2 = f1;
                u2 = u1.clone();
                x1 = b - g * (b - a);
                (f1, u1) = at(x1, &u1);
            } else {
                a = x1;
                x1 = x2;
                f1 = f2;
                u1 = u2.clone();
                x2 = a + g * (b - a);
                (f2, u2) = at(x2, &u2);
            }
        }
        // The ends of the frontier too: the length can be least at either.
        let candidates = [(f1, u1), (f2, u2), at(0.0, &u), at(lambda_max * 1.0001, &u)];
        candidates.into_iter().min_by(|x, y| x.0.total_cmp(&y.0)).map(|c| c.1).unwrap_or(u)
    };
    let weights = prob.weights(&best_u, l);
    let center: f64 = weights.iter().zip(beta).map(|(a, b)| a * b).sum();
    let half_length = half(&best_u);
    Flci { lb: center - half_length, ub: center + half_length, weights, half_length }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_smoothness_slack_and_one_pre_period_the_flci_extrapolates_the_line() {
        // One pre-period (K = 1) leaves no freedom: θ = τ_1 is estimated by the linear
        // extrapolation β_1 + β_{−2}, since β_{−2} = −slope and β_1 = τ_1 + slope.
        let sigma = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let f = flci(&[0.5, 2.0], &sigma, 1, &[1.0], 0.0, 0.05);
        assert_eq!(f.weights, vec![1.0, 1.0]);
        assert!((f.lb - (2.5 - 1.959963984540054 * 2f64.sqrt())).abs() < 1e-9);
    }
}
