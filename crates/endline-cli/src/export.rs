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
    /// An ingest output (a folder of `<table>.parquet`); several (one per wave) with
    /// `--partition-by`.
    #[arg(required = true)]
    pub data: Vec<PathBuf>,
    /// The format: Stata 118 with labels and extended missing values, CSV with a labels
    /// sidecar, or Parquet.
    #[arg(long, value_enum)]
    pub to: To,
    /// Where to write: must be new, empty or an earlier export.
    #[arg(long)]
    pub out: PathBuf,
    /// With `--to parquet`: write each table as a hive-partitioned dataset,
    /// `<table>/wave=2021/[unit=3/]part-0.parquet`, by `_wave` and optionally a unit
    /// column (`--partition-by wave,county_id`).
    #[arg(long, value_delimiter = ',', value_name = "wave[,COLUMN]")]
    pub partition_by: Vec<String>,
}

/// A table's files: (path under the output, bytes).
type Files = Vec<(String, Vec<u8>)>;

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
    if !args.partition_by.is_empty() {
        if !matches!(args.to, To::Parquet) {
            error!("--partition-by writes a Parquet dataset: give --to parquet");
            return Ok(Outcome::Failure);
        }
        if let Err(e) = endline_ingest::hive::partition_columns(&args.partition_by) {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    } else if args.data.len() > 1 {
        error!(
            "several ingest outputs are exported together as a partitioned dataset: add --to parquet --partition-by wave"
        );
        return Ok(Outcome::Failure);
    }
    let mut by_dir = Vec::new();
    for d in &args.data {
        match endline_export::tables(d) {
            Ok(t) => by_dir.push(t),
            Err(e) => {
                error!("{e}");
                return Ok(Outcome::Failure);
            }
        }
    }
    let tables: Vec<PathBuf> = by_dir.iter().flatten().cloned().collect();
    let inputs: Vec<&std::path::Path> = tables.iter().map(PathBuf::as_path).collect();
    let claim = OutDir::claim(&args.out, Kind::Export, None, &inputs)?;
    // Each table's files, partitioned or one per table; then written into the staging
    // directory the claim renames into place.
    let mut outputs: Vec<Result<Files, ExportError>> = Vec::new();
    if args.partition_by.is_empty() {
        outputs.extend(tables.iter().map(|t| endline_export::export_table(t, target)));
    } else {
        let by = endline_ingest::hive::partition_columns(&args.partition_by).unwrap_or_default();
        let mut names: Vec<String> = tables.iter().map(|t| endline_export::table_name(t)).collect();
        names.sort();
        names.dedup();
        for name in names {
            let paths: Vec<&std::path::Path> =
                tables.iter().filter(|t| endline_export::table_name(t) == name).map(PathBuf::as_path).collect();
            // A unit column only the top table has: the rosters are split by wave alone.
            let all = paths.iter().all(|p| endline_export::has_columns(p, &by));
            let by_here = if all { by.clone() } else { by[..1].to_vec() };
            outputs.push(endline_export::export_partitioned(&paths, &by_here));
        }
    }
    let mut written = Vec::new();
    for files in outputs {
        let files = match files {
            Ok(f) => f,
            Err(e) => {
                error!("{e}");
                return Ok(if matches!(e, ExportError::Data(_)) { Outcome::Invalid } else { Outcome::Failure });
            }
        };
        for (rel, bytes) in files {
            let path = claim.staging().join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            written.push(rel);
        }
    }
    if !args.partition_by.is_empty() {
        claim.commit()?;
        print(&format!("{} files → {}\n", written.len(), args.out.display()))?;
        return Ok(Outcome::Success);
    }
    claim.commit()?;
    print(&format!("{} → {}: {}\n", args.data[0].display(), args.out.display(), written.join(", ")))?;
    Ok(Outcome::Success)
}
