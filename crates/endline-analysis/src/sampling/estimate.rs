//! Descriptive estimates under a [`Design`]: means (proportions, for a 0/1 variable),
//! totals and ratios, overall or in a domain, with design-based standard errors,
//! confidence intervals, design effects and CVs, as R's survey package computes them
//! (`svymean`, `svytotal`, `svyratio`, `svyby`, `svyciprop(method = "logit")`).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use super::design::Design;

/// Which statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// Weighted mean (a proportion for a 0/1 variable).
    Mean,
    /// Weighted total.
    Total,
    /// Ratio of two totals.
    Ratio,
}

/// A domain: the rows where a variable has one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// The variable.
    pub var: String,
    /// Its level.
    pub level: String,
}

/// One estimate, as `endline tabulate --format json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// mean, total or ratio.
    pub statistic: Statistic,
    /// The variable (`NUM/DEN` for a ratio).
    pub variable: String,
    /// For a text variable's mean, the value whose share this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The domain, or null for the whole population.
    pub domain: Option<Domain>,
    /// The estimate.
    pub estimate: f64,
    /// Its design-based standard error.
    pub std_error: f64,
    /// The 95% interval: normal for means, totals and ratios (R's `confint`); on the logit
    /// scale with the design's degrees of freedom for a proportion (`svyciprop`).
    pub conf_low: f64,
    /// Upper end.
    pub conf_high: f64,
    /// `normal` or `logit`.
    pub interval: &'static str,
    /// Design effect: the variance against simple random sampling without replacement of
    /// the same size (R's `deff = TRUE`); null with replicate weights or when undefined.
    pub deff: Option<f64>,
    /// Coefficient of variation: standard error over estimate.
    pub cv: Option<f64>,
    /// Rows used (in the domain, with the variable answered).
    pub n: usize,
}

/// What to estimate: the statistic, its variable(s), and the rows used (`rows[r]`: in
/// the domain and answered).
pub struct Target<'a> {
    /// The statistic.
    pub statistic: Statistic,
    /// The variable's values (the numerator's, for a ratio).
    pub y: &'a [f64],
    /// The denominator's values, for a ratio.
    pub x: Option<&'a [f64]>,
    /// Rows used.
    pub rows: &'a [bool],
}

/// Point estimate and influence values of a target under weights `w`.
fn point(t: &Target<'_>, w: &[f64]) -> (f64, Vec<f64>) {
    let used = |r: usize| t.rows[r];
    let n = t.y.len();
    match t.statistic {
        Statistic::Total => {
            let z: Vec<f64> = (0..n).map(|r| if used(r) { w[r] * t.y[r] } else { 0.0 }).collect();
            (z.iter().sum(), z)
        }
        Statistic::Mean => {
            let sw: f64 = (0..n).filter(|&r| used(r)).map(|r| w[r]).sum();
            let m = (0..n).filter(|&r| used(r)).map(|r| w[r] * t.y[r]).sum::<f64>() / sw;
            let z = (0..n).map(|r| if used(r) { w[r] * (t.y[r] - m) / sw } else { 0.0 }).collect();
            (m, z)
        }
        Statistic::Ratio => {
            let x = t.x.unwrap_or(t.y);
            let den: f64 = (0..n).filter(|&r| used(r)).map(|r| w[r] * x[r]).sum();
            let ratio = (0..n).filter(|&r| used(r)).map(|r| w[r] * t.y[r]).sum::<f64>() / den;
            let z = (0..n).map(|r| if used(r) { w[r] * (t.y[r] - ratio * x[r]) / den } else { 0.0 }).collect();
            (ratio, z)
        }
    }
}

/// R's `svyvar` of `v` over the used rows: the weighted variance with n/(n−1).
fn svyvar(v: &[f64], w: &[f64], rows: &[bool]) -> f64 {
    let used: Vec<usize> = (0..v.len()).filter(|&r| rows[r] && w[r] != 0.0).collect();
    let n = used.len() as f64;
    let sw: f64 = used.iter().map(|&r| w[r]).sum();
    let m = used.iter().map(|&r| w[r] * v[r]).sum::<f64>() / sw;
    used.iter().map(|&r| w[r] * (v[r] - m).powi(2)).sum::<f64>() / sw * n / (n - 1.0)
}

/// Estimates `t` under `design`.
pub fn estimate(design: &Design, t: &Target<'_>, variable: String, domain: Option<Domain>) -> Result<Estimate, String> {
    let w = &design.weights;
    let present: Vec<bool> = (0..t.y.len()).map(|r| t.rows[r] && w[r] != 0.0).collect();
    let n = present.iter().filter(|p| **p).count();
    if n == 0 {
        return Err(format!("`{variable}`: no row with a weight and an answer{}", in_domain(&domain)));
    }
    let (est, z) = point(t, w);
    let variance = match &design.replicates {
        Some(reps) => {
            let thetas: Vec<f64> = reps.weights.iter().map(|rw| point(t, rw).0).collect();
            reps.variance(est, &thetas)?
        }
        None => design.variance(&z, &present)?,
    };
    let se = variance.sqrt();
    // Design effect against simple random sampling without replacement (R's default).
    let sw: f64 = (0..t.y.len()).filter(|&r| present[r]).map(|r| w[r]).sum();
    let nf = n as f64;
    let deff = if design.replicates.is_some() || sw < nf {
        None
    } else {
        let vsrs = match t.statistic {
            Statistic::Mean => svyvar(t.y, w, &present) * (sw - nf) / (sw * nf),
            Statistic::Total => svyvar(t.y, w, &present) * sw * sw * (sw - nf) / (sw * nf),
            // The total of the ratio's linearised variable.
            Statistic::Ratio => {
                let r: Vec<f64> = z.iter().zip(w).map(|(z, w)| if *w != 0.0 { z / w } else { 0.0 }).collect();
                svyvar(&r, w, &present) * sw * sw * (sw - nf) / (sw * nf)
            }
        };
        Some(variance / vsrs).filter(|d| d.is_finite())
    };
    let proportion = t.statistic == Statistic::Mean
        && (0..t.y.len()).filter(|&r| present[r]).all(|r| t.y[r] == 0.0 || t.y[r] == 1.0)
        && est > 0.0
        && est < 1.0;
    let (conf_low, conf_high, interval) = if proportion {
        let df = design.degrees_of_freedom();
        let q = StudentsT::new(0.0, 1.0, df).map_err(|e| e.to_string())?.inverse_cdf(0.975);
        let eta = (est / (1.0 - est)).ln();
        let se_eta = se / (est * (1.0 - est));
        let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
        (expit(eta - q * se_eta), expit(eta + q * se_eta), "logit")
    } else {
        let q = Normal::new(0.0, 1.0).map_err(|e| e.to_string())?.inverse_cdf(0.975);
        (est - q * se, est + q * se, "normal")
    };
    Ok(Estimate {
        statistic: t.statistic,
        variable,
        level: None,
        domain,
        estimate: est,
        std_error: se,
        conf_low,
        conf_high,
        interval,
        deff,
        cv: (est != 0.0).then(|| se / est.abs()),
        n,
    })
}

fn in_domain(domain: &Option<Domain>) -> String {
    domain.as_ref().map(|d| format!(" where {} = {}", d.var, d.level)).unwrap_or_default()
}
