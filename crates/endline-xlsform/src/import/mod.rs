//! The import: an XLSForm's sheets into a survey YAML, every problem in one run, each at
//! its cell (`survey!C14`) with a stable code.
//!
//! The walk reads the `survey`, `choices` and `settings` sheets in the dialects people
//! write (see [`dialect`]) and undoes the export's own mapping (the `endline::` columns,
//! `<list>_missing` lists, constraints widened for missing codes), so that a survey
//! exported and imported again is the same survey. What endline keeps differently is a
//! warning at its cell and a comment in the YAML; what it cannot keep is a warning that
//! says so. The YAML is then checked by `endline validate`'s own validator and its
//! diagnostics are reported back at the cells the offending lines came from.

mod dialect;
mod emit;
mod post;
mod survey;
mod yaml;

use std::fmt;

use endline_diag::{Severity, SourceFile};

use crate::book::{Book, Grid, GridRow};
use dialect::{Header, header, language_code};

/// Where in the form a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The sheet, as named in the form.
    pub sheet: String,
    /// The row as the spreadsheet numbers it (1-based; the header is usually row 1).
    pub row: usize,
    /// The column, 0-based (shown as a letter: 0 is A).
    pub column: usize,
    /// In a text form (`.md`, `.csv`), the line in the file.
    pub line: Option<usize>,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}{}", self.sheet, crate::export::column_letter(self.column), self.row)
    }
}

/// A problem with the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The cell, or `None` for the form as a whole.
    pub cell: Option<Cell>,
    /// Errors stop the import; warnings say what was kept differently or left out.
    pub severity: Severity,
    /// A stable kebab-case code: `xlsform-…` for the form's own problems, the survey
    /// format's codes (such as `unknown-reference`) for what the validator finds.
    pub code: String,
    /// What is wrong, or what was kept and what was dropped.
    pub message: String,
    /// How to fix it, where there is a fix.
    pub help: Option<String>,
    /// The name on the problem's row of the survey sheet, where it has one.
    pub question: Option<String>,
}

/// The result of an import: the survey YAML (when there is no error) and every problem.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The survey as YAML, or `None` when the form has errors.
    pub yaml: Option<String>,
    /// Errors and warnings, in sheet and row order.
    pub problems: Vec<Problem>,
}

impl Imported {
    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// One sheet with its header read: each column's header, and the data rows below it.
pub(crate) struct Table<'b> {
    pub grid: &'b Grid,
    pub header_row: Option<&'b GridRow>,
    pub headers: Vec<Header>,
    pub rows: &'b [GridRow],
}

impl<'b> Table<'b> {
    fn new(grid: &'b Grid) -> Self {
        let (header_row, rows) = match grid.rows.split_first() {
            Some((h, rest)) => (Some(h), rest),
            None => (None, &grid.rows[..]),
        };
        let headers = header_row.map_or_else(Vec::new, |h| h.cells.iter().map(|c| header(c)).collect());
        Table { grid, header_row, headers, rows }
    }

    pub fn cell(&self, row: &GridRow, column: usize) -> Cell {
        Cell { sheet: self.grid.name.clone(), row: row.row, column, line: row.line }
    }

    pub fn header_cell(&self, column: usize) -> Option<Cell> {
        self.header_row.map(|h| self.cell(h, column))
    }

    /// The column of `key` (untranslated).
    pub fn column(&self, key: &str) -> Option<usize> {
        self.headers.iter().position(|h| h.key == key && h.lang.is_none())
    }

    /// A row's text in `key`, with its cell; `None` when empty or absent.
    pub fn get(&self, row: &GridRow, key: &str) -> Option<(String, Cell)> {
        let c = self.column(key)?;
        row.cells.get(c).filter(|t| !t.is_empty()).map(|t| (t.clone(), self.cell(row, c)))
    }
}

/// The form's problems, gathered as the walk goes.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn error(&mut self, cell: Option<Cell>, code: &str, message: String, help: Option<String>) {
        self.0.push(Problem { cell, severity: Severity::Error, code: code.into(), message, help, question: None });
    }
    pub fn warn(&mut self, cell: Option<Cell>, code: &str, message: String) {
        self.0.push(Problem {
            cell,
            severity: Severity::Warning,
            code: code.into(),
            message,
            help: None,
            question: None,
        });
    }
}

/// The form's languages: codes in order (the default first), and each written name's
/// code. A form without per-language columns has one unnamed language.
pub(crate) struct Languages {
    pub codes: Vec<String>,
    written: Vec<(String, String)>,
    /// The language an untranslated `label` column holds, in a form that has others.
    pub plain: Option<String>,
}

impl Languages {
    fn read(tables: &[&Table<'_>], default: Option<&(String, Cell)>, problems: &mut Problems) -> Self {
        let mut written: Vec<(String, String)> = Vec::new();
        let mut codes: Vec<String> = Vec::new();
        let default_code = default.map(|(d, _)| language_code(d).0);
        if let Some(d) = &default_code {
            codes.push(d.clone());
        }
        let mut plain_used = false;
        for t in tables {
            for (i, h) in t.headers.iter().enumerate() {
                // Only translatable columns carry a language (`dialect::header`); the
                // texts endline keeps are warned about when their code is guessed.
                let translatable =
                    matches!(h.key.as_str(), "label" | "hint" | "constraint_message" | "required_message");
                match &h.lang {
                    Some(w) => {
                        if written.iter().any(|(x, _)| x == w) {
                            continue;
                        }
                        let (code, guessed) = language_code(w);
                        if guessed && translatable {
                            problems.warn(
                                t.header_cell(i),
                                "xlsform-language",
                                format!("language `{w}` has no code in the header: read as `{code}`; write it as `{w} (code)`"),
                            );
                        }
                        if !codes.contains(&code) {
                            codes.push(code.clone());
                        }
                        written.push((w.clone(), code));
                    }
                    None if translatable => {
                        plain_used |= t.rows.iter().any(|r| r.cells.get(i).is_some_and(|c| !c.is_empty()))
                    }
                    _ => {}
                }
            }
        }
        if written.is_empty() {
            // One language, unnamed: the survey declares none.
            return Languages { codes: Vec::new(), written, plain: None };
        }
        // An untranslated column holds the default language's text; without one, the
        // form's only language's, as pyxform shows it; else an undetermined one.
        let only = (written.len() == 1).then(|| written[0].1.clone());
        let plain = plain_used.then(|| default_code.clone().or(only).unwrap_or_else(|| "und".to_string()));
        if let Some(p) = &plain
            && !codes.contains(p)
        {
            codes.push(p.clone());
        }
        Languages { codes, written, plain }
    }

    pub fn code_of(&self, written: &str) -> Option<&str> {
        self.written.iter().find(|(w, _)| w == written).map(|(_, c)| c.as_str())
    }

    pub fn single(&self) -> bool {
        self.codes.is_empty()
    }
}

/// A translatable text of one row: per language, the text and its cell. Languages the
/// row lacks take the default language's text (counted, for one warning per column).
pub(crate) type Texts = Vec<(String, String, Cell)>;

pub(crate) fn texts(t: &Table<'_>, row: &GridRow, key: &str, langs: &Languages, gaps: &mut Gaps) -> Option<Texts> {
    let mut found: Vec<(String, String, Cell)> = Vec::new();
    for (i, h) in t.headers.iter().enumerate() {
        if h.key != key {
            continue;
        }
        let Some(text) = row.cells.get(i).filter(|c| !c.is_empty()) else { continue };
        let code = match &h.lang {
            None if langs.single() => String::new(),
            None => match &langs.plain {
                Some(p) => p.clone(),
                None => continue,
            },
            Some(w) => match langs.code_of(w) {
                Some(c) => c.to_string(),
                None => continue,
            },
        };
        // An explicit language column wins over the plain one for the same language.
        match found.iter_mut().find(|(c, _, _)| *c == code) {
            Some(slot) if h.lang.is_some() => *slot = (code, text.clone(), t.cell(row, i)),
            Some(_) => {}
            None => found.push((code, text.clone(), t.cell(row, i))),
        }
    }
    let first = found.first().cloned()?;
    if langs.single() {
        return Some(found);
    }
    let mut out = Vec::new();
    for code in &langs.codes {
        match found.iter().find(|(c, _, _)| c == code) {
            Some(x) => out.push(x.clone()),
            None => {
                let from = found.iter().find(|(c, _, _)| Some(c) == langs.codes.first()).unwrap_or(&first);
                gaps.record(&t.grid.name, key, code, &from.2);
                out.push((code.clone(), from.1.clone(), from.2.clone()));
            }
        }
    }
    Some(out)
}

/// Missing translations, counted per sheet, column and language: one warning each.
#[derive(Default)]
pub(crate) struct Gaps(Vec<(String, String, String, Vec<Cell>)>);

impl Gaps {
    fn record(&mut self, sheet: &str, key: &str, lang: &str, from: &Cell) {
        match self.0.iter_mut().find(|(s, k, l, _)| s == sheet && k == key && l == lang) {
            Some((_, _, _, cells)) => cells.push(from.clone()),
            None => self.0.push((sheet.into(), key.into(), lang.into(), vec![from.clone()])),
        }
    }

    fn report(self, problems: &mut Problems) {
        for (sheet, key, lang, cells) in self.0 {
            let shown: Vec<String> = cells.iter().take(5).map(|c| c.to_string()).collect();
            let more = if cells.len() > 5 { format!(" and {} more", cells.len() - 5) } else { String::new() };
            problems.warn(
                cells.first().cloned(),
                "xlsform-missing-translation",
                format!(
                    "{sheet}: {} {key} text(s) have no `{lang}` translation; the default language's text is used ({}{more})",
                    cells.len(),
                    shown.join(", ")
                ),
            );
        }
    }
}

/// The validator's findings that an import answers by leaving the expression or
/// property out (with a warning), rather than refusing the form: what the device's
/// XPath coerces or orders and endline's checks cannot (a text compared as a number, a
/// repeat counted by its own rows, a property where endline's format has none).
const UNCHECKABLE: &[&str] = &[
    "type-mismatch",
    "dependency-cycle",
    "repeat-reference",
    "invalid-reference",
    "wrong-arity",
    "misplaced-key",
    "invalid-default",
];

/// The survey sheet's columns an import can leave out when the validator refuses them.
const DROPPABLE: &[&str] =
    &["relevant", "constraint", "calculation", "choice_filter", "required", "repeat_count", "default", "read_only"];

/// Reads a form into a survey YAML. `stem` names the survey when the form has no
/// `form_id`.
///
/// An expression the validator refuses for a reason the device's XPath does not share
/// (a text compared as a number, a repeat counted by its own rows…) is left out with a
/// warning, and the form read again, until no such refusal remains (each pass leaves out
/// at least one cell, so this ends).
pub fn import(book: &Book, stem: &str) -> Imported {
    let mut drops: Vec<(Cell, String)> = Vec::new();
    loop {
        let (imported, more) = attempt(book, stem, &drops);
        let more: Vec<(Cell, String)> = more.into_iter().filter(|(c, _)| !drops.iter().any(|(d, _)| d == c)).collect();
        if more.is_empty() {
            return imported;
        }
        drops.extend(more);
    }
}

/// One pass of [`import`]: the result, and the cells to leave out in the next pass.
fn attempt(book: &Book, stem: &str, drops: &[(Cell, String)]) -> (Imported, Vec<(Cell, String)>) {
    let mut problems = Problems::default();
    // As pyxform: a workbook of one sheet holds the survey whatever the sheet is named.
    let only = (book.sheets.len() == 1).then(|| &book.sheets[0]);
    if let (None, Some(s)) = (book.sheet("survey"), only) {
        problems.warn(
            Some(Cell { sheet: s.name.clone(), row: 1, column: 0, line: s.rows.first().and_then(|r| r.line) }),
            "xlsform-setting",
            format!("the form's only sheet, `{}`, is read as its `survey` sheet", s.name),
        );
    }
    let Some(survey_grid) = book.sheet("survey").or(only) else {
        let names: Vec<&str> = book.sheets.iter().map(|s| s.name.as_str()).collect();
        problems.error(
            None,
            "xlsform-missing-sheet",
            format!("the form has no `survey` sheet (its sheets: {})", names.join(", ")),
            Some("an XLSForm's questions are on a sheet named `survey`".into()),
        );
        return (Imported { yaml: None, problems: problems.0 }, Vec::new());
    };
    let survey_t = Table::new(survey_grid);
    let choices_t = book.sheet("choices").filter(|c| !c.rows.is_empty()).map(Table::new);
    let settings_t = book.sheet("settings").map(Table::new);
    for s in &book.sheets {
        let name = s.name.trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "survey" | "choices" | "settings") && !s.rows.is_empty() && book.sheets.len() > 1 {
            let what = match name.as_str() {
                "external_choices" => "choices for select_one_external, which endline keeps as text",
                "entities" => "ODK entity declarations",
                _ => "not part of XLSForm",
            };
            problems.warn(
                Some(Cell { sheet: s.name.clone(), row: 1, column: 0, line: s.rows.first().and_then(|r| r.line) }),
                "xlsform-platform-only",
                format!("sheet `{}` ({what}) is not imported", s.name),
            );
        }
    }
    let settings = survey::Settings::read(settings_t.as_ref(), &mut problems);
    let mut tables: Vec<&Table<'_>> = vec![&survey_t];
    if let Some(c) = &choices_t {
        tables.push(c);
    }
    let langs = Languages::read(&tables, settings.default_language.as_ref(), &mut problems);
    let mut gaps = Gaps::default();
    let sheets = survey::Sheets { survey: &survey_t, choices: choices_t.as_ref(), settings: &settings, langs: &langs };
    let built = survey::build(&sheets, &mut gaps, &mut problems, stem, drops);
    gaps.report(&mut problems);
    let mut named: Vec<(&Table<'_>, &str)> = vec![(&survey_t, "name")];
    if let Some(c) = &choices_t {
        named.push((c, "list_name"));
    }
    let Some(written) = built else {
        name_rows(&named, &mut problems);
        return (finish(None, problems), Vec::new());
    };
    // The validator's word on the YAML, reported at the cells the lines came from.
    let file = SourceFile::new(format!("{stem}.yaml"), written.text.as_str());
    let v = endline_survey::validate(&file);
    let mut more = Vec::new();
    for d in &v.diagnostics {
        let at = file.line_col(d.span.start);
        let cell = written.cell_at(at.line, at.column).cloned();
        if d.is_error()
            && UNCHECKABLE.contains(&d.code.as_str())
            && let Some(c) = &cell
            && c.sheet == survey_t.grid.name
            && survey_t.headers.get(c.column).is_some_and(|h| DROPPABLE.contains(&h.key.as_str()))
        {
            more.push((c.clone(), d.message.clone()));
        }
        let p = Problem {
            cell,
            severity: d.severity,
            code: d.code.as_str().to_string(),
            message: d.message.clone(),
            help: d.help.clone(),
            question: None,
        };
        problems.0.push(p);
    }
    let yaml = v.survey.is_some().then(|| written.text.clone());
    name_rows(&named, &mut problems);
    (finish(yaml, problems), more)
}

/// Gives each problem the name on its row: the question's on the survey sheet, the
/// list's on the choices sheet.
fn name_rows(tables: &[(&Table<'_>, &str)], problems: &mut Problems) {
    for (t, key) in tables {
        let Some(col) = t.column(key) else { continue };
        for p in &mut problems.0 {
            let Some(cell) = &p.cell else { continue };
            if cell.sheet != t.grid.name || p.question.is_some() {
                continue;
            }
            p.question = t
                .rows
                .iter()
                .find(|r| r.row == cell.row)
                .and_then(|r| r.cells.get(col))
                .filter(|n| !n.is_empty())
                .cloned();
        }
    }
}

fn finish(yaml: Option<String>, problems: Problems) -> Imported {
    let mut problems = problems.0;
    let sheet_order = |c: &Option<Cell>| match c.as_ref().map(|c| c.sheet.to_ascii_lowercase()) {
        None => 0,
        Some(s) if s == "survey" => 1,
        Some(s) if s == "choices" => 2,
        Some(s) if s == "settings" => 3,
        Some(_) => 4,
    };
    problems.sort_by_key(|p| (sheet_order(&p.cell), p.cell.as_ref().map(|c| (c.row, c.column))));
    let has_errors = problems.iter().any(|p| p.severity == Severity::Error);
    Imported { yaml: if has_errors { None } else { yaml }, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(md: &str) -> Imported {
        import(&crate::read_book(md.as_bytes(), "md").unwrap_or_else(|e| panic!("{e}")), "t")
    }

    fn at(i: &Imported) -> Vec<(String, String, String)> {
        i.problems
            .iter()
            .map(|p| {
                (p.cell.as_ref().map_or(String::new(), |c| c.to_string()), p.severity.as_str().into(), p.code.clone())
            })
            .collect()
    }

    #[test]
    fn every_problem_comes_in_one_run_at_its_cell() {
        let form = "\
| survey |
|  | type | name | label | relevance | constraint message | media::image |
|  | text | hh_id | Household ID | | | |
|  | select_one colours | fav | Favourite | ${hh_id} != '' | | a.png |
|  | integr | age | Age | | | |
|  | integer | size | Size | ${nosuch} > 0 | Too big | |
|  | begin group | g | G | | | |
|  | text | | Nameless | | | |
|  | calculate | c | | | | |
| choices |
|  | list name | value | label |
|  | colours | red | Red |
|  | colours | red | Again |
| settings |
|  | form_id | version | instance_name |
|  | t | 1 | concat(${hh_id}) |
";
        let i = run(form);
        assert!(i.has_errors() && i.yaml.is_none());
        let got = at(&i);
        let want = [
            ("survey!F3", "warning", "xlsform-platform-only"),
            ("survey!A4", "error", "xlsform-unknown-type"),
            ("survey!D5", "error", "unknown-reference"),
            ("survey!A6", "error", "xlsform-unclosed-block"),
            ("survey!B7", "error", "xlsform-missing-name"),
            ("choices!B3", "warning", "xlsform-duplicate-choice"),
        ];
        for (cell, sev, code) in want {
            assert!(got.contains(&(cell.into(), sev.into(), code.into())), "{cell} {code} not in {got:?}");
        }
    }

    #[test]
    fn platform_features_are_warned_and_the_survey_still_validates() {
        let form = "\
| survey |
|  | type | name | label::English (en) | label::French (fr) | calculation | read only | default |
|  | start | start | | | | | |
|  | deviceid | deviceid | | | | | |
|  | text | hhid | ID | ID | | | |
|  | image | photo | Photo | Photo | | | |
|  | calculate | fruit | | | pulldata('f', 'a', 'b', ${hhid}) | | |
|  | integer | n | Number | | | yes | ${hhid} |
|  | range | r | Range | Plage | | | |
|  | select_one yn or_other | ok | OK? | OK ? | | | |
| choices |
|  | list_name | name | label::English (en) | label::French (fr) |
|  | yn | 1 | Yes | Oui |
|  | yn | 0 | No | Non |
";
        let i = run(form);
        let yaml = i.yaml.clone().unwrap_or_else(|| panic!("{:?}", i.problems));
        assert!(!i.has_errors());
        let v = endline_survey::validate(&SourceFile::new("t.yaml", yaml.as_str()));
        assert!(v.survey.is_some(), "{:?}\n{yaml}", v.diagnostics);
        assert!(yaml.contains("pii_metadata: [deviceid]"), "{yaml}");
        assert!(yaml.contains("# XLSForm type: image"), "{yaml}");
        assert!(yaml.contains("- name: ok_other"), "{yaml}");
        let got = at(&i);
        for (cell, code) in [
            ("survey!A3", "xlsform-platform-only"),
            ("survey!A5", "xlsform-kept-as"),
            ("survey!E6", "xlsform-platform-only"),
            ("survey!G7", "xlsform-platform-only"),
            ("survey!C7", "xlsform-missing-translation"),
            ("survey!B4", "xlsform-key"),
            ("survey!A8", "xlsform-kept-as"),
        ] {
            assert!(got.iter().any(|(c, _, k)| c == cell && k == code), "{cell} {code} not in {got:?}");
        }
    }

    #[test]
    fn kobo_and_surveycto_habits_are_read_as_the_device_reads_them() {
        // A second group of one name, a reference to a metadata row, XPath's `..`, a
        // `required` on a note, a text compared as a number: warned, and the survey valid.
        let form = "\
| survey |
|  | type | name | label | relevant | calculation | required |
|  | deviceid | deviceid | | | | |
|  | text | hhid | ID | ${deviceid} != '' | | |
|  | begin group | g | G | | | |
|  | text | n | Count | | | |
|  | begin repeat | r | R | | | |
|  | calculate | pos | | | position(..) | |
|  | end repeat | | | | | |
|  | begin group | g | G again | ${n} > 2 | | |
|  | note | stop | Stop | | | yes |
|  | end group | | | | | |
|  | end group | | | | | |
";
        let i = run(form);
        let yaml = i.yaml.clone().unwrap_or_else(|| panic!("{:?}", i.problems));
        assert!(yaml.contains("- name: g_2"), "{yaml}");
        let got = at(&i);
        for (cell, code) in [
            ("survey!D3", "xlsform-platform-only"),
            ("survey!B9", "xlsform-kept-as"),
            ("survey!E7", "xlsform-platform-only"),
            ("survey!F10", "xlsform-platform-only"),
            ("survey!D9", "xlsform-unchecked"),
        ] {
            assert!(got.iter().any(|(c, _, k)| c == cell && k == code), "{cell} {code} not in {got:?}");
        }
        let v = endline_survey::validate(&SourceFile::new("t.yaml", yaml.as_str()));
        assert!(v.survey.is_some(), "{:?}", v.diagnostics);
    }
}
