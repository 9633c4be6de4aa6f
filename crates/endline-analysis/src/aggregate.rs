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
