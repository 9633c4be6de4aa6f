//! `endline did --honest`: how robust an event study is to violations of parallel trends
//! (Rambachan & Roth 2023), and how much its pre-test could see (Roth 2022).

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use endline_analysis::honest::{self, Options, Restriction, Sensitivity, Target};
use endline_analysis::pretrends::PretrendPower;

use crate::estimate::sig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HonestArg {
    /// Relative magnitudes: post-period changes at most M̄ times the largest pre-period one.
    Rm,
    /// Smoothness: the violation's slope changes by at most M per period.
    Sd,
    /// Both: post-period changes of slope at most M̄ times the largest pre-period one.
    Sdrm,
}

/// The sensitivity flags of `endline did`.
#[derive(Debug, Args, Default)]
pub struct HonestArgs {
    /// Sensitivity analysis of the event study (--method event or cs) to violations of
    /// parallel trends: rm, sd or sdrm.
    #[arg(long, value_enum)]
    pub honest: Option<HonestArg>,
    /// M̄ values for rm and sdrm, comma-separated (default 0.5,1,1.5,2).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub mbar: Vec<f64>,
    /// M values for sd, comma-separated (default: 0 to the standard error of the last
    /// pre-period coefficient, in five steps).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub m: Vec<f64>,
    /// The effect the analysis is about: first (event time 0), average (of the post
    /// periods) or e=K.
    #[arg(long, default_value = "first")]
    pub honest_target: String,
    /// A linear pre-trend (per period) to give the pre-tests' power against.
    #[arg(long, allow_hyphen_values = true)]
    pub pretrend_slope: Option<f64>,
}

impl HonestArgs {
    /// The options, or a message for the user.
    pub fn options(&self) -> Result<Option<Options>, String> {
        let Some(kind) = self.honest else {
            if !self.mbar.is_empty() || !self.m.is_empty() || self.pretrend_slope.is_some() {
                return Err(
                    "--mbar, --m and --pretrend-slope belong to the sensitivity analysis: add --honest rm|sd|sdrm"
                        .into(),
                );
            }
            return Ok(None);
        };
        let restriction = match kind {
            HonestArg::Rm => Restriction::RelativeMagnitudes,
            HonestArg::Sd => Restriction::Smoothness,
            HonestArg::Sdrm => Restriction::SmoothnessRelativeMagnitudes,
        };
        let target = Target::parse(&self.honest_target).ok_or_else(|| {
            format!("--honest-target {}: expected first, average or e=K (K = 0, 1, …)", self.honest_target)
        })?;
        let values = match (restriction.is_relative(), self.mbar.is_empty(), self.m.is_empty()) {
            (true, _, false) => {
                return Err(format!("--m is the smoothness bound of --honest sd; {} takes --mbar", restriction.name()));
            }
            (false, false, _) => return Err("--mbar is for --honest rm and sdrm; smoothness (sd) takes --m".into()),
            (true, _, true) => self.mbar.clone(),
            (false, _, _) => self.m.clone(),
        };
        if let Some(bad) = values.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(format!("--mbar and --m values must be finite and at least 0, not {bad}"));
        }
        let mut opts = Options::new(restriction, target);
        opts.values = values;
        Ok(Some(opts))
    }
}

/// Runs the analysis on an event study given by event time, estimate and covariance,
/// and adds it to `did`'s text and JSON (`honest`, `pretrend_power`).
pub fn add_to(
    opts: &Options,
    slope: Option<f64>,
    event_study: (&[i64], &[f64], &[Vec<f64>]),
    text: &mut String,
    json: &mut serde_json::Value,
) -> endline_analysis::Result<()> {
    let (times, beta, sigma) = event_study;
    let (s, power) = honest::analyse(times, beta, sigma, opts, slope)?;
    text.push_str(&render(&s, &power));
    json["honest"] = serde_json::to_value(&s).unwrap_or_default();
    json["pretrend_power"] = serde_json::to_value(&power).unwrap_or_default();
    Ok(())
}

fn bound(v: Option<f64>, low: bool) -> String {
    v.map_or_else(|| if low { "-inf".into() } else { "+inf".into() }, |x| sig(x, 4))
}

fn render(s: &Sensitivity, p: &PretrendPower) -> String {
    let mut out = String::new();
    let param = if s.restriction == "sd" { "M" } else { "Mbar" };
    let _ = writeln!(
        out,
        "\nSensitivity to violations of parallel trends (Rambachan & Roth 2023): {} ({}), target {}",
        match s.restriction {
            "rm" => "relative magnitudes",
            "sd" => "smoothness",
            _ => "smoothness relative magnitudes",
        },
        s.method,
        s.target
    );
    let _ = writeln!(out, "{:>10} {:>26}", param, format!("{:.0}% robust interval", s.level * 100.0));
    let _ = writeln!(
        out,
        "{:>10} {:>26}",
        "original",
        format!("[{}, {}]", bound(s.original.lb, true), bound(s.original.ub, false))
    );
    for i in &s.intervals {
        let v = i.mbar.or(i.m).unwrap_or(f64::NAN);
        let shown = if i.bounds.empty {
            "empty: the data reject the restriction".to_string()
        } else {
            format!("[{}, {}]", bound(i.bounds.lb, true), bound(i.bounds.ub, false))
        };
        let _ = writeln!(out, "{:>10} {:>26}", sig(v, 4), shown);
    }
    let _ = writeln!(out, "{}", s.conclusion());
    let _ = writeln!(
        out,
        "Pre-test power (Roth 2022): a linear pre-trend of slope {} per period would be detected half the time, {} 80% of the time (any significant lead); the joint Wald test needs {} and {}.",
        sig(p.any_significant.slope_50, 3),
        sig(p.any_significant.slope_80, 3),
        sig(p.joint_wald.slope_50, 3),
        sig(p.joint_wald.slope_80, 3)
    );
    if let Some(a) = p.at_slope {
        let _ = writeln!(
            out,
            "Against a slope of {}: power {} (any significant lead), {} (joint Wald test).",
            sig(a.slope, 4),
            sig(a.any_significant, 3),
            sig(a.joint_wald, 3)
        );
    }
    out
}
