//! Estimators that stream a Parquet table in batches of row groups instead of loading it
//! (issue #23): the adapter from polars batches to the analysis crate's chunks.

use std::path::Path;

use endline_analysis::AnalysisError;
use endline_analysis::did::cs::stream::{self as cs_stream, Names, Streamed};
use endline_analysis::stream::{Chunk, Ids, Source};
use endline_ingest::scan::ParquetScan;
use polars::prelude::*;

/// How a command reads its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Stream when the estimate allows, else load.
    Auto,
    /// Stream, or fail saying why not.
    Stream,
    /// Load the table into memory.
    Memory,
}

/// Rows per batch: about 160 MB of five numeric columns.
const BATCH_ROWS: usize = 1 << 22;
/// Bytes of per-unit outcomes held at once while summing cross-products.
const CROSS_MEMORY: usize = 3 << 30;

/// Whether `path` is Parquet (a file, or a directory of Parquet files).
pub fn is_parquet(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e == "pq")
}

/// A Parquet table read as chunks of identifier and numeric columns.
pub struct Batches {
    scan: ParquetScan,
    ids: Vec<String>,
    numbers: Vec<String>,
}

impl Batches {
    /// The table at `path` with these columns; None when one is missing or a numeric one
    /// is not numeric (for the caller to load the table and report, or fall back).
    pub fn open(path: &Path, ids: &[&str], numbers: &[&str]) -> Result<Option<Batches>, AnalysisError> {
        let scan = ParquetScan::open(path).map_err(AnalysisError::Data)?;
        let schema = scan.schema();
        let ok = ids.iter().all(|c| schema.get(c).is_some())
            && numbers.iter().all(|c| schema.get(c).is_some_and(|t| t.is_primitive_numeric()));
        Ok(ok.then(|| Batches {
            scan,
            ids: ids.iter().map(|s| s.to_string()).collect(),
            numbers: numbers.iter().map(|s| s.to_string()).collect(),
        }))
    }
}

/// A column as identifiers: whole numbers, or text.
enum Owned {
    Int(Vec<Option<i64>>),
    Text(StringChunked),
}

fn ids(df: &DataFrame, name: &str) -> PolarsResult<Owned> {
    let c = df.column(name)?;
    Ok(if c.dtype().is_integer() {
        Owned::Int(c.cast(&DataType::Int64)?.i64()?.iter().collect())
    } else {
        Owned::Text(c.cast(&DataType::String)?.str()?.clone())
    })
}

fn text(o: &Owned) -> Vec<Option<&str>> {
    match o {
        Owned::Text(s) => s.iter().collect(),
        Owned::Int(_) => Vec::new(),
    }
}

fn as_ids<'a>(o: &'a Owned, t: &'a [Option<&'a str>]) -> Ids<'a> {
    match o {
        Owned::Int(v) => Ids::Int(v),
        Owned::Text(_) => Ids::Text(t),
    }
}

fn numbers(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

impl Source for Batches {
    fn scan(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        let mut columns: Vec<String> = self.ids.iter().chain(&self.numbers).cloned().collect();
        columns.sort();
        columns.dedup();
        let (id_names, number_names) = (&self.ids, &self.numbers);
        let mut failure = None;
        self.scan
            .scan(&columns, BATCH_ROWS, &mut |df| {
                let owned: Vec<Owned> =
                    id_names.iter().map(|c| ids(&df, c)).collect::<PolarsResult<_>>().map_err(|e| e.to_string())?;
                let nums: Vec<Vec<f64>> = number_names
                    .iter()
                    .map(|c| numbers(&df, c))
                    .collect::<PolarsResult<_>>()
                    .map_err(|e| e.to_string())?;
                let texts: Vec<Vec<Option<&str>>> = owned.iter().map(text).collect();
                let chunk = Chunk {
                    ids: owned.iter().zip(&texts).map(|(o, t)| as_ids(o, t)).collect(),
                    numbers: nums.iter().map(Vec::as_slice).collect(),
                };
                match f(&chunk) {
                    Ok(go_on) => Ok(go_on),
                    Err(e) => {
                        failure = Some(e);
                        Ok(false)
                    }
                }
            })
            .map_err(AnalysisError::Data)?;
        failure.map_or(Ok(()), Err)
    }
}

/// A two-way regression streamed from Parquet; `Ok(None)` when the columns are not all
/// there and numeric.
pub fn regression(
    path: &Path,
    opts: &endline_analysis::feols_stream::Options<'_>,
) -> Result<Option<endline_analysis::feols_stream::Fitted>, AnalysisError> {
    let cols = endline_analysis::feols_stream::Columns::of(opts.formula, opts.vcov).map_err(AnalysisError::Invalid)?;
    let mut ids: Vec<&str> = cols.fixef.iter().map(String::as_str).collect();
    ids.extend(cols.cluster.as_deref());
    let mut numbers = vec![cols.y.as_str()];
    numbers.extend(cols.x.iter().map(String::as_str));
    let Some(mut source) = Batches::open(path, &ids, &numbers)? else {
        return Ok(None);
    };
    endline_analysis::feols_stream::fit(&mut source, opts).map(Some)
}

/// The sufficient statistics of Callaway & Sant'Anna streamed from Parquet; `Ok(None)`
/// when the columns are not all there and numeric (identifiers may be text).
pub fn cs_statistics(
    path: &Path,
    unit: &str,
    cluster: Option<&str>,
    (time, outcome, cohort): (&str, &str, &str),
) -> Result<Option<Streamed>, AnalysisError> {
    let mut ids = vec![unit];
    ids.extend(cluster);
    let Some(mut source) = Batches::open(path, &ids, &[time, outcome, cohort])? else {
        return Ok(None);
    };
    cs_stream::sufficient_statistics(&mut source, &Names { time, cohort }, CROSS_MEMORY).map(Some)
}
