//! From household records to an analysis panel: one row per group (county × wave), with
//! survey-weighted means, counts and constant group attributes.

use polars::prelude::*;

use crate::data;
use crate::error::{AnalysisError, Result};

/// What to aggregate.
#[derive(Debug, Clone, Default)]
pub struct AggregateSpec {
    /// The grouping columns, such as `[county_id, wave]`.
    pub by: Vec<String>,
    /// Columns averaged within each group (weighted when `weights` is given; missing
    /// values are left out of both numerator and denominator).
    pub means: Vec<String>,
    /// Columns that must be constant within a group (such as the county's first treated
    /// year), carried over.
    pub constants: Vec<String>,
    /// Sampling weights.
    pub weights: Option<String>,
}

/// Aggregates `df`. The result has the `by` columns, each mean (same name), each
/// constant, `n` (rows in the group) and `weight_sum` (the group's sum of weights, or
/// `n` without weights), sorted by the `by` columns so the output is deterministic.
pub fn aggregate(df: &DataFrame, spec: &AggregateSpec) -> Result<DataFrame> {
    if spec.by.is_empty() {
        return Err(AnalysisError::Invalid("aggregation needs at least one grouping column".into()));
    }
    for c in spec.by.iter().chain(&spec.means).chain(&spec.constants).chain(spec.weights.iter()) {
        data::require(df, c)?;
    }
    let w = spec.weights.as_deref().map_or_else(|| lit(1.0), |w| col(w).cast(DataType::Float64));
    let mut aggs: Vec<Expr> = Vec::new();
    for m in &spec.means {
        let y = col(m.as_str()).cast(DataType::Float64);
        let num = (y.clone() * w.clone()).sum();
        let den = w.clone().filter(y.is_not_null()).sum();
        aggs.push((num / den).alias(m.as_str()));
    }
    for c in &spec.constants {
        aggs.push(col(c.as_str()).first().alias(c.as_str()));
        aggs.push(col(c.as_str()).n_unique().alias(format!("__distinct_{c}").as_str()));
    }
    aggs.push(len().cast(DataType::Int64).alias("n"));
    aggs.push(w.sum().alias("weight_sum"));
    let by: Vec<Expr> = spec.by.iter().map(|b| col(b.as_str())).collect();
    let out = df
        .clone()
        .lazy()
        .group_by(by)
        .agg(aggs)
        .sort(spec.by.iter().map(|s| PlSmallStr::from(s.as_str())).collect::<Vec<_>>(), SortMultipleOptions::default())
        .collect()?;
    for c in &spec.constants {
        let name = format!("__distinct_{c}");
        let distinct = out.column(&name)?.as_materialized_series().cast(&DataType::Int64)?;
        if let Some(i) = distinct.i64()?.iter().position(|v| v.unwrap_or(1) > 1) {
            let keys: Vec<String> = spec
                .by
                .iter()
                .map(|b| out.column(b).ok().and_then(|s| s.get(i).ok().map(|v| format!("{b}={v}"))).unwrap_or_default())
                .collect();
            return Err(AnalysisError::Invalid(format!("`{c}` is not constant within the group {}", keys.join(", "))));
        }
    }
    let drop: Vec<String> = spec.constants.iter().map(|c| format!("__distinct_{c}")).collect();
    Ok(out.drop_many(drop))
}

/// Stacks tables (ingested waves) into one: the union of their columns in first-seen
/// order, each cast to the type it first had, missing columns filled with nulls, so that
/// waves ingested under different survey versions line up.
pub fn stack(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut names: Vec<PlSmallStr> = Vec::new();
    let mut types: Vec<DataType> = Vec::new();
    for f in &frames {
        for c in f.columns() {
            if !names.contains(c.name()) {
                names.push(c.name().clone());
                types.push(c.dtype().clone());
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for f in frames {
        let height = f.height();
        let cols: Vec<Column> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| match f.column(n) {
                Ok(c) => c.cast(t),
                Err(_) => Ok(Column::full_null(n.clone(), height, t)),
            })
            .collect::<PolarsResult<_>>()?;
        let df = DataFrame::new(height, cols)?;
        match &mut out {
            None => out = Some(df),
            Some(acc) => {
                acc.vstack_mut(&df)?;
            }
        }
    }
    out.ok_or_else(|| AnalysisError::Invalid("no tables to stack".into()))
}

/// Left-joins `right` onto `left` by the column `on`; when the two key columns differ
/// in type (an integer county code against a text one) both are compared as text.
pub fn left_join(left: DataFrame, right: DataFrame, on: &str) -> Result<DataFrame> {
    let key = |d: &DataFrame| -> Result<DataType> {
        Ok(d.column(on).map_err(|_| AnalysisError::Invalid(format!("no column `{on}` to join on")))?.dtype().clone())
    };
    let (lt, rt) = (key(&left)?, key(&right)?);
    let common = if lt == rt { lt } else { DataType::String };
    // A key twice in the joined table would multiply the rows it matches.
    let keys = right.column(on)?.cast(&DataType::String)?;
    let mut seen = std::collections::HashSet::new();
    let mut twice = std::collections::BTreeSet::new();
    for k in keys.str()?.iter().flatten() {
        if !seen.insert(k) {
            twice.insert(k);
        }
    }
    if !twice.is_empty() {
        let shown: Vec<&str> = twice.iter().take(5).copied().collect();
        return Err(AnalysisError::Invalid(format!(
            "the joined table has {} value(s) of `{on}` on more than one row ({}{}): each must be on one row, \
             or the join would multiply the rows it matches",
            twice.len(),
            shown.join(", "),
            if twice.len() > shown.len() { ", …" } else { "" }
        )));
    }
    Ok(left
        .lazy()
        .with_column(col(on).cast(common.clone()))
        .left_join(right.lazy().with_column(col(on).cast(common)), col(on), col(on))
        .collect()?)
}

/// Adds `log_<name>`, the natural log of a numeric column; missing values give a
/// missing log. Zero or negative values are refused, with how many there are: a log that
/// silently dropped them would change the sample without saying so. Returns the new
/// column's name.
pub fn add_log(df: &mut DataFrame, name: &str) -> Result<String> {
    let v = data::numeric(df, name)?;
    let bad = v.iter().filter(|x| **x <= 0.0).count();
    if bad > 0 {
        return Err(AnalysisError::Invalid(format!(
            "`{name}` has {bad} values of 0 or less, whose log is undefined; transform it another way \
             (log of 1 + y, inverse hyperbolic sine) or keep it in levels"
        )));
    }
    let logged: Vec<Option<f64>> = v.iter().map(|x| x.is_finite().then(|| x.ln())).collect();
    let new = format!("log_{name}");
    df.with_column(Column::new(new.as_str().into(), logged))?;
    Ok(new)
}
