//! Callaway & Sant'Anna (2021): group-time average treatment effects ATT(g,t), their
//! aggregations, and inference from influence functions, following R's `did`
//! (`compute.att_gt`, `compute.aggte`, `mboot`).

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use super::drdid::{self, EstMethod, TwoByTwo};
use super::panel::Panel;
use crate::error::{AnalysisError, Result};
use endline_rng::Rng;

/// Which units serve as comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    /// Units never treated in the sample.
    Never,
    /// Units never treated, or not yet treated by the later period of the comparison.
    Notyet,
}

/// The base period of pre-treatment comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BasePeriod {
    /// Each pre-treatment period against the one before it.
    Varying,
    /// Every period against the last period before treatment (anticipation aside).
    Universal,
}

/// The options of the estimator.
#[derive(Debug, Clone)]
pub struct CsOptions {
    /// Comparison units.
    pub control: Control,
    /// Covariate adjustment.
    pub est_method: EstMethod,
    /// Base period.
    pub base_period: BasePeriod,
    /// Periods of anticipation.
    pub anticipation: i64,
    /// Multiplier bootstrap: draws and seed (analytic standard errors when None).
    pub bootstrap: Option<(usize, u64)>,
    /// Significance level of intervals and bands.
    pub alpha: f64,
    /// A sample design over the panel's units (in the panel's unit order): standard errors
    /// are then the design's variance of the aggregated influence functions, summed within
    /// PSUs and strata, instead of the unit or cluster sums.
    pub survey: Option<std::sync::Arc<crate::sampling::Design>>,
}

impl Default for CsOptions {
    fn default() -> Self {
        CsOptions {
            control: Control::Never,
            est_method: EstMethod::Dr,
            base_period: BasePeriod::Varying,
            anticipation: 0,
            bootstrap: None,
            alpha: 0.05,
            survey: None,
        }
    }
}

/// One ATT(g,t).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttGt {
    /// The cohort.
    pub group: i64,
    /// The period.
    pub time: i64,
    /// The estimate.
    pub att: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Lower bound (pointwise, or of the uniform band under the bootstrap).
    pub conf_low: f64,
    /// Upper bound.
    pub conf_high: f64,
    /// Whether t is at or after g (a post-treatment cell).
    pub post: bool,
    /// Treated and comparison units in the cell.
    pub n_treated: usize,
    /// Comparison units in the cell.
    pub n_control: usize,
}

/// An estimate with its standard error and interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Effect {
    /// The estimate.
    pub att: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Lower bound.
    pub conf_low: f64,
    /// Upper bound.
    pub conf_high: f64,
}

/// One component of an aggregation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AggregateBy {
    /// Event time, cohort or period, by aggregation.
    pub index: i64,
    /// The effect.
    #[serde(flatten)]
    pub effect: Effect,
}

/// An aggregation: the overall effect and its components.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aggregate {
    /// The overall effect.
    pub overall: Effect,
    /// The components (empty for the simple aggregation).
    pub by: Vec<AggregateBy>,
}

/// The four aggregations as `endline did --format json` and a study's results.json both
/// serialise them (one contract, `docs/cli.md`): an effect is `att`, `std_error`,
/// `conf_low`, `conf_high`; the components are keyed `event_time`, `group` and `time`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Aggregates {
    /// Every post-programme cell, weighted by cohort size.
    pub simple: Effect,
    /// By event time.
    pub dynamic: Components<EventTime>,
    /// By cohort (first treated period).
    pub group: Components<Group>,
    /// By calendar period.
    pub calendar: Components<Time>,
}

/// An aggregation's overall effect and its components, each keyed by `K`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Components<K> {
    /// The overall effect.
    pub overall: Effect,
    /// The components.
    pub by: Vec<Keyed<K>>,
}

/// An effect with its key (`{"event_time": 0, "att": …}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Keyed<K> {
    /// The key.
    #[serde(flatten)]
    pub key: K,
    /// The effect.
    #[serde(flatten)]
    pub effect: Effect,
}

/// Periods since the first treated period.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct EventTime {
    /// t − g.
    pub event_time: i64,
}

/// A cohort: units first treated in the same period.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Group {
    /// g.
    pub group: i64,
}

/// A calendar period.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Time {
    /// t.
    pub time: i64,
}

impl Aggregates {
    /// The aggregations of a result.
    pub fn of(r: &CsResult) -> Aggregates {
        fn components<K>(a: &Aggregate, key: impl Fn(i64) -> K) -> Components<K> {
            Components {
                overall: a.overall.clone(),
                by: a.by.iter().map(|b| Keyed { key: key(b.index), effect: b.effect.clone() }).collect(),
            }
        }
        Aggregates {
            simple: r.simple.clone(),
            dynamic: components(&r.dynamic, |event_time| EventTime { event_time }),
            group: components(&r.group, |group| Group { group }),
            calendar: components(&r.calendar, |time| Time { time }),
        }
    }
}

/// The Wald pre-test of parallel trends: every pre-treatment ATT(g,t) is zero.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PreTest {
    /// The χ² statistic.
    pub statistic: f64,
    /// Degrees of freedom.
    pub df: usize,
    /// The p-value.
    pub p_value: f64,
}

/// Units per cohort.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CohortSize {
    /// The cohort (0: never treated).
    pub cohort: i64,
    /// Units.
    pub units: usize,
}

/// The estimator's results.
#[derive(Debug, Clone, Serialize)]
pub struct CsResult {
    /// Every ATT(g,t).
    pub att_gt: Vec<AttGt>,
    /// Simple: the average over post-treatment cells, weighted by cohort size.
    pub simple: Effect,
    /// Dynamic (event study): by event time t - g; overall is the mean over e ≥ 0.
    pub dynamic: Aggregate,
    /// By cohort; overall weighted by cohort size.
    pub group: Aggregate,
    /// By calendar period; overall is the mean over periods.
    pub calendar: Aggregate,
    /// The pre-test of parallel trends (None without pre-treatment cells).
    pub pretrend_test: Option<PreTest>,
    /// Units in the estimation.
    pub n_units: usize,
    /// Units per cohort.
    pub cohorts: Vec<CohortSize>,
    /// The critical value used for intervals (1.96 pointwise; the bootstrap's for bands).
    pub critical_value: f64,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The covariance of the dynamic aggregation's components (`dynamic.by`, in order),
    /// from their influence functions as every standard error here: what a sensitivity
    /// analysis of the event study needs. Not part of the JSON contracts.
    #[serde(skip)]
    pub dynamic_vcov: Vec<Vec<f64>>,
}

/// An influence function summed within each cluster (codes 0..G), in unit order.
fn cluster_sums(inf: &[f64], cluster: &[u32]) -> Vec<f64> {
    let g = cluster.iter().max().map_or(0, |m| *m as usize + 1);
    let mut s = vec![0.0; g];
    for (v, &ci) in inf.iter().zip(cluster) {
        s[ci as usize] += v;
    }
    s
}

/// How a standard error is taken from an influence function ψ over the units used.
enum Spread<'a> {
    /// sqrt(Σψ²)/n (R did's analytic standard error), or with clusters
    /// sqrt(Σ_c (Σ_{i∈c} ψ_i)²)/n.
    Units(Option<&'a [u32]>),
    /// The sample design's variance of the total of ψ/n: unit i of the estimation is unit
    /// `units[i]` of the panel, over which the design is declared.
    Design { design: &'a crate::sampling::Design, units: &'a [usize] },
}

impl Spread<'_> {
    fn se(&self, inf: &[f64]) -> Result<f64> {
        let n = inf.len() as f64;
        Ok(match self {
            Spread::Units(None) => inf.iter().map(|v| v * v).sum::<f64>().sqrt() / n,
            Spread::Units(Some(c)) => cluster_sums(inf, c).iter().map(|v| v * v).sum::<f64>().sqrt() / n,
            Spread::Design { design, units } => {
                let z: Vec<f64> = inf.iter().map(|v| v / n).collect();
                design.covariance_at(&[z], units).map_err(AnalysisError::Invalid)?[0][0].sqrt()
            }
        })
    }

    /// n times the covariance matrix of several estimates (the pre-test's V).
    fn covariance(&self, infs: &[&[f64]], n: usize) -> Result<Array2<f64>> {
        let m = infs.len();
        let mut v = Array2::<f64>::zeros((m, m));
        match self {
            Spread::Units(cluster) => {
                let sums: Vec<std::borrow::Cow<'_, [f64]>> = match cluster {
                    None => infs.iter().map(|&f| f.into()).collect(),
                    Some(cl) => infs.iter().map(|f| cluster_sums(f, cl).into()).collect(),
                };
                for a in 0..m {
                    for b in 0..=a {
                        let s: f64 = sums[a].iter().zip(sums[b].iter()).map(|(x, y)| x * y).sum::<f64>() / n as f64;
                        v[[a, b]] = s;
                        v[[b, a]] = s;
                    }
                }
            }
            Spread::Design { design, units } => {
                let zs: Vec<Vec<f64>> = infs.iter().map(|f| f.iter().map(|v| v / n as f64).collect()).collect();
                let cov = design.covariance_at(&zs, units).map_err(AnalysisError::Invalid)?;
                for a in 0..m {
                    for b in 0..m {
                        v[[a, b]] = cov[a][b] * n as f64;
                    }
                }
            }
        }
        Ok(v)
    }
}

/// Estimates every ATT(g,t) and its aggregations.
pub fn estimate(panel: &Panel, opts: &CsOptions) -> Result<CsResult> {
    let mut warnings = panel.warnings.clone();
    let periods = &panel.periods;
    let t_n = periods.len();
    let first = periods[0];
    let antic = opts.anticipation;
    // Units already treated (or anticipating) in the first period have no pre-period.
    let keep: Vec<bool> = panel.cohort.iter().map(|&g| g == 0 || g > first + antic).collect();
    let dropped = keep.iter().filter(|k| !**k).count();
    if dropped > 0 {
        warnings.push(format!("{dropped} units already treated in the first period ({first}) were dropped: they have no untreated period to compare with"));
    }
    let units: Vec<usize> = (0..panel.n_units()).filter(|&u| keep[u]).collect();
    let n = units.len();
    let cohort: Vec<i64> = units.iter().map(|&u| panel.cohort[u]).collect();
    let weights: Vec<f64> = {
        let w: Vec<f64> = units.iter().map(|&u| panel.weights[u]).collect();
        let m = w.iter().sum::<f64>() / n.max(1) as f64;
        w.iter().map(|v| v / m).collect()
    };
    let cluster: Option<Vec<u32>> = panel.cluster.as_ref().map(|c| {
        let raw: Vec<u32> = units.iter().map(|&u| c[u]).collect();
        let mut map = std::collections::HashMap::new();
        raw.iter()
            .map(|v| {
                let next = map.len() as u32;
                *map.entry(*v).or_insert(next)
            })
            .collect()
    });
    let spread = match &opts.survey {
        Some(design) => {
            if design.weights.len() != panel.n_units() {
                return Err(AnalysisError::Invalid(format!(
                    "the sample design covers {} units, the panel has {}",
                    design.weights.len(),
                    panel.n_units()
                )));
            }
            if opts.bootstrap.is_some() {
                return Err(AnalysisError::Invalid(
                    "the multiplier bootstrap ignores a sample design: use analytic standard errors with it".into(),
                ));
            }
            if design.replicates.is_some() {
                return Err(AnalysisError::Invalid(
                    "replicate weights are not available for Callaway & Sant'Anna yet: declare the design by strata, \
                     PSUs and FPCs"
                        .into(),
                ));
            }
            Spread::Design { design, units: &units }
        }
        None => Spread::Units(cluster.as_deref()),
    };
    let mut groups: Vec<i64> = cohort.iter().copied().filter(|g| *g > 0).collect();
    groups.sort_unstable();
    groups.dedup();
    if groups.is_empty() {
        return Err(AnalysisError::NotIdentified("no unit is treated within the sample periods".into()));
    }
    if opts.control == Control::Never && !cohort.contains(&0) {
        return Err(AnalysisError::NotIdentified("there are no never-treated units; use --control notyet".into()));
    }
    if let Some(c) = &cluster {
        let g = c.iter().max().map_or(0, |m| *m as usize + 1);
        if g < 30 {
            warnings.push(format!("only {g} clusters: cluster-robust inference may be unreliable; consider the bootstrap or the wild cluster bootstrap"));
        }
    }
    let mut cohorts: Vec<CohortSize> = Vec::new();
    for g in std::iter::once(0).chain(groups.iter().copied()) {
        let units = cohort.iter().filter(|c| **c == g).count();
        if units > 0 {
            cohorts.push(CohortSize { cohort: g, units });
        }
    }
    let k = panel.x.len() + 1;

    // Plan every cell, estimate them in parallel, assemble in order.
    let (tfac, t_range) = match opts.base_period {
        BasePeriod::Varying => (1, 0..t_n - 1),
        BasePeriod::Universal => (0, 0..t_n),
    };
    let mut plan: Vec<(i64, usize, usize, bool)> = Vec::new();
    for &g in &groups {
        // The last period before treatment (anticipation aside).
        let Some(base_post) = (0..t_n).rev().find(|&i| periods[i] + antic < g) else {
            warnings.push(format!("cohort {g} has no period before treatment; it is skipped"));
            continue;
        };
        for ti in t_range.clone() {
            let cur = ti + tfac;
            let post = g <= periods[cur];
            let base = if opts.base_period == BasePeriod::Universal || post { base_post } else { ti };
            plan.push((g, cur, base, post));
        }
    }
    enum Cell {
        Reference(AttGt),
        Skipped(String),
        Estimated(AttGt, Vec<f64>),
    }
    let estimate_cell = |&(g, cur, base, post): &(i64, usize, usize, bool)| -> Result<Cell> {
        if opts.base_period == BasePeriod::Universal && base == cur {
            return Ok(Cell::Reference(AttGt {
                group: g,
                time: periods[cur],
                att: 0.0,
                std_error: 0.0,
                conf_low: 0.0,
                conf_high: 0.0,
                post: false,
                n_treated: 0,
                n_control: 0,
            }));
        }
        let later = periods[cur.max(base)];
        let is_control = |c: i64| match opts.control {
            Control::Never => c == 0,
            Control::Notyet => c == 0 || (c > later + antic && c != g),
        };
        let early = cur.min(base);
        let mut idx = Vec::new();
        let mut dy = Vec::new();
        let mut treated = Vec::new();
        let mut w = Vec::new();
        let mut x = Vec::new();
        for (i, &u) in units.iter().enumerate() {
            let c = cohort[i];
            let is_t = c == g;
            if !is_t && !is_control(c) {
                continue;
            }
            let (y1, y0) = (panel.y_at(u, cur), panel.y_at(u, base));
            if y1.is_nan() || y0.is_nan() || panel.x.iter().any(|col| col[u * t_n + early].is_nan()) {
                continue;
            }
            idx.push(i);
            dy.push(y1 - y0);
            treated.push(is_t);
            w.push(weights[i]);
            x.push(1.0);
            x.extend(panel.x.iter().map(|col| col[u * t_n + early]));
        }
        let n1 = idx.len();
        let n_t = treated.iter().filter(|t| **t).count();
        if n_t == 0 || n_t == n1 {
            return Ok(Cell::Skipped(format!(
                "ATT({g},{}) has no {} units; it is skipped",
                periods[cur],
                if n_t == 0 { "treated" } else { "comparison" }
            )));
        }
        let xm = Array2::from_shape_vec((n1, k), x).map_err(|e| AnalysisError::Data(e.to_string()))?;
        let est = drdid::estimate(&TwoByTwo { dy: &dy, treated: &treated, x: xm.view(), w: &w }, opts.est_method)
            .map_err(|e| AnalysisError::NotIdentified(format!("ATT({g},{}): {e}", periods[cur])))?;
        let mut inf = vec![0.0; n];
        let scale = n as f64 / n1 as f64;
        for (j, &i) in idx.iter().enumerate() {
            inf[i] = scale * est.inf[j];
        }
        let cell = AttGt {
            group: g,
            time: periods[cur],
            att: est.att,
            std_error: spread.se(&inf)?,
            conf_low: 0.0,
            conf_high: 0.0,
            post,
            n_treated: n_t,
            n_control: n1 - n_t,
        };
        Ok(Cell::Estimated(cell, inf))
    };
    let estimated: Vec<Result<Cell>> = plan.par_iter().map(estimate_cell).collect();
    let mut cells: Vec<AttGt> = Vec::new();
    let mut infs: Vec<Vec<f64>> = Vec::new();
    for c in estimated {
        match c? {
            Cell::Reference(cell) => {
                cells.push(cell);
                infs.push(vec![0.0; n]);
            }
            Cell::Skipped(w) => warnings.push(w),
            Cell::Estimated(cell, inf) => {
                cells.push(cell);
                infs.push(inf);
            }
        }
    }
    if cells.is_empty() {
        return Err(AnalysisError::NotIdentified("no group-time cell could be estimated".into()));
    }

    // Cohort shares P(G = g), weighted, computed once.
    let mut shares: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    for (c, w) in cohort.iter().zip(&weights) {
        *shares.entry(*c).or_insert(0.0) += w / n as f64;
    }
    let pg = |g: i64| shares.get(&g).copied().unwrap_or(0.0);
    let att: Vec<f64> = cells.iter().map(|c| c.att).collect();

    // The influence function of an aggregation Σ_k w_k ATT_k with w_k ∝ P(G = g_k),
    // including the estimation of the weights (did's `wif`).
    let agg = |which: &[usize], with_wif: bool| -> (f64, Vec<f64>) {
        let pgs: Vec<f64> = which.iter().map(|&c| pg(cells[c].group)).collect();
        let total: f64 = pgs.iter().sum();
        let est: f64 = which.iter().zip(&pgs).map(|(&c, p)| p * att[c]).sum::<f64>() / total;
        let mut inf = vec![0.0; n];
        for (&c, p) in which.iter().zip(&pgs) {
            for i in 0..n {
                inf[i] += infs[c][i] * p / total;
            }
        }
        if with_wif {
            // The estimated-weights term (did's `wif`), per unit i with cohort G_i:
            //   Σ_c (w_i 1{G_i = g_c} - p_c) att_c / T  -  (Σ_c (w_i 1{G_i = g_c} - p_c)) Σ_c p_c att_c / T²,
            // which depends on i only through w_i, the summed ATT and the count of the
            // cells of i's cohort: O(n) instead of O(n × cells).
            let weighted: f64 = which.iter().zip(&pgs).map(|(&c, p)| p * att[c]).sum();
            let p_att_over_t = weighted / total;
            let mut by_cohort: std::collections::HashMap<i64, (f64, f64)> = std::collections::HashMap::new();
            for &c in which {
                let e = by_cohort.entry(cells[c].group).or_insert((0.0, 0.0));
                e.0 += att[c];
                e.1 += 1.0;
            }
            for i in 0..n {
                let (sum_att, count) = by_cohort.get(&cohort[i]).copied().unwrap_or((0.0, 0.0));
                let a = (weights[i] * sum_att - weighted) / total;
                let s = weights[i] * count - total;
                inf[i] += a - s * p_att_over_t / total;
            }
        }
        (est, inf)
    };
    let mean_of = |parts: &[(f64, Vec<f64>)]| -> (f64, Vec<f64>) {
        let m = parts.len() as f64;
        let est = parts.iter().map(|p| p.0).sum::<f64>() / m;
        let mut inf = vec![0.0; n];
        for p in parts {
            for i in 0..n {
                inf[i] += p.1[i] / m;
            }
        }
        (est, inf)
    };

    let post: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].group <= cells[c].time).collect();
    let simple = agg(&post, true);

    let mut event_times: Vec<i64> = cells.iter().map(|c| c.time - c.group).collect();
    event_times.sort_unstable();
    event_times.dedup();
    let dynamic_by: Vec<(i64, (f64, Vec<f64>))> = event_times
        .iter()
        .map(|&e| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time - cells[c].group == e).collect();
            (e, agg(&which, true))
        })
        .collect();
    let dyn_post: Vec<(f64, Vec<f64>)> = dynamic_by.iter().filter(|(e, _)| *e >= 0).map(|(_, p)| p.clone()).collect();
    let dynamic_overall = mean_of(&dyn_post);

    let group_by: Vec<(i64, (f64, Vec<f64>))> = groups
        .iter()
        .filter_map(|&g| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].group == g && g <= cells[c].time).collect();
            if which.is_empty() {
                return None;
            }
            let parts: Vec<(f64, Vec<f64>)> = which.iter().map(|&c| (att[c], infs[c].clone())).collect();
            Some((g, mean_of(&parts)))
        })
        .collect();
    let group_overall = {
        let pgs: Vec<f64> = group_by.iter().map(|(g, _)| pg(*g)).collect();
        let total: f64 = pgs.iter().sum();
        let est: f64 = group_by.iter().zip(&pgs).map(|((_, (a, _)), p)| a * p).sum::<f64>() / total;
        let mut inf = vec![0.0; n];
        for ((_, (_, f)), p) in group_by.iter().zip(&pgs) {
            for i in 0..n {
                inf[i] += f[i] * p / total;
            }
        }
        for i in 0..n {
            let mut a = 0.0;
            let mut s = 0.0;
            for ((g, (att_g, _)), p) in group_by.iter().zip(&pgs) {
                let ind = if cohort[i] == *g { weights[i] } else { 0.0 };
                a += (ind - p) / total * att_g;
                s += ind - p;
            }
            inf[i] += a - s * est * total / (total * total);
        }
        (est, inf)
    };

    let min_group = groups[0];
    let calendar_by: Vec<(i64, (f64, Vec<f64>))> = periods
        .iter()
        .filter(|&&t| t >= min_group)
        .filter_map(|&t| {
            let which: Vec<usize> = (0..cells.len()).filter(|&c| cells[c].time == t && cells[c].group <= t).collect();
            (!which.is_empty()).then(|| (t, agg(&which, true)))
        })
        .collect();
    let cal_parts: Vec<(f64, Vec<f64>)> = calendar_by.iter().map(|(_, p)| p.clone()).collect();
    let calendar_overall = mean_of(&cal_parts);

    // Pre-test: every pre-treatment ATT(g,t) = 0 (cells normalised to 0 excluded).
    let pre: Vec<usize> =
        (0..cells.len()).filter(|&c| cells[c].group > cells[c].time && infs[c].iter().any(|v| *v != 0.0)).collect();
    let pretrend_test = if pre.is_empty() {
        None
    } else {
        // The covariance of the pre-treatment cells, from their influence functions: over
        // units (R did's analytic V), or over cluster sums when clustering, like every
        // standard error here. R did's analytic pre-test ignores clustering (it leaves
        // clustering to the bootstrap); with households clustered in counties, that
        // rejects far too often.
        let m = pre.len();
        let pre_infs: Vec<&[f64]> = pre.iter().map(|&c| infs[c].as_slice()).collect();
        let v = spread.covariance(&pre_infs, n)?;
        let theta: Vec<f64> = pre.iter().map(|&c| att[c]).collect();
        match crate::inference::quadratic_form(v.view(), &theta) {
            Some(q) => {
                let stat = n as f64 * q;
                Some(PreTest { statistic: stat, df: m, p_value: crate::inference::chi2_p_value(stat, m) })
            }
            None => {
                warnings.push("the pre-test of parallel trends is not available: the variance of the pre-treatment ATT(g,t) is singular".into());
                None
            }
        }
    };

    // Inference: analytic, or the multiplier bootstrap with uniform bands over ATT(g,t).
    let normal = Normal::new(0.0, 1.0).map_err(|e| AnalysisError::Invalid(e.to_string()))?;
    let z = normal.inverse_cdf(1.0 - opts.alpha / 2.0);
    let c = cluster.as_deref();
    let mut crit = z;
    let mut boot_se: Option<Vec<f64>> = None;
    if let Some((reps, seed)) = opts.bootstrap {
        let (se, cv) = multiplier_bootstrap(&infs, c, reps, seed, opts.alpha);
        crit = cv;
        boot_se = Some(se);
    }
    for (i, cell) in cells.iter_mut().enumerate() {
        if let Some(se) = boot_se.as_ref().filter(|_| cell.std_error > 0.0) {
            cell.std_error = se[i];
        }
        cell.conf_low = cell.att - crit * cell.std_error;
        cell.conf_high = cell.att + crit * cell.std_error;
    }
    let effect = |(est, inf): &(f64, Vec<f64>)| -> Result<Effect> {
        let se = spread.se(inf)?;
        Ok(Effect { att: *est, std_error: se, conf_low: est - z * se, conf_high: est + z * se })
    };
    let by = |v: &[(i64, (f64, Vec<f64>))]| -> Result<Vec<AggregateBy>> {
        v.iter().map(|(i, p)| Ok(AggregateBy { index: *i, effect: effect(p)? })).collect()
    };
    let dynamic_vcov = {
        let dyn_infs: Vec<&[f64]> = dynamic_by.iter().map(|(_, (_, f))| f.as_slice()).collect();
        let v = spread.covariance(&dyn_infs, n)?;
        (0..dyn_infs.len()).map(|a| (0..dyn_infs.len()).map(|b| v[[a, b]] / n as f64).collect()).collect()
    };
    Ok(CsResult {
        dynamic_vcov,
        simple: effect(&simple)?,
        dynamic: Aggregate { overall: effect(&dynamic_overall)?, by: by(&dynamic_by)? },
        group: Aggregate { overall: effect(&group_overall)?, by: by(&group_by)? },
        calendar: Aggregate { overall: effect(&calendar_overall)?, by: by(&calendar_by)? },
        att_gt: cells,
        pretrend_test,
        n_units: n,
        cohorts,
        critical_value: crit,
        warnings,
    })
}

/// The multiplier bootstrap of R's `did` (`mboot`): Rademacher multipliers per unit (per
/// cluster when clustering, on cluster means), bootstrap standard errors from the
/// interquartile range, and the critical value of a uniform (sup-t) band.
fn multiplier_bootstrap(
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
