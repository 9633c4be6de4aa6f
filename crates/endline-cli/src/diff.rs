//! `endline diff`: two versions of a survey, question by question.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use endline_diag::{SourceFile, Span};
use endline_survey::diff::{Class, diff};
use serde_json::{Value, json};

use crate::Outcome;
use crate::output::print;
use crate::validate::{load_survey, read_source};

/// Arguments of `endline diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier version (YAML).
    pub old: PathBuf,
    /// The later version (YAML).
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DiffFormat {
    /// One line per change.
    Human,
    /// `{"changes": [...]}`.
    Json,
}

fn place(file: &SourceFile, span: Option<Span>) -> Value {
    span.map_or(Value::Null, |s| {
        let at = file.line_col(s.start);
        json!({"file": file.name(), "line": at.line, "column": at.column})
    })
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Breaking => "breaking",
        Class::Harmonise => "harmonise",
        Class::Benign => "benign",
    }
}

pub fn diff_surveys(args: &DiffArgs, color: bool) -> anyhow::Result<Outcome> {
    let (Some(old), Some(new)) = (load_survey(&args.old, color)?, load_survey(&args.new, color)?) else {
        return Ok(Outcome::Invalid);
    };
    let (old_file, new_file) = (read_source(&args.old)?, read_source(&args.new)?);
    let changes = diff(&old, &new);
    let text = match args.format {
        DiffFormat::Json => {
            let list: Vec<Value> = changes
                .iter()
                .map(|c| {
                    json!({"question": c.question, "kind": c.kind, "class": class_name(c.class),
                           "old": place(&old_file, c.old), "new": place(&new_file, c.new), "message": c.message})
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&json!({"changes": list}))?)
        }
        DiffFormat::Human => {
            let mut s = String::new();
            for c in &changes {
                let at = |f: &SourceFile, sp: Option<Span>| {
                    sp.map(|sp| {
                        let lc = f.line_col(sp.start);
                        format!("{}:{}:{}", f.name(), lc.line, lc.column)
                    })
                };
                let places: Vec<String> = [at(&old_file, c.old), at(&new_file, c.new)].into_iter().flatten().collect();
                s.push_str(&format!("{}: {} {}: {}\n", places.join(" → "), class_name(c.class), c.kind, c.message));
            }
            let count = |k: Class| changes.iter().filter(|c| c.class == k).count();
            s.push_str(&format!(
                "{} changes: {} breaking, {} to harmonise, {} benign\n",
                changes.len(),
                count(Class::Breaking),
                count(Class::Harmonise),
                count(Class::Benign)
            ));
            s
        }
    };
    print(&text)?;
    Ok(if changes.iter().any(|c| c.class == Class::Breaking) { Outcome::Invalid } else { Outcome::Success })
}
