//! The normal-distribution pieces the sensitivity analysis needs, computed exactly rather
//! than by simulation: the folded normal's quantile (the FLCI's critical value) and the
//! truncated normal's quantile (the conditional test's), both accurate in the tails.

use statrs::function::erf::{erfc, erfc_inv};

/// Φ(x).
pub fn cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// 1 − Φ(x), without cancellation for large x.
pub fn sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹(p).
pub fn quantile(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

/// The x with 1 − Φ(x) = q, accurate for small q.
fn upper_quantile(q: f64) -> f64 {
    std::f64::consts::SQRT_2 * erfc_inv(2.0 * q)
}

/// The p-quantile of the standard normal truncated to [lo, hi] (either may be infinite).
/// Works in the tail the interval lies in, so that far-tail truncation stays accurate.
pub fn truncated_quantile(p: f64, lo: f64, hi: f64) -> f64 {
    if lo >= hi {
        return lo;
    }
    if lo >= 0.0 {
        // Right tail: through survival functions.
        let (s_lo, s_hi) = (sf(lo), sf(hi));
        if s_lo <= 0.0 {
            return lo;
        }
        let q = upper_quantile(s_lo - p * (s_lo - s_hi));
        return q.clamp(lo, hi);
    }
    if hi <= 0.0 {
        // Left tail: by symmetry.
        return -truncated_quantile(1.0 - p, -hi, -lo);
    }
    let (c_lo, c_hi) = (cdf(lo), cdf(hi));
    quantile(c_lo + p * (c_hi - c_lo)).clamp(lo, hi)
}

/// The (1 − α)-quantile of |N(t, 1)|: the c with Φ(c − t) − Φ(−c − t) = 1 − α, by
/// bisection to machine precision. (HonestDiD's R package simulates it with 10⁶ draws.)
pub fn folded_quantile(alpha: f64, t: f64) -> f64 {
    let t = t.abs();
    let coverage = |c: f64| cdf(c - t) - cdf(-c - t);
    let (mut lo, mut hi) = (t, t + 10.0);
    while coverage(hi) < 1.0 - alpha {
        hi += 10.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if coverage(mid) < 1.0 - alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_invert_the_distribution_function() {
        for p in [1e-10, 0.025, 0.5, 0.975, 1.0 - 1e-10] {
            assert!((cdf(quantile(p)) - p).abs() < 1e-10 * p.min(1.0 - p), "{p}");
        }
        assert!((quantile(0.975) - 1.959963984540054).abs() < 1e-14);
        // statrs' erfc is good to about 1e-11 relative: ample here.
    }

    #[test]
    fn the_folded_normal_at_zero_is_the_two_sided_critical_value() {
        assert!((folded_quantile(0.05, 0.0) - 1.959963984540054).abs() < 1e-10);
        // Far from zero the fold does not matter: c ≈ t + z_{0.95}.
        assert!((folded_quantile(0.05, 30.0) - (30.0 + 1.6448536269514722)).abs() < 1e-9);
    }

    #[test]
    fn truncated_quantiles_stay_inside_and_are_accurate_in_the_tail() {
        // Untruncated.
        assert!((truncated_quantile(0.95, f64::NEG_INFINITY, f64::INFINITY) - 1.6448536269514722).abs() < 1e-12);
        // Truncated far in the right tail: the quantile of an exponential-like tail.
        let q = truncated_quantile(0.5, 10.0, f64::INFINITY);
        assert!(q > 10.0 && q < 10.1, "{q}");
        let back = (sf(10.0) - sf(q)) / sf(10.0);
        assert!((back - 0.5).abs() < 1e-10);
        // Left tail by symmetry.
        assert!((truncated_quantile(0.5, f64::NEG_INFINITY, -10.0) + q).abs() < 1e-12);
    }
}
