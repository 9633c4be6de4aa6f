//! `endline tabulate`: means, proportions, totals and ratios of a sampled population,
//! overall and by domain, with design-based standard errors (issue #21).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use endline_analysis::data;
use endline_analysis::sampling::{Domain, Estimate, Statistic, Target, estimate};

use crate::Outcome;
use crate::design_args::DesignArgs;
use crate::output::{error, print};

/// Arguments of `endline tabulate`.
#[derive(Debug, Args)]
pub struct TabulateArgs {
    /// The data: a CSV or Parquet table, one row per sampled unit (household).
    pub data: PathBuf,
    /// Variables whose mean is estimated (comma-separated). A 0/1 variable's mean is a
    /// proportion, with a logit interval; a text variable gives the proportion of each of
    /// its values.
    #[arg(long, value_name = "VAR[,VAR]", value_delimiter = ',')]
    pub mean: Vec<String>,
    /// Variables whose population total is estimated.
    #[arg(long, value_name = "VAR[,VAR]", value_delimiter = ',')]
    pub total: Vec<String>,
    /// Ratios of two totals, NUM/DEN (comma-separated).
    #[arg(long, value_name = "NUM/DEN", value_delimiter = ',')]
    pub ratio: Vec<String>,
    /// Estimate within each level of this variable too, after the whole population
    /// (domains: the whole design is kept, rows outside the domain count as zero, as R's
    /// svyby does).
    #[arg(long, value_name = "VAR")]
    pub by: Option<String>,
    /// Sampling weights (default: from the FPCs when they are population counts, else 1).
    #[arg(long, value_name = "VAR")]
    pub weights: Option<String>,
    #[command(flatten)]
    pub design: DesignArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// `tabulate --format json` (docs/cli.md).
#[derive(serde::Serialize)]
struct Output<'a> {
    estimates: &'a [Estimate],
    design: crate::design_args::DesignSummary<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// One variable to estimate: its values, answered or not.
struct Variable {
    name: String,
    level: Option<String>,
    values: Vec<Option<f64>>,
}

/// A column as numbers, missing (null or NaN) as None ([`data::numeric`]).
fn numbers(df: &polars::prelude::DataFrame, name: &str) -> Result<Vec<Option<f64>>, String> {
    Ok(data::numeric(df, name).map_err(|e| e.to_string())?.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect())
}

/// A column as text, missing as None ([`data::text`]).
fn codes(df: &polars::prelude::DataFrame, name: &str) -> Result<Vec<Option<String>>, String> {
    data::text(df, name).map_err(|e| e.to_string())
}

fn variables(df: &polars::prelude::DataFrame, name: &str, levels_allowed: bool) -> Result<Vec<Variable>, String> {
    let is_text = levels_allowed
        && df.column(name).map(|c| matches!(c.dtype(), polars::prelude::DataType::String)).unwrap_or(false);
    if !is_text {
        return Ok(vec![Variable { name: name.to_string(), level: None, values: numbers(df, name)? }]);
    }
    // A text variable: the proportion of each of its values.
    let texts = codes(df, name)?;
    let mut levels: Vec<String> = texts.iter().flatten().cloned().collect();
    levels.sort();
    levels.dedup();
    Ok(levels
        .into_iter()
        .map(|l| Variable {
            name: name.to_string(),
            values: texts.iter().map(|t| t.as_ref().map(|t| if *t == l { 1.0 } else { 0.0 })).collect(),
            level: Some(l),
        })
        .collect())
}

pub fn tabulate(args: &TabulateArgs) -> anyhow::Result<Outcome> {
    if args.mean.is_empty() && args.total.is_empty() && args.ratio.is_empty() {
        error!("nothing to estimate: give --mean, --total or --ratio");
        return Ok(Outcome::Failure);
    }
    let df = match endline_ingest::table::read_table(&args.data) {
        Ok(df) => df,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    match run(args, &df) {
        Ok(out) => {
            print(&out)?;
            Ok(Outcome::Success)
        }
        Err(e) => {
            error!("{}: {e}", args.data.display());
            Ok(Outcome::Invalid)
        }
    }
}

fn run(args: &TabulateArgs, df: &polars::prelude::DataFrame) -> Result<String, String> {
    let design = args.design.design(df, args.weights.as_deref())?;
    let n = df.height();
    // The domains: everyone, then each level of --by.
    let mut domains: Vec<(Option<Domain>, Vec<bool>)> = vec![(None, vec![true; n])];
    if let Some(by) = &args.by {
        let values = codes(df, by)?;
        let mut levels: Vec<String> = values.iter().flatten().cloned().collect();
        levels.sort();
        levels.dedup();
        for l in levels {
            let rows = values.iter().map(|v| v.as_deref() == Some(l.as_str())).collect();
            domains.push((Some(Domain { var: by.clone(), level: l }), rows));
        }
    }
    let mut estimates: Vec<Estimate> = Vec::new();
    let answered = |v: &[Option<f64>], rows: &[bool]| -> (Vec<f64>, Vec<bool>) {
        let used = v.iter().zip(rows).map(|(v, r)| *r && v.is_some()).collect();
        (v.iter().map(|v| v.unwrap_or(0.0)).collect(), used)
    };
    for (statistic, names) in [(Statistic::Mean, &args.mean), (Statistic::Total, &args.total)] {
        for name in names {
            for var in variables(df, name, statistic == Statistic::Mean)? {
                for (domain, rows) in &domains {
                    let (y, used) = answered(&var.values, rows);
                    let t = Target { statistic, y: &y, x: None, rows: &used };
                    let mut e = estimate(&design, &t, var.name.clone(), domain.clone())?;
                    e.level = var.level.clone();
                    estimates.push(e);
                }
            }
        }
    }
    for ratio in &args.ratio {
        let Some((num, den)) = ratio.split_once('/') else {
            return Err(format!("--ratio {ratio}: write it NUM/DEN, such as income/hh_size"));
        };
        let (yv, xv) = (numbers(df, num.trim())?, numbers(df, den.trim())?);
        for (domain, rows) in &domains {
            let both: Vec<bool> = rows.iter().zip(&xv).map(|(r, x)| *r && x.is_some()).collect();
            let (y, used) = answered(&yv, &both);
            let x: Vec<f64> = xv.iter().map(|v| v.unwrap_or(0.0)).collect();
            let t = Target { statistic: Statistic::Ratio, y: &y, x: Some(&x), rows: &used };
            estimates.push(estimate(&design, &t, format!("{}/{}", num.trim(), den.trim()), domain.clone())?);
        }
    }
    Ok(match args.format {
        Format::Json => {
            let out = Output { estimates: &estimates, design: args.design.describe(&design, args.weights.as_deref()) };
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n"
        }
        Format::Human => human(&estimates, args, &design),
    })
}

fn human(estimates: &[Estimate], args: &TabulateArgs, design: &endline_analysis::sampling::Design) -> String {
    let mut out = String::new();
    let (strata, psus) = design.counts();
    let what = if design.replicates.is_some() {
        format!("replicate weights ({} replicates)", design.replicates.as_ref().map_or(0, |r| r.weights.len()))
    } else if args.design.declared() || args.weights.is_some() {
        let strata = if strata == 1 { "1 stratum".to_string() } else { format!("{strata} strata") };
        format!("{strata}, {psus} PSUs, {} degrees of freedom", design.degrees_of_freedom())
    } else {
        "no design declared: each row a unit drawn with replacement, weight 1".to_string()
    };
    let _ = writeln!(out, "{} — {what}", args.data.display());
    let _ = writeln!(
        out,
        "{:<8} {:<24} {:<20} {:>14} {:>12} {:>14} {:>14} {:>7} {:>7}",
        "", "variable", "domain", "estimate", "std. error", "95% low", "95% high", "deff", "cv"
    );
    for e in estimates {
        let stat = match e.statistic {
            Statistic::Mean => "mean",
            Statistic::Total => "total",
            Statistic::Ratio => "ratio",
        };
        let var = match &e.level {
            Some(l) => format!("{}={l}", e.variable),
            None => e.variable.clone(),
        };
        let domain = e.domain.as_ref().map(|d| format!("{}={}", d.var, d.level)).unwrap_or_else(|| "all".into());
        let opt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "{stat:<8} {var:<24} {domain:<20} {:>14.6} {:>12.6} {:>14.6} {:>14.6} {:>7} {:>7}",
            e.estimate,
            e.std_error,
            e.conf_low,
            e.conf_high,
            opt(e.deff),
            opt(e.cv)
        );
    }
    out
}
