//! Reading a user's table (a unit table, a data file given to `estimate` or `did`): CSV
//! or Parquet by its extension. The analysis crate does no file I/O; this is where files
//! become data frames.

use polars::io::parquet::write::get_encodings;
use polars::prelude::*;
use polars_parquet::parquet::metadata::KeyValue;
use polars_parquet::write::{FileWriter, RowGroupIterator, schema_to_metadata_key};

use crate::labels::KEY as LABELS_KEY;
use crate::write::{COMPAT, write_options};

/// A frame as Parquet bytes, in row groups of `row_group` rows, with the Arrow types
/// every consumer opens (`large_string`, `large_list`; pandas fails on polars' newest
/// `string_view` in a list), ingest's compression and, when given, the labels of the
/// table it comes from.
pub fn parquet_bytes(df: &DataFrame, row_group: usize, labels: Option<&str>) -> PolarsResult<Vec<u8>> {
    let kv: Vec<(String, String)> = labels.map(|l| (LABELS_KEY.to_string(), l.to_string())).into_iter().collect();
    parquet_bytes_kv(df, row_group, &kv)
}

/// [`parquet_bytes`] with any key-value metadata (`kv`).
pub fn parquet_bytes_kv(df: &DataFrame, row_group: usize, kv: &[(String, String)]) -> PolarsResult<Vec<u8>> {
    let arrow = df.schema().to_arrow(COMPAT);
    let encodings = get_encodings(&arrow);
    let mut writer = FileWriter::try_new(Vec::new(), arrow.clone(), write_options())?;
    let n = df.height();
    for at in (0..n.max(1)).step_by(row_group.max(1)) {
        let mut part = df.slice(at as i64, row_group.max(1).min(n - at.min(n)));
        part.rechunk_mut();
        for rg in RowGroupIterator::try_new(
            part.iter_chunks(COMPAT, false).map(Ok),
            &arrow,
            write_options(),
            encodings.clone(),
        )? {
            writer.write(u64::MAX, rg?)?;
        }
    }
    let mut meta = vec![schema_to_metadata_key(&arrow)];
    meta.extend(kv.iter().map(|(k, v)| KeyValue { key: k.clone(), value: Some(v.clone()) }));
    writer.end(Some(meta))?;
    Ok(writer.into_inner())
}

/// Reads a table, CSV or Parquet by its extension, or a directory of Parquet files (a
/// hive-partitioned dataset, read whole: [`crate::hive::read`]). CSV: a header row, every row used to
/// infer the types (a column empty for its first hundred rows is still read right),
/// empty fields missing. The error says which file and why.
pub fn read_table(path: &std::path::Path) -> std::result::Result<DataFrame, String> {
    if !path.exists() {
        return Err(format!("cannot read {}: no such file", path.display()));
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if path.is_dir() {
        return crate::hive::read(path);
    }
    match ext.as_str() {
        "parquet" | "pq" => crate::hive::read(path),
        "csv" | "txt" | "tsv" => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .map_parse_options(|o| o.with_separator(if ext == "tsv" { b'\t' } else { b',' }))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(|e| format!("cannot read {} as CSV: {e}", path.display())),
        other => {
            Err(format!("cannot tell the format of {}: expected .csv or .parquet, not `.{other}`", path.display()))
        }
    }
}

/// A frame for a flat file (CSV): each list column (a select_multiple) split into one
/// 0/1 column per value met, named `<column>_<value>` as ODK names them, in the values'
/// order (numeric where every value is a number); a missing list gives missing in each.
/// Other columns are kept as they are, in place.
pub fn flatten_lists(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut columns: Vec<Column> = Vec::with_capacity(df.width());
    for c in df.columns() {
        let DataType::List(_) = c.dtype() else {
            columns.push(c.clone());
            continue;
        };
        let lists = c.as_materialized_series().list()?;
        let rows: Vec<Option<Vec<String>>> = (0..lists.len())
            .map(|i| lists.get_as_series(i))
            .map(|l| {
                l.map(|s| {
                    let s = s.cast(&DataType::String).unwrap_or(s);
                    s.str().map(|t| t.iter().flatten().map(str::to_string).collect()).unwrap_or_default()
                })
            })
            .collect();
        let mut values: Vec<String> = rows.iter().flatten().flatten().cloned().collect();
        values.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.cmp(b),
        });
        values.dedup();
        for v in values {
            let flags: Vec<Option<i64>> =
                rows.iter().map(|r| r.as_ref().map(|items| i64::from(items.contains(&v)))).collect();
            columns.push(Column::new(format!("{}_{v}", c.name()).into(), flags));
        }
    }
    DataFrame::new(df.height(), columns)
}

/// A frame as CSV bytes for a person's spreadsheet: lists split ([`flatten_lists`]) and
/// formula-like text neutralised ([`endline_output::csv_cell`]), as in every CSV endline
/// writes.
pub fn csv_bytes(df: &DataFrame) -> PolarsResult<Vec<u8>> {
    let flat = flatten_lists(df)?;
    let columns = flat
        .columns()
        .iter()
        .map(|c| match c.dtype() {
            DataType::String => {
                let values: Vec<Option<String>> =
                    c.str()?.iter().map(|v| v.map(|v| endline_output::csv_cell::neutralize(v).into_owned())).collect();
                Ok(Column::new(c.name().clone(), values))
            }
            _ => Ok(c.clone()),
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let mut out = DataFrame::new(flat.height(), columns)?;
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes).finish(&mut out)?;
    Ok(bytes)
}
