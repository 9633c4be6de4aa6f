use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

use crate::{Diagnostic, Severity, SourceFile, Span};

struct Palette {
    severity: Style,
    note: Style,
    gutter: Style,
    bold: Style,
}

impl Palette {
    fn new(severity: Severity, color: bool) -> Self {
        if !color {
            return Palette { severity: Style::new(), note: Style::new(), gutter: Style::new(), bold: Style::new() };
        }
        let fg = match severity {
            Severity::Error => AnsiColor::BrightRed,
            Severity::Warning => AnsiColor::BrightYellow,
        };
        Palette {
            severity: Style::new().bold().fg_color(Some(fg.into())),
            note: Style::new().bold().fg_color(Some(AnsiColor::BrightCyan.into())),
            gutter: Style::new().bold().fg_color(Some(AnsiColor::BrightBlue.into())),
            bold: Style::new().bold(),
        }
    }
}

/// Renders a diagnostic as a rustc-style snippet:
///
/// ```text
/// error[unknown-reference]: `hh_sise` is not a question in this survey
///   --> surveys/x.yaml:12:18
///    |
/// 12 |     relevant: "${hh_sise} > 3"
///    |                  ^^^^^^^ not defined
///    |
///    = help: did you mean `hh_size`?
/// ```
///
/// With `color` false the output is plain text, as for a pipe or a golden file.
pub fn render_human(file: &SourceFile, d: &Diagnostic, color: bool) -> String {
    let p = Palette::new(d.severity, color);
    let mut out = String::new();
    let start = file.line_col(d.span.start);
    let width = std::iter::once(start.line)
        .chain(d.notes.iter().map(|n| file.line_col(n.span.start).line))
        .max()
        .unwrap_or(1)
        .to_string()
        .len();
    let pad = " ".repeat(width);
    let g = p.gutter;
    let _ = writeln!(
        out,
        "{}{}[{}]{}: {}{}{}",
        p.severity.render(),
        d.severity,
        d.code,
        p.severity.render_reset(),
        p.bold.render(),
        printable(&d.message),
        p.bold.render_reset()
    );
    let _ = writeln!(out, "{pad}{}-->{} {}:{}", g.render(), g.render_reset(), printable(file.name()), start);
    snippet(&mut out, file, d.span, '^', d.label.as_deref(), &pad, &p, p.severity);
    for note in &d.notes {
        let at = file.line_col(note.span.start);
        let _ = writeln!(out, "{pad}{}:::{} {}:{}", g.render(), g.render_reset(), printable(file.name()), at);
        snippet(&mut out, file, note.span, '-', Some(&note.message), &pad, &p, p.note);
    }
    if let Some(help) = &d.help {
        let _ = writeln!(
            out,
            "{pad} {}={} {}help{}: {}",
            g.render(),
            g.render_reset(),
            p.bold.render(),
            p.bold.render_reset(),
            printable(help)
        );
    }
    out
}

/// Text from a user's files as it may reach a terminal: control characters (ESC, BEL,
/// backspace, C1 codes; not tab or newline) written out as `\u{1b}`, so that no escape
/// sequence in a name or header acts on the terminal.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unprintable(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_unprintable(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

/// A character of a source line as a snippet shows it.
fn shown_char(c: char) -> char {
    if c.is_control() && c != '\t' { '\u{fffd}' } else { c }
}

#[allow(clippy::too_many_arguments)]
fn snippet(
    out: &mut String,
    file: &SourceFile,
    span: Span,
    mark: char,
    label: Option<&str>,
    pad: &str,
    p: &Palette,
    mark_style: Style,
) {
    let g = p.gutter;
    let start = file.line_col(span.start);
    let line_text = file.line_text(start.line);
    let line_start = file.offset_of(start.line, 1);
    let from = file.clamp(span.start).saturating_sub(line_start).min(line_text.len());
    let to = file.clamp(span.end).saturating_sub(line_start).clamp(from, line_text.len());
    // Control characters in the file (an escape sequence, a bell) are shown as `�`, never
    // sent to the terminal; widths are measured on what is shown.
    let shown = |t: Option<&str>| t.map_or_else(String::new, |t| t.chars().map(shown_char).collect::<String>());
    let (before, inside) = (shown(line_text.get(..from)), shown(line_text.get(from..to)));
    let line_text = shown(Some(line_text));
    let lead = UnicodeWidthStr::width(before.as_str());
    let marked = UnicodeWidthStr::width(inside.as_str()).max(1);
    let _ = writeln!(out, "{pad} {}|{}", g.render(), g.render_reset());
    let _ = writeln!(out, "{}{:>w$} |{} {line_text}", g.render(), start.line, g.render_reset(), w = pad.len());
    let marks: String = std::iter::repeat_n(mark, marked).collect();
    let label = label.map(|l| format!(" {}", printable(l))).unwrap_or_default();
    let _ = writeln!(
        out,
        "{pad} {}|{} {}{}{marks}{label}{}",
        g.render(),
        g.render_reset(),
        " ".repeat(lead),
        mark_style.render(),
        mark_style.render_reset()
    );
}

/// Renders a diagnostic on one line: `file:line:col: severity[code]: message`.
pub fn render_short(file: &SourceFile, d: &Diagnostic) -> String {
    let at = file.line_col(d.span.start);
    format!("{}:{at}: {}[{}]: {}", printable(file.name()), d.severity, d.code, printable(&d.message))
}

/// One diagnostic as `validate --format json` writes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiagnosticJson {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// 1-based line where the offending token ends.
    pub end_line: usize,
    /// 1-based column (in characters) just past the offending token.
    pub end_column: usize,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// The stable kebab-case code.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// How to fix it, or null.
    pub help: Option<String>,
}

impl DiagnosticJson {
    /// The JSON form of `d`, with its span resolved against `file`.
    pub fn new(file: &SourceFile, d: &Diagnostic) -> Self {
        let start = file.line_col(d.span.start);
        let end = file.line_col(d.span.end);
        DiagnosticJson {
            file: file.name().to_string(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            severity: d.severity.as_str(),
            code: d.code.as_str(),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

/// The `validate --format json` document: counts and every diagnostic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// How many files were checked.
    pub files: usize,
    /// How many errors.
    pub errors: usize,
    /// How many warnings.
    pub warnings: usize,
    /// Every diagnostic, file by file in the order given, each file in source order.
    pub diagnostics: Vec<DiagnosticJson>,
}

impl Report {
    /// Adds one file's diagnostics.
    pub fn add(&mut self, file: &SourceFile, diagnostics: &[Diagnostic]) {
        self.files += 1;
        for d in diagnostics {
            match d.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
            self.diagnostics.push(DiagnosticJson::new(file, d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    #[test]
    fn renders_caret_under_token() {
        let f = SourceFile::new("s.yaml", "questions:\n  - relevant: \"${hh_sise} > 3\"\n");
        let at = f.text().find("hh_sise").unwrap_or(0);
        let d = Diagnostic::error(Code::new("unknown-reference"), Span::new(at, at + 7), "`hh_sise` is not a question")
            .with_label("not defined")
            .with_help("did you mean `hh_size`?");
        let text = render_human(&f, &d, false);
        let expected = "error[unknown-reference]: `hh_sise` is not a question\n --> s.yaml:2:18\n  |\n2 |   - relevant: \"${hh_sise} > 3\"\n  |                  ^^^^^^^ not defined\n  = help: did you mean `hh_size`?\n";
        assert_eq!(text, expected);
        let json = DiagnosticJson::new(&f, &d);
        assert_eq!((json.line, json.column, json.end_column), (2, 18, 25));
        assert!(render_human(&f, &d, true).contains("\u{1b}["));
    }
}
