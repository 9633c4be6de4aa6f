//! `endline convert`: a survey to XLSForm, for the field.

use std::path::PathBuf;

use clap::Args;
use endline_output::write_file;

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::load_survey;

/// Arguments of `endline convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The survey (YAML).
    pub input: PathBuf,
    /// The XLSForm to write: `.xlsx` (survey, choices and settings sheets), or pyxform's
    /// Markdown form (`.md`), which diffs well.
    #[arg(short, long)]
    pub out: PathBuf,
}

pub fn convert(args: &ConvertArgs, color: bool) -> anyhow::Result<Outcome> {
    let ext = |p: &PathBuf| p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match (ext(&args.input).as_str(), ext(&args.out).as_str()) {
        ("yaml" | "yml", "xlsx" | "md") => {}
        ("xlsx" | "xls" | "md" | "csv", _) => {
            error!("reading an XLSForm into a survey (import) is not implemented yet: only YAML → .xlsx");
            return Ok(Outcome::Failure);
        }
        (from, to) => {
            error!("cannot convert .{from} to .{to}: endline converts a survey (.yaml) to an XLSForm (.xlsx or .md)");
            return Ok(Outcome::Failure);
        }
    }
    let Some(survey) = load_survey(&args.input, color)? else { return Ok(Outcome::Invalid) };
    let form = endline_xlsform::export(&survey);
    for w in &form.warnings {
        eprintln!("warning: {}: {}", w.question, w.message);
    }
    let bytes = if ext(&args.out) == "md" {
        match endline_xlsform::to_markdown(&form) {
            Ok(text) => text.into_bytes(),
            Err(e) => {
                error!("{e}");
                return Ok(Outcome::Invalid);
            }
        }
    } else {
        endline_xlsform::to_xlsx(&form).map_err(anyhow::Error::msg)?
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
