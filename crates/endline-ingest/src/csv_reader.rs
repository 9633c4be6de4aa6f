//! CSV records as the csv crate reads them (its defaults: `,` delimiter, `"` quotes with
//! `""` escapes, `\r`, `\n` and `\r\n` ending records, empty lines skipped), faster for
//! the usual line of an export: a line with no quote and no carriage return but its last
//! is split at its commas directly. Any other record goes through csv_core's parser,
//! the csv crate's own. A property test holds the records equal to the csv crate's.

use std::io::Read;

use csv_core::{ReadRecordResult, Reader as Core};
use memchr::{memchr, memchr_iter, memchr2};

use crate::read::{MAX_RECORD_BYTES, RawRecord};

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum CsvError {
    Io(std::io::Error),
    /// A record that is not valid UTF-8: where the record starts (1-based line, byte
    /// offset) and its field (0-based) holding the bad bytes.
    Utf8 {
        line: u64,
        byte: u64,
        field: usize,
    },
    /// A record with another number of fields than the first record (the header).
    Ragged {
        expected: usize,
        len: usize,
    },
    /// A record longer than [`MAX_RECORD_BYTES`].
    TooLong,
}

impl From<std::io::Error> for CsvError {
    fn from(e: std::io::Error) -> Self {
        CsvError::Io(e)
    }
}

/// Reads CSV records from `R`, in a buffer of its own.
pub(crate) struct CsvReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// The unread bytes: `buf[at..end]`.
    at: usize,
    end: usize,
    eof: bool,
    core: Core,
    /// 1-based line and stream offset of `buf[at]`.
    line: u64,
    byte: u64,
    /// The number of fields of the first record.
    fields: Option<usize>,
    /// csv_core's output for a record (its bytes and the end of each field).
    out: Vec<u8>,
    ends: Vec<usize>,
    /// The longest record accepted: [`MAX_RECORD_BYTES`] (less in tests).
    max_record: usize,
}

const CHUNK: usize = 1 << 16;

impl<R: Read> CsvReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CsvReader {
            inner,
            buf: vec![0; CHUNK],
            at: 0,
            end: 0,
            eof: false,
            core: Core::new(),
            line: 1,
            byte: 0,
            fields: None,
            out: vec![0; 1024],
            ends: vec![0; 64],
            max_record: MAX_RECORD_BYTES,
        }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads more input after the unread bytes (moved to the front of the buffer, which
    /// grows when they fill it); false at the end of the input.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn consume(&mut self, n: usize, lines: u64) {
        self.line += lines;
        self.byte += n as u64;
        self.at += n;
    }

    /// Reads the next record into `rec` (its row is left as it is); false at the end.
    pub(crate) fn read_record(&mut self, rec: &mut RawRecord) -> Result<bool, CsvError> {
        loop {
            let avail = &self.buf[self.at..self.end];
            let (len, next) = match memchr(b'\n', avail) {
                Some(nl) => (nl, nl + 1),
                // A line that does not end within the limit is refused as it is read,
                // not once its end is found (a file that never ends a line).
                None if avail.len() > self.max_record + 1 => return Err(CsvError::TooLong),
                None if !self.eof => {
                    self.fill()?;
                    continue;
                }
                None if avail.is_empty() => return Ok(false),
                None => (avail.len(), avail.len()),
            };
            let line = &avail[..len];
            let plain = match memchr2(b'"', b'\r', line) {
                None => Some(line),
                Some(i) if i + 1 == len && line[i] == b'\r' => Some(&line[..i]),
                Some(_) => None,
            };
            let Some(line) = plain else { return self.read_parsed(rec) };
            if line.len() > self.max_record {
                return Err(CsvError::TooLong);
            }
            if line.is_empty() {
                self.consume(next, 1);
                continue;
            }
            let text = match std::str::from_utf8(line) {
                Ok(text) => text,
                Err(e) => {
                    let field = memchr_iter(b',', &line[..e.valid_up_to()]).count();
                    return Err(CsvError::Utf8 { line: self.line, byte: self.byte, field });
                }
            };
            rec.set_line(text, |ends| field_ends(line, ends));
            self.consume(next, u64::from(next > len));
            return self.check_fields(rec).map(|()| true);
        }
    }

    /// Reads a record with csv_core's parser (quotes, carriage returns, records over
    /// several lines).
    fn read_parsed(&mut self, rec: &mut RawRecord) -> Result<bool, CsvError> {
        let (line, byte) = (self.line, self.byte);
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            let input = &self.buf[self.at..self.end];
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut self.out[outlen..], &mut self.ends[endlen..]);
            let lines = memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.consume(nin, lines);
            outlen += nout;
            endlen += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    self.fill()?;
                }
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull
                    if outlen + endlen > self.max_record =>
                {
                    return Err(CsvError::TooLong);
                }
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => break,
                ReadRecordResult::End => return Ok(false),
            }
        }
        // The record's text has a separator after each field.
        if outlen + endlen > self.max_record {
            return Err(CsvError::TooLong);
        }
        // Each field must be valid UTF-8 on its own (fields are joined without separators).
        rec.clear();
        let mut start = 0;
        for (field, &end) in self.ends[..endlen].iter().enumerate() {
            let Ok(cell) = std::str::from_utf8(&self.out[start..end]) else {
                return Err(CsvError::Utf8 { line, byte, field });
            };
            rec.push_cell(cell);
            start = end;
        }
        self.check_fields(rec).map(|()| true)
    }

    fn check_fields(&mut self, rec: &RawRecord) -> Result<(), CsvError> {
        match self.fields {
            None => {
                self.fields = Some(rec.len());
                Ok(())
            }
            Some(expected) if expected == rec.len() => Ok(()),
            Some(expected) => Err(CsvError::Ragged { expected, len: rec.len() }),
        }
    }
}

/// Appends the end of each of `line`'s comma-separated fields to `ends`. Fields are
/// short (a few bytes), so the commas are found eight bytes at a time: a byte equal to
/// `,` becomes zero after the XOR, and the mask has the high bit of exactly the zero
/// bytes (no borrow crosses bytes, unlike the shorter `(x - 0x01..) & !x` test).
fn field_ends(line: &[u8], ends: &mut Vec<u32>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    let mut words = line.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        if let Some(w) = word.first_chunk::<8>() {
            let x = u64::from_le_bytes(*w) ^ COMMAS;
            let mut zero = !(((x & LOW7) + LOW7) | x | LOW7);
            while zero != 0 {
                ends.push(base + zero.trailing_zeros() / 8);
                zero &= zero - 1;
            }
        }
        base += 8;
    }
    ends.extend(words.remainder().iter().enumerate().filter(|&(_, &b)| b == b',').map(|(i, _)| base + i as u32));
    ends.push(line.len() as u32);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Reads in pieces of at most `piece` bytes, to cross the buffer's refills anywhere.
    struct Pieces<'a> {
        bytes: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.piece.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// Every record as the csv crate reads it (fields of any number), or where it fails.
    fn csv_crate(bytes: &[u8]) -> Result<Vec<Vec<String>>, String> {
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        r.records()
            .map(|rec| rec.map(|r| r.iter().map(str::to_string).collect()).map_err(|e| format!("{e:?}")))
            .collect()
    }

    fn ours(bytes: &[u8], piece: usize) -> Result<Vec<Vec<String>>, String> {
        let mut r = CsvReader::new(Pieces { bytes, piece });
        let mut rec = RawRecord::default();
        let mut all = Vec::new();
        loop {
            r.fields = None; // compared with the crate's flexible reading
            match r.read_record(&mut rec) {
                Ok(true) => all.push(rec.cells().map(str::to_string).collect()),
                Ok(false) => return Ok(all),
                Err(e) => return Err(format!("{e:?}")),
            }
        }
    }

    /// A record longer than the limit is an error, plain or quoted, and one at the
    /// limit is read (the limit is lowered: the real one is 64 MiB).
    #[test]
    fn records_over_the_limit_are_refused() {
        let read = |bytes: &[u8]| {
            let mut r = CsvReader::new(bytes);
            r.max_record = 8;
            let mut rec = RawRecord::default();
            let mut all = Vec::new();
            loop {
                match r.read_record(&mut rec) {
                    Ok(true) => all.push(rec.cells().collect::<Vec<_>>().join("|")),
                    Ok(false) => return Ok(all),
                    Err(e) => return Err(format!("{e:?}")),
                }
            }
        };
        // At the limit: "abc,defg" is 8 bytes; quoted, `a,b` and `cde` are 3 + 3 bytes,
        // with a separator after each.
        assert_eq!(read(b"abc,defg\n"), Ok(vec!["abc|defg".to_string()]));
        assert_eq!(read(b"\"a,b\",cde\n"), Ok(vec!["a,b|cde".to_string()]));
        assert_eq!(read(b"abc,defgh\n"), Err("TooLong".to_string()));
        assert_eq!(read(b"\"a,b\",cdef\n"), Err("TooLong".to_string()));
    }

    proptest! {
        #[test]
        fn field_ends_are_the_commas(line in proptest::collection::vec(proptest::sample::select(&b",,a\xac\x2d\x2b\x00"[..]), 0..40)) {
            let mut ends = Vec::new();
            field_ends(&line, &mut ends);
            let expected: Vec<u32> = line
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b',')
                .map(|(i, _)| i as u32)
                .chain([line.len() as u32])
                .collect();
            prop_assert_eq!(ends, expected);
        }
    }

    proptest! {

        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Any record, invalid UTF-8 included (0xC3 0xA9 is `é`; 0xFF or a lone 0xC3 are invalid).
        #[test]
        fn records_are_the_csv_crates(
            bytes in proptest::collection::vec(proptest::sample::select(&b"a,\"\r\n \xC3\xA9\xFF"[..]), 0..40),
            piece in 1usize..9,
        ) {
            let expected = csv_crate(&bytes);
            let got = ours(&bytes, piece);
            prop_assert_eq!(got.is_ok(), expected.is_ok());
            if let Ok(expected) = expected {
                prop_assert_eq!(got.unwrap_or_default(), expected);
            }
        }
    }

    #[test]
    fn lines_fields_and_errors() {
        let bytes = b"a,b\r\n\n1,\"x\ny\"\n2,3\n4\n";
        let mut r = CsvReader::new(&bytes[..]);
        let mut rec = RawRecord::default();
        let mut read =
            |r: &mut CsvReader<&[u8]>| r.read_record(&mut rec).map(|_| rec.cells().collect::<Vec<_>>().join("|"));
        assert_eq!(read(&mut r).ok().as_deref(), Some("a|b"));
        assert_eq!(read(&mut r).ok().as_deref(), Some("1|x\ny"));
        assert_eq!(read(&mut r).ok().as_deref(), Some("2|3"));
        assert_eq!(r.line, 6);
        assert!(matches!(read(&mut r), Err(CsvError::Ragged { expected: 2, len: 1 })));
        let bad = b"a,b\n1,ok\n2,x\xff\n";
        let mut r = CsvReader::new(&bad[..]);
        let mut rec = RawRecord::default();
        assert!(r.read_record(&mut rec).is_ok() && r.read_record(&mut rec).is_ok());
        assert!(matches!(r.read_record(&mut rec), Err(CsvError::Utf8 { line: 3, byte: 9, field: 1 })));
        let bad = b"a,b\n\"1\",x\xff\n";
        let mut r = CsvReader::new(&bad[..]);
        assert!(r.read_record(&mut rec).is_ok());
        assert!(matches!(r.read_record(&mut rec), Err(CsvError::Utf8 { line: 2, byte: 4, field: 1 })));
    }
}
