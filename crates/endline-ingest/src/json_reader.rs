//! JSON Lines and JSON arrays of objects, streamed in two passes: the first collects the
//! columns (every key of every record, nested objects flattened as `group/name`, in order
//! of first appearance), the second hands out records one at a time. Only the columns and
//! one record are held, never the file: a JSON export was read whole before.
//!
//! A JSON array is cut into its elements by a scanner that follows strings and nesting;
//! each element is at most [`MAX_RECORD_BYTES`] and is parsed on its own (serde_json
//! refuses nesting deeper than 128 levels, so no element can exhaust the stack).

use std::collections::HashMap;
use std::io::{BufRead, Read};

use crate::error::IngestError;
use crate::read::{MAX_RECORD_BYTES, RawRecord};

/// The two JSON forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// One object per non-empty line.
    Lines,
    /// An array of objects.
    Array,
}

/// Opens the file's bytes afresh (UTF-8, a BOM dropped): once per pass.
pub(crate) type Open = Box<dyn Fn() -> Result<Box<dyn BufRead + Send>, IngestError> + Send>;

/// A JSON file's records, in the columns of all of them.
pub(crate) struct JsonRecords {
    objects: Objects,
    index: HashMap<String, usize>,
    width: usize,
}

impl JsonRecords {
    /// Reads the file once for its columns; returns them and the reader of its records.
    pub(crate) fn open(file: &str, form: Form, open: &Open) -> Result<(Vec<String>, JsonRecords), IngestError> {
        let mut columns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut objects = Objects::new(file, form, open()?);
        let mut flat = Vec::new();
        while let Some((_, obj)) = objects.next()? {
            flat.clear();
            flatten("", &obj, &mut flat);
            for (k, _) in flat.drain(..) {
                index.entry(k).or_insert_with_key(|k| {
                    columns.push(k.clone());
                    columns.len() - 1
                });
            }
        }
        let width = columns.len();
        Ok((columns, JsonRecords { objects: Objects::new(file, form, open()?), index, width }))
    }

    /// The next record into `out`; false at the end.
    pub(crate) fn next_into(&mut self, out: &mut RawRecord) -> Result<bool, IngestError> {
        let Some((row, obj)) = self.objects.next()? else { return Ok(false) };
        let mut flat = Vec::new();
        flatten("", &obj, &mut flat);
        let mut cells: Vec<Option<String>> = vec![None; self.width];
        for (k, v) in flat {
            // The file is read again for the second pass: a key it did not have on the
            // first is a file that changed meanwhile.
            let i = self.index.get(&k).copied().ok_or_else(|| IngestError::Malformed {
                file: self.objects.file.clone(),
                row,
                message: "the file changed while it was read".into(),
            })?;
            cells[i] = v;
        }
        *out = RawRecord::new(row, cells.iter().map(|c| c.as_deref().unwrap_or_default()));
        if out.too_long() {
            return Err(self
                .objects
                .malformed(row, format!("is longer than {} MiB, the most a record may hold", MAX_RECORD_BYTES >> 20)));
        }
        Ok(true)
    }
}

/// A record's value as a cell: null and "" are empty, arrays joined by spaces (a
/// select_multiple), other scalars as JSON writes them.
fn json_cell(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => Some(a.iter().filter_map(json_cell).collect::<Vec<_>>().join(" ")),
        other => Some(other.to_string()),
    }
}

/// Flattens nested objects into `group/name` keys (KoboToolbox's own convention).
fn flatten(prefix: &str, obj: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<(String, Option<String>)>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}/{k}") };
        match v {
            serde_json::Value::Object(inner) => flatten(&key, inner, out),
            other => out.push((key, json_cell(other))),
        }
    }
}

type Object = serde_json::Map<String, serde_json::Value>;

fn unreadable(file: &str, row: usize, e: std::io::Error) -> IngestError {
    IngestError::Malformed { file: file.to_string(), row, message: format!("cannot be read: {e}") }
}

/// The objects of a JSON file, one at a time, with their 1-based record numbers.
struct Objects {
    file: String,
    form: Form,
    input: Box<dyn BufRead + Send>,
    /// Records handed out so far.
    row: usize,
    /// Lines read (JSON Lines).
    line: usize,
    /// The array's `[` has been read.
    started: bool,
    done: bool,
    buf: Vec<u8>,
}

impl Objects {
    fn new(file: &str, form: Form, input: Box<dyn BufRead + Send>) -> Self {
        Objects { file: file.to_string(), form, input, row: 0, line: 0, started: false, done: false, buf: Vec::new() }
    }

    fn malformed(&self, row: usize, message: String) -> IngestError {
        IngestError::Malformed { file: self.file.clone(), row, message }
    }

    fn next(&mut self) -> Result<Option<(usize, Object)>, IngestError> {
        if self.done {
            return Ok(None);
        }
        match self.form {
            Form::Lines => self.next_line(),
            Form::Array => self.next_element(),
        }
    }

    fn next_line(&mut self) -> Result<Option<(usize, Object)>, IngestError> {
        loop {
            self.buf.clear();
            let limit = MAX_RECORD_BYTES as u64 + 1;
            let n = (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| unreadable(&self.file, self.row, e))?;
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            self.line += 1;
            if self.buf.len() as u64 >= limit && self.buf.last() != Some(&b'\n') {
                let message = format!(
                    "line {} is longer than {} MiB, the most a record may hold",
                    self.line,
                    MAX_RECORD_BYTES >> 20
                );
                return Err(self.malformed(self.row + 1, message));
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.row += 1;
            let line = self.line;
            return match serde_json::from_slice::<serde_json::Value>(&self.buf) {
                Ok(serde_json::Value::Object(o)) => Ok(Some((self.row, o))),
                Ok(_) => Err(self.malformed(self.row, format!("line {line} is not a JSON object"))),
                Err(e) => Err(self.malformed(self.row, format!("line {line}: {e}"))),
            };
        }
    }

    /// The next byte that is not white space, without taking it.
    fn peek(&mut self) -> Result<Option<u8>, IngestError> {
        loop {
            let buf = self.input.fill_buf().map_err(|e| unreadable(&self.file, self.row, e))?;
            let Some(&b) = buf.first() else { return Ok(None) };
            if b.is_ascii_whitespace() {
                self.input.consume(1);
            } else {
                return Ok(Some(b));
            }
        }
    }

    fn next_element(&mut self) -> Result<Option<(usize, Object)>, IngestError> {
        if !self.started {
            if self.peek()? != Some(b'[') {
                return Err(self.malformed(0, "expected a JSON array of objects".into()));
            }
            self.input.consume(1);
            self.started = true;
            if self.peek()? == Some(b']') {
                self.input.consume(1);
                return self.end();
            }
        }
        let row = self.row + 1;
        if self.peek()? != Some(b'{') {
            return Err(self.malformed(row, "is not a JSON object (or the array is cut short)".into()));
        }
        self.read_object(row)?;
        let obj = match serde_json::from_slice::<serde_json::Value>(&self.buf) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => return Err(self.malformed(row, "is not a JSON object".into())),
            Err(e) => return Err(self.malformed(row, format!("invalid JSON: {e}"))),
        };
        self.row = row;
        match self.peek()? {
            Some(b',') => self.input.consume(1),
            Some(b']') => {
                self.input.consume(1);
                self.end()?;
            }
            _ => return Err(self.malformed(row, "is not followed by `,` or `]`: the array is cut short".into())),
        }
        Ok(Some((row, obj)))
    }

    /// Nothing but white space may follow the array.
    fn end(&mut self) -> Result<Option<(usize, Object)>, IngestError> {
        self.done = true;
        if self.peek()?.is_some() {
            return Err(self.malformed(self.row, "the array is followed by more text".into()));
        }
        Ok(None)
    }

    /// Reads one `{...}` into `buf`, following strings and nesting.
    fn read_object(&mut self, row: usize) -> Result<(), IngestError> {
        self.buf.clear();
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        loop {
            let chunk = self.input.fill_buf().map_err(|e| unreadable(&self.file, self.row, e))?;
            if chunk.is_empty() {
                return Err(self.malformed(row, "the file ends inside this object: it looks truncated".into()));
            }
            let mut taken = chunk.len();
            let mut closed = false;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            taken = i + 1;
                            closed = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            self.buf.extend_from_slice(&chunk[..taken]);
            self.input.consume(taken);
            if self.buf.len() > MAX_RECORD_BYTES {
                return Err(self.malformed(
                    row,
                    format!("is longer than {} MiB, the most a record may hold", MAX_RECORD_BYTES >> 20),
                ));
            }
            if closed {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::read::{parse_json_array, parse_jsonl};

    #[test]
    fn elements_are_cut_where_json_says_not_where_braces_appear() {
        let text = "\u{feff} [ {\"a\": \"}{ \\\" ]\", \"g\": {\"b\": [1, {\"c\": 2}]}} ,\n{\"a\": \"x\"}\n]  \n";
        let t = parse_json_array("a.json", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.columns, ["a", "g/b"]);
        assert_eq!(t.records.len(), 2);
        assert_eq!(t.records[0].cell(0), Some("}{ \" ]"));
        assert_eq!((t.records[1].row, t.records[1].cell(0)), (2, Some("x")));
        assert_eq!(parse_json_array("e.json", "[]").map(|t| t.records.len()).ok(), Some(0));
    }

    #[test]
    fn broken_arrays_are_errors_at_their_element() {
        for (text, row, says) in [
            ("{\"a\": 1}", 0, "expected a JSON array"),
            ("[{\"a\": 1}, 3]", 2, "is not a JSON object"),
            ("[{\"a\": 1} {\"a\": 2}]", 1, "is not followed by `,` or `]`"),
            ("[{\"a\": 1}, {\"a\": \"unfinished", 2, "truncated"),
            ("[{\"a\": 1}] tail", 1, "followed by more text"),
            ("[{\"a\": 1,}]", 1, "invalid JSON"),
        ] {
            match parse_json_array("b.json", text) {
                Err(crate::IngestError::Malformed { row: r, message, .. }) => {
                    assert_eq!(r, row, "{text}: {message}");
                    assert!(message.contains(says), "{text}: {message}");
                }
                other => panic!("{text}: expected an error, got {other:?}"),
            }
        }
        let deep = format!("[{{\"a\": {}1{}}}]", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_json_array("d.json", &deep).is_err(), "serde_json's depth limit, not a stack overflow");
        let lines = parse_jsonl("l.jsonl", "{\"a\": 1}\n\n[1]\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(lines.contains("line 3 is not a JSON object"), "{lines}");
    }
}
