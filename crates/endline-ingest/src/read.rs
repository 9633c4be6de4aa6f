//! Reading collected responses: bytes (UTF-8 with or without BOM, or a legacy encoding)
//! to records of cells as written. CSV is streamed record by record, so a file is never
//! held whole; JSON Lines and JSON arrays are read whole (a record's columns are the
//! union of every object's keys, known only at the end).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::csv_reader::{CsvError, CsvReader};
use crate::error::IngestError;
use crate::json_reader::{Form, JsonRecords, Open};

/// The longest record read, in bytes (its cells and one separator after each): 64 MiB.
/// No survey record comes near it (media are exported apart), and it bounds what one
/// record can cost: a 200 MB field took 1.35 GB, and a file that never ends a line (a
/// link to /dev/zero) grew until the process was killed. Cell ends are kept as `u32`,
/// which this also keeps safe.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// One record as written in its file: its cells in one buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawRecord {
    /// 1-based index of the record in its file (header not counted).
    pub row: usize,
    /// The cells, each followed by one separator byte (a `,` for a plain CSV line, read
    /// in one copy).
    text: String,
    /// End of each cell in `text` (the next cell starts one byte after). Readers refuse
    /// a record longer than [`MAX_RECORD_BYTES`] ([`RawRecord::too_long`]), so every
    /// end fits.
    ends: Vec<u32>,
}

impl RawRecord {
    /// A record from its cells (an empty cell is unanswered).
    pub fn new<'c>(row: usize, cells: impl IntoIterator<Item = &'c str>) -> Self {
        let mut r = RawRecord { row, ..RawRecord::default() };
        r.set_cells(cells);
        r
    }

    /// Makes this record's cells `cells`.
    pub(crate) fn set_cells<'c>(&mut self, cells: impl IntoIterator<Item = &'c str>) {
        self.clear();
        for c in cells {
            self.push_cell(c);
        }
    }

    /// Removes every cell.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Whether its cells are longer than [`MAX_RECORD_BYTES`] (their ends are then not
    /// kept right: readers report the record instead).
    pub(crate) fn too_long(&self) -> bool {
        self.text.len() > MAX_RECORD_BYTES
    }

    /// Appends a cell.
    pub(crate) fn push_cell(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len() as u32);
        self.text.push(',');
    }

    /// Makes this record's cells `text` (at most [`MAX_RECORD_BYTES`]) cut at the ends
    /// `fill_ends` gives: each cell's end in `text`, which has one separator byte after
    /// each cell but the last.
    pub(crate) fn set_line(&mut self, text: &str, fill_ends: impl FnOnce(&mut Vec<u32>)) {
        self.text.clear();
        self.text.push_str(text);
        self.ends.clear();
        fill_ends(&mut self.ends);
    }

    /// Its cells, laid out as a record of [`Cells`] is.
    fn view(&self) -> RecordCells<'_> {
        RecordCells { text: &self.text, ends: &self.ends }
    }

    /// Cell `i`; `None` when it is empty or absent.
    pub fn cell(&self, i: usize) -> Option<&str> {
        self.view().cell(i)
    }

    /// The cells, empty ones included.
    pub fn cells(&self) -> impl Iterator<Item = &str> {
        let view = self.view();
        (0..self.ends.len()).map(move |i| view.raw(i).unwrap_or_default())
    }

    /// About the bytes it took in its file (cells and separators).
    pub fn bytes(&self) -> u64 {
        self.text.len() as u64 + 1
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record has no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Records of one file, compactly: every cell's text in one buffer (no allocation per
/// record or per cell).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    /// Every cell, each followed by one separator byte.
    text: String,
    /// End of each cell in its record's text (the next cell starts one byte after).
    ends: Vec<u32>,
    /// Index in `ends` of each record's first cell, and one past the last record's last.
    first: Vec<usize>,
    /// Where each record starts in `text`, and where the next one would.
    starts: Vec<usize>,
    /// Each record's 1-based row in its file.
    rows: Vec<usize>,
}

/// How much a [`Cells`] holds, to make another ready for about as much.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CellsSize {
    text: usize,
    cells: usize,
    records: usize,
}

impl Cells {
    /// Empty cells with room for `size` and an eighth more (the next batch of a stream
    /// is about the size of the last): filling them does not copy them as they grow.
    pub(crate) fn with_room(size: CellsSize) -> Self {
        let more = |n: usize| n + n / 8;
        let records = more(size.records) + 1;
        Cells {
            text: String::with_capacity(more(size.text)),
            ends: Vec::with_capacity(more(size.cells)),
            first: Vec::with_capacity(records),
            starts: Vec::with_capacity(records),
            rows: Vec::with_capacity(records),
        }
    }

    /// How much these cells hold.
    pub(crate) fn size(&self) -> CellsSize {
        CellsSize { text: self.text.len(), cells: self.ends.len(), records: self.rows.len() }
    }

    /// Appends a record: its cells' text in one copy.
    pub fn push(&mut self, record: &RawRecord) {
        if self.first.is_empty() {
            self.first.push(0);
            self.starts.push(0);
        }
        if let Some(&last) = record.ends.last() {
            self.text.push_str(&record.text[..last as usize]);
            self.text.push(',');
            self.ends.extend_from_slice(&record.ends);
        }
        self.first.push(self.ends.len());
        self.starts.push(self.text.len());
        self.rows.push(record.row);
    }

    /// Appends a record given as its row and cells (no longer, with a separator after
    /// each, than [`MAX_RECORD_BYTES`]: a record read before, as the split on disk holds).
    pub fn push_cells<'c>(&mut self, row: usize, cells: impl Iterator<Item = &'c str>) {
        if self.first.is_empty() {
            self.first.push(0);
            self.starts.push(0);
        }
        let base = self.text.len();
        for c in cells {
            self.text.push_str(c);
            self.ends.push((self.text.len() - base) as u32);
            self.text.push(',');
        }
        self.first.push(self.ends.len());
        self.starts.push(self.text.len());
        self.rows.push(row);
    }

    /// Removes every record, keeping the memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.first.clear();
        self.starts.clear();
        self.rows.clear();
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Record `r`'s 1-based row in its file.
    pub fn row(&self, r: usize) -> usize {
        self.rows[r]
    }

    /// Cell `i` of record `r`; `None` when it is empty or absent (or there is no record `r`).
    pub fn cell(&self, r: usize, i: usize) -> Option<&str> {
        if r >= self.len() {
            return None;
        }
        self.record(r).cell(i)
    }

    /// Record `r`'s cells, found once for reading several.
    pub fn record(&self, r: usize) -> RecordCells<'_> {
        let (a, b) = (self.first[r], self.first[r + 1]);
        RecordCells { text: &self.text[self.starts[r]..], ends: &self.ends[a..b] }
    }
}

/// The cells of one record of [`Cells`].
#[derive(Debug, Clone, Copy)]
pub struct RecordCells<'c> {
    /// Its text (and the records after it).
    text: &'c str,
    /// The end of each of its cells in `text`.
    ends: &'c [u32],
}

impl<'c> RecordCells<'c> {
    /// Cell `i`, empty or not; `None` when absent.
    fn raw(&self, i: usize) -> Option<&'c str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends[p] as usize + 1,
            None => 0,
        };
        self.text.get(start..end)
    }

    /// Cell `i`; `None` when it is empty or absent.
    pub fn cell(&self, i: usize) -> Option<&'c str> {
        self.raw(i).filter(|c| !c.is_empty())
    }
}

/// A file's records, with the column names as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTable {
    /// The file, as the user named it.
    pub file: String,
    /// Column names (for JSON: every key seen, in order of first appearance).
    pub columns: Vec<String>,
    /// The records.
    pub records: Vec<RawRecord>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn encoding_of(label: Option<&str>) -> Result<&'static encoding_rs::Encoding, IngestError> {
    let label = label.unwrap_or("utf-8");
    encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        IngestError::Usage(format!("unknown encoding `{label}`; use a label such as utf-8, gb18030, gbk, big5, latin1"))
    })
}

/// The hint for a file that is not valid UTF-8 but is valid GB18030 (the legacy encoding
/// of Chinese exports).
fn gb18030_hint(decodes: bool) -> &'static str {
    if decodes { "; it decodes cleanly as GB18030: try --encoding gb18030" } else { "" }
}

/// Decodes `bytes`: a UTF-8 BOM is dropped; with `encoding` (a WHATWG label such as
/// `gb18030`), bytes are decoded from it. Invalid bytes are an error naming the line and
/// byte, with a hint when another encoding decodes the file cleanly.
pub fn decode(file: &str, bytes: &[u8], encoding: Option<&str>) -> Result<String, IngestError> {
    let enc = encoding_of(encoding)?;
    if enc != encoding_rs::UTF_8 {
        let mut text = String::new();
        return match Decoding::new(bytes, enc).read_to_string(&mut text) {
            Ok(_) => Ok(text),
            Err(e) => Err(undecodable(file, &e).unwrap_or_else(|| IngestError::Io(format!("cannot read {file}: {e}")))),
        };
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            let hint = gb18030_hint(Decoding::new(bytes, encoding_rs::GB18030).read_to_end(&mut Vec::new()).is_ok());
            Err(IngestError::Encoding {
                file: file.to_string(),
                line,
                byte: at,
                message: format!("not valid {}{hint}", enc.name()),
            })
        }
    }
}

/// Passes bytes through while following CSV quoting, so that a file ending inside a
/// quoted field (a truncated file, which the csv parser accepts) is caught. Only the
/// bytes around each `"` are looked at. A UTF-8 BOM at the start is dropped.
struct QuoteTracker<R> {
    inner: R,
    started: bool,
    in_quotes: bool,
    /// In quotes, the chunk ended on a `"`: it closes the field unless the next byte is
    /// another `"`.
    pending_quote: bool,
    /// The last byte passed through (outside quotes, a `"` opens a field only at its start).
    last: u8,
}

impl<R: BufRead> QuoteTracker<R> {
    fn new(inner: R) -> Self {
        QuoteTracker { inner, started: false, in_quotes: false, pending_quote: false, last: b'\n' }
    }

    /// Whether the bytes so far end inside a quoted field.
    fn in_quotes(&self) -> bool {
        self.in_quotes && !self.pending_quote
    }

    fn follow(&mut self, bytes: &[u8]) {
        let mut i = 0;
        if self.pending_quote && !bytes.is_empty() {
            self.pending_quote = false;
            if bytes[0] == b'"' {
                i = 1; // an escaped quote
            } else {
                self.in_quotes = false;
            }
        }
        while i < bytes.len() {
            let Some(q) = memchr::memchr(b'"', &bytes[i..]) else { break };
            let at = i + q;
            if self.in_quotes {
                match bytes.get(at + 1) {
                    Some(b'"') => i = at + 2,
                    Some(_) => {
                        self.in_quotes = false;
                        i = at + 1;
                    }
                    None => {
                        self.pending_quote = true;
                        i = at + 1;
                    }
                }
            } else {
                let before = if at == 0 { self.last } else { bytes[at - 1] };
                if matches!(before, b',' | b'\n' | b'\r') {
                    self.in_quotes = true;
                }
                i = at + 1;
            }
        }
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
    }
}

impl<R: BufRead> Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.started {
            self.started = true;
            if self.inner.fill_buf()?.starts_with(BOM) {
                self.inner.consume(BOM.len());
            }
        }
        let n = self.inner.read(buf)?;
        self.follow(&buf[..n]);
        Ok(n)
    }
}

/// Where a legacy encoding stopped decoding, carried through the csv reader's I/O error.
#[derive(Debug)]
struct Undecodable {
    line: usize,
    byte: usize,
    encoding: &'static str,
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not valid {} at line {}", self.encoding, self.line)
    }
}

impl std::error::Error for Undecodable {}

/// Decodes a legacy encoding to UTF-8 as the bytes are read.
struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static str,
    out: Vec<u8>,
    out_at: usize,
    /// Bytes consumed from `inner` and newlines among them (for error positions).
    consumed: usize,
    lines: usize,
    done: bool,
}

impl<R: BufRead> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Decoding {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding: encoding.name(),
            out: Vec::new(),
            out_at: 0,
            consumed: 0,
            lines: 0,
            done: false,
        }
    }
}

/// The encoding error a [`Decoding`] reader stopped on, if `e` is one.
fn undecodable(file: &str, e: &std::io::Error) -> Option<IngestError> {
    let u = e.get_ref()?.downcast_ref::<Undecodable>()?;
    Some(IngestError::Encoding {
        file: file.into(),
        line: u.line,
        byte: u.byte,
        message: format!("not valid {}", u.encoding),
    })
}

impl<R: BufRead> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_at == self.out.len() && !self.done {
            let src = self.inner.fill_buf()?;
            let last = src.is_empty();
            self.out.clear();
            self.out.resize(src.len() * 3 + 16, 0);
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(src, &mut self.out, last);
            if let encoding_rs::DecoderResult::Malformed(bad, after) = result {
                // The malformed bytes end `after` bytes before what was read.
                let at = read.saturating_sub(usize::from(bad) + usize::from(after));
                let line = self.lines + src[..at].iter().filter(|b| **b == b'\n').count() + 1;
                let err = Undecodable { line, byte: self.consumed + at, encoding: self.encoding };
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, err));
            }
            self.lines += src[..read].iter().filter(|b| **b == b'\n').count();
            self.consumed += read;
            self.inner.consume(read);
            self.out.truncate(written);
            self.out_at = 0;
            self.done = last;
        }
        let n = (self.out.len() - self.out_at).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
        self.out_at += n;
        Ok(n)
    }
}

type Csv = CsvReader<QuoteTracker<BufReader<Box<dyn Read + Send>>>>;

/// The records of one data file, one at a time.
pub struct Records {
    file: String,
    columns: Vec<String>,
    source: Source,
    /// An endline rejects file (it has `_reasons`): its cells were written neutralised
    /// against spreadsheet formulas ([`endline_output::csv_cell`]) and are restored.
    restore: bool,
}

enum Source {
    Csv { reader: Box<Csv>, row: usize, path: Option<std::path::PathBuf> },
    Json(Box<JsonRecords>),
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records").field("file", &self.file).field("columns", &self.columns).finish_non_exhaustive()
    }
}

impl Records {
    /// The file, as the user named it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Its column names, as written.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Reads a whole table into memory.
    pub fn into_table(mut self) -> Result<RawTable, IngestError> {
        let mut records = Vec::new();
        let mut record = RawRecord::default();
        while self.next_into(&mut record)? {
            records.push(record.clone());
        }
        Ok(RawTable { file: self.file, columns: self.columns, records })
    }

    /// Reads the next record into `out` (reusing its buffers); false at the end. A ragged
    /// row, a file that ends inside a quoted field, or undecodable bytes are errors.
    pub fn next_into(&mut self, out: &mut RawRecord) -> Result<bool, IngestError> {
        let file = &self.file;
        match &mut self.source {
            Source::Json(reader) => reader.next_into(out),
            Source::Csv { reader, row, path } => {
                let more = reader.read_record(out).map_err(|e| csv_error(file, *row + 1, e, path.as_deref()))?;
                if !more {
                    if reader.get_ref().in_quotes() {
                        return Err(IngestError::Malformed {
                            file: file.clone(),
                            row: *row,
                            message: "the file ends inside a quoted field: it looks truncated".into(),
                        });
                    }
                    return Ok(false);
                }
                *row += 1;
                out.row = *row;
                if self.restore {
                    let cells: Vec<String> =
                        out.cells().map(|c| endline_output::csv_cell::restore(c).to_string()).collect();
                    out.set_cells(cells.iter().map(String::as_str));
                }
                Ok(true)
            }
        }
    }
}

/// Streams CSV from `input`: a header row, then records. Every record must have as many
/// fields as the header, and the input must not end inside a quoted field.
fn csv_records(
    file: &str,
    input: Box<dyn Read + Send>,
    encoding: &'static encoding_rs::Encoding,
    path: Option<&Path>,
) -> Result<Records, IngestError> {
    let input: Box<dyn Read + Send> = if encoding == encoding_rs::UTF_8 {
        input
    } else {
        Box::new(Decoding::new(BufReader::with_capacity(1 << 16, input), encoding))
    };
    // The CSV reader buffers; this buffer is only for the BOM's look ahead, small enough
    // that the reader's reads pass it by (a read at least its size is not copied through).
    let tracker = QuoteTracker::new(BufReader::with_capacity(1 << 12, input));
    let mut reader = CsvReader::new(tracker);
    let mut header = RawRecord::default();
    let columns: Vec<String> = match reader.read_record(&mut header) {
        Ok(_) => header.cells().map(|h| h.trim().to_string()).collect(),
        Err(e) => return Err(csv_error(file, 0, e, path)),
    };
    if columns.iter().all(String::is_empty) {
        return Err(IngestError::Malformed { file: file.into(), row: 0, message: "the file has no header row".into() });
    }
    let restore = columns.iter().any(|c| c == "_reasons");
    let columns = if restore {
        columns.iter().map(|c| endline_output::csv_cell::restore(c).to_string()).collect()
    } else {
        columns
    };
    Ok(Records {
        file: file.to_string(),
        columns,
        source: Source::Csv { reader: Box::new(reader), row: 0, path: path.map(Path::to_path_buf) },
        restore,
    })
}

fn csv_error(file: &str, row: usize, e: CsvError, path: Option<&Path>) -> IngestError {
    match e {
        CsvError::Ragged { expected, len } => IngestError::Malformed {
            file: file.into(),
            row,
            message: format!("has {len} fields, but the header has {expected} (a ragged row)"),
        },
        CsvError::Utf8 { line, byte, field } => {
            // Only on this error path is the file read again, to suggest GB18030.
            let decodes = path.is_some_and(|p| decodes_cleanly(p, encoding_rs::GB18030));
            IngestError::Encoding {
                file: file.into(),
                line: line as usize,
                byte: byte as usize,
                message: format!("not valid UTF-8 (in field {}){}", field + 1, gb18030_hint(decodes)),
            }
        }
        CsvError::TooLong => too_long(file, row),
        CsvError::Io(io) => {
            undecodable(file, &io).unwrap_or_else(|| IngestError::Io(format!("cannot read {file}: {io}")))
        }
    }
}

/// Whether the whole file decodes without error in `encoding` (streamed).
fn decodes_cleanly(path: &Path, encoding: &'static encoding_rs::Encoding) -> bool {
    std::fs::File::open(path).is_ok_and(|f| {
        std::io::copy(&mut Decoding::new(BufReader::with_capacity(1 << 16, f), encoding), &mut std::io::sink()).is_ok()
    })
}

/// Parses CSV text: a header row, then records (see [`open`]).
pub fn parse_csv(file: &str, text: &str) -> Result<RawTable, IngestError> {
    let bytes: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    csv_records(file, bytes, encoding_rs::UTF_8, None)?.into_table()
}

fn too_long(file: &str, row: usize) -> IngestError {
    IngestError::Malformed {
        file: file.into(),
        row,
        message: format!("is longer than {} MiB, the most a record may hold", MAX_RECORD_BYTES >> 20),
    }
}

/// Parses JSON Lines held in memory: one object per non-empty line (the streaming reader
/// of [`open`], over the text).
pub fn parse_jsonl(file: &str, text: &str) -> Result<RawTable, IngestError> {
    json_table(file, text, Form::Lines)
}

/// Parses a JSON array of objects held in memory (the streaming reader of [`open`], over
/// the text). Keys are taken
/// in sorted order within a record.
pub fn parse_json_array(file: &str, text: &str) -> Result<RawTable, IngestError> {
    json_table(file, text, Form::Array)
}

fn json_table(file: &str, text: &str, form: Form) -> Result<RawTable, IngestError> {
    let bytes: std::sync::Arc<[u8]> = text.trim_start_matches('\u{feff}').as_bytes().into();
    let open: Open = Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<dyn BufRead + Send>));
    let (columns, mut reader) = JsonRecords::open(file, form, &open)?;
    let mut records = Vec::new();
    let mut rec = RawRecord::default();
    while reader.next_into(&mut rec)? {
        records.push(std::mem::take(&mut rec));
    }
    Ok(RawTable { file: file.to_string(), columns, records })
}

/// Opens a data file by its extension (.csv, .jsonl/.ndjson, .json). Every form is
/// streamed: memory holds a record, not the file.
pub fn open(path: &Path, display: &str, encoding: Option<&str>) -> Result<Records, IngestError> {
    let enc = encoding_of(encoding)?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let cannot = |e: std::io::Error| IngestError::Io(format!("cannot read {display}: {e}"));
    let json = |form: Form| -> Result<Records, IngestError> {
        let (path, shown) = (path.to_path_buf(), display.to_string());
        let open: Open = Box::new(move || {
            let file = std::fs::File::open(&path).map_err(|e| IngestError::Io(format!("cannot read {shown}: {e}")))?;
            let mut input: Box<dyn BufRead + Send> = if enc == encoding_rs::UTF_8 {
                Box::new(BufReader::with_capacity(1 << 16, file))
            } else {
                Box::new(BufReader::new(Decoding::new(BufReader::with_capacity(1 << 16, file), enc)))
            };
            // A UTF-8 byte order mark is not part of the JSON.
            if input.fill_buf().is_ok_and(|b| b.starts_with(b"\xEF\xBB\xBF")) {
                input.consume(3);
            }
            Ok(input)
        });
        let (columns, reader) = JsonRecords::open(display, form, &open)?;
        Ok(Records { file: display.to_string(), columns, source: Source::Json(Box::new(reader)), restore: false })
    };
    match ext.as_str() {
        "csv" => {
            let file = std::fs::File::open(path).map_err(cannot)?;
            csv_records(display, Box::new(file), enc, Some(path))
        }
        "jsonl" | "ndjson" => json(Form::Lines),
        "json" => json(Form::Array),
        other => Err(IngestError::Usage(format!(
            "cannot tell the format of {display}: expected .csv, .jsonl or .json, not `.{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_newlines() {
        let t = parse_csv("a.csv", "\u{feff}id,name\n1,\"Dolma, Tashi\"\n2,\"two\nlines\"\n3,\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.columns, ["id", "name"]);
        assert_eq!(t.records.len(), 3);
        assert_eq!(t.records[0].cell(1), Some("Dolma, Tashi"));
        assert_eq!(t.records[1].cell(1), Some("two\nlines"));
        assert_eq!(t.records[2].cell(1), None);
    }

    #[test]
    fn ragged_truncated_and_misencoded_files_are_errors() {
        let ragged = parse_csv("r.csv", "a,b\n1,2\n3\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(ragged.contains("r.csv, row 2") && ragged.contains("ragged"), "{ragged}");
        let truncated = parse_csv("t.csv", "a,b\n1,\"unfinished\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(truncated.contains("truncated"), "{truncated}");
        // Quotes inside a field, escaped quotes and a quote closing at the very end are not truncation.
        for fine in ["a,b\n1,2\"x\n", "a,b\n1,\"say \"\"hi\"\"\"\n", "a,b\n1,\"done\""] {
            assert!(parse_csv("f.csv", fine).is_ok(), "{fine}");
        }
        let (gb, _, _) = encoding_rs::GB18030.encode("id,村\n1,拉萨\n");
        let err = decode("g.csv", &gb, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 1") && err.contains("--encoding gb18030"), "{err}");
        assert_eq!(decode("g.csv", &gb, Some("gb18030")).unwrap_or_default(), "id,村\n1,拉萨\n");
    }

    #[test]
    fn quote_tracking_survives_any_chunking() {
        // The tracker sees the bytes in whatever pieces the reader asks for.
        let text = b"a,b\n1,\"x\"\"y\"\n2,\"p,q\"\n3,\"open";
        for cut in 1..text.len() {
            let mut t = QuoteTracker::new(&text[..0]);
            t.follow(&text[..cut]);
            t.follow(&text[cut..]);
            assert!(t.in_quotes(), "cut at {cut}");
            let mut t = QuoteTracker::new(&text[..0]);
            t.follow(&text[..text.len() - 5]);
            assert!(!t.in_quotes());
        }
    }

    #[test]
    fn legacy_encodings_are_decoded_as_they_stream() {
        let (gb, _, _) = encoding_rs::GB18030.encode("id,村\n1,拉萨\n2,日喀则\n");
        let recs = csv_records("g.csv", Box::new(std::io::Cursor::new(gb.into_owned())), encoding_rs::GB18030, None)
            .and_then(Records::into_table)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recs.columns, ["id", "村"]);
        assert_eq!(recs.records[1].cell(1), Some("日喀则"));
        let bad = b"id,x\n1,ok\n2,\x81\x20\n".to_vec();
        let err = csv_records("b.csv", Box::new(std::io::Cursor::new(bad)), encoding_rs::GB18030, None)
            .and_then(Records::into_table)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("b.csv, line 3 (byte 12)") && err.contains("gb18030"), "{err}");
        // A file read whole (JSON) is decoded by the same reader, with the same position.
        let bad = b"{\"id\": 1}\n{\"id\": 2}\n{\"x\": \"\x81\x20\"}\n";
        let err = decode("b.jsonl", bad, Some("gb18030")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("b.jsonl, line 3 (byte 27)") && err.contains("gb18030"), "{err}");
    }

    #[test]
    fn json_lines_and_arrays_flatten_groups() {
        let t = parse_jsonl(
            "a.jsonl",
            "{\"id\": 1, \"grp\": {\"age\": 30}, \"crops\": [\"a\", \"b\"]}\n\n{\"id\": 2, \"x\": null}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Keys come in sorted order (serde_json's map), which is deterministic.
        assert_eq!(t.columns, ["crops", "grp/age", "id", "x"]);
        assert_eq!(t.records[0].cell(0), Some("a b"));
        assert_eq!((t.records[1].row, t.records[1].cell(1)), (2, None));
        let a = parse_json_array("a.json", "[{\"id\": 1}, {\"id\": 2}]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.records.len(), 2);
        assert!(parse_json_array("b.json", "[{\"id\": 1},").is_err());
    }
}
