//! Parquet files written row group by row group through a buffer, their pages
//! compressed with zstd as polars would, in the Arrow types every consumer opens.

use super::*;

/// Where a [`Buffered`] file keeps the error of its last flush.
pub(super) type Failed = Arc<Mutex<Option<std::io::Error>>>;

/// A Parquet file written through a buffer: polars writes page headers and the footer a
/// few bytes at a time, each a system call without one. polars keeps its writer until it
/// is dropped, so the last flush is done then, and its error kept in `failed` for
/// [`Writer::finish`] to report.
pub(super) struct Buffered {
    pub(super) file: BufWriter<File>,
    pub(super) failed: Failed,
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

/// An open Parquet file: polars' writer (the schema, the footer and its metadata), and
/// what encoding a row group needs.
pub(super) struct Parquet {
    pub(super) writer: BatchedWriter<Buffered>,
    /// Each column's Parquet type.
    pub(super) types: Vec<ParquetType>,
    /// The encodings polars chooses for each column's leaves.
    pub(super) encodings: Vec<Vec<Encoding>>,
    /// One zstd context for every page of the file.
    pub(super) zstd: Zstd,
}

/// Compresses pages as polars-parquet does (zstd at [`ZSTD_LEVEL`], the same library),
/// with one context kept for every page: polars makes a context for each page and
/// zero-fills each page's output buffer first, both costs of their own at scale.
pub(super) struct Zstd(zstd::bulk::Compressor<'static>);

/// The zstd level of every page: the fastest.
pub(super) const ZSTD_LEVEL: i32 = 1;

impl Zstd {
    pub(super) fn new() -> std::io::Result<Self> {
        zstd::bulk::Compressor::new(ZSTD_LEVEL).map(Zstd)
    }

    pub(super) fn compress(&mut self, input: &[u8]) -> PolarsResult<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(input.len()));
        self.0.compress_to_buffer(input, &mut out)?;
        Ok(out)
    }

    /// A page compressed as `polars_parquet::write::compress` compresses it (version 1
    /// data pages and dictionary pages; anything else is left to it).
    pub(super) fn page(&mut self, page: Page) -> PolarsResult<CompressedPage> {
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
pub(super) fn compression() -> ParquetCompression {
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
    pub(super) fn create(path: &Path, failed: &Failed, columns: &[Out], labels: &str) -> PolarsResult<Self> {
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
    pub(super) fn row_group(&mut self, columns: &[Out]) -> PolarsResult<()> {
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
pub(super) fn append(
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
