//! The Goodman-Bacon (2021) decomposition of the static TWFE estimate into the 2×2
//! comparisons it averages, with their weights: treated vs never treated, earlier vs later
//! treated (before the later are treated), and later vs earlier treated (after the
//! earlier are treated: the "forbidden" comparison that makes TWFE misleading when
//! effects change over time). On a balanced panel without covariates, the weighted sum
//! of the 2×2 estimates is the TWFE coefficient exactly.

use serde::Serialize;

use super::panel::Panel;
use crate::error::{AnalysisError, Result};

/// One 2×2 comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// "treated vs never", "earlier vs later" or "later vs earlier".
    pub kind: String,
    /// The cohort whose change is compared.
    pub treated: i64,
    /// The comparison cohort (0: never treated).
    pub control: i64,
    /// The 2×2 DiD estimate.
    pub estimate: f64,
    /// Its weight in the TWFE estimate.
    pub weight: f64,
}

/// The decomposition.
#[derive(Debug, Clone, Serialize)]
pub struct Bacon {
    /// Every comparison.
    pub comparisons: Vec<Comparison>,
    /// Σ weight × estimate: the TWFE coefficient.
    pub twfe: f64,
    /// Total weight and weighted average per kind.
    pub by_kind: Vec<(String, f64, f64)>,
}

/// Decomposes the static TWFE estimate. Needs a balanced panel and no weights.
pub fn decompose(panel: &Panel) -> Result<Bacon> {
    if !panel.is_balanced() {
        return Err(AnalysisError::Invalid("the Bacon decomposition needs a balanced panel".into()));
    }
    if panel.weights.iter().any(|w| (w - 1.0).abs() > 1e-12) {
        return Err(AnalysisError::Invalid("the Bacon decomposition is defined without sampling weights".into()));
    }
    let t_n = panel.n_periods();
    let first = panel.periods[0];
    // Units treated from the first period on are always treated: they enter as controls in
    // no 2×2 of Goodman-Bacon's timing-only case, so they are left out (noted upstream).
    let units: Vec<usize> = (0..panel.n_units()).filter(|&u| panel.cohort[u] == 0 || panel.cohort[u] > first).collect();
    let n = units.len() as f64;
    let mut groups: Vec<i64> = units.iter().map(|&u| panel.cohort[u]).collect();
    groups.sort_unstable();
    groups.dedup();
    let start = |g: i64| panel.periods.iter().position(|p| *p == g).unwrap_or(t_n);
    // Share of units, share of periods treated, and the group's mean outcome per period.
    let share = |g: i64| units.iter().filter(|&&u| panel.cohort[u] == g).count() as f64 / n;
    let dbar = |g: i64| if g == 0 { 0.0 } else { (t_n - start(g)) as f64 / t_n as f64 };
    let mean_y = |g: i64, p: usize| {
        let members: Vec<usize> = units.iter().copied().filter(|&u| panel.cohort[u] == g).collect();
        members.iter().map(|&u| panel.y_at(u, p)).sum::<f64>() / members.len() as f64
    };
    let window_mean =
        |g: i64, from: usize, to: usize| (from..to).map(|p| mean_y(g, p)).sum::<f64>() / (to - from) as f64;
    // Variance of the two-way-demeaned treatment dummy.
    let d = |u: usize, p: usize| f64::from(u8::from(panel.cohort[u] > 0 && p >= start(panel.cohort[u])));
    let unit_mean: Vec<f64> = units.iter().map(|&u| (0..t_n).map(|p| d(u, p)).sum::<f64>() / t_n as f64).collect();
    let time_mean: Vec<f64> = (0..t_n).map(|p| units.iter().map(|&u| d(u, p)).sum::<f64>() / n).collect();
    let grand = time_mean.iter().sum::<f64>() / t_n as f64;
    let vd = units
        .iter()
        .enumerate()
        .flat_map(|(i, &u)| (0..t_n).map(move |p| (i, u, p)))
        .map(|(i, u, p)| (d(u, p) - unit_mean[i] - time_mean[p] + grand).powi(2))
        .sum::<f64>()
        / (n * t_n as f64);
    if vd <= 0.0 {
        return Err(AnalysisError::NotIdentified(
            "treatment does not vary after removing unit and period effects".into(),
        ));
    }
    let treated: Vec<i64> = groups.iter().copied().filter(|g| *g > 0).collect();
    let mut comparisons = Vec::new();
    let did = |k: i64, c: i64, from: usize, mid: usize, to: usize| {
        (window_mean(k, mid, to) - window_mean(k, from, mid)) - (window_mean(c, mid, to) - window_mean(c, from, mid))
    };
    if groups.contains(&0) {
        let nu = share(0);
        for &k in &treated {
            let nk = share(k);
            let nku = nk / (nk + nu);
            let dk = dbar(k);
            let w = (nk + nu).powi(2) * nku * (1.0 - nku) * dk * (1.0 - dk) / vd;
            comparisons.push(Comparison {
                kind: "treated vs never".into(),
                treated: k,
                control: 0,
                estimate: did(k, 0, 0, start(k), t_n),
                weight: w,
            });
        }
    }
    for (a, &k) in treated.iter().enumerate() {
        for &l in &treated[a + 1..] {
            let (nk, nl) = (share(k), share(l));
            let nkl = nk / (nk + nl);
            let (dk, dl) = (dbar(k), dbar(l));
            // Earlier k vs later l, in the window before l is treated.
            let w_early = ((nk + nl) * (1.0 - dl)).powi(2)
                * nkl
                * (1.0 - nkl)
                * ((dk - dl) / (1.0 - dl))
                * ((1.0 - dk) / (1.0 - dl))
                / vd;
            comparisons.push(Comparison {
                kind: "earlier vs later".into(),
                treated: k,
                control: l,
                estimate: did(k, l, 0, start(k), start(l)),
                weight: w_early,
            });
            // Later l vs earlier k, in the window after k is treated.
            let w_late = ((nk + nl) * dk).powi(2) * nkl * (1.0 - nkl) * (dl / dk) * ((dk - dl) / dk) / vd;
            comparisons.push(Comparison {
                kind: "later vs earlier".into(),
                treated: l,
                control: k,
                estimate: did(l, k, start(k), start(l), t_n),
                weight: w_late,
            });
        }
    }
    let twfe = comparisons.iter().map(|c| c.weight * c.estimate).sum();
    let by_kind = ["treated vs never", "earlier vs later", "later vs earlier"]
        .iter()
        .filter_map(|kind| {
            let members: Vec<&Comparison> = comparisons.iter().filter(|c| c.kind == *kind).collect();
            let w: f64 = members.iter().map(|c| c.weight).sum();
            (w > 0.0).then(|| (kind.to_string(), w, members.iter().map(|c| c.weight * c.estimate).sum::<f64>() / w))
        })
        .collect();
    Ok(Bacon { comparisons, twfe, by_kind })
}
