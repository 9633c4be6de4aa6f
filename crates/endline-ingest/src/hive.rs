//! Hive-partitioned Parquet datasets, as DuckDB, Apache DataFusion and Spark read them:
//! `<table>/wave=2021/part-0.parquet`, or by a unit column too,
//! `<table>/wave=2021/county_id=3/part-0.parquet`. `ingest`, `panel` and `export` write
//! them with `--partition-by`; every command that reads a table reads them back whole.
//!
//! `_wave` stays in the files beside its `wave=` key. A unit column is in the path only,
//! as a partition key must be for Spark and DataFusion (a column both in the files and in
//! the path is an error there); each file records it in its metadata ([`KEY`]: name, type
//! and place), so that endline puts it back as it was.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scan::ParquetScan;

/// The key, in a partition file's Parquet key-value metadata, of the columns its path
/// holds instead of the file.
pub const KEY: &str = "endline.partition";

/// A column a partition file's path holds: its name, type and place among the columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathColumn {
    /// The column's name.
    pub name: String,
    /// `Int64`, `Int32`, …, `UInt64` or `String`.
    pub dtype: String,
    /// Its index among the table's columns (`usize::MAX`: last).
    pub position: usize,
}

/// The columns of a `--partition-by` argument: `wave` (the column `_wave`), or
/// `wave,COLUMN` with a unit column; an error says what is accepted.
pub fn partition_columns(arg: &[String]) -> Result<Vec<String>, String> {
    if arg.first().map(String::as_str) != Some("wave") || arg.len() > 2 {
        return Err("--partition-by is `wave`, or `wave,COLUMN` (a unit column such as county_id)".into());
    }
    Ok(arg.iter().map(|c| if c == "wave" { "_wave".to_string() } else { c.clone() }).collect())
}

/// The types a unit partition column may have: whole numbers and text (a path holds a
/// value exactly; a decimal or a date would be read back differently by each engine).
fn path_type(dtype: &DataType) -> Option<&'static str> {
    Some(match dtype {
        DataType::Int8 => "Int8",
        DataType::Int16 => "Int16",
        DataType::Int32 => "Int32",
        DataType::Int64 => "Int64",
        DataType::UInt8 => "UInt8",
        DataType::UInt16 => "UInt16",
        DataType::UInt32 => "UInt32",
        DataType::UInt64 => "UInt64",
        DataType::String => "String",
        _ => return None,
    })
}

/// The type a [`PathColumn`] names.
pub fn dtype_of(name: &str) -> DataType {
    match name {
        "Int8" => DataType::Int8,
        "Int16" => DataType::Int16,
        "Int32" => DataType::Int32,
        "Int64" => DataType::Int64,
        "UInt8" => DataType::UInt8,
        "UInt16" => DataType::UInt16,
        "UInt32" => DataType::UInt32,
        "UInt64" => DataType::UInt64,
        _ => DataType::String,
    }
}

/// A file's `key=value` path segments (a null value as `None`).
pub type PathValues = Vec<(String, Option<String>)>;

/// Hive's name for a missing partition value.
const NULL_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// A partition value as Hive writes it in a path: `/`, `=`, `%` and control characters
/// (and the characters Windows forbids) percent-encoded.
pub fn escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_control() || "/=%\\:*?\"<>|#{}[]^".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A path's partition value as it was ([`escape`] undone).
fn unescape(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One frame as hive-partitioned Parquet files under `stem`: `(path, bytes)` pairs, one
/// file per value of the partition columns (`by`: `_wave` first, then optionally a unit
/// column, each named in the path without its leading `_`), with `labels` on every file.
/// `parts_in` numbers the files of each partition directory across calls.
pub fn partition_frame(
    df: &DataFrame,
    stem: &str,
    by: &[String],
    labels: Option<&str>,
    parts_in: &mut BTreeMap<String, usize>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    each_partition(df, stem, by, labels, parts_in, &mut |file, bytes| {
        out.push((file, bytes));
        Ok(())
    })?;
    Ok(out)
}

/// [`partition_frame`], each file given to `f` as it is made.
fn each_partition(
    df: &DataFrame,
    stem: &str,
    by: &[String],
    labels: Option<&str>,
    parts_in: &mut BTreeMap<String, usize>,
    f: &mut dyn FnMut(String, Vec<u8>) -> Result<(), String>,
) -> Result<(), String> {
    let mut dropped = Vec::new();
    for (i, col) in by.iter().enumerate() {
        let Ok(c) = df.column(col) else {
            return Err(format!("no column `{col}` to partition by"));
        };
        if i > 0 {
            let Some(dtype) = path_type(c.dtype()) else {
                return Err(format!(
                    "cannot partition by `{col}`, a column of {}: a partition column holds whole numbers or text",
                    c.dtype()
                ));
            };
            let position = df.get_column_index(col).unwrap_or_default();
            dropped.push(PathColumn { name: col.clone(), dtype: dtype.into(), position });
        }
    }
    let record = serde_json::to_string(&dropped).unwrap_or_default();
    let mut kv: Vec<(String, String)> =
        labels.map(|l| (crate::labels::KEY.to_string(), l.to_string())).into_iter().collect();
    if !dropped.is_empty() {
        kv.push((KEY.into(), record));
    }
    let parts = df.partition_by_stable(by.iter().map(String::as_str), true).map_err(|e| e.to_string())?;
    for part in parts {
        let mut dir = stem.to_string();
        for col in by {
            let v = part.column(col).and_then(|c| c.cast(&DataType::String)).map_err(|e| e.to_string())?;
            let v = v.str().map_err(|e| e.to_string())?.get(0).map_or_else(|| NULL_VALUE.to_string(), escape);
            dir.push_str(&format!("/{}={v}", col.trim_start_matches('_')));
        }
        let n = parts_in.entry(dir.clone()).or_insert(0usize);
        let file = format!("{dir}/part-{n}.parquet");
        *n += 1;
        let part = part.drop_many(by.iter().skip(1).map(String::as_str));
        let bytes = crate::table::parquet_bytes_kv(&part, 512 * 512, &kv).map_err(|e| e.to_string())?;
        f(file, bytes)?;
    }
    Ok(())
}

/// The Parquet files under a directory, in path order, each with the `key=value`
/// segments of its path below `dir` (values unescaped; Hive's null name as `None`).
pub fn files(dir: &Path) -> Result<Vec<(PathBuf, PathValues)>, String> {
    let mut paths = Vec::new();
    collect(dir, &mut paths)?;
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let keys = p
                .strip_prefix(dir)
                .ok()
                .into_iter()
                .flat_map(|rel| rel.parent().into_iter().flat_map(Path::components))
                .filter_map(|c| {
                    let s = c.as_os_str().to_str()?;
                    let (k, v) = s.split_once('=')?;
                    Some((k.to_string(), (v != NULL_VALUE).then(|| unescape(v))))
                })
                .collect();
            (p, keys)
        })
        .collect())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for e in entries {
        let p = e.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(['.', '_']));
        if hidden {
            continue;
        } else if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// The columns recorded in a partition file's metadata ([`KEY`]), if any.
pub fn path_columns(path: &Path) -> Vec<PathColumn> {
    crate::labels::parquet_value(path, KEY).and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default()
}

/// The columns a dataset's paths hold that its files do not (`has` says whether the files
/// have a column): each with its type and place, from the files' metadata where endline
/// wrote them, else whole numbers when every value is one and text otherwise. `wave=`
/// is left out when the files have `_wave`.
pub fn restored(files: &[(PathBuf, PathValues)], has: &dyn Fn(&str) -> bool) -> Vec<PathColumn> {
    let recorded: HashMap<String, PathColumn> = files
        .first()
        .map(|(p, _)| path_columns(p))
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let mut out: Vec<PathColumn> = Vec::new();
    for (_, keys) in files {
        for (k, _) in keys {
            if has(k) || (k == "wave" && has("_wave")) || out.iter().any(|c| &c.name == k) {
                continue;
            }
            let column = recorded.get(k).cloned().unwrap_or_else(|| {
                let whole = files
                    .iter()
                    .flat_map(|(_, keys)| keys.iter().filter(|(key, _)| key == k))
                    .all(|(_, v)| v.as_deref().is_none_or(|v| v.parse::<i64>().is_ok()));
                PathColumn {
                    name: k.clone(),
                    dtype: if whole { "Int64" } else { "String" }.into(),
                    position: usize::MAX,
                }
            });
            out.push(column);
        }
    }
    out
}

/// Puts a file's path columns back into a frame read from it, each at its place.
pub fn add_path_columns(
    df: &mut DataFrame,
    keys: &[(String, Option<String>)],
    columns: &[PathColumn],
) -> Result<(), String> {
    let n = df.height();
    let mut sorted: Vec<&PathColumn> = columns.iter().collect();
    sorted.sort_by_key(|c| c.position);
    for c in sorted {
        let value = keys.iter().find(|(k, _)| k == &c.name).and_then(|(_, v)| v.clone());
        let s = Series::new(c.name.as_str().into(), vec![value; n]);
        let s = s.strict_cast(&dtype_of(&c.dtype)).map_err(|e| format!("`{}`: {e}", c.name))?;
        let at = c.position.min(df.width());
        df.insert_column(at, s.into_column()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A table that is a Parquet file or a hive-partitioned directory of them, whole: the
/// files in path order, with the columns their paths hold put back.
pub fn read(path: &Path) -> Result<DataFrame, String> {
    if !path.is_dir() {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return ParquetReader::new(file)
            .finish()
            .map_err(|e| format!("cannot read {} as Parquet: {e}", path.display()));
    }
    let files = files(path)?;
    let Some((first, _)) = files.first() else {
        return Err(format!("{} holds no .parquet files", path.display()));
    };
    let mut frames = Vec::with_capacity(files.len());
    let schema = parquet_schema(first)?;
    let columns = restored(&files, &|c| schema.contains(c));
    for (file, keys) in &files {
        let f = std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut df =
            ParquetReader::new(f).finish().map_err(|e| format!("cannot read {} as Parquet: {e}", file.display()))?;
        add_path_columns(&mut df, keys, &columns).map_err(|e| format!("{}: {e}", file.display()))?;
        frames.push(df);
    }
    let mut all = frames.remove(0);
    for df in frames {
        all.vstack_mut_owned(df).map_err(|e| format!("cannot read {}: the files differ: {e}", path.display()))?;
    }
    Ok(all)
}

fn parquet_schema(path: &Path) -> Result<Schema, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let schema =
        ParquetReader::new(f).schema().map_err(|e| format!("cannot read {} as Parquet: {e}", path.display()))?;
    Ok(Schema::from_arrow_schema(schema.as_ref()))
}

/// A table of an ingest output: `<dir>/<name>.parquet`, or the directory `<dir>/<name>`
/// of a partitioned ingest; `None` when neither is there.
pub fn table_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(format!("{name}.parquet"));
    let partitioned = dir.join(name);
    if file.is_file() {
        Some(file)
    } else if partitioned.is_dir() && partitioned.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        Some(partitioned)
    } else {
        None
    }
}

/// Memory a partition pass may hold: a group of units' rows, decoded, and their copy
/// split by unit.
const SPLIT_BYTES: usize = 512 << 20;

/// Splits a written table of wave `wave` (`<dir>/<name>.parquet`) into the dataset
/// `<dir>/<name>/wave=W/…`, in bounded memory, and removes the file. By wave alone (or
/// when the table lacks the unit column, as a roster does) the file is moved into place
/// whole. By a unit column, the units are taken in groups whose rows fit 512 MB (decoded,
/// and split by unit), each group's rows read from the file in one pass and written one
/// file per unit as it is made; the
/// table's PII side table (`<name>.pii.parquet`, row for row with it), if any, is split
/// alike into `<name>.pii/…`, so that both read back in the same order.
pub fn split_table(dir: &Path, name: &str, wave: &str, by: &[String], labels: Option<&str>) -> Result<(), String> {
    split_within(dir, name, wave, by, labels, SPLIT_BYTES)
}

fn split_within(
    dir: &Path,
    name: &str,
    wave: &str,
    by: &[String],
    labels: Option<&str>,
    budget_bytes: usize,
) -> Result<(), String> {
    let file = dir.join(format!("{name}.parquet"));
    let scan = ParquetScan::open(&file)?;
    let unit = by.get(1).filter(|c| scan.schema().contains(c.as_str()));
    // One wave's table (an empty one too, which keeps its columns this way).
    let Some(unit) = unit.filter(|_| scan.rows() > 0) else {
        let wave_dir = dir.join(name).join(format!("wave={}", escape(wave)));
        std::fs::create_dir_all(&wave_dir).map_err(|e| format!("cannot write {}: {e}", wave_dir.display()))?;
        let to = wave_dir.join("part-0.parquet");
        return std::fs::rename(&file, &to).map_err(|e| format!("cannot write {}: {e}", to.display()));
    };
    // Rows per unit, then each row's group of units (4 bytes a row).
    let mut counts: BTreeMap<Option<String>, usize> = BTreeMap::new();
    scan.scan(std::slice::from_ref(unit), 1 << 20, &mut |df| {
        for k in strings(&df, unit)? {
            *counts.entry(k).or_insert(0) += 1;
        }
        Ok(true)
    })?;
    // Decoded bytes a row takes, measured on the first rows (Parquet's own sizes are of
    // its encoding: dictionaries make them several times smaller).
    let names: Vec<String> = scan.schema().iter_names().map(|n| n.to_string()).collect();
    let mut row_bytes = 1;
    scan.scan(&names, 1 << 16, &mut |df| {
        row_bytes = (df.estimated_size() / df.height().max(1)).max(1);
        Ok(false)
    })?;
    let budget = (budget_bytes / (2 * row_bytes)).max(1);
    let (mut group_of, mut groups, mut in_group) = (HashMap::new(), 0u32, 0usize);
    for (value, n) in counts {
        if in_group > 0 && in_group + n > budget {
            (groups, in_group) = (groups + 1, 0);
        }
        in_group += n;
        group_of.insert(value, groups);
    }
    let mut group: Vec<u32> = Vec::with_capacity(scan.rows());
    scan.scan(std::slice::from_ref(unit), 1 << 20, &mut |df| {
        group.extend(strings(&df, unit)?.iter().map(|k| group_of.get(k).copied().unwrap_or(0)));
        Ok(true)
    })?;
    drop(group_of);
    let pii_file = dir.join(format!("{name}.pii.parquet"));
    let pii = pii_file.is_file().then(|| ParquetScan::open(&pii_file)).transpose()?;
    let (mut main_parts, mut pii_parts) = (BTreeMap::new(), BTreeMap::new());
    let by = &by[..2];
    for g in 0..=groups {
        let rows = rows_of(&scan, &group, g)?;
        write_parts(&rows, &dir.join(name), by, labels, &mut main_parts)?;
        if let Some(pii) = &pii {
            // The side table's rows of the group, with the partition columns beside them.
            let mut side = rows_of(pii, &group, g)?;
            for col in by {
                if !side.schema().contains(col) {
                    let c = rows.column(col).map_err(|e| e.to_string())?.clone();
                    side.with_column(c).map_err(|e| e.to_string())?;
                }
            }
            write_parts(&side, &dir.join(format!("{name}.pii")), by, labels, &mut pii_parts)?;
        }
    }
    std::fs::remove_file(&file).map_err(|e| format!("cannot remove {}: {e}", file.display()))?;
    if pii.is_some() {
        std::fs::remove_file(&pii_file).map_err(|e| format!("cannot remove {}: {e}", pii_file.display()))?;
    }
    Ok(())
}

/// The rows of a scanned table whose group (`group`, one a row) is `g`, in order.
fn rows_of(scan: &ParquetScan, group: &[u32], g: u32) -> Result<DataFrame, String> {
    let names: Vec<String> = scan.schema().iter_names().map(|n| n.to_string()).collect();
    let (mut rows, mut at): (Option<DataFrame>, usize) = (None, 0);
    scan.scan(&names, 1 << 18, &mut |df| {
        let n = df.height();
        let mask: BooleanChunked = group.get(at..at + n).unwrap_or_default().iter().map(|x| *x == g).collect();
        if mask.len() != n {
            return Err("the table changed while it was partitioned".into());
        }
        at += n;
        let part = df.filter(&mask).map_err(|e| e.to_string())?;
        match rows.as_mut() {
            Some(r) => r.vstack_mut_owned(part).map(drop).map_err(|e| e.to_string())?,
            None => rows = Some(part),
        }
        Ok(true)
    })?;
    rows.ok_or_else(|| "an empty table to partition".to_string())
}

/// Writes a frame's partition files ([`partition_frame`]) under `stem`, each as it is
/// made; returns how many.
pub fn write_parts(
    df: &DataFrame,
    stem: &Path,
    by: &[String],
    labels: Option<&str>,
    parts_in: &mut BTreeMap<String, usize>,
) -> Result<usize, String> {
    let mut written = 0;
    each_partition(df, &stem.display().to_string(), by, labels, parts_in, &mut |path, bytes| {
        let path = PathBuf::from(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot write {}: {e}", parent.display()))?;
        }
        written += 1;
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(written)
}

/// A column's values as text (null as `None`).
fn strings(df: &DataFrame, col: &str) -> Result<Vec<Option<String>>, String> {
    let c = df.column(col).and_then(|c| c.cast(&DataType::String)).map_err(|e| e.to_string())?;
    Ok(c.str().map_err(|e| e.to_string())?.iter().map(|v| v.map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_escaped_as_hive_escapes_them() {
        assert_eq!(escape("2021"), "2021");
        assert_eq!(escape("a/b=c%d"), "a%2Fb%3Dc%25d");
        assert_eq!(escape("边境"), "边境");
    }

    #[test]
    fn escaped_values_come_back() {
        for v in ["plain", "a/b=c%d", "tab\there", "北京", "x:y*z?"] {
            assert_eq!(unescape(&escape(v)), v);
            assert!(!escape(v).contains(['/', '=']));
        }
    }

    /// A table and its side table split in groups of units (a budget of one unit's rows
    /// a pass) read back row for row, whole, with the unit column's type and place; a
    /// scan of the dataset gives the unit column too.
    #[test]
    fn split_tables_read_back_whole_and_aligned() {
        let dir = std::env::temp_dir().join(format!("endline-ingest-{}-hive-split", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let n = 1000;
        let county: Vec<i32> = (0..n).map(|i| (i * 7 % 13) as i32).collect();
        let main = df![
            "_wave" => vec!["2021"; n],
            "county" => county.clone(),
            "x" => (0..n).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
            "_source_row" => (0..n as i64).collect::<Vec<_>>(),
        ]
        .unwrap_or_else(|e| panic!("{e}"));
        let side = df!["_source_row" => (0..n as i64).collect::<Vec<_>>(), "name" => (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>()]
            .unwrap_or_else(|e| panic!("{e}"));
        for (df, file) in [(&main, "t.parquet"), (&side, "t.pii.parquet")] {
            let bytes = crate::table::parquet_bytes(df, 100, Some("{}")).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join(file), bytes).unwrap_or_else(|e| panic!("{e}"));
        }
        let by = vec!["_wave".to_string(), "county".to_string()];
        split_within(&dir, "t", "2021", &by, Some("{}"), 1).unwrap_or_else(|e| panic!("{e}"));
        assert!(!dir.join("t.parquet").exists() && !dir.join("t.pii.parquet").exists());
        assert!(dir.join("t/wave=2021/county=12/part-0.parquet").is_file());
        assert!(dir.join("t.pii/wave=2021/county=12/part-0.parquet").is_file());
        let back = read(&dir.join("t")).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = back.get_column_names().iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["_wave", "county", "x", "_source_row"]);
        assert_eq!(back.column("county").map(|c| c.dtype().clone()).ok(), Some(DataType::Int32));
        let sorted = back.sort(["_source_row"], SortMultipleOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(sorted.equals(&main));
        let pii = read(&dir.join("t.pii")).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.column("_source_row").ok() == pii.column("_source_row").ok());
        let scan = ParquetScan::open(&dir.join("t")).unwrap_or_else(|e| panic!("{e}"));
        let mut total = 0i64;
        scan.scan(&["county".into(), "x".into()], 10, &mut |df| {
            total += df
                .column("county")
                .and_then(|c| c.cast(&DataType::Int64))
                .map_err(|e| e.to_string())?
                .i64()
                .map_err(|e| e.to_string())?
                .sum()
                .unwrap_or(0);
            Ok(true)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(total, county.iter().map(|c| i64::from(*c)).sum::<i64>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn partition_arguments() {
        assert_eq!(partition_columns(&["wave".into()]), Ok(vec!["_wave".to_string()]));
        assert_eq!(
            partition_columns(&["wave".into(), "county_id".into()]),
            Ok(vec!["_wave".to_string(), "county_id".to_string()])
        );
        assert!(partition_columns(&["county_id".into()]).is_err());
        assert!(partition_columns(&["wave".into(), "a".into(), "b".into()]).is_err());
    }
}
