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

/// The column type an item is stored as.
fn kind(item: &Item) -> Ty {
    match item.question_type() {
        QuestionType::Integer => Ty::Int,
        QuestionType::Decimal => Ty::Dec,
        QuestionType::Date => Ty::Date,
        QuestionType::DateTime => Ty::DateTime,
        QuestionType::Geopoint => Ty::Geo,
        QuestionType::SelectOne | QuestionType::SelectMultiple => match item.value_type() {
            Ty::Select { .. } => item.value_type(),
            _ => Ty::Text,
        },
        QuestionType::Calculate => match item.value_type() {
            t @ (Ty::Int | Ty::Dec | Ty::Bool | Ty::Date) => t,
            _ => Ty::Text,
        },
        _ => Ty::Text,
    }
}

/// An item's value as stored in an Int64 column.
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Null => None,
        v => v.as_number().map(|f| f as i64),
    }
}

/// An item's value as stored in a Float64 column: [`Value::as_number`], its common
/// cases first (that function is in another crate, and is not inlined).
fn dec_of(v: &Value) -> Option<f64> {
    match v {
        Value::Dec(d) if d.is_finite() => Some(*d),
        Value::Null => None,
        v => v.as_number(),
    }
}

/// An item's text value, borrowed.
fn text_of(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

/// A numeric column being gathered: its values (0 where null) and, from the first
/// null on, which are valid; made into an arrow array without a vector of options in
/// between.
struct Gather<T> {
    values: Vec<T>,
    valid: Option<MutableBitmap>,
}

impl<T: polars_arrow::types::NativeType> Gather<T> {
    fn with_capacity(n: usize) -> Self {
        Gather { values: Vec::with_capacity(n), valid: None }
    }

    #[inline]
    fn push(&mut self, v: Option<T>) {
        match (v, &mut self.valid) {
            (Some(v), None) => self.values.push(v),
            (v, Some(bits)) => {
                bits.push(v.is_some());
                self.values.push(v.unwrap_or_default());
            }
            (None, None) => self.first_null(),
        }
    }

    /// The first null: from here on, which values are valid is kept.
    #[cold]
    fn first_null(&mut self) {
        let mut bits = MutableBitmap::with_capacity(self.values.capacity());
        bits.extend_constant(self.values.len(), true);
        bits.push(false);
        self.valid = Some(bits);
        self.values.push(T::default());
    }

    fn into_out(self, name: &str, dtype: DataType) -> Out {
        let array = PrimitiveArray::new(T::PRIMITIVE.into(), self.values.into(), self.valid.map(Into::into));
        Out { field: Field::new(name.into(), dtype), array: array.boxed(), encoding: None }
    }
}

/// An item's numbers, gathered for its column.
enum Numbers {
    Int(Gather<i64>),
    Dec(Gather<f64>),
}

impl Numbers {
    /// Room for `n` values of `item`, when it is stored as Int64 or Float64.
    fn of(item: &Item, n: usize) -> Option<Self> {
        match kind(item) {
            Ty::Int | Ty::Select { multi: false, int: true, .. } => Some(Numbers::Int(Gather::with_capacity(n))),
            Ty::Dec => Some(Numbers::Dec(Gather::with_capacity(n))),
            _ => None,
        }
    }

    fn into_out(self, name: &str) -> Out {
        match self {
            Numbers::Int(g) => int_column(name, g),
            Numbers::Dec(g) => g.into_out(name, DataType::Float64),
        }
    }
}

/// An Int64 column, encoded as polars' writer would decide
/// (`min_max_integer_encode_as_dictionary_optional`), but decided here from the gathered
/// values: when the values span at most 65,536 integers, a dictionary of the distinct
/// values in ascending order if there are at most 2,048 of them or fewer than three
/// quarters of the rows, else plain. polars finds the span with a kernel that visits
/// each present value through an iterator, then marks them, then maps them: 4% of an
/// ingest's instructions for the survey's integers and codes. Any other column (no
/// value present, a wider span) is left to polars, whose decision there differs.
fn int_column(name: &str, g: Gather<i64>) -> Out {
    let n = g.values.len();
    let valid: Option<Bitmap> = g.valid.map(Into::into);
    // Each present value (where a value is missing, the gathered 0 is not one).
    let present = |f: &mut dyn FnMut(i64)| match &valid {
        None => g.values.iter().for_each(|&v| f(v)),
        Some(b) => g.values.iter().zip(b.iter()).filter(|&(_, p)| p).for_each(|(&v, _)| f(v)),
    };
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    present(&mut |v| (lo, hi) = (lo.min(v), hi.max(v)));
    // The smallest value and the span's width: none when no value is present.
    let span = Some((lo, hi))
        .filter(|(lo, hi)| lo <= hi)
        .and_then(|(lo, hi)| Some((lo, usize::try_from(hi.checked_sub(lo)?).ok()?)))
        .filter(|&(_, width)| width <= usize::from(u16::MAX));
    let mut seen = vec![false; span.map_or(0, |(_, width)| width + 1)];
    if let Some((min, _)) = span {
        present(&mut |v| seen[(v - min) as usize] = true);
    }
    let field = Field::new(name.into(), DataType::Int64);
    let values = PrimitiveArray::new(ArrowDataType::Int64, g.values.into(), valid.clone());
    let Some((min, width)) = span else {
        return Out { field, array: values.boxed(), encoding: None };
    };
    let distinct = seen.iter().filter(|&&s| s).count();
    if distinct > 2048 && distinct as f64 / n as f64 >= 0.75 {
        return Out { field, array: values.boxed(), encoding: Some(Encoding::Plain) };
    }
    // Each value's place among the distinct values, by its offset from the smallest (a
    // missing value's 0 is clamped into the span; its key is never read).
    let mut place = vec![0u32; width + 1];
    let mut dictionary = Vec::with_capacity(distinct);
    for (o, _) in seen.iter().enumerate().filter(|&(_, &s)| s) {
        place[o] = dictionary.len() as u32;
        dictionary.push(min + o as i64);
    }
    let offset = |v: i64| (v.clamp(min, min + width as i64) - min) as usize;
    let keys: Vec<u32> = values.values().iter().map(|&v| place[offset(v)]).collect();
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), valid);
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Int64), false);
    match DictionaryArray::try_new(dtype, keys, PrimitiveArray::from_vec(dictionary).boxed()) {
        Ok(array) => Out { field, array: array.boxed(), encoding: Some(Encoding::RleDictionary) },
        Err(_) => Out { field, array: values.boxed(), encoding: None },
    }
}

/// What [`columns`] reads in one pass over the written rows, in order: values are stored
/// row by row, so reading one column down the rows would touch a new cache line (and
/// often a new page) for every value. Numbers (most columns) and metadata cells are
/// gathered here; other columns are read down the rows.
struct Gathered<'a> {
    /// For each item stored as Int64 or Float64: its values.
    numbers: Vec<Option<Numbers>>,
    /// Each metadata column's cells.
    meta: Vec<Vec<Option<&'a str>>>,
}

impl<'a> Gathered<'a> {
    fn of(t: &'a TableData<'_>, rows: &[usize]) -> Self {
        let n = rows.len();
        // Integers and decimals apart, so that the loop over rows does not ask which.
        let mut ints: Vec<(usize, Gather<i64>)> = Vec::new();
        let mut decs: Vec<(usize, Gather<f64>)> = Vec::new();
        for (c, item) in t.items.iter().enumerate() {
            match Numbers::of(item, n) {
                Some(Numbers::Int(g)) => ints.push((c, g)),
                Some(Numbers::Dec(g)) => decs.push((c, g)),
                None => {}
            }
        }
        let mut meta: Vec<Vec<Option<&str>>> = t.meta.iter().map(|_| Vec::with_capacity(n)).collect();
        for &r in rows {
            let values = t.row_values(r);
            for (c, g) in &mut ints {
                g.push(values.get(*c).and_then(int_of));
            }
            for (c, g) in &mut decs {
                g.push(values.get(*c).and_then(dec_of));
            }
            t.each_meta(&t.rows[r], |m, cell| meta[m].push(cell));
        }
        let mut numbers: Vec<Option<Numbers>> = t.items.iter().map(|_| None).collect();
        for (c, g) in ints {
            numbers[c] = Some(Numbers::Int(g));
        }
        for (c, g) in decs {
            numbers[c] = Some(Numbers::Dec(g));
        }
        Gathered { numbers, meta }
    }
}

/// A text column from each row's text or null.
fn str_col<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Series {
    StringChunked::from_iter_options(name.into(), values).into_series()
}

/// A column on its way to Parquet, with how it is encoded. polars chooses the encoding
/// of a text column by estimating its number of distinct values, then, when they are
/// few, by hashing every value to build a dictionary. Ingest encodes text itself:
/// constants, values all different (record identifiers) and anything else by counting
/// its runs and distinct values ([`Out::text_runs`]: a roster's parent key comes in
/// runs; missing reasons and text choices are a few codes), with the bytes polars writes
/// for the same decision. Row numbers (`_source_row`), which rise one by one, are
/// delta-encoded.
struct Out {
    field: Field,
    array: ArrayRef,
    /// `None`: polars' choice for the type.
    encoding: Option<Encoding>,
}

impl Out {
    /// A column encoded as polars chooses.
    fn series(s: Series) -> Self {
        Self::of(s, None)
    }

    /// Text known to be all different (each record's identifier): written plain, as
    /// polars would after its estimate (and a hash of every value).
    fn plain(s: Series) -> Self {
        Self::of(s, Some(Encoding::Plain))
    }

    fn of(s: Series, encoding: Option<Encoding>) -> Self {
        let s = s.rechunk();
        let array = match s.n_chunks() {
            0 => new_empty_array(s.dtype().to_arrow(COMPAT)),
            _ => s.to_arrow(0, COMPAT),
        };
        Out { field: s.field().into_owned(), array, encoding }
    }

    /// A text column of one value.
    fn constant(name: &str, value: &str, n: usize) -> PolarsResult<Self> {
        let mut values = MutableUtf8Array::<i64>::with_capacity(1);
        values.push(Some(value));
        let keys = PrimitiveArray::from_vec(vec![0u32; n]);
        Self::dictionary(name, keys, values)
    }

    /// A text column of few distinct values, or of runs of one value: encoded as a
    /// dictionary of the distinct values in order of appearance (as polars' own), each
    /// found by hashing only where a run ends. Plain, as polars would, when more than
    /// three quarters of more than 128 values are distinct (counted here, where polars
    /// estimates): found out as soon as they are, before any text is copied.
    fn text_runs<'a>(
        name: &str,
        values: impl Iterator<Item = Option<&'a str>> + Clone,
        n: usize,
    ) -> PolarsResult<Self> {
        // The runs of one value (or of nulls), in order: the same text is most often the
        // very same string (a roster's key is its household's), compared by address.
        let mut runs: Vec<(Option<&str>, usize)> = Vec::new();
        for v in values.clone() {
            match runs.last_mut() {
                Some((Some(l), count)) if v.is_some_and(|s| std::ptr::eq(*l, s) || *l == s) => *count += 1,
                Some((None, count)) if v.is_none() => *count += 1,
                _ => runs.push((v, 1)),
            }
        }
        let too_many = |distinct: usize| n > 128 && distinct as f64 / n as f64 > 0.75;
        // Each run starts at most one distinct value: the map is sized once.
        let mut index: FnvMap<&str, u32> = FnvMap::with_capacity_and_hasher(runs.len(), Default::default());
        let mut distinct: Vec<&str> = Vec::new();
        let mut run_keys: Vec<Option<u32>> = Vec::with_capacity(runs.len());
        for (v, _) in &runs {
            run_keys.push(v.map(|s| {
                *index.entry(s).or_insert_with(|| {
                    distinct.push(s);
                    (distinct.len() - 1) as u32
                })
            }));
            if too_many(distinct.len()) {
                return Ok(Self::of(str_col(name, values), Some(Encoding::Plain)));
            }
        }
        let mut keys: Vec<u32> = Vec::with_capacity(n);
        let mut valid: Option<MutableBitmap> = None;
        for ((_, count), key) in runs.iter().zip(run_keys) {
            if key.is_none() && valid.is_none() {
                let mut bits = MutableBitmap::with_capacity(n);
                bits.extend_constant(keys.len(), true);
                valid = Some(bits);
            }
            if let Some(bits) = &mut valid {
                bits.extend_constant(*count, key.is_some());
            }
            keys.extend(std::iter::repeat_n(key.unwrap_or(0), *count));
        }
        let mut dictionary = MutableUtf8Array::<i64>::with_capacity(distinct.len());
        distinct.into_iter().for_each(|s| dictionary.push(Some(s)));
        let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), valid.map(Into::into));
        Self::dictionary(name, keys, dictionary)
    }

    fn dictionary(name: &str, keys: PrimitiveArray<u32>, values: MutableUtf8Array<i64>) -> PolarsResult<Self> {
        let values: Utf8Array<i64> = values.into();
        let array = DictionaryArray::try_from_keys(keys, values.boxed(), false)?.boxed();
        Ok(Out { field: Field::new(name.into(), DataType::String), array, encoding: Some(Encoding::RleDictionary) })
    }
}

/// A numeric column from each row's value or null.
fn numeric<T: PolarsNumericType>(name: PlSmallStr, values: impl Iterator<Item = Option<T::Native>>) -> Series {
    let ca: ChunkedArray<T> = values.collect_ca(name);
    ca.into_series()
}

/// The column(s) of an item not stored as a number (numbers are [`Gathered`]), from its
/// value in each written row, each built in one pass (no vector of values in between),
/// with `encoding` (`None`: polars' choice).
fn series_of<'v, V>(name: &str, item: &Item, values: V, encoding: Option<Encoding>) -> PolarsResult<Vec<Out>>
where
    V: Iterator<Item = &'v Value> + ExactSizeIterator + Clone,
{
    let name_s: PlSmallStr = name.into();
    let n = values.len();
    let series = match kind(item) {
        Ty::Bool => vec![Series::new(
            name_s,
            values.map(|v| if v.is_null() { None } else { Some(v.truthy()) }).collect::<Vec<_>>(),
        )],
        Ty::Date => {
            let days = values.map(|v| match v {
                Value::Date(d) => i32::try_from((*d - chrono::NaiveDate::default()).num_days()).ok(),
                _ => None,
            });
            vec![numeric::<Int32Type>(name_s, days).cast(&DataType::Date)?]
        }
        Ty::DateTime => {
            let micros = values.clone().map(|v| match v {
                Value::DateTime(t) => Some(t.timestamp_micros()),
                _ => None,
            });
            let offsets = values.map(|v| match v {
                Value::DateTime(t) => Some(t.offset().local_minus_utc() / 60),
                _ => None,
            });
            vec![
                numeric::<Int64Type>(name_s, micros).cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
                numeric::<Int32Type>(format!("{name}_utc_offset_min").into(), offsets),
            ]
        }
        Ty::Geo => {
            let part = |k: usize, part: &str| {
                let coords = values.clone().map(|v| match v {
                    Value::Geo(g) if !g[k].is_nan() => Some(g[k]),
                    _ => None,
                });
                numeric::<Float64Type>(part.into(), coords)
            };
            let fields = [part(0, "lat"), part(1, "lon"), part(2, "alt"), part(3, "acc")];
            let mut s = StructChunked::from_series(name_s, n, fields.iter())?.into_series();
            // A missing point is a null struct, not a struct of nulls.
            let valid: BooleanChunked = values.map(|v| !v.is_null()).collect();
            s = s.zip_with(&valid, &Series::full_null("".into(), n, s.dtype()))?;
            vec![s]
        }
        Ty::Select { multi: true, int, .. } => {
            // Built in place (a Series per row would cost an allocation of its own each).
            // Typed even when every row is empty, so that every wave has the same schema.
            let list = if int {
                let mut b = ListPrimitiveChunkedBuilder::<Int64Type>::new(name_s, n, 0, DataType::Int64);
                for v in values {
                    match v {
                        Value::Multi(items) => b.append_values_iter(items.iter().filter_map(|s| s.parse::<i64>().ok())),
                        _ => b.append_null(),
                    }
                }
                b.finish()
            } else {
                let mut b = ListStringChunkedBuilder::new(name_s, n, 0);
                for v in values {
                    match v {
                        Value::Multi(items) => b.append_values_iter(items.iter().map(String::as_str)),
                        _ => b.append_null(),
                    }
                }
                b.finish()
            };
            vec![list.into_series()]
        }
        _ => {
            // Text is borrowed; only other values stored as text are formatted.
            let texts = values.map(|v| match v {
                Value::Null => None,
                Value::Text(s) => Some(Cow::Borrowed(s.as_str())),
                v => Some(Cow::Owned(v.as_text())),
            });
            vec![StringChunked::from_iter_options(name_s, texts).into_series()]
        }
    };
    Ok(series.into_iter().map(|s| Out::of(s, encoding)).collect())
}

/// Where a [`Buffered`] file keeps the error of its last flush.
type Failed = Arc<Mutex<Option<std::io::Error>>>;

/// A Parquet file written through a buffer: polars writes page headers and the footer a
/// few bytes at a time, each a system call without one. polars keeps its writer until it
/// is dropped, so the last flush is done then, and its error kept in `failed` for
/// [`Writer::finish`] to report.
struct Buffered {
    file: BufWriter<File>,
    failed: Failed,
}

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        if let Err(e) = self.file.flush()
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert(e);
        }
    }
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

/// Whether a metadata column holds the record's own identifier (all different, written
/// plain), by its name. Other metadata (links to a parent row, in runs; submission times;
/// anything else) is written as [`Out::text_runs`] decides.
fn is_identifier(name: &str) -> bool {
    matches!(name.rsplit(['-', '/']).next().unwrap_or(name), "KEY" | "instanceID" | "_index" | "_uuid" | "_id")
}

/// The columns of a table's written rows: the main file's, and the PII side table's.
fn columns(
    survey: &Survey,
    wave: &str,
    t: &TableData<'_>,
    rows: &[usize],
    keep_all: bool,
    pseudonyms: Option<&Pseudonyms>,
) -> PolarsResult<(Vec<Out>, Vec<Out>)> {
    let n = rows.len();
    let file_of = |r: usize| t.files.get(t.rows[r].file).map(|f| f.display.as_str());
    let key_of = |r: usize| t.rows[r].key.as_deref();
    // The key as every table but the PII side tables holds it: its pseudonym when the key
    // is personal data.
    let shown_keys: Option<Vec<Option<String>>> =
        pseudonyms.map(|p| rows.iter().map(|&r| key_of(r).map(|k| p.of(k))).collect());
    let shown_key = |i: usize| match &shown_keys {
        Some(keys) => keys[i].as_deref(),
        None => key_of(rows[i]),
    };
    let provenance = |cols: &mut Vec<Out>| -> PolarsResult<()> {
        cols.push(Out::text_runs("_source_file", rows.iter().map(|&r| file_of(r)), n)?);
        // Row numbers rise one by one: delta-encoded, they take a few bits a page.
        let numbers = PrimitiveArray::from_vec(rows.iter().map(|&r| t.rows[r].row as i64).collect());
        let field = Field::new("_source_row".into(), DataType::Int64);
        cols.push(Out { field, array: numbers.boxed(), encoding: Some(Encoding::DeltaBinaryPacked) });
        Ok(())
    };
    let mut cols = vec![Out::constant("_wave", wave, n)?, Out::constant("_survey_version", survey.version(), n)?];
    provenance(&mut cols)?;
    if t.parent.is_some() {
        // A roster's copy of its household's key: runs of one value.
        cols.push(Out::text_runs(survey.key(), (0..n).map(shown_key), n)?);
    }
    let mut gathered = Gathered::of(t, rows);
    let mut pii: Vec<Out> = Vec::new();
    for (m, (name, cells)) in t.meta.iter().zip(std::mem::take(&mut gathered.meta)).enumerate() {
        let out = if is_identifier(name) {
            Out::plain(str_col(name, cells.into_iter()))
        } else {
            Out::text_runs(name, cells.into_iter(), n)?
        };
        // Metadata that identify people or devices go with the personal data.
        if t.is_pii_meta(m) { pii.push(out) } else { cols.push(out) }
    }
    for (c, item) in t.items.iter().enumerate() {
        let values = || rows.iter().map(|&r| t.value(r, c));
        if t.parent.is_none() && item.name() == survey.key() && pseudonyms.is_some() {
            // A personal key: its pseudonym here, the key itself only beside it in the
            // PII side table (the one place the mapping lives).
            cols.push(Out::plain(str_col(item.name(), (0..n).map(shown_key))));
            pii.push(Out::plain(str_col(CLEAR_KEY, rows.iter().map(|&r| key_of(r)))));
            continue;
        }
        let out = match gathered.numbers[c].take() {
            Some(numbers) => vec![numbers.into_out(item.name())],
            // The survey key at the top level: one per record.
            None if t.parent.is_none() && item.name() == survey.key() && kind(item) == Ty::Text => {
                series_of(item.name(), item, values(), Some(Encoding::Plain))?
            }
            // Text choices (a few codes) and other text: a dictionary or plain, decided by
            // counting distinct values where polars would estimate their number.
            None if matches!(kind(item), Ty::Select { multi: false, .. } | Ty::Text)
                && values().all(|v| matches!(v, Value::Text(_) | Value::Null)) =>
            {
                vec![Out::text_runs(item.name(), values().map(text_of), n)?]
            }
            None => series_of(item.name(), item, values(), None)?,
        };
        let target = if item.is_pii() { &mut pii } else { &mut cols };
        target.extend(out);
        if !item.missing().is_empty() {
            // One of the item's missing codes, or null.
            target.push(Out::text_runs(
                &format!("{}_missing", item.name()),
                rows.iter().map(|&r| t.rows[r].missing(c)),
                n,
            )?);
        }
    }
    if keep_all {
        cols.push(Out::series(Series::new(
            "_valid".into(),
            rows.iter().map(|&r| !t.rows[r].has_error()).collect::<Vec<_>>(),
        )));
        let issues = |r: usize| {
            let s = t.rows[r].issues().iter().map(|i| format!("{}:{}", i.rule, i.column)).collect::<Vec<_>>();
            Some(s.join("; ")).filter(|s| !s.is_empty())
        };
        cols.push(Out::series(Series::new("_issues".into(), rows.iter().map(|&r| issues(r)).collect::<Vec<_>>())));
    }
    if !pii.is_empty() {
        let keys = (0..n).map(shown_key);
        let key = if t.parent.is_none() {
            Out::plain(str_col(survey.key(), keys))
        } else {
            Out::text_runs(survey.key(), keys, n)?
        };
        let mut keyed = vec![key];
        provenance(&mut keyed)?;
        keyed.extend(pii);
        pii = keyed;
    }
    Ok((cols, pii))
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // Files closed before the claim, dropped after this, removes the staging folder.
        self.close();
    }
}

/// An open Parquet file: polars' writer (the schema, the footer and its metadata), and
/// what encoding a row group needs.
struct Parquet {
    writer: BatchedWriter<Buffered>,
    /// Each column's Parquet type.
    types: Vec<ParquetType>,
    /// The encodings polars chooses for each column's leaves.
    encodings: Vec<Vec<Encoding>>,
    /// One zstd context for every page of the file.
    zstd: Zstd,
}

/// Compresses pages as polars-parquet does (zstd at [`ZSTD_LEVEL`], the same library),
/// with one context kept for every page: polars makes a context for each page and
/// zero-fills each page's output buffer first, both costs of their own at scale.
struct Zstd(zstd::bulk::Compressor<'static>);

/// The zstd level of every page: the fastest.
const ZSTD_LEVEL: i32 = 1;

impl Zstd {
    fn new() -> std::io::Result<Self> {
        zstd::bulk::Compressor::new(ZSTD_LEVEL).map(Zstd)
    }

    fn compress(&mut self, input: &[u8]) -> PolarsResult<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(input.len()));
        self.0.compress_to_buffer(input, &mut out)?;
        Ok(out)
    }

    /// A page compressed as `polars_parquet::write::compress` compresses it (version 1
    /// data pages and dictionary pages; anything else is left to it).
    fn page(&mut self, page: Page) -> PolarsResult<CompressedPage> {
        Ok(match page {
            Page::Data(data) if matches!(data.header(), DataPageHeader::V1(_)) => {
                let out = self.compress(data.buffer())?;
                let rows = data.num_rows.ok_or_else(|| polars_err!(ComputeError: "a data page without its rows"))?;
                CompressedPage::Data(CompressedDataPage::new(
                    data.header().clone(),
                    CowBuffer::Owned(out),
                    Compression::Zstd,
                    data.buffer().len(),
                    data.descriptor.clone(),
                    rows,
                ))
            }
            Page::Dict(dict) => {
                let out = self.compress(&dict.buffer)?;
                let size = dict.buffer.len();
                CompressedPage::Dict(CompressedDictPage::new(
                    CowBuffer::Owned(out),
                    Compression::Zstd,
                    size,
                    dict.num_values,
                    dict.is_sorted,
                ))
            }
            other => compress(other, Vec::new(), write_options().compression)?,
        })
    }
}

/// The Arrow types written: the classic ones (`large_string`, `large_list`), which pandas,
/// pyarrow, DuckDB, R arrow and polars all open. polars' newest (`string_view`) makes
/// pandas fail on any list of text (issue #19).
pub(crate) const COMPAT: CompatLevel = CompatLevel::oldest();

/// The compression of every page, as polars' writer is told.
fn compression() -> ParquetCompression {
    ParquetCompression::Zstd(polars_parquet::write::ZstdLevel::try_new(ZSTD_LEVEL).ok())
}

/// The options polars' `ParquetWriter` materialises from its defaults and
/// [`compression`]: row groups encoded here are encoded as polars' own.
pub(crate) fn write_options() -> WriteOptions {
    WriteOptions {
        statistics: StatisticsOptions::default(),
        compression: compression().into(),
        version: Version::V1,
        data_page_size: None,
    }
}

impl Parquet {
    fn create(path: &Path, failed: &Failed, columns: &[Out], labels: &str) -> PolarsResult<Self> {
        let schema: Schema = columns.iter().map(|c| c.field.clone()).collect();
        let file = File::create(path)?;
        let file = Buffered { file: BufWriter::with_capacity(1 << 18, file), failed: failed.clone() };
        // The Arrow schema stored in the file names the classic types (see [`COMPAT`]).
        let arrow = schema.to_arrow(COMPAT);
        let types = to_parquet_schema(&arrow)?.fields().to_vec();
        let encodings = get_encodings(&arrow);
        let file = Mutex::new(FileWriter::try_new(file, arrow, write_options())?);
        let kv =
            KeyValueMetadata::Static(vec![KeyValue { key: crate::labels::KEY.into(), value: Some(labels.into()) }]);
        let writer = BatchedWriter::new(file, encodings.clone(), write_options(), false, Some(kv));
        Ok(Parquet { writer, types, encodings: encodings.to_vec(), zstd: Zstd::new()? })
    }

    /// Writes `columns` as one row group (built for it alone: see [`add_table`]), unless
    /// they have no rows.
    fn row_group(&mut self, columns: &[Out]) -> PolarsResult<()> {
        let rows = columns.first().map_or(0, |c| c.array.len());
        if rows == 0 {
            return Ok(());
        }
        let options = write_options();
        let mut pages: Vec<Vec<CompressedPage>> = Vec::new();
        for ((c, type_), encodings) in columns.iter().zip(&self.types).zip(&self.encodings) {
            let encodings = match c.encoding {
                Some(e) => vec![e],
                None => encodings.clone(),
            };
            for leaf in leaf_pages(c.array.as_ref(), type_.clone(), options, &encodings)? {
                pages.push(leaf.into_iter().map(|p| self.zstd.page(p)).collect::<PolarsResult<_>>()?);
            }
        }
        self.writer.write_row_group(rows as u64, &pages)
    }
}

/// Appends columns to a table's Parquet file (created, with their schema and `labels`, on
/// first use) as one row group.
fn append(
    writer: &mut Option<Parquet>,
    failed: &Failed,
    path: &Path,
    columns: Vec<Out>,
    labels: &str,
) -> Result<(), IngestError> {
    let w = match writer {
        Some(w) => w,
        None => writer.insert(Parquet::create(path, failed, &columns, labels).map_err(polars_err(path))?),
    };
    w.row_group(&columns).map_err(polars_err(path))
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
