//! Reading Parquet a batch of row groups at a time: for estimators that stream a table too
//! large to hold (`endline did`, `endline estimate` on registers). Each batch maps its file
//! afresh and releases it, so the memory in use follows the batch, not the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::io::parquet::metadata::FileMetadataRef;
use polars::prelude::*;

/// Parquet files and their metadata, read once.
pub struct ParquetScan {
    files: Vec<(PathBuf, FileMetadataRef)>,
    schema: Schema,
    /// A partitioned dataset's columns that its paths hold, and each file's path values.
    path_columns: Vec<crate::hive::PathColumn>,
    path_values: Vec<crate::hive::PathValues>,
}

impl ParquetScan {
    /// The file, or every `.parquet` file under a directory (a hive-partitioned dataset,
    /// whose path columns are put back: [`crate::hive`]), in path order. Every file must
    /// have the columns of the first.
    pub fn open(path: &Path) -> Result<ParquetScan, String> {
        let listed = if path.is_dir() {
            let listed = crate::hive::files(path)?;
            if listed.is_empty() {
                return Err(format!("{} holds no .parquet files", path.display()));
            }
            listed
        } else {
            vec![(path.to_path_buf(), Vec::new())]
        };
        let (paths, path_values): (Vec<PathBuf>, Vec<_>) = listed.iter().cloned().unzip();
        let mut files = Vec::new();
        let mut schema: Option<Schema> = None;
        for p in paths {
            let file = std::fs::File::open(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let mut reader = ParquetReader::new(file);
            let bad = |e: PolarsError| format!("cannot read {} as Parquet: {e}", p.display());
            let s = Schema::from_arrow_schema(reader.schema().map_err(bad)?.as_ref());
            let md = reader.get_metadata().map_err(bad)?.clone();
            if let Some(first) = &schema {
                if let Some(missing) = first.iter_names().find(|n| s.get(n).is_none()) {
                    return Err(format!("{} has no column `{missing}`, which the other files have", p.display()));
                }
            } else {
                schema = Some(s);
            }
            files.push((p, md));
        }
        let mut schema = schema.unwrap_or_default();
        let path_columns = crate::hive::restored(&listed, &|c| schema.contains(c));
        for c in &path_columns {
            let dtype = crate::hive::dtype_of(&c.dtype);
            schema
                .insert_at_index(c.position.min(schema.len()), c.name.as_str().into(), dtype)
                .map_err(|e| e.to_string())?;
        }
        Ok(ParquetScan { files, schema, path_columns, path_values })
    }

    /// The columns and their types.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The smallest and largest value of a signed integer column from the files'
    /// statistics, without reading it; None when a row group has none.
    pub fn int_range(&self, column: &str) -> Option<(i64, i64)> {
        use polars_parquet::parquet::statistics::Statistics;
        let signed =
            matches!(self.schema.get(column)?, DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8);
        if !signed {
            return None;
        }
        let mut range: Option<(i64, i64)> = None;
        for (_, md) in &self.files {
            for rg in &md.row_groups {
                let chunk = rg.columns_under_root_iter(column)?.next()?;
                let (lo, hi) = match chunk.statistics(&md.footer_buf)?.ok()? {
                    Statistics::Int64(s) => (s.min_value?, s.max_value?),
                    Statistics::Int32(s) => (i64::from(s.min_value?), i64::from(s.max_value?)),
                    _ => return None,
                };
                range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        range
    }

    /// Rows in all files.
    pub fn rows(&self) -> usize {
        self.files.iter().map(|(_, md)| md.num_rows).sum()
    }

    /// Calls `f` on batches of whole row groups of about `batch_rows` rows (at least one
    /// row group), holding only `columns`, until it returns false. The next batch is read
    /// while `f` works on one (two batches in memory at most).
    pub fn scan(
        &self,
        columns: &[String],
        batch_rows: usize,
        f: &mut dyn FnMut(DataFrame) -> Result<bool, String>,
    ) -> Result<(), String> {
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DataFrame, String>>(1);
            s.spawn(move || {
                for (k, (path, md)) in self.files.iter().enumerate() {
                    let groups: Vec<usize> = md.row_groups.iter().map(|g| g.num_rows()).collect();
                    let (mut at, mut i) = (0, 0);
                    while i < groups.len() {
                        let mut len = 0;
                        while i < groups.len() && (len == 0 || len + groups[i] <= batch_rows) {
                            len += groups[i];
                            i += 1;
                        }
                        let batch = self.read_rows(k, path, md, columns, at, len);
                        at += len;
                        let failed = batch.is_err();
                        // A closed channel: the consumer stopped early.
                        if tx.send(batch).is_err() || failed {
                            return;
                        }
                    }
                }
            });
            for batch in rx {
                if !f(batch?)? {
                    break;
                }
            }
            Ok(())
        })
    }
}

impl ParquetScan {
    /// Rows `at..at + len` of file `k` (whole row groups), mapped afresh and released
    /// after, with the path's columns among `columns` put back.
    fn read_rows(
        &self,
        k: usize,
        path: &Path,
        md: &FileMetadataRef,
        columns: &[String],
        at: usize,
        len: usize,
    ) -> Result<DataFrame, String> {
        let in_path: Vec<crate::hive::PathColumn> =
            self.path_columns.iter().filter(|c| columns.contains(&c.name)).cloned().collect();
        let in_file: Vec<String> = columns.iter().filter(|c| !in_path.iter().any(|p| &&p.name == c)).cloned().collect();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut reader = ParquetReader::new(file).with_columns(Some(in_file)).with_slice(Some((at, len)));
        reader.set_metadata(Arc::clone(md));
        let mut df = reader.finish().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !in_path.is_empty() {
            crate::hive::add_path_columns(&mut df, &self.path_values[k], &in_path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            df = df.select(columns.iter().map(|c| PlSmallStr::from(c.as_str()))).map_err(|e| e.to_string())?;
        }
        Ok(df)
    }
}
