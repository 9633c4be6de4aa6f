//! A dense two-phase simplex for the small linear programs of the conditional test:
//! maximise f'λ subject to Wᵀλ = b and λ ≥ 0. It returns a vertex (a basic solution),
//! which is what the test's conditioning needs; Bland's rule keeps it from cycling.

/// What a linear program came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An optimal vertex: the value and λ.
    Optimal { value: f64, x: Vec<f64> },
    /// No λ satisfies the constraints.
    Infeasible,
    /// The objective grows without bound.
    Unbounded,
}

/// Maximise `f·λ` subject to `a λ = b`, `λ ≥ 0`, where `a` has `b.len()` rows of
/// `f.len()` entries.
pub fn maximise(f: &[f64], a: &[Vec<f64>], b: &[f64]) -> Outcome {
    let (r, n) = (b.len(), f.len());
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    let tol = 1e-11 * scale;
    // Tableau: r constraint rows and the objective row; columns: n variables, r
    // artificials, right-hand side.
    let width = n + r + 1;
    let mut t = vec![vec![0.0; width]; r + 1];
    for i in 0..r {
        let sign = if b[i] < 0.0 { -1.0 } else { 1.0 };
        for j in 0..n {
            t[i][j] = sign * a[i][j];
        }
        t[i][n + i] = 1.0;
        t[i][width - 1] = sign * b[i];
    }
    let mut basis: Vec<usize> = (n..n + r).collect();
    // Phase 1: minimise the artificials' sum, i.e. maximise −Σ artificials. The
    // objective row holds reduced costs c_j − z_j for a maximisation.
    for j in 0..width {
        t[r][j] = (0..r).map(|i| t[i][j]).sum::<f64>();
    }
    for i in 0..r {
        t[r][n + i] = 0.0;
    }
    if !run(&mut t, &mut basis, n + r, tol) {
        return Outcome::Unbounded; // cannot happen in phase 1
    }
    if t[r][width - 1] > 1e-9 * (1.0 + b.iter().fold(0.0f64, |m, v| m.max(v.abs()))) {
        return Outcome::Infeasible;
    }
    // Drive artificials out of the basis; a row with no usable pivot is redundant.
    let mut keep = vec![true; r];
    for i in 0..r {
        if basis[i] >= n {
            match (0..n).find(|&j| t[i][j].abs() > tol) {
                Some(j) => pivot(&mut t, &mut basis, i, j),
                None => keep[i] = false,
            }
        }
    }
    // Phase 2: the real objective, over the original columns only.
    for j in 0..width {
        t[r][j] = if j < n { f[j] } else { 0.0 };
    }
    for i in 0..r {
        if keep[i] {
            let c = t[r][basis[i]];
            if c != 0.0 {
                for j in 0..width {
                    t[r][j] -= c * t[i][j];
                }
            }
        }
    }
    for i in 0..r {
        if !keep[i] {
            t[i].iter_mut().for_each(|v| *v = 0.0);
            basis[i] = usize::MAX;
        }
    }
    if !run(&mut t, &mut basis, n, tol) {
        return Outcome::Unbounded;
    }
    let mut x = vec![0.0; n];
    for i in 0..r {
        if basis[i] < n {
            x[basis[i]] = t[i][width - 1];
        }
    }
    let value = f.iter().zip(&x).map(|(c, v)| c * v).sum();
    Outcome::Optimal { value, x }
}

/// Pivots until no reduced cost among the first `cols` columns is positive. False when
/// unbounded.
fn run(t: &mut [Vec<f64>], basis: &mut [usize], cols: usize, tol: f64) -> bool {
    let r = basis.len();
    let rhs = t[0].len() - 1;
    for _ in 0..10_000 {
        // Bland: the lowest-index improving column.
        let Some(j) = (0..cols).find(|&j| t[r][j] > 1e-12 && !basis.contains(&j)) else {
            return true;
        };
        let mut best: Option<(usize, f64)> = None;
        for i in 0..r {
            if basis[i] != usize::MAX && t[i][j] > tol {
                let ratio = t[i][rhs] / t[i][j];
                match best {
                    Some((bi, br)) if ratio > br + 1e-15 || (ratio >= br - 1e-15 && basis[i] > basis[bi]) => {}
                    _ => best = Some((i, ratio)),
                }
            }
        }
        let Some((i, _)) = best else { return false };
        pivot(t, basis, i, j);
    }
    true
}

fn pivot(t: &mut [Vec<f64>], basis: &mut [usize], i: usize, j: usize) {
    let p = t[i][j];
    t[i].iter_mut().for_each(|v| *v /= p);
    let row = t[i].clone();
    for (k, other) in t.iter_mut().enumerate() {
        if k != i {
            let c = other[j];
            if c != 0.0 {
                other.iter_mut().zip(&row).for_each(|(v, rv)| *v -= c * rv);
            }
        }
    }
    basis[i] = j;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_program_at_a_vertex() {
        // max 3x + 2y + 0s s.t. x + y + s = 4, x + 3y = 6 (x, y, s ≥ 0).
        let a = vec![vec![1.0, 1.0, 1.0], vec![1.0, 3.0, 0.0]];
        match maximise(&[3.0, 2.0, 0.0], &a, &[4.0, 6.0]) {
            Outcome::Optimal { value, x } => {
                // Vertices: (3,1,0) → 11; (4,..) infeasible for row 2 unless y=2/3: x+3y=6,
                // x+y≤4 → best is x=3, y=1.
                assert!((value - 11.0).abs() < 1e-12, "{value} {x:?}");
                assert!((x[0] - 3.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_infeasible_and_unbounded_programs() {
        assert_eq!(maximise(&[1.0, 0.0], &[vec![1.0, 1.0]], &[-1.0]), Outcome::Infeasible);
        assert_eq!(maximise(&[1.0, 0.0], &[vec![1.0, -1.0]], &[1.0]), Outcome::Unbounded);
    }
}
