//! `endline validate` and `endline codebook`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use endline_diag::{Diagnostic, Report, SourceFile, render_human, render_short};
use endline_output::write_file;
use endline_survey::{Survey, codebook};

use crate::Outcome;
use crate::output::{error, print};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagFormat {
    /// Caret snippets, coloured on a terminal.
    Human,
    /// One line per diagnostic: file, line and column, severity, code, message.
    Short,
    /// The JSON document of docs/cli.md.
    Json,
}

/// Arguments of `endline validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Survey definitions (YAML) to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodebookFormat {
    /// Markdown: a section per table, a block per variable.
    Md,
    /// CSV: one row per variable.
    Csv,
    /// JSON: the codebook as a document.
    Json,
}

/// Arguments of `endline codebook`.
#[derive(Debug, Args)]
pub struct CodebookArgs {
    /// The survey definition (YAML).
    pub survey: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CodebookFormat::Md)]
    pub format: CodebookFormat,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

/// Reads a survey file as text; the name shown is the path as the user gave it.
pub fn read_source(path: &Path) -> anyhow::Result<SourceFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    Ok(SourceFile::new(path.display().to_string(), text))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Renders diagnostics of one file in the chosen human format.
pub fn render(file: &SourceFile, diagnostics: &[Diagnostic], format: DiagFormat, color: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        match format {
            DiagFormat::Short => {
                out.push_str(&render_short(file, d));
                out.push('\n');
            }
            _ => {
                out.push_str(&render_human(file, d, color));
                out.push('\n');
            }
        }
    }
    out
}

pub fn validate(args: &ValidateArgs, color: bool) -> anyhow::Result<Outcome> {
    let mut report = Report::default();
    let mut unreadable = false;
    let mut human = String::new();
    for path in &args.files {
        let file = match read_source(path) {
            Ok(f) => f,
            Err(e) => {
                error!("{e:#}");
                unreadable = true;
                continue;
            }
        };
        // A file whose top level has a `plan:` key is an analysis plan; it is checked
        // with the survey it names, whose own problems are reported under its name.
        let mut files = vec![];
        if file.text().lines().any(|l| l.starts_with("plan:")) {
            let base = path.parent().unwrap_or(Path::new(""));
            let v = endline_plan::validate(&file, base);
            files.push((file, v.diagnostics));
            files.extend(v.survey_diagnostics);
        } else {
            let v = endline_survey::validate(&file);
            files.push((file, v.diagnostics));
        }
        for (file, diagnostics) in &files {
            report.add(file, diagnostics);
            if args.format != DiagFormat::Json {
                human.push_str(&render(file, diagnostics, args.format, color));
            }
        }
    }
    if args.format == DiagFormat::Json {
        print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        let files = plural(report.files, "file");
        let summary = if report.errors + report.warnings == 0 {
            format!("{files} checked: no problems\n")
        } else {
            format!("{files} checked: {}, {}\n", plural(report.errors, "error"), plural(report.warnings, "warning"))
        };
        human.push_str(&summary);
        print(&human)?;
    }
    Ok(if unreadable {
        Outcome::Failure
    } else if report.errors > 0 {
        Outcome::Invalid
    } else {
        Outcome::Success
    })
}

/// Reads and validates a survey for a command that needs a valid one. An invalid survey's
/// diagnostics go to stderr and the result is None (the command exits 1).
pub fn load_survey(path: &Path, color: bool) -> anyhow::Result<Option<Survey>> {
    let file = read_source(path)?;
    let v = endline_survey::validate(&file);
    if v.survey.is_none() {
        let color = color && std::io::IsTerminal::is_terminal(&std::io::stderr());
        eprint!("{}", render(&file, &v.diagnostics, DiagFormat::Human, color));
        error!("{} is not a valid survey; fix the errors above first", file.name());
    }
    Ok(v.survey)
}

pub fn codebook(args: &CodebookArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(survey) = load_survey(&args.survey, color)? else { return Ok(Outcome::Invalid) };
    let book = codebook::build(&survey);
    let text = match args.format {
        CodebookFormat::Md => book.to_markdown(),
        CodebookFormat::Csv => book.to_csv(),
        CodebookFormat::Json => format!("{}\n", serde_json::to_string_pretty(&book)?),
    };
    match &args.out {
        Some(path) => write_file(path, text.as_bytes(), &[&args.survey])?,
        None => print(&text)?,
    }
    Ok(Outcome::Success)
}
