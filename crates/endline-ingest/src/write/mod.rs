//! The outputs of `endline ingest` (docs/cli.md): typed Parquet per table, PII side
//! tables, re-ingestible rejects, and `ingest.json`. A [`Writer`] takes checked batches
//! one after another (each table's Parquet file gets a row group per batch) into a fresh
//! directory that then replaces the output directory in one rename, so a reader never
//! sees half an ingest and a failed one leaves the previous outputs in place.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use endline_survey::expr::{Ty, Value};

use endline_survey::{Item, QuestionType, Survey};
use polars::io::parquet::write::{BatchedWriter, KeyValueMetadata, get_encodings};
use polars::prelude::*;
use polars_arrow::array::{DictionaryArray, MutableUtf8Array, PrimitiveArray, Utf8Array, new_empty_array};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::datatypes::IntegerType;
use polars_parquet::parquet::CowBuffer;
use polars_parquet::parquet::compression::Compression;
use polars_parquet::parquet::metadata::KeyValue;
use polars_parquet::parquet::page::{CompressedDataPage, CompressedDictPage, DataPageHeader};
use polars_parquet::write::{
    CompressedPage, Encoding, FileWriter, Page, ParquetType, StatisticsOptions, Version, WriteOptions, compress,
    to_parquet_schema,
};
use serde::Serialize;

use endline_output::OutDir;

use crate::append::{BatchCounts, BatchSummary, Prior};
use crate::error::IngestError;
use crate::hash::FnvMap;
use crate::ingest::{Ingested, Options, TableData};
use crate::issues::IssueLog;
use crate::model::{Issue, IssueCount, OnError, TableCounts};
use crate::nested::leaf_pages;
use crate::pii::Pseudonyms;
use crate::rejects::Rejects;

mod columns;
mod parquet;

use columns::*;
use parquet::*;
pub(crate) use parquet::{COMPAT, write_options};

#[derive(Serialize)]
struct Summary<'a> {
    survey: &'a str,
    version: &'a str,
    wave: &'a str,
    on_error: OnError,
    tables: serde_json::Map<String, serde_json::Value>,
    /// How many issues there are in all (every one is in `issues.csv`).
    issues_total: usize,
    /// Counts by table, column, rule and severity.
    issue_counts: &'a [IssueCount],
    /// The first [`crate::issues::REPORTED`] issues, in report order.
    issues: &'a [Issue],
    /// The wave's batches: the first ingest, then each `--append`.
    batches: &'a [BatchSummary],
}

/// The column of a top-level PII side table that holds a personal survey key in clear,
/// beside its pseudonym (which every table, this one included, has under the key's name).
pub const CLEAR_KEY: &str = "_key_clear";

/// What is done with personal data.
struct Personal {
    /// Pseudonyms of a personal survey key.
    pseudonyms: Option<Pseudonyms>,
    /// Whether the PII side files are written.
    write: bool,
}

/// Rows per Parquet row group (polars' default).
const ROW_GROUP: usize = 512 * 512;

/// One table's outputs, open while batches come.
struct TableOut {
    name: String,
    /// The labels the table's files carry ([`LABELS_KEY`]).
    labels: String,
    main: Option<Parquet>,
    pii: Option<Parquet>,
    /// The first error of the Parquet files' last flush (see [`Buffered`]).
    failed: Failed,
    /// Its rejected records.
    rejects: Rejects,
    counts: TableCounts,
    /// What became of this run's new records (not those of earlier batches).
    batch: BatchCounts,
}

/// What an ingest wrote: counts per table, and its issues as `ingest.json` has them
/// (file-level first, then by table, file, row, column and rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Counts per table, top level first; always `rows_in = rows_written + rows_rejected`.
    pub counts: Vec<(String, TableCounts)>,
    /// The first [`crate::issues::REPORTED`] issues in report order (all of them are in
    /// `issues.csv`).
    pub issues: Vec<Issue>,
    /// Issues counted by table, column, rule and severity.
    pub issue_counts: Vec<IssueCount>,
    /// How many issues there are in all.
    pub issues_total: usize,
    /// This run's batch: its inputs, and what became of its records.
    pub batch: BatchSummary,
}

/// Writes checked batches into the staging folder of an [`OutDir`] claimed for the
/// output, and moves it into place on [`Writer::finish`]. Dropped unfinished, the claim
/// removes what it wrote and the output is as it was.
pub struct Writer<'s> {
    survey: &'s Survey,
    wave: String,
    on_error: OnError,
    personal: Personal,
    /// Taken by [`Writer::finish`] to commit; dropped (removing the staging folder) with
    /// an unfinished writer, after its files are closed.
    out: Option<OutDir>,
    staging: PathBuf,
    tables: Vec<TableOut>,
    issues: IssueLog,
    /// The wave this run appends to.
    prior: Option<Arc<Prior>>,
    /// This run's inputs, as named (not the earlier batches' records).
    inputs: Vec<String>,
    /// Columns the tables are partitioned by (none: one file a table).
    partition_by: Vec<String>,
}

fn io_err(what: &Path) -> impl Fn(std::io::Error) -> IngestError + '_ {
    move |e| IngestError::Io(format!("cannot write {}: {e}", what.display()))
}

fn polars_err(what: &Path) -> impl Fn(PolarsError) -> IngestError + '_ {
    move |e| IngestError::Io(format!("cannot write {}: {e}", what.display()))
}

impl<'s> Writer<'s> {
    /// Prepares to write the tables of `tables` (from a [`crate::ingest::Layout`] or an
    /// [`Ingested`]) into the output `out` claims.
    pub fn create(
        survey: &'s Survey,
        tables: &[TableData<'_>],
        opts: &Options,
        out: OutDir,
    ) -> Result<Self, IngestError> {
        if survey.key_is_pii() && opts.pseudonyms.is_none() {
            return Err(IngestError::Usage(format!(
                "the survey key `{}` is personal data (pii: true), so it is replaced by a pseudonym in every table \
                 but the PII side tables: give --pii-secret FILE (created with a new random secret if it does not \
                 exist; keep it apart from the data, and use the same file for every wave so that a household \
                 keeps its pseudonym)",
                survey.key()
            )));
        }
        let staging = out.staging().to_path_buf();
        let inputs =
            tables.iter().flat_map(|t| t.files.iter().filter(|f| !f.prior).map(|f| f.display.clone())).collect();
        let book = endline_survey::codebook::build(survey);
        let tables = tables
            .iter()
            .map(|t| TableOut {
                name: t.name.clone(),
                labels: crate::labels::document(survey, &book, &t.name),
                main: None,
                pii: None,
                rejects: Rejects::new(t),
                counts: TableCounts::default(),
                batch: BatchCounts::default(),
                failed: Failed::default(),
            })
            .collect();
        Ok(Writer {
            survey,
            wave: opts.wave.clone(),
            on_error: opts.on_error,
            personal: Personal { pseudonyms: opts.pseudonyms.clone(), write: opts.personal_data },
            out: Some(out),
            issues: IssueLog::new(staging.join(".issue-runs")),
            staging,
            tables,
            prior: opts.prior.clone(),
            inputs,
            partition_by: opts.partition_by.clone(),
        })
    }

    /// Starts the output again from nothing (the same claim, its staging emptied).
    pub fn restart(mut self, tables: &[TableData<'_>]) -> Result<Self, IngestError> {
        self.close();
        let out = self.out.take().ok_or_else(|| IngestError::Io("the output was already committed".into()))?;
        out.clear()?;
        let opts = Options {
            wave: self.wave.clone(),
            on_error: self.on_error,
            pseudonyms: self.personal.pseudonyms.clone(),
            personal_data: self.personal.write,
            prior: self.prior.clone(),
            partition_by: self.partition_by.clone(),
            ..Options::default()
        };
        Writer::create(self.survey, tables, &opts, out)
    }

    /// Closes every open file (before the staging folder is moved or removed).
    fn close(&mut self) {
        for t in &mut self.tables {
            t.main = None;
            t.pii = None;
            t.rejects.close();
        }
    }

    /// A scratch directory inside the staging directory (removed with it).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }

    /// Writes one checked batch; returns its number of records with an error. Each
    /// table's files are written as a task of their own (they are separate files), so
    /// that building and encoding one table's columns overlaps another's. The tasks run
    /// on rayon's pool, whose threads outlive the batch: a thread started per batch began
    /// with an empty heap each time, and a fifth more page faults.
    pub fn add(&mut self, data: &Ingested<'_>) -> Result<usize, IngestError> {
        let keep_all = self.on_error != OnError::Reject;
        let (survey, wave, dir, personal) = (self.survey, self.wave.as_str(), self.staging.as_path(), &self.personal);
        let mut results: Vec<Result<usize, IngestError>> = data.tables.iter().map(|_| Ok(0)).collect();
        rayon::scope(|scope| {
            for ((t, out), result) in data.tables.iter().zip(&mut self.tables).zip(&mut results) {
                scope.spawn(move |_| *result = add_table(survey, wave, dir, t, out, keep_all, personal));
            }
        });
        let mut errors = 0;
        for r in results {
            errors += r?;
        }
        let issues = data.tables.iter().flat_map(|t| t.rows.iter().flat_map(|r| r.issues().iter().cloned()));
        let batch: Vec<Issue> = match &self.personal.pseudonyms {
            // The key as the analysis tables have it.
            Some(p) => issues
                .map(|mut i| {
                    i.key = i.key.map(|k| p.of(&k));
                    i
                })
                .collect(),
            None => issues.collect(),
        };
        self.issues.add(batch).map_err(|e| IngestError::Io(format!("cannot write the issues: {e}")))?;
        Ok(errors)
    }

    /// Writes `ingest.json`, closes every file and moves the staging directory into
    /// place (replacing a previous ingest). `file_issues` are the unknown and missing
    /// columns.
    pub fn finish(mut self, file_issues: &[Issue]) -> Result<Report, IngestError> {
        if let Some(prior) = &self.prior {
            let carried = prior.carried_issues()?;
            self.issues.add(carried).map_err(|e| IngestError::Io(format!("cannot write the issues: {e}")))?;
        }
        let logged = self
            .issues
            .finish(file_issues, &self.staging.join("issues.csv"))
            .map_err(|e| IngestError::Io(format!("cannot write issues.csv: {e}")))?;
        let mut tables = serde_json::Map::new();
        for t in &mut self.tables {
            for (w, file) in [(&mut t.main, "parquet"), (&mut t.pii, "pii.parquet")] {
                if let Some(w) = w {
                    w.writer.finish().map_err(polars_err(&self.staging.join(format!("{}.{file}", t.name))))?;
                }
            }
            t.rejects.finish(&self.staging.join("rejects"))?;
            if let Some(prior) = &self.prior {
                // The wave's counts: every batch's records, rows_in = written + rejected.
                let before = prior.counts(&t.name);
                t.counts.rows_in = before.rows_in + t.batch.records;
                t.counts.rows_rejected += before.rows_rejected;
            }
            tables.insert(t.name.clone(), serde_json::to_value(t.counts).unwrap_or_default());
        }
        if let Some(prior) = &self.prior {
            prior.merge_rejects(&self.staging)?;
        }
        let earlier = self.prior.as_ref().map_or(&[][..], |p| p.batches());
        let (corrected, corrections) = self.prior.as_ref().map_or((0, None), |p| p.corrected());
        let batch = BatchSummary {
            batch: earlier.len() + 1,
            inputs: self.inputs.clone(),
            tables: self.tables.iter().map(|t| (t.name.clone(), t.batch)).collect(),
            corrections: corrections.map(str::to_string),
            corrected,
        };
        if let Some(prior) = &self.prior {
            prior.write_audit(&self.staging, batch.batch)?;
        }
        let batches: Vec<BatchSummary> = earlier.iter().cloned().chain([batch.clone()]).collect();
        let summary = Summary {
            survey: self.survey.id(),
            version: self.survey.version(),
            wave: &self.wave,
            on_error: self.on_error,
            tables,
            issues_total: logged.total,
            issue_counts: &logged.counts,
            issues: &logged.first,
            batches: &batches,
        };
        let json = serde_json::to_string_pretty(&summary).map_err(|e| IngestError::Io(e.to_string()))?;
        let path = self.staging.join("ingest.json");
        std::fs::write(&path, json + "\n").map_err(io_err(&path))?;
        // Close the Parquet files before the rename.
        let counts = self.tables.iter().map(|t| (t.name.clone(), t.counts)).collect();
        for t in &mut self.tables {
            t.main = None;
            t.pii = None;
            if let Some(e) = t.failed.lock().ok().and_then(|mut f| f.take()) {
                return Err(IngestError::Io(format!("cannot write {}: {e}", self.staging.join(&t.name).display())));
            }
            if !self.partition_by.is_empty() {
                crate::hive::split_table(&self.staging, &t.name, &self.wave, &self.partition_by, Some(&t.labels))
                    .map_err(IngestError::Io)?;
            }
        }
        self.out.take().ok_or_else(|| IngestError::Io("the output was already committed".into()))?.commit()?;
        Ok(Report { counts, issues: logged.first, issue_counts: logged.counts, issues_total: logged.total, batch })
    }
}

/// Writes one table of a checked batch into `out`'s files; returns its number of
/// records with an error.
fn add_table(
    survey: &Survey,
    wave: &str,
    dir: &Path,
    t: &TableData<'_>,
    out: &mut TableOut,
    keep_all: bool,
    personal: &Personal,
) -> Result<usize, IngestError> {
    // Most rows are good: their vector is made as long as the table at once.
    let (mut good, mut bad) = (Vec::with_capacity(t.rows.len()), Vec::new());
    for (r, row) in t.rows.iter().enumerate() {
        if row.has_error() { bad.push(r) } else { good.push(r) }
    }
    let errors = bad.len();
    let (rows, rejected) = if keep_all { ((0..t.rows.len()).collect(), Vec::new()) } else { (good, bad) };
    // A row group's columns are built for it alone: a dictionary holds only its own row
    // group's values, as polars' would. (An empty table still gets its files.)
    let groups: Vec<&[usize]> = if rows.is_empty() { vec![&[]] } else { rows.chunks(ROW_GROUP).collect() };
    for group in groups {
        let (main, pii) = columns(survey, wave, t, group, keep_all, personal.pseudonyms.as_ref())
            .map_err(|e| IngestError::Io(format!("cannot build table {}: {e}", t.name)))?;
        append(&mut out.main, &out.failed, &dir.join(format!("{}.parquet", t.name)), main, &out.labels)?;
        if !pii.is_empty() && personal.write {
            append(&mut out.pii, &out.failed, &dir.join(format!("{}.pii.parquet", t.name)), pii, &out.labels)?;
        }
    }
    if !rejected.is_empty() {
        out.rejects.write(t, &rejected, &dir.join("rejects"), personal.write)?;
    }
    out.counts.rows_in += t.rows.len();
    out.counts.rows_written += rows.len();
    out.counts.rows_rejected += rejected.len();
    let earlier = |r: &usize| t.files[t.rows[*r].file].prior;
    let new_in = t.rows.iter().filter(|row| !t.files[row.file].prior).count();
    let earlier_rejected = rejected.iter().filter(|r| earlier(r)).count();
    out.batch.records += new_in;
    out.batch.rejected += rejected.len() - earlier_rejected;
    out.batch.written += new_in - (rejected.len() - earlier_rejected);
    out.batch.earlier_rejected += earlier_rejected;
    Ok(errors)
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Files closed before the claim, dropped after this, removes the staging folder.
        self.close();
    }
}

/// Writes every output of one in-memory ingest into `out`, replacing a previous ingest
/// there atomically (see [`Writer`] and [`OutDir::claim`]).
pub fn write_outputs(data: &Ingested<'_>, out: &Path) -> Result<Vec<(String, TableCounts)>, IngestError> {
    let out = OutDir::claim(out, endline_output::Kind::Ingest, None, &[])?;
    let opts = Options { wave: data.wave.clone(), on_error: data.on_error, ..Options::default() };
    let mut writer = Writer::create(data.survey, &data.tables, &opts, out)?;
    writer.add(data)?;
    Ok(writer.finish(&data.file_issues)?.counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes the `height` rows of the columns `columns` builds for a range of rows
    /// through [`Parquet`], in row groups of `group` rows (each built for it alone, as
    /// ingest builds them), and reads the file back.
    fn round_trip(columns: impl Fn(std::ops::Range<usize>) -> Vec<Out>, height: usize, group: usize) -> DataFrame {
        let dir = std::env::temp_dir().join(format!("endline-write-{}-{group}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("t.parquet");
        let failed = Failed::default();
        let mut w = Parquet::create(&path, &failed, &columns(0..0), "{}").unwrap_or_else(|e| panic!("{e}"));
        for at in (0..height).step_by(group) {
            w.row_group(&columns(at..(at + group).min(height))).unwrap_or_else(|e| panic!("{e}"));
        }
        w.writer.finish().unwrap_or_else(|e| panic!("{e}"));
        drop(w);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let df = ParquetReader::new(file).finish().unwrap_or_else(|e| panic!("{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        df
    }

    /// Columns as ingest writes them, compressed with the file's one zstd context, make
    /// the very bytes polars' own writer makes of them, whole or cut into row groups:
    /// integers through `int_column` (a dictionary, plain, or left to polars); decimals
    /// left to polars; text through `text_runs` (a few values with nulls as a
    /// dictionary, identifiers plain: polars' decisions here); and the nested
    /// columns whose levels are computed here (a point with missing points and missing
    /// parts; lists of text and of integers, missing and empty ones among them; a list
    /// long enough to take several pages).
    #[test]
    fn row_groups_are_polars_own() {
        let n = 5000;
        let columns = || -> Vec<Series> {
            let part = |name: &str, k: usize| {
                let values: Vec<Option<f64>> =
                    (0..n).map(|i| (i % 4 != k).then_some(i as f64 * 0.25 + k as f64)).collect();
                Series::new(name.into(), values)
            };
            let fields = [part("lat", 9), part("lon", 9), part("alt", 2), part("acc", 3)];
            let point = StructChunked::from_series("gps".into(), n, fields.iter()).unwrap_or_else(|e| panic!("{e}"));
            let present: BooleanChunked = (0..n).map(|i| i % 11 != 5).collect();
            let missing = Series::full_null("".into(), n, point.dtype());
            let point = point.into_series().zip_with(&present, &missing).unwrap_or_else(|e| panic!("{e}"));
            let mut crops = ListStringChunkedBuilder::new("crops".into(), n, 0);
            let mut codes = ListPrimitiveChunkedBuilder::<Int64Type>::new("codes".into(), n, 0, DataType::Int64);
            let mut long = ListStringChunkedBuilder::new("long".into(), n, 0);
            // No value at all: lists only missing or empty, points only missing.
            let mut none = ListStringChunkedBuilder::new("none".into(), n, 0);
            let nowhere = Series::full_null("nowhere".into(), n, point.dtype());
            let words = ["rice", "tea", "maize", "walnut"];
            for i in 0..n {
                match i % 2 {
                    0 => none.append_null(),
                    _ => none.append_values_iter(std::iter::empty()),
                }
                match i % 6 {
                    0 => crops.append_null(),
                    1 => crops.append_values_iter(std::iter::empty()),
                    _ => crops.append_values_iter(words.iter().copied().take(i % 5)),
                }
                match i % 7 {
                    3 => codes.append_null(),
                    _ => codes.append_values_iter((0..(i % 4) as i64).map(|c| c * 10 + i as i64 % 3)),
                }
                let text = format!("{i:0>300}");
                long.append_values_iter([text.as_str(), text.as_str()].into_iter().take(i % 3));
            }
            vec![
                Series::new(
                    "i".into(),
                    (0..n).map(|i| (i % 7 != 0).then_some(i as i64 * 37 % 1000)).collect::<Vec<_>>(),
                ),
                // Integers over a span too wide for polars' dictionary shortcut; and many
                // distinct ones (plain as a whole, a dictionary in row groups of 1700).
                Series::new(
                    "wide".into(),
                    (0..n).map(|i| (i % 9 != 0).then_some(i as i64 * 100_003 % 7_000_000)).collect::<Vec<_>>(),
                ),
                Series::new("many".into(), (0..n as i64).collect::<Vec<_>>()),
                Series::new("d".into(), (0..n).map(|i| (i % 5 != 0).then_some(i as f64 / 3.0)).collect::<Vec<_>>()),
                str_col("t", (0..n).map(|i| (i % 3 != 0).then_some(["a", "bb", "ccc"][i % 3]))),
                str_col(
                    "k",
                    (0..n).map(|i| Some(format!("uuid:{i:08}"))).collect::<Vec<_>>().iter().map(Option::as_deref),
                ),
                point,
                crops.finish().into_series(),
                codes.finish().into_series(),
                long.finish().into_series(),
                none.finish().into_series(),
                nowhere,
            ]
        };
        let dir = std::env::temp_dir().join(format!("endline-polars-own-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{e}"));
        // Text goes through text_runs, as ingest writes it: the same decision and bytes.
        let out = |s: Series| match (s.str(), s.i64()) {
            (Ok(text), _) => {
                let values: Vec<Option<&str>> = text.iter().collect();
                Out::text_runs(s.name(), values.iter().copied(), s.len()).unwrap_or_else(|e| panic!("{e}"))
            }
            (_, Ok(ints)) => {
                let mut g = Gather::with_capacity(s.len());
                ints.iter().for_each(|v| g.push(v));
                int_column(s.name(), g)
            }
            _ => Out::series(s),
        };
        let mut differ = Vec::new();
        for group in [n, 1700] {
            // Each row group's columns built for it alone, as add_table builds them.
            let outs = |at: usize| -> Vec<Out> {
                columns().into_iter().map(|s| out(s.slice(at as i64, group.min(n - at)))).collect()
            };
            let ours = dir.join("ours.parquet");
            let failed = Failed::default();
            let mut w = Parquet::create(&ours, &failed, &outs(0), "{}").unwrap_or_else(|e| panic!("{e}"));
            for at in (0..n).step_by(group) {
                w.row_group(&outs(at)).unwrap_or_else(|e| panic!("{e}"));
            }
            w.writer.finish().unwrap_or_else(|e| panic!("{e}"));
            drop(w);
            let theirs = dir.join("theirs.parquet");
            let df =
                DataFrame::new(n, columns().into_iter().map(Column::from).collect()).unwrap_or_else(|e| panic!("{e}"));
            // polars-parquet's own encoding of the frame at the compatibility level
            // ingest stores ([`COMPAT`]), as `table::parquet_bytes` writes frames.
            let bytes = crate::table::parquet_bytes(&df, group, Some("{}")).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(&theirs, bytes).unwrap_or_else(|e| panic!("{e}"));
            if read(&ours) != read(&theirs) {
                differ.push(group);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(differ.is_empty(), "the files differ in row groups of {differ:?}");
    }

    /// Text encoded here (constants, runs with nulls, values mostly distinct) reads back
    /// as the values given, whole or cut into row groups, and is typed as text.
    #[test]
    fn text_encoded_here_reads_back() {
        let runs: Vec<Option<String>> =
            (0..300).map(|i| (i % 7 != 3).then(|| format!("uuid:{:08}", i / 4 + (i % 5 == 0) as usize))).collect();
        let distinct: Vec<Option<String>> = (0..300).map(|i| Some(format!("k{i}"))).collect();
        let cols = |rows: std::ops::Range<usize>| -> Vec<Out> {
            let n = rows.len();
            let (runs, distinct) = (&runs[rows.clone()], &distinct[rows.clone()]);
            vec![
                Out::constant("c", "wave 1", n).unwrap_or_else(|e| panic!("{e}")),
                Out::text_runs("r", runs.iter().map(|v| v.as_deref()), n).unwrap_or_else(|e| panic!("{e}")),
                Out::text_runs("d", distinct.iter().map(|v| v.as_deref()), n).unwrap_or_else(|e| panic!("{e}")),
                Out::plain(str_col("p", distinct.iter().map(|v| v.as_deref()))),
                Out::series(Series::new("n".into(), (rows.start as i64..rows.end as i64).collect::<Vec<_>>())),
            ]
        };
        assert!(cols(0..300)[1].array.dtype().contains_dictionary(), "runs make a dictionary");
        assert!(
            !cols(0..300)[2].array.dtype().contains_dictionary(),
            "distinct values are written plain, as polars would"
        );
        for group in [300, 128, 7] {
            let df = round_trip(cols, 300, group);
            let text = |name: &str| -> Vec<Option<String>> {
                let c = df.column(name).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(c.dtype(), &DataType::String, "{name}");
                let s = c.str().unwrap_or_else(|e| panic!("{e}"));
                s.iter().map(|v| v.map(str::to_string)).collect()
            };
            assert_eq!(text("c"), vec![Some("wave 1".to_string()); 300]);
            assert_eq!(text("r"), runs);
            assert_eq!(text("d"), distinct);
            assert_eq!(text("p"), distinct);
            assert_eq!(df.height(), 300);
        }
    }

    /// The last flush happens when polars drops its writer: a failure then (here a full
    /// disk) is kept for `finish` to report, not lost.
    #[test]
    fn a_failed_last_flush_is_kept() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
        let failed = Failed::default();
        let mut file = Buffered { file: BufWriter::new(full), failed: failed.clone() };
        assert!(file.write_all(b"PAR1").is_ok(), "buffered, not yet written");
        drop(file);
        let kept = failed.lock().ok().and_then(|mut f| f.take());
        assert!(kept.is_some_and(|e| e.raw_os_error() == Some(28)), "ENOSPC is kept");
    }
}
