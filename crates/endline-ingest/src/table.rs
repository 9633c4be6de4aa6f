//! Reading a user's table (a unit table, a data file given to `estimate` or `did`): CSV
//! or Parquet by its extension. The analysis crate does no file I/O; this is where files
//! become data frames.

use polars::prelude::*;

/// Reads a table, CSV or Parquet by its extension. CSV: a header row, every row used to
/// infer the types (a column empty for its first hundred rows is still read right),
/// empty fields missing. The error says which file and why.
pub fn read_table(path: &std::path::Path) -> std::result::Result<DataFrame, String> {
    if !path.exists() {
        return Err(format!("cannot read {}: no such file", path.display()));
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "parquet" | "pq" => {
            std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display())).and_then(|f| {
                ParquetReader::new(f).finish().map_err(|e| format!("cannot read {} as Parquet: {e}", path.display()))
            })
        }
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
