//! A design declared by column names (strata, PSUs, SSUs, FPCs, replicate weights), read
//! from a table into a [`Design`]: over its rows, or over a panel's units.

use polars::prelude::*;

use super::design::{Design, DesignColumns, Factor, LonelyPsu, RepType, Replicates};
use crate::data;
use crate::did::panel::PanelSpec;

/// Replicate weights by name: the columns `PREFIX1`, `PREFIX2`, …
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateSpec {
    /// The columns' prefix.
    pub prefix: String,
    /// The method.
    pub kind: RepType,
    /// The overall scale (None: the method's).
    pub scale: Option<f64>,
    /// Per-replicate scales.
    pub rscales: Option<Vec<f64>>,
    /// Centre at the full-sample estimate.
    pub mse: bool,
}

/// A sample design by column names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesignSpec {
    /// First-stage strata.
    pub strata: Option<String>,
    /// Primary sampling units.
    pub psu: Option<String>,
    /// Secondary sampling units.
    pub ssu: Option<String>,
    /// Finite-population corrections, one column per stage.
    pub fpc: Vec<String>,
    /// What a lonely PSU contributes.
    pub lonely: LonelyPsu,
    /// Replicate weights.
    pub replicates: Option<ReplicateSpec>,
}

/// A design column as a [`Factor`] ([`data::factor`]); a missing value is an error
/// naming its row.
fn factor(df: &DataFrame, name: &str, role: &str) -> Result<Factor, String> {
    let f = data::factor(df, name).map_err(|e| e.to_string())?;
    if let Some(r) = f.codes.iter().position(|c| *c == data::MISSING) {
        return Err(missing(r, name, role));
    }
    Ok(Factor::from(f))
}

fn missing(r: usize, name: &str, role: &str) -> String {
    format!("row {}: the {role} `{name}` is missing (design variables may not be)", r + 1)
}

/// The column a design's own weights (from its FPCs) are given to a panel in.
pub const DESIGN_WEIGHT: &str = "design_weight";

/// A numeric design column, every value present ([`data::numeric`]).
fn whole_numbers(df: &DataFrame, name: &str, role: &str) -> Result<Vec<f64>, String> {
    let v = data::numeric(df, name).map_err(|e| e.to_string())?;
    match v.iter().position(|x| x.is_nan()) {
        Some(r) => Err(missing(r, name, role)),
        None => Ok(v),
    }
}

impl DesignSpec {
    /// Whether anything is declared.
    pub fn declared(&self) -> bool {
        self.strata.is_some() || self.psu.is_some() || !self.fpc.is_empty() || self.replicates.is_some()
    }

    /// The design over `df`'s rows, with the sampling weights in column `weights`.
    pub fn build(&self, df: &DataFrame, weights: Option<&str>) -> Result<Design, String> {
        let n = df.height();
        let cols = DesignColumns {
            weights: weights.map(|w| whole_numbers(df, w, "weight")).transpose()?,
            strata: self.strata.as_deref().map(|s| factor(df, s, "stratum")).transpose()?,
            psu: self.psu.as_deref().map(|p| factor(df, p, "PSU")).transpose()?,
            ssu: self.ssu.as_deref().map(|p| factor(df, p, "SSU")).transpose()?,
            fpc: self.fpc.iter().map(|f| whole_numbers(df, f, "FPC")).collect::<Result<_, _>>()?,
        };
        if self.replicates.is_some() && (cols.strata.is_some() || cols.psu.is_some() || !cols.fpc.is_empty()) {
            return Err(
                "replicate weights carry the design: declare them with the weights only, not with strata, PSUs or \
                 FPCs"
                    .into(),
            );
        }
        let mut design = Design::new(n, cols, self.lonely)?;
        if let Some(rep) = &self.replicates {
            let prefix = &rep.prefix;
            let mut found: Vec<(u64, String)> = df
                .get_column_names()
                .into_iter()
                .filter_map(|c| {
                    let rest = c.as_str().strip_prefix(prefix.as_str())?;
                    let k = rest.parse::<u64>().ok().filter(|_| rest.chars().all(|ch| ch.is_ascii_digit()))?;
                    Some((k, c.to_string()))
                })
                .collect();
            found.sort();
            if found.len() < 2 {
                return Err(format!(
                    "replicate weights `{prefix}`: found {} columns named {prefix}1, {prefix}2, …",
                    found.len()
                ));
            }
            let weights =
                found.iter().map(|(_, c)| whole_numbers(df, c, "replicate weight")).collect::<Result<Vec<_>, _>>()?;
            design.replicates = Some(Replicates {
                weights,
                kind: rep.kind,
                scale: rep.scale,
                rscales: rep.rscales.clone(),
                mse: rep.mse,
            });
        }
        Ok(design)
    }

    /// The design over the units of the panel `spec` builds from `df` (in the panel's unit
    /// order, without building it): each unit's design columns (checked to be one value per unit) from its first
    /// row. When the design makes its own weights (from population counts) and `spec` has
    /// none, they become the panel's unit weights, in the column [`DESIGN_WEIGHT`].
    pub fn for_panel(&self, df: &mut DataFrame, spec: &mut PanelSpec) -> Result<Design, String> {
        // The panel's units are the unit column's levels, in their order (did::panel).
        let unit = data::factor(df, &spec.unit).map_err(|e| e.to_string())?;
        let mut first = vec![usize::MAX; unit.levels.len()];
        for (r, &u) in unit.codes.iter().enumerate() {
            if u != data::MISSING && first[u as usize] == usize::MAX {
                first[u as usize] = r;
            }
        }
        if let Some(u) = first.iter().position(|r| *r == usize::MAX) {
            return Err(format!("unit `{}` has no row", unit.levels[u]));
        }
        for col in [self.strata.as_ref(), self.psu.as_ref(), self.ssu.as_ref()].into_iter().flatten().chain(&self.fpc) {
            let values = data::text(df, col).map_err(|e| e.to_string())?;
            for (r, &u) in unit.codes.iter().enumerate() {
                let Some(&at) = first.get(u as usize) else { continue };
                if values[r] != values[at] {
                    return Err(format!(
                        "`{col}` differs within unit `{}` (rows {} and {}): a design variable must be one value per unit",
                        unit.levels[u as usize],
                        at + 1,
                        r + 1
                    ));
                }
            }
        }
        let idx = IdxCa::from_vec("rows".into(), first.iter().map(|&r| r as IdxSize).collect());
        let unit_df = df.take(&idx).map_err(|e| e.to_string())?;
        let design = self.build(&unit_df, spec.weights.as_deref())?;
        if spec.weights.is_none() && design.weights.iter().any(|w| *w != 1.0) {
            let w: Vec<Option<f64>> = unit.codes.iter().map(|&u| design.weights.get(u as usize).copied()).collect();
            df.with_column(Column::new(DESIGN_WEIGHT.into(), w)).map_err(|e| e.to_string())?;
            spec.weights = Some(DESIGN_WEIGHT.into());
        }
        Ok(design)
    }
}
