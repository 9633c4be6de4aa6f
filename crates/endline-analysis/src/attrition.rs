//! Attrition in a household panel: who was interviewed at baseline and is missing later,
//! by treatment status; whether programme and comparison units lose households at
//! different rates; whether the households that left differ at baseline; and Lee (2009)
//! bounds on the effect among the households that stayed.
//!
//! Households are followed from the baseline (first) wave. A household is *retained* in
//! a wave when it has a row in it; it has *left* when it has none in the last wave.
//! Tests cluster by unit (the programme is assigned to units).

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use serde::Serialize;

use crate::data;
use crate::error::{AnalysisError, Result};
use crate::{FeolsSpec, Vcov};

/// The panel's columns.
#[derive(Debug, Clone)]
pub struct AttritionSpec {
    /// The household identifier.
    pub household: String,
    /// The assignment unit (cluster of the tests).
    pub unit: String,
    /// The wave (integer).
    pub wave: String,
    /// 1 for households of programme units, 0 for comparison units.
    pub programme: String,
    /// Outcomes on their analysis scale, for the baseline comparison and the bounds.
    pub outcomes: Vec<String>,
}

/// Baseline households of one arm and how many were interviewed in a wave.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Response {
    /// Interviewed at baseline.
    pub baseline: usize,
    /// Of them, interviewed in this wave.
    pub interviewed: usize,
    /// interviewed / baseline.
    pub rate: f64,
}

/// One later wave's response, by arm.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveResponse {
    /// The wave.
    pub wave: i64,
    /// Programme units' baseline households.
    pub programme: Response,
    /// Comparison units' baseline households.
    pub comparison: Response,
    /// Households interviewed in this wave but not at baseline (replacements, splits).
    pub new_households: usize,
}

/// A coefficient with its cluster-robust standard error.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Test {
    /// The coefficient.
    pub estimate: f64,
    /// Its standard error, clustered by unit.
    pub std_error: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
}

/// Baseline means of an outcome among stayers and leavers, by arm, and the test that
/// leavers differ differently in the two arms (the interaction of leaving and programme
/// in a regression of the baseline outcome).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeaverBalance {
    /// The outcome.
    pub variable: String,
    /// Baseline mean of programme households that stayed.
    pub programme_stayers: Option<f64>,
    /// ... that left.
    pub programme_leavers: Option<f64>,
    /// Baseline mean of comparison households that stayed.
    pub comparison_stayers: Option<f64>,
    /// ... that left.
    pub comparison_leavers: Option<f64>,
    /// Leavers minus stayers, in programme units minus in comparison units.
    pub differential: Option<Test>,
}

/// Lee (2009) bounds on the difference in the outcome's change from baseline to the last
/// wave, programme minus comparison households, among households interviewed in both:
/// the arm that kept more households is trimmed by the excess share, from the top (lower
/// bound) and from the bottom (upper bound) of its distribution of changes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeeBounds {
    /// The outcome.
    pub variable: String,
    /// The difference without trimming.
    pub untrimmed: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// `programme` or `comparison`.
    pub trimmed_arm: &'static str,
    /// The share of that arm's stayers trimmed.
    pub trim_share: f64,
    /// Bootstrap standard errors of the bounds, and the Imbens–Manski (2004) 95%
    /// interval for the effect they bound (None when the bootstrap could not run).
    pub inference: Option<LeeInference>,
}

/// Inference on Lee bounds: a bootstrap over units (the panel's clusters), which redraws
/// the retention rates, the trimming share and the trimmed means together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LeeInference {
    /// Standard error of the lower bound.
    pub lower_se: f64,
    /// Standard error of the upper bound.
    pub upper_se: f64,
    /// Imbens & Manski (2004): covers the effect (not the whole identified set) with 95%
    /// probability.
    pub conf_low: f64,
    /// Upper end of that interval.
    pub conf_high: f64,
    /// Bootstrap draws (seeded: the same data give the same interval).
    pub reps: usize,
}

/// Draws of the unit bootstrap for Lee bounds.
const LEE_REPS: usize = 500;

/// Attrition in the panel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attrition {
    /// The first wave.
    pub baseline_wave: i64,
    /// The last wave.
    pub last_wave: i64,
    /// Every later wave.
    pub waves: Vec<WaveResponse>,
    /// Leaving by the last wave regressed on programme status: the programme arm's
    /// attrition minus the comparison arm's.
    pub differential: Option<Test>,
    /// Each outcome's baseline means of stayers and leavers.
    pub leavers: Vec<LeaverBalance>,
    /// Each outcome's Lee bounds.
    pub lee: Vec<LeeBounds>,
    /// Why a test could not be run.
    pub notes: Vec<String>,
}

impl Attrition {
    /// Whether any baseline household is missing from a later wave.
    pub fn any(&self) -> bool {
        self.waves
            .iter()
            .any(|w| w.programme.interviewed < w.programme.baseline || w.comparison.interviewed < w.comparison.baseline)
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.filter(|x| x.is_finite()).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn coefficient(df: &DataFrame, formula: &str, term: &str, unit: &str) -> Result<Test> {
    let fit = FeolsSpec::new(formula)?.vcov(Vcov::Cluster(vec![unit.to_string()])).fit(df)?;
    let c = fit
        .coefficient(term)
        .ok_or_else(|| AnalysisError::NotIdentified(format!("`{term}` was dropped from `{formula}`")))?;
    if !(c.std_error.is_finite() && c.p_value.is_finite()) {
        return Err(AnalysisError::NotIdentified(format!("`{term}` has no standard error in `{formula}`")));
    }
    Ok(Test { estimate: c.estimate, std_error: c.std_error, p_value: c.p_value })
}

/// The attrition of the panel `df` (one row per household and wave).
pub fn attrition(df: &DataFrame, spec: &AttritionSpec) -> Result<Attrition> {
    let households = data::text(df, &spec.household)?;
    let units = data::text(df, &spec.unit)?;
    let waves: Vec<i64> = data::numeric(df, &spec.wave)?.iter().map(|w| *w as i64).collect();
    let programme = data::numeric(df, &spec.programme)?;
    let mut sorted: Vec<i64> = waves.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let (Some(&base), Some(&last)) = (sorted.first(), sorted.last()) else {
        return Err(AnalysisError::NoObservations { reason: "the panel has no wave".into() });
    };
    // Baseline households: their row, unit and arm.
    let mut at_base: HashMap<&str, usize> = HashMap::new();
    for (r, h) in households.iter().enumerate() {
        if let Some(h) = h
            && waves[r] == base
        {
            at_base.entry(h.as_str()).or_insert(r);
        }
    }
    let mut present: HashMap<i64, HashSet<&str>> = HashMap::new();
    let mut rows_in: HashMap<(&str, i64), usize> = HashMap::new();
    for (r, h) in households.iter().enumerate() {
        if let Some(h) = h {
            present.entry(waves[r]).or_default().insert(h.as_str());
            rows_in.entry((h.as_str(), waves[r])).or_insert(r);
        }
    }
    let arm = |r: usize| programme[r] > 0.5;
    // Each row's unit as a code, for the bootstrap over units.
    let unit_index: Vec<usize> = {
        let mut codes: HashMap<&str, usize> = HashMap::new();
        units
            .iter()
            .map(|u| {
                let next = codes.len();
                *codes.entry(u.as_deref().unwrap_or("")).or_insert(next)
            })
            .collect()
    };
    let mut base_list: Vec<(&str, usize)> = at_base.iter().map(|(h, r)| (*h, *r)).collect();
    base_list.sort_unstable();
    let count = |treated: bool, wave: i64| -> Response {
        let in_arm: Vec<&(&str, usize)> = base_list.iter().filter(|(_, r)| arm(*r) == treated).collect();
        let interviewed = in_arm.iter().filter(|(h, _)| present.get(&wave).is_some_and(|p| p.contains(h))).count();
        let baseline = in_arm.len();
        Response {
            baseline,
            interviewed,
            rate: if baseline > 0 { interviewed as f64 / baseline as f64 } else { f64::NAN },
        }
    };
    let wave_rows: Vec<WaveResponse> = sorted
        .iter()
        .skip(1)
        .map(|&w| WaveResponse {
            wave: w,
            programme: count(true, w),
            comparison: count(false, w),
            new_households: present.get(&w).map_or(0, |p| p.iter().filter(|h| !at_base.contains_key(*h)).count()),
        })
        .collect();
    let mut out = Attrition {
        baseline_wave: base,
        last_wave: last,
        waves: wave_rows,
        differential: None,
        leavers: Vec::new(),
        lee: Vec::new(),
        notes: Vec::new(),
    };
    if sorted.len() < 2 || !out.any() {
        return Ok(out);
    }
    // Leaving by the last wave, against programme status, clustered by unit.
    let left: Vec<f64> = base_list
        .iter()
        .map(|(h, _)| if present.get(&last).is_some_and(|p| p.contains(h)) { 0.0 } else { 1.0 })
        .collect();
    let prog: Vec<f64> = base_list.iter().map(|(_, r)| if arm(*r) { 1.0 } else { 0.0 }).collect();
    let unit_of: Vec<String> = base_list.iter().map(|(_, r)| units[*r].clone().unwrap_or_default()).collect();
    let mut frame = DataFrame::new(
        left.len(),
        vec![
            Column::new("left".into(), &left),
            Column::new("programme".into(), &prog),
            Column::new("unit".into(), &unit_of),
            Column::new("left_x_programme".into(), left.iter().zip(&prog).map(|(a, b)| a * b).collect::<Vec<f64>>()),
        ],
    )?;
    match coefficient(&frame, "left ~ programme", "programme", "unit") {
        Ok(t) => out.differential = Some(t),
        Err(e) => out.notes.push(format!("differential attrition test: {e}")),
    }
    for var in &spec.outcomes {
        let y = data::numeric(df, var)?;
        let base_y: Vec<f64> = base_list.iter().map(|(_, r)| y[*r]).collect();
        let pick = |treated: bool, gone: bool| {
            mean(
                (0..base_list.len())
                    .filter(|&i| (prog[i] > 0.5) == treated && (left[i] > 0.5) == gone)
                    .map(|i| base_y[i]),
            )
        };
        frame.with_column(Column::new("y".into(), &base_y))?;
        let differential =
            match coefficient(&frame, "y ~ left + programme + left_x_programme", "left_x_programme", "unit") {
                Ok(t) => Some(t),
                Err(e) => {
                    out.notes.push(format!("baseline {var} of leavers: {e}"));
                    None
                }
            };
        out.leavers.push(LeaverBalance {
            variable: var.clone(),
            programme_stayers: pick(true, false),
            programme_leavers: pick(true, true),
            comparison_stayers: pick(false, false),
            comparison_leavers: pick(false, true),
            differential,
        });
        // Each baseline household's change to the last wave, if it was interviewed then:
        // the bounds, and the bootstrap over units that redraws them.
        let members: Vec<Member> = base_list
            .iter()
            .map(|(h, r)| Member {
                unit: unit_index[*r],
                programme: arm(*r),
                change: rows_in.get(&(*h, last)).map(|&l| y[l] - y[*r]),
            })
            .collect();
        if let Some(mut b) = lee_of(var, &members.iter().collect::<Vec<_>>()) {
            b.inference = lee_inference(var, &members, &b, 2009);
            if b.inference.is_none() {
                out.notes.push(format!("Lee bounds of {var}: too few units for the bootstrap"));
            }
            out.lee.push(b);
        }
    }
    Ok(out)
}

/// Lee bounds from the sorted changes of each arm's stayers and the arms' retention rates.
fn lee(var: &str, programme: &[f64], comparison: &[f64], qp: f64, qc: f64) -> Option<LeeBounds> {
    let avg = |v: &[f64]| mean(v.iter().copied());
    let untrimmed = avg(programme)? - avg(comparison)?;
    let (trimmed_arm, share) = if qp >= qc { ("programme", (qp - qc) / qp) } else { ("comparison", (qc - qp) / qc) };
    let trim = |v: &[f64]| -> Option<(f64, f64)> {
        let keep = ((1.0 - share) * v.len() as f64).round() as usize;
        if keep == 0 {
            return None;
        }
        Some((avg(&v[..keep])?, avg(&v[v.len() - keep..])?))
    };
    let (lower, upper) = if trimmed_arm == "programme" {
        let (low, high) = trim(programme)?;
        let c = avg(comparison)?;
        (low - c, high - c)
    } else {
        let (low, high) = trim(comparison)?;
        let p = avg(programme)?;
        (p - high, p - low)
    };
    Some(LeeBounds {
        variable: var.to_string(),
        untrimmed,
        lower,
        upper,
        trimmed_arm,
        trim_share: share,
        inference: None,
    })
}

/// One baseline household for the bootstrap: its unit, arm, and change if it stayed.
struct Member {
    unit: usize,
    programme: bool,
    change: Option<f64>,
}

/// Lee bounds of a set of households (retention among them, sorted changes of stayers).
fn lee_of(var: &str, members: &[&Member]) -> Option<LeeBounds> {
    let arm = |treated: bool| -> (Vec<f64>, f64) {
        let all: Vec<&&Member> = members.iter().filter(|m| m.programme == treated).collect();
        let mut d: Vec<f64> = all.iter().filter_map(|m| m.change).filter(|d| d.is_finite()).collect();
        d.sort_by(f64::total_cmp);
        let stayed = all.iter().filter(|m| m.change.is_some()).count();
        (d, stayed as f64 / all.len().max(1) as f64)
    };
    let ((dp, qp), (dc, qc)) = (arm(true), arm(false));
    if qp == 0.0 || qc == 0.0 {
        return None;
    }
    lee(var, &dp, &dc, qp, qc)
}

/// The unit bootstrap of Lee bounds and the Imbens–Manski interval.
fn lee_inference(var: &str, members: &[Member], b: &LeeBounds, seed: u64) -> Option<LeeInference> {
    let n_units = members.iter().map(|m| m.unit + 1).max()?;
    let mut by_unit: Vec<Vec<&Member>> = vec![Vec::new(); n_units];
    for m in members {
        by_unit[m.unit].push(m);
    }
    by_unit.retain(|u| !u.is_empty());
    if by_unit.len() < 2 {
        return None;
    }
    let mut rng = endline_rng::Rng::new(seed);
    let (mut lows, mut highs) = (Vec::with_capacity(LEE_REPS), Vec::with_capacity(LEE_REPS));
    for _ in 0..LEE_REPS {
        let draw: Vec<&Member> = (0..by_unit.len())
            .flat_map(|_| by_unit[rng.below(by_unit.len() as u64) as usize].iter().copied())
            .collect();
        if let Some(x) = lee_of(var, &draw) {
            lows.push(x.lower);
            highs.push(x.upper);
        }
    }
    if lows.len() < LEE_REPS / 2 {
        return None;
    }
    let sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    let (sl, su) = (sd(&lows), sd(&highs));
    // Imbens & Manski: c with Φ(c + Δ/max(σ)) − Φ(−c) = 0.95, Δ the bounds' width.
    let width = (b.upper - b.lower).max(0.0);
    let s = sl.max(su);
    let normal = statrs::distribution::Normal::standard();
    let coverage = |c: f64| {
        use statrs::distribution::ContinuousCDF;
        normal.cdf(c + if s > 0.0 { width / s } else { 0.0 }) - normal.cdf(-c)
    };
    let (mut lo, mut hi) = (0.0, 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if coverage(mid) < 0.95 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let c = 0.5 * (lo + hi);
    Some(LeeInference {
        lower_se: sl,
        upper_se: su,
        conf_low: b.lower - c * sl,
        conf_high: b.upper + c * su,
        reps: lows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lee_trims_the_arm_that_kept_more() {
        // Programme kept 100%, comparison 80%: trim a fifth of the programme's changes.
        let p = [1.0, 2.0, 3.0, 4.0, 5.0];
        let c = [1.0, 1.0, 1.0, 1.0];
        let b = lee("y", &p, &c, 1.0, 0.8).unwrap_or_else(|| panic!("no bounds"));
        assert_eq!(b.trimmed_arm, "programme");
        assert!((b.trim_share - 0.2).abs() < 1e-12);
        assert!((b.lower - (2.5 - 1.0)).abs() < 1e-12 && (b.upper - (3.5 - 1.0)).abs() < 1e-12, "{b:?}");
        assert!((b.untrimmed - 2.0).abs() < 1e-12);
        // The other way round: the comparison arm is trimmed, and the bounds swap ends.
        let b = lee("y", &c, &p, 0.8, 1.0).unwrap_or_else(|| panic!("no bounds"));
        assert_eq!(b.trimmed_arm, "comparison");
        assert!((b.lower - (1.0 - 3.5)).abs() < 1e-12 && (b.upper - (1.0 - 2.5)).abs() < 1e-12, "{b:?}");
    }

    #[test]
    fn lee_inference_bootstraps_units_and_covers_the_bounds() {
        // 40 units of 5 households; programme units keep everyone, comparison units lose
        // their last household: trimming a fifth of the programme's changes.
        let mut rng = endline_rng::Rng::new(3);
        let members: Vec<Member> = (0..200)
            .map(|i| {
                let unit = i / 5;
                let programme = unit % 2 == 0;
                let stays = programme || i % 5 != 4;
                let change = stays.then(|| rng.normal() + if programme { 1.0 } else { 0.0 });
                Member { unit, programme, change }
            })
            .collect();
        let all: Vec<&Member> = members.iter().collect();
        let b = lee_of("y", &all).unwrap_or_else(|| panic!("no bounds"));
        assert_eq!(b.trimmed_arm, "programme");
        assert!((b.trim_share - 0.2).abs() < 1e-12);
        let inf = lee_inference("y", &members, &b, 2009).unwrap_or_else(|| panic!("no inference"));
        assert_eq!(inf.reps, LEE_REPS);
        assert!(inf.lower_se > 0.05 && inf.lower_se < 0.5 && inf.upper_se > 0.05 && inf.upper_se < 0.5, "{inf:?}");
        assert!(inf.conf_low < b.lower && inf.conf_high > b.upper);
        // Narrower than the bounds' own 95% intervals joined (Imbens–Manski's point).
        assert!(inf.conf_low > b.lower - 1.96 * inf.lower_se - 1e-12);
        assert_eq!(lee_inference("y", &members, &b, 2009), Some(inf), "seeded");
    }
}
