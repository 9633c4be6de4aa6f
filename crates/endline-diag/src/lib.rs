//! One diagnostic model for every stage of endline, rendered many ways.
//!
//! A [`Diagnostic`] is a value: a stable kebab-case [`Code`], a [`Severity`], a message
//! for end users, a primary [`Span`] (a byte range in a [`SourceFile`]) and optional help.
//! Byte offsets become `line:column` only when rendered, by [`render_human`] (a
//! rustc-style caret snippet, coloured or plain), [`render_short`] (one line) or
//! [`DiagnosticJson`] (the `validate --format json` contract).
//!
//! [`suggest`] gives "did you mean" help for misspelt names.

mod render;
mod source;
mod suggest;

pub use render::{DiagnosticJson, Report, printable, render_human, render_short};
pub use source::{LineCol, SourceFile, Span};
pub use suggest::suggest;

use std::fmt;

/// How serious a problem is. Errors make a definition invalid (or an ingested record
/// rejected); warnings do not. Serialised as `error` and `warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The definition is invalid and cannot be used.
    Error,
    /// Probably a mistake, but the definition can still be used.
    Warning,
}

impl Severity {
    /// The lower-case name used in rendered output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable kebab-case identifier of a kind of problem, such as `unknown-reference`.
///
/// Codes are part of the command-line contract: scripts match on them, so a code is
/// never renamed once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(&'static str);

impl Code {
    /// A code from its kebab-case name.
    pub const fn new(name: &'static str) -> Self {
        Code(name)
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A secondary location that helps explain a diagnostic ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where.
    pub span: Span,
    /// What is there.
    pub message: String,
}

/// One problem found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// The message for end users: states the rule and the value that broke it.
    pub message: String,
    /// The offending token.
    pub span: Span,
    /// A short label under the caret.
    pub label: Option<String>,
    /// Other places worth showing.
    pub notes: Vec<Note>,
    /// How to fix it, such as "did you mean `hh_size`?".
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, span, message)
    }

    /// A warning at `span`.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, span, message)
    }

    fn new(severity: Severity, code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic { code, severity, message: message.into(), span, label: None, notes: Vec::new(), help: None }
    }

    /// Adds a label shown under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds help text when there is some.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a secondary location.
    pub fn with_note(mut self, span: Span, message: impl Into<String>) -> Self {
        self.notes.push(Note { span, message: message.into() });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics into source order (then by code), the order they are shown in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.span.end, a.code, &a.message).cmp(&(b.span.start, b.span.end, b.code, &b.message))
    });
}
