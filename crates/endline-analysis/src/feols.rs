//! OLS with absorbed fixed effects and fixest-compatible inference.

use std::fmt;
use std::str::FromStr;

use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, ShapeBuilder};
use polars::prelude::DataFrame;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::data::FactorColumn;
use crate::demean::{Absorber, DemeanOptions};
use crate::design::{self, Design, DesignSpec};
use crate::error::{AnalysisError, Result};
use crate::formula::{self, Formula};
use crate::inference;
use crate::linalg;
use crate::wild::{self, WildBootstrap, WildResult};

/// The variance estimator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vcov {
    /// Homoskedastic.
    Iid,
    /// Heteroskedasticity-robust HC1.
    Hetero,
    /// Cluster-robust CR1, one-way or multiway (`cluster:a+b`).
    Cluster(Vec<String>),
}

impl FromStr for Vcov {
    type Err = AnalysisError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "iid" => Ok(Vcov::Iid),
            "hetero" | "HC1" | "hc1" => Ok(Vcov::Hetero),
            other => match other.strip_prefix("cluster:").or_else(|| other.strip_prefix("CRV1:")) {
                Some(vars) => {
                    let vars: Vec<String> =
                        vars.split('+').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
                    match vars.len() {
                        1 | 2 => Ok(Vcov::Cluster(vars)),
                        0 => Err(AnalysisError::Invalid("`cluster:` needs a column: cluster:county".into())),
                        _ => Err(AnalysisError::Invalid("at most two-way clustering is supported: cluster:a+b".into())),
                    }
                }
                None => Err(AnalysisError::Invalid(format!(
                    "unknown vcov `{other}`; use iid, hetero, cluster:VAR or cluster:VAR1+VAR2"
                ))),
            },
        }
    }
}

impl fmt::Display for Vcov {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vcov::Iid => f.write_str("iid"),
            Vcov::Hetero => f.write_str("hetero"),
            Vcov::Cluster(v) => write!(f, "cluster:{}", v.join("+")),
        }
    }
}

/// A model to estimate: checked when built, fitted by [`FeolsSpec::fit`].
#[derive(Debug, Clone)]
pub struct FeolsSpec {
    formula: Formula,
    vcov: Vcov,
    weights: Option<String>,
    demean: DemeanOptions,
    remove_singletons: bool,
    k_fixef_full: bool,
    bootstrap: Option<WildBootstrap>,
    /// A sample design: design-based variance instead of `vcov`.
    survey: Option<std::sync::Arc<crate::sampling::Design>>,
}

impl FeolsSpec {
    /// A model from a formula in fixest syntax, with iid errors, no weights, and
    /// singletons removed.
    pub fn new(formula: &str) -> Result<Self> {
        Ok(FeolsSpec {
            formula: formula::parse(formula)?,
            vcov: Vcov::Iid,
            weights: None,
            demean: DemeanOptions::default(),
            remove_singletons: true,
            k_fixef_full: false,
            bootstrap: None,
            survey: None,
        })
    }

    /// Design-based variance under a sample design over the table's rows (its weights
    /// must be the ones given to [`FeolsSpec::weights`]): Taylor linearisation of the
    /// coefficients' influence values within PSUs and strata, or, with replicate weights,
    /// the model fitted again with each replicate's weights (R's `svyglm`). Degrees of
    /// freedom are the design's (PSUs − strata).
    pub fn survey(mut self, design: Option<std::sync::Arc<crate::sampling::Design>>) -> Self {
        self.survey = design;
        self
    }

    /// Sets the variance estimator.
    pub fn vcov(mut self, vcov: Vcov) -> Self {
        self.vcov = vcov;
        self
    }

    /// Uses analytic (sampling) weights from a column.
    pub fn weights(mut self, column: Option<&str>) -> Self {
        self.weights = column.map(str::to_string);
        self
    }

    /// Sets the demeaning tolerance and iteration limit.
    pub fn demean_options(mut self, opts: DemeanOptions) -> Self {
        self.demean = opts;
        self
    }

    /// Whether to drop fixed-effect singletons (default true).
    pub fn remove_singletons(mut self, yes: bool) -> Self {
        self.remove_singletons = yes;
        self
    }

    /// Counts every fixed-effect level in K, even for fixed effects nested in the cluster
    /// variable (fixest's `ssc(fixef.K = "full")`, the convention of OLS with dummies).
    /// The default, false, is fixest's `"nested"`.
    pub fn k_fixef_full(mut self, yes: bool) -> Self {
        self.k_fixef_full = yes;
        self
    }

    /// Adds a wild cluster bootstrap of every coefficient.
    pub fn wild_bootstrap(mut self, b: Option<WildBootstrap>) -> Self {
        self.bootstrap = b;
        self
    }

    /// The parsed formula.
    pub fn formula(&self) -> &Formula {
        &self.formula
    }

    /// Estimates the model on `df`.
    pub fn fit(&self, df: &DataFrame) -> Result<FeolsFit> {
        if let Some(reps) = self.survey.as_ref().and_then(|s| s.replicates.as_ref()) {
            return self.fit_replicates(df, reps);
        }
        if df.height() == 0 {
            return Err(AnalysisError::NoObservations { reason: "the table is empty".into() });
        }
        let mut clusters: Vec<String> = match &self.vcov {
            Vcov::Cluster(v) => v.clone(),
            _ => Vec::new(),
        };
        let boot_cluster = self.bootstrap.as_ref().map(|b| b.cluster.clone().or_else(|| clusters.first().cloned()));
        let boot_cluster = match boot_cluster {
            Some(None) => {
                return Err(AnalysisError::Invalid(
                    "the wild cluster bootstrap needs a cluster: give --vcov cluster:VAR".into(),
                ));
            }
            Some(Some(c)) => Some(c),
            None => None,
        };
        if let Some(c) = &boot_cluster
            && !clusters.contains(c)
        {
            clusters.push(c.clone());
        }
        let d = design::build(
            df,
            &self.formula,
            &DesignSpec {
                weights: self.weights.as_deref(),
                clusters: &clusters,
                remove_singletons: self.remove_singletons,
            },
        )?;
        estimate(self, d, boot_cluster.as_deref())
    }
}

impl FeolsSpec {
    /// The model under replicate weights: fitted with the full-sample weights, then with
    /// each replicate's, the coefficients' spread giving their variance.
    fn fit_replicates(&self, df: &DataFrame, reps: &crate::sampling::Replicates) -> Result<FeolsFit> {
        if self.bootstrap.is_some() {
            return Err(AnalysisError::Invalid("the wild bootstrap and replicate weights do not go together".into()));
        }
        let base = FeolsSpec { survey: None, vcov: Vcov::Iid, ..self.clone() };
        let mut fit = base.fit(df)?;
        const COLUMN: &str = "__endline_replicate_weight";
        let mut thetas: Vec<Vec<f64>> = Vec::with_capacity(reps.weights.len());
        for (r, w) in reps.weights.iter().enumerate() {
            let mut with = df.clone();
            with.with_column(polars::prelude::Column::new(COLUMN.into(), w.as_slice()))
                .map_err(|e| AnalysisError::Invalid(e.to_string()))?;
            let rf = FeolsSpec { weights: Some(COLUMN.into()), ..base.clone() }.fit(&with)?;
            let theta = fit
                .coefficients
                .iter()
                .map(|c| {
                    rf.coefficient(&c.term).map(|x| x.estimate).ok_or_else(|| {
                        AnalysisError::NotIdentified(format!(
                            "replicate {} cannot estimate `{}` (its weights leave it unidentified)",
                            r + 1,
                            c.term
                        ))
                    })
                })
                .collect::<Result<Vec<f64>>>()?;
            thetas.push(theta);
        }
        let full: Vec<f64> = fit.coefficients.iter().map(|c| c.estimate).collect();
        let cov = reps.covariance(&full, &thetas).map_err(AnalysisError::Invalid)?;
        let k = full.len();
        let v = Array2::from_shape_fn((k, k), |(a, b)| cov[a][b]);
        let dof = self.survey.as_ref().map_or(1.0, |s| s.degrees_of_freedom()) as usize;
        let names: Vec<String> = fit.coefficients.iter().map(|c| c.term.clone()).collect();
        let (coefficients, f_test) = inference_table(&names, &full, &v, dof)?;
        fit.coefficients = coefficients;
        fit.f_test = f_test;
        fit.dof_resid = dof;
        fit.vcov = "design (replicate weights)".into();
        fit.vcov_matrix = cov;
        Ok(fit)
    }
}

/// The coefficient table (t tests and intervals with `dof` degrees of freedom) and the
/// Wald F test of every slope, from the estimates and their variance.
pub(crate) fn inference_table(
    names: &[String],
    beta: &[f64],
    v: &Array2<f64>,
    dof: usize,
) -> Result<(Vec<Coefficient>, Option<FTest>)> {
    let k = beta.len();
    let tdist = StudentsT::new(0.0, 1.0, dof as f64)
        .map_err(|e| AnalysisError::NotIdentified(format!("no degrees of freedom for inference: {e}")))?;
    let q = tdist.inverse_cdf(0.975);
    let coefficients: Vec<Coefficient> = names
        .iter()
        .zip(beta)
        .enumerate()
        .map(|(j, (term, &b))| {
            let se = v[[j, j]].max(0.0).sqrt();
            let se = if v[[j, j]] < 0.0 { f64::NAN } else { se };
            let t = b / se;
            Coefficient {
                term: term.clone(),
                estimate: b,
                std_error: se,
                statistic: t,
                p_value: t_p_value(&tdist, t),
                conf_low: b - q * se,
                conf_high: b + q * se,
                wild_bootstrap: None,
            }
        })
        .collect();
    let slopes: Vec<usize> = (0..k).filter(|&j| names[j] != "Intercept").collect();
    let f_test = if slopes.is_empty() {
        None
    } else {
        let vs = Array2::from_shape_fn((slopes.len(), slopes.len()), |(a, b)| v[[slopes[a], slopes[b]]]);
        let bs: Vec<f64> = slopes.iter().map(|&j| beta[j]).collect();
        inference::quadratic_form(vs.view(), &bs).map(|q| q / slopes.len() as f64).filter(|s| !s.is_nan()).and_then(
            |stat| {
                let p_value = inference::f_p_value(stat, slopes.len(), dof)?;
                Some(FTest { statistic: stat, df1: slopes.len(), df2: dof, p_value })
            },
        )
    };
    Ok((coefficients, f_test))
}

/// One estimated coefficient.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coefficient {
    /// The term, as fixest names it.
    pub term: String,
    /// The estimate.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// The t statistic.
    pub statistic: f64,
    /// The two-sided p-value from the t distribution with the model's inference df.
    pub p_value: f64,
    /// The lower bound of the 95% confidence interval.
    pub conf_low: f64,
    /// The upper bound of the 95% confidence interval.
    pub conf_high: f64,
    /// The wild cluster bootstrap result, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wild_bootstrap: Option<WildResult>,
}

/// A fixed effect that was absorbed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FixedEffectInfo {
    /// Its name (`a^b` for a combination).
    pub name: String,
    /// Levels in the estimation sample.
    pub levels: usize,
    /// Whether it is nested in a cluster variable (then it counts 1 in K, as fixest).
    pub nested_in_cluster: bool,
}

/// An estimated model.
#[derive(Debug, Clone, Serialize)]
pub struct FeolsFit {
    /// The formula as given.
    pub formula: String,
    /// The dependent variable.
    pub depvar: String,
    /// The variance estimator.
    pub vcov: String,
    /// The weights column.
    pub weights: Option<String>,
    /// Observations used.
    pub n_obs: usize,
    /// Rows in the input.
    pub n_input: usize,
    /// Rows dropped for missing values.
    pub n_missing: usize,
    /// Rows dropped for zero weights.
    pub n_zero_weight: usize,
    /// Rows dropped as fixed-effect singletons.
    pub n_singletons: usize,
    /// The coefficients, in formula order (collinear ones left out).
    pub coefficients: Vec<Coefficient>,
    /// Terms dropped for collinearity.
    pub dropped_collinear: Vec<String>,
    /// The fixed effects absorbed.
    pub fixed_effects: Vec<FixedEffectInfo>,
    /// Cluster variables and their numbers of clusters.
    pub clusters: Vec<(String, usize)>,
    /// K in the small-sample corrections: coefficients plus fixed-effect levels, less
    /// redundant ones, with FE nested in a cluster variable counting 1.
    pub df_k: usize,
    /// The degrees of freedom of t tests: N - df_k, or G - 1 under clustering (the
    /// smallest G for multiway).
    pub dof_resid: usize,
    /// R².
    pub r2: f64,
    /// Adjusted R² (K counting every fixed-effect level).
    pub adj_r2: f64,
    /// Within R² (models with fixed effects).
    pub r2_within: Option<f64>,
    /// Root mean squared (weighted) residual.
    pub rmse: f64,
    /// Wald F test that every coefficient but the intercept is zero, with the model's
    /// variance: statistic, numerator df, denominator df, p-value.
    pub f_test: Option<FTest>,
    /// The variance matrix of the coefficients, in coefficient order.
    pub vcov_matrix: Vec<Vec<f64>>,
    /// Sweeps the demeaning took at most (0: closed form or none).
    pub demean_iterations: usize,
    /// Things the user should know (dropped terms, convergence).
    pub notes: Vec<String>,
}

/// A Wald F test.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct FTest {
    /// The F statistic.
    pub statistic: f64,
    /// Numerator df.
    pub df1: usize,
    /// Denominator df.
    pub df2: usize,
    /// The p-value.
    pub p_value: f64,
}

impl FeolsFit {
    /// The coefficient named `term`.
    pub fn coefficient(&self, term: &str) -> Option<&Coefficient> {
        self.coefficients.iter().find(|c| c.term == term)
    }
}

/// The two-sided p-value of a t statistic. statrs panics outside the support, so the
/// edges are handled here: an infinite t (a perfect fit) has p = 0, an undefined one
/// (a negative multiway variance, reported in the notes) has none.
/// The note naming the regressors dropped for collinearity (`with_fixef`: with the fixed
/// effects too), and the error when none of them is left (`k` kept).
pub(crate) fn dropped_for_collinearity(
    dropped: &[String],
    k: usize,
    with_fixef: bool,
    notes: &mut Vec<String>,
) -> Result<()> {
    if !dropped.is_empty() {
        notes.push(format!(
            "dropped for collinearity{}: {}",
            if with_fixef { " (with each other or the fixed effects)" } else { "" },
            dropped.join(", ")
        ));
    }
    if k == 0 {
        return Err(AnalysisError::NotIdentified(if dropped.is_empty() {
            "the formula has no regressors to estimate".into()
        } else {
            format!("every regressor is collinear with the fixed effects or constant: {}", dropped.join(", "))
        }));
    }
    Ok(())
}

fn t_p_value(t_dist: &StudentsT, t: f64) -> f64 {
    if t.is_nan() {
        f64::NAN
    } else if t.is_infinite() {
        0.0
    } else {
        2.0 * t_dist.sf(t.abs())
    }
}

/// Whether every level of `fe` lies within one cluster.
fn nested(fe: &FactorColumn, cluster: &FactorColumn) -> bool {
    let mut owner = vec![u32::MAX; fe.n_levels()];
    for (&f, &c) in fe.codes.iter().zip(&cluster.codes) {
        let o = &mut owner[f as usize];
        if *o == u32::MAX {
            *o = c;
        } else if *o != c {
            return false;
        }
    }
    true
}

fn estimate(spec: &FeolsSpec, d: Design, boot_cluster: Option<&str>) -> Result<FeolsFit> {
    let Design { mut y, mut x, names, weights, fixef, clusters, n_input, n_missing, rows, n_zero_weight, n_singletons } =
        d;
    let n = y.len();
    let w = weights.as_deref();
    let wsum = w.map_or(n as f64, |w| w.iter().sum());
    let ybar = match w {
        Some(w) => y.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / wsum,
        None => y.iter().sum::<f64>() / n as f64,
    };
    let tss: f64 = match w {
        Some(w) => y.iter().zip(w).map(|(v, wi)| wi * (v - ybar) * (v - ybar)).sum(),
        None => y.iter().map(|v| (v - ybar) * (v - ybar)).sum(),
    };

    // Each regressor's (weighted) sum of squares before absorbing, to recognise a
    // regressor the fixed effects absorb: its demeaned version is rounding noise.
    let ss_before: Vec<f64> = x
        .iter()
        .map(|c| match w {
            Some(w) => c.iter().zip(w).map(|(v, wi)| wi * v * v).sum(),
            None => c.iter().map(|v| v * v).sum(),
        })
        .collect();

    // Absorb the fixed effects from y and every regressor.
    let mut notes = Vec::new();
    let mut demean_iterations = 0;
    let absorber = Absorber::new(&fixef, w);
    if !fixef.is_empty() {
        x.push(std::mem::take(&mut y));
        let reports = absorber.demean_all(&mut x, spec.demean);
        y = x.pop().unwrap_or_default();
        demean_iterations = reports.iter().map(|r| r.iterations).max().unwrap_or(0);
        if reports.iter().any(|r| !r.converged) {
            notes.push(format!(
                "demeaning stopped after {} sweeps without reaching tolerance {:e}",
                spec.demean.max_iter, spec.demean.tol
            ));
        }
    }
    let tss_within: f64 = match w {
        Some(w) => y.iter().zip(w).map(|(v, wi)| wi * v * v).sum(),
        None => y.iter().map(|v| v * v).sum(),
    };

    // Work in the sqrt(w)-scaled space, where WLS is OLS.
    let sw: Option<Vec<f64>> = w.map(|w| w.iter().map(|v| v.sqrt()).collect());
    if let Some(sw) = &sw {
        for col in x.iter_mut().chain(std::iter::once(&mut y)) {
            col.iter_mut().zip(sw).for_each(|(v, s)| *v *= s);
        }
    }

    // Collinearity: first with the fixed effects, then among the remaining regressors.
    let absorbed: Vec<bool> = x
        .iter()
        .zip(&ss_before)
        .map(|(col, before)| {
            !fixef.is_empty() && col.iter().map(|v| v * v).sum::<f64>() <= linalg::COLLINEARITY_TOL * before
        })
        .collect();
    let candidates: Vec<usize> = (0..x.len()).filter(|&j| !absorbed[j]).collect();
    let subset: Vec<&[f64]> = candidates.iter().map(|&j| x[j].as_slice()).collect();
    let independent = linalg::independent_columns(&linalg::crossprod(&subset));
    let mut keep = vec![false; x.len()];
    for (&j, ok) in candidates.iter().zip(independent) {
        keep[j] = ok;
    }
    let mut dropped = Vec::new();
    let mut kept_names = Vec::new();
    let mut cols = Vec::new();
    for ((name, col), k) in names.into_iter().zip(x).zip(&keep) {
        if *k {
            kept_names.push(name);
            cols.push(col);
        } else {
            dropped.push(name);
        }
    }
    let k = cols.len();
    dropped_for_collinearity(&dropped, k, !fixef.is_empty(), &mut notes)?;

    // K for small-sample corrections.
    let cluster_cols: Vec<&(String, FactorColumn)> = match &spec.vcov {
        Vcov::Cluster(v) => v.iter().filter_map(|name| clusters.iter().find(|(n, _)| n == name)).collect(),
        _ => Vec::new(),
    };
    let fe_info: Vec<FixedEffectInfo> = fixef
        .iter()
        .map(|(name, f)| FixedEffectInfo {
            name: name.clone(),
            levels: f.n_levels(),
            nested_in_cluster: !spec.k_fixef_full && cluster_cols.iter().any(|(_, c)| nested(f, c)),
        })
        .collect();
    let fe_levels: usize = fe_info.iter().map(|f| f.levels).sum();
    let redundant = fixef.len().saturating_sub(1);
    let k_full = k + fe_levels - redundant;
    let df_k = k + fe_info.iter().map(|f| if f.nested_in_cluster { 1 } else { f.levels }).sum::<usize>() - redundant;
    if n <= k_full {
        return Err(AnalysisError::NotIdentified(format!(
            "{n} observations cannot identify {k_full} parameters (coefficients and fixed effects)"
        )));
    }
    // Least squares through a blocked QR of [X | y] (linalg::tsqr): its R holds all the
    // fit needs. linfa's LinearRegression solves the compressed problem R11 β = Q'y, whose
    // solution is exactly the full least-squares one, so the N×K design is never copied;
    // (X'X)^-1 = R11^-1 R11^-T for inference.
    let mut augmented: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    augmented.push(&y);
    let r = linalg::tsqr(&augmented)
        .ok_or_else(|| AnalysisError::NotIdentified("the design matrix cannot be factored".into()))?;
    let r11 = Array2::from_shape_fn((k, k), |(i, j)| r[[i, j]]);
    let qty = Array1::from_shape_fn(k, |i| r[[i, k]]);
    let model = LinearRegression::new()
        .with_intercept(false)
        .fit(&Dataset::new(r11.clone(), qty))
        .map_err(|e| AnalysisError::NotIdentified(format!("least squares failed: {e}")))?;
    let beta: Vec<f64> = model.params().to_vec();
    let bread = linalg::inverse_from_r(&r11)
        .ok_or_else(|| AnalysisError::NotIdentified("the design matrix is singular".into()))?;
    // Residuals are recomputed where needed rather than stored: one N-vector less at the
    // peak of a multi-million-row fit.
    let resid = |i: usize| -> f64 { y[i] - cols.iter().zip(&beta).map(|(c, b)| c[i] * b).sum::<f64>() };
    let ssr: f64 = (0..n).map(|i| resid(i).powi(2)).sum();

    let dof_n = (n - df_k) as f64;

    // Variance.
    let scores = |codes: &[u32], g: usize| -> Array2<f64> {
        let mut s = Array2::<f64>::zeros((g, k));
        for (i, &c) in codes.iter().enumerate() {
            let u = resid(i);
            for j in 0..k {
                s[[c as usize, j]] += cols[j][i] * u;
            }
        }
        s
    };
    let (v, dof_resid, n_clusters) = match (&spec.vcov, &spec.survey) {
        // Design-based: each coefficient's influence values (X'WX)⁻¹ xᵢ wᵢ eᵢ, summed
        // within PSUs and strata as R's svyglm does (the FWL theorem makes the absorbed
        // fixed effects' influence values those of the same model with dummies).
        (_, Some(survey)) => {
            let flat: Vec<f64> = bread.iter().copied().collect();
            let mut z = vec![vec![0.0; n]; k];
            let mut x = vec![0.0; k];
            for i in 0..n {
                let mut fitted = 0.0;
                for (l, (c, b)) in cols.iter().zip(&beta).enumerate() {
                    x[l] = c[i];
                    fitted += c[i] * b;
                }
                let u = y[i] - fitted;
                for (j, zj) in z.iter_mut().enumerate() {
                    let row = &flat[j * k..(j + 1) * k];
                    zj[i] = row.iter().zip(&x).map(|(b, x)| b * x).sum::<f64>() * u;
                }
            }
            let cov = survey.covariance_at(&z, &rows).map_err(AnalysisError::Invalid)?;
            let v = Array2::from_shape_fn((k, k), |(a, b)| cov[a][b]);
            (v, survey.degrees_of_freedom() as usize, Vec::new())
        }
        (Vcov::Iid, None) => (&bread * (ssr / dof_n), n - df_k, Vec::new()),
        (Vcov::Hetero, None) => {
            let mut meat = Array2::<f64>::zeros((k, k));
            for i in 0..n {
                let u2 = resid(i).powi(2);
                for a in 0..k {
                    let xa = cols[a][i] * u2;
                    for b in 0..=a {
                        meat[[a, b]] += xa * cols[b][i];
                    }
                }
            }
            for a in 0..k {
                for b in 0..a {
                    meat[[b, a]] = meat[[a, b]];
                }
            }
            (linalg::sandwich(&bread, &meat) * (n as f64 / dof_n), n - df_k, Vec::new())
        }
        (Vcov::Cluster(_), None) => {
            let sizes: Vec<(String, usize)> =
                cluster_cols.iter().map(|(name, f)| (name.clone(), f.n_levels())).collect();
            let g_min = sizes.iter().map(|s| s.1).min().unwrap_or(0);
            if g_min < 2 {
                let (name, g) = sizes.iter().min_by_key(|s| s.1).cloned().unwrap_or_default();
                return Err(AnalysisError::NotIdentified(format!(
                    "clustering by `{name}` needs at least two clusters, but the sample has {g}"
                )));
            }
            let adj = g_min as f64 / (g_min as f64 - 1.0) * (n as f64 - 1.0) / dof_n;
            let meat_of = |f: &FactorColumn| {
                let s = scores(&f.codes, f.n_levels());
                s.t().dot(&s)
            };
            let mut meat = Array2::<f64>::zeros((k, k));
            for (_, f) in &cluster_cols {
                meat += &meat_of(f);
            }
            if cluster_cols.len() == 2 {
                let inter = cluster_cols[0].1.combine(&cluster_cols[1].1);
                meat -= &meat_of(&inter);
            }
            let v = linalg::sandwich(&bread, &meat) * adj;
            if (0..k).any(|j| v[[j, j]] < 0.0) {
                notes.push("the multiway cluster variance has a negative diagonal element; its standard error is not available".into());
            }
            (v, g_min - 1, sizes)
        }
    };

    let (mut coefficients, f_test) = inference_table(&kept_names, &beta, &v, dof_resid)?;

    if let (Some(b), Some(cname)) = (&spec.bootstrap, boot_cluster) {
        let (_, cf) = clusters
            .iter()
            .find(|(n, _)| n == cname)
            .ok_or_else(|| AnalysisError::Invalid(format!("no cluster column `{cname}`")))?;
        let all_nested = fixef.iter().all(|(_, f)| nested(f, cf));
        let xmat = Array2::from_shape_fn((n, k).f(), |(i, j)| cols[j][i]);
        let yvec = Array1::from_vec(y);
        let problem = wild::Problem {
            x: xmat.view(),
            y: yvec.view(),
            cluster: cf,
            bread: &bread,
            df_k,
            absorber: if all_nested { None } else { Some((&absorber, sw.as_deref(), spec.demean)) },
        };
        for (j, c) in coefficients.iter_mut().enumerate() {
            if c.term != "Intercept" {
                c.wild_bootstrap = Some(wild::test(&problem, j, c.statistic, b)?);
            }
        }
    }

    let r2 = if tss > 0.0 { 1.0 - ssr / tss } else { f64::NAN };
    let adj_r2 = 1.0 - (1.0 - r2) * (n as f64 - 1.0) / (n - k_full) as f64;
    let r2_within = (!fixef.is_empty() && tss_within > 0.0).then(|| 1.0 - ssr / tss_within);
    Ok(FeolsFit {
        formula: spec.formula.text.clone(),
        depvar: spec.formula.depvar.clone(),
        vcov: if spec.survey.is_some() { "design".to_string() } else { spec.vcov.to_string() },
        weights: spec.weights.clone(),
        n_obs: n,
        n_input,
        n_missing,
        n_zero_weight,
        n_singletons,
        coefficients,
        dropped_collinear: dropped,
        fixed_effects: fe_info,
        clusters: n_clusters,
        df_k,
        dof_resid,
        r2,
        adj_r2,
        r2_within,
        rmse: (ssr / n as f64).sqrt(),
        f_test,
        vcov_matrix: (0..k).map(|a| (0..k).map(|b| v[[a, b]]).collect()).collect(),
        demean_iterations,
        notes,
    })
}
