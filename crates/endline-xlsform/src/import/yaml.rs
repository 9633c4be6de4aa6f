//! The survey YAML an import writes, meant for a person to read and edit: one question
//! per block, a comment wherever a cell held something endline keeps differently. Each
//! line remembers the cells it came from, so that the validator's diagnostics on the
//! YAML are reported back at the form's cells.

use super::Cell;

/// A YAML text under construction, with the cells behind each line.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub text: String,
    /// Per line (0-based): the character columns where a cell's text starts, and the cell.
    lines: Vec<Vec<(usize, Cell)>>,
}

impl Writer {
    /// A line at `indent`, from segments of text each optionally from a cell.
    pub fn line(&mut self, indent: usize, segments: &[(&str, Option<&Cell>)]) {
        let mut text = " ".repeat(indent);
        let mut cells = Vec::new();
        for (s, cell) in segments {
            if let Some(c) = cell {
                cells.push((text.chars().count() + 1, (*c).clone()));
            }
            text.push_str(s);
        }
        self.text.push_str(text.trim_end());
        self.text.push('\n');
        self.lines.push(cells);
    }

    /// `key: value` from one cell.
    pub fn field(&mut self, indent: usize, key: &str, value: &str, cell: Option<&Cell>) {
        self.line(indent, &[(&format!("{key}: "), None), (value, cell)]);
    }

    /// A comment; long text is wrapped at about 90 columns.
    pub fn comment(&mut self, indent: usize, text: &str) {
        let mut current = String::new();
        for word in text.split_whitespace() {
            if !current.is_empty() && indent + current.len() + word.len() > 86 {
                self.line(indent, &[(&format!("# {current}"), None)]);
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        self.line(indent, &[(&format!("# {current}"), None)]);
    }

    pub fn blank(&mut self) {
        self.text.push('\n');
        self.lines.push(Vec::new());
    }

    /// The cell behind a 1-based line and character column: the last segment starting
    /// at or before the column, or the line's first cell.
    pub fn cell_at(&self, line: usize, column: usize) -> Option<&Cell> {
        let cells = self.lines.get(line.checked_sub(1)?)?;
        cells.iter().rev().find(|(c, _)| *c <= column).or(cells.first()).map(|(_, cell)| cell)
    }
}

/// A string as a YAML scalar: plain where YAML reads it back as the same string, else
/// double-quoted.
pub(crate) fn scalar(s: &str) -> String {
    let reserved = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    let first_ok = s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let safe = s.chars().all(|c| c.is_alphanumeric() || " _.,()'/-?".contains(c))
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #");
    if first_ok && safe && !reserved { s.to_string() } else { quoted(s) }
}

/// A string double-quoted, as expressions are always written.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_string() {
        assert_eq!(scalar("Household size"), "Household size");
        for s in ["yes", "1", "-99", "a: b", " x", "x #y", "\"q\"", "${a} > 1", "line\nbreak", "é, 是"] {
            let yaml = format!(
                "survey: t\nversion: \"1\"\nkey: a\nquestions:\n  - name: a\n    type: text\n    label: {}\n",
                scalar(s)
            );
            let v = endline_survey::validate(&endline_diag::SourceFile::new("t.yaml", yaml.as_str()));
            let survey = v.survey.unwrap_or_else(|| panic!("{s}: {yaml} {:?}", v.diagnostics));
            assert_eq!(survey.items()[0].label().map(|l| l.default_text()), Some(s), "{yaml}");
        }
    }
}
