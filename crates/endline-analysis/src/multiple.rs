//! Corrections for testing several outcomes at once.

/// Benjamini–Hochberg (1995) q-values: the smallest false discovery rate at which each
/// hypothesis would be rejected, in the order of `p`. NaN p-values stay NaN and do not
/// count as hypotheses.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = order.len() as f64;
    let mut q = vec![f64::NAN; p.len()];
    // From the largest p down: q_(k) = min(q_(k+1), p_(k) · m / k), capped at 1.
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m / (rank + 1) as f64);
        q[i] = running;
    }
    q
}

#[cfg(test)]
mod tests {
    use super::benjamini_hochberg;

    /// Reference: statsmodels 0.15.0, `multipletests(p, method="fdr_bh")[1]`.
    #[test]
    fn matches_statsmodels() {
        let p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04, 0.9, 0.0001];
        let want = [
            0.02666666666666667,
            0.05333333333333334,
            0.05333333333333334,
            0.02,
            0.2285714285714286,
            0.05333333333333334,
            0.9,
            0.0008,
        ];
        for (got, want) in benjamini_hochberg(&p).iter().zip(want) {
            assert!((got - want).abs() <= 1e-15 * want, "{got} vs {want}");
        }
        let q = benjamini_hochberg(&[0.5, 0.5, 0.01]);
        assert!((q[0] - 0.5).abs() < 1e-15 && (q[2] - 0.030000000000000002).abs() < 1e-15);
        assert_eq!(benjamini_hochberg(&[0.02]), vec![0.02]);
        let with_nan = benjamini_hochberg(&[0.01, f64::NAN, 0.04]);
        assert!(with_nan[1].is_nan() && (with_nan[2] - 0.04).abs() < 1e-15 && (with_nan[0] - 0.02).abs() < 1e-15);
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
