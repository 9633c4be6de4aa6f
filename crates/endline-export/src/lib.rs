//! Ingested data out, as Stata, CSV and Parquet users open them, with their labels.
//!
//! Every table of an ingest output (`<table>.parquet`; the personal side tables are left
//! where they are) is written as:
//!
//! - **dta**: Stata 118 (`dta`), with variable labels in the survey's first language,
//!   value labels for choice lists with whole-number values, Stata's extended missing
//!   values for the declared missing codes (the first declared code is `.a`, the second
//!   `.b`, …, each labelled with its name), dates as `%td`, datetimes as `%tc`, a
//!   select_multiple as one 0/1 variable per choice and a geopoint as four doubles;
//! - **csv**: the same flat table as text, with `<table>.labels.json` beside it;
//! - **parquet**: the table as ingest wrote it, labels in its metadata.
//!
//! Labels come from the table's own metadata (`endline.labels`, written by ingest).

pub mod dta;

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::Deserialize;

use crate::dta::{Cells, Dataset, Num, ValueLabels, Var};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(String),
    /// The data cannot be written in the format asked for.
    #[error("{0}")]
    Data(String),
}

impl From<PolarsError> for ExportError {
    fn from(e: PolarsError) -> Self {
        ExportError::Data(e.to_string())
    }
}

/// The format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Stata 118.
    Dta,
    /// CSV with a labels sidecar.
    Csv,
    /// Parquet.
    Parquet,
}

/// The labels ingest writes into each table's metadata (layout in `docs/data.md`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Labels {
    /// The survey.
    #[serde(default)]
    pub survey: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// The table.
    #[serde(default)]
    pub table: String,
    /// The survey's missing codes, in declared order.
    #[serde(default)]
    pub missing_codes: Vec<MissingCode>,
    /// The table's variables.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// A declared missing code.
#[derive(Debug, Clone, Deserialize)]
pub struct MissingCode {
    /// Its name (`dont_know`).
    pub name: String,
    /// Its value as written (`-99`).
    pub value: String,
}

/// A variable's labels.
#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its labels, by language.
    #[serde(default)]
    pub labels: Vec<Text>,
    /// Its choices.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Its unit.
    pub unit: Option<String>,
}

/// A text in one language.
#[derive(Debug, Clone, Deserialize)]
pub struct Text {
    /// The language.
    pub language: String,
    /// The text.
    pub text: String,
}

/// A choice.
#[derive(Debug, Clone, Deserialize)]
pub struct Choice {
    /// Its value.
    pub value: String,
    /// Its labels.
    pub labels: Vec<Text>,
}

/// What the provenance columns ingest adds hold.
const PROVENANCE: [(&str, &str); 6] = [
    ("_wave", "Survey wave"),
    ("_survey_version", "Survey version the record was collected with"),
    ("_source_file", "Export file the record came from"),
    ("_source_row", "Data record of the file (1-based, header not counted)"),
    ("_valid", "Whether the record passed every check"),
    ("_submission_time", "Submission time"),
];

/// The labels of a table's Parquet file (empty when it has none).
pub fn labels_of(path: &Path) -> Labels {
    endline_ingest::labels::parquet_labels(path).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// The tables of an ingest output: `<table>.parquet`, or the directory `<table>` of a
/// partitioned ingest (`<table>/wave=…`); not the personal side tables.
pub fn tables(dir: &Path) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let mut out: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ExportError::Io(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let partitioned = p.is_dir()
                && !name.ends_with(".pii")
                && std::fs::read_dir(p).is_ok_and(|mut d| {
                    d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("wave=")))
                });
            (name.ends_with(".parquet") && !name.ends_with(".pii.parquet")) || partitioned
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(ExportError::Io(format!("{} holds no table (<table>.parquet) to export", dir.display())));
    }
    Ok(out)
}

/// One table in `target`'s format: `(file name, bytes)` pairs.
pub fn export_table(path: &Path, target: Target) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let stem = table_name(path);
    let df = endline_ingest::hive::read(path).map_err(ExportError::Io)?;
    let raw = endline_ingest::labels::parquet_labels(path);
    let labels = labels_of(path);
    Ok(match target {
        Target::Parquet => {
            vec![(format!("{stem}.parquet"), endline_ingest::table::parquet_bytes(&df, 512 * 512, raw.as_deref())?)]
        }
        Target::Csv => {
            let mut files = vec![(format!("{stem}.csv"), endline_ingest::table::csv_bytes(&df)?)];
            if let Some(raw) = raw {
                files.push((format!("{stem}.labels.json"), format!("{raw}\n").into_bytes()));
            }
            files
        }
        Target::Dta => {
            let ds = dataset(&df, &labels).map_err(|e| ExportError::Data(format!("{}: {e}", path.display())))?;
            vec![(
                format!("{stem}.dta"),
                dta::write(&ds).map_err(|e| ExportError::Data(format!("{}: {e}", path.display())))?,
            )]
        }
    })
}

/// A table of several ingest outputs (waves) as a hive-partitioned Parquet dataset:
/// `(path, bytes)` pairs such as `members/wave=2021/part-0.parquet`, one file per value
/// of the partition columns (`by`: `_wave` first, then optionally a unit column, each
/// named in the path without its leading `_`). Every file keeps the table's labels and
/// every column but the unit partition column, whose values are in the path (a reader
/// declares or infers its type, as Hive, Spark, DuckDB and DataFusion do); `_wave` stays
/// in the files, beside its `wave=` key.
pub fn export_partitioned(paths: &[&Path], by: &[String]) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let stem = paths.first().map(|p| table_name(p)).unwrap_or_default();
    let mut out = Vec::new();
    // Files written per partition directory, so two waves' parts never share a name.
    let mut parts_in: BTreeMap<String, usize> = BTreeMap::new();
    for path in paths {
        let df = endline_ingest::hive::read(path).map_err(ExportError::Io)?;
        let raw = endline_ingest::labels::parquet_labels(path);
        out.extend(
            partition_frame(&df, &stem, by, raw.as_deref(), &mut parts_in)
                .map_err(|m| ExportError::Data(format!("{}: {m}", path.display())))?,
        );
    }
    Ok(out)
}

pub use endline_ingest::hive::{partition_columns, partition_frame};

/// A table's name: its file's stem, or a partitioned table's directory name.
pub fn table_name(path: &Path) -> String {
    let name = if path.is_dir() { path.file_name() } else { path.file_stem() };
    name.map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether a table has every one of these columns (read from its schema only).
pub fn has_columns(path: &Path, cols: &[String]) -> bool {
    let Ok(scan) = endline_ingest::scan::ParquetScan::open(path) else { return false };
    cols.iter().all(|c| scan.schema().contains(c.as_str()))
}

/// The first language's text.
fn first(texts: &[Text]) -> String {
    texts.first().map(|t| t.text.clone()).unwrap_or_default()
}

/// Days from 1960-01-01 (Stata's origin) to 1970-01-01 (Arrow's).
const STATA_EPOCH_DAYS: f64 = 3653.0;

/// A Stata name for a column: itself when valid, else a valid, unused one.
fn stata_name(name: &str, used: &mut std::collections::HashSet<String>) -> String {
    let mut base: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !base.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        base.insert(0, '_');
    }
    let mut candidate: String = base.chars().take(32).collect();
    let mut k = 1;
    while used.contains(&candidate) {
        let suffix = format!("_{k}");
        candidate = format!("{}{suffix}", base.chars().take(32 - suffix.len()).collect::<String>());
        k += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// A Stata dataset of a table.
pub fn dataset(df: &DataFrame, labels: &Labels) -> Result<Dataset, String> {
    let by_name: BTreeMap<&str, &Variable> = labels.variables.iter().map(|v| (v.name.as_str(), v)).collect();
    let code_index: BTreeMap<&str, u8> =
        labels.missing_codes.iter().enumerate().map(|(i, m)| (m.name.as_str(), (i + 1).min(26) as u8)).collect();
    let mut used = std::collections::HashSet::new();
    let mut ds = Dataset {
        label: cut_label(&format!(
            "{} {} table {}; missing codes: {}",
            labels.survey,
            labels.version,
            labels.table,
            labels
                .missing_codes
                .iter()
                .enumerate()
                .map(|(i, m)| format!(".{} = {} ({})", (b'a' + i as u8) as char, m.name, m.value))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ..Dataset::default()
    };
    let height = df.height();
    for c in df.columns() {
        let name = c.name().as_str();
        let var = by_name.get(name).copied();
        let mut label = var.map(|v| first(&v.labels)).unwrap_or_default();
        if let Some(p) = PROVENANCE.iter().find(|(n, _)| *n == name) {
            label = p.1.to_string();
        }
        if let Some(q) = name.strip_suffix("_missing").filter(|q| by_name.contains_key(q)) {
            label = format!("Why {q} has no value (its missing code)");
        }
        if let Some(u) = var.and_then(|v| v.unit.as_deref()) {
            label = format!("{label} ({u})");
        }
        // Why each row has no value: the missing code's letter.
        let reasons: Vec<u8> = match df.column(&format!("{name}_missing")) {
            Ok(m) => m
                .cast(&DataType::String)
                .ok()
                .and_then(|m| {
                    m.str()
                        .ok()
                        .map(|s| s.iter().map(|v| v.and_then(|v| code_index.get(v).copied()).unwrap_or(0)).collect())
                })
                .unwrap_or_else(|| vec![0; height]),
            Err(_) => vec![0; height],
        };
        let numbers = |values: Vec<Option<f64>>| -> Vec<Num> {
            values.into_iter().zip(&reasons).map(|(v, r)| v.map_or(Num::Missing(*r), Num::Value)).collect()
        };
        let mut push = |ds: &mut Dataset, n: &str, label: String, format: &str, cells: Cells, vl: Option<String>| {
            let name = stata_name(n, &mut used);
            let label = if name == n { label } else { format!("{n}: {label}") };
            ds.vars.push(Var { name, label: cut_label(&label), format: format.into(), value_labels: vl, cells });
        };
        match c.dtype() {
            DataType::List(_) => {
                let flat = endline_ingest::table::flatten_lists(
                    &DataFrame::new(height, vec![c.clone()]).map_err(|e| e.to_string())?,
                )
                .map_err(|e| e.to_string())?;
                for f in flat.columns() {
                    let value = f.name().as_str().strip_prefix(&format!("{name}_")).unwrap_or_default().to_string();
                    let choice =
                        var.and_then(|v| v.choices.iter().find(|ch| ch.value == value)).map(|ch| first(&ch.labels));
                    let l = format!("{label}: {}", choice.unwrap_or(value));
                    let v = f.cast(&DataType::Float64).map_err(|e| e.to_string())?;
                    let cells = Cells::Long(numbers(v.f64().map_err(|e| e.to_string())?.iter().collect()));
                    push(&mut ds, f.name(), l, "%8.0g", cells, None);
                }
            }
            DataType::Struct(fields) => {
                let s = c.as_materialized_series().struct_().map_err(|e| e.to_string())?;
                for (f, part) in fields.iter().zip(s.fields_as_series()) {
                    let v = part.cast(&DataType::Float64).map_err(|e| e.to_string())?;
                    let cells = Cells::Double(numbers(v.f64().map_err(|e| e.to_string())?.iter().collect()));
                    push(
                        &mut ds,
                        &format!("{name}_{}", f.name()),
                        format!("{label}: {}", f.name()),
                        "%10.0g",
                        cells,
                        None,
                    );
                }
            }
            DataType::Date => {
                let days = c.cast(&DataType::Int32).map_err(|e| e.to_string())?;
                let v: Vec<Option<f64>> = days
                    .i32()
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|d| d.map(|d| f64::from(d) + STATA_EPOCH_DAYS))
                    .collect();
                push(&mut ds, name, label, "%td", Cells::Double(numbers(v)), None);
            }
            DataType::Datetime(unit, _) => {
                let per_ms = match unit {
                    TimeUnit::Nanoseconds => 1e6,
                    TimeUnit::Microseconds => 1e3,
                    TimeUnit::Milliseconds => 1.0,
                };
                let raw = c.cast(&DataType::Int64).map_err(|e| e.to_string())?;
                let v: Vec<Option<f64>> = raw
                    .i64()
                    .map_err(|e| e.to_string())?
                    .iter()
                    .map(|t| t.map(|t| t as f64 / per_ms + STATA_EPOCH_DAYS * 86_400_000.0))
                    .collect();
                push(&mut ds, name, label, "%tc", Cells::Double(numbers(v)), None);
            }
            DataType::String => {
                let v: Vec<String> =
                    c.str().map_err(|e| e.to_string())?.iter().map(|s| s.unwrap_or_default().to_string()).collect();
                let width = v.iter().map(|s| s.chars().count()).max().unwrap_or(1).max(1);
                push(&mut ds, name, label, &format!("%-{}s", width.min(dta::MAX_STR)), Cells::Str(v), None);
            }
            dt if dt.is_integer() || dt.is_bool() => {
                let v = c.cast(&DataType::Float64).map_err(|e| e.to_string())?;
                let values: Vec<Option<f64>> = v.f64().map_err(|e| e.to_string())?.iter().collect();
                let fits = values.iter().flatten().all(|x| (dta::MIN_LONG as f64..=dta::MAX_LONG as f64).contains(x));
                let choices = var.map(|v| v.choices.as_slice()).unwrap_or_default();
                let vl = (!choices.is_empty() && choices.iter().all(|ch| ch.value.parse::<i32>().is_ok())).then(|| {
                    let mut entries: Vec<(Num, String)> = choices
                        .iter()
                        .filter_map(|ch| {
                            Some((Num::Value(f64::from(ch.value.parse::<i32>().ok()?)), first(&ch.labels)))
                        })
                        .collect();
                    entries.extend(
                        labels
                            .missing_codes
                            .iter()
                            .enumerate()
                            .map(|(i, m)| (Num::Missing((i + 1).min(26) as u8), m.name.clone())),
                    );
                    ValueLabels { name: String::new(), entries }
                });
                let cells = if fits { Cells::Long(numbers(values)) } else { Cells::Double(numbers(values)) };
                let before = ds.vars.len();
                push(&mut ds, name, label, "%10.0g", cells, None);
                if let Some(mut table) = vl {
                    let stata = ds.vars[before].name.clone();
                    table.name.clone_from(&stata);
                    ds.vars[before].value_labels = Some(stata);
                    ds.value_labels.push(table);
                }
            }
            dt if dt.is_float() => {
                let v = c.cast(&DataType::Float64).map_err(|e| e.to_string())?;
                push(
                    &mut ds,
                    name,
                    label,
                    "%10.0g",
                    Cells::Double(numbers(v.f64().map_err(|e| e.to_string())?.iter().collect())),
                    None,
                );
            }
            other => return Err(format!("`{name}` is of type {other}, which the .dta export does not write")),
        }
    }
    Ok(ds)
}

/// A label cut to Stata's 80 characters.
fn cut_label(s: &str) -> String {
    s.chars().take(80).collect()
}
