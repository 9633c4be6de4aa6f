//! Callaway & Sant'Anna (2021): group-time average treatment effects ATT(g,t), their
//! aggregations, and inference from influence functions, following R's `did`
//! (`compute.att_gt`, `compute.aggte`, `mboot`).

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

mod aggregate;
mod bootstrap;
pub mod stats;
pub mod stream;

use super::drdid::{self, EstMethod, TwoByTwo};
use super::panel::Panel;
use crate::error::{AnalysisError, Result};

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

/// The warning when units treated from the first period on are left out.
fn already_treated(dropped: usize, first: i64) -> Option<String> {
    (dropped > 0).then(|| {
        format!(
            "{dropped} units already treated in the first period ({first}) were dropped: they have no untreated period to compare with"
        )
    })
}

/// The treated cohorts among the units' cohorts, sorted; an error when nothing can be
/// compared.
fn treated_groups(cohorts: &[i64], opts: &CsOptions) -> Result<Vec<i64>> {
    let mut groups: Vec<i64> = cohorts.iter().copied().filter(|g| *g > 0).collect();
    groups.sort_unstable();
    groups.dedup();
    if groups.is_empty() {
        return Err(AnalysisError::NotIdentified("no unit is treated within the sample periods".into()));
    }
    if opts.control == Control::Never && !cohorts.contains(&0) {
        return Err(AnalysisError::NotIdentified("there are no never-treated units; use --control notyet".into()));
    }
    Ok(groups)
}

/// The warning when there are few clusters.
fn few_clusters(g: usize) -> Option<String> {
    (g < 30).then(|| {
        format!(
            "only {g} clusters: cluster-robust inference may be unreliable; consider the bootstrap or the wild cluster bootstrap"
        )
    })
}

/// Units per cohort, never treated first, for the cohorts that have any.
fn cohort_sizes(groups: &[i64], count: impl Fn(i64) -> usize) -> Vec<CohortSize> {
    std::iter::once(0)
        .chain(groups.iter().copied())
        .filter_map(|g| {
            let units = count(g);
            (units > 0).then_some(CohortSize { cohort: g, units })
        })
        .collect()
}

/// One ATT(g,t) to estimate: the cohort, the indexes of its period and of its base period,
/// and whether it is a post-treatment cell.
struct Planned {
    group: i64,
    cur: usize,
    base: usize,
    post: bool,
}

/// Every cell of every cohort, in output order.
fn plan(groups: &[i64], periods: &[i64], opts: &CsOptions, warnings: &mut Vec<String>) -> Vec<Planned> {
    let t_n = periods.len();
    let antic = opts.anticipation;
    let (tfac, t_range) = match opts.base_period {
        BasePeriod::Varying => (1, 0..t_n - 1),
        BasePeriod::Universal => (0, 0..t_n),
    };
    let mut plan = Vec::new();
    for &g in groups {
        // The last period before treatment (anticipation aside).
        let Some(base_post) = (0..t_n).rev().find(|&i| periods[i] + antic < g) else {
            warnings.push(format!("cohort {g} has no period before treatment; it is skipped"));
            continue;
        };
        for ti in t_range.clone() {
            let cur = ti + tfac;
            let post = g <= periods[cur];
            let base = if opts.base_period == BasePeriod::Universal || post { base_post } else { ti };
            plan.push(Planned { group: g, cur, base, post });
        }
    }
    plan
}

/// Whether units of cohort `c` compare with cohort `g` in a cell whose later period is
/// `later`.
fn is_control(opts: &CsOptions, c: i64, g: i64, later: i64) -> bool {
    match opts.control {
        Control::Never => c == 0,
        Control::Notyet => c == 0 || (c > later + opts.anticipation && c != g),
    }
}

/// The universal base period's own cell, 0 by construction.
fn reference_cell(group: i64, time: i64) -> AttGt {
    AttGt {
        group,
        time,
        att: 0.0,
        std_error: 0.0,
        conf_low: 0.0,
        conf_high: 0.0,
        post: false,
        n_treated: 0,
        n_control: 0,
    }
}

/// The warning for a cell without treated or comparison units.
fn skipped(g: i64, time: i64, no_treated: bool) -> String {
    format!("ATT({g},{time}) has no {} units; it is skipped", if no_treated { "treated" } else { "comparison" })
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
    warnings.extend(already_treated(keep.iter().filter(|k| !**k).count(), first));
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
    let groups = treated_groups(&cohort, opts)?;
    if let Some(c) = &cluster {
        warnings.extend(few_clusters(c.iter().max().map_or(0, |m| *m as usize + 1)));
    }
    let cohorts = cohort_sizes(&groups, |g| cohort.iter().filter(|c| **c == g).count());
    let k = panel.x.len() + 1;

    // Plan every cell, estimate them in parallel, assemble in order.
    let plan = plan(&groups, periods, opts, &mut warnings);
    enum Cell {
        Reference(AttGt),
        Skipped(String),
        Estimated(AttGt, Vec<f64>),
    }
    let estimate_cell = |&Planned { group: g, cur, base, post }: &Planned| -> Result<Cell> {
        if opts.base_period == BasePeriod::Universal && base == cur {
            return Ok(Cell::Reference(reference_cell(g, periods[cur])));
        }
        let later = periods[cur.max(base)];
        let is_control = |c: i64| is_control(opts, c, g, later);
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
            return Ok(Cell::Skipped(skipped(g, periods[cur], n_t == 0)));
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
    let bootstrap = opts
        .bootstrap
        .map(|(reps, seed)| bootstrap::multiplier_bootstrap(&infs, cluster.as_deref(), reps, seed, opts.alpha));
    let reference: Vec<bool> = infs.iter().map(|f| f.iter().all(|v| *v == 0.0)).collect();
    let space = Units { spread, cohort: &cohort, weights: &weights, n };
    aggregate::finish(
        &space,
        cells,
        infs,
        &reference,
        aggregate::Inputs {
            periods,
            groups: &groups,
            n,
            shares: &shares,
            cohorts,
            alpha: opts.alpha,
            bootstrap,
            warnings,
        },
    )
}

/// Influence functions as values per unit of the estimation.
struct Units<'a> {
    spread: Spread<'a>,
    cohort: &'a [i64],
    weights: &'a [f64],
    n: usize,
}

impl aggregate::Space for Units<'_> {
    type F = Vec<f64>;

    fn zero(&self) -> Vec<f64> {
        vec![0.0; self.n]
    }

    fn axpy(&self, y: &mut Vec<f64>, a: f64, x: &Vec<f64>) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
    }

    fn add_by_cohort(&self, y: &mut Vec<f64>, f: &dyn Fn(i64, f64) -> f64) {
        for ((yi, g), w) in y.iter_mut().zip(self.cohort).zip(self.weights) {
            *yi += f(*g, *w);
        }
    }

    fn se(&self, f: &Vec<f64>) -> Result<f64> {
        self.spread.se(f)
    }

    fn covariance(&self, fs: &[&Vec<f64>]) -> Result<Array2<f64>> {
        let fs: Vec<&[f64]> = fs.iter().map(|f| f.as_slice()).collect();
        self.spread.covariance(&fs, self.n)
    }
}
