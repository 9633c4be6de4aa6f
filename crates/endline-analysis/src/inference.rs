//! Wald tests: the quadratic form and the p-values of its χ² and F forms, shared
//! by feols' overall F test and the pre-trend tests of the DiD estimators.

use ndarray::ArrayView2;
use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor};

use crate::linalg::solve_spd;

/// θ'V⁻¹θ; None when `v` is not positive definite.
pub fn quadratic_form(v: ArrayView2<'_, f64>, theta: &[f64]) -> Option<f64> {
    solve_spd(v, theta).map(|z| z.iter().zip(theta).map(|(a, b)| a * b).sum())
}

/// Upper-tail p-value of a statistic, with the edges statrs does not define: 1 for
/// a non-positive statistic, 0 for an infinite one, NaN for NaN.
fn upper_tail(stat: f64, sf: impl Fn(f64) -> f64) -> f64 {
    if stat.is_nan() {
        f64::NAN
    } else if stat <= 0.0 {
        1.0
    } else if stat.is_infinite() {
        0.0
    } else {
        sf(stat)
    }
}

/// p-value of a χ²(`df`) statistic (NaN when `df` is 0).
pub fn chi2_p_value(stat: f64, df: usize) -> f64 {
    ChiSquared::new(df as f64).map_or(f64::NAN, |d| upper_tail(stat, |s| d.sf(s)))
}

/// p-value of an F(`df1`, `df2`) statistic; None when either df is 0.
pub fn f_p_value(stat: f64, df1: usize, df2: usize) -> Option<f64> {
    let d = FisherSnedecor::new(df1 as f64, df2 as f64).ok()?;
    Some(upper_tail(stat, |s| d.sf(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn quadratic_form_and_p_values() {
        // V = diag(4, 1), θ = (2, 1): θ'V⁻¹θ = 1 + 1.
        let v = array![[4.0, 0.0], [0.0, 1.0]];
        assert!((quadratic_form(v.view(), &[2.0, 1.0]).unwrap_or(f64::NAN) - 2.0).abs() < 1e-15);
        assert!(quadratic_form(array![[0.0]].view(), &[1.0]).is_none());
        // χ²(2) survival at 2 is exp(-1).
        assert!((chi2_p_value(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2_p_value(0.0, 2), 1.0);
        assert_eq!(f_p_value(f64::INFINITY, 1, 10), Some(0.0));
        assert!(f_p_value(1.0, 0, 10).is_none());
        assert!(chi2_p_value(f64::NAN, 1).is_nan());
    }
}
