//! Callaway & Sant'Anna without covariates, from sufficient statistics.
//!
//! On a balanced panel without covariates or weights, every ATT(g,t) is a difference of
//! cohort means of long differences, and every influence function — of a cell or of an
//! aggregation, the estimated-weights term included — is, for unit i of cohort h, a linear
//! form `a_h · z_i` in `z_i = (1, y_i1, …, y_iT)`. So the estimator needs only, per cohort
//! (or per cohort within each cluster), the number of units and the sums of the outcome in
//! each period; and for its variance, per cohort, the cross-products Σ y_it y_is over units
//! (standard errors over units) or nothing more (over clusters: the sums per cluster and
//! cohort are the clusters' influence functions' inputs). These are group-bys that any SQL
//! engine runs on a register of any size ([docs/scale.md]); [`super::stream`] computes them
//! from Parquet row groups in bounded memory; [`estimate`] finishes the estimate from them
//! and equals [`super::estimate`] on the same panel.
//!
//! The outcome may be shifted by any constant per period before summing (the streaming
//! path subtracts each period's mean, which keeps the cross-products well conditioned):
//! estimates and influence functions do not change.

use std::collections::BTreeMap;

use ndarray::Array2;

use super::aggregate::{self, Space};
use super::{AttGt, BasePeriod, CsOptions, CsResult};
use crate::error::{AnalysisError, Result};

/// The sums of one cohort's units, or of its units within one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortSums {
    /// The cluster, when standard errors are clustered (then every row has one).
    pub cluster: Option<u64>,
    /// The cohort: the first treated period, 0 for never treated.
    pub cohort: i64,
    /// Units.
    pub units: u64,
    /// Σ y over the units, per period (in [`CsStats::periods`] order).
    pub sums: Vec<f64>,
    /// Σ y_t · y_s over the units, row-major periods × periods: needed for standard
    /// errors over units (no cluster), unused with clusters.
    pub cross: Option<Vec<f64>>,
}

/// The sufficient statistics of a balanced panel.
#[derive(Debug, Clone, PartialEq)]
pub struct CsStats {
    /// The periods, sorted.
    pub periods: Vec<i64>,
    /// The sums, in any order; several rows of one cohort (and cluster) add up.
    pub sums: Vec<CohortSums>,
    /// Rows of the panel used.
    pub n_obs: usize,
    /// What the user should know about the rows (as the panel's warnings).
    pub warnings: Vec<String>,
}

/// Influence functions as linear forms: block h (a kept cohort) holds `a_h`, with the
/// constant first; the variance is `a' G a` with `G` the Gram matrix of the units' (or the
/// clusters') `z`.
struct Forms {
    gram: Array2<f64>,
    cohorts: Vec<i64>,
    width: usize,
    n: usize,
}

impl Forms {
    fn inner(&self, a: &[f64], b: &[f64]) -> f64 {
        let gb = self.gram.dot(&ndarray::ArrayView1::from(b));
        a.iter().zip(gb.iter()).map(|(x, y)| x * y).sum()
    }
}

impl Space for Forms {
    type F = Vec<f64>;

    fn zero(&self) -> Vec<f64> {
        vec![0.0; self.cohorts.len() * self.width]
    }

    fn axpy(&self, y: &mut Vec<f64>, a: f64, x: &Vec<f64>) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
    }

    fn add_by_cohort(&self, y: &mut Vec<f64>, f: &dyn Fn(i64, f64) -> f64) {
        for (h, &g) in self.cohorts.iter().enumerate() {
            y[h * self.width] += f(g, 1.0);
        }
    }

    fn se(&self, f: &Vec<f64>) -> Result<f64> {
        Ok(self.inner(f, f).max(0.0).sqrt() / self.n as f64)
    }

    fn covariance(&self, fs: &[&Vec<f64>]) -> Result<Array2<f64>> {
        let m = fs.len();
        let mut v = Array2::<f64>::zeros((m, m));
        for a in 0..m {
            for b in 0..=a {
                let s = self.inner(fs[a], fs[b]) / self.n as f64;
                v[[a, b]] = s;
                v[[b, a]] = s;
            }
        }
        Ok(v)
    }
}

/// Per kept cohort: units and sums, merged over clusters.
struct Cohort {
    units: f64,
    sums: Vec<f64>,
}

/// Estimates every ATT(g,t) and its aggregations from the sufficient statistics. The
/// options' covariate adjustment does not matter (without covariates the three agree);
/// bootstrap and sample designs need the in-memory estimator.
pub fn estimate(stats: &CsStats, opts: &CsOptions) -> Result<CsResult> {
    if opts.bootstrap.is_some() || opts.survey.is_some() {
        return Err(AnalysisError::Invalid(
            "the multiplier bootstrap and sample designs need each unit's influence function: estimate from the \
             panel, not from sufficient statistics"
                .into(),
        ));
    }
    let periods = &stats.periods;
    let t_n = periods.len();
    if t_n < 2 || periods.windows(2).any(|w| w[0] >= w[1]) {
        return Err(AnalysisError::Invalid(format!(
            "the sufficient statistics need at least two periods, sorted and distinct; they have {periods:?}"
        )));
    }
    let clustered = stats.sums.first().is_some_and(|s| s.cluster.is_some());
    for s in &stats.sums {
        let cross_len = s.cross.as_ref().map(Vec::len);
        if s.sums.len() != t_n
            || s.cluster.is_some() != clustered
            || (!clustered && cross_len != Some(t_n * t_n))
            || cross_len.is_some_and(|l| l != t_n * t_n)
        {
            return Err(AnalysisError::Invalid(format!(
                "the sufficient statistics of cohort {} are malformed: each row needs {t_n} period sums, and either a \
                 cluster on every row or the {} cross-products of standard errors over units",
                s.cohort,
                t_n * t_n
            )));
        }
    }
    let mut warnings = stats.warnings.clone();
    let (first, last) = (periods[0], periods[t_n - 1]);

    // Cohorts as the panel validates them: after the last period means never treated.
    let mut recoded = 0u64;
    let mut rows: Vec<(Option<u64>, i64, &CohortSums)> = Vec::with_capacity(stats.sums.len());
    for s in &stats.sums {
        let mut g = s.cohort;
        if g > last {
            g = 0;
            recoded += s.units;
        } else if g != 0 && periods.binary_search(&g).is_err() {
            return Err(AnalysisError::Invalid(format!("cohort {g} is not one of the periods ({periods:?})")));
        }
        rows.push((s.cluster, g, s));
    }
    if recoded > 0 {
        warnings
            .push(format!("{recoded} units first treated after the last period ({last}) are counted as never treated"));
    }
    if rows.iter().all(|(_, g, s)| s.units == 0 || (*g != 0 && *g <= first)) {
        return Err(super::super::panel::all_treated(first));
    }
    if clustered {
        let mut clusters: Vec<u64> = rows.iter().filter(|r| r.2.units > 0).filter_map(|r| r.0).collect();
        clusters.sort_unstable();
        clusters.dedup();
        if clusters.len() < 2 {
            return Err(AnalysisError::Invalid(format!(
                "clustering needs at least two clusters, but the panel has {}",
                clusters.len()
            )));
        }
    }
    // Units already treated (or anticipating) in the first period have no pre-period.
    let keep = |g: i64| g == 0 || g > first + opts.anticipation;
    let dropped: u64 = rows.iter().filter(|r| !keep(r.1)).map(|r| r.2.units).sum();
    warnings.extend(super::already_treated(dropped as usize, first));
    rows.retain(|r| keep(r.1) && r.2.units > 0);

    let mut by_cohort: BTreeMap<i64, Cohort> = BTreeMap::new();
    for (_, g, s) in &rows {
        let c = by_cohort.entry(*g).or_insert_with(|| Cohort { units: 0.0, sums: vec![0.0; t_n] });
        c.units += s.units as f64;
        for (a, b) in c.sums.iter_mut().zip(&s.sums) {
            *a += b;
        }
    }
    let kept: Vec<i64> = by_cohort.keys().copied().collect();
    let n_units: f64 = by_cohort.values().map(|c| c.units).sum();
    let n = n_units as usize;
    let groups = super::treated_groups(&kept, opts)?;
    let width = t_n + 1;
    let block = |g: i64| kept.binary_search(&g).unwrap_or(0) * width;

    // The Gram matrix of z over units (block-diagonal by cohort) or over clusters.
    let dim = kept.len() * width;
    let mut gram = Array2::<f64>::zeros((dim, dim));
    let mut n_clusters = 0;
    if clustered {
        let mut per_cluster: BTreeMap<u64, Vec<(usize, &CohortSums)>> = BTreeMap::new();
        for (c, g, s) in &rows {
            per_cluster.entry(c.unwrap_or_default()).or_default().push((block(*g), s));
        }
        n_clusters = per_cluster.len();
        for parts in per_cluster.values() {
            // z of the cluster, block by block (several rows of one cohort add up).
            let mut z: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            for (b, s) in parts {
                let v = z.entry(*b).or_insert_with(|| vec![0.0; width]);
                v[0] += s.units as f64;
                for (a, x) in v[1..].iter_mut().zip(&s.sums) {
                    *a += x;
                }
            }
            for (&b1, z1) in &z {
                for (&b2, z2) in &z {
                    for (i, x) in z1.iter().enumerate() {
                        for (j, y) in z2.iter().enumerate() {
                            gram[[b1 + i, b2 + j]] += x * y;
                        }
                    }
                }
            }
        }
    } else {
        for (_, g, s) in &rows {
            let b = block(*g);
            let cross = s.cross.as_deref().unwrap_or_default();
            gram[[b, b]] += s.units as f64;
            for t in 0..t_n {
                gram[[b, b + 1 + t]] += s.sums[t];
                gram[[b + 1 + t, b]] += s.sums[t];
                for u in 0..t_n {
                    gram[[b + 1 + t, b + 1 + u]] += cross[t * t_n + u];
                }
            }
        }
    }
    if clustered {
        warnings.extend(super::few_clusters(n_clusters));
    }
    let cohorts = super::cohort_sizes(&groups, |g| by_cohort.get(&g).map_or(0, |c| c.units as usize));
    let forms = Forms { gram, cohorts: kept.clone(), width, n };

    let plan = super::plan(&groups, periods, opts, &mut warnings);
    let mut cells: Vec<AttGt> = Vec::new();
    let mut infs: Vec<Vec<f64>> = Vec::new();
    let mut reference: Vec<bool> = Vec::new();
    for p in &plan {
        let (g, cur, base) = (p.group, p.cur, p.base);
        if opts.base_period == BasePeriod::Universal && base == cur {
            cells.push(super::reference_cell(g, periods[cur]));
            infs.push(forms.zero());
            reference.push(true);
            continue;
        }
        let later = periods[cur.max(base)];
        let long = |c: &Cohort| c.sums[cur] - c.sums[base];
        let treated = &by_cohort[&g];
        let (mut n_c, mut s_c) = (0.0, 0.0);
        let controls: Vec<i64> =
            kept.iter().copied().filter(|&h| h != g && super::is_control(opts, h, g, later)).collect();
        for h in &controls {
            n_c += by_cohort[h].units;
            s_c += long(&by_cohort[h]);
        }
        if n_c == 0.0 {
            warnings.push(super::skipped(g, periods[cur], false));
            continue;
        }
        let n_t = treated.units;
        let (mu1, mu0) = (long(treated) / n_t, s_c / n_c);
        // ψ_i = n [1{G_i = g} (Δy_i - μ1)/N_T - 1{i compares} (Δy_i - μ0)/N_C].
        let mut a = forms.zero();
        let mut put = |h: i64, scale: f64, mu: f64| {
            let b = block(h);
            a[b] -= scale * mu;
            a[b + 1 + cur] += scale;
            a[b + 1 + base] -= scale;
        };
        put(g, n_units / n_t, mu1);
        for &h in &controls {
            put(h, -n_units / n_c, mu0);
        }
        cells.push(AttGt {
            group: g,
            time: periods[cur],
            att: mu1 - mu0,
            std_error: forms.se(&a)?,
            conf_low: 0.0,
            conf_high: 0.0,
            post: p.post,
            n_treated: n_t as usize,
            n_control: n_c as usize,
        });
        infs.push(a);
        reference.push(false);
    }
    if cells.is_empty() {
        return Err(AnalysisError::NotIdentified("no group-time cell could be estimated".into()));
    }
    let shares: std::collections::HashMap<i64, f64> = by_cohort.iter().map(|(g, c)| (*g, c.units / n_units)).collect();
    aggregate::finish(
        &forms,
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
            bootstrap: None,
            warnings,
        },
    )
}

/// The statistics from a table, as SQL computes them (docs/scale.md), one row per
/// cohort, period and, with clusters, cluster:
/// - with clusters: `cluster` (whole numbers), `cohort`, `period`, `units`, `sum_y`;
/// - without: `cohort`, `period`, `period2`, `units`, `sum_y` (Σ y in `period`) and
///   `sum_yy` (Σ y in `period` × y in `period2`), one row per pair of periods.
///
/// Every cohort (within a cluster) needs every period, with the same number of units.
pub fn from_table(df: &polars::prelude::DataFrame) -> Result<CsStats> {
    use crate::data::numeric;
    let has = |c: &str| df.column(c).is_ok();
    let clustered = has("cluster");
    let whole = |name: &str| -> Result<Vec<i64>> {
        numeric(df, name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                if v.is_finite() && v.fract() == 0.0 {
                    Ok(v as i64)
                } else {
                    Err(AnalysisError::ColumnType {
                        name: name.into(),
                        problem: format!("must hold whole numbers, but row {} has {v}", i + 1),
                    })
                }
            })
            .collect()
    };
    let cohort = whole("cohort")?;
    let period = whole("period")?;
    let units = whole("units")?;
    let sum_y = numeric(df, "sum_y")?;
    let (cluster, period2, sum_yy) = if clustered {
        (Some(whole("cluster")?), None, None)
    } else {
        if !(has("period2") && has("sum_yy")) {
            return Err(AnalysisError::Invalid(
                "the statistics need either a `cluster` column, or `period2` and `sum_yy` (the cross-products of \
                 standard errors over units)"
                    .into(),
            ));
        }
        (None, Some(whole("period2")?), Some(numeric(df, "sum_yy")?))
    };
    let mut periods: Vec<i64> = period.clone();
    periods.sort_unstable();
    periods.dedup();
    let t_n = periods.len();
    let at = |p: i64| periods.binary_search(&p).unwrap_or(0);
    // (cluster, cohort) → (units, sums, cross, cells seen)
    type Acc = (i64, Vec<f64>, Vec<f64>, Vec<bool>);
    let mut groups: BTreeMap<(Option<i64>, i64), Acc> = BTreeMap::new();
    for i in 0..df.height() {
        let key = (cluster.as_ref().map(|c| c[i]), cohort[i]);
        let width = if clustered { t_n } else { t_n * t_n };
        let g =
            groups.entry(key).or_insert_with(|| (units[i], vec![0.0; t_n], vec![0.0; t_n * t_n], vec![false; width]));
        if g.0 != units[i] {
            return Err(AnalysisError::Invalid(format!(
                "row {}: cohort {} has {} units here and {} in another row; the panel must be balanced",
                i + 1,
                cohort[i],
                units[i],
                g.0
            )));
        }
        let (p, cell) = match (&period2, &sum_yy) {
            (Some(p2), Some(yy)) => {
                let (a, b) = (at(period[i]), at(p2[i]));
                g.2[a * t_n + b] = yy[i];
                (a, a * t_n + b)
            }
            _ => (at(period[i]), at(period[i])),
        };
        if g.3[cell] {
            return Err(AnalysisError::Invalid(format!("row {} repeats a cohort, period (and cluster)", i + 1)));
        }
        g.3[cell] = true;
        g.1[p] = sum_y[i];
    }
    let mut sums = Vec::with_capacity(groups.len());
    for ((cl, g), (n, s, cross, seen)) in groups {
        if seen.iter().any(|x| !x) {
            return Err(AnalysisError::Invalid(format!(
                "cohort {g}{} lacks some periods{}: every cohort needs every period",
                cl.map(|c| format!(" in cluster {c}")).unwrap_or_default(),
                if clustered { "" } else { " or pairs of periods" }
            )));
        }
        sums.push(CohortSums {
            cluster: cl.map(|c| c as u64),
            cohort: g,
            units: n.max(0) as u64,
            sums: s,
            cross: (!clustered).then_some(cross),
        });
    }
    let n_obs = sums.iter().map(|s| s.units as usize * t_n).sum();
    Ok(CsStats { periods, sums, n_obs, warnings: Vec::new() })
}
