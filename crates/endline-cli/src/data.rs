//! Reading tables for the analysis commands: CSV or Parquet, chosen by extension.

use std::path::Path;

use anyhow::{Context as _, bail};
use polars::prelude::{CsvReadOptions, DataFrame, ParquetReader, SerReader};

/// Reads `path` into a DataFrame. CSV: header row, every row used to infer types,
/// empty fields missing.
pub fn read_table(path: &Path) -> anyhow::Result<DataFrame> {
    if !path.exists() {
        bail!("cannot read {}: no such file", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "parquet" | "pq" => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            ParquetReader::new(file).finish().with_context(|| format!("cannot read {} as Parquet", path.display()))
        }
        "csv" | "txt" | "tsv" => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .map_parse_options(|o| o.with_separator(if ext == "tsv" { b'\t' } else { b',' }))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .with_context(|| format!("cannot read {} as CSV", path.display())),
        other => bail!("cannot tell the format of {}: expected .csv or .parquet, not `.{other}`", path.display()),
    }
}
