//! Reading a form's sheets as grids of text: `.xlsx` and `.xls` workbooks (through
//! calamine), and pyxform's text forms, Markdown (`.md`) and `.csv`, in which a row whose
//! first cell is filled names a sheet and the rows below it, first cell empty, are that
//! sheet's header and rows.
//!
//! Every cell keeps where it came from: its sheet, its row as the spreadsheet numbers it
//! (the header is row 1 in a text form) and, in a text form, its line in the file.

use std::io::Cursor;

use calamine::{Data, Reader};

/// One row of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRow {
    /// The row's number as the spreadsheet shows it (1-based).
    pub row: usize,
    /// The line in a text form (1-based); `None` in a workbook.
    pub line: Option<usize>,
    /// The cells, by column from A; trailing empty cells may be absent.
    pub cells: Vec<String>,
}

/// A sheet as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// The sheet's name as written.
    pub name: String,
    /// Its rows, in order; wholly empty rows are left out.
    pub rows: Vec<GridRow>,
}

/// A form's sheets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    /// The sheets, in the workbook's order.
    pub sheets: Vec<Grid>,
}

impl Book {
    /// The sheet named `name`, compared without case and surrounding space.
    pub fn sheet(&self, name: &str) -> Option<&Grid> {
        self.sheets.iter().find(|s| s.name.trim().eq_ignore_ascii_case(name))
    }
}

/// Reads a form from its bytes; `ext` is the file's extension (`xlsx`, `xls`, `md`,
/// `csv`). The error says why the file cannot be read at all.
pub fn read_book(bytes: &[u8], ext: &str) -> Result<Book, String> {
    match ext.to_ascii_lowercase().as_str() {
        "xlsx" | "xlsm" | "xls" => workbook(bytes),
        "md" => {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("the Markdown form is not UTF-8 text: {e}"))?;
            Ok(text_form(text.lines().enumerate().filter_map(|(i, line)| markdown_row(line).map(|c| (i + 1, c)))))
        }
        "csv" => {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| format!("the CSV form cannot be read: {e}"))?;
                let line = record.position().map_or(0, |p| p.line() as usize);
                rows.push((line, record.iter().map(|c| c.trim().to_string()).collect()));
            }
            Ok(text_form(rows.into_iter()))
        }
        other => Err(format!("`.{other}` is not a form endline reads: give .xlsx, .xls, .md or .csv")),
    }
}

fn workbook(bytes: &[u8]) -> Result<Book, String> {
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("the workbook cannot be read: {e}"))?;
    let mut book = Book::default();
    for name in wb.sheet_names() {
        let range = wb.worksheet_range(&name).map_err(|e| format!("sheet `{name}` cannot be read: {e}"))?;
        let (top, left) = range.start().unwrap_or((0, 0));
        let mut rows = Vec::new();
        for (r, row) in range.rows().enumerate() {
            let mut cells: Vec<String> = vec![String::new(); left as usize];
            cells.extend(row.iter().map(cell_text));
            while cells.last().is_some_and(String::is_empty) {
                cells.pop();
            }
            if !cells.is_empty() {
                rows.push(GridRow { row: top as usize + r + 1, line: None, cells });
            }
        }
        book.sheets.push(Grid { name, rows });
    }
    Ok(book)
}

/// A cell as the text pyxform would read: integral numbers without a decimal point,
/// booleans as `true`/`false`, surrounding space trimmed.
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => dt.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// The cells of a Markdown table row (`| a | b |`), or `None` for a line that is not one.
fn markdown_row(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    let inner = t.strip_prefix('|')?;
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    Some(inner.split('|').map(|c| c.trim().to_string()).collect())
}

/// Sheets from the rows of a text form: `(line, cells)`.
fn text_form(rows: impl Iterator<Item = (usize, Vec<String>)>) -> Book {
    let mut book = Book::default();
    for (line, mut cells) in rows {
        let first = cells.first().cloned().unwrap_or_default();
        if !first.is_empty() {
            book.sheets.push(Grid { name: first, rows: Vec::new() });
            continue;
        }
        let Some(sheet) = book.sheets.last_mut() else { continue };
        // The sheet-name column is not part of the sheet: column A is the next one.
        cells.remove(0);
        while cells.last().is_some_and(String::is_empty) {
            cells.pop();
        }
        if cells.is_empty() {
            continue;
        }
        let row = sheet.rows.last().map_or(1, |r| r.row + 1);
        sheet.rows.push(GridRow { row, line: Some(line), cells });
    }
    book
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_name_sheets_by_their_first_cell_and_keep_lines() {
        let md = "# a form\n| survey |\n|  | type | name |\n|  | text | a |\n\n|  | integer | b |\n| choices |\n|  | list_name | name |\n";
        let book = read_book(md.as_bytes(), "md").unwrap_or_else(|e| panic!("{e}"));
        let s = book.sheet("Survey").unwrap_or_else(|| panic!("no survey"));
        assert_eq!(s.rows.len(), 3);
        assert_eq!(
            (s.rows[2].row, s.rows[2].line, s.rows[2].cells.clone()),
            (3, Some(6), vec!["integer".into(), "b".into()])
        );
        assert_eq!(book.sheet("choices").map(|c| c.rows.len()), Some(1));
        let csv = "survey,,\n,type,name\n,text,\"a, b\"\n";
        let book = read_book(csv.as_bytes(), "csv").unwrap_or_else(|e| panic!("{e}"));
        let s = book.sheet("survey").unwrap_or_else(|| panic!("no survey"));
        assert_eq!((s.rows[1].line, s.rows[1].cells[1].as_str()), (Some(3), "a, b"));
    }
}
