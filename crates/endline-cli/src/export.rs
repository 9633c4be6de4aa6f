//! `endline export`: an ingest output's tables for Stata, CSV or Parquet users, with their
//! labels.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use endline_export::{ExportError, Target};
use endline_output::{Kind, OutDir};

use crate::Outcome;
use crate::output::{error, print};

/// Arguments of `endline export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// An ingest output (a folder of `<table>.parquet`).
    pub data: PathBuf,
    /// The format: Stata 118 with labels and extended missing values, CSV with a labels
    /// sidecar, or Parquet.
    #[arg(long, value_enum)]
    pub to: To,
    /// Where to write: must be new, empty or an earlier export.
    #[arg(long)]
    pub out: PathBuf,
}

/// The formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum To {
    /// Stata `.dta` (release 118).
    Dta,
    /// CSV and `<table>.labels.json`.
    Csv,
    /// Parquet.
    Parquet,
}

pub fn export(args: &ExportArgs) -> anyhow::Result<Outcome> {
    let target = match args.to {
        To::Dta => Target::Dta,
        To::Csv => Target::Csv,
        To::Parquet => Target::Parquet,
    };
    let tables = match endline_export::tables(&args.data) {
        Ok(t) => t,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    let inputs: Vec<&std::path::Path> = tables.iter().map(PathBuf::as_path).collect();
    let claim = OutDir::claim(&args.out, Kind::Export, None, &inputs)?;
    let mut written = Vec::new();
    for t in &tables {
        match endline_export::export_table(t, target) {
            Ok(files) => {
                for (name, bytes) in files {
                    let path = claim.staging().join(&name);
                    std::fs::write(&path, bytes)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    written.push(name);
                }
            }
            Err(e @ ExportError::Data(_)) => {
                error!("{e}");
                return Ok(Outcome::Invalid);
            }
            Err(e) => {
                error!("{e}");
                return Ok(Outcome::Failure);
            }
        }
    }
    claim.commit()?;
    print(&format!("{} → {}: {}\n", args.data.display(), args.out.display(), written.join(", ")))?;
    Ok(Outcome::Success)
}
