//! `endline power PLAN`: power and the minimum detectable effect of a planned study, by
//! simulating its declared design and running its main estimator on each replicate,
//! beside the analytic answer for the same design. A plan on field data is simulated
//! from its outcome's variance components ([`field`]).

mod field;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use endline_analysis::data::Level as Label;
use endline_analysis::did::cs::{self, Control, CsOptions};
use endline_analysis::did::panel::Panel;
use endline_analysis::power::{self as analytic, Controls};
use endline_plan::plan::{ControlGroup, Data, Level, Transform};
use endline_simulate::{Effect, OutcomeProcess, Process, Replicate};
use rayon::prelude::*;
use serde::Serialize;

use crate::Outcome;
use crate::estimate::sig;
use crate::output::{error, print};

/// Arguments of `endline power`.
#[derive(Debug, Args)]
pub struct PowerArgs {
    /// The analysis plan (its `data: simulate:` block declares the design).
    pub plan: PathBuf,
    /// The outcome (default: the plan's first); in a simulated study it needs a planted
    /// effect or trend.
    #[arg(long)]
    pub outcome: Option<String>,
    /// The effect to give the power at, on the estimation scale (default: a simulated
    /// study's planted effect; a field study has none, and gets the MDE alone).
    #[arg(long, allow_hyphen_values = true)]
    pub effect: Option<f64>,
    /// Replicates (default: as many as `--precision` needs, at least 200).
    #[arg(long)]
    pub replicates: Option<usize>,
    /// The Monte Carlo standard error wanted for the power at the planted effect.
    #[arg(long, default_value_t = 0.01)]
    pub precision: f64,
    /// The power the minimum detectable effect is for.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// The seed of the replicates (default: the plan's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Power at the planted effect for these numbers of units, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub units: Vec<usize>,
    /// ... and these numbers of households per unit.
    #[arg(long, value_delimiter = ',')]
    pub households: Vec<usize>,
    /// Write the power curve as an SVG plot.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::did::OutFormat::Table)]
    pub format: crate::did::OutFormat,
}

/// A power with its Monte Carlo standard error.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Estimate {
    /// The estimate.
    pub estimate: f64,
    /// Its Monte Carlo standard error.
    pub mc_se: f64,
}

/// The analytic design calculation.
#[derive(Debug, Clone, Serialize)]
pub struct Analytic {
    /// Transitory unit × wave variance of the outcome (estimated on simulated data
    /// without an effect).
    pub transitory_variance: f64,
    /// The estimator's standard error for this design.
    pub std_error: f64,
    /// Degrees of freedom (units − 2).
    pub df: f64,
    /// Power at the planted effect.
    pub power: f64,
    /// Minimum detectable effect at the requested power.
    pub mde: f64,
    /// The simulated counterparts of `std_error`: the standard deviation of the
    /// estimates across replicates without an effect, and the mean of the estimator's own
    /// standard errors.
    pub simulated_sd: f64,
    pub mean_estimated_se: f64,
}

/// One point of the power curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// The effect.
    pub effect: f64,
    /// Simulated power.
    pub power: f64,
    /// Analytic power.
    pub analytic: f64,
}

/// Power at the planted effect for one sample size.
#[derive(Debug, Clone, Serialize)]
pub struct BySize {
    /// Units.
    pub units: usize,
    /// Households per unit.
    pub households: usize,
    /// Simulated power.
    #[serde(flatten)]
    pub power: Estimate,
    /// Analytic power.
    pub analytic: f64,
}

/// `endline power --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct PowerReport {
    pub plan: String,
    pub outcome: String,
    pub estimator: &'static str,
    pub transform: Transform,
    pub alpha: f64,
    pub seed: u64,
    pub replicates: usize,
    pub units: usize,
    pub households: usize,
    pub waves: Vec<i64>,
    /// The planted effect and its scale.
    pub planted: endline_simulate::Effect,
    /// Power at the planted effect (with none planted: the test's size).
    pub power: Estimate,
    /// The smallest effect (on the planted scale) detected with `target_power`.
    pub mde: Estimate,
    pub target_power: f64,
    pub analytic: Analytic,
    pub curve: Vec<CurvePoint>,
    pub by_size: Vec<BySize>,
    /// A field study's variance components, as estimated and simulated (null for a
    /// simulated study).
    pub components: Option<endline_simulate::Components>,
    pub notes: Vec<String>,
}

const ALPHA: f64 = 0.05;

/// What the main estimator says on one replicate: estimate and standard error.
type Fit = (f64, f64);

struct Setup {
    outcome: String,
    process: Process,
    planted: Effect,
    transform: Transform,
    level: Level,
    control: Control,
    covariates: Vec<usize>,
    seed: u64,
}

impl Setup {
    /// The outcome on its estimation scale, household-major.
    fn transformed(&self, rep: &Replicate) -> Vec<f64> {
        rep.y
            .iter()
            .map(|&v| match self.transform {
                Transform::Level => v,
                Transform::Log => v.ln(),
                Transform::Log1p => v.ln_1p(),
                Transform::Asinh => v.asinh(),
            })
            .collect()
    }

    /// Unit × wave means of the transformed outcome (unit-major; NaN where no household
    /// has a value).
    fn unit_wave_means(&self, rep: &Replicate) -> Vec<f64> {
        let t_n = self.process.waves().len();
        let units = rep.first_treated.len();
        let y = self.transformed(rep);
        let (mut sums, mut count) = (vec![0.0; units * t_n], vec![0.0; units * t_n]);
        for (i, &j) in rep.unit.iter().enumerate() {
            for t in 0..t_n {
                let v = y[i * t_n + t];
                if v.is_finite() {
                    sums[j as usize * t_n + t] += v;
                    count[j as usize * t_n + t] += 1.0;
                }
            }
        }
        sums.iter().zip(&count).map(|(s, c)| if *c > 0.0 { s / c } else { f64::NAN }).collect()
    }

    /// The replicate as the estimator's panel: households clustered by unit, or unit
    /// means at `level: unit`.
    fn panel(&self, rep: &Replicate) -> Panel {
        let periods = self.process.waves().to_vec();
        let t_n = periods.len();
        // Each panel row's unit, and so its cohort and covariates.
        let (rows, y, cluster): (Vec<usize>, Vec<f64>, Option<Vec<u32>>) = match self.level {
            Level::Household => {
                (rep.unit.iter().map(|&j| j as usize).collect(), self.transformed(rep), Some(rep.unit.clone()))
            }
            Level::Unit => ((0..rep.first_treated.len()).collect(), self.unit_wave_means(rep), None),
        };
        let x = self
            .covariates
            .iter()
            .map(|&a| {
                rows.iter().flat_map(|&j| std::iter::repeat_n(f64::from(u8::from(rep.attributes[j][a])), t_n)).collect()
            })
            .collect();
        Panel {
            periods,
            units: (0..rows.len()).map(|i| Label::Int(i as i64)).collect(),
            cohort: rows.iter().map(|&j| rep.first_treated[j]).collect(),
            n_obs: y.iter().filter(|v| v.is_finite()).count(),
            y,
            x,
            weights: vec![1.0; rows.len()],
            cluster,
            warnings: Vec::new(),
        }
    }

    fn fit(&self, process: &Process, r: u64, size: f64) -> Option<Fit> {
        let rep = process.draw(self.seed, r, size).ok()?;
        let panel = self.panel(&rep);
        // The plan's estimator: doubly robust, varying base period, analytic errors.
        let opts = CsOptions { control: self.control, alpha: ALPHA, ..CsOptions::default() };
        let res = cs::estimate(&panel, &opts).ok()?;
        Some((res.simple.att, res.simple.std_error))
    }
}

fn rejects(f: Fit, z: f64) -> bool {
    f.1 > 0.0 && (f.0 / f.1).abs() > z
}

/// One replicate's fits: without an effect, at the planted effect, and at its detection
/// threshold (the effect at which its t statistic crosses the critical value, when the
/// search found it).
struct RepFits {
    zero: Fit,
    planted: Fit,
    threshold: Option<(f64, Fit)>,
}

/// The analytic design calculation: (σ²_T, standard error, degrees of freedom).
type Design = (f64, f64, f64);

impl Setup {
    /// σ²_T from 20 replicates without an effect (residuals of unit and wave means, the
    /// wave means within the covariates' cells), and the standard error of the simple
    /// ATT for the roll-out the process draws.
    fn analytic(&self, p: &Process) -> Option<Design> {
        let t_n = p.waves().len();
        let units = p.size().0;
        let controls = match self.control {
            Control::Never => Controls::Never,
            Control::Notyet => Controls::NotYet,
        };
        // Over 20 replicates without an effect: σ²_T, and Σw² for each replicate's
        // roll-out (the assignment, and so the weights, vary between replicates).
        let (mut var, mut sum_w2, mut k) = (0.0, 0.0, 0.0);
        for r in 0..20u64 {
            let rep = p.draw(self.seed ^ 0x00a1_1a1c, r, 0.0).ok()?;
            let means = self.unit_wave_means(&rep);
            // Units alike in the covariates: the estimator compares within them, and
            // their trends are what it conditions on.
            let cell: Vec<usize> = rep
                .attributes
                .iter()
                .map(|a| self.covariates.iter().fold(0usize, |acc, &c| acc * 2 + usize::from(a[c])))
                .collect();
            let w = analytic::simple_att_weights(&rep.first_treated, &cell, p.waves(), controls)?;
            var += analytic::transitory_variance(&means, t_n, &cell)?;
            sum_w2 += w.iter().map(|v| v * v).sum::<f64>();
            k += 1.0;
        }
        let var = var / k;
        Some((var, (var * sum_w2 / k).sqrt(), units as f64 - 2.0))
    }

    /// Replicate `r`: fits at 0 and at `size` (the planted effect, or a scale when none
    /// is planted), then secant steps on t(δ) = direction·est/se − z towards the
    /// detection threshold.
    fn replicate(&self, r: u64, size: f64, z: f64) -> Option<RepFits> {
        let direction = if size < 0.0 { -1.0 } else { 1.0 };
        let zero = self.fit(&self.process, r, 0.0)?;
        let planted = self.fit(&self.process, r, size)?;
        let t = |f: Fit| direction * f.0 / f.1 - z;
        let (mut a, mut fa) = (0.0, t(zero));
        let (mut b, mut fb) = (size.abs(), t(planted));
        let mut last = (size.abs(), planted);
        for _ in 0..4 {
            if (fb - fa).abs() < 1e-12 {
                break;
            }
            let c = b - fb * (b - a) / (fb - fa);
            if !c.is_finite() || c <= 0.0 || c > 20.0 * size.abs() {
                break;
            }
            let fit = self.fit(&self.process, r, direction * c)?;
            last = (c, fit);
            let fc = t(fit);
            if fc.abs() < 1e-6 {
                break;
            }
            (a, fa, b, fb) = (b, fb, c, fc);
        }
        let threshold = (last.0 > 0.0 && t(last.1).abs() < 1e-3).then_some(last);
        Some(RepFits { zero, planted, threshold })
    }
}

/// The `q` quantile (type 1) of sorted values.
fn quantile(v: &[f64], q: f64) -> f64 {
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k]
}

/// The MDE: the `power` quantile of the replicates' thresholds, with a bootstrap
/// standard error over replicates (400 resamples, seeded).
fn mde_of(thresholds: &[f64], power: f64, direction: f64, seed: u64) -> Estimate {
    let mut sorted = thresholds.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut rng = endline_analysis::Rng::new(seed ^ 0xb007);
    let boots: Vec<f64> = (0..400)
        .map(|_| {
            let mut s: Vec<f64> = (0..n).map(|_| sorted[rng.below(n as u64) as usize]).collect();
            s.sort_by(f64::total_cmp);
            quantile(&s, power)
        })
        .filter(|v| v.is_finite())
        .collect();
    let mean = boots.iter().sum::<f64>() / boots.len().max(1) as f64;
    let se = (boots.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (boots.len().max(2) - 1) as f64).sqrt();
    Estimate { estimate: direction * quantile(&sorted, power), mc_se: se }
}

/// The plan, its survey and the outcome's process, or the exit the user gets.
/// What `load` gives: the setup, the plan, and notes for the user.
type Loaded = (Setup, endline_plan::Plan, Vec<String>);

fn load(args: &PowerArgs, color: bool) -> anyhow::Result<Result<Loaded, Outcome>> {
    let Some(crate::run::ValidPlan { plan, survey, wave_surveys }) = crate::run::valid_plan(&args.plan, color)? else {
        return Ok(Err(Outcome::Invalid));
    };
    let name = args.plan.display();
    let outcome = match &args.outcome {
        Some(name) => plan.outcomes.iter().find(|o| &o.name == name),
        None => plan.outcomes.first(),
    };
    let Some(outcome) = outcome else {
        error!("{name}: no outcome `{}` in the plan", args.outcome.clone().unwrap_or_default());
        return Ok(Err(Outcome::Invalid));
    };
    let mut notes = vec![
        "survey weights are not simulated: every household counts alike".to_string(),
        "the curve interpolates each replicate's estimate and standard error linearly between the effects it was \
         estimated at (0, its detection threshold, the planted effect)"
            .to_string(),
    ];
    let mut covariates = Vec::new();
    let (process, planted) = match &plan.data {
        Data::Simulate(study) => {
            let question = outcome.question.clone().unwrap_or_else(|| outcome.name.clone());
            let process = match OutcomeProcess::new(&survey, study, &question) {
                Ok(p) => p,
                Err(e) => {
                    error!("{name}: outcome `{}`: {e}", outcome.name);
                    return Ok(Err(Outcome::Invalid));
                }
            };
            for c in &plan.covariates {
                match study.attributes.iter().position(|a| &a.name == c) {
                    Some(i) => covariates.push(i),
                    None => notes.push(format!("covariate `{c}` is not a unit attribute of the simulation: left out")),
                }
            }
            let planted = match args.effect {
                Some(size) => Effect { size, ..process.planted() },
                None => process.planted(),
            };
            (Process::Study(Box::new(process)), planted)
        }
        Data::Waves(_) => {
            let (process, mut more) = match field::process(&plan, &survey, &wave_surveys, &outcome.name) {
                Ok(p) => p,
                Err(e) => {
                    error!("{name}: {e}");
                    return Ok(Err(Outcome::Invalid));
                }
            };
            notes.append(&mut more);
            if !plan.covariates.is_empty() {
                notes.push("covariates are not simulated for a field study: the estimator runs without them".into());
            }
            (Process::Components(process), Effect { size: args.effect.unwrap_or(0.0), scale: None })
        }
    };
    // A field study's model is on the estimation scale already.
    let transform = match &process {
        Process::Study(_) => outcome.transform,
        Process::Components(_) => Transform::Level,
    };
    let setup = Setup {
        outcome: outcome.name.clone(),
        process,
        planted,
        transform,
        level: plan.level,
        control: match plan.control {
            ControlGroup::Never => Control::Never,
            ControlGroup::Notyet => Control::Notyet,
        },
        covariates,
        seed: args.seed.unwrap_or(match &plan.data {
            Data::Simulate(study) => study.seed,
            Data::Waves(_) => 1,
        }),
    };
    Ok(Ok((setup, plan.clone(), notes)))
}

pub fn power(args: &PowerArgs, color: bool) -> anyhow::Result<Outcome> {
    if !(0.0 < args.power && args.power < 1.0 && args.precision > 0.0 && args.precision < 0.5) {
        error!("--power must lie strictly between 0 and 1, and --precision between 0 and 0.5");
        return Ok(Outcome::Failure);
    }
    let (setup, plan, mut notes) = match load(args, color)? {
        Ok(l) => l,
        Err(outcome) => return Ok(outcome),
    };
    let process = &setup.process;
    let (units, households) = process.size();
    let planted = setup.planted;
    let z = analytic::normal_quantile(1.0 - ALPHA / 2.0);
    let Some((var, se_analytic, df)) = setup.analytic(process) else {
        error!("{}: the design has no comparison that Callaway & Sant'Anna can estimate", args.plan.display());
        return Ok(Outcome::Invalid);
    };
    let analytic_power = |size: f64, se: f64| analytic::t_power(size / se, df, ALPHA);
    let mde_analytic = analytic::mde(se_analytic, df, ALPHA, args.power);
    // With no planted effect, the search runs along the analytic MDE's scale.
    let size = if planted.size != 0.0 { planted.size } else { mde_analytic.max(1e-6) };
    let direction = if size < 0.0 { -1.0 } else { 1.0 };

    let n = match args.replicates {
        Some(n) => n.max(10),
        None => {
            let pilot: Vec<bool> = (0..200u64)
                .into_par_iter()
                .filter_map(|r| setup.fit(process, r, planted.size))
                .map(|f| rejects(f, z))
                .collect();
            let p = pilot.iter().filter(|b| **b).count() as f64 / pilot.len().max(1) as f64;
            (((p * (1.0 - p)).max(0.0025) / (args.precision * args.precision)).ceil() as usize).clamp(200, 20_000)
        }
    };
    if let Err(e) = crate::limits::draws(n, "--replicates", false) {
        error!("{e}");
        return Ok(Outcome::Failure);
    }
    let reps: Vec<RepFits> = (0..n as u64).into_par_iter().filter_map(|r| setup.replicate(r, size, z)).collect();
    let used = reps.len();
    if used < n {
        notes.push(format!("{} of {n} replicates could not be estimated and are left out", n - used));
    }
    let share = |k: usize| k as f64 / used.max(1) as f64;
    let p_hat = share(reps.iter().filter(|f| rejects(f.planted, z)).count());
    let power_at_planted = if planted.size != 0.0 {
        Estimate { estimate: p_hat, mc_se: (p_hat * (1.0 - p_hat) / used.max(1) as f64).sqrt() }
    } else {
        let p0 = share(reps.iter().filter(|f| rejects(f.zero, z)).count());
        Estimate { estimate: p0, mc_se: (p0 * (1.0 - p0) / used.max(1) as f64).sqrt() }
    };
    let thresholds: Vec<f64> = reps.iter().map(|f| f.threshold.map_or(f64::INFINITY, |(c, _)| c)).collect();
    let mde = mde_of(&thresholds, args.power, direction, setup.seed);

    // The curve: each replicate's fit interpolated through the effects it was fitted at.
    let top = (2.0 * mde.estimate.abs()).max(1.5 * size.abs());
    let top = if top.is_finite() { top } else { 3.0 * size.abs() };
    let curve: Vec<CurvePoint> = (0..=16)
        .map(|k| {
            let e = direction * top * k as f64 / 16.0;
            let hits = reps
                .iter()
                .filter(|f| {
                    let mut pts: Vec<(f64, Fit)> = vec![(0.0, f.zero), (size.abs(), f.planted)];
                    pts.extend(f.threshold);
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    rejects(interpolate(&pts, e.abs()), z)
                })
                .count();
            CurvePoint { effect: e, power: share(hits), analytic: analytic_power(e, se_analytic) }
        })
        .collect();

    // Power by sample size.
    let mut by_size = Vec::new();
    if !args.units.is_empty() || !args.households.is_empty() {
        let sizes_u = if args.units.is_empty() { vec![units] } else { args.units.clone() };
        let sizes_h = if args.households.is_empty() { vec![households] } else { args.households.clone() };
        for &u in &sizes_u {
            for &h in &sizes_h {
                let p = process.resized(u, h);
                let fits: Vec<bool> = (0..n as u64)
                    .into_par_iter()
                    .filter_map(|r| setup.fit(&p, r, planted.size))
                    .map(|f| rejects(f, z))
                    .collect();
                let ph = fits.iter().filter(|b| **b).count() as f64 / fits.len().max(1) as f64;
                let an = setup.analytic(&p).map_or(f64::NAN, |(_, se, _)| analytic_power(planted.size, se));
                by_size.push(BySize {
                    units: u,
                    households: h,
                    power: Estimate { estimate: ph, mc_se: (ph * (1.0 - ph) / fits.len().max(1) as f64).sqrt() },
                    analytic: an,
                });
            }
        }
    }

    let report = PowerReport {
        plan: plan.id.clone(),
        outcome: setup.outcome.clone(),
        estimator: "cs",
        transform: setup.transform,
        alpha: ALPHA,
        seed: setup.seed,
        replicates: used,
        units,
        households,
        waves: process.waves().to_vec(),
        planted,
        power: power_at_planted,
        mde,
        target_power: args.power,
        analytic: Analytic {
            transitory_variance: var,
            std_error: se_analytic,
            df,
            power: analytic_power(planted.size, se_analytic),
            mde: mde_analytic,
            simulated_sd: {
                let m = reps.iter().map(|f| f.zero.0).sum::<f64>() / used.max(1) as f64;
                (reps.iter().map(|f| (f.zero.0 - m).powi(2)).sum::<f64>() / (used.max(2) - 1) as f64).sqrt()
            },
            mean_estimated_se: reps.iter().map(|f| f.zero.1).sum::<f64>() / used.max(1) as f64,
        },
        curve,
        by_size,
        components: match &setup.process {
            Process::Components(p) => Some(p.components),
            Process::Study(_) => None,
        },
        notes,
    };
    if let Some(path) = &args.plot {
        // The curve; with sample sizes, power against units beside it (FILE-sizes.svg).
        let mut figures = vec![(path.clone(), plot(&report))];
        if !report.by_size.is_empty() {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            figures.push((path.with_file_name(format!("{stem}-sizes.svg")), sizes_plot(&report)));
        }
        for (file, figure) in figures {
            let svg = endline_report::svg::render(&figure);
            if let Err(e) = endline_output::write_file(&file, svg.as_bytes(), &[args.plan.as_path()]) {
                error!("{}: {e}", file.display());
                return Ok(Outcome::Failure);
            }
        }
    }
    match args.format {
        crate::did::OutFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        crate::did::OutFormat::Table => print(&table(&report))?,
    }
    Ok(Outcome::Success)
}

/// A fit at effect `e`, linear between the fits around it (constant beyond the ends'
/// slope: extrapolated linearly from the last two).
fn interpolate(pts: &[(f64, Fit)], e: f64) -> Fit {
    let k = pts.iter().position(|p| p.0 >= e).unwrap_or(pts.len() - 1).max(1).min(pts.len() - 1);
    let (x0, f0) = pts[k - 1];
    let (x1, f1) = pts[k];
    if (x1 - x0).abs() < 1e-15 {
        return f1;
    }
    let w = (e - x0) / (x1 - x0);
    (f0.0 + w * (f1.0 - f0.0), f0.1 + w * (f1.1 - f0.1))
}

fn plot(r: &PowerReport) -> endline_report::svg::Plot {
    use endline_report::svg::{Plot, Series};
    Plot {
        title: format!("{}: power of the main estimate against the effect", r.outcome),
        x_label: format!("effect ({:?} scale)", r.planted.scale.unwrap_or(endline_simulate::EffectScale::Log))
            .to_lowercase(),
        y_label: "power".into(),
        series: vec![
            Series {
                name: format!("simulated ({} replicates)", r.replicates),
                points: r.curve.iter().map(|c| (c.effect, c.power)).collect(),
                intervals: None,
                line: true,
            },
            Series {
                name: "analytic".into(),
                points: r.curve.iter().map(|c| (c.effect, c.analytic)).collect(),
                intervals: None,
                line: true,
            },
        ],
        h_line: Some(r.target_power),
        v_line: Some(r.planted.size),
    }
}

/// Power at the planted effect against units, one line per households-per-unit value.
fn sizes_plot(r: &PowerReport) -> endline_report::svg::Plot {
    use endline_report::svg::{Plot, Series};
    let mut households: Vec<usize> = r.by_size.iter().map(|b| b.households).collect();
    households.sort_unstable();
    households.dedup();
    let series = households
        .iter()
        .map(|&h| {
            let rows: Vec<&BySize> = r.by_size.iter().filter(|b| b.households == h).collect();
            Series {
                name: format!("{h} households per unit"),
                points: rows.iter().map(|b| (b.units as f64, b.power.estimate)).collect(),
                intervals: Some(
                    rows.iter()
                        .map(|b| (b.power.estimate - 1.96 * b.power.mc_se, b.power.estimate + 1.96 * b.power.mc_se))
                        .collect(),
                ),
                line: true,
            }
        })
        .collect();
    Plot {
        title: format!("{}: power at the planted effect by sample size", r.outcome),
        x_label: "units".into(),
        y_label: "power".into(),
        series,
        h_line: Some(r.target_power),
        v_line: None,
    }
}

fn table(r: &PowerReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Power of Callaway & Sant'Anna's simple ATT for `{}` ({} units × {} households, waves {:?}), α = {}",
        r.outcome, r.units, r.households, r.waves, r.alpha
    );
    let _ = writeln!(out, "{} replicates, seed {}\n", r.replicates, r.seed);
    let _ = writeln!(out, "{:<34} {:>12} {:>12} {:>12}", "", "simulated", "MC s.e.", "analytic");
    let _ = writeln!(
        out,
        "{:<34} {:>12} {:>12} {:>12}",
        format!("power at the planted effect {}", sig(r.planted.size, 3)),
        sig(r.power.estimate, 3),
        sig(r.power.mc_se, 2),
        sig(r.analytic.power, 3)
    );
    let _ = writeln!(
        out,
        "{:<34} {:>12} {:>12} {:>12}",
        format!("MDE at {:.0}% power", r.target_power * 100.0),
        sig(r.mde.estimate, 3),
        sig(r.mde.mc_se, 2),
        sig(r.analytic.mde, 3)
    );
    let _ = writeln!(out, "\n{:>12} {:>10} {:>10}", "effect", "power", "analytic");
    for c in &r.curve {
        let _ = writeln!(out, "{:>12} {:>10} {:>10}", sig(c.effect, 3), sig(c.power, 3), sig(c.analytic, 3));
    }
    if !r.by_size.is_empty() {
        let _ =
            writeln!(out, "\n{:>8} {:>11} {:>10} {:>9} {:>10}", "units", "households", "power", "MC s.e.", "analytic");
        for b in &r.by_size {
            let _ = writeln!(
                out,
                "{:>8} {:>11} {:>10} {:>9} {:>10}",
                b.units,
                b.households,
                sig(b.power.estimate, 3),
                sig(b.power.mc_se, 2),
                sig(b.analytic, 3)
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}
