//! Reading collected responses: bytes → text (UTF-8 with or without BOM, or a legacy
//! encoding), then CSV, JSON Lines or a JSON array → a [`RawTable`] of cells as written.

use std::path::Path;

use crate::error::IngestError;

/// One record as written in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// 1-based index of the record in its file (header not counted).
    pub row: usize,
    /// The cells, in the order of [`RawTable::columns`]; `None` for an empty cell or a JSON null.
    pub cells: Vec<Option<String>>,
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

/// Decodes `bytes`: a UTF-8 BOM is dropped; with `encoding` (a WHATWG label such as
/// `gb18030`), bytes are decoded from it. Invalid bytes are an error naming the line and
/// byte, with a hint when another encoding decodes the file cleanly.
pub fn decode(file: &str, bytes: &[u8], encoding: Option<&str>) -> Result<String, IngestError> {
    let label = encoding.unwrap_or("utf-8");
    let enc = encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
        IngestError::Usage(format!("unknown encoding `{label}`; use a label such as utf-8, gb18030, gbk, big5, latin1"))
    })?;
    let bytes = if enc == encoding_rs::UTF_8 { bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes) } else { bytes };
    let (text, _, had_errors) = enc.decode(bytes);
    if had_errors {
        // Locate the first undecodable byte (UTF-8 only gives a precise position).
        let at =
            if enc == encoding_rs::UTF_8 { std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to()) } else { 0 };
        let line = bytes[..at.min(bytes.len())].iter().filter(|b| **b == b'\n').count() + 1;
        let hint = if enc == encoding_rs::UTF_8 && !encoding_rs::GB18030.decode(bytes).2 {
            "; it decodes cleanly as GB18030: try --encoding gb18030".to_string()
        } else {
            String::new()
        };
        return Err(IngestError::Encoding {
            file: file.to_string(),
            line,
            byte: at,
            message: format!("not valid {}{hint}", enc.name()),
        });
    }
    Ok(text.into_owned())
}

/// Parses CSV text: a header row, then records. Every record must have as many fields as
/// the header (a ragged row is an error), and the text must not end inside a quoted field
/// (a truncated file).
pub fn parse_csv(file: &str, text: &str) -> Result<RawTable, IngestError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| IngestError::Malformed {
            file: file.into(),
            row: 0,
            message: format!("cannot read the header: {e}"),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if columns.iter().all(String::is_empty) {
        return Err(IngestError::Malformed { file: file.into(), row: 0, message: "the file has no header row".into() });
    }
    let mut records = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| {
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("has {len} fields, but the header has {expected_len} (a ragged row)")
                }
                _ => e.to_string(),
            };
            IngestError::Malformed { file: file.into(), row: i + 1, message }
        })?;
        let cells = rec.iter().map(|c| if c.is_empty() { None } else { Some(c.to_string()) }).collect();
        records.push(RawRecord { row: i + 1, cells });
    }
    // The csv reader accepts an unterminated quote at end of input: detect truncation.
    if unterminated_quote(text) {
        return Err(IngestError::Malformed {
            file: file.into(),
            row: records.len(),
            message: "the file ends inside a quoted field: it looks truncated".into(),
        });
    }
    Ok(RawTable { file: file.to_string(), columns, records })
}

/// Whether the text ends inside a double-quoted field.
fn unterminated_quote(text: &str) -> bool {
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
        } else if c == '"' && at_field_start {
            in_quotes = true;
        }
        at_field_start = !in_quotes && (c == ',' || c == '\n' || c == '\r');
    }
    in_quotes
}

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

fn table_from_objects(file: &str, objects: Vec<(usize, serde_json::Map<String, serde_json::Value>)>) -> RawTable {
    let mut columns: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for (row, obj) in objects {
        let mut flat = Vec::new();
        flatten("", &obj, &mut flat);
        let mut cells: Vec<(usize, Option<String>)> = Vec::new();
        for (k, v) in flat {
            let i = *index.entry(k.clone()).or_insert_with(|| {
                columns.push(k);
                columns.len() - 1
            });
            cells.push((i, v));
        }
        rows.push((row, cells));
    }
    let records = rows
        .into_iter()
        .map(|(row, cells)| {
            let mut full = vec![None; columns.len()];
            for (i, v) in cells {
                full[i] = v;
            }
            RawRecord { row, cells: full }
        })
        .collect();
    RawTable { file: file.to_string(), columns, records }
}

/// Parses JSON Lines: one object per non-empty line.
pub fn parse_jsonl(file: &str, text: &str) -> Result<RawTable, IngestError> {
    let mut objects = Vec::new();
    let mut row = 0;
    for (line_no, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        row += 1;
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => objects.push((row, o)),
            Ok(_) => {
                return Err(IngestError::Malformed {
                    file: file.into(),
                    row,
                    message: format!("line {} is not a JSON object", line_no + 1),
                });
            }
            Err(e) => {
                return Err(IngestError::Malformed {
                    file: file.into(),
                    row,
                    message: format!("line {}: {e}", line_no + 1),
                });
            }
        }
    }
    Ok(table_from_objects(file, objects))
}

/// Parses a JSON array of objects. (Keys are taken in sorted order.)
pub fn parse_json_array(file: &str, text: &str) -> Result<RawTable, IngestError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| IngestError::Malformed {
        file: file.into(),
        row: 0,
        message: format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()),
    })?;
    let serde_json::Value::Array(items) = value else {
        return Err(IngestError::Malformed {
            file: file.into(),
            row: 0,
            message: "expected a JSON array of objects".into(),
        });
    };
    let mut objects = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            serde_json::Value::Object(o) => objects.push((i + 1, o)),
            _ => {
                return Err(IngestError::Malformed {
                    file: file.into(),
                    row: i + 1,
                    message: "is not a JSON object".into(),
                });
            }
        }
    }
    Ok(table_from_objects(file, objects))
}

/// Reads a data file by its extension (.csv, .jsonl/.ndjson, .json).
pub fn read_file(path: &Path, display: &str, encoding: Option<&str>) -> Result<RawTable, IngestError> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::Io(format!("cannot read {display}: {e}")))?;
    let text = decode(display, &bytes, encoding)?;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "csv" => parse_csv(display, &text),
        "jsonl" | "ndjson" => parse_jsonl(display, &text),
        "json" => parse_json_array(display, &text),
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
        let text = decode("a.csv", "\u{feff}id,name\n1,\"Dolma, Tashi\"\n2,\"two\nlines\"\n3,\n".as_bytes(), None)
            .unwrap_or_default();
        let t = parse_csv("a.csv", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.columns, ["id", "name"]);
        assert_eq!(t.records.len(), 3);
        assert_eq!(t.records[0].cells[1].as_deref(), Some("Dolma, Tashi"));
        assert_eq!(t.records[1].cells[1].as_deref(), Some("two\nlines"));
        assert_eq!(t.records[2].cells[1], None);
    }

    #[test]
    fn ragged_truncated_and_misencoded_files_are_errors() {
        let ragged = parse_csv("r.csv", "a,b\n1,2\n3\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(ragged.contains("r.csv, row 2") && ragged.contains("ragged"), "{ragged}");
        let truncated = parse_csv("t.csv", "a,b\n1,\"unfinished\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(truncated.contains("truncated"), "{truncated}");
        let (gb, _, _) = encoding_rs::GB18030.encode("id,村\n1,拉萨\n");
        let err = decode("g.csv", &gb, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 1") && err.contains("--encoding gb18030"), "{err}");
        assert_eq!(decode("g.csv", &gb, Some("gb18030")).unwrap_or_default(), "id,村\n1,拉萨\n");
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
        assert_eq!(t.records[0].cells[0].as_deref(), Some("a b"));
        assert_eq!((t.records[1].row, t.records[1].cells[1].clone()), (2, None));
        let a = parse_json_array("a.json", "[{\"id\": 1}, {\"id\": 2}]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.records.len(), 2);
        assert!(parse_json_array("b.json", "[{\"id\": 1},").is_err());
    }
}
