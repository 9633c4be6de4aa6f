//! The multiplier bootstrap of R's `did` (`mboot`).

use ndarray::Array2;

use super::cluster_sums;
use endline_rng::Rng;

/// The multiplier bootstrap of R's `did` (`mboot`): Rademacher multipliers per unit (per
/// cluster when clustering, on cluster means), bootstrap standard errors from the
/// interquartile range, and the critical value of a uniform (sup-t) band.
pub(super) fn multiplier_bootstrap(
    infs: &[Vec<f64>],
    cluster: Option<&[u32]>,
    reps: usize,
    seed: u64,
    alpha: f64,
) -> (Vec<f64>, f64) {
    let k = infs.len();
    let n = infs.first().map_or(0, Vec::len);
    // Work on cluster means of the influence function when clustering.
    let (rows, m): (Vec<Vec<f64>>, usize) = match cluster {
        None => ((0..n).map(|i| infs.iter().map(|f| f[i]).collect()).collect(), n),
        Some(c) => {
            let sums: Vec<Vec<f64>> = infs.iter().map(|f| cluster_sums(f, c)).collect();
            let sizes = cluster_sums(&vec![1.0; n], c);
            let g = sizes.len();
            ((0..g).map(|q| sums.iter().map(|s| s[q] / sizes[q]).collect()).collect(), g)
        }
    };
    let mut rng = Rng::new(seed);
    let mut draws = Array2::<f64>::zeros((reps, k));
    let root = (m as f64).sqrt();
    for b in 0..reps {
        let mut acc = vec![0.0; k];
        for row in &rows {
            let v = if rng.next_u64() >> 63 == 0 { -1.0 } else { 1.0 };
            for j in 0..k {
                acc[j] += v * row[j];
            }
        }
        for j in 0..k {
            draws[[b, j]] = root * acc[j] / m as f64;
        }
    }
    let quantile = |v: &mut Vec<f64>, q: f64| -> f64 {
        v.sort_by(f64::total_cmp);
        // Type-1 quantile (inverse of the empirical CDF), as R's quantile(type = 1).
        let idx = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[idx]
    };
    let iqr_scale = 1.348_979_500_392_163_5; // qnorm(.75) - qnorm(.25)
    let sigma: Vec<f64> = (0..k)
        .map(|j| {
            let mut col: Vec<f64> = draws.column(j).to_vec();
            (quantile(&mut col, 0.75) - quantile(&mut col, 0.25)) / iqr_scale
        })
        .collect();
    let mut sup: Vec<f64> = (0..reps)
        .map(|b| (0..k).filter(|&j| sigma[j] > 0.0).map(|j| (draws[[b, j]] / sigma[j]).abs()).fold(0.0, f64::max))
        .collect();
    let crit = quantile(&mut sup, 1.0 - alpha);
    let se: Vec<f64> = sigma.iter().map(|s| s / root).collect();
    (se, crit)
}
