//! Absorbing fixed effects: (weighted) demeaning by alternating projections, accelerated
//! with Irons & Tuck (1969) as fixest does; one fixed effect is demeaned in closed form.

use rayon::prelude::*;

use crate::data::FactorColumn;

/// How precisely to demean.
#[derive(Debug, Clone, Copy)]
pub struct DemeanOptions {
    /// Stop when no value moves by more than `tol` times the column's largest absolute
    /// value in one sweep.
    pub tol: f64,
    /// Give up after this many sweeps.
    pub max_iter: usize,
}

impl Default for DemeanOptions {
    fn default() -> Self {
        DemeanOptions { tol: 1e-11, max_iter: 10_000 }
    }
}

/// The fixed effects of one sample, with the weighted size of each level.
pub struct Absorber<'a> {
    fes: Vec<(&'a [u32], Vec<f64>)>,
    weights: Option<&'a [f64]>,
}

/// How demeaning a column went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemeanReport {
    /// Sweeps used (0 for a closed form).
    pub iterations: usize,
    /// Whether the tolerance was reached.
    pub converged: bool,
}

impl<'a> Absorber<'a> {
    /// Prepares demeaning by `fes` (each with dense codes) with optional weights.
    pub fn new(fes: &'a [(String, FactorColumn)], weights: Option<&'a [f64]>) -> Self {
        let fes = fes
            .iter()
            .map(|(_, f)| {
                let mut size = vec![0.0; f.n_levels()];
                match weights {
                    Some(w) => f.codes.iter().zip(w).for_each(|(&c, &wi)| size[c as usize] += wi),
                    None => f.codes.iter().for_each(|&c| size[c as usize] += 1.0),
                }
                let inv = size.iter().map(|s| if *s > 0.0 { 1.0 / s } else { 0.0 }).collect();
                (f.codes.as_slice(), inv)
            })
            .collect();
        Absorber { fes, weights }
    }

    /// Subtracts the (weighted) mean of each level of fixed effect `k`.
    fn project(&self, k: usize, x: &mut [f64], sums: &mut [f64]) {
        let (codes, inv) = &self.fes[k];
        sums.iter_mut().for_each(|s| *s = 0.0);
        match self.weights {
            Some(w) => codes.iter().zip(x.iter()).zip(w).for_each(|((&c, &xi), &wi)| sums[c as usize] += wi * xi),
            None => codes.iter().zip(x.iter()).for_each(|(&c, &xi)| sums[c as usize] += xi),
        }
        sums.iter_mut().zip(inv).for_each(|(s, i)| *s *= i);
        codes.iter().zip(x.iter_mut()).for_each(|(&c, xi)| *xi -= sums[c as usize]);
    }

    fn sweep(&self, x: &mut [f64], sums: &mut [Vec<f64>]) {
        for (k, s) in sums.iter_mut().enumerate() {
            self.project(k, x, s);
        }
    }

    /// Demeans `x` in place.
    pub fn demean(&self, x: &mut [f64], opts: DemeanOptions) -> DemeanReport {
        let mut sums: Vec<Vec<f64>> = self.fes.iter().map(|(_, inv)| vec![0.0; inv.len()]).collect();
        match self.fes.len() {
            0 => return DemeanReport { iterations: 0, converged: true },
            1 => {
                self.project(0, x, &mut sums[0]);
                return DemeanReport { iterations: 0, converged: true };
            }
            _ => {}
        }
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if scale == 0.0 {
            return DemeanReport { iterations: 0, converged: true };
        }
        let tol = opts.tol * scale;
        let n = x.len();
        let mut x1 = vec![0.0; n];
        let mut x2 = vec![0.0; n];
        let mut iterations = 0;
        while iterations < opts.max_iter {
            // Two plain sweeps: x -> x1 -> x2.
            x1.copy_from_slice(x);
            self.sweep(&mut x1, &mut sums);
            x2.copy_from_slice(&x1);
            self.sweep(&mut x2, &mut sums);
            iterations += 2;
            let mut change = 0.0f64;
            let (mut num, mut den) = (0.0, 0.0);
            for i in 0..n {
                let d1 = x1[i] - x[i];
                let d2 = x2[i] - x1[i];
                let dd = d2 - d1;
                change = change.max(d2.abs());
                num += d2 * dd;
                den += dd * dd;
            }
            if change <= tol || den == 0.0 {
                x.copy_from_slice(&x2);
                return DemeanReport { iterations, converged: true };
            }
            // Irons-Tuck: extrapolate along the last step.
            let coef = num / den;
            for i in 0..n {
                x[i] = x2[i] - coef * (x2[i] - x1[i]);
            }
        }
        DemeanReport { iterations, converged: false }
    }

    /// Demeans every column, in parallel.
    pub fn demean_all(&self, cols: &mut [Vec<f64>], opts: DemeanOptions) -> Vec<DemeanReport> {
        cols.par_iter_mut().map(|c| self.demean(c, opts)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{FactorColumn, Level};

    fn fe(codes: Vec<u32>) -> FactorColumn {
        let n = codes.iter().max().map_or(0, |m| *m as usize + 1);
        FactorColumn { codes, levels: (0..n as i64).map(Level::Int).collect() }
    }

    #[test]
    fn two_way_demeaning_leaves_no_group_means() {
        // An unbalanced 2-way layout.
        let a = vec![0, 0, 0, 1, 1, 2, 2, 2, 3, 3];
        let b = vec![0, 1, 2, 0, 2, 1, 2, 0, 1, 2];
        let fes = vec![("a".to_string(), fe(a.clone())), ("b".to_string(), fe(b.clone()))];
        let w: Vec<f64> = (0..10).map(|i| 1.0 + (i % 3) as f64).collect();
        let abs = Absorber::new(&fes, Some(&w));
        let mut x: Vec<f64> = (0..10).map(|i| ((i * 7) % 5) as f64 + 0.5 * i as f64).collect();
        let r = abs.demean(&mut x, DemeanOptions { tol: 1e-14, max_iter: 10_000 });
        assert!(r.converged);
        for codes in [&a, &b] {
            for g in 0..4u32 {
                let s: f64 =
                    codes.iter().zip(&x).zip(&w).filter(|((c, _), _)| **c == g).map(|((_, xi), wi)| xi * wi).sum();
                assert!(s.abs() < 1e-10, "weighted group sum {s}");
            }
        }
    }
}
