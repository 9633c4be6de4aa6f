//! How much a pre-test of parallel trends can see (Roth 2022, "Pretest with Caution").
//!
//! Under a hypothesised violation δ (here linear in event time, δ_t = slope·(t − ref)),
//! the pre-period coefficients are β̂_pre ~ N(δ_pre, Σ_pre). Two pre-tests:
//!
//! - Roth's: a violation is detected when any pre-period coefficient is individually
//!   significant, |β̂_t| > z·se_t. Its power is 1 − P(every |β̂_t| ≤ z·se_t), a
//!   multivariate normal rectangle probability, computed here by Genz's separation of
//!   variables (Gauss–Legendre up to four pre periods, a lattice rule beyond).
//!   The pretrends R package computes the same with mvtnorm::pmvnorm.
//! - The joint Wald test endline's reports run: β̂'Σ⁻¹β̂ against χ²(k); its power is the
//!   noncentral χ²(k, δ'Σ⁻¹δ) tail beyond the critical value.
//!
//! For each, the slope detected with 50% and 80% power, found by bisection.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::honest::normal;

/// The pre-tests' power against linear violations.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PretrendPower {
    /// The significance level of the pre-tests.
    pub alpha: f64,
    /// Slopes (per period) Roth's any-significant test detects with 50% and 80% power.
    pub any_significant: Slopes,
    /// The same for the joint Wald test.
    pub joint_wald: Slopes,
    /// The power of each test at a slope asked for (`--pretrend-slope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_slope: Option<PowerAt>,
}

/// Slopes at 50% and 80% power.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Slopes {
    /// 50% power.
    pub slope_50: f64,
    /// 80% power.
    pub slope_80: f64,
}

/// Both tests' power at one slope.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PowerAt {
    /// The slope.
    pub slope: f64,
    /// Roth's test.
    pub any_significant: f64,
    /// The Wald test.
    pub joint_wald: f64,
}

/// The pre-period part of an event study: Σ_pre and the event times relative to the
/// reference period (negative).
#[derive(Debug, Clone)]
pub struct PrePeriods {
    /// Σ_pre.
    pub sigma: Vec<Vec<f64>>,
    /// t − ref for each pre period.
    pub relative: Vec<f64>,
}

impl PrePeriods {
    /// The pre periods of an event study ready for the sensitivity analysis: its first
    /// `pre` coefficients, at event times −1−pre … −2 against the reference −1.
    pub fn of(es: &crate::honest::EventStudy) -> PrePeriods {
        PrePeriods {
            sigma: (0..es.pre).map(|i| es.sigma[i][..es.pre].to_vec()).collect(),
            relative: (0..es.pre).map(|i| i as f64 - es.pre as f64).collect(),
        }
    }

    /// Power of the any-significant test at size `alpha` against δ_pre = slope·relative.
    pub fn power_any(&self, slope: f64, alpha: f64) -> f64 {
        let z = normal::quantile(1.0 - alpha / 2.0);
        let k = self.relative.len();
        let lo: Vec<f64> = (0..k).map(|i| -z * self.sigma[i][i].sqrt() - slope * self.relative[i]).collect();
        let hi: Vec<f64> = (0..k).map(|i| z * self.sigma[i][i].sqrt() - slope * self.relative[i]).collect();
        1.0 - rectangle(&self.sigma, &lo, &hi)
    }

    /// Power of the Wald χ² test at size `alpha` against δ_pre = slope·relative.
    pub fn power_wald(&self, slope: f64, alpha: f64) -> f64 {
        let k = self.relative.len();
        let v = ndarray::Array2::from_shape_fn((k, k), |(a, b)| self.sigma[a][b]);
        // The noncentrality δ'Σ⁻¹δ, with δ = slope·relative.
        let Some(q) = crate::inference::quadratic_form(v.view(), &self.relative) else { return f64::NAN };
        let lambda = slope * slope * q;
        let Ok(chi) = ChiSquared::new(k as f64) else { return f64::NAN };
        let crit = chi.inverse_cdf(1.0 - alpha);
        noncentral_chi2_sf(crit, k as f64, lambda)
    }

    /// Everything, for a report.
    pub fn analyse(&self, alpha: f64, slope: Option<f64>) -> PretrendPower {
        let any = |s: f64| self.power_any(s, alpha);
        let wald = |s: f64| self.power_wald(s, alpha);
        let scale = (0..self.relative.len()).map(|i| self.sigma[i][i].sqrt()).fold(0.0, f64::max);
        PretrendPower {
            alpha,
            any_significant: Slopes { slope_50: slope_for(&any, 0.5, scale), slope_80: slope_for(&any, 0.8, scale) },
            joint_wald: Slopes { slope_50: slope_for(&wald, 0.5, scale), slope_80: slope_for(&wald, 0.8, scale) },
            at_slope: slope.map(|s| PowerAt { slope: s, any_significant: any(s), joint_wald: wald(s) }),
        }
    }
}

/// The smallest slope ≥ 0 with power `target`: bracketed by doubling, then found by the
/// Illinois variant of regula falsi to 1e-10 relative (power is smooth and increasing in
/// the slope, so a dozen evaluations suffice).
fn slope_for(power: &dyn Fn(f64) -> f64, target: f64, scale: f64) -> f64 {
    let (mut a, mut b) = (0.0, 8.0 * scale.max(f64::MIN_POSITIVE));
    let (mut fa, mut fb) = (power(a) - target, power(b) - target);
    while fb < 0.0 && b < 1e12 * scale {
        (a, fa) = (b, fb);
        b *= 2.0;
        fb = power(b) - target;
    }
    if fa >= 0.0 {
        return a;
    }
    let mut side = 0;
    for _ in 0..200 {
        let c = (a * fb - b * fa) / (fb - fa);
        let fc = power(c) - target;
        if fc == 0.0 || (b - a).abs() <= 1e-10 * b.abs() {
            return c;
        }
        if fc < 0.0 {
            (a, fa) = (c, fc);
            if side == -1 {
                fb /= 2.0;
            }
            side = -1;
        } else {
            (b, fb) = (c, fc);
            if side == 1 {
                fa /= 2.0;
            }
            side = 1;
        }
        if (b - a).abs() <= 1e-10 * b.abs() {
            break;
        }
    }
    0.5 * (a + b)
}

/// P(χ²(k, λ) > x): the Poisson mixture of central χ² tails, summed outward from the
/// Poisson mode until the terms vanish.
fn noncentral_chi2_sf(x: f64, k: f64, lambda: f64) -> f64 {
    let tail = |j: f64| ChiSquared::new(k + 2.0 * j).map_or(f64::NAN, |c| c.sf(x));
    if lambda <= 0.0 {
        return tail(0.0);
    }
    let half = lambda / 2.0;
    let mode = half.floor();
    let log_pois = |j: f64| -half + j * half.ln() - statrs::function::gamma::ln_gamma(j + 1.0);
    let mut total = 0.0;
    let mut j = mode;
    loop {
        let term = log_pois(j).exp() * tail(j);
        total += term;
        if (term < 1e-17 && j > mode) || j > mode + 10_000.0 {
            break;
        }
        j += 1.0;
    }
    let mut j = mode - 1.0;
    while j >= 0.0 {
        let term = log_pois(j).exp() * tail(j);
        total += term;
        if term < 1e-17 {
            break;
        }
        j -= 1.0;
    }
    total.min(1.0)
}

/// P(lo ≤ X ≤ hi) for X ~ N(0, Σ), by Genz's (1992) separation of variables: an
/// integral over the (n−1)-cube of a smooth integrand. Up to four dimensions the cube is
/// integrated by a tensor tanh–sinh rule, which converges geometrically even with the
/// integrand's endpoint singularities; beyond, by a
/// Richtmyer lattice with the baker's transform, averaged over fixed random shifts.
pub fn rectangle(sigma: &[Vec<f64>], lo: &[f64], hi: &[f64]) -> f64 {
    if lo.len() <= 4 { rectangle_ts(sigma, lo, hi, 1.0 / 8.0) } else { rectangle_qmc(sigma, lo, hi, 1 << 12, 8) }
}

/// Genz's integrand at w ∈ (0,1)^{n−1}, for the Cholesky factor `l`.
fn sov(l: &[Vec<f64>], lo: &[f64], hi: &[f64], w: &[f64], y: &mut [f64]) -> f64 {
    let n = lo.len();
    let mut f = 1.0;
    for i in 0..n {
        let s: f64 = (0..i).map(|j| l[i][j] * y[j]).sum();
        let (d, e) = if l[i][i] > 0.0 {
            (normal::cdf((lo[i] - s) / l[i][i]), normal::cdf((hi[i] - s) / l[i][i]))
        } else {
            (0.0, f64::from(u8::from(lo[i] <= s && s <= hi[i])))
        };
        f *= e - d;
        if f <= 0.0 {
            return 0.0;
        }
        if i + 1 < n {
            y[i] = normal::quantile((d + w[i] * (e - d)).clamp(1e-300, 1.0 - 1e-16));
        }
    }
    f
}

fn rectangle_ts(sigma: &[Vec<f64>], lo: &[f64], hi: &[f64], h: f64) -> f64 {
    let n = lo.len();
    let l = crate::honest::dense::cholesky_psd(sigma);
    let dims = n - 1;
    let (nodes, weights) = tanh_sinh(h);
    let mut y = vec![0.0; n];
    let mut total = 0.0;
    let mut idx = vec![0usize; dims];
    let mut w = vec![0.0; dims];
    loop {
        let mut weight = 1.0;
        for (k, &i) in idx.iter().enumerate() {
            w[k] = nodes[i];
            weight *= weights[i];
        }
        total += weight * sov(&l, lo, hi, &w, &mut y);
        let mut k = 0;
        while k < dims {
            idx[k] += 1;
            if idx[k] < nodes.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
        if k == dims {
            return total;
        }
    }
}

fn rectangle_qmc(sigma: &[Vec<f64>], lo: &[f64], hi: &[f64], points: usize, shifts: usize) -> f64 {
    const PRIMES: [f64; 24] = [
        2., 3., 5., 7., 11., 13., 17., 19., 23., 29., 31., 37., 41., 43., 47., 53., 59., 61., 67., 71., 73., 79., 83.,
        89.,
    ];
    let n = lo.len();
    let l = crate::honest::dense::cholesky_psd(sigma);
    let dims = n - 1;
    let generator: Vec<f64> = (0..dims).map(|j| PRIMES[j % PRIMES.len()].sqrt().fract()).collect();
    let mut rng = endline_rng::Rng::new(0x5eed);
    let mut y = vec![0.0; n];
    let mut w = vec![0.0; dims];
    let mut total = 0.0;
    for _ in 0..shifts {
        let shift: Vec<f64> = (0..dims).map(|_| rng.uniform()).collect();
        let mut sum = 0.0;
        for k in 1..=points {
            for i in 0..dims {
                let u = (k as f64 * generator[i] + shift[i]).fract();
                w[i] = 1.0 - (2.0 * u - 1.0).abs();
            }
            sum += sov(&l, lo, hi, &w, &mut y);
        }
        total += sum / points as f64;
    }
    total / shifts as f64
}

/// Tanh–sinh (double exponential) nodes and weights on (0, 1) with step `h`: robust to
/// the integrand's endpoint singularities (Φ⁻¹ near 0 or 1), where Gauss–Legendre
/// converges only algebraically.
pub(crate) fn tanh_sinh(h: f64) -> (Vec<f64>, Vec<f64>) {
    let half_pi = std::f64::consts::FRAC_PI_2;
    let mut nodes = Vec::new();
    let mut weights = Vec::new();
    let kmax = (3.3 / h).ceil() as i64;
    for k in -kmax..=kmax {
        let t = k as f64 * h;
        let u = half_pi * t.sinh();
        let (x, w) = (0.5 * (1.0 + u.tanh()), 0.5 * h * half_pi * t.cosh() / u.cosh().powi(2));
        if w > 1e-20 && x > 0.0 && x < 1.0 {
            nodes.push(x);
            weights.push(w);
        }
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_rectangles_are_products_of_intervals() {
        let sigma = vec![vec![1.0, 0.0, 0.0], vec![0.0, 4.0, 0.0], vec![0.0, 0.0, 0.25]];
        let p = rectangle(&sigma, &[-1.0, -1.0, 0.0], &[1.0, 3.0, 0.5]);
        let want = (normal::cdf(1.0) - normal::cdf(-1.0))
            * (normal::cdf(1.5) - normal::cdf(-0.5))
            * (normal::cdf(1.0) - normal::cdf(0.0));
        assert!((p - want).abs() < 1e-9, "{p} {want}");
    }

    #[test]
    fn a_bivariate_orthant_has_its_closed_form() {
        // P(X ≤ 0, Y ≤ 0) = 1/4 + asin(ρ)/(2π).
        let rho: f64 = 0.6;
        let sigma = vec![vec![1.0, rho], vec![rho, 1.0]];
        let p = rectangle(&sigma, &[-12.0, -12.0], &[0.0, 0.0]);
        let want = 0.25 + rho.asin() / (2.0 * std::f64::consts::PI);
        assert!((p - want).abs() < 1e-8, "{p} {want}");
    }

    #[test]
    fn the_noncentral_tail_reduces_to_the_central_one_and_grows_with_lambda() {
        let c = ChiSquared::new(3.0).unwrap_or_else(|e| panic!("{e}"));
        assert!((noncentral_chi2_sf(7.8, 3.0, 0.0) - c.sf(7.8)).abs() < 1e-15);
        // R 4.2.2: pchisq(qchisq(0.95, 3), 3, ncp = 5, lower.tail = FALSE) = 0.44050898454.
        assert!((noncentral_chi2_sf(7.814727903251178, 3.0, 5.0) - 0.44050898454).abs() < 1e-10);
    }
}
