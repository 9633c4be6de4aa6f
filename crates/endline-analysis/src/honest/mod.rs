//! Sensitivity of an event study to violations of parallel trends (Rambachan & Roth
//! 2023, "A More Credible Approach to Parallel Trends"), as the HonestDiD packages for R
//! and Stata compute it, with exact solutions where those packages search a grid or
//! simulate.
//!
//! The input is an event study's coefficients β = (β_pre, β_post), ordered by event time
//! with the reference period (−1) left out, and their covariance Σ. The target is
//! θ = l'τ_post: the first post period, one chosen period, or their average.
//!
//! - Relative magnitudes, Δ^RM(M̄): no post-period change in the violation exceeds M̄
//!   times the largest pre-period one. Conditional-least-favourable (C-LF) intervals by
//!   test inversion (module `arp`).
//! - Smoothness, Δ^SD(M): the violation's slope changes by at most M per period. The
//!   optimal fixed-length interval (module `flci`).
//! - Both, Δ^SDRM(M̄): the post-period changes of slope are at most M̄ times the largest
//!   pre-period one. C-LF.
//!
//! Test inversion starts from a grid like the R package's (1,000 points, ±20 standard
//! errors), centred on the estimate rather than on zero and widened while the interval
//! reaches its edge, then bisects each end to 1e-9 of a standard error; the R package
//! reports the outermost accepted grid point, clipped at the grid's edge.

mod arp;
pub(crate) mod dense;
mod flci;
pub(crate) mod normal;
mod simplex;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{AnalysisError, Result};

/// The restriction on how parallel trends may fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// Relative magnitudes (M̄).
    RelativeMagnitudes,
    /// Smoothness (M).
    Smoothness,
    /// Smoothness relative to the pre-period's non-linearity (M̄).
    SmoothnessRelativeMagnitudes,
}

impl Restriction {
    /// The CLI's name: rm, sd or sdrm.
    pub fn name(self) -> &'static str {
        match self {
            Restriction::RelativeMagnitudes => "rm",
            Restriction::Smoothness => "sd",
            Restriction::SmoothnessRelativeMagnitudes => "sdrm",
        }
    }

    /// From the CLI's name.
    pub fn parse(s: &str) -> Option<Restriction> {
        match s {
            "rm" => Some(Restriction::RelativeMagnitudes),
            "sd" => Some(Restriction::Smoothness),
            "sdrm" => Some(Restriction::SmoothnessRelativeMagnitudes),
            _ => None,
        }
    }

    /// The method its intervals use.
    pub fn method(self) -> &'static str {
        match self {
            Restriction::Smoothness => "FLCI",
            _ => "C-LF",
        }
    }

    /// Whether its parameter is M̄ (relative) rather than M (absolute).
    pub fn is_relative(self) -> bool {
        self != Restriction::Smoothness
    }
}

/// The post-period effect the analysis is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Event time 0.
    First,
    /// The mean over every post period.
    Average,
    /// Event time e ≥ 0.
    Period(usize),
}

impl Target {
    /// From the CLI: first, average or e=K.
    pub fn parse(s: &str) -> Option<Target> {
        match s {
            "first" => Some(Target::First),
            "average" => Some(Target::Average),
            _ => s.strip_prefix("e=").and_then(|k| k.parse().ok()).map(Target::Period),
        }
    }

    /// As the CLI spells it.
    pub fn label(self) -> String {
        match self {
            Target::First => "first".into(),
            Target::Average => "average".into(),
            Target::Period(e) => format!("e={e}"),
        }
    }

    /// l, over `post` post periods.
    pub fn weights(self, post: usize) -> Result<Vec<f64>> {
        let mut l = vec![0.0; post];
        match self {
            Target::First => l[0] = 1.0,
            Target::Average => l.iter_mut().for_each(|v| *v = 1.0 / post as f64),
            Target::Period(e) if e < post => l[e] = 1.0,
            Target::Period(e) => {
                return Err(AnalysisError::Invalid(format!(
                    "--honest-target e={e}: the event study's post periods are e=0 to e={}",
                    post - 1
                )));
            }
        }
        Ok(l)
    }
}

/// An event study ready for the analysis: β = (pre, post) in event-time order without
/// the reference period, and Σ.
#[derive(Debug, Clone)]
pub struct EventStudy {
    /// The coefficients.
    pub beta: Vec<f64>,
    /// Their covariance.
    pub sigma: Vec<Vec<f64>>,
    /// Pre periods (the first `pre` coefficients).
    pub pre: usize,
}

impl EventStudy {
    /// From coefficients keyed by event time, with the reference period −1 normalised to
    /// zero and left out. Event times must be consecutive on each side of −1, with at
    /// least one pre and one post period.
    pub fn from_event_times(times: &[i64], beta: &[f64], sigma: &[Vec<f64>]) -> Result<EventStudy> {
        let mut order: Vec<usize> = (0..times.len()).filter(|&i| times[i] != -1).collect();
        order.sort_by_key(|&i| times[i]);
        let sorted: Vec<i64> = order.iter().map(|&i| times[i]).collect();
        let pre = sorted.iter().filter(|t| **t < -1).count();
        let post = sorted.len() - pre;
        if pre == 0 || post == 0 {
            return Err(AnalysisError::NotIdentified(format!(
                "the sensitivity analysis needs pre-treatment and post-treatment coefficients; this event study has {pre} pre and {post} post"
            )));
        }
        let consecutive = sorted.windows(2).all(|w| w[1] - w[0] == 1 || (w[0] == -2 && w[1] == 0));
        if !consecutive || sorted[pre] != 0 || sorted[pre - 1] != -2 {
            return Err(AnalysisError::Invalid(format!(
                "the sensitivity analysis needs consecutive event times around the reference period -1; this event study has {sorted:?}"
            )));
        }
        Ok(EventStudy {
            beta: order.iter().map(|&i| beta[i]).collect(),
            sigma: order.iter().map(|&i| order.iter().map(|&j| sigma[i][j]).collect()).collect(),
            pre,
        })
    }

    fn post(&self) -> usize {
        self.beta.len() - self.pre
    }
}

/// An interval; a missing end is unbounded.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Bounds {
    /// Lower bound (null: −∞, or an empty set).
    pub lb: Option<f64>,
    /// Upper bound (null: +∞, or an empty set).
    pub ub: Option<f64>,
    /// The test rejects every value: the data contradict the restriction itself (the
    /// pre-period coefficients do not fit it). Present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub empty: bool,
}

impl Bounds {
    /// Finite or unbounded ends.
    fn new(lb: Option<f64>, ub: Option<f64>) -> Bounds {
        Bounds { lb, ub, empty: false }
    }

    fn includes_zero(&self) -> bool {
        !self.empty && self.lb.is_none_or(|v| v <= 0.0) && self.ub.is_none_or(|v| v >= 0.0)
    }
}

/// One robust interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interval {
    /// M̄, for relative restrictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbar: Option<f64>,
    /// M, for smoothness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m: Option<f64>,
    /// The interval.
    #[serde(flatten)]
    pub bounds: Bounds,
}

/// The analysis: `did --format json`'s `"honest"`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sensitivity {
    /// rm, sd or sdrm.
    pub restriction: &'static str,
    /// C-LF or FLCI.
    pub method: &'static str,
    /// first, average or e=K.
    pub target: String,
    /// The estimate of θ.
    pub estimate: f64,
    /// The usual interval, assuming parallel trends.
    pub original: Bounds,
    /// One interval per M̄ or M.
    pub intervals: Vec<Interval>,
    /// The smallest M̄ or M at which the robust interval includes zero (0 when the
    /// effect is not significant even under exact parallel trends; null when it stays
    /// significant beyond every value searched).
    pub breakdown: Option<f64>,
    /// The confidence level.
    pub level: f64,
}

impl Sensitivity {
    /// In words: up to what violation of parallel trends the conclusion holds.
    pub fn conclusion(&self) -> String {
        let level = format!("{:.0}%", self.level * 100.0);
        // Three significant digits.
        let fmt = |v: f64| {
            let d = (2 - v.abs().log10().floor() as i32).max(0) as usize;
            let s = format!("{v:.d$}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        match (self.restriction, self.breakdown) {
            (_, Some(0.0)) => format!(
                "The effect is not significant at {level} even if parallel trends hold exactly, so there is no \
                 conclusion to overturn."
            ),
            ("sd", Some(b)) => format!(
                "The effect stays significant at {level} as long as the difference in trends departs from a straight \
                 line by less than {} per period in slope (breakdown M = {}).",
                fmt(b),
                fmt(b)
            ),
            ("rm", Some(b)) => format!(
                "The effect stays significant at {level} as long as violations of parallel trends after the programme \
                 began are less than {} times the largest change between consecutive pre-programme periods \
                 (breakdown M̄ = {}).",
                fmt(b),
                fmt(b)
            ),
            (_, Some(b)) => format!(
                "The effect stays significant at {level} as long as changes in the slope of the difference in trends \
                 after the programme began are less than {} times the largest one before it (breakdown M̄ = {}).",
                fmt(b),
                fmt(b)
            ),
            (_, None) => format!(
                "The effect stays significant at {level} under every violation of parallel trends searched \
                 (up to 4,096 times the largest bound asked for)."
            ),
        }
    }
}

/// Options of the analysis.
#[derive(Debug, Clone)]
pub struct Options {
    /// The restriction.
    pub restriction: Restriction,
    /// M̄ or M values.
    pub values: Vec<f64>,
    /// θ.
    pub target: Target,
    /// 1 − level.
    pub alpha: f64,
    /// Draws for the least favourable critical value.
    pub lf_draws: usize,
    /// Their seed.
    pub seed: u64,
}

impl Options {
    /// The defaults: M̄ 0.5, 1, 1.5, 2 for relative restrictions; for smoothness, M from 0
    /// to the pre-period's standard error of β_{−2} in five steps.
    pub fn new(restriction: Restriction, target: Target) -> Options {
        Options { restriction, values: Vec::new(), target, alpha: 0.05, lf_draws: 10_000, seed: 0 }
    }
}

/// Runs the analysis.
pub fn sensitivity(es: &EventStudy, opts: &Options) -> Result<Sensitivity> {
    let post = es.post();
    let l = opts.target.weights(post)?;
    if opts.restriction == Restriction::SmoothnessRelativeMagnitudes && es.pre < 2 {
        return Err(AnalysisError::NotIdentified(
            "smoothness relative magnitudes (sdrm) need at least two pre-treatment coefficients".into(),
        ));
    }
    let estimate: f64 = (0..post).map(|j| l[j] * es.beta[es.pre + j]).sum();
    let se = target_se(es, &l);
    if se.is_nan() || se <= 0.0 {
        return Err(AnalysisError::NotIdentified("the target's standard error is zero".into()));
    }
    let z = normal::quantile(1.0 - opts.alpha / 2.0);
    let original = Bounds::new(Some(estimate - z * se), Some(estimate + z * se));
    let values: Vec<f64> = if opts.values.is_empty() {
        match opts.restriction {
            Restriction::Smoothness => {
                let top = es.sigma[es.pre - 1][es.pre - 1].sqrt();
                (0..=5).map(|i| top * i as f64 / 5.0).collect()
            }
            _ => vec![0.5, 1.0, 1.5, 2.0],
        }
    } else {
        opts.values.clone()
    };
    if let Some(bad) = values.iter().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(AnalysisError::Invalid(format!("M̄ and M must be finite and at least 0, not {bad}")));
    }
    let interval_at = |v: f64| -> Bounds { robust_interval(es, &l, v, opts, estimate, se) };
    let intervals: Vec<Interval> = values
        .iter()
        .map(|&v| {
            let bounds = interval_at(v);
            if opts.restriction.is_relative() {
                Interval { mbar: Some(v), m: None, bounds }
            } else {
                Interval { mbar: None, m: Some(v), bounds }
            }
        })
        .collect();
    let covers_zero = |v: f64| -> bool {
        match opts.restriction {
            Restriction::Smoothness => interval_at(v).includes_zero(),
            _ => relative_accepts(es, &l, v, opts, 0.0),
        }
    };
    let breakdown = breakdown(&covers_zero, values.iter().copied().fold(0.0, f64::max), se);
    Ok(Sensitivity {
        restriction: opts.restriction.name(),
        method: opts.restriction.method(),
        target: opts.target.label(),
        estimate,
        original,
        intervals,
        breakdown,
        level: 1.0 - opts.alpha,
    })
}

/// The sensitivity analysis of an event study given by event time, estimate and
/// covariance, with the power of its pre-tests against linear pre-trends (and at
/// `slope`, when given): what `did --honest` prints and a study's report shows.
pub fn analyse(
    times: &[i64],
    beta: &[f64],
    sigma: &[Vec<f64>],
    opts: &Options,
    slope: Option<f64>,
) -> Result<(Sensitivity, crate::pretrends::PretrendPower)> {
    let es = EventStudy::from_event_times(times, beta, sigma)?;
    let s = sensitivity(&es, opts)?;
    Ok((s, crate::pretrends::PrePeriods::of(&es).analyse(opts.alpha, slope)))
}

fn target_se(es: &EventStudy, l: &[f64]) -> f64 {
    let p = es.pre;
    let post = l.len();
    (0..post).map(|i| (0..post).map(|j| l[i] * l[j] * es.sigma[p + i][p + j]).sum::<f64>()).sum::<f64>().sqrt()
}

/// The smallest value at which `covers_zero` holds: checked at 0, then bracketed by
/// doubling from the largest value asked for (or a scale from `se` for smoothness), then
/// bisected to 1e-5 relative.
fn breakdown(covers_zero: &dyn Fn(f64) -> bool, largest: f64, se: f64) -> Option<f64> {
    if covers_zero(0.0) {
        return Some(0.0);
    }
    let mut hi = if largest > 0.0 { largest } else { se };
    let mut lo = 0.0;
    let mut tries = 0;
    while !covers_zero(hi) {
        lo = hi;
        hi *= 2.0;
        tries += 1;
        if tries > 12 {
            return None;
        }
    }
    while hi - lo > 1e-5 * hi {
        let mid = 0.5 * (lo + hi);
        if covers_zero(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

fn robust_interval(es: &EventStudy, l: &[f64], v: f64, opts: &Options, estimate: f64, se: f64) -> Bounds {
    match opts.restriction {
        Restriction::Smoothness => {
            let f = flci::flci(&es.beta, &es.sigma, es.pre, l, v, opts.alpha);
            Bounds::new(Some(f.lb), Some(f.ub))
        }
        _ => {
            let sets = moment_sets(es, l, v, opts);
            let accepts = |theta: f64| sets.iter().any(|s| s.accepts(theta, opts.alpha));
            invert(&accepts, estimate, se)
        }
    }
}

fn relative_accepts(es: &EventStudy, l: &[f64], v: f64, opts: &Options, theta: f64) -> bool {
    moment_sets(es, l, v, opts).iter().any(|s| s.accepts(theta, opts.alpha))
}

/// The confidence set {θ : accepted} as an interval: the hull of the accepted points of
/// a 1,000-point grid around the estimate, widened while an end is accepted, each end
/// then bisected to 1e-9 standard errors. An end still accepted after widening to ±20,000
/// standard errors is unbounded; a grid on which nothing is accepted is an empty set.
fn invert(accepts: &dyn Fn(f64) -> bool, estimate: f64, se: f64) -> Bounds {
    const POINTS: usize = 1000;
    let mut width = 20.0 * se;
    loop {
        let grid: Vec<f64> =
            (0..POINTS).map(|i| estimate - width + 2.0 * width * i as f64 / (POINTS - 1) as f64).collect();
        let ok: Vec<bool> = grid.iter().map(|t| accepts(*t)).collect();
        let first = ok.iter().position(|a| *a);
        let last = ok.iter().rposition(|a| *a);
        let (Some(first), Some(last)) = (first, last) else {
            // Nothing accepted on the grid: the set is empty or narrower than a step.
            return Bounds { lb: None, ub: None, empty: true };
        };
        let open = first == 0 || last == POINTS - 1;
        if open && width < 20_000.0 * se {
            width *= 10.0;
            continue;
        }
        let tol = 1e-9 * se;
        let refine = |mut inside: f64, mut outside: f64| {
            while (outside - inside).abs() > tol {
                let mid = 0.5 * (inside + outside);
                if accepts(mid) {
                    inside = mid;
                } else {
                    outside = mid;
                }
            }
            inside
        };
        let lb = (first > 0).then(|| refine(grid[first], grid[first - 1]));
        let ub = (last < POINTS - 1).then(|| refine(grid[last], grid[last + 1]));
        return Bounds::new(lb, ub);
    }
}

/// One polyhedral piece of a relative restriction (one location and sign of the largest
/// pre-period change), ready to test values of θ.
struct MomentSet {
    /// Aβ − d on the post-period rows.
    y0: Vec<f64>,
    /// How the moments move with θ: the first column of A_post Γ⁻¹.
    slope: Vec<f64>,
    /// The nuisance columns: the rest of A_post Γ⁻¹.
    x: Vec<Vec<f64>>,
    sigma: Vec<Vec<f64>>,
    sd: Vec<f64>,
    polytope: arp::Polytope,
    lf: arp::LeastFavourable,
}

impl MomentSet {
    fn accepts(&self, theta: f64, alpha: f64) -> bool {
        let y: Vec<f64> = self.y0.iter().zip(&self.slope).map(|(a, b)| a - b * theta).collect();
        let m = arp::Moments { y: &y, x: &self.x, sigma: &self.sigma, sd: &self.sd, polytope: &self.polytope };
        !arp::rejects(&m, alpha, Some(self.lf))
    }
}

/// Every piece of Δ^RM(M̄) or Δ^SDRM(M̄).
fn moment_sets(es: &EventStudy, l: &[f64], mbar: f64, opts: &Options) -> Vec<MomentSet> {
    let (pre, post) = (es.pre, es.post());
    let locations: Vec<i64> = match opts.restriction {
        Restriction::RelativeMagnitudes => (-(pre as i64 - 1)..=0).collect(),
        _ => (-(pre as i64 - 2)..=0).collect(),
    };
    let gamma_inv = dense::inverse(&gamma(l)).unwrap_or_else(|| vec![vec![0.0; post]; post]);
    let pieces: Vec<(i64, bool)> = locations.iter().flat_map(|&s| [(s, true), (s, false)]).collect();
    pieces
        .par_iter()
        .filter_map(|&(s, positive)| {
            let a = match opts.restriction {
                Restriction::RelativeMagnitudes => a_rm(pre, post, mbar, s, positive),
                _ => a_sdrm(pre, post, mbar, s, positive),
            };
            // Only the rows that involve post periods enter the test (the R package's
            // postPeriodMomentsOnly, its default).
            let rows: Vec<Vec<f64>> = a.into_iter().filter(|r| r[pre..].iter().any(|v| *v != 0.0)).collect();
            if rows.is_empty() {
                return None;
            }
            let y0 = dense::mat_vec(&rows, &es.beta);
            let sigma = dense::sandwich(&rows, &es.sigma);
            let sd: Vec<f64> = (0..rows.len()).map(|i| sigma[i][i].max(0.0).sqrt()).collect();
            let agi: Vec<Vec<f64>> = rows
                .iter()
                .map(|r| (0..post).map(|j| (0..post).map(|k| r[pre + k] * gamma_inv[k][j]).sum()).collect())
                .collect();
            let slope: Vec<f64> = agi.iter().map(|r| r[0]).collect();
            let x: Vec<Vec<f64>> = agi.iter().map(|r| r[1..].to_vec()).collect();
            let polytope = arp::Polytope::new(&sd, &x);
            let kappa = opts.alpha / 10.0;
            let cv = arp::least_favourable_cv(&sigma, &polytope, kappa, opts.lf_draws, opts.seed);
            Some(MomentSet { y0, slope, x, sigma, sd, polytope, lf: arp::LeastFavourable { kappa, cv } })
        })
        .collect()
}

/// Γ: l as its first row, completed to a basis with unit vectors in order (the R
/// package's reduced-row-echelon construction picks the same ones).
fn gamma(l: &[f64]) -> Vec<Vec<f64>> {
    let n = l.len();
    let mut rows = vec![l.to_vec()];
    for j in 0..n {
        if rows.len() == n {
            break;
        }
        let mut cand = rows.clone();
        cand.push((0..n).map(|i| f64::from(u8::from(i == j))).collect());
        if dense::rank(&cand) == cand.len() {
            rows = cand;
        }
    }
    rows
}

/// Rows of δ's first differences (or second), over (pre, 0, post) with the reference
/// column dropped afterwards, bounded by the largest pre-period one at location s.
fn a_relative(pre: usize, post: usize, mbar: f64, s: i64, positive: bool, order: usize) -> Vec<Vec<f64>> {
    let cols = pre + post + 1;
    let stencil: &[f64] = if order == 1 { &[-1.0, 1.0] } else { &[1.0, -2.0, 1.0] };
    let rows_n = cols + 1 - stencil.len();
    let mut tilde = vec![vec![0.0; cols]; rows_n];
    for (r, row) in tilde.iter_mut().enumerate() {
        row[r..r + stencil.len()].copy_from_slice(stencil);
    }
    // The largest pre-period change at location s (s = 0: the one ending at the reference).
    let mut vmax = vec![0.0; cols];
    let end = (pre as i64 + s) as usize; // the reference column is `pre`
    let start = end + 1 - stencil.len();
    vmax[start..=end].copy_from_slice(stencil);
    if !positive {
        vmax.iter_mut().for_each(|v| *v = -*v);
    }
    let pre_rows = pre + 1 - stencil.len();
    let mut a = Vec::new();
    for sign in [1.0, -1.0] {
        for (r, row) in tilde.iter().enumerate() {
            let scale = if r < pre_rows { 1.0 } else { mbar };
            let out: Vec<f64> = (0..cols).map(|c| sign * row[c] - scale * vmax[c]).collect();
            if out.iter().map(|v| v * v).sum::<f64>() > 1e-10 {
                a.push(out);
            }
        }
    }
    a.into_iter()
        .map(|mut r| {
            r.remove(pre);
            r
        })
        .collect()
}

fn a_rm(pre: usize, post: usize, mbar: f64, s: i64, positive: bool) -> Vec<Vec<f64>> {
    a_relative(pre, post, mbar, s, positive, 1)
}

fn a_sdrm(pre: usize, post: usize, mbar: f64, s: i64, positive: bool) -> Vec<Vec<f64>> {
    a_relative(pre, post, mbar, s, positive, 2)
}
