//! `endline`: household surveys and impact evaluation, from the command line.
//!
//! This binary is the only place that maps outcomes to exit codes (see `docs/cli.md`):
//! 0 success, 1 input read but invalid, 2 usage or I/O error. A closed stdout pipe is
//! not an error.

mod balance;
mod convert;
mod design_args;
mod did;
mod diff;
mod estimate;
mod export;
mod honest;
mod ingest;
mod limits;
mod link;
mod output;
mod panel;
mod power;
mod run;
mod simulate;
mod stream;
mod tabulate;
mod validate;

/// mimalloc instead of the system allocator: ingest and the estimators allocate and free
/// many short-lived buffers, which glibc's malloc serves with fresh (zeroed) pages from the
/// kernel; polars recommends a non-system allocator for the same reason.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::output::error;

/// endline: household surveys and impact evaluation.
#[derive(Debug, Parser)]
#[command(name = "endline", version, about, long_about = None)]
struct Cli {
    /// When to colour human output: auto colours a terminal (and honours NO_COLOR).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lint survey definitions and analysis plans: every problem, each at file:line:column.
    Validate(validate::ValidateArgs),
    /// A survey to XLSForm (.xlsx, .md, .csv) for ODK Central, KoboToolbox, SurveyCTO and
    /// Enketo, and an XLSForm (.xlsx, .xls, .md, .csv) back to a survey.
    Convert(convert::ConvertArgs),
    /// Two versions of a survey compared: additions, removals, renames, recodes, moves;
    /// exit 1 on a change that breaks the panel.
    Diff(diff::DiffArgs),
    /// Print the codebook of a survey: every variable, its type, labels, choices and skip logic.
    Codebook(validate::CodebookArgs),
    /// Check collected responses against a survey and write typed Parquet tables.
    Ingest(ingest::IngestArgs),
    /// Synthetic field data that obey a survey, with a planted programme effect.
    Simulate(simulate::SimulateArgs),
    /// Ingested waves → one analysis table (optionally aggregated and joined to a roll-out).
    Panel(panel::PanelArgs),
    /// Households and members followed across waves: stable person IDs, reused keys,
    /// splits, households that vanish and reappear.
    Link(link::LinkArgs),
    /// An ingest output's tables for Stata (.dta with labels), CSV or Parquet users.
    Export(export::ExportArgs),
    /// Regression with absorbed fixed effects (fixest syntax and defaults).
    Estimate(estimate::EstimateArgs),
    /// Means, proportions, totals and ratios with design-based standard errors (strata,
    /// PSUs, FPCs, replicate weights), overall and by domain.
    Tabulate(tabulate::TabulateArgs),
    /// A balance table between treated and comparison units (iebaltab style).
    Balance(balance::BalanceArgs),
    /// Difference-in-differences: Callaway & Sant'Anna, TWFE, event studies, the 2×2.
    Did(did::DidArgs),
    /// A whole study from its analysis plan: simulate or read the data, ingest every
    /// wave, estimate, and render the report into `OUT/PLAN/`.
    Run(run::RunArgs),
    /// Power and the minimum detectable effect of a planned study: its declared design
    /// simulated, its main estimator run on each replicate, beside the analytic answer.
    Power(power::PowerArgs),
}

/// How a subcommand ended, mapped to an exit code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the input was read but is not valid.
    Invalid,
    /// Exit 2: usage error, unreadable file, I/O failure.
    Failure,
}

/// On SIGINT, SIGTERM or SIGHUP: remove what this process was staging (a half-written
/// output, personal data included), then exit as the signal would (128 + its number).
fn clean_up_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            endline_output::cleanup();
            std::process::exit(128 + signal);
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    clean_up_on_signals();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate::validate(&args, color),
        Command::Codebook(args) => validate::codebook(&args, color),
        Command::Diff(args) => diff::diff_surveys(&args, color),
        Command::Convert(args) => convert::convert(&args, color),
        Command::Ingest(args) => ingest::ingest(&args, color),
        Command::Simulate(args) => simulate::simulate(&args, color),
        Command::Panel(args) => panel::panel(&args),
        Command::Link(args) => link::run(&args),
        Command::Export(args) => export::export(&args),
        Command::Estimate(args) => estimate::estimate(&args),
        Command::Did(args) => did::did(&args),
        Command::Balance(args) => balance::balance(&args),
        Command::Tabulate(args) => tabulate::tabulate(&args),
        Command::Run(args) => run::run(&args, color),
        Command::Power(args) => power::power(&args, color),
    };
    let outcome = result.unwrap_or_else(|e| {
        if output::is_broken_pipe(&e) {
            Outcome::Success
        } else {
            error!("{e:#}");
            Outcome::Failure
        }
    });
    ExitCode::from(match outcome {
        Outcome::Success => 0,
        Outcome::Invalid => 1,
        Outcome::Failure => 2,
    })
}
