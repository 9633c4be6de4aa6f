//! Estimators that stream a Parquet table in batches of row groups instead of loading it
//! (issue #23): the adapter from polars batches to the analysis crate's chunks.

use std::path::Path;

use endline_analysis::AnalysisError;
use endline_analysis::did::cs::stream::{self, Chunk, Ids, Names, Source, Streamed};
use endline_ingest::scan::ParquetScan;
use polars::prelude::*;

/// Rows per batch: about 160 MB of five numeric columns.
const BATCH_ROWS: usize = 1 << 22;
/// Bytes of per-unit outcomes held at once while summing cross-products.
const CROSS_MEMORY: usize = 3 << 30;

/// The columns of a CS panel to stream.
pub struct CsColumns<'a> {
    pub unit: &'a str,
    pub time: &'a str,
    pub outcome: &'a str,
    pub cohort: &'a str,
    pub cluster: Option<&'a str>,
}

/// Whether `path` is Parquet (a file, or a directory of Parquet files).
pub fn is_parquet(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e == "pq")
}

struct Batches<'a> {
    scan: ParquetScan,
    columns: Vec<String>,
    cols: &'a CsColumns<'a>,
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

impl Source for Batches<'_> {
    fn scan(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        let cols = self.cols;
        let mut failure = None;
        self.scan
            .scan(&self.columns, BATCH_ROWS, &mut |df| {
                let convert = || -> PolarsResult<_> {
                    Ok((
                        ids(&df, cols.unit)?,
                        numbers(&df, cols.time)?,
                        numbers(&df, cols.outcome)?,
                        numbers(&df, cols.cohort)?,
                        cols.cluster.map(|c| ids(&df, c)).transpose()?,
                    ))
                };
                let (unit, time, outcome, cohort, cluster) = convert().map_err(|e| e.to_string())?;
                let (unit_text, cluster_text) = (text(&unit), cluster.as_ref().map(text).unwrap_or_default());
                let chunk = Chunk {
                    unit: as_ids(&unit, &unit_text),
                    time: &time,
                    outcome: &outcome,
                    cohort: &cohort,
                    cluster: cluster.as_ref().map(|c| as_ids(c, &cluster_text)),
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

/// The sufficient statistics of Callaway & Sant'Anna streamed from Parquet; `Ok(None)`
/// when the columns are not all there and numeric (identifiers may be text), for the
/// in-memory path to report or handle.
pub fn cs_statistics(path: &Path, cols: &CsColumns<'_>) -> Result<Option<Streamed>, AnalysisError> {
    let scan = ParquetScan::open(path).map_err(AnalysisError::Data)?;
    let schema = scan.schema();
    let numeric = |name: &str| schema.get(name).is_some_and(|t| t.is_primitive_numeric());
    let present = |name: &str| schema.get(name).is_some();
    if !(numeric(cols.time) && numeric(cols.outcome) && numeric(cols.cohort) && present(cols.unit))
        || cols.cluster.is_some_and(|c| !present(c))
    {
        return Ok(None);
    }
    let mut columns: Vec<String> = [cols.unit, cols.time, cols.outcome, cols.cohort].map(String::from).to_vec();
    columns.extend(cols.cluster.map(String::from));
    columns.dedup();
    let mut source = Batches { scan, columns, cols };
    stream::sufficient_statistics(&mut source, &Names { time: cols.time, cohort: cols.cohort }, CROSS_MEMORY).map(Some)
}
