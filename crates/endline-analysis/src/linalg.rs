//! The small dense linear algebra inference needs, on top of ndarray and linfa-linalg.

use linfa_linalg::qr::QRInto;
use ndarray::{Array2, ArrayView2};

/// Relative tolerance for collinearity: a column is dropped when less than this share of
/// its (weighted, demeaned) variation is left after projecting out the earlier columns.
/// This is fixest's `collin.tol` (1e-10), applied to the Cholesky pivot.
pub const COLLINEARITY_TOL: f64 = 1e-10;

/// X'X of column-major data.
pub fn crossprod(cols: &[&[f64]]) -> Array2<f64> {
    let k = cols.len();
    let mut a = Array2::zeros((k, k));
    for i in 0..k {
        for j in 0..=i {
            let v: f64 = cols[i].iter().zip(cols[j].iter()).map(|(a, b)| a * b).sum();
            a[[i, j]] = v;
            a[[j, i]] = v;
        }
    }
    a
}

/// Which columns to keep: a Cholesky factorisation of X'X in column order that skips any
/// column whose pivot is below [`COLLINEARITY_TOL`] of its diagonal. Later columns are the
/// ones dropped, as fixest does.
pub fn independent_columns(xtx: &Array2<f64>) -> Vec<bool> {
    let k = xtx.nrows();
    let mut keep = vec![false; k];
    let mut l = Array2::<f64>::zeros((k, k));
    for j in 0..k {
        let d = xtx[[j, j]];
        if d.is_nan() || d <= 0.0 {
            continue;
        }
        for m in 0..j {
            if !keep[m] {
                continue;
            }
            let mut s = xtx[[j, m]];
            for p in 0..m {
                if keep[p] {
                    s -= l[[j, p]] * l[[m, p]];
                }
            }
            l[[j, m]] = s / l[[m, m]];
        }
        let mut v = d;
        for m in 0..j {
            if keep[m] {
                v -= l[[j, m]] * l[[j, m]];
            }
        }
        if v > COLLINEARITY_TOL * d {
            keep[j] = true;
            l[[j, j]] = v.sqrt();
        }
    }
    keep
}

/// Rows per block of [`tsqr`]: large enough to amortise each small QR, small enough that a
/// block stays in cache and memory use does not grow with N.
const TSQR_BLOCK: usize = 16_384;

/// The R factor of the QR decomposition of the N×p matrix whose columns are `cols`, by
/// blocks of rows ("tall-skinny QR"): R ← qr([R; next block]).R. Backward stable like a
/// Householder QR of the whole matrix, but never copies more than a block. None when a
/// block cannot be factored (fewer rows than columns overall).
pub fn tsqr(cols: &[&[f64]]) -> Option<Array2<f64>> {
    let p = cols.len();
    let n = cols.first().map_or(0, |c| c.len());
    if n < p || p == 0 {
        return None;
    }
    let mut r: Option<Array2<f64>> = None;
    let mut start = 0;
    while start < n {
        // The first block must have at least p rows.
        let end = (start + TSQR_BLOCK.max(p)).min(n);
        let carried = r.as_ref().map_or(0, |_| p);
        let mut a = Array2::<f64>::zeros((carried + end - start, p));
        if let Some(prev) = &r {
            for i in 0..p {
                for j in i..p {
                    a[[i, j]] = prev[[i, j]];
                }
            }
        }
        for (j, col) in cols.iter().enumerate() {
            for (i, v) in col[start..end].iter().enumerate() {
                a[[carried + i, j]] = *v;
            }
        }
        r = Some(a.qr_into().ok()?.into_r());
        start = end;
    }
    r
}

/// (R'R)^-1 = R^-1 R^-T for an upper-triangular R.
pub fn inverse_from_r(r: &Array2<f64>) -> Option<Array2<f64>> {
    let k = r.ncols();
    let mut rinv = Array2::<f64>::zeros((k, k));
    for j in 0..k {
        if r[[j, j]] == 0.0 {
            return None;
        }
        rinv[[j, j]] = 1.0 / r[[j, j]];
        for i in (0..j).rev() {
            let mut s = 0.0;
            for m in i + 1..=j {
                s += r[[i, m]] * rinv[[m, j]];
            }
            rinv[[i, j]] = -s / r[[i, i]];
        }
    }
    Some(rinv.dot(&rinv.t()))
}

/// `a * m * a` for symmetric `a` (a sandwich).
pub fn sandwich(bread: &Array2<f64>, meat: &Array2<f64>) -> Array2<f64> {
    bread.dot(meat).dot(bread)
}

/// Solves the symmetric positive-definite `a x = b` by Cholesky; None if not PD.
pub fn solve_spd(a: ArrayView2<'_, f64>, b: &[f64]) -> Option<Vec<f64>> {
    let k = a.nrows();
    let mut l = Array2::<f64>::zeros((k, k));
    for j in 0..k {
        let mut d = a[[j, j]];
        for p in 0..j {
            d -= l[[j, p]] * l[[j, p]];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        l[[j, j]] = d.sqrt();
        for i in j + 1..k {
            let mut s = a[[i, j]];
            for p in 0..j {
                s -= l[[i, p]] * l[[j, p]];
            }
            l[[i, j]] = s / l[[j, j]];
        }
    }
    let mut z = vec![0.0; k];
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= l[[i, p]] * z[p];
        }
        z[i] = s / l[[i, i]];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let mut s = z[i];
        for p in i + 1..k {
            s -= l[[p, i]] * x[p];
        }
        x[i] = s / l[[i, i]];
    }
    Some(x)
}

/// The inverse of a small symmetric positive-definite matrix (Cholesky, column by
/// column); None if it is not positive definite.
pub fn inverse_spd(a: &Array2<f64>) -> Option<Array2<f64>> {
    let k = a.nrows();
    let mut inv = Array2::<f64>::zeros((k, k));
    for j in 0..k {
        let mut e = vec![0.0; k];
        e[j] = 1.0;
        let col = solve_spd(a.view(), &e)?;
        for i in 0..k {
            inv[[i, j]] = col[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_later_of_two_collinear_columns() {
        let cols = [vec![1.0, 2.0, 3.0, 4.0], vec![1.0, 0.0, 1.0, 0.0], vec![2.0, 4.0, 6.0, 8.0], vec![0.0; 4]];
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        assert_eq!(independent_columns(&crossprod(&refs)), vec![true, true, false, false]);
    }

    #[test]
    fn tsqr_inverse_matches_direct_inverse() {
        let x = ndarray::array![[1.0, 2.0], [1.0, 3.0], [1.0, 5.0], [1.0, 7.0]];
        let cols: Vec<Vec<f64>> = (0..2).map(|j| x.column(j).to_vec()).collect();
        let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        let r = tsqr(&refs).unwrap_or_else(|| panic!("no R"));
        let inv = inverse_from_r(&r).unwrap_or_else(|| panic!("singular"));
        let id = x.t().dot(&x).dot(&inv);
        for i in 0..2 {
            for j in 0..2 {
                assert!((id[[i, j]] - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        let s = solve_spd(x.t().dot(&x).view(), &[1.0, 2.0]).unwrap_or_default();
        assert!((inv[[0, 0]] + 2.0 * inv[[0, 1]] - s[0]).abs() < 1e-12);
    }
}
