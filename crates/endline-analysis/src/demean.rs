//! Absorbing fixed effects: (weighted) demeaning by alternating projections on the
//! fixed-effect coefficients, accelerated with Irons & Tuck (1969), as fixest does; one
//! fixed effect is demeaned in closed form.

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

    /// One Gauss-Seidel sweep over the fixed-effect coefficients: each effect in turn is
    /// set to the (weighted) level means of x less the other effects. `coef` holds every
    /// effect's coefficients, concatenated; `sums` is scratch of the largest effect's size.
    fn sweep(&self, x: &[f64], coef: &mut [f64], offsets: &[usize], sums: &mut [f64]) {
        let k_n = self.fes.len();
        for k in 0..k_n {
            let (codes, inv) = &self.fes[k];
            let sums = &mut sums[..inv.len()];
            sums.iter_mut().for_each(|s| *s = 0.0);
            for i in 0..x.len() {
                let mut r = x[i];
                for j in 0..k_n {
                    if j != k {
                        r -= coef[offsets[j] + self.fes[j].0[i] as usize];
                    }
                }
                let wi = self.weights.map_or(1.0, |w| w[i]);
                sums[codes[i] as usize] += wi * r;
            }
            let out = &mut coef[offsets[k]..offsets[k] + inv.len()];
            out.iter_mut().zip(sums.iter()).zip(inv).for_each(|((c, s), i)| *c = s * i);
        }
    }

    /// Demeans `x` in place. With two or more fixed effects, the fixed point is sought in
    /// the space of the effects' coefficients (as fixest does), accelerated by Irons &
    /// Tuck; the scratch space is a few vectors of the total number of levels, not of N.
    pub fn demean(&self, x: &mut [f64], opts: DemeanOptions) -> DemeanReport {
        match self.fes.len() {
            0 => return DemeanReport { iterations: 0, converged: true },
            1 => {
                let mut sums = vec![0.0; self.fes[0].1.len()];
                self.project(0, x, &mut sums);
                return DemeanReport { iterations: 0, converged: true };
            }
            _ => {}
        }
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if scale == 0.0 {
            return DemeanReport { iterations: 0, converged: true };
        }
        let tol = opts.tol * scale;
        let mut offsets = Vec::with_capacity(self.fes.len());
        let mut total = 0;
        for (_, inv) in &self.fes {
            offsets.push(total);
            total += inv.len();
        }
        let widest = self.fes.iter().map(|(_, inv)| inv.len()).max().unwrap_or(0);
        let mut sums = vec![0.0; widest];
        let mut c0 = vec![0.0; total];
        let mut c1 = vec![0.0; total];
        let mut c2 = vec![0.0; total];
        let mut iterations = 0;
        let mut converged = false;
        while iterations < opts.max_iter {
            c1.copy_from_slice(&c0);
            self.sweep(x, &mut c1, &offsets, &mut sums);
            c2.copy_from_slice(&c1);
            self.sweep(x, &mut c2, &offsets, &mut sums);
            iterations += 2;
            let mut change = 0.0f64;
            let (mut num, mut den) = (0.0, 0.0);
            for i in 0..total {
                let d1 = c1[i] - c0[i];
                let d2 = c2[i] - c1[i];
                let dd = d2 - d1;
                change = change.max(d2.abs());
                num += d2 * dd;
                den += dd * dd;
            }
            if change <= tol || den == 0.0 {
                c0.copy_from_slice(&c2);
                converged = true;
                break;
            }
            // Irons-Tuck: extrapolate along the last step.
            let coef = num / den;
            for i in 0..total {
                c0[i] = c2[i] - coef * (c2[i] - c1[i]);
            }
        }
        for i in 0..x.len() {
            for (k, (codes, _)) in self.fes.iter().enumerate() {
                x[i] -= c0[offsets[k] + codes[i] as usize];
            }
        }
        DemeanReport { iterations, converged }
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
