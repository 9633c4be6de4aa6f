//! `endline ingest`: check collected records against a survey and write typed tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use endline_ingest::corrections::Corrections;
use endline_ingest::ingest::{self, Input, Options};
use endline_ingest::{IngestError, OnError, Severity};
use endline_output::{Kind, OutDir};

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::load_survey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnErrorArg {
    /// Write records with errors to rejects/TABLE.csv.
    Reject,
    /// Keep them in the table, flagged _valid = false.
    Keep,
    /// Stop with exit status 1 and write nothing.
    Fail,
}

/// Arguments of `endline ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The survey definition (YAML).
    pub survey: PathBuf,
    /// Data files: named as ODK Central names them (SURVEY.csv, SURVEY-REPEAT.csv; also
    /// .jsonl and .json), or TABLE=PATH.
    #[arg(required_unless_present = "corrections")]
    pub data: Vec<String>,
    /// The wave (survey round) stamped on every record, such as 2021.
    #[arg(long)]
    pub wave: String,
    /// The output directory (one per wave): new, empty, or an earlier ingest, which is
    /// replaced atomically once this one is complete. A directory holding anything endline
    /// did not write, or any input of this run, is refused.
    #[arg(long)]
    pub out: PathBuf,
    /// Add these files to the wave already ingested in --out (a correction batch, fixed
    /// rejects, late interviews) instead of replacing it: the records accepted earlier are
    /// checked again with the batch (duplicate keys across batches are errors; roster rows
    /// find their households), earlier rejects stay, and ingest.json lists every batch.
    #[arg(long)]
    pub append: bool,
    /// Corrections to records already in the wave (implies --append): a CSV of key,
    /// column, old_value, new_value, reason, as IPA's checks write them. A correction is
    /// applied only where the cell still holds its old value, and all are applied or
    /// none (each problem at its line); the corrected records are checked again, and
    /// every correction is kept in the wave's corrections.csv.
    #[arg(long, value_name = "FILE")]
    pub corrections: Option<PathBuf>,
    /// What to do with a record that breaks a rule.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Reject)]
    pub on_error: OnErrorArg,
    /// The files' character encoding, for legacy exports (gb18030, gbk, big5, latin1, ...).
    #[arg(long)]
    pub encoding: Option<String>,
    /// The date today() means for records without a submission date (YYYY-MM-DD).
    #[arg(long)]
    pub today: Option<String>,
    /// Inputs larger than this (MB in all) are checked in batches of about this size,
    /// which bounds memory whatever the size of the input: about 60 MB per MB of batch.
    /// Each batch is a row group of the Parquet files (larger batches: slightly smaller
    /// files, more memory). An export not in submission order is first split by
    /// submission into scratch files beside --out.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_mb: u64,
    /// The file holding the secret that keys pseudonyms, required when the survey key is
    /// personal data (pii: true): every table but the PII side tables then has the key's
    /// pseudonym. Made with a new random secret if it does not exist. Keep it apart from
    /// the data, and give the same file for every wave so a household keeps its pseudonym.
    #[arg(long, value_name = "FILE")]
    pub pii_secret: Option<PathBuf>,
    /// Exit 1 (the outputs still written) when a table rejects more than this share of its
    /// records, from 0 to 1. Without it, only a table that rejects every record fails.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    pub max_reject_share: Option<f64>,
    /// Write each table as a hive-partitioned Parquet dataset in --out instead of one
    /// file: `wave`, or `wave,COLUMN` (a question of the top-level table, such as
    /// county_id; tables without it, such as rosters, by wave alone), as
    /// `TABLE/wave=2021/county_id=3/part-0.parquet`, the labels on every file. Every
    /// endline command reads such an ingest as it reads one with a file a table.
    #[arg(long, value_delimiter = ',')]
    pub partition_by: Vec<String>,
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("a share from 0 to 1, such as 0.05, not `{s}`")),
    }
}

pub fn ingest(args: &IngestArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(survey) = load_survey(&args.survey, color)? else { return Ok(Outcome::Invalid) };
    let survey = &survey;
    let inputs: Vec<Input> = args
        .data
        .iter()
        .map(|d| match d.split_once('=') {
            Some((table, path)) if !table.contains(['/', '\\']) => {
                Input { table: Some(table.to_string()), path: PathBuf::from(path), display: path.to_string() }
            }
            _ => Input { table: None, path: PathBuf::from(d), display: d.clone() },
        })
        .collect();
    let today = match &args.today {
        Some(t) => match endline_survey::expr::parse_date(t) {
            Some(d) => Some(d),
            None => {
                error!("--today must be a date like 2025-06-30, not `{t}`");
                return Ok(Outcome::Failure);
            }
        },
        None => None,
    };
    let pseudonyms = match &args.pii_secret {
        Some(path) => match endline_ingest::pii::secret_file(path, true) {
            Ok(p) => Some(p),
            Err(e) => {
                error!("{e}");
                return Ok(Outcome::Failure);
            }
        },
        None => None,
    };
    let partition_by = match partition_columns(survey, &args.partition_by) {
        Ok(by) => by,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    let opts = Options {
        partition_by,
        pseudonyms,
        wave: args.wave.clone(),
        on_error: match args.on_error {
            OnErrorArg::Reject => OnError::Reject,
            OnErrorArg::Keep => OnError::Keep,
            OnErrorArg::Fail => OnError::Fail,
        },
        encoding: args.encoding.clone(),
        today,
        batch_bytes: args.batch_mb << 20,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            // One line on stderr, rewritten in place: only on a terminal.
            ingest::Progress(std::sync::Arc::new(|what: &str, done: usize, total: usize| {
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                let pct = (done * 100).checked_div(total).unwrap_or(100);
                eprint!("\r\x1b[2K{what:<40} [{}{}] {pct:>3}%", "#".repeat(filled), " ".repeat(width - filled));
                if done == total && what == "checked" {
                    eprintln!();
                }
            }))
        }),
        ..Options::default()
    };
    // The survey and every data file are inputs: the output may not hold (and replace) one.
    let protected: Vec<&Path> = std::iter::once(args.survey.as_path())
        .chain(args.pii_secret.as_deref())
        .chain(args.corrections.as_deref())
        .chain(inputs.iter().map(|i| i.path.as_path()))
        .collect();
    let claimed = OutDir::claim(&args.out, Kind::Ingest, None, &protected).map_err(IngestError::from);
    let mut opts = opts;
    let claimed = claimed.and_then(|out| {
        if args.append || args.corrections.is_some() {
            let corrections = match &args.corrections {
                Some(path) => Some(Corrections::read(path, &path.display().to_string())?),
                None => None,
            };
            let prior = endline_ingest::append::Prior::open(
                &args.out,
                survey,
                &args.wave,
                opts.pseudonyms.as_ref(),
                corrections.as_ref(),
            )?;
            opts.prior = Some(std::sync::Arc::new(prior));
        }
        Ok(out)
    });
    let report = match claimed.and_then(|out| endline_ingest::ingest_into(survey, &inputs, &opts, out)) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return Ok(match e {
                IngestError::Usage(_) | IngestError::Io(_) => Outcome::Failure,
                _ => Outcome::Invalid,
            });
        }
    };
    // The one-screen summary.
    let mut out = String::new();
    let _ = writeln!(out, "{} {} wave {} → {}", survey.id(), survey.version(), args.wave, args.out.display());
    let _ = writeln!(out, "{:<24} {:>10} {:>10} {:>10}", "table", "rows in", "written", "rejected");
    for (name, c) in &report.counts {
        let _ = writeln!(out, "{name:<24} {:>10} {:>10} {:>10}", c.rows_in, c.rows_written, c.rows_rejected);
    }
    if report.batch.batch > 1 {
        let _ =
            writeln!(out, "\nbatch {} (appended; the counts above are the wave's, every batch):", report.batch.batch);
        // In table order, as the counts above.
        for (name, b) in report.counts.iter().filter_map(|(n, _)| report.batch.tables.get(n).map(|b| (n, b))) {
            let _ = write!(out, "{name:<24} {:>10} {:>10} {:>10}", b.records, b.written, b.rejected);
            if b.earlier_rejected > 0 {
                let _ = write!(out, "   and {} accepted earlier now rejected", b.earlier_rejected);
            }
            let _ = writeln!(out);
        }
        if report.batch.corrected > 0 {
            let _ = writeln!(
                out,
                "{} corrections applied (audit trail: {})",
                report.batch.corrected,
                args.out.join("corrections.csv").display()
            );
        }
    }
    if report.issues_total > 0 {
        let mut by: BTreeMap<(String, String, Severity), usize> = BTreeMap::new();
        for c in &report.issue_counts {
            *by.entry((c.rule.clone(), c.column.clone(), c.severity)).or_default() += c.count;
        }
        let mut top: Vec<_> = by.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let _ = writeln!(
            out,
            "\ntop problems (rule, column: count) — all {} in {}:",
            report.issues_total,
            args.out.join("issues.csv").display()
        );
        for ((rule, column, severity), n) in top.iter().take(10) {
            let column = endline_diag::printable(column);
            let _ = writeln!(out, "  {:<8} {rule:<16} {column:<28} {n}", severity.as_str());
        }
    }

    print(&out)?;
    if let Some(why) = endline_ingest::too_many_rejected(&report.counts, args.max_reject_share) {
        let accept = if args.max_reject_share.is_none() { "; --max-reject-share 1 accepts this" } else { "" };
        error!("{why} (the outputs are written, with the rejects{accept})");
        return Ok(Outcome::Invalid);
    }
    Ok(Outcome::Success)
}

/// The columns of `--partition-by` (none when not given): a unit column must be a
/// question of the top-level table, and not personal data (a path is no side table).
fn partition_columns(survey: &endline_survey::Survey, arg: &[String]) -> Result<Vec<String>, String> {
    if arg.is_empty() {
        return Ok(Vec::new());
    }
    let by = endline_ingest::hive::partition_columns(arg)?;
    if let Some(unit) = by.get(1) {
        let tables = survey.tables();
        let top = tables.first().and_then(|t| t.columns.iter().find(|i| i.name() == unit));
        match top {
            None => {
                return Err(format!(
                    "--partition-by {unit}: `{unit}` is not a question of the top-level table `{}`",
                    survey.id()
                ));
            }
            Some(item) if item.is_pii() || (unit == survey.key() && survey.key_is_pii()) => {
                return Err(format!(
                    "--partition-by {unit}: `{unit}` is personal data (pii: true), and a partition's value is \
                     written in its path, outside the PII side tables"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(by)
}
