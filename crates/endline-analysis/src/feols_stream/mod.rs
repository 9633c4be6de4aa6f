//! `y ~ x1 + … | a + b` with two absorbed fixed effects, one of them with at most 64
//! levels (years, waves), from a table read in chunks: the two-way fixed-effects
//! regression of a register (1e8–1e9 rows) in memory that grows with the levels of the
//! large fixed effect, not with the rows.
//!
//! The fixed effects are solved exactly rather than by alternating projections: with a
//! the large effect and b the small one, the normal equations give
//! α_a = (S_a − Σ_t n_at γ_t) / n_a, and substituting them leaves a T×T system in γ,
//! M γ = r, with M = diag(n_t) − Σ_a n_at n_as / n_a (which depends on each level of a
//! only through the set of b-levels it has when each pair has one row, so it is summed
//! over those sets) and
//! r_t = Σ_{rows in t} v − Σ_a n_at S_a / n_a. Passes over the chunks:
//!
//! 0. (identifiers only; skipped when the source knows their ranges, as Parquet's
//!    statistics do) row count, identifier ranges, the b-levels;
//! 1. listwise deletion, each a-level's set of b-levels and rows (pairs of levels with
//!    several rows, such as households in a county-year, counted aside), nesting in the
//!    cluster, per a-level and per b-level sums of y and every regressor; singletons are
//!    then removed on the sets, and their rows from the sums;
//! 2. (only when a level of b was a singleton) the sums again, over the rows kept;
//! 3. the demeaned cross-products [X̃ | ỹ]'[X̃ | ỹ], and per cluster Σ x̃ [x̃ | ỹ], from
//!    which each cluster's score Σ x̃ e = Σ x̃ ỹ − (Σ x̃ x̃') β follows once β is known;
//! 4. (heteroskedasticity-robust variance only) Σ x̃ x̃' e².
//!
//! The fit equals [`crate::FeolsSpec::fit`] on the same table (fixest's small-sample
//! corrections, singletons, collinearity checks; `demean_iterations` is 0: no iterations).

use std::collections::HashMap;

use ndarray::Array2;

use crate::error::{AnalysisError, Result};
use crate::feols::{FeolsFit, FixedEffectInfo, Vcov, inference_table};
use crate::formula::{Factor, Formula};
use crate::linalg;
use crate::stream::{Coder, NONE, Range, Source};

mod rows;
use rows::{Cache, Codes, Crossed, Kahan, Kept, Levels, Local, Part, Run, Sums, bits, runs};

/// What a streamed regression needs from its formula: y, the regressors, the two fixed
/// effects (formula order) and the cluster.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The dependent variable.
    pub y: String,
    /// Numeric regressors.
    pub x: Vec<String>,
    /// The two fixed effects.
    pub fixef: [String; 2],
    /// The one-way cluster variable, if clustering.
    pub cluster: Option<String>,
}

impl Columns {
    /// The columns of a formula that streams: numeric regressors only (no `i()`, `C()`
    /// or interactions), two single-column fixed effects, a variance that is iid, HC1
    /// or one-way CR1. Otherwise why not.
    pub fn of(formula: &Formula, vcov: &Vcov) -> std::result::Result<Columns, String> {
        let mut x = Vec::new();
        for t in &formula.terms {
            match t.factors.as_slice() {
                [Factor::Var(v)] => x.push(v.clone()),
                _ => return Err("only plain numeric regressors stream (no i(), C() or interactions)".into()),
            }
        }
        if x.len() > 63 {
            return Err("streaming handles up to 63 regressors".into());
        }
        let fixef: [String; 2] = match formula.fixef.as_slice() {
            [a, b] if a.len() == 1 && b.len() == 1 => [a[0].clone(), b[0].clone()],
            _ => return Err("streaming needs exactly two fixed effects, each one column".into()),
        };
        let cluster = match vcov {
            Vcov::Cluster(c) if c.len() == 1 && !c[0].contains('^') => Some(c[0].clone()),
            Vcov::Cluster(_) => return Err("multiway or combined clusters need the in-memory fit".into()),
            _ => None,
        };
        Ok(Columns { y: formula.depvar.clone(), x, fixef, cluster })
    }
}

/// The outcome of a streamed fit.
#[derive(Debug)]
pub enum Fitted {
    /// The fit.
    Fit(Box<FeolsFit>),
    /// Why the table needs the in-memory fit.
    Fallback(String),
}

/// The options of the fit.
pub struct Options<'a> {
    /// The formula.
    pub formula: &'a Formula,
    /// The variance.
    pub vcov: &'a Vcov,
    /// Drop singletons (default of the in-memory fit).
    pub remove_singletons: bool,
    /// fixest's `fixef.K = "full"`.
    pub k_fixef_full: bool,
    /// Bytes the rows may take held compactly (codes and values, 9 + 8 per variable
    /// each) for the later passes to read instead of the table; 0 never holds them.
    pub cache_bytes: usize,
}

/// Fits the regression from chunks whose identifiers are the two fixed effects (formula
/// order) and, when clustering, the cluster, and whose numbers are y and the regressors.
pub fn fit(source: &mut dyn Source, opts: &Options<'_>) -> Result<Fitted> {
    let cols = Columns::of(opts.formula, opts.vcov).map_err(AnalysisError::Invalid)?;
    let k_all = cols.x.len();
    let nv = k_all + 1; // regressors, then y
    let clustered = cols.cluster.is_some();

    // Pass 0 (identifiers only), unless the source knows the ranges of whole-number
    // identifiers (a fixed effect spanning at most 64 values then has those levels, some
    // perhaps empty).
    let mut rows = 0usize;
    let mut ranges = [Range::default(); 3];
    let mut levels = [Levels::default(), Levels::default()];
    let known = source.known_ranges().filter(|(_, r)| r.iter().take(2).any(|(lo, hi)| hi - lo < 64));
    if let Some((n, known)) = known {
        rows = n;
        for (j, &(min, max)) in known.iter().enumerate() {
            ranges[j] = Range { min, max, any: true, text: false };
            if j < 2 {
                levels[j] = if max - min < 64 {
                    Levels { ints: (min..=max).collect(), ..Levels::default() }
                } else {
                    Levels { overflow: true, ..Levels::default() }
                };
            }
        }
    } else {
        source.scan_ids(&mut |c| {
            rows += c.ids[0].len();
            for (j, ids) in c.ids.iter().enumerate() {
                ranges[j].observe(ids);
                if j < 2 {
                    levels[j].observe(ids);
                }
            }
            Ok(true)
        })?;
    }
    // b: the small fixed effect (the second when both are small).
    let small = if !levels[1].overflow {
        1
    } else if !levels[0].overflow {
        0
    } else {
        return Ok(Fitted::Fallback("neither fixed effect has at most 64 levels".into()));
    };
    let large = 1 - small;
    levels[small].seal();
    let t_n = levels[small].len();
    // Dense codes when the identifiers span at most twice the levels of a balanced panel.
    let dense_up_to = (rows / t_n.max(1)).saturating_mul(2).max(1 << 20);
    let mut a_codes = Coder::new(ranges[large], dense_up_to);
    let mut cl_codes = Coder::new(ranges[2], dense_up_to);

    // Pass 1.
    let mut mask: Vec<u64> = vec![0; a_codes.len()];
    // Rows per a-level, and the pairs of levels with more than one row (households in a
    // county-year): `extra` counts the rows beyond the first.
    let mut count: Vec<u32> = vec![0; a_codes.len()];
    let mut extra: HashMap<(u32, u8), u32> = HashMap::new();
    let mut cl_of_a: Vec<u32> = if clustered { vec![u32::MAX; a_codes.len()] } else { Vec::new() };
    let mut cl_of_b: Vec<u32> = vec![u32::MAX; t_n];
    let (mut nested_a, mut nested_b) = (true, true);
    let mut n_missing = 0usize;
    let mut failure = None;
    let mut sums = Sums::new(nv, t_n);
    let row_bytes = 5 + 4 * usize::from(clustered) + 8 * nv;
    let mut cache =
        if rows.saturating_mul(row_bytes) <= opts.cache_bytes { Cache::new(rows, nv, clustered) } else { None };
    let mut codes = Codes::default();
    source.scan(&mut |c| {
        let coded = a_codes
            .code_all(&c.ids[large], &mut codes.a)
            .and_then(|()| if clustered { cl_codes.code_all(&c.ids[2], &mut codes.cl) } else { Ok(()) });
        if let Err(e) = coded {
            failure = Some(e);
            return Ok(false);
        }
        levels[small].index_all(&c.ids[small], &mut codes.b);
        sums.shift_from(c);
        if cache.as_mut().is_some_and(|k| !k.extend(&codes, c, nv)) {
            cache = None;
        }
        // The per-level arrays cover every code so far; the rows are then worked on by two
        // threads, each owning the levels of a on one side of a pivot (rows come sorted by
        // household in registers, so each takes about half).
        let n_codes = a_codes.len();
        if mask.len() < n_codes {
            mask.resize(n_codes, 0);
            count.resize(n_codes, 0);
            if clustered {
                cl_of_a.resize(n_codes, u32::MAX);
            }
        }
        sums.s_a.resize(mask.len() * nv, 0.0);
        let n = c.ids[0].len();
        let pivot = codes.a.get(n / 2).copied().filter(|a| *a != NONE).map_or(mask.len() / 2, |a| a as usize);
        let (mask0, mask1) = mask.split_at_mut(pivot);
        let (count0, count1) = count.split_at_mut(pivot);
        let (cl0, cl1) = if clustered { cl_of_a.split_at_mut(pivot) } else { (&mut [][..], &mut [][..]) };
        let (s0, s1) = sums.s_a.split_at_mut(pivot * nv);
        let shift = sums.shift.as_deref().unwrap_or_default();
        let codes = &codes;
        let (first, second) = std::thread::scope(|s| {
            let other = s.spawn(move || {
                let mut part = Part { off: pivot, mask: mask1, count: count1, cl_of_a: cl1, s_a: s1 };
                let mut local = Local::new(nv, t_n);
                part.rows(&mut local, codes, c, shift, clustered, |a| a == NONE || a as usize >= pivot);
                local
            });
            let mut part = Part { off: 0, mask: mask0, count: count0, cl_of_a: cl0, s_a: s0 };
            let mut local = Local::new(nv, t_n);
            part.rows(&mut local, codes, c, shift, clustered, |a| a != NONE && (a as usize) < pivot);
            (local, other.join())
        });
        let Ok(second) = second else {
            failure = Some(AnalysisError::Data("a summing thread failed".into()));
            return Ok(false);
        };
        for local in [first, second] {
            n_missing += local.n_missing;
            for key in local.extra {
                *extra.entry(key).or_insert(0) += 1;
            }
            sums.by.merge(local.by);
            nested_a &= local.nested_a;
            for (owner, cl) in cl_of_b.iter_mut().zip(local.cl_of_b) {
                if cl == u32::MAX {
                    continue;
                }
                if *owner == u32::MAX {
                    *owner = cl;
                } else if *owner != cl {
                    nested_b = false;
                }
            }
            nested_b &= local.nested_b;
        }
        Ok(true)
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    // Rows of a pair of levels.
    let n_ab = |a: usize, t: usize, mask: &[u64]| -> u64 {
        if mask[a] & (1 << t) == 0 { 0 } else { 1 + extra.get(&(a as u32, t as u8)).copied().unwrap_or(0) as u64 }
    };
    // Levels of a with one row per level of b are counted by runs of the same set of
    // levels (a balanced panel is one run).
    let count_b = |mask: &[u64], count: &[u32]| {
        let mut n = vec![0u64; t_n];
        for run in runs(mask, count) {
            match run {
                Run::Simple { mask: mk, n: levels, .. } => bits(mk).for_each(|t| n[t] += levels),
                Run::Repeated(a) => bits(mask[a]).for_each(|t| n[t] += n_ab(a, t, mask)),
            }
        }
        n
    };
    // Singletons: levels with one row, removed until none is left. A singleton of a is
    // its level's sums, taken out of the sums; a row taken out of a level of a with other
    // rows (a singleton of b) makes the sums be taken again.
    let mut n_singletons = 0;
    let mut resum = false;
    if opts.remove_singletons {
        loop {
            let mut removed = 0;
            for (a, (m, c)) in mask.iter_mut().zip(count.iter_mut()).enumerate() {
                if *c == 1 {
                    sums.remove_row(a, m.trailing_zeros() as usize);
                    (*m, *c) = (0, 0);
                    removed += 1;
                }
            }
            let n_b = count_b(&mask, &count);
            for (t, _) in n_b.iter().enumerate().filter(|(_, n)| **n == 1) {
                if let Some(a) = (0..mask.len()).find(|&a| mask[a] & (1 << t) != 0) {
                    mask[a] &= !(1 << t);
                    count[a] -= 1;
                    removed += 1;
                    resum = true;
                }
            }
            if removed == 0 {
                break;
            }
            n_singletons += removed;
        }
    }
    let n_b = count_b(&mask, &count);
    let n: u64 = n_b.iter().sum();
    if n == 0 {
        return Err(AnalysisError::NoObservations {
            reason: format!("every one of the {rows} rows has a missing value or is a fixed-effect singleton"),
        });
    }
    let n_f = n as f64;
    let levels_a = mask.iter().filter(|m| **m != 0).count();
    let levels_b = n_b.iter().filter(|c| **c > 0).count();
    let kept = Kept {
        cache: cache.as_ref(),
        coders: (&a_codes, &levels[small], clustered.then_some(&cl_codes)),
        fe: (large, small),
        mask: &mask,
        nv,
    };

    // Pass 2, only when a singleton of b was removed: the sums again, over kept rows.
    if resum {
        let shift = sums.shift.take();
        sums = Sums::new(nv, t_n);
        sums.shift = shift;
        kept.each(source, &mut codes, &mut |a, b, _, raw| sums.add(a, b, raw))?;
    }
    let Sums { mut s_a, by, shift, .. } = sums;
    let (r_b, yy, ss_before) = (by.r_b.values(), by.yy.values()[0], by.ss_before);
    s_a.resize(mask.len() * nv, 0.0);
    let shift = shift.unwrap_or_else(|| vec![0.0; nv]);

    // The b-effects: M γ = r, with γ of the first b-level fixed at 0. M sums, over
    // a-levels, n_at n_as / n_a: a-levels with one row per b-level contribute by their set
    // of b-levels alone, summed once per set.
    // The simple a-levels (one row per b-level) are taken by runs of the same set of
    // b-levels, with their means S_a / n_a summed (compensated) over the run.
    let mut m = Array2::<f64>::zeros((t_n, t_n));
    let mut patterns: HashMap<u64, u64> = HashMap::new();
    let mut rhs = r_b.clone();
    for run in runs(&mask, &count) {
        match run {
            Run::Simple { mask: mk, levels, n } => {
                *patterns.entry(mk).or_insert(0) += n;
                let mut means = Kahan::new(nv);
                for a in levels.filter(|&a| mask[a] != 0) {
                    let inv = 1.0 / count[a] as f64;
                    for v in 0..nv {
                        means.add(v, s_a[a * nv + v] * inv);
                    }
                }
                let means = means.values();
                for t in bits(mk) {
                    for v in 0..nv {
                        rhs[t * nv + v] -= means[v];
                    }
                }
            }
            Run::Repeated(a) => {
                let (mk, inv) = (mask[a], 1.0 / count[a] as f64);
                for t in bits(mk) {
                    let nat = n_ab(a, t, &mask) as f64;
                    for s in bits(mk) {
                        m[[t, s]] -= nat * n_ab(a, s, &mask) as f64 * inv;
                    }
                    for v in 0..nv {
                        rhs[t * nv + v] -= nat * s_a[a * nv + v] * inv;
                    }
                }
            }
        }
    }
    for (&mk, &times) in &patterns {
        let w = times as f64 / mk.count_ones() as f64;
        for t in bits(mk) {
            for s in bits(mk) {
                m[[t, s]] -= w;
            }
        }
    }
    for t in 0..t_n {
        m[[t, t]] += n_b[t] as f64;
    }
    let free: Vec<usize> = (0..t_n).filter(|&t| n_b[t] > 0).skip(1).collect();
    let sub = Array2::from_shape_fn((free.len(), free.len()), |(i, j)| m[[free[i], free[j]]]);
    let mut gamma = vec![0.0; t_n * nv];
    for v in 0..nv {
        let b: Vec<f64> = free.iter().map(|&t| rhs[t * nv + v]).collect();
        let Some(g) = linalg::solve_spd(sub.view(), &b) else {
            return Ok(Fitted::Fallback("the fixed effects are not connected (separate groups of levels)".into()));
        };
        for (&t, gv) in free.iter().zip(g) {
            gamma[t * nv + v] = gv;
        }
    }
    // α_a, in place of the sums; Σ_t γ_t once per run of a set of b-levels.
    for run in runs(&mask, &count) {
        match run {
            Run::Simple { mask: mk, levels, .. } => {
                let g: Vec<f64> = (0..nv).map(|v| bits(mk).map(|t| gamma[t * nv + v]).sum()).collect();
                for a in levels.filter(|&a| mask[a] != 0) {
                    let inv = 1.0 / count[a] as f64;
                    for v in 0..nv {
                        s_a[a * nv + v] = (s_a[a * nv + v] - g[v]) * inv;
                    }
                }
            }
            Run::Repeated(a) => {
                let (mk, inv) = (mask[a], 1.0 / count[a] as f64);
                for v in 0..nv {
                    let g: f64 = bits(mk).map(|t| n_ab(a, t, &mask) as f64 * gamma[t * nv + v]).sum();
                    s_a[a * nv + v] = (s_a[a * nv + v] - g) * inv;
                }
            }
        }
    }
    drop(rhs);

    // Pass 3: the demeaned rows' cross-products G = Σ z̃ z̃', and per cluster Σ x̃ z̃'.
    let c_total: f64 = (0..t_n).map(|t| r_b[t * nv + k_all]).sum();
    let y_centred_mean = c_total / n_f;
    let tss = (yy - n_f * y_centred_mean * y_centred_mean).max(0.0);
    let per = k_all * nv;
    let n_codes = if clustered { cl_codes.len() } else { 0 };
    let empty = Crossed::new(nv, k_all, n_codes);
    let absorb = |acc: &mut Crossed, a: usize, b: usize, cl: u32, raw: &[f64]| {
        let mut z = [0.0; 64];
        let z = &mut z[..nv];
        for (v, zv) in z.iter_mut().enumerate() {
            *zv = raw[v] - shift[v] - s_a[a * nv + v] - gamma[b * nv + v];
        }
        acc.add(z, clustered.then_some(cl as usize));
    };
    // Held rows are split between two threads when the per-cluster sums are small enough
    // to be kept twice.
    let crossed = match cache.as_ref() {
        Some(held) if n_codes * per <= 1 << 24 => {
            let mid = held.a.len() / 2;
            let (first, second) = std::thread::scope(|s| {
                let other = s.spawn(|| {
                    let mut acc = empty.clone();
                    kept.held(held, mid..held.a.len(), &mut |a, b, cl, raw| absorb(&mut acc, a, b, cl, raw));
                    acc
                });
                let mut acc = empty.clone();
                kept.held(held, 0..mid, &mut |a, b, cl, raw| absorb(&mut acc, a, b, cl, raw));
                (acc, other.join())
            });
            first.merge(second.map_err(|_| AnalysisError::Data("a summing thread failed".into()))?)
        }
        _ => {
            let mut acc = empty.clone();
            kept.each(source, &mut codes, &mut |a, b, cl, raw| absorb(&mut acc, a, b, cl, raw))?;
            acc.finish()
        }
    };
    let (g, by_cluster, seen) = (crossed.gram.values(), crossed.by_cluster.values(), crossed.seen);
    let mut gram = Array2::<f64>::zeros((nv, nv));
    for p in 0..nv {
        for q in 0..=p {
            gram[[p, q]] = g[p * nv + q];
            gram[[q, p]] = g[p * nv + q];
        }
    }

    // Collinearity: with the fixed effects, then among the regressors.
    let absorbed: Vec<bool> = (0..k_all).map(|j| gram[[j, j]] <= linalg::COLLINEARITY_TOL * ss_before[j]).collect();
    let candidates: Vec<usize> = (0..k_all).filter(|&j| !absorbed[j]).collect();
    let cand =
        Array2::from_shape_fn((candidates.len(), candidates.len()), |(i, j)| gram[[candidates[i], candidates[j]]]);
    let mut keep = vec![false; k_all];
    for (&j, ok) in candidates.iter().zip(linalg::independent_columns(&cand)) {
        keep[j] = ok;
    }
    let idx: Vec<usize> = (0..k_all).filter(|&j| keep[j]).collect();
    let dropped: Vec<String> = (0..k_all).filter(|&j| !keep[j]).map(|j| cols.x[j].clone()).collect();
    let mut notes = Vec::new();
    let k = idx.len();
    crate::feols::dropped_for_collinearity(&dropped, k, true, &mut notes)?;
    let cluster_n = seen.iter().filter(|s| **s).count();
    let fe_levels = {
        let mut l = [0, 0];
        l[large] = levels_a;
        l[small] = levels_b;
        l
    };
    let nested = {
        let mut l = [false, false];
        l[large] = nested_a;
        l[small] = nested_b;
        l
    };
    let fe_info: Vec<FixedEffectInfo> = (0..2)
        .map(|f| FixedEffectInfo {
            name: cols.fixef[f].clone(),
            levels: fe_levels[f],
            nested_in_cluster: clustered && !opts.k_fixef_full && nested[f],
        })
        .collect();
    let k_full = k + levels_a + levels_b - 1;
    let df_k = k + fe_info.iter().map(|f| if f.nested_in_cluster { 1 } else { f.levels }).sum::<usize>() - 1;
    let n_us = n as usize;
    if n_us <= k_full {
        return Err(AnalysisError::NotIdentified(format!(
            "{n_us} observations cannot identify {k_full} parameters (coefficients and fixed effects)"
        )));
    }
    let xtx = Array2::from_shape_fn((k, k), |(i, j)| gram[[idx[i], idx[j]]]);
    let xty: Vec<f64> = idx.iter().map(|&j| gram[[j, k_all]]).collect();
    let singular = || AnalysisError::NotIdentified("the design matrix is singular".into());
    let beta = linalg::solve_spd(xtx.view(), &xty).ok_or_else(singular)?;
    let bread = linalg::inverse_spd(&xtx).ok_or_else(singular)?;
    let tss_within = gram[[k_all, k_all]];
    let bxtxb: f64 = (0..k).map(|i| (0..k).map(|j| beta[i] * xtx[[i, j]] * beta[j]).sum::<f64>()).sum();
    let ssr = (tss_within - 2.0 * beta.iter().zip(&xty).map(|(b, v)| b * v).sum::<f64>() + bxtxb).max(0.0);
    let dof_n = (n_us - df_k) as f64;
    let (v, dof_resid, clusters) = match opts.vcov {
        Vcov::Iid => (&bread * (ssr / dof_n), n_us - df_k, Vec::new()),
        Vcov::Hetero => {
            let mut meat = Array2::<f64>::zeros((k, k));
            let mut z = vec![0.0; nv];
            kept.each(source, &mut codes, &mut |a, b, _, raw| {
                for (v, zv) in z.iter_mut().enumerate() {
                    *zv = raw[v] - shift[v] - s_a[a * nv + v] - gamma[b * nv + v];
                }
                let e = z[k_all] - idx.iter().zip(&beta).map(|(&j, bj)| z[j] * bj).sum::<f64>();
                for p in 0..k {
                    for q in 0..=p {
                        meat[[p, q]] += z[idx[p]] * z[idx[q]] * e * e;
                    }
                }
            })?;
            for p in 0..k {
                for q in 0..p {
                    meat[[q, p]] = meat[[p, q]];
                }
            }
            (linalg::sandwich(&bread, &meat) * (n_f / dof_n), n_us - df_k, Vec::new())
        }
        Vcov::Cluster(names) => {
            let g = cluster_n;
            if g < 2 {
                return Err(AnalysisError::NotIdentified(format!(
                    "clustering by `{}` needs at least two clusters, but the sample has {g}",
                    names.join("+")
                )));
            }
            let mut meat = Array2::<f64>::zeros((k, k));
            let mut s = vec![0.0; k];
            for acc in by_cluster.chunks(per) {
                for (p, &j) in idx.iter().enumerate() {
                    s[p] = acc[j * nv + k_all] - idx.iter().zip(&beta).map(|(&l, b)| acc[j * nv + l] * b).sum::<f64>();
                }
                for p in 0..k {
                    for q in 0..k {
                        meat[[p, q]] += s[p] * s[q];
                    }
                }
            }
            let adj = g as f64 / (g as f64 - 1.0) * (n_f - 1.0) / dof_n;
            (linalg::sandwich(&bread, &meat) * adj, g - 1, vec![(names.join("+"), g)])
        }
    };
    let names: Vec<String> = idx.iter().map(|&j| cols.x[j].clone()).collect();
    let (coefficients, f_test) = inference_table(&names, &beta, &v, dof_resid)?;
    let r2 = if tss > 0.0 { 1.0 - ssr / tss } else { f64::NAN };
    Ok(Fitted::Fit(Box::new(FeolsFit {
        formula: opts.formula.text.clone(),
        depvar: cols.y.clone(),
        vcov: opts.vcov.to_string(),
        weights: None,
        n_obs: n_us,
        n_input: rows,
        n_missing,
        n_zero_weight: 0,
        n_singletons,
        coefficients,
        dropped_collinear: dropped,
        fixed_effects: fe_info,
        clusters,
        df_k,
        dof_resid,
        r2,
        adj_r2: 1.0 - (1.0 - r2) * (n_f - 1.0) / (n_us - k_full) as f64,
        r2_within: (tss_within > 0.0).then(|| 1.0 - ssr / tss_within),
        rmse: (ssr / n_f).sqrt(),
        f_test,
        vcov_matrix: (0..k).map(|a| (0..k).map(|b| v[[a, b]]).collect()).collect(),
        demean_iterations: 0,
        notes,
    })))
}
