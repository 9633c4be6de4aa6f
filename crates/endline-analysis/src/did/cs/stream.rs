//! The sufficient statistics of [`super::stats`] from a long panel read in chunks (Parquet
//! row groups), in memory that grows with the units, not the rows.
//!
//! Three passes over the source: the first finds the periods and the range of the
//! identifiers; the second checks the panel as [`crate::did::panel::build`] does (one row
//! per unit and period, cohort and cluster constant within a unit) and learns each unit's
//! cohort and cluster and each period's mean; the third sums the outcome, less its
//! period's mean, per cohort and cluster (or per cohort, with the cross-products that
//! standard errors over units need, for as many units at a time as `memory` allows; more
//! units than that take more passes). Per unit it keeps 14 bytes (period mask, cohort,
//! cluster), and 8 per unit and period only while summing cross-products.
//!
//! A panel the statistics cannot represent (a missing outcome, a unit missing a period,
//! more than 64 periods) is reported as [`Streamed::Fallback`], with the reason, for the
//! caller to estimate in memory instead.

use std::collections::HashMap;

pub use crate::stream::{Chunk, Ids, Source};
use crate::stream::{Coder, Range};

use super::stats::{CohortSums, CsStats};
use crate::error::{AnalysisError, Result};

/// The outcome of streaming.
#[derive(Debug)]
pub enum Streamed {
    /// The statistics.
    Stats(CsStats),
    /// Why the panel needs the in-memory estimator.
    Fallback(String),
}

/// Column names, for messages.
pub struct Names<'a> {
    /// The period column.
    pub time: &'a str,
    /// The cohort column.
    pub cohort: &'a str,
}

const UNSEEN: u16 = u16::MAX;

/// Streams the panel's sufficient statistics from chunks whose identifiers are the unit
/// and, when clustering, the cluster, and whose numbers are the period, the outcome and
/// the cohort. `memory` bounds the bytes of per-unit outcomes
/// held at once when summing cross-products (no cluster).
pub fn sufficient_statistics(source: &mut dyn Source, names: &Names<'_>, memory: usize) -> Result<Streamed> {
    // Pass 1: periods and identifier ranges.
    let mut periods: Vec<i64> = Vec::new();
    let (mut units, mut clusters) = (Range::default(), Range::default());
    let mut rows = 0usize;
    let mut whole = Ok(());
    source.scan(&mut |c| {
        units.observe(&c.ids[0]);
        if let Some(cl) = c.ids.get(1) {
            clusters.observe(cl);
        }
        let mut last = f64::NAN;
        for (i, &t) in c.numbers[0].iter().enumerate() {
            if t.is_nan() || t == last {
                continue;
            }
            if t.fract() != 0.0 {
                whole = Err(AnalysisError::ColumnType {
                    name: names.time.into(),
                    problem: format!("must hold whole periods, but row {} has {t}", rows + i + 1),
                });
                return Ok(false);
            }
            last = t;
            if let Err(at) = periods.binary_search(&(t as i64)) {
                periods.insert(at, t as i64);
            }
        }
        rows += c.numbers[0].len();
        Ok(true)
    })?;
    whole?;
    if periods.len() < 2 {
        return Err(AnalysisError::NotIdentified(format!(
            "`{}` has {} distinct period(s); a DiD needs at least two",
            names.time,
            periods.len()
        )));
    }
    if periods.len() > 64 {
        return Ok(Streamed::Fallback(format!("{} periods (streaming handles up to 64)", periods.len())));
    }
    let t_n = periods.len();
    let full: u64 = if t_n == 64 { u64::MAX } else { (1u64 << t_n) - 1 };
    let p0 = periods[0];
    let dense_periods = (periods[t_n - 1] - p0) < (1 << 16);
    let period_index: Vec<u8> = if dense_periods {
        let mut v = vec![u8::MAX; (periods[t_n - 1] - p0 + 1) as usize];
        for (i, p) in periods.iter().enumerate() {
            v[(p - p0) as usize] = i as u8;
        }
        v
    } else {
        Vec::new()
    };
    let index_of = |t: f64| -> usize {
        let t = t as i64;
        if dense_periods { period_index[(t - p0) as usize] as usize } else { periods.binary_search(&t).unwrap_or(0) }
    };

    // Pass 2: the panel's checks, each unit's cohort and cluster, the periods' means.
    // Dense codes when the identifiers span at most twice the units of a balanced panel.
    let dense_up_to = (rows / t_n).saturating_mul(2).max(1 << 20);
    let mut unit_codes = Coder::new(units, dense_up_to);
    let mut cluster_codes = Coder::new(clusters, dense_up_to);
    let clustered = clusters.any || clusters.text;
    let mut mask: Vec<u64> = vec![0; unit_codes.len()];
    let mut cohort_of: Vec<u16> = vec![UNSEEN; unit_codes.len()];
    let mut cluster_of: Vec<u32> = if clustered { vec![u32::MAX; unit_codes.len()] } else { Vec::new() };
    let mut cohorts: Vec<i64> = Vec::new();
    let (mut sum, mut count) = (vec![0.0; t_n], vec![0u64; t_n]);
    let (mut n_missing, mut n_obs, mut at) = (0usize, 0usize, 0usize);
    let mut fallback: Option<String> = None;
    let mut failure: Option<AnalysisError> = None;
    source.scan(&mut |c| {
        let rows_before = at;
        at += c.numbers[0].len();
        for i in 0..c.ids[0].len() {
            let row = rows_before + i + 1;
            let t = c.numbers[0][i];
            let u = match unit_codes.code(&c.ids[0], i) {
                Ok(Some(u)) if !t.is_nan() => u as usize,
                Ok(_) => {
                    n_missing += 1;
                    continue;
                }
                Err(e) => {
                    failure = Some(e);
                    return Ok(false);
                }
            };
            if u >= mask.len() {
                mask.resize(u + 1, 0);
                cohort_of.resize(u + 1, UNSEEN);
                if clustered {
                    cluster_of.resize(u + 1, u32::MAX);
                }
            }
            let p = index_of(t);
            if mask[u] & (1 << p) != 0 {
                failure = Some(AnalysisError::Invalid(format!(
                    "unit {} appears twice in period {} (row {row}); a panel has one row per unit and period",
                    unit_codes.label(&c.ids[0], i),
                    t as i64
                )));
                return Ok(false);
            }
            mask[u] |= 1 << p;
            let g = if c.numbers[2][i].is_nan() { 0 } else { c.numbers[2][i] as i64 };
            let gi = match cohorts.iter().position(|&x| x == g) {
                Some(gi) => gi,
                None => {
                    cohorts.push(g);
                    cohorts.len() - 1
                }
            } as u16;
            if cohort_of[u] == UNSEEN {
                cohort_of[u] = gi;
            } else if cohort_of[u] != gi {
                failure = Some(AnalysisError::Invalid(format!(
                    "the cohort `{}` of unit {} changes over time ({}, then {g} in row {row}); it must be the unit's first treated period",
                    names.cohort,
                    unit_codes.label(&c.ids[0], i),
                    cohorts[cohort_of[u] as usize]
                )));
                return Ok(false);
            }
            if let Some(cl) = c.ids.get(1) {
                let code = match cluster_codes.code(cl, i) {
                    Ok(code) => code.unwrap_or(u32::MAX - 1),
                    Err(e) => {
                        failure = Some(e);
                        return Ok(false);
                    }
                };
                if cluster_of[u] == u32::MAX {
                    cluster_of[u] = code;
                } else if cluster_of[u] != code {
                    failure = Some(AnalysisError::Invalid(format!(
                        "the cluster of unit {} changes over time; clusters must contain whole units",
                        unit_codes.label(&c.ids[0], i)
                    )));
                    return Ok(false);
                }
            }
            let y = c.numbers[1][i];
            if y.is_nan() {
                fallback = Some(format!("row {row} has a missing outcome"));
                return Ok(false);
            }
            sum[p] += y;
            count[p] += 1;
            n_obs += 1;
        }
        Ok(true)
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(why) = fallback {
        return Ok(Streamed::Fallback(why));
    }
    let short = mask.iter().zip(&cohort_of).filter(|(m, g)| **g != UNSEEN && **m != full).count();
    if short > 0 {
        return Ok(Streamed::Fallback(format!("{short} units are not observed in every period")));
    }
    let shift: Vec<f64> = sum.iter().zip(&count).map(|(s, n)| s / (*n).max(1) as f64).collect();
    let mut warnings = Vec::new();
    if n_missing > 0 {
        warnings.push(format!("{n_missing} rows with a missing outcome, period, unit or covariate were not used"));
    }
    drop(mask);

    // Pass 3: the sums.
    let mut out: Vec<CohortSums> = Vec::new();
    if clustered {
        // One slot per (cluster, cohort); the unit's cluster code becomes its slot.
        let mut slots: HashMap<(u32, u16), u32> = HashMap::new();
        let mut keys: Vec<(u32, u16)> = Vec::new();
        let mut units_in: Vec<u64> = Vec::new();
        for (u, g) in cohort_of.iter().enumerate() {
            if *g == UNSEEN {
                continue;
            }
            let key = (cluster_of[u], *g);
            let slot = *slots.entry(key).or_insert_with(|| {
                keys.push(key);
                units_in.push(0);
                keys.len() as u32 - 1
            });
            units_in[slot as usize] += 1;
            cluster_of[u] = slot;
        }
        let mut sums = vec![0.0; keys.len() * t_n];
        source.scan(&mut |c| {
            for i in 0..c.ids[0].len() {
                let t = c.numbers[0][i];
                if let (Some(u), false) = (unit_codes.known(&c.ids[0], i), t.is_nan()) {
                    let p = index_of(t);
                    sums[cluster_of[u as usize] as usize * t_n + p] += c.numbers[1][i] - shift[p];
                }
            }
            Ok(true)
        })?;
        for (s, ((cl, g), n)) in keys.iter().zip(units_in).enumerate() {
            out.push(CohortSums {
                cluster: Some(u64::from(*cl)),
                cohort: cohorts[*g as usize],
                units: n,
                sums: sums[s * t_n..(s + 1) * t_n].to_vec(),
                cross: None,
            });
        }
    } else {
        let mut acc: Vec<CohortSums> = cohorts
            .iter()
            .map(|&g| CohortSums {
                cluster: None,
                cohort: g,
                units: 0,
                sums: vec![0.0; t_n],
                cross: Some(vec![0.0; t_n * t_n]),
            })
            .collect();
        // Blocks of codes, each with at most `block` units (codes can have gaps).
        let block = (memory / (8 * t_n)).max(1);
        let mut bounds = vec![0];
        let mut in_block = 0;
        for (u, g) in cohort_of.iter().enumerate() {
            if *g != UNSEEN {
                if in_block == block {
                    bounds.push(u);
                    in_block = 0;
                }
                in_block += 1;
            }
        }
        bounds.push(cohort_of.len());
        let width = bounds.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        let mut y = vec![0.0; width * t_n];
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            source.scan(&mut |c| {
                for i in 0..c.ids[0].len() {
                    let t = c.numbers[0][i];
                    if let (Some(u), false) = (unit_codes.known(&c.ids[0], i), t.is_nan()) {
                        let u = u as usize;
                        if (lo..hi).contains(&u) {
                            let p = index_of(t);
                            y[(u - lo) * t_n + p] = c.numbers[1][i] - shift[p];
                        }
                    }
                }
                Ok(true)
            })?;
            for u in lo..hi {
                if cohort_of[u] == UNSEEN {
                    continue;
                }
                let a = &mut acc[cohort_of[u] as usize];
                let yu = &y[(u - lo) * t_n..(u - lo + 1) * t_n];
                a.units += 1;
                let cross = a.cross.as_mut().map_or(&mut [][..], |v| v.as_mut_slice());
                for t in 0..t_n {
                    a.sums[t] += yu[t];
                    for s in 0..=t {
                        cross[t * t_n + s] += yu[t] * yu[s];
                    }
                }
            }
        }
        for a in &mut acc {
            if let Some(cross) = a.cross.as_mut() {
                for t in 0..t_n {
                    for s in 0..t {
                        cross[s * t_n + t] = cross[t * t_n + s];
                    }
                }
            }
        }
        out = acc;
    }
    Ok(Streamed::Stats(CsStats { periods, sums: out, n_obs, warnings }))
}
