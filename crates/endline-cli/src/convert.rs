//! `endline convert`: a survey to XLSForm for the field, and an XLSForm back to a survey.

use std::path::{Path, PathBuf};

use clap::Args;
use endline_diag::{Severity, printable};
use endline_output::write_file;
use endline_xlsform::{Imported, Problem};

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::{DiagFormat, load_survey};

/// Arguments of `endline convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The survey (YAML) to export, or the XLSForm (`.xlsx`, `.xls`, pyxform's `.md` or
    /// `.csv`) to import; the direction is taken from the extensions.
    pub input: PathBuf,
    /// What to write: an XLSForm (`.xlsx`, `.md`, `.csv`) from a survey, or a survey
    /// (`.yaml`) from an XLSForm.
    #[arg(short, long)]
    pub out: PathBuf,
    /// How an import's diagnostics are printed (`short` and `human` are one line each,
    /// located as `FORM.xlsx: survey!C14`; `json` is one document on stdout).
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

fn ext(p: &Path) -> String {
    p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

pub fn convert(args: &ConvertArgs, color: bool) -> anyhow::Result<Outcome> {
    match (ext(&args.input).as_str(), ext(&args.out).as_str()) {
        ("yaml" | "yml", "xlsx" | "md" | "csv") => export(args, color),
        ("xlsx" | "xlsm" | "xls" | "md" | "csv", "yaml" | "yml") => import(args),
        ("yaml" | "yml", "xls") => {
            error!("endline writes XLSForms as .xlsx (or pyxform's .md or .csv), not the old binary .xls");
            Ok(Outcome::Failure)
        }
        (from, to) => {
            error!(
                "cannot convert .{from} to .{to}: endline converts a survey (.yaml) to an XLSForm (.xlsx, .md, .csv) and an XLSForm (.xlsx, .xls, .md, .csv) to a survey (.yaml)"
            );
            Ok(Outcome::Failure)
        }
    }
}

fn export(args: &ConvertArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(survey) = load_survey(&args.input, color)? else { return Ok(Outcome::Invalid) };
    let form = endline_xlsform::export(&survey);
    for w in &form.warnings {
        eprintln!("warning: {}: {}", w.question, w.message);
    }
    let text = match ext(&args.out).as_str() {
        "md" => Some(endline_xlsform::to_markdown(&form)),
        "csv" => Some(Ok(endline_xlsform::to_csv(&form))),
        _ => None,
    };
    let bytes = match text {
        Some(Ok(text)) => text.into_bytes(),
        Some(Err(e)) => {
            error!("{e}");
            return Ok(Outcome::Invalid);
        }
        None => endline_xlsform::to_xlsx(&form).map_err(anyhow::Error::msg)?,
    };
    write_file(&args.out, &bytes, &[args.input.as_path()])?;
    print(&format!(
        "{} → {}: {} rows, {} choices{}\n",
        args.input.display(),
        args.out.display(),
        form.survey.rows.len(),
        form.choices.rows.len(),
        if form.warnings.is_empty() { String::new() } else { format!(", {} warnings", form.warnings.len()) }
    ))?;
    Ok(Outcome::Success)
}

fn import(args: &ConvertArgs) -> anyhow::Result<Outcome> {
    let shown = args.input.display().to_string();
    let bytes = match std::fs::read(&args.input) {
        Ok(b) => b,
        Err(e) => {
            error!("cannot read {shown}: {e}");
            return Ok(Outcome::Failure);
        }
    };
    let book = match endline_xlsform::read_book(&bytes, &ext(&args.input)) {
        Ok(b) => b,
        Err(e) => {
            error!("{shown}: {e}");
            return Ok(Outcome::Invalid);
        }
    };
    let stem = args.input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let imported = endline_xlsform::import(&book, &stem);
    let written = match &imported.yaml {
        Some(yaml) => {
            write_file(&args.out, yaml.as_bytes(), &[args.input.as_path()])?;
            true
        }
        None => false,
    };
    report(args, &imported, written)?;
    Ok(if written { Outcome::Success } else { Outcome::Invalid })
}

fn report(args: &ConvertArgs, imported: &Imported, written: bool) -> anyhow::Result<()> {
    let form = args.input.display().to_string();
    let count = |s: Severity| imported.problems.iter().filter(|p| p.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if args.format == DiagFormat::Json {
        let diagnostics: Vec<serde_json::Value> = imported
            .problems
            .iter()
            .map(|p| {
                serde_json::json!({
                    "file": form,
                    "sheet": p.cell.as_ref().map(|c| c.sheet.clone()),
                    "cell": p.cell.as_ref().map(|c| c.to_string()),
                    "row": p.cell.as_ref().map(|c| c.row),
                    "column": p.cell.as_ref().map(|c| endline_xlsform::column_letter(c.column)),
                    "line": p.cell.as_ref().and_then(|c| c.line),
                    "question": p.question,
                    "severity": p.severity.as_str(),
                    "code": p.code,
                    "message": p.message,
                    "help": p.help,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "form": form,
            "survey": written.then(|| args.out.display().to_string()),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": diagnostics,
        });
        print(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(());
    }
    for p in &imported.problems {
        eprintln!("{}", line(&form, p));
        if let Some(h) = &p.help {
            eprintln!("  = help: {}", printable(h));
        }
    }
    if written {
        print(&format!(
            "{form} → {}: {warnings} warning{}\n",
            args.out.display(),
            if warnings == 1 { "" } else { "s" }
        ))?;
    } else {
        error!(
            "{form}: {errors} error{} (and {warnings} warnings): no survey written",
            if errors == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// `FORM.xlsx: survey!C14: error[code]: message`; a text form adds its line:
/// `FORM.md:14: survey!C3: …`.
fn line(form: &str, p: &Problem) -> String {
    let at = match &p.cell {
        Some(c) => match c.line {
            Some(l) => format!("{form}:{l}: {c}"),
            None => format!("{form}: {c}"),
        },
        None => form.to_string(),
    };
    printable(&format!("{at}: {}[{}]: {}", p.severity.as_str(), p.code, p.message)).into_owned()
}
