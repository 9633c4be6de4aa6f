//! The sample-design flags (`--strata --psu --ssu --fpc --lonely-psu
//! --repweights ...`), shared by the commands that estimate under a design, and how they
//! become a [`Design`] over a table's rows.

use clap::{Args, ValueEnum};
use endline_analysis::sampling::{Design, DesignSpec, LonelyPsu, RepType, ReplicateSpec};
use polars::prelude::*;
use serde::Serialize;

/// How the sample was drawn (the weights are each command's `--weights`).
#[derive(Debug, Clone, Args, Default)]
pub struct DesignArgs {
    /// Says that the variance is the sample design's (the flags below declare it); the
    /// design flags alone imply it.
    #[arg(long = "design")]
    pub explicit: bool,
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

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

impl DesignArgs {
    /// Whether any design flag was given (else: simple random sampling of the rows,
    /// weight 1, with replacement).
    pub fn declared(&self) -> bool {
        self.explicit
            || self.strata.is_some()
            || self.psu.is_some()
            || !self.fpc.is_empty()
            || self.repweights.is_some()
    }

    /// The declared design, by column names.
    pub fn spec(&self) -> Result<DesignSpec, String> {
        let replicates = match &self.repweights {
            None => None,
            Some(prefix) => Some(ReplicateSpec {
                prefix: prefix.clone(),
                kind: match self.rep_type {
                    Some(RepTypeArg::Jk1) => RepType::Jk1,
                    Some(RepTypeArg::Jkn) => RepType::Jkn,
                    Some(RepTypeArg::Brr) => RepType::Brr,
                    Some(RepTypeArg::Fay) => {
                        RepType::Fay(self.fay_rho.ok_or("--rep-type fay needs --fay-rho (Fay's ρ)")?)
                    }
                    Some(RepTypeArg::Bootstrap) | None => RepType::Bootstrap,
                },
                scale: self.rep_scale,
                rscales: (!self.rep_rscales.is_empty()).then(|| self.rep_rscales.clone()),
                mse: self.rep_mse,
            }),
        };
        Ok(DesignSpec {
            strata: self.strata.clone(),
            psu: self.psu.clone(),
            ssu: self.ssu.clone(),
            fpc: self.fpc.clone(),
            lonely: self.lonely_psu,
            replicates,
        })
    }

    /// The design over `df`'s rows, with the sampling weights in column `weights`.
    pub fn design(&self, df: &DataFrame, weights: Option<&str>) -> Result<Design, String> {
        self.spec()?.build(df, weights)
    }

    /// The design as `--format json` reports it.
    pub fn describe<'a>(&'a self, design: &Design, weights: Option<&'a str>) -> DesignSummary<'a> {
        let (strata, psus) = design.counts();
        let linearised = design.replicates.is_none();
        DesignSummary {
            weights,
            strata: self.strata.as_deref(),
            psu: self.psu.as_deref(),
            ssu: self.ssu.as_deref(),
            fpc: &self.fpc,
            lonely_psu: self.lonely_psu,
            replicates: self.repweights.as_deref().map(|prefix| ReplicateSummary {
                prefix,
                kind: self.rep_type,
                count: design.replicates.as_ref().map_or(0, |r| r.weights.len()),
                scale: self.rep_scale,
                mse: self.rep_mse,
            }),
            n_strata: linearised.then_some(strata),
            n_psu: linearised.then_some(psus),
            df: design.degrees_of_freedom(),
        }
    }
}

/// The design as `tabulate --format json` reports it (docs/cli.md).
#[derive(Debug, Serialize)]
pub struct DesignSummary<'a> {
    pub weights: Option<&'a str>,
    pub strata: Option<&'a str>,
    pub psu: Option<&'a str>,
    pub ssu: Option<&'a str>,
    pub fpc: &'a [String],
    pub lonely_psu: LonelyPsu,
    pub replicates: Option<ReplicateSummary<'a>>,
    /// Strata and PSUs of the first stage (null with replicate weights).
    pub n_strata: Option<usize>,
    pub n_psu: Option<usize>,
    /// Degrees of freedom: PSUs − strata, or the replicates' rank − 1.
    pub df: f64,
}

/// Replicate weights, as reported.
#[derive(Debug, Serialize)]
pub struct ReplicateSummary<'a> {
    pub prefix: &'a str,
    #[serde(rename = "type")]
    pub kind: Option<RepTypeArg>,
    pub count: usize,
    pub scale: Option<f64>,
    pub mse: bool,
}
