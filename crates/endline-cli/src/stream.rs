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
/// Bytes a streamed regression may hold its rows in (codes and values, about 25 bytes a
/// row): 1e8 rows fit, and are read from the file once instead of twice; 1e9 do not.
pub const HELD_ROWS_MEMORY: usize = 3 << 30;
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

/// An identifier column of one chunk, cast for reading.
enum Owned {
    Int(Int64Chunked),
    Text(StringChunked),
}

fn ids(df: &DataFrame, name: &str) -> PolarsResult<Owned> {
    let c = df.column(name)?;
    Ok(if c.dtype().is_integer() {
        Owned::Int(c.cast(&DataType::Int64)?.i64()?.clone())
    } else {
        Owned::Text(c.cast(&DataType::String)?.str()?.clone())
    })
}

/// What a view borrows from: missing-aware copies, made only when there are nulls.
enum Spilled<'a> {
    None,
    Ints(Vec<Option<i64>>),
    Texts(Vec<Option<&'a str>>),
}

fn spill(o: &Owned) -> Spilled<'_> {
    match o {
        Owned::Int(ca) if ca.cont_slice().is_ok() => Spilled::None,
        Owned::Int(ca) => Spilled::Ints(ca.iter().collect()),
        Owned::Text(s) => Spilled::Texts(s.iter().collect()),
    }
}

fn view<'a>(o: &'a Owned, s: &'a Spilled<'a>) -> Ids<'a> {
    match (o, s) {
        (_, Spilled::Ints(v)) => Ids::Int(v),
        (_, Spilled::Texts(v)) => Ids::Text(v),
        (Owned::Int(ca), Spilled::None) => Ids::Whole(ca.cont_slice().unwrap_or_default()),
        (Owned::Text(_), Spilled::None) => Ids::Text(&[]),
    }
}

/// A numeric column as f64, NaN where missing; without copying when there is nothing
/// to fill.
enum Numbers {
    Column(Float64Chunked),
    Filled(Vec<f64>),
}

fn numbers(df: &DataFrame, name: &str) -> PolarsResult<Numbers> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    let ca = c.f64()?.clone();
    Ok(if ca.cont_slice().is_ok() {
        Numbers::Column(ca)
    } else {
        Numbers::Filled(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    })
}

impl Numbers {
    fn slice(&self) -> &[f64] {
        match self {
            Numbers::Column(ca) => ca.cont_slice().unwrap_or_default(),
            Numbers::Filled(v) => v,
        }
    }
}

impl Source for Batches {
    fn scan(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        self.read(true, f)
    }

    fn known_ranges(&mut self) -> Option<(usize, Vec<(i64, i64)>)> {
        let ranges = self.ids.iter().map(|c| self.scan.int_range(c)).collect::<Option<Vec<_>>>()?;
        Some((self.scan.rows(), ranges))
    }

    fn scan_ids(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        self.read(false, f)
    }
}

impl Batches {
    fn read(
        &mut self,
        with_numbers: bool,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        let no_numbers = Vec::new();
        let (id_names, number_names) = (&self.ids, if with_numbers { &self.numbers } else { &no_numbers });
        let mut columns: Vec<String> = id_names.iter().chain(number_names).cloned().collect();
        columns.sort();
        columns.dedup();
        let mut failure = None;
        self.scan
            .scan(&columns, BATCH_ROWS, &mut |mut batch| {
                // One row group at a time: each column is then one contiguous array.
                for df in batch.split_chunks() {
                    let read = || -> PolarsResult<(Vec<Owned>, Vec<Numbers>)> {
                        Ok((
                            id_names.iter().map(|c| ids(&df, c)).collect::<PolarsResult<_>>()?,
                            number_names.iter().map(|c| numbers(&df, c)).collect::<PolarsResult<_>>()?,
                        ))
                    };
                    let (owned, nums) = read().map_err(|e| e.to_string())?;
                    let spilled: Vec<Spilled<'_>> = owned.iter().map(spill).collect();
                    let chunk = Chunk {
                        ids: owned.iter().zip(&spilled).map(|(o, s)| view(o, s)).collect(),
                        numbers: nums.iter().map(Numbers::slice).collect(),
                    };
                    match f(&chunk) {
                        Ok(true) => {}
                        Ok(false) => return Ok(false),
                        Err(e) => {
                            failure = Some(e);
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
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
