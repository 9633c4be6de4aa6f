//! The sample-design flags (`--strata --psu --ssu --fpc --lonely-psu
//! --repweights ...`), shared by the commands that estimate under a design, and how they
//! become a [`Design`] over a table's rows.

use clap::{Args, ValueEnum};
use endline_analysis::sampling::{Design, DesignColumns, LonelyPsu, RepType, Replicates};
use polars::prelude::*;

/// How the sample was drawn (the weights are each command's `--weights`).
#[derive(Debug, Clone, Args, Default)]
pub struct DesignArgs {
    /// Strata of the first stage.
    #[arg(long, value_name = "VAR")]
    pub strata: Option<String>,
    /// Primary sampling units (villages, enumeration areas); codes are read within strata.
    #[arg(long, value_name = "VAR")]
    pub psu: Option<String>,
    /// Secondary sampling units within PSUs (households in a two-stage design).
    #[arg(long, value_name = "VAR", requires = "psu")]
    pub ssu: Option<String>,
    /// Finite-population corrections, one column per stage: the number of PSUs in the
    /// stratum (and of SSUs in the PSU), or sampling fractions when every value is at most 1.
    #[arg(long, value_name = "F1[,F2]", value_delimiter = ',')]
    pub fpc: Vec<String>,
    /// What a stratum with a single PSU contributes (R's survey.lonely.psu): fail (an
    /// error naming it), remove or certainty (nothing), adjust (centred at the grand mean
    /// of all PSU totals) or average (the other strata's average).
    #[arg(long, value_name = "HOW", default_value = "fail", value_parser = parse_lonely)]
    pub lonely_psu: LonelyPsu,
    /// Replicate weights: the columns named PREFIX followed by a number (full weights,
    /// R's combined.weights), in the order of their numbers.
    #[arg(long, value_name = "PREFIX", requires = "rep_type")]
    pub repweights: Option<String>,
    /// The replicate method.
    #[arg(long, value_enum)]
    pub rep_type: Option<RepTypeArg>,
    /// The overall scale of the replicate variance (default: the method's).
    #[arg(long, value_name = "X")]
    pub rep_scale: Option<f64>,
    /// Per-replicate scales, comma-separated (one, or one per replicate; JKn needs them).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub rep_rscales: Vec<f64>,
    /// Fay's ρ, for --rep-type fay.
    #[arg(long, value_name = "RHO")]
    pub fay_rho: Option<f64>,
    /// Centre replicates at the full-sample estimate (R's survey.replicates.mse).
    #[arg(long)]
    pub rep_mse: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum RepTypeArg {
    Jk1,
    Jkn,
    Brr,
    Fay,
    Bootstrap,
}

fn parse_lonely(s: &str) -> Result<LonelyPsu, String> {
    s.parse()
}

/// A column as numbers (missing: None); the error names the column.
pub fn numbers(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, String> {
    let c = df.column(name).map_err(|_| no_column(df, name))?;
    let s = c.as_materialized_series();
    if matches!(s.dtype(), DataType::String) {
        return Err(format!("`{name}` holds text, not numbers"));
    }
    let f = s.cast(&DataType::Float64).map_err(|e| format!("`{name}`: {e}"))?;
    Ok(f.f64().map_err(|e| format!("`{name}`: {e}"))?.iter().map(|v| v.filter(|x| !x.is_nan())).collect())
}

/// A column as text codes (numbers written as they print); missing: None.
pub fn codes(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, String> {
    let c = df.column(name).map_err(|_| no_column(df, name))?;
    let s = c.as_materialized_series().cast(&DataType::String).map_err(|e| format!("`{name}`: {e}"))?;
    Ok(s.str().map_err(|e| format!("`{name}`: {e}"))?.iter().map(|v| v.map(str::to_string)).collect())
}

fn no_column(df: &DataFrame, name: &str) -> String {
    let names: Vec<&str> = df.get_column_names().into_iter().map(|n| n.as_str()).collect();
    match endline_diag::suggest(name, names.iter().copied()) {
        Some(s) => format!("no column `{name}` in the data (did you mean `{s}`?)"),
        None => format!("no column `{name}` in the data"),
    }
}

/// Every value present, or an error naming the first missing row.
fn complete<T>(values: Vec<Option<T>>, name: &str, role: &str) -> Result<Vec<T>, String> {
    values
        .into_iter()
        .enumerate()
        .map(|(r, v)| {
            v.ok_or_else(|| format!("row {}: the {role} `{name}` is missing (design variables may not be)", r + 1))
        })
        .collect()
}

impl DesignArgs {
    /// Whether any design flag was given (else: simple random sampling of the rows,
    /// weight 1, with replacement).
    pub fn declared(&self) -> bool {
        self.strata.is_some() || self.psu.is_some() || !self.fpc.is_empty() || self.repweights.is_some()
    }

    /// The design over `df`'s rows, with the sampling weights in column `weights`.
    pub fn design(&self, df: &DataFrame, weights: Option<&str>) -> Result<Design, String> {
        let n = df.height();
        let cols = DesignColumns {
            weights: weights.map(|w| numbers(df, w).and_then(|v| complete(v, w, "weight"))).transpose()?,
            strata: self.strata.as_deref().map(|s| codes(df, s).and_then(|v| complete(v, s, "stratum"))).transpose()?,
            psu: self.psu.as_deref().map(|p| codes(df, p).and_then(|v| complete(v, p, "PSU"))).transpose()?,
            ssu: self.ssu.as_deref().map(|p| codes(df, p).and_then(|v| complete(v, p, "SSU"))).transpose()?,
            fpc: self
                .fpc
                .iter()
                .map(|f| numbers(df, f).and_then(|v| complete(v, f, "FPC")))
                .collect::<Result<_, _>>()?,
        };
        if self.repweights.is_some() && (cols.strata.is_some() || cols.psu.is_some() || !cols.fpc.is_empty()) {
            return Err(
                "replicate weights carry the design: give --repweights with --weights only, not with --strata, --psu \
                 or --fpc"
                    .into(),
            );
        }
        let mut design = Design::new(n, cols, self.lonely_psu)?;
        if let Some(prefix) = &self.repweights {
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
                    "--repweights {prefix}: found {} columns named {prefix}1, {prefix}2, …",
                    found.len()
                ));
            }
            let weights = found
                .iter()
                .map(|(_, c)| numbers(df, c).and_then(|v| complete(v, c, "replicate weight")))
                .collect::<Result<Vec<_>, _>>()?;
            let kind = match self.rep_type {
                Some(RepTypeArg::Jk1) => RepType::Jk1,
                Some(RepTypeArg::Jkn) => RepType::Jkn,
                Some(RepTypeArg::Brr) => RepType::Brr,
                Some(RepTypeArg::Fay) => RepType::Fay(self.fay_rho.ok_or("--rep-type fay needs --fay-rho (Fay's ρ)")?),
                Some(RepTypeArg::Bootstrap) | None => RepType::Bootstrap,
            };
            design.replicates = Some(Replicates {
                weights,
                kind,
                scale: self.rep_scale,
                rscales: (!self.rep_rscales.is_empty()).then(|| self.rep_rscales.clone()),
                mse: self.rep_mse,
            });
        }
        Ok(design)
    }

    /// The design as `--format json` reports it.
    pub fn describe(&self, design: &Design, weights: Option<&str>) -> serde_json::Value {
        let (strata, psus) = design.counts();
        serde_json::json!({
            "weights": weights,
            "strata": self.strata,
            "psu": self.psu,
            "ssu": self.ssu,
            "fpc": self.fpc,
            "lonely_psu": self.lonely_psu,
            "replicates": self.repweights.as_ref().map(|p| serde_json::json!({
                "prefix": p,
                "type": self.rep_type.map(|t| format!("{t:?}").to_lowercase()),
                "count": design.replicates.as_ref().map_or(0, |r| r.weights.len()),
                "scale": self.rep_scale,
                "mse": self.rep_mse,
            })),
            "n_strata": if design.replicates.is_some() { None } else { Some(strata) },
            "n_psu": if design.replicates.is_some() { None } else { Some(psus) },
            "df": design.degrees_of_freedom(),
        })
    }
}
