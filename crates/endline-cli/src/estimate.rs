//! `endline estimate`: regressions with absorbed fixed effects.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use endline_analysis::sampling::DESIGN_WEIGHT;
use endline_analysis::{AnalysisError, FeolsFit, FeolsSpec, Vcov, WildBootstrap, WildWeights, demean::DemeanOptions};

use crate::Outcome;
use crate::design_args::DesignArgs;
use crate::output::{error, print};
use crate::stream::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// A regression table; several formulas side by side.
    Table,
    /// The JSON of docs/cli.md (an array when several formulas are given).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootWeights {
    /// ±1 with equal probability.
    Rademacher,
    /// Webb's six-point distribution (better with fewer than about 12 clusters).
    Webb,
}

/// Arguments of `endline estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// The data: a .csv or .parquet file.
    pub data: PathBuf,
    /// A formula in fixest syntax, e.g. "y ~ x + i(rel_time, ref=-1) | unit + year".
    /// Repeat the flag to estimate several models, shown side by side.
    #[arg(long, short, required = true)]
    pub formula: Vec<String>,
    /// Variance: iid (default), hetero (HC1), cluster:VAR (CR1) or cluster:VAR1+VAR2
    /// (two-way). With a sample design (--strata, --psu, --fpc, --repweights) the
    /// variance is the design's instead.
    #[arg(long)]
    pub vcov: Option<Vcov>,
    /// A column of analytic (sampling) weights; with a design, its sampling weights
    /// (default: from the FPCs when they are population counts).
    #[arg(long)]
    pub weights: Option<String>,
    #[command(flatten)]
    pub design: DesignArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Keep observations alone in a fixed-effect level (removed by default; they
    /// carry no information but change the degrees of freedom).
    #[arg(long)]
    pub keep_singletons: bool,
    /// Count every fixed-effect level in K even when nested in the cluster variable
    /// (fixest's ssc(fixef.K = "full"); the default is fixest's "nested").
    #[arg(long)]
    pub k_fixef_full: bool,
    /// Demeaning tolerance, relative to each column's largest absolute value.
    #[arg(long, default_value_t = 1e-11)]
    pub fixef_tol: f64,
    /// Add a wild cluster restricted bootstrap p-value for each coefficient, with this
    /// many draws (at most 100,000 unless --allow-large).
    #[arg(long, value_name = "DRAWS")]
    pub bootstrap: Option<usize>,
    /// Allow workloads above the documented caps (bootstrap draws beyond 100,000).
    #[arg(long)]
    pub allow_large: bool,
    /// The bootstrap's weight distribution.
    #[arg(long, value_enum, default_value_t = BootWeights::Rademacher)]
    pub bootstrap_weights: BootWeights,
    /// The bootstrap's cluster variable (default: the --vcov cluster).
    #[arg(long)]
    pub bootstrap_cluster: Option<String>,
    /// Seed for the bootstrap: the same seed gives the same p-values.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How to read the data: `auto` streams a Parquet table in batches of row groups
    /// when the model allows (two fixed effects, one of at most 64 levels; plain numeric
    /// regressors; iid, hetero or one-way cluster variance; no weights, design or
    /// bootstrap) and loads it otherwise; `stream` insists (an error says why not);
    /// `memory` loads it. The estimates are the same.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

/// The fit of one formula streamed from Parquet, when `--engine` and the model allow
/// (None: fit it in memory); `Err` is the exit when it fails.
fn stream_one(args: &EstimateArgs, formula: &str) -> Result<Option<FeolsFit>, Outcome> {
    if args.engine == Engine::Memory {
        return Ok(None);
    }
    let forced = args.engine == Engine::Stream;
    let vcov = args.vcov.clone().unwrap_or(Vcov::Iid);
    let parsed = match endline_analysis::formula::parse(formula) {
        Ok(f) => f,
        Err(e) if forced => {
            eprint!("{}", report_error(formula, &e));
            return Err(Outcome::Invalid);
        }
        Err(_) => return Ok(None),
    };
    let cannot = if !crate::stream::is_parquet(&args.data) {
        Some("the data is not Parquet".to_string())
    } else if args.weights.is_some() || args.design.declared() {
        Some("weights and sample designs need the in-memory fit".into())
    } else if args.bootstrap.is_some() {
        Some("the wild bootstrap needs the in-memory fit".into())
    } else {
        endline_analysis::feols_stream::Columns::of(&parsed, &vcov).err()
    };
    if let Some(why) = cannot {
        if forced {
            error!("cannot stream `{formula}`: {why}; drop --engine stream");
            return Err(Outcome::Failure);
        }
        return Ok(None);
    }
    let opts = endline_analysis::feols_stream::Options {
        formula: &parsed,
        vcov: &vcov,
        remove_singletons: !args.keep_singletons,
        k_fixef_full: args.k_fixef_full,
        cache_bytes: crate::stream::HELD_ROWS_MEMORY,
    };
    match crate::stream::regression(&args.data, &opts) {
        Ok(Some(endline_analysis::feols_stream::Fitted::Fit(fit))) => Ok(Some(*fit)),
        Ok(Some(endline_analysis::feols_stream::Fitted::Fallback(why))) if forced => {
            error!("{}: cannot stream `{formula}` ({why}); drop --engine stream", args.data.display());
            Err(Outcome::Invalid)
        }
        Ok(None) if forced => {
            error!("{}: cannot stream `{formula}`: its columns must be present and numeric", args.data.display());
            Err(Outcome::Invalid)
        }
        Ok(_) => Ok(None),
        Err(e) => {
            eprint!("{}", report_error(formula, &e));
            Err(Outcome::Invalid)
        }
    }
}

/// Renders an estimation error; formula errors get a caret under the formula.
fn report_error(formula: &str, e: &AnalysisError) -> String {
    match e {
        AnalysisError::Formula { at, .. } => {
            let col = formula.get(..*at).map_or(0, |s| s.chars().count());
            format!("error: {e}\n  | {formula}\n  | {}^\n", " ".repeat(col))
        }
        _ => format!("error: {e}\n  in model `{formula}`\n"),
    }
}

pub fn estimate(args: &EstimateArgs) -> anyhow::Result<Outcome> {
    if let Some(Err(e)) = args.bootstrap.map(|n| crate::limits::draws(n, "--bootstrap", args.allow_large)) {
        error!("{e}");
        return Ok(Outcome::Failure);
    }
    let bootstrap = args.bootstrap.map(|reps| WildBootstrap {
        reps,
        weights: match args.bootstrap_weights {
            BootWeights::Rademacher => WildWeights::Rademacher,
            BootWeights::Webb => WildWeights::Webb,
        },
        seed: args.seed,
        cluster: args.bootstrap_cluster.clone(),
    });
    // Formulas that stream are fitted from the Parquet batches; the rest from the table.
    let mut streamed: Vec<Option<FeolsFit>> = Vec::new();
    for formula in &args.formula {
        match stream_one(args, formula) {
            Ok(fit) => streamed.push(fit),
            Err(outcome) => return Ok(outcome),
        }
    }
    if streamed.iter().all(Option::is_some) {
        return finish(args, streamed.into_iter().flatten().collect());
    }
    let mut df = endline_ingest::table::read_table(&args.data).map_err(anyhow::Error::msg)?;
    let mut weights = args.weights.clone();
    let survey = if args.design.declared() {
        if args.vcov.is_some() {
            error!("a sample design sets the variance: give --vcov or the design flags, not both");
            return Ok(Outcome::Failure);
        }
        let design = match args.design.design(&df, args.weights.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                error!("{}: {e}", args.data.display());
                return Ok(Outcome::Invalid);
            }
        };
        // Weights the design makes from its FPCs are the regression's weights too.
        if weights.is_none() && design.weights.iter().any(|w| *w != 1.0) {
            df.with_column(polars::prelude::Column::new(DESIGN_WEIGHT.into(), design.weights.as_slice()))?;
            weights = Some(DESIGN_WEIGHT.to_string());
        }
        Some(std::sync::Arc::new(design))
    } else {
        None
    };
    let mut fits = Vec::new();
    let mut failed = false;
    for (formula, done) in args.formula.iter().zip(streamed) {
        if let Some(fit) = done {
            fits.push(fit);
            continue;
        }
        let result = FeolsSpec::new(formula).and_then(|s| {
            s.vcov(args.vcov.clone().unwrap_or(Vcov::Iid))
                .survey(survey.clone())
                .weights(weights.as_deref())
                .remove_singletons(!args.keep_singletons)
                .k_fixef_full(args.k_fixef_full)
                .demean_options(DemeanOptions { tol: args.fixef_tol, ..DemeanOptions::default() })
                .wild_bootstrap(bootstrap.clone())
                .fit(&df)
        });
        match result {
            Ok(f) => fits.push(f),
            Err(e) => {
                eprint!("{}", report_error(formula, &e));
                failed = true;
            }
        }
    }
    if failed {
        return Ok(Outcome::Invalid);
    }
    finish(args, fits)
}

/// Prints the fits.
fn finish(args: &EstimateArgs, fits: Vec<FeolsFit>) -> anyhow::Result<Outcome> {
    let text = match args.format {
        TableFormat::Json if fits.len() == 1 => format!("{}\n", serde_json::to_string_pretty(&fits[0])?),
        TableFormat::Json => format!("{}\n", serde_json::to_string_pretty(&fits)?),
        TableFormat::Table => table(&fits),
    };
    print(&text)?;
    Ok(Outcome::Success)
}

/// A number with `sig` significant digits, without exponent for ordinary magnitudes.
pub fn sig(x: f64, sig: usize) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NA".into()
        } else if x > 0.0 {
            "Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..=9).contains(&mag) {
        return format!("{x:.*e}", sig.saturating_sub(1));
    }
    let decimals = (sig as i32 - 1 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

fn stars(p: f64) -> &'static str {
    if p < 0.001 {
        "***"
    } else if p < 0.01 {
        "**"
    } else if p < 0.05 {
        "*"
    } else if p < 0.1 {
        "."
    } else {
        ""
    }
}

/// The regression table, fixest etable style: one column per model.
pub fn table(fits: &[FeolsFit]) -> String {
    let mut terms: Vec<&str> = Vec::new();
    for f in fits {
        for c in &f.coefficients {
            if !terms.contains(&c.term.as_str()) {
                terms.push(&c.term);
            }
        }
    }
    let mut fes: Vec<&str> = Vec::new();
    for f in fits {
        for fe in &f.fixed_effects {
            if !fes.contains(&fe.name.as_str()) {
                fes.push(&fe.name);
            }
        }
    }
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let header: Vec<String> = (1..=fits.len()).map(|i| format!("({i})")).collect();
    rows.push((String::new(), header));
    rows.push(("Dependent var.".into(), fits.iter().map(|f| f.depvar.clone()).collect()));
    rows.push(("-".into(), Vec::new()));
    for t in &terms {
        let coef = |f: &FeolsFit| f.coefficient(t).cloned();
        rows.push((
            t.to_string(),
            fits.iter()
                .map(|f| coef(f).map_or(String::new(), |c| format!("{}{}", sig(c.estimate, 4), stars(c.p_value))))
                .collect(),
        ));
        rows.push((
            String::new(),
            fits.iter().map(|f| coef(f).map_or(String::new(), |c| format!("({})", sig(c.std_error, 4)))).collect(),
        ));
        if fits.iter().any(|f| f.coefficient(t).is_some_and(|c| c.wild_bootstrap.is_some())) {
            rows.push((
                String::new(),
                fits.iter()
                    .map(|f| {
                        coef(f).and_then(|c| c.wild_bootstrap).map_or(String::new(), |w| {
                            if w.p_value == 0.0 {
                                format!("[wild p < {}]", sig(1.0 / w.reps as f64, 2))
                            } else {
                                format!("[wild p {}]", sig(w.p_value, 3))
                            }
                        })
                    })
                    .collect(),
            ));
        }
    }
    if !fes.is_empty() {
        rows.push(("-".into(), Vec::new()));
        rows.push(("Fixed effects".into(), Vec::new()));
        for fe in &fes {
            rows.push((
                format!("  {fe}"),
                fits.iter()
                    .map(|f| if f.fixed_effects.iter().any(|x| x.name == *fe) { "Yes".into() } else { "No".into() })
                    .collect(),
            ));
        }
    }
    rows.push(("-".into(), Vec::new()));
    let stat = |name: &str, f: &dyn Fn(&FeolsFit) -> String| (name.to_string(), fits.iter().map(f).collect::<Vec<_>>());
    rows.push(stat("S.E.", &|f| f.vcov.clone()));
    if fits.iter().any(|f| f.weights.is_some()) {
        rows.push(stat("Weights", &|f| f.weights.clone().unwrap_or_else(|| "-".into())));
    }
    rows.push(stat("Observations", &|f| f.n_obs.to_string()));
    rows.push(stat("R²", &|f| sig(f.r2, 5)));
    if fits.iter().any(|f| f.r2_within.is_some()) {
        rows.push(stat("Within R²", &|f| f.r2_within.map_or(String::new(), |r| sig(r, 5))));
    }
    rows.push(stat("Adj. R²", &|f| sig(f.adj_r2, 5)));
    rows.push(stat("RMSE", &|f| sig(f.rmse, 5)));
    rows.push(stat("K (small-sample)", &|f| f.df_k.to_string()));
    rows.push(stat("df (t tests)", &|f| f.dof_resid.to_string()));
    if fits.iter().any(|f| !f.clusters.is_empty()) {
        rows.push(stat("Clusters", &|f| {
            f.clusters.iter().map(|(n, g)| format!("{n}: {g}")).collect::<Vec<_>>().join(", ")
        }));
    }
    if fits.iter().any(|f| f.f_test.is_some()) {
        rows.push(stat("Wald F (p)", &|f| {
            f.f_test.map_or(String::new(), |t| format!("{} ({})", sig(t.statistic, 4), sig(t.p_value, 3)))
        }));
    }
    let label_w = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    let col_w: Vec<usize> = (0..fits.len())
        .map(|i| rows.iter().filter_map(|(_, v)| v.get(i)).map(|s| s.chars().count()).max().unwrap_or(0).max(8))
        .collect();
    let total = label_w + col_w.iter().map(|w| w + 2).sum::<usize>();
    let mut out = String::new();
    for (label, values) in &rows {
        if label == "-" && values.is_empty() {
            let _ = writeln!(out, "{}", "─".repeat(total));
            continue;
        }
        let mut line = format!("{label:<label_w$}");
        for (i, w) in col_w.iter().enumerate() {
            let v = values.get(i).map_or("", String::as_str);
            let _ = write!(line, "  {v:>w$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "{}", "─".repeat(total));
    let _ =
        writeln!(out, "Signif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1; standard errors in parentheses");
    for (i, f) in fits.iter().enumerate() {
        let mut notes = f.notes.clone();
        for (n, what) in [
            (f.n_missing, "with missing values"),
            (f.n_zero_weight, "with zero weight"),
            (f.n_singletons, "alone in a fixed-effect level (singletons)"),
        ] {
            if n > 0 {
                notes.push(format!("{n} of {} rows dropped {what}", f.n_input));
            }
        }
        for n in notes {
            let _ = writeln!(out, "Note ({}): {n}", i + 1);
        }
    }
    out
}
