//! From a formula and a table to the estimation sample: listwise deletion, zero
//! weights, term expansion with fixest's names, and iterative singleton removal.

use polars::prelude::DataFrame;

use crate::data::{self, FactorColumn, MISSING};
use crate::error::{AnalysisError, Result};
use crate::formula::{Factor, Formula};

/// The estimation sample, with every column restricted to the rows used.
#[derive(Debug, Clone)]
pub struct Design {
    /// The dependent variable.
    pub y: Vec<f64>,
    /// The regressor columns.
    pub x: Vec<Vec<f64>>,
    /// The regressor names, as fixest names them.
    pub names: Vec<String>,
    /// Analytic weights.
    pub weights: Option<Vec<f64>>,
    /// Fixed effects: name and codes.
    pub fixef: Vec<(String, FactorColumn)>,
    /// Cluster variables: name and codes.
    pub clusters: Vec<(String, FactorColumn)>,
    /// Rows in the table.
    pub n_input: usize,
    /// Rows dropped for a missing value in a model variable.
    pub n_missing: usize,
    /// The table's row of each observation used, in order.
    pub rows: Vec<usize>,
    /// Rows dropped for a zero weight.
    pub n_zero_weight: usize,
    /// Rows dropped as fixed-effect singletons.
    pub n_singletons: usize,
}

/// What the design needs besides the formula.
#[derive(Debug, Clone, Default)]
pub struct DesignSpec<'a> {
    /// The weights column.
    pub weights: Option<&'a str>,
    /// Cluster columns.
    pub clusters: &'a [String],
    /// Whether to drop fixed-effect singletons (fixest's `fixef.rm = "singleton"`).
    pub remove_singletons: bool,
}

/// One factor of a term, read from the table.
enum Raw {
    Num(String, Vec<f64>),
    Ind { var: String, by: Option<(String, Vec<f64>)>, refs: Vec<String>, f: FactorColumn },
    Dummies { var: String, f: FactorColumn },
}

/// Keeps the rows marked in `keep`; with every row kept, the vector moves through
/// untouched (no copy of a multi-million-row column).
fn filter_f64(v: Vec<f64>, keep: &[bool]) -> Vec<f64> {
    if keep.iter().all(|k| *k) {
        return v;
    }
    v.iter().zip(keep).filter(|(_, k)| **k).map(|(x, _)| *x).collect()
}

/// Builds the estimation sample.
pub fn build(df: &DataFrame, formula: &Formula, spec: &DesignSpec<'_>) -> Result<Design> {
    let n = df.height();
    // Read everything first, so that every unknown column is reported before any work.
    let y = data::numeric(df, &formula.depvar)?;
    let mut raws: Vec<Vec<Raw>> = Vec::new();
    for term in &formula.terms {
        let mut factors = Vec::new();
        for f in &term.factors {
            factors.push(match f {
                Factor::Var(name) => Raw::Num(name.clone(), data::numeric(df, name)?),
                Factor::I { var, by, refs } => Raw::Ind {
                    var: var.clone(),
                    by: by.as_ref().map(|b| data::numeric(df, b).map(|v| (b.clone(), v))).transpose()?,
                    refs: refs.clone(),
                    f: data::factor(df, var)?,
                },
                Factor::C(var) => Raw::Dummies { var: var.clone(), f: data::factor(df, var)? },
            });
        }
        raws.push(factors);
    }
    let mut fixef = Vec::new();
    for combo in &formula.fixef {
        let mut f = data::factor(df, &combo[0])?;
        for other in &combo[1..] {
            f = f.combine(&data::factor(df, other)?);
        }
        fixef.push((combo.join("^"), f));
    }
    let mut clusters = Vec::new();
    for c in spec.clusters {
        let mut parts = c.split('^');
        let mut f = data::factor(df, parts.next().unwrap_or(c))?;
        for other in parts {
            f = f.combine(&data::factor(df, other)?);
        }
        clusters.push((c.clone(), f));
    }
    let weights = spec.weights.map(|w| data::numeric(df, w)).transpose()?;

    // Listwise deletion.
    let mut keep = vec![true; n];
    let mark_nan = |v: &[f64], keep: &mut [bool]| v.iter().zip(keep.iter_mut()).for_each(|(x, k)| *k &= !x.is_nan());
    mark_nan(&y, &mut keep);
    for factors in &raws {
        for r in factors {
            match r {
                Raw::Num(_, v) => mark_nan(v, &mut keep),
                Raw::Ind { by, f, .. } => {
                    if let Some((_, b)) = by {
                        mark_nan(b, &mut keep);
                    }
                    f.codes.iter().zip(keep.iter_mut()).for_each(|(c, k)| *k &= *c != MISSING);
                }
                Raw::Dummies { f, .. } => f.codes.iter().zip(keep.iter_mut()).for_each(|(c, k)| *k &= *c != MISSING),
            }
        }
    }
    for (_, f) in fixef.iter().chain(&clusters) {
        f.codes.iter().zip(keep.iter_mut()).for_each(|(c, k)| *k &= *c != MISSING);
    }
    if let Some(w) = &weights {
        mark_nan(w, &mut keep);
    }
    let n_missing = keep.iter().filter(|k| !**k).count();
    let mut n_zero_weight = 0;
    if let (Some(w), Some(name)) = (&weights, spec.weights) {
        for (i, (&wi, k)) in w.iter().zip(keep.iter_mut()).enumerate() {
            if !*k {
                continue;
            }
            if wi < 0.0 || !wi.is_finite() {
                return Err(AnalysisError::InvalidWeight { name: name.to_string(), value: wi, row: i + 1 });
            }
            if wi == 0.0 {
                *k = false;
                n_zero_weight += 1;
            }
        }
    }

    // Singletons: rows alone in a fixed-effect level, removed until none is left.
    let mut n_singletons = 0;
    if spec.remove_singletons && !fixef.is_empty() {
        loop {
            let mut removed = 0;
            for (_, f) in &fixef {
                let mut counts = vec![0u32; f.n_levels()];
                for (c, k) in f.codes.iter().zip(&keep) {
                    if *k {
                        counts[*c as usize] += 1;
                    }
                }
                for (c, k) in f.codes.iter().zip(keep.iter_mut()) {
                    if *k && counts[*c as usize] == 1 {
                        *k = false;
                        removed += 1;
                    }
                }
            }
            if removed == 0 {
                break;
            }
            n_singletons += removed;
        }
    }
    let n_used = keep.iter().filter(|k| **k).count();
    if n_used == 0 {
        let reason = if n_singletons > 0 && n_missing + n_zero_weight < n {
            format!("all {n} rows are fixed-effect singletons or have missing values")
        } else if n == 0 {
            "the table is empty".to_string()
        } else {
            format!(
                "every one of the {n} rows has a missing value in a model variable ({n_missing}) or a zero weight ({n_zero_weight})"
            )
        };
        return Err(AnalysisError::NoObservations { reason });
    }

    // Expand terms over the kept rows.
    let mut names = Vec::new();
    let mut x = Vec::new();
    if formula.intercept {
        names.push("Intercept".to_string());
        x.push(vec![1.0; n_used]);
    }
    let drop_first = formula.intercept || !formula.fixef.is_empty();
    for factors in raws {
        let mut cols: Option<Vec<(String, Vec<f64>)>> = None;
        for r in factors {
            let expanded = expand(r, &keep, drop_first)?;
            cols = Some(match cols {
                // A single factor needs no product (and no copy).
                None => expanded,
                Some(prev) => {
                    let mut next = Vec::with_capacity(prev.len() * expanded.len());
                    for (an, av) in &prev {
                        for (bn, bv) in &expanded {
                            next.push((format!("{an}:{bn}"), av.iter().zip(bv).map(|(a, b)| a * b).collect()));
                        }
                    }
                    next
                }
            });
        }
        for (name, col) in cols.unwrap_or_default() {
            names.push(name);
            x.push(col);
        }
    }
    let all = keep.iter().all(|k| *k);
    let restrict = |f: FactorColumn| if all { f.compact() } else { f.filter(&keep) };
    Ok(Design {
        y: filter_f64(y, &keep),
        x,
        names,
        weights: weights.map(|w| filter_f64(w, &keep)),
        fixef: fixef.into_iter().map(|(n, f)| (n, restrict(f))).collect(),
        clusters: clusters.into_iter().map(|(n, f)| (n, restrict(f))).collect(),
        n_input: n,
        n_missing,
        rows: (0..n).filter(|&r| keep[r]).collect(),
        n_zero_weight,
        n_singletons,
    })
}

/// Whether a level (as displayed) is the reference level the user wrote: the same text,
/// or the same number (`-1` and `-1.0`).
fn same_level(label: &str, written: &str) -> bool {
    label == written || label.parse::<f64>().ok().zip(written.parse::<f64>().ok()).is_some_and(|(a, b)| a == b)
}

fn expand(r: Raw, keep: &[bool], drop_first: bool) -> Result<Vec<(String, Vec<f64>)>> {
    Ok(match r {
        Raw::Num(name, v) => vec![(name, filter_f64(v, keep))],
        Raw::Ind { var, by, refs, f } => {
            let f = f.filter(keep);
            let labels: Vec<String> = f.levels.iter().map(ToString::to_string).collect();
            for r in &refs {
                if !labels.iter().any(|l| same_level(l, r)) {
                    return Err(AnalysisError::Invalid(format!(
                        "reference level `{r}` is not a value of `{var}` in the estimation sample (values: {})",
                        labels.iter().take(12).cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            let by_v = by.map(|(n, v)| (n, filter_f64(v, keep)));
            let mut out = Vec::new();
            for (code, label) in labels.iter().enumerate() {
                if refs.iter().any(|r| same_level(label, r)) {
                    continue;
                }
                let mut col: Vec<f64> = f.codes.iter().map(|&c| if c as usize == code { 1.0 } else { 0.0 }).collect();
                let name = match &by_v {
                    Some((bn, bv)) => {
                        col.iter_mut().zip(bv).for_each(|(c, b)| *c *= b);
                        format!("{var}::{label}:{bn}")
                    }
                    None => format!("{var}::{label}"),
                };
                out.push((name, col));
            }
            out
        }
        Raw::Dummies { var, f } => {
            let f = f.filter(keep);
            let skip = usize::from(drop_first);
            f.levels
                .iter()
                .enumerate()
                .skip(skip)
                .map(|(code, level)| {
                    (
                        format!("C({var})[T.{level}]"),
                        f.codes.iter().map(|&c| if c as usize == code { 1.0 } else { 0.0 }).collect(),
                    )
                })
                .collect()
        }
    })
}
