//! `endline balance`: an iebaltab-style balance table between a treated and a comparison group.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use endline_analysis::Vcov;
use endline_analysis::balance::balance as build;

use crate::Outcome;
use crate::estimate::sig;
use crate::output::{error, print};

/// Arguments of `endline balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// The data: a .csv or .parquet file.
    pub data: PathBuf,
    /// The 0/1 group column (1: treated).
    #[arg(long)]
    pub group: String,
    /// The variables to compare, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub vars: Vec<String>,
    /// Sampling weights.
    #[arg(long)]
    pub weights: Option<String>,
    /// Variance of the tests: iid, hetero, cluster:VAR.
    #[arg(long, default_value = "hetero")]
    pub vcov: Vcov,
    /// Output format: table or json.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

pub fn balance(args: &BalanceArgs) -> anyhow::Result<Outcome> {
    let df = endline_ingest::table::read_table(&args.data).map_err(anyhow::Error::msg)?;
    let t = match build(&df, &args.group, &args.vars, args.weights.as_deref(), args.vcov.clone()) {
        Ok(t) => t,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Invalid);
        }
    };
    if args.format == "json" {
        print(&format!("{}\n", serde_json::to_string_pretty(&t)?))?;
        return Ok(Outcome::Success);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:>7} {:>22} {:>7} {:>22} {:>11} {:>8} {:>9}",
        "variable", "N (0)", "mean (0) [s.e.]", "N (1)", "mean (1) [s.e.]", "difference", "p", "norm. d."
    );
    for r in &t.rows {
        let _ = writeln!(
            out,
            "{:<24} {:>7} {:>22} {:>7} {:>22} {:>11} {:>8} {:>9}",
            r.variable,
            r.n_control,
            format!("{} [{}]", sig(r.mean_control, 4), sig(r.se_control, 3)),
            r.n_treated,
            format!("{} [{}]", sig(r.mean_treated, 4), sig(r.se_treated, 3)),
            sig(r.difference, 4),
            sig(r.p_value, 3),
            sig(r.normalized_difference, 3)
        );
    }
    match t.joint_test {
        Some(f) => {
            let _ = writeln!(
                out,
                "\nJoint test that the variables do not predict `{}`: F({}, {}) = {}, p = {} ({})",
                args.group,
                f.df1,
                f.df2,
                sig(f.statistic, 4),
                sig(f.p_value, 3),
                t.vcov
            );
        }
        None => out.push_str("\nJoint test: not available (the variables are collinear or too few observations)\n"),
    }
    print(&out)?;
    Ok(Outcome::Success)
}
