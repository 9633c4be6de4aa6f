//! `endline panel`: ingested waves → one analysis table, optionally aggregated to groups
//! (survey-weighted means) and joined to a programme roll-out table.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use endline_analysis::aggregate::{AggregateSpec, add_log, aggregate, left_join, stack};
use endline_output::write_file;
use polars::prelude::*;

use crate::Outcome;
use crate::output::{error, print};

/// Arguments of `endline panel`.
#[derive(Debug, Args)]
pub struct PanelArgs {
    /// Ingest output directories, one per wave.
    #[arg(required = true)]
    pub waves: Vec<PathBuf>,
    /// The table to take from each (a survey id or a repeat name).
    #[arg(long)]
    pub table: String,
    /// Keep only these columns (after aggregation and join), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Aggregate to one row per group of these columns (such as county_id,_wave).
    #[arg(long, value_delimiter = ',')]
    pub by: Vec<String>,
    /// With --by: columns averaged within each group.
    #[arg(long, value_delimiter = ',')]
    pub means: Vec<String>,
    /// With --by: sampling weights for the means.
    #[arg(long)]
    pub weights: Option<String>,
    /// Add the natural log of these (positive) columns as log_COLUMN.
    #[arg(long, value_delimiter = ',')]
    pub log: Vec<String>,
    /// A CSV to join, such as the programme's roll-out (county_id, first_treated).
    #[arg(long)]
    pub join: Option<PathBuf>,
    /// The column to join on.
    #[arg(long, requires = "join")]
    pub on: Option<String>,
    /// The survey version to line every wave up with: a wave ingested under another
    /// version has the questions this one renamed (`renamed_from`) and the codes it
    /// recoded (`recode`) harmonised before the waves are stacked.
    #[arg(long, value_name = "SURVEY.yaml")]
    pub survey: Option<PathBuf>,
    /// The output: .csv (each select_multiple split into 0/1 columns), .parquet or .dta
    /// (Stata 118, with labels), written atomically; with --partition-by, a directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Write a hive-partitioned Parquet dataset into the --out directory instead of one
    /// file: `wave`, or `wave,COLUMN` (a unit column such as county_id), as
    /// `TABLE/wave=2021/county_id=3/part-0.parquet`, the labels on every file.
    #[arg(long, value_delimiter = ',')]
    pub partition_by: Vec<String>,
}

pub fn panel(args: &PanelArgs) -> anyhow::Result<Outcome> {
    let mut frames = Vec::new();
    let mut inputs: Vec<PathBuf> = args.join.iter().cloned().chain(args.survey.clone()).collect();
    let target = match &args.survey {
        Some(path) => match crate::validate::load_survey(path, false)? {
            Some(s) => Some(s),
            None => return Ok(Outcome::Invalid),
        },
        None => None,
    };
    for dir in &args.waves {
        let Some(path) = endline_ingest::hive::table_path(dir, &args.table) else {
            let path = dir.join(format!("{}.parquet", args.table));
            bail!("cannot read {}: no table `{}` in this ingest output", path.display(), args.table);
        };
        inputs.push(path.clone());
        let mut frame = endline_ingest::hive::read(&path).map_err(anyhow::Error::msg)?;
        if let Some(target) = &target {
            let version = frame
                .column("_survey_version")
                .ok()
                .and_then(|c| c.str().ok().and_then(|s| s.get(0).map(str::to_string)));
            if version.as_deref().is_some_and(|v| v != target.version()) {
                let (lined_up, applied) = endline_ingest::harmonise::harmonise(frame, None, target)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
                for h in &applied {
                    print(&format!("{}: {} {} ({} rows)\n", dir.display(), h.question, h.message, h.rows))?;
                }
                frame = lined_up;
            }
        }
        frames.push(frame);
    }
    let mut df = stack(frames).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Waves named by years (or any whole numbers) are numbers in the panel.
    if let Ok(w) = df.column("_wave").and_then(|c| c.cast(&DataType::Int64))
        && w.null_count() == df.column("_wave").map_or(0, Column::null_count)
    {
        df.with_column(w)?;
    }
    for c in &args.log {
        add_log(&mut df, c).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !args.by.is_empty() {
        let spec = AggregateSpec {
            by: args.by.clone(),
            means: args.means.clone(),
            constants: Vec::new(),
            weights: args.weights.clone(),
        };
        df = match aggregate(&df, &spec) {
            Ok(d) => d,
            Err(e) => {
                error!("{e}");
                return Ok(Outcome::Invalid);
            }
        };
    }
    if let (Some(join), Some(on)) = (&args.join, &args.on) {
        let other = endline_ingest::table::read_table(join).map_err(anyhow::Error::msg)?;
        df = left_join(df, other, on).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if !args.columns.is_empty() {
        df = df.select(args.columns.iter().map(|c| PlSmallStr::from(c.as_str())).collect::<Vec<_>>())?;
    }
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    // The first wave's labels travel with the stacked table.
    let first_wave = args.waves.first().and_then(|d| endline_ingest::hive::table_path(d, &args.table));
    if !args.partition_by.is_empty() {
        return write_partitioned(args, &df, first_wave.as_deref(), &inputs);
    }
    let bytes = match ext.as_str() {
        "csv" => endline_ingest::table::csv_bytes(&df)?,
        "parquet" => {
            let labels = first_wave.as_deref().and_then(endline_ingest::labels::parquet_labels);
            endline_ingest::table::parquet_bytes(&df, 512 * 512, labels.as_deref())?
        }
        // Stata, as `endline export --to dta` writes it: variable and value labels,
        // missing codes as extended missing values.
        "dta" => {
            let labels = first_wave.as_deref().map(endline_export::labels_of).unwrap_or_default();
            let ds = endline_export::dataset(&df, &labels).map_err(anyhow::Error::msg)?;
            endline_export::dta::write(&ds).map_err(anyhow::Error::msg)?
        }
        other => {
            bail!("cannot tell the format of {}: expected .csv, .parquet or .dta, not `.{other}`", args.out.display())
        }
    };
    write_file(&args.out, &bytes, &inputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    print(&format!("{} rows x {} columns → {}\n", df.height(), df.width(), args.out.display()))?;
    Ok(Outcome::Success)
}

/// The panel as a hive-partitioned Parquet dataset in the --out directory, staged and
/// renamed into place as `endline export` writes one.
fn write_partitioned(
    args: &PanelArgs,
    df: &DataFrame,
    first_wave: Option<&std::path::Path>,
    inputs: &[PathBuf],
) -> anyhow::Result<Outcome> {
    let by = match endline_ingest::hive::partition_columns(&args.partition_by) {
        Ok(by) => by,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    if args.out.extension().is_some() {
        error!(
            "--partition-by writes a directory of Parquet files: give --out a directory, not {}",
            args.out.display()
        );
        return Ok(Outcome::Failure);
    }
    let labels = first_wave.and_then(endline_ingest::labels::parquet_labels);
    let inputs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let claim = endline_output::OutDir::claim(&args.out, endline_output::Kind::Export, None, &inputs)?;
    let stem = claim.staging().join(&args.table);
    let mut parts_in = std::collections::BTreeMap::new();
    // An unfinished claim, dropped, removes what it staged.
    let files = match endline_ingest::hive::write_parts(df, &stem, &by, labels.as_deref(), &mut parts_in) {
        Ok(n) => n,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Invalid);
        }
    };
    claim.commit()?;
    print(&format!("{} rows x {} columns → {files} files in {}\n", df.height(), df.width(), args.out.display()))?;
    Ok(Outcome::Success)
}
