//! The conditional and conditional-least-favourable (hybrid) tests of Andrews, Roth &
//! Pakes (2023), as Rambachan & Roth (2023) use them to test one value of the target
//! parameter against a polyhedral restriction with nuisance parameters.
//!
//! The moments are `y − X ν ≤ 0` for some nuisance ν. The statistic is
//! η̂ = min_ν max_i (y_i − X_i ν)/σ_i, found through its dual
//! `max y'λ s.t. λ ≥ 0, σ'λ = 1, X'λ = 0`, whose optimal vertex selects the binding
//! moments the test conditions on. The algorithm follows the HonestDiD R package
//! (`.lp_conditional_test_fn`, `.vlo_vup_dual_fn`); the linear programs are solved here
//! exactly, by vertex enumeration when the polytope is small and by the simplex otherwise.

use super::dense;
use super::normal;
use super::simplex::{self, Outcome};

/// The dual polytope {λ ≥ 0 : σ'λ = 1, X'λ = 0} of one moment set.
pub struct Polytope {
    /// Wᵀ: (k + 1) rows of m entries (σ, then X's columns).
    wt: Vec<Vec<f64>>,
    /// Its vertices, when few enough to list.
    vertices: Option<Vec<Vec<f64>>>,
}

/// Vertex enumeration is used while the candidate bases number at most this.
const MAX_BASES: u64 = 20_000;

fn binomial(n: usize, k: usize) -> u64 {
    let k = k.min(n.saturating_sub(k));
    let mut c: u64 = 1;
    for i in 0..k {
        c = c.saturating_mul((n - i) as u64) / (i as u64 + 1);
    }
    c
}

impl Polytope {
    /// The polytope of moments with standard deviations `sd` and nuisance columns `x`
    /// (m rows of k entries).
    pub fn new(sd: &[f64], x: &[Vec<f64>]) -> Polytope {
        let m = sd.len();
        let k = x.first().map_or(0, Vec::len);
        let mut wt = vec![sd.to_vec()];
        for j in 0..k {
            wt.push(x.iter().map(|row| row[j]).collect());
        }
        let vertices = (binomial(m, k + 1) <= MAX_BASES).then(|| enumerate(&wt, m, k + 1));
        Polytope { wt, vertices }
    }

    /// max c'λ over the polytope, with the maximising vertex; None when it is empty.
    pub fn max(&self, c: &[f64]) -> Option<(f64, Vec<f64>)> {
        match &self.vertices {
            Some(vs) => {
                let mut best: Option<(f64, &Vec<f64>)> = None;
                for v in vs {
                    let val: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                    if best.is_none_or(|(b, _)| val > b) {
                        best = Some((val, v));
                    }
                }
                best.map(|(v, x)| (v, x.clone()))
            }
            None => {
                let mut b = vec![0.0; self.wt.len()];
                b[0] = 1.0;
                match simplex::maximise(c, &self.wt, &b) {
                    Outcome::Optimal { value, x } => Some((value, x)),
                    Outcome::Infeasible | Outcome::Unbounded => None,
                }
            }
        }
    }
}

/// Every basic feasible solution of {λ ≥ 0 : Wᵀλ = e₁}: for each set of `size` moments
/// whose rows of W are independent, λ on them solves the square system.
fn enumerate(wt: &[Vec<f64>], m: usize, size: usize) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = Vec::new();
    let mut idx: Vec<usize> = (0..size).collect();
    if size > m {
        return out;
    }
    let mut e1 = vec![0.0; size];
    e1[0] = 1.0;
    loop {
        let a: Vec<Vec<f64>> = wt.iter().map(|row| idx.iter().map(|&i| row[i]).collect()).collect();
        if let Some(lam) = dense::solve(&a, &e1).filter(|lam| lam.iter().all(|v| *v >= -1e-12)) {
            {
                let mut full = vec![0.0; m];
                for (&i, v) in idx.iter().zip(&lam) {
                    full[i] = v.max(0.0);
                }
                if !out.iter().any(|o| o.iter().zip(&full).all(|(a, b)| (a - b).abs() <= 1e-12 * (1.0 + a.abs()))) {
                    out.push(full);
                }
            }
        }
        // The next combination, in lexicographic order.
        let mut i = size;
        while i > 0 && idx[i - 1] == m - size + i - 1 {
            i -= 1;
        }
        if i == 0 {
            return out;
        }
        idx[i - 1] += 1;
        for j in i..size {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// The first stage of the hybrid test: reject outright when η̂ exceeds the least
/// favourable critical value at size κ.
#[derive(Debug, Clone, Copy)]
pub struct LeastFavourable {
    /// κ, the first stage's size.
    pub kappa: f64,
    /// Its critical value for η̂.
    pub cv: f64,
}

/// One moment set at one value of the target: `y` (m), `x` (m × k), Σ_y (m × m).
pub struct Moments<'a> {
    /// The moments at the tested value.
    pub y: &'a [f64],
    /// Their nuisance columns.
    pub x: &'a [Vec<f64>],
    /// Their covariance.
    pub sigma: &'a [Vec<f64>],
    /// sqrt(diag Σ_y).
    pub sd: &'a [f64],
    /// The dual polytope of (sd, x).
    pub polytope: &'a Polytope,
}

/// Whether the conditional test (hybrid with `lf` when given) rejects at level `alpha`.
pub fn rejects(mom: &Moments<'_>, alpha: f64, lf: Option<LeastFavourable>) -> bool {
    let k = mom.x.first().map_or(0, Vec::len);
    let m = mom.y.len();
    let Some((eta, lambda)) = mom.polytope.max(mom.y) else {
        // An empty dual: η̂ = −∞, never rejected (the R package's "did not converge").
        return false;
    };
    let size = match lf {
        Some(l) => {
            if eta > l.cv {
                return true;
            }
            (alpha - l.kappa) / (1.0 - l.kappa)
        }
        None => alpha,
    };
    let cap = |vup: f64| match lf {
        Some(l) => vup.min(l.cv),
        None => vup,
    };
    let binding: Vec<usize> = (0..m).filter(|&i| lambda[i] > 1e-6).collect();
    let degenerate = binding.len() != k + 1;
    let full_rank = k == 0 || {
        let xb: Vec<Vec<f64>> = binding.iter().map(|&i| mom.x[i].clone()).collect();
        !xb.is_empty() && dense::rank(&xb) == binding.len().min(k)
    };
    let (zlo, zup, maxstat) = if !degenerate && full_rank {
        // The binding moments identify the conditioning event in closed form.
        let mb: Vec<Vec<f64>> =
            binding.iter().map(|&i| std::iter::once(mom.sd[i]).chain(mom.x[i].iter().copied()).collect()).collect();
        let Some(inv) = dense::inverse(&mb) else { return false };
        let mut v_b = vec![0.0; m];
        for (j, &i) in binding.iter().enumerate() {
            v_b[i] = inv[0][j];
        }
        let s2 = dense::bilinear(&v_b, mom.sigma, &v_b);
        if s2 <= 0.0 {
            return eta > 0.0;
        }
        let sigma_b = s2.sqrt();
        let sv = dense::mat_vec(mom.sigma, &v_b);
        let vy: f64 = v_b.iter().zip(mom.y).map(|(a, b)| a * b).sum();
        let (mut vlo, mut vup) = (f64::NEG_INFINITY, f64::INFINITY);
        for i in (0..m).filter(|i| !binding.contains(i)) {
            // Row i of Γ_B = [σ, X]_i M_B⁻¹ S_B − e_i.
            let wi: Vec<f64> = std::iter::once(mom.sd[i]).chain(mom.x[i].iter().copied()).collect();
            let mut g = vec![0.0; m];
            for (j, &b) in binding.iter().enumerate() {
                g[b] = (0..=k).map(|r| wi[r] * inv[r][j]).sum();
            }
            g[i] -= 1.0;
            let rho = g.iter().zip(&sv).map(|(a, b)| a * b).sum::<f64>() / s2;
            let gy: f64 = g.iter().zip(mom.y).map(|(a, b)| a * b).sum();
            let bound = -gy / rho + vy;
            if rho > 0.0 {
                vlo = vlo.max(bound);
            } else if rho < 0.0 {
                vup = vup.min(bound);
            }
        }
        (vlo / sigma_b, cap(vup) / sigma_b, eta / sigma_b)
    } else {
        // Degenerate or rank-deficient: bound the statistic through the dual, by search.
        let s2 = dense::bilinear(&lambda, mom.sigma, &lambda);
        if s2.abs() < f64::EPSILON {
            return eta > 0.0;
        }
        let sigma_b = s2.sqrt();
        let (vlo, vup) = dual_bounds(mom, eta, &lambda, s2);
        (vlo / sigma_b, cap(vup) / sigma_b, eta / sigma_b)
    };
    if !(zlo <= maxstat && maxstat <= zup) {
        return false;
    }
    let cval = normal::truncated_quantile(1.0 - size, zlo, zup).max(0.0);
    maxstat > cval
}

/// The truncation bounds of the dual statistic when the binding set does not identify
/// them in closed form: the values c of γ'y at which the optimal vertex value of
/// (s + b c)'λ still equals c, searched as the R package does (`.vlo_vup_dual_fn`).
fn dual_bounds(mom: &Moments<'_>, eta: f64, gamma: &[f64], s2: f64) -> (f64, f64) {
    const TOL_C: f64 = 1e-6;
    const TOL_EQ: f64 = 1e-6;
    let m = mom.y.len();
    let sg = dense::mat_vec(mom.sigma, gamma);
    let b: Vec<f64> = sg.iter().map(|v| v / s2).collect();
    let gy: f64 = gamma.iter().zip(mom.y).map(|(a, b)| a * b).sum();
    let s: Vec<f64> = (0..m).map(|i| mom.y[i] - b[i] * gy).collect();
    let sigma_b = s2.sqrt();
    let solve = |c: f64| -> Option<(bool, Vec<f64>)> {
        let obj: Vec<f64> = (0..m).map(|i| s[i] + b[i] * c).collect();
        let (value, lam) = mom.polytope.max(&obj)?;
        Some(((c - value).abs() <= TOL_EQ, lam))
    };
    let is_solution = |c: f64| solve(c).is_some_and(|(ok, _)| ok);
    if !is_solution(eta) {
        return (eta, f64::INFINITY);
    }
    let step = |lam: &[f64]| -> f64 {
        let ls: f64 = lam.iter().zip(&s).map(|(a, b)| a * b).sum();
        let lb: f64 = lam.iter().zip(&b).map(|(a, b)| a * b).sum();
        let ls = if ls.abs() < f64::EPSILON.powf(0.75) { 0.0 } else { ls };
        ls / (1.0 - lb)
    };
    let search = |start: f64, upward: bool| -> f64 {
        let Some((ok, mut lam)) = solve(start) else { return start };
        if ok {
            return if upward { f64::INFINITY } else { f64::NEG_INFINITY };
        }
        // A few fixed-point steps, then bisection between η and the last step.
        let mut mid = step(&lam);
        let mut found = false;
        for _ in 1..10 {
            match solve(mid) {
                Some((true, _)) => {
                    found = true;
                    break;
                }
                Some((false, l)) => {
                    lam = l;
                    mid = step(&lam);
                }
                None => break,
            }
        }
        if found {
            return mid;
        }
        let (mut inside, mut outside) = (eta, mid);
        for _ in 0..10_000 {
            if (outside - inside).abs() <= TOL_C {
                break;
            }
            let c = 0.5 * (inside + outside);
            if is_solution(c) {
                inside = c;
            } else {
                outside = c;
            }
        }
        0.5 * (inside + outside)
    };
    let vup = search(100f64.max(eta + 20.0 * sigma_b), true);
    let vlo = search((-100f64).min(eta - 20.0 * sigma_b), false);
    (vlo, vup)
}

/// The least favourable critical value: the (1 − κ)-quantile of η̂ when every moment
/// binds (y = 0), from `draws` seeded draws of the moments' noise. (The R package uses
/// 1,000 draws; more draws narrow its Monte Carlo error.)
pub fn least_favourable_cv(sigma: &[Vec<f64>], polytope: &Polytope, kappa: f64, draws: usize, seed: u64) -> f64 {
    let l = dense::cholesky_psd(sigma);
    let m = sigma.len();
    let mut rng = endline_rng::Rng::new(seed);
    let mut etas: Vec<f64> = Vec::with_capacity(draws);
    let mut z = vec![0.0; m];
    for _ in 0..draws {
        z.iter_mut().for_each(|v| *v = rng.normal());
        let xi = dense::mat_vec(&l, &z);
        if let Some((eta, _)) = polytope.max(&xi) {
            etas.push(eta);
        }
    }
    quantile_type7(&mut etas, 1.0 - kappa)
}

/// R's default (type 7) sample quantile.
fn quantile_type7(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::INFINITY;
    }
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertices_and_the_simplex_give_the_same_optimum() {
        let mut rng = endline_rng::Rng::new(7);
        for _ in 0..200 {
            let m = 6;
            let sd: Vec<f64> = (0..m).map(|_| 0.5 + rng.uniform()).collect();
            let x: Vec<Vec<f64>> = (0..m).map(|_| vec![rng.normal(), rng.normal()]).collect();
            let p = Polytope::new(&sd, &x);
            let y: Vec<f64> = (0..m).map(|_| rng.normal()).collect();
            let by_vertices = p.max(&y);
            let mut b = vec![0.0; p.wt.len()];
            b[0] = 1.0;
            let by_simplex = simplex::maximise(&y, &p.wt, &b);
            match (by_vertices, by_simplex) {
                (Some((v, _)), Outcome::Optimal { value, .. }) => assert!((v - value).abs() < 1e-10, "{v} {value}"),
                (None, Outcome::Infeasible) => {}
                (a, b) => panic!("{a:?} {b:?}"),
            }
        }
    }

    #[test]
    fn without_nuisance_the_statistic_is_the_largest_standardised_moment() {
        let sd = [1.0, 2.0, 0.5];
        let p = Polytope::new(&sd, &[vec![], vec![], vec![]]);
        let (eta, lam) = p.max(&[0.3, 1.0, 0.2]).unwrap_or_else(|| panic!("none"));
        assert!((eta - 0.5).abs() < 1e-15);
        assert!((lam[1] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn a_single_moment_test_is_the_one_sided_z_test() {
        // One moment y ≤ 0 with sd 1 and no nuisance: the conditional test rejects when
        // y > z_{1−α} (the truncation is vacuous).
        let sigma = vec![vec![1.0]];
        let p = Polytope::new(&[1.0], &[vec![]]);
        let test =
            |y: f64| rejects(&Moments { y: &[y], x: &[vec![]], sigma: &sigma, sd: &[1.0], polytope: &p }, 0.05, None);
        assert!(test(1.65) && !test(1.64));
    }
}
