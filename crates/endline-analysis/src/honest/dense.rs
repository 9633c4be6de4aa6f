//! Small dense linear algebra for the sensitivity analysis: solves, rank, and a
//! semi-definite Cholesky factor for drawing correlated normals.

/// Solves `a x = b` by Gaussian elimination with partial pivoting; None when singular.
pub fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return None;
    }
    let mut m: Vec<Vec<f64>> = a.iter().zip(b).map(|(row, v)| row.iter().copied().chain([*v]).collect()).collect();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[p][c].abs() <= 1e-12 * scale {
            return None;
        }
        m.swap(c, p);
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            if f != 0.0 {
                for k in c..=n {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let s: f64 = (c + 1..n).map(|k| m[c][k] * x[k]).sum();
        x[c] = (m[c][n] - s) / m[c][c];
    }
    Some(x)
}

/// The inverse of a square matrix; None when singular.
pub fn inverse(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let cols: Option<Vec<Vec<f64>>> = (0..n)
        .map(|j| {
            let e: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i == j))).collect();
            solve(a, &e)
        })
        .collect();
    let cols = cols?;
    Some((0..n).map(|i| (0..n).map(|j| cols[j][i]).collect()).collect())
}

/// The rank of a matrix (rows × cols), by elimination with a relative tolerance.
pub fn rank(a: &[Vec<f64>]) -> usize {
    let mut m: Vec<Vec<f64>> = a.to_vec();
    let cols = m.first().map_or(0, Vec::len);
    let scale = m.iter().flatten().fold(0.0f64, |s, v| s.max(v.abs()));
    if scale == 0.0 {
        return 0;
    }
    let mut r = 0;
    for c in 0..cols {
        if r == m.len() {
            break;
        }
        let p = (r..m.len()).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap_or(r);
        if m[p][c].abs() <= 1e-10 * scale {
            continue;
        }
        m.swap(r, p);
        for i in r + 1..m.len() {
            let f = m[i][c] / m[r][c];
            for k in c..cols {
                m[i][k] -= f * m[r][k];
            }
        }
        r += 1;
    }
    r
}

/// A lower-triangular L with L Lᵀ = a for a positive semi-definite `a`; columns whose
/// pivot vanishes (linearly dependent rows) are left zero.
pub fn cholesky_psd(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let scale = (0..n).fold(0.0f64, |m, i| m.max(a[i][i].abs()));
    let mut l = vec![vec![0.0; n]; n];
    for j in 0..n {
        let d = a[j][j] - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        if d <= 1e-12 * scale {
            continue;
        }
        let root = d.sqrt();
        l[j][j] = root;
        for i in j + 1..n {
            let s = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = s / root;
        }
    }
    l
}

/// `a b` for a matrix and a vector.
pub fn mat_vec(a: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    a.iter().map(|row| row.iter().zip(b).map(|(x, y)| x * y).sum()).collect()
}

/// `a s aᵀ`.
pub fn sandwich(a: &[Vec<f64>], s: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let as_: Vec<Vec<f64>> =
        a.iter().map(|row| (0..s.len()).map(|j| (0..s.len()).map(|k| row[k] * s[k][j]).sum()).collect()).collect();
    as_.iter().map(|row| a.iter().map(|other| row.iter().zip(other).map(|(x, y)| x * y).sum()).collect()).collect()
}

/// `x' s y`.
pub fn bilinear(x: &[f64], s: &[Vec<f64>], y: &[f64]) -> f64 {
    x.iter().zip(s).map(|(xi, row)| xi * row.iter().zip(y).map(|(a, b)| a * b).sum::<f64>()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_inverse_and_rank_agree() {
        let a = vec![vec![4.0, 1.0, 2.0], vec![1.0, 3.0, 0.0], vec![2.0, 0.0, 5.0]];
        let x = solve(&a, &[1.0, 2.0, 3.0]).unwrap_or_else(|| panic!("none"));
        let back = mat_vec(&a, &x);
        assert!(back.iter().zip([1.0, 2.0, 3.0]).all(|(u, v)| (u - v).abs() < 1e-13));
        let inv = inverse(&a).unwrap_or_else(|| panic!("none"));
        let id = sandwich(&[vec![1.0, 0.0, 0.0]], &inv);
        assert!((id[0][0] - inv[0][0]).abs() < 1e-15);
        assert_eq!(rank(&a), 3);
        assert_eq!(rank(&[vec![1.0, 2.0], vec![2.0, 4.0]]), 1);
        assert!(solve(&[vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 1.0]).is_none());
    }

    #[test]
    fn the_semi_definite_factor_reproduces_a_singular_matrix() {
        // Rank 2: the third row is the sum of the first two.
        let b = [vec![1.0, 0.5], vec![0.2, 1.0], vec![1.2, 1.5]];
        let a: Vec<Vec<f64>> = b.iter().map(|r| b.iter().map(|s| r[0] * s[0] + r[1] * s[1]).collect()).collect();
        let l = cholesky_psd(&a);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i][k] * l[j][k]).sum();
                assert!((v - a[i][j]).abs() < 1e-12, "{i}{j}");
            }
        }
    }
}
