//! The export: a survey to the sheets of an XLSForm, and those to `.xlsx` or Markdown.

use endline_survey::expr::ExprKind;
use endline_survey::{Expression, Item, Label, QuestionType, Required, Survey};

/// An expression as ODK reads it. endline's syntax is XLSForm's, with one leniency ODK
/// refuses: `selected(${q}, 1)`, whose value ODK wants quoted (`'1'`). Only those
/// literals are rewritten, in place; the rest of the text is kept as written.
pub fn xpath(e: &Expression) -> String {
    let mut spans = Vec::new();
    e.ast().walk(&mut |n| {
        if let ExprKind::Call { name, args, .. } = &n.kind
            && name == "selected"
            && let Some(v) = args.get(1)
            && matches!(v.kind, ExprKind::Int(_) | ExprKind::Dec(_))
        {
            spans.push(v.span);
        }
    });
    let mut text = e.text().to_string();
    spans.sort_by_key(|s| std::cmp::Reverse(s.start));
    for s in spans {
        if let Some(literal) = text.get(s.start..s.end).map(str::to_string) {
            text.replace_range(s.start..s.end, &format!("'{literal}'"));
        }
    }
    text
}

/// Something of the survey the form cannot carry as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The question (or `survey` for the whole).
    pub question: String,
    /// What was kept and what was lost.
    pub message: String,
}

/// A choice value as an XPath literal: a number as it is, text quoted.
fn quote(v: &str) -> String {
    if v.parse::<i64>().is_ok() { v.to_string() } else { format!("'{v}'") }
}

/// A sheet: its columns and rows of cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    /// The column headers, in order.
    pub columns: Vec<String>,
    /// Each row's cells, by column index.
    pub rows: Vec<Vec<String>>,
}

impl Sheet {
    fn col(&mut self, name: &str) -> usize {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => i,
            None => {
                self.columns.push(name.to_string());
                self.columns.len() - 1
            }
        }
    }

    fn push(&mut self, cells: Vec<(String, String)>) {
        let mut row = Vec::new();
        for (k, v) in cells {
            if v.is_empty() {
                continue;
            }
            let i = self.col(&k);
            if row.len() <= i {
                row.resize(i + 1, String::new());
            }
            row[i] = v;
        }
        self.rows.push(row);
    }
}

/// An XLSForm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    /// The `survey` sheet.
    pub survey: Sheet,
    /// The `choices` sheet.
    pub choices: Sheet,
    /// The `settings` sheet.
    pub settings: Sheet,
    /// What the form could not carry.
    pub warnings: Vec<Warning>,
}

/// Language codes and their English names, for `label::English (en)` (and back).
pub(crate) const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
    ("ar", "Arabic"),
    ("zh", "Chinese"),
    ("bo", "Tibetan"),
    ("ug", "Uyghur"),
    ("mn", "Mongolian"),
    ("kk", "Kazakh"),
    ("ru", "Russian"),
    ("hi", "Hindi"),
    ("bn", "Bengali"),
    ("ur", "Urdu"),
    ("sw", "Swahili"),
    ("am", "Amharic"),
    ("ha", "Hausa"),
    ("yo", "Yoruba"),
    ("ig", "Igbo"),
    ("so", "Somali"),
    ("rw", "Kinyarwanda"),
    ("lg", "Luganda"),
    ("ny", "Chichewa"),
    ("id", "Indonesian"),
    ("vi", "Vietnamese"),
    ("th", "Thai"),
    ("my", "Burmese"),
    ("km", "Khmer"),
    ("ne", "Nepali"),
    ("ta", "Tamil"),
    ("te", "Telugu"),
    ("mr", "Marathi"),
    ("gu", "Gujarati"),
    ("pa", "Punjabi"),
    ("fa", "Persian"),
    ("ps", "Pashto"),
    ("tr", "Turkish"),
    ("de", "German"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("ht", "Haitian Creole"),
];

/// The English name of a language code, for `label::English (en)`.
pub(crate) fn language_name(code: &str) -> String {
    let name = LANGUAGES.iter().find(|(c, _)| *c == code).map_or(code, |(_, n)| *n);
    format!("{name} ({code})")
}

/// `base::Language (code)` column/value pairs of a label.
fn texts(base: &str, label: Option<&Label>) -> Vec<(String, String)> {
    label.map_or_else(Vec::new, |l| {
        l.texts()
            .iter()
            .map(|(lang, text)| {
                let col = if lang.is_empty() { base.to_string() } else { format!("{base}::{}", language_name(lang)) };
                (col, text.clone())
            })
            .collect()
    })
}

/// A row of the `choices` sheet: list, value, labels, then its filter columns.
fn choice_row(list: &str, c: &endline_survey::Choice) -> Vec<(String, String)> {
    let mut row = vec![("list_name".to_string(), list.to_string()), ("name".to_string(), c.value().as_text())];
    row.extend(texts("label", Some(c.label())));
    row.extend(c.filter().iter().map(|(k, v)| (k.clone(), v.as_text())));
    row
}

fn type_name(item: &Item) -> &'static str {
    match item.question_type() {
        QuestionType::Text => "text",
        QuestionType::Integer => "integer",
        QuestionType::Decimal => "decimal",
        QuestionType::SelectOne => "select_one",
        QuestionType::SelectMultiple => "select_multiple",
        QuestionType::Date => "date",
        QuestionType::DateTime => "dateTime",
        QuestionType::Geopoint => "geopoint",
        QuestionType::Note => "note",
        QuestionType::Calculate => "calculate",
        QuestionType::Group => "begin_group",
        QuestionType::Repeat => "begin_repeat",
    }
}

/// The XLSForm of a survey.
pub fn export(survey: &Survey) -> Form {
    let mut form = Form::default();
    // Choice lists, and copies with the missing codes for select questions that accept
    // them (made once per list and set of codes).
    for list in survey.choice_lists() {
        for c in list.choices() {
            form.choices.push(choice_row(list.name(), c));
        }
    }
    let mut copies: Vec<(String, Vec<String>)> = Vec::new();
    items(survey, survey.items(), &mut form, &mut copies);
    let mut settings = vec![
        ("form_id".to_string(), survey.id().to_string()),
        ("version".into(), survey.version().to_string()),
        ("instance_name".into(), format!("concat(${{{}}})", survey.key())),
    ];
    if let Some(t) = survey.title() {
        settings.push(("form_title".into(), t.default_text().to_string()));
    }
    if let Some(first) = survey.languages().first() {
        settings.push(("default_language".into(), language_name(first)));
    }
    // What the settings sheet has no column for, in extra columns pyxform ignores, so
    // that an import gives the survey back: the title's other languages, the missing
    // codes (a code no question accepts appears nowhere else), the description and the
    // platform metadata that identify people.
    if let Some(t) = survey.title() {
        for (lang, text) in t.texts().iter().skip(1) {
            settings.push((format!("endline::title::{}", language_name(lang)), text.clone()));
        }
    }
    let codes: Vec<String> =
        survey.missing_codes().iter().map(|c| format!("{}={}", c.name(), c.value().as_text())).collect();
    if !codes.is_empty() {
        settings.push(("endline::missing_codes".into(), codes.join(" ")));
    }
    if let Some(d) = survey.description() {
        settings.push(("endline::description".into(), d.to_string()));
    }
    if !survey.pii_metadata().is_empty() {
        settings.push(("endline::pii_metadata".into(), survey.pii_metadata().join(" ")));
    }
    form.settings.push(settings);
    form
}

fn items(survey: &Survey, list: &[Item], form: &mut Form, copies: &mut Vec<(String, Vec<String>)>) {
    for item in list {
        let qt = item.question_type();
        let mut cells =
            vec![("type".to_string(), type_name(item).to_string()), ("name".into(), item.name().to_string())];
        if qt == QuestionType::Text && item.label().is_none() && item.hint().is_none() {
            // A text question nobody is shown (a value the device fills): XLSForm's
            // `hidden`, which needs no label.
            cells[0].1 = "hidden".into();
        }
        let codes: Vec<(&str, String)> = item
            .missing()
            .iter()
            .filter_map(|m| survey.missing_code(m).map(|c| (c.name(), c.value().as_text())))
            .collect();
        if qt.is_select()
            && let Some(l) = survey.choices_of(item)
        {
            let mut list_name = l.name().to_string();
            if !codes.is_empty() {
                let names: Vec<String> = codes.iter().map(|(n, _)| n.to_string()).collect();
                list_name = format!("{}_missing", l.name());
                if !copies.iter().any(|(n, c)| *n == list_name && *c == names) {
                    copies.push((list_name.clone(), names));
                    for c in l.choices() {
                        form.choices.push(choice_row(&list_name, c));
                    }
                    // A code is labelled with its name, in every language.
                    for (name, value) in &codes {
                        let langs = survey.languages();
                        let labels = if langs.is_empty() {
                            vec![("label".to_string(), name.to_string())]
                        } else {
                            langs
                                .iter()
                                .map(|lang| (format!("label::{}", language_name(lang)), name.to_string()))
                                .collect()
                        };
                        let mut row =
                            vec![("list_name".to_string(), list_name.clone()), ("name".into(), value.clone())];
                        row.extend(labels);
                        form.choices.push(row);
                    }
                }
            }
            cells[0].1 = format!("{} {list_name}", type_name(item));
        }
        cells.extend(texts("label", item.label()));
        cells.extend(texts("hint", item.hint()));
        if let Some(a) = item.appearance() {
            cells.push(("appearance".into(), a.to_string()));
        }
        if item.is_read_only() {
            cells.push(("read_only".into(), "yes".into()));
        }
        if let Some(f) = item.choice_filter() {
            // The missing codes' rows have no filter columns: they are kept offered.
            let accept: Vec<String> = codes.iter().map(|(_, v)| format!(" or name = {}", quote(v))).collect();
            let f = xpath(f);
            let f = if accept.is_empty() { f } else { format!("({f}){}", accept.concat()) };
            cells.push(("choice_filter".into(), f));
        }
        match item.required() {
            Required::No => {}
            Required::Yes => cells.push(("required".into(), "yes".into())),
            Required::When(e) => cells.push(("required".into(), xpath(e))),
        }
        cells.extend(texts("required_message", item.required_message()));
        if let Some(r) = item.relevant() {
            cells.push(("relevant".into(), xpath(r)));
        }
        let mut constraint = item.constraint().map(xpath);
        if matches!(qt, QuestionType::Integer | QuestionType::Decimal)
            && let Some(c) = &constraint
            && !codes.is_empty()
        {
            let accept: Vec<String> = codes.iter().map(|(_, v)| format!(". = {v}")).collect();
            constraint = Some(format!("({c}) or {}", accept.join(" or ")));
        }
        if matches!(qt, QuestionType::Date | QuestionType::DateTime | QuestionType::Geopoint) && !codes.is_empty() {
            form.warnings.push(Warning {
                question: item.name().to_string(),
                message: format!(
                    "a {} cannot hold a missing code on the device: its codes are kept in `endline::missing` only",
                    qt.name()
                ),
            });
        }
        if let Some(c) = constraint {
            cells.push(("constraint".into(), c));
        }
        cells.extend(texts("constraint_message", item.constraint_message()));
        if let Some(c) = item.calculation() {
            cells.push(("calculation".into(), xpath(c)));
        }
        if let Some(d) = item.default() {
            cells.push(("default".into(), d.to_string()));
        }
        if let Some(c) = item.count() {
            cells.push(("repeat_count".into(), xpath(c)));
        }
        if let Some(u) = item.unit() {
            cells.push(("endline::unit".into(), u.to_string()));
        }
        if item.is_pii() {
            cells.push(("endline::pii".into(), "yes".into()));
        }
        if !codes.is_empty() {
            cells.push(("endline::missing".into(), codes.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ")));
        }
        if let Some(d) = item.description() {
            cells.push(("endline::description".into(), d.to_string()));
        }
        if !item.renamed_from().is_empty() {
            cells.push(("endline::renamed_from".into(), item.renamed_from().join(" ")));
        }
        form.survey.push(cells);
        if matches!(qt, QuestionType::Group | QuestionType::Repeat) {
            items(survey, item.children(), form, copies);
            let end = if qt == QuestionType::Group { "end_group" } else { "end_repeat" };
            form.survey.push(vec![("type".into(), end.into()), ("name".into(), item.name().to_string())]);
        }
    }
}

/// The form as an `.xlsx` workbook.
pub fn to_xlsx(form: &Form) -> Result<Vec<u8>, String> {
    let mut book = rust_xlsxwriter::Workbook::new();
    // A fixed creation date: the same survey gives the same bytes.
    let epoch = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1).map_err(|e| e.to_string())?;
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&epoch));
    for (name, sheet) in [("survey", &form.survey), ("choices", &form.choices), ("settings", &form.settings)] {
        let ws = book.add_worksheet();
        ws.set_name(name).map_err(|e| e.to_string())?;
        for (c, h) in sheet.columns.iter().enumerate() {
            ws.write_string(0, c as u16, h).map_err(|e| e.to_string())?;
        }
        for (r, row) in sheet.rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                if !v.is_empty() {
                    ws.write_string(r as u32 + 1, c as u16, v).map_err(|e| e.to_string())?;
                }
            }
        }
    }
    book.save_to_buffer().map_err(|e| e.to_string())
}

/// The form in pyxform's Markdown format (`.md`, which pyxform reads as it reads a
/// workbook): text that diffs well in version control. A cell holding `|` or a line
/// break cannot be written in it: the error names the cell.
pub fn to_markdown(form: &Form) -> Result<String, String> {
    let mut out = String::new();
    for (name, sheet) in [("survey", &form.survey), ("choices", &form.choices), ("settings", &form.settings)] {
        if sheet.columns.is_empty() {
            continue;
        }
        let cell = |r: usize, v: &str, c: usize| -> Result<String, String> {
            if v.contains('|') || v.contains('\n') {
                return Err(format!(
                    "{name}!{}{}: `{v}` holds `|` or a line break, which pyxform's Markdown cannot; write .xlsx",
                    column_letter(c),
                    r + 2
                ));
            }
            Ok(v.to_string())
        };
        out.push_str(&format!("| {name} |\n|  | {} |\n", sheet.columns.join(" | ")));
        for (r, row) in sheet.rows.iter().enumerate() {
            let cells: Vec<String> = (0..sheet.columns.len())
                .map(|c| cell(r, row.get(c).map_or("", String::as_str), c))
                .collect::<Result<_, _>>()?;
            out.push_str(&format!("|  | {} |\n", cells.join(" | ")));
        }
    }
    Ok(out)
}

/// The form in pyxform's CSV format (`.csv`): a row naming each sheet, then its header
/// and rows with the first cell empty. Quoting is CSV's, so any cell can be written.
pub fn to_csv(form: &Form) -> String {
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    for (name, sheet) in [("survey", &form.survey), ("choices", &form.choices), ("settings", &form.settings)] {
        if sheet.columns.is_empty() {
            continue;
        }
        let width = sheet.columns.len() + 1;
        let mut first = vec![name.to_string()];
        first.resize(width, String::new());
        let _ = out.write_record(&first);
        let _ = out.write_record(std::iter::once("").chain(sheet.columns.iter().map(String::as_str)));
        for row in &sheet.rows {
            let cells = (0..sheet.columns.len()).map(|c| row.get(c).map_or("", String::as_str));
            let _ = out.write_record(std::iter::once("").chain(cells));
        }
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A spreadsheet column's letters (0 → A, 26 → AA).
pub fn column_letter(mut c: usize) -> String {
    let mut s = String::new();
    loop {
        s.insert(0, (b'A' + (c % 26) as u8) as char);
        if c < 26 {
            return s;
        }
        c = c / 26 - 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(yaml: &str) -> Survey {
        let v = endline_survey::validate(&endline_diag::SourceFile::new("t.yaml", yaml));
        v.survey.unwrap_or_else(|| panic!("{:?}", v.diagnostics))
    }

    #[test]
    fn missing_codes_stay_enterable_and_extras_are_kept() {
        let s = survey(
            "survey: t\nversion: \"1\"\nlanguages: [en, fr]\nkey: id\nmissing_codes: {dk: -99}\nchoices:\n  yn:\n    - {value: 1, label: {en: \"Yes\", fr: Oui}}\n    - {value: 0, label: {en: \"No\", fr: Non}}\nquestions:\n  - {name: id, type: text, label: {en: ID, fr: ID}}\n  - {name: age, type: integer, label: {en: Age, fr: Âge}, missing: [dk], unit: years, constraint: \". <= 110\"}\n  - {name: ok, type: select_one yn, label: {en: OK, fr: OK}, missing: [dk], pii: true}\n",
        );
        let form = export(&s);
        let col = |name: &str| form.survey.columns.iter().position(|c| c == name).unwrap_or_else(|| panic!("{name}"));
        let cell = |row: usize, name: &str| form.survey.rows[row].get(col(name)).cloned().unwrap_or_default();
        assert_eq!(cell(1, "constraint"), "(. <= 110) or . = -99");
        assert_eq!((cell(1, "endline::unit"), cell(1, "endline::missing")), ("years".into(), "dk".into()));
        assert_eq!((cell(2, "type"), cell(2, "endline::pii")), ("select_one yn_missing".into(), "yes".into()));
        assert!(form.survey.columns.contains(&"label::French (fr)".to_string()));
        let missing_choice = form
            .choices
            .rows
            .iter()
            .any(|r| r.first().is_some_and(|l| l == "yn_missing") && r.get(1).is_some_and(|v| v == "-99"));
        assert!(missing_choice, "{:?}", form.choices.rows);
    }

    #[test]
    fn markdown_refuses_what_it_cannot_hold_and_names_the_cell() {
        let s =
            survey("survey: t\nversion: \"1\"\nkey: id\nquestions:\n  - {name: id, type: text, label: \"a | b\"}\n");
        let e = to_markdown(&export(&s)).err().unwrap_or_default();
        assert!(e.starts_with("survey!C2: `a | b`"), "{e}");
        assert_eq!(
            [column_letter(0), column_letter(25), column_letter(26), column_letter(701)],
            ["A", "Z", "AA", "ZZ"]
        );
    }
}
