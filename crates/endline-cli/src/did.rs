//! `endline did`: difference-in-differences.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use endline_analysis::did::cs::{self, BasePeriod, Control, CsOptions, CsResult, Effect};
use endline_analysis::did::drdid::EstMethod;
use endline_analysis::did::panel::{self, PanelSpec};
use endline_analysis::did::twfe::{self, EventCoefficient, RegressionOptions, WaldTest};
use endline_analysis::did::{bacon, sa};
use endline_analysis::{AnalysisError, FeolsFit};
use serde_json::{Value, json};

use crate::Outcome;
use crate::design_args::DesignArgs;
use crate::estimate::{sig, table};
use crate::honest::{self, HonestArgs};
use crate::output::{error, print};
use crate::stream::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// Static two-way fixed effects: y ~ D | unit + time.
    Twfe,
    /// Dynamic TWFE event study: leads and lags, reference period -1.
    Event,
    /// Callaway & Sant'Anna (2021).
    Cs,
    /// Sun & Abraham (2021): the interaction-weighted event study.
    Sa,
    /// Goodman-Bacon (2021): the 2×2 comparisons behind the static TWFE estimate.
    Bacon,
    /// The canonical 2×2 regression (one treated cohort).
    #[value(name = "2x2")]
    TwoByTwo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ControlArg {
    /// Never-treated units.
    Never,
    /// Never- and not-yet-treated units.
    Notyet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EstArg {
    /// Doubly robust.
    Dr,
    /// Inverse probability weighting.
    Ipw,
    /// Outcome regression.
    Reg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaseArg {
    /// Pre-periods against the period before.
    Varying,
    /// Every period against the last untreated one.
    Universal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeArg {
    /// From influence functions (or the regression's cluster-robust variance).
    Analytic,
    /// The multiplier bootstrap, with uniform confidence bands (cs).
    Bootstrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// Tables for people.
    Table,
    /// The JSON of docs/cli.md.
    Json,
}

/// Arguments of `endline did`.
#[derive(Debug, Args)]
pub struct DidArgs {
    /// The panel: a .csv or .parquet file, one row per unit and period.
    pub data: PathBuf,
    /// The outcome column.
    #[arg(long, required_unless_present = "from_statistics")]
    pub outcome: Option<String>,
    /// The unit column (county, household).
    #[arg(long, required_unless_present = "from_statistics")]
    pub unit: Option<String>,
    /// The period column (year, wave); whole numbers.
    #[arg(long, required_unless_present = "from_statistics")]
    pub time: Option<String>,
    /// The column with each unit's first treated period (0 or empty: never treated).
    #[arg(long, required_unless_present = "from_statistics")]
    pub cohort: Option<String>,
    /// DATA holds Callaway & Sant'Anna's sufficient statistics, aggregated elsewhere (by
    /// SQL on Spark, DataFusion or DuckDB: docs/scale.md), not a panel: cs without
    /// covariates, weights or bootstrap, estimated from them.
    #[arg(long, conflicts_with_all = ["outcome", "unit", "time", "cohort", "covariates", "weights", "cluster"])]
    pub from_statistics: bool,
    /// The estimator.
    #[arg(long, value_enum, default_value_t = Method::Cs)]
    pub method: Method,
    /// Comparison units (cs).
    #[arg(long, value_enum, default_value_t = ControlArg::Never)]
    pub control: ControlArg,
    /// Covariates, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub covariates: Vec<String>,
    /// Covariate adjustment (cs).
    #[arg(long, value_enum, default_value_t = EstArg::Dr)]
    pub est_method: EstArg,
    /// Base period of pre-treatment comparisons (cs).
    #[arg(long, value_enum, default_value_t = BaseArg::Varying)]
    pub base_period: BaseArg,
    /// Periods of anticipation (0 to 100).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=100))]
    pub anticipation: i64,
    /// Standard errors.
    #[arg(long, value_enum, default_value_t = SeArg::Analytic)]
    pub se: SeArg,
    /// Bootstrap draws (at most 100,000 unless --allow-large).
    #[arg(long, default_value_t = 999)]
    pub bootstrap_reps: usize,
    /// Allow workloads above the documented caps (bootstrap draws beyond 100,000).
    #[arg(long)]
    pub allow_large: bool,
    /// Cluster variable (default: the unit).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Unit-level sampling weights.
    #[arg(long)]
    pub weights: Option<String>,
    /// A sample design over the units (cs): standard errors from the aggregated influence
    /// functions summed within PSUs and strata, as the design's variance. Design columns
    /// must be constant within a unit.
    #[command(flatten)]
    pub design: DesignArgs,
    /// Seed for anything bootstrapped.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Event study: bin event times below this (e.g. -5; -1000 to 0).
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(i64).range(-1000..=0))]
    pub min_event: Option<i64>,
    /// Event study: bin event times above this (0 to 1000).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=1000))]
    pub max_event: Option<i64>,
    /// How to read the data (cs): `auto` streams a Parquet panel in batches of row groups
    /// when the estimate allows (no covariates, weights, sample design or bootstrap; a
    /// balanced panel) and holds it in memory otherwise; `stream` insists (an error says
    /// why not); `memory` loads it. The estimates are the same.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    pub format: OutFormat,
    /// Sensitivity to violations of parallel trends, and the pre-test's power.
    #[command(flatten)]
    pub sensitivity: HonestArgs,
}

fn cs_json(r: &CsResult, args: &DidArgs, n_obs: usize) -> Value {
    json!({
        "method": "cs",
        "control": match args.control { ControlArg::Never => "never", ControlArg::Notyet => "notyet" },
        "est_method": match args.est_method { EstArg::Dr => "dr", EstArg::Ipw => "ipw", EstArg::Reg => "reg" },
        "base_period": match args.base_period { BaseArg::Varying => "varying", BaseArg::Universal => "universal" },
        "anticipation": args.anticipation,
        "se": match args.se { SeArg::Analytic => "analytic", SeArg::Bootstrap => "bootstrap" },
        "n_units": r.n_units,
        "n_obs": n_obs,
        "cohorts": r.cohorts,
        "att_gt": r.att_gt,
        "critical_value": r.critical_value,
        "aggregate": cs::Aggregates::of(r),
        "pretrend_test": r.pretrend_test,
        "warnings": r.warnings,
    })
}

/// The estimator's options from the arguments.
fn cs_options(
    args: &DidArgs,
    reps: usize,
    survey: Option<std::sync::Arc<endline_analysis::sampling::Design>>,
) -> CsOptions {
    CsOptions {
        control: match args.control {
            ControlArg::Never => Control::Never,
            ControlArg::Notyet => Control::Notyet,
        },
        est_method: match args.est_method {
            EstArg::Dr => EstMethod::Dr,
            EstArg::Ipw => EstMethod::Ipw,
            EstArg::Reg => EstMethod::Reg,
        },
        base_period: match args.base_period {
            BaseArg::Varying => BasePeriod::Varying,
            BaseArg::Universal => BasePeriod::Universal,
        },
        anticipation: args.anticipation,
        bootstrap: (args.se == SeArg::Bootstrap).then_some((reps, args.seed)),
        alpha: 0.05,
        survey,
    }
}

/// The table and the JSON of a CS result, with the sensitivity analysis when asked.
fn cs_output(
    r: &CsResult,
    args: &DidArgs,
    n_obs: usize,
    honest_opts: Option<&endline_analysis::honest::Options>,
) -> Result<(String, Value), AnalysisError> {
    let (mut text, mut json) = (cs_table(r), cs_json(r, args, n_obs));
    if let Some(o) = honest_opts {
        let times: Vec<i64> = r.dynamic.by.iter().map(|b| b.index).collect();
        let beta: Vec<f64> = r.dynamic.by.iter().map(|b| b.effect.att).collect();
        let es = (times.as_slice(), beta.as_slice(), r.dynamic_vcov.as_slice());
        honest::add_to(o, args.sensitivity.pretrend_slope, es, &mut text, &mut json)?;
    }
    Ok((text, json))
}

/// Callaway & Sant'Anna from sufficient statistics streamed from Parquet, when the
/// estimate needs nothing more (no covariates, weights, sample design or bootstrap) and
/// the panel is balanced; None to estimate in memory instead. `--engine stream` makes
/// every reason not to stream an error.
fn streamed_cs(
    args: &DidArgs,
    honest_opts: Option<&endline_analysis::honest::Options>,
) -> anyhow::Result<Option<Outcome>> {
    if args.from_statistics {
        if args.method != Method::Cs || args.se == SeArg::Bootstrap || args.design.declared() {
            error!("--from-statistics estimates --method cs with analytic standard errors, without a sample design");
            return Ok(Some(Outcome::Failure));
        }
        let df = endline_ingest::table::read_table(&args.data).map_err(anyhow::Error::msg)?;
        let stats = match cs::stats::from_table(&df) {
            Ok(s) => s,
            Err(e) => {
                error!("{}: {e}", args.data.display());
                return Ok(Some(Outcome::Invalid));
            }
        };
        return finish_streamed(args, &stats, honest_opts).map(Some);
    }
    if args.engine == Engine::Memory {
        return Ok(None);
    }
    let forced = args.engine == Engine::Stream;
    let cannot = if !crate::stream::is_parquet(&args.data) {
        Some("the data is not Parquet")
    } else if !args.covariates.is_empty() {
        Some("covariates need each unit's values (in-memory estimator)")
    } else if args.weights.is_some() {
        Some("weights need the in-memory estimator")
    } else if args.design.declared() {
        Some("a sample design needs the in-memory estimator")
    } else if args.se == SeArg::Bootstrap {
        Some("the multiplier bootstrap needs each unit's influence function (in-memory estimator)")
    } else {
        None
    };
    if let Some(why) = cannot {
        if forced {
            error!("cannot stream: {why}; drop --engine stream");
            return Ok(Some(Outcome::Failure));
        }
        return Ok(None);
    }
    // Clustering by the unit is the unit-level standard error.
    let name = |c: &Option<String>| c.clone().unwrap_or_default();
    let (unit, time, outcome, cohort) = (name(&args.unit), name(&args.time), name(&args.outcome), name(&args.cohort));
    let cluster = args.cluster.as_deref().filter(|c| *c != unit);

    let fail = |e: &dyn std::fmt::Display| {
        error!("{}: {e}", args.data.display());
        Ok(Some(Outcome::Invalid))
    };
    let stats = match crate::stream::cs_statistics(&args.data, &unit, cluster, (&time, &outcome, &cohort)) {
        Ok(Some(cs::stream::Streamed::Stats(s))) => s,
        Ok(Some(cs::stream::Streamed::Fallback(why))) if forced => {
            return fail(&format!("cannot stream this panel ({why}); drop --engine stream"));
        }
        Ok(None) if forced => {
            return fail(&"cannot stream: the period, outcome and cohort columns must be numeric and present");
        }
        Ok(_) => return Ok(None),
        Err(e) => return fail(&e),
    };
    finish_streamed(args, &stats, honest_opts).map(Some)
}

/// The estimate from sufficient statistics, printed.
fn finish_streamed(
    args: &DidArgs,
    stats: &cs::stats::CsStats,
    honest_opts: Option<&endline_analysis::honest::Options>,
) -> anyhow::Result<Outcome> {
    match cs::stats::estimate(stats, &cs_options(args, 0, None))
        .and_then(|r| cs_output(&r, args, stats.n_obs, honest_opts))
    {
        Ok((text, json)) => emit(args.format, &text, &json),
        Err(e) => {
            error!("{e}");
            Ok(Outcome::Invalid)
        }
    }
}

/// Prints a result as a table or as its JSON.
fn emit(format: OutFormat, text: &str, json: &Value) -> anyhow::Result<Outcome> {
    match format {
        OutFormat::Table => print(text)?,
        OutFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(json)?))?,
    }
    Ok(Outcome::Success)
}

fn regression_json(
    method: &str,
    fit: &FeolsFit,
    coefs: Option<&[EventCoefficient]>,
    pretrend: Option<WaldTest>,
    n_units: usize,
) -> Value {
    let mut v = serde_json::to_value(fit).unwrap_or(Value::Null);
    v["method"] = json!(method);
    v["n_units"] = json!(n_units);
    if let Some(c) = coefs {
        v["coefficients"] = serde_json::to_value(c).unwrap_or(Value::Null);
    }
    v["pretrend_test"] = serde_json::to_value(pretrend).unwrap_or(Value::Null);
    v
}

/// A χ² test as one line of text.
fn chi2_line(label: &str, t: &WaldTest) -> String {
    format!("{label}: chi2({}) = {}, p = {}", t.df, sig(t.statistic, 4), sig(t.p_value, 3))
}

/// The numeric part of a table row: estimate, standard error and interval, aligned.
fn effect_cells(estimate: f64, se: f64, low: f64, high: f64) -> String {
    format!("{:>11} {:>10} {:>24}", sig(estimate, 4), sig(se, 4), format!("[{}, {}]", sig(low, 4), sig(high, 4)))
}

fn cs_table(r: &CsResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Callaway & Sant'Anna (2021): group-time average treatment effects\n");
    let _ = writeln!(out, "{:>8} {:>8} {:>11} {:>10} {:>24}", "cohort", "period", "ATT(g,t)", "s.e.", "95% interval");
    for c in &r.att_gt {
        let _ =
            writeln!(out, "{:>8} {:>8} {}", c.group, c.time, effect_cells(c.att, c.std_error, c.conf_low, c.conf_high));
    }
    let line =
        |name: &str, e: &Effect| format!("{name:<28} {}\n", effect_cells(e.att, e.std_error, e.conf_low, e.conf_high));
    let _ = writeln!(out, "\nAggregations{:>27} {:>10} {:>24}", "ATT", "s.e.", "95% interval");
    out.push_str(&line("simple (post cells)", &r.simple));
    out.push_str(&line("dynamic (mean over e >= 0)", &r.dynamic.overall));
    for b in &r.dynamic.by {
        out.push_str(&line(&format!("  event time {}", b.index), &b.effect));
    }
    out.push_str(&line("group (by cohort size)", &r.group.overall));
    for b in &r.group.by {
        out.push_str(&line(&format!("  cohort {}", b.index), &b.effect));
    }
    out.push_str(&line("calendar (mean over periods)", &r.calendar.overall));
    for b in &r.calendar.by {
        out.push_str(&line(&format!("  period {}", b.index), &b.effect));
    }
    match r.pretrend_test {
        Some(t) => {
            let _ = writeln!(
                out,
                "\n{}",
                chi2_line(
                    "Pre-test of parallel trends",
                    &WaldTest { statistic: t.statistic, df: t.df, p_value: t.p_value }
                )
            );
        }
        None => out.push_str("\nPre-test of parallel trends: no pre-treatment cells\n"),
    }
    let sizes: Vec<String> = r
        .cohorts
        .iter()
        .map(|c| format!("{}: {}", if c.cohort == 0 { "never".to_string() } else { c.cohort.to_string() }, c.units))
        .collect();
    let _ = writeln!(out, "Units per cohort: {}", sizes.join(", "));
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

pub fn did(args: &DidArgs) -> anyhow::Result<Outcome> {
    let reps = match crate::limits::draws(args.bootstrap_reps, "--bootstrap-reps", args.allow_large) {
        Ok(n) => n,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    let honest_opts = match args.sensitivity.options() {
        Ok(o) => o,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    if honest_opts.is_some() {
        match args.method {
            Method::Event => {}
            Method::Cs if args.base_period == BaseArg::Universal => {}
            Method::Cs => {
                error!(
                    "--honest needs an event study against one reference period: add --base-period universal \
                     (with the varying base period the pre-period estimates are period-on-period changes)"
                );
                return Ok(Outcome::Failure);
            }
            _ => {
                error!("--honest analyses an event study: use --method event or --method cs");
                return Ok(Outcome::Failure);
            }
        }
    }
    if args.method == Method::Cs {
        if let Some(done) = streamed_cs(args, honest_opts.as_ref())? {
            return Ok(done);
        }
    } else if args.engine == Engine::Stream {
        error!("--engine stream applies to --method cs (and to `endline estimate`)");
        return Ok(Outcome::Failure);
    }
    let mut df = endline_ingest::table::read_table(&args.data).map_err(anyhow::Error::msg)?;
    let mut spec = PanelSpec {
        // clap requires the four unless --from-statistics, which returned above.
        outcome: args.outcome.clone().unwrap_or_default(),
        unit: args.unit.clone().unwrap_or_default(),
        time: args.time.clone().unwrap_or_default(),
        cohort: args.cohort.clone().unwrap_or_default(),
        covariates: args.covariates.clone(),
        weights: args.weights.clone(),
        cluster: args.cluster.clone(),
    };
    let survey = if args.design.declared() {
        if args.cluster.is_some() || args.se == SeArg::Bootstrap || args.method != Method::Cs {
            error!(
                "a sample design sets the standard errors of --method cs (analytic): drop --cluster and --se \
                 bootstrap, and for a regression method use `endline estimate` with the design flags"
            );
            return Ok(Outcome::Failure);
        }
        match args.design.spec().and_then(|d| d.for_panel(&mut df, &mut spec)) {
            Ok(d) => Some(std::sync::Arc::new(d)),
            Err(e) => {
                error!("{}: {e}", args.data.display());
                return Ok(Outcome::Invalid);
            }
        }
    } else {
        None
    };
    let mut panel_warnings = Vec::new();
    let mut panel_cohorts = Vec::new();
    let result = (|| -> Result<(String, Value), AnalysisError> {
        // The panel checks (duplicates, cohorts constant within units) apply to every method.
        let p = panel::build(&df, &spec)?;
        panel_warnings = p.warnings.clone();
        let mut cohorts: Vec<i64> = p.cohort.clone();
        cohorts.sort_unstable();
        cohorts.dedup();
        panel_cohorts = cohorts
            .iter()
            .map(|g| json!({"cohort": g, "units": p.cohort.iter().filter(|c| *c == g).count()}))
            .collect();
        let opts =
            RegressionOptions { anticipation: args.anticipation, min_event: args.min_event, max_event: args.max_event };
        Ok(match args.method {
            Method::Cs => {
                let r = cs::estimate(&p, &cs_options(args, reps, survey.clone()))?;
                cs_output(&r, args, p.n_obs, honest_opts.as_ref())?
            }
            Method::Twfe => {
                let fit = twfe::static_twfe(&df, &spec, &opts)?;
                let warn = p.warnings.iter().map(|w| format!("warning: {w}\n")).collect::<String>();
                (
                    format!("{}{warn}", table(std::slice::from_ref(&fit))),
                    regression_json("twfe", &fit, None, None, p.n_units()),
                )
            }
            Method::TwoByTwo => {
                let fit = twfe::two_by_two(&df, &spec, &opts)?;
                (table(std::slice::from_ref(&fit)), regression_json("2x2", &fit, None, None, p.n_units()))
            }
            Method::Sa => {
                let r = sa::estimate(&df, &spec)?;
                let mut text =
                    format!("Sun & Abraham (2021) interaction-weighted event study; comparison: {}\n\n", r.control);
                let _ = writeln!(text, "{:>11} {:>11} {:>10} {:>24}", "event time", "estimate", "s.e.", "95% interval");
                for c in r.coefficients.iter().chain(std::iter::once(&r.overall)) {
                    let label = if c.term == "ATT" { "ATT".to_string() } else { c.event_time.to_string() };
                    let _ = writeln!(
                        text,
                        "{label:>11} {}",
                        effect_cells(c.estimate, c.std_error, c.conf_low, c.conf_high)
                    );
                }
                if let Some(t) = r.pretrend_test {
                    let _ = writeln!(text, "\n{}", chi2_line("Joint test of the leads", &t));
                }
                let json = json!({"method": "sa", "control": r.control, "n_units": p.n_units(), "n_obs": r.fit.n_obs,
                    "coefficients": r.coefficients, "overall": r.overall, "cohort_effects": r.cohort_effects,
                    "pretrend_test": r.pretrend_test, "vcov": r.fit.vcov});
                (text, json)
            }
            Method::Bacon => {
                let b = bacon::decompose(&p)?;
                let mut text = String::from("Goodman-Bacon (2021) decomposition of the static TWFE estimate\n\n");
                let _ = writeln!(
                    text,
                    "{:<18} {:>8} {:>8} {:>11} {:>9}",
                    "comparison", "treated", "control", "2x2 DiD", "weight"
                );
                for c in &b.comparisons {
                    let control = if c.control == 0 { "never".to_string() } else { c.control.to_string() };
                    let _ = writeln!(
                        text,
                        "{:<18} {:>8} {:>8} {:>11} {:>9}",
                        c.kind,
                        c.treated,
                        control,
                        sig(c.estimate, 4),
                        sig(c.weight, 4)
                    );
                }
                let _ = writeln!(text);
                for (kind, w, avg) in &b.by_kind {
                    let _ = writeln!(
                        text,
                        "{kind:<18} total weight {:>7}  weighted average {:>10}",
                        sig(*w, 4),
                        sig(*avg, 4)
                    );
                }
                let _ = writeln!(text, "TWFE estimate (the weighted sum): {}", sig(b.twfe, 6));
                let json = json!({"method": "bacon", "n_units": p.n_units(), "n_obs": p.n_obs, "twfe": b.twfe, "comparisons": b.comparisons,
                    "by_kind": b.by_kind.iter().map(|(k, w, a)| json!({"kind": k, "weight": w, "estimate": a})).collect::<Vec<_>>()});
                (text, json)
            }
            Method::Event => {
                let (fit, coefs, pre) = twfe::event_study(&df, &spec, &opts)?;
                let mut text = table(std::slice::from_ref(&fit));
                if let Some(t) = pre {
                    let _ = writeln!(
                        text,
                        "Joint test of the leads (pre-trends): F({}, {}) = {}, p = {}",
                        t.df,
                        fit.dof_resid,
                        sig(t.statistic, 4),
                        sig(t.p_value, 3)
                    );
                }
                let mut json = regression_json("event", &fit, Some(&coefs), pre, p.n_units());
                if let Some(o) = &honest_opts {
                    // The event-time coefficients and their block of the covariance, by
                    // the fit's own indices (covariates left out).
                    let index: Vec<usize> =
                        coefs.iter().filter_map(|c| fit.coefficients.iter().position(|f| f.term == c.term)).collect();
                    let times: Vec<i64> = coefs.iter().map(|c| c.event_time).collect();
                    let beta: Vec<f64> = coefs.iter().map(|c| c.estimate).collect();
                    let sigma: Vec<Vec<f64>> =
                        index.iter().map(|&i| index.iter().map(|&j| fit.vcov_matrix[i][j]).collect()).collect();
                    let es = (times.as_slice(), beta.as_slice(), sigma.as_slice());
                    honest::add_to(o, args.sensitivity.pretrend_slope, es, &mut text, &mut json)?;
                }
                (text, json)
            }
        })
    })();
    match result {
        Ok((mut text, mut json)) => {
            // Diagnostics every method shares: the panel's warnings, too few clusters, and
            // the units per cohort (cs reports its own, after dropping always-treated units).
            if json.get("warnings").is_none() {
                let mut warnings = panel_warnings.clone();
                if let Some(g) =
                    json["clusters"].as_array().and_then(|c| c.first()).and_then(|c| c[1].as_u64()).filter(|g| *g < 30)
                {
                    warnings.push(format!("only {g} clusters: cluster-robust standard errors may be too small; consider `endline estimate --bootstrap` (wild cluster bootstrap)"));
                }
                for w in &warnings {
                    let _ = writeln!(text, "warning: {w}");
                }
                json["warnings"] = json!(warnings);
                json["cohorts"] = json!(panel_cohorts);
            }
            emit(args.format, &text, &json)
        }
        Err(e) => {
            error!("{e}");
            Ok(Outcome::Invalid)
        }
    }
}
