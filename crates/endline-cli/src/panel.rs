//! `endline panel`: ingested waves → one analysis table, optionally aggregated to groups
//! (survey-weighted means) and joined to a programme roll-out table.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use endline_analysis::aggregate::{AggregateSpec, aggregate};
use polars::prelude::*;

use crate::Outcome;
use crate::output::{print, write_atomic};

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
    /// The output: .csv or .parquet, written atomically.
    #[arg(long)]
    pub out: PathBuf,
}

/// Stacks frames whose columns may differ (a later wave may use a newer survey version):
/// the union of columns, in first-seen order, missing ones as nulls.
fn stack(frames: Vec<DataFrame>) -> anyhow::Result<DataFrame> {
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
    out.context("no waves given")
}

pub fn panel(args: &PanelArgs) -> anyhow::Result<Outcome> {
    let mut frames = Vec::new();
    for dir in &args.waves {
        let path = dir.join(format!("{}.parquet", args.table));
        if !path.exists() {
            bail!("cannot read {}: no table `{}` in this ingest output", path.display(), args.table);
        }
        let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        frames.push(anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
            format!("cannot read {}", path.display())
        })?);
    }
    let mut df = stack(frames)?;
    for c in &args.log {
        let v = endline_analysis::data::numeric(&df, c).map_err(|e| anyhow::anyhow!("{e}"))?;
        let logged: Vec<Option<f64>> = v.iter().map(|x| (*x > 0.0).then(|| x.ln())).collect();
        df.with_column(Column::new(format!("log_{c}").into(), logged))?;
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
                eprintln!("error: {e}");
                return Ok(Outcome::Invalid);
            }
        };
    }
    if let (Some(join), Some(on)) = (&args.join, &args.on) {
        let other = crate::data::read_table(join)?;
        let key = |d: &DataFrame, name: &str| -> anyhow::Result<DataType> {
            Ok(anyhow::Context::with_context(d.column(name), || format!("no column `{name}` to join on"))?
                .dtype()
                .clone())
        };
        let (lt, rt) = (key(&df, on)?, key(&other, on)?);
        let common = if lt == rt { lt } else { DataType::String };
        df = df
            .lazy()
            .with_column(col(on.as_str()).cast(common.clone()))
            .left_join(other.lazy().with_column(col(on.as_str()).cast(common)), col(on.as_str()), col(on.as_str()))
            .collect()?;
    }
    if !args.columns.is_empty() {
        df = df.select(args.columns.iter().map(|c| PlSmallStr::from(c.as_str())).collect::<Vec<_>>())?;
    }
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let mut bytes = Vec::new();
    match ext.as_str() {
        "csv" => CsvWriter::new(&mut bytes).finish(&mut df)?,
        "parquet" => {
            ParquetWriter::new(&mut bytes).finish(&mut df)?;
        }
        other => bail!("cannot tell the format of {}: expected .csv or .parquet, not `.{other}`", args.out.display()),
    }
    write_atomic(&args.out, &bytes)?;
    print(&format!("{} rows x {} columns → {}\n", df.height(), df.width(), args.out.display()))?;
    Ok(Outcome::Success)
}
