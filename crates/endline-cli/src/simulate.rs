//! `endline simulate`: synthetic field data that obey a survey, with a planted effect.

use std::path::PathBuf;

use clap::Args;
use endline_output::{Kind, OutDir};
use endline_simulate::{Attribute, Effect, Study, simulate_into};

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::load_survey;

/// Arguments of `endline simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The survey definition (YAML).
    pub survey: PathBuf,
    /// Where to write: one folder per wave with ODK Central-style exports, plus
    /// units.csv (the programme's roll-out) and truth.json (the planted parameters).
    /// Must be new, empty or an earlier simulation: real exports are never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// The seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The question holding the assignment unit's code (village_id, school, county_id).
    /// Codes are generated to satisfy its type and constraint; `units.csv` is keyed by it.
    #[arg(long)]
    pub unit_question: String,
    /// The units' plural, as messages name them.
    #[arg(long, default_value = "units")]
    pub unit_plural: String,
    /// Number of units.
    #[arg(long, default_value_t = 40)]
    pub units: usize,
    /// Households per unit (interviewed every wave).
    #[arg(long, default_value_t = 25)]
    pub households: usize,
    /// Survey waves (years), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2019,2021,2023,2025")]
    pub waves: Vec<i64>,
    /// Share of units that get the programme.
    #[arg(long, default_value_t = 0.4)]
    pub treated_share: f64,
    /// Adoption years of programme units, assigned in turn, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2021,2023")]
    pub adoption: Vec<i64>,
    /// A true effect from adoption on: QUESTION=EFFECT (repeatable). EFFECT is a number on
    /// the outcome's natural scale (probability points for a yes/no question, log points
    /// for integers and decimals), or SCALE:NUMBER with SCALE one of points, log, add.
    #[arg(long = "effect", value_name = "QUESTION=EFFECT")]
    pub effects: Vec<String>,
    /// An outcome's baseline: QUESTION=VALUE, a probability (yes/no), a mean (integer) or
    /// a median (decimal).
    #[arg(long = "baseline", value_name = "QUESTION=VALUE")]
    pub baselines: Vec<String>,
    /// A confounding unit attribute: `NAME=SHARE[:SELECTION]`, the share of units that have
    /// it and the share of programme units drawn from them (repeatable).
    #[arg(long = "attribute", value_name = "NAME=SHARE[:SELECTION]")]
    pub attributes: Vec<String>,
    /// An attribute's extra yearly trend on an outcome: NAME:QUESTION=RATE (repeatable).
    #[arg(long = "trend", value_name = "NAME:QUESTION=RATE")]
    pub trends: Vec<String>,
    /// Standard deviation of unit × wave shocks to the modelled outcomes.
    #[arg(long, default_value_t = 0.0)]
    pub unit_shock: f64,
    /// A select_one question every household of a unit answers alike (repeatable).
    #[arg(long = "same-within-unit", value_name = "QUESTION")]
    pub same_within_unit: Vec<String>,
    /// Common yearly log growth of the modelled counts and amounts.
    #[arg(long, default_value_t = 0.10)]
    pub growth: f64,
    /// A fixed answer for every household: QUESTION=VALUE (repeatable).
    #[arg(long = "answer", value_name = "QUESTION=VALUE")]
    pub answers: Vec<String>,
    /// Share of answers given one of their question's declared missing codes.
    #[arg(long, default_value_t = 0.02)]
    pub missing_rate: f64,
    /// Chance, per wave, that a household is lost for good (never interviewed again).
    #[arg(long, default_value_t = 0.0)]
    pub attrition: f64,
    /// Added chance of loss, per wave, in programme units once the programme started
    /// there (attrition that differs by treatment).
    #[arg(long, default_value_t = 0.0)]
    pub attrition_programme: f64,
    /// The question holding the survey weight (constant within a unit).
    #[arg(long)]
    pub weight_question: Option<String>,
    /// Allow more than a million households a wave (up to 100 million).
    #[arg(long)]
    pub allow_large: bool,
}

fn pairs<T>(
    items: &[String],
    what: &str,
    value: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<(String, T)>, String> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| format!("--{what} takes QUESTION=VALUE, not `{s}`"))?;
            let v = value(v).map_err(|e| format!("--{what} {s}: {e}"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

fn number(v: &str) -> Result<f64, String> {
    v.trim().parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("`{v}` is not a number"))
}

/// `--attribute NAME=SHARE[:SELECTION]` with their `--trend NAME:QUESTION=RATE`s.
fn attributes(args: &SimulateArgs) -> Result<Vec<Attribute>, String> {
    let mut out: Vec<Attribute> = pairs(&args.attributes, "attribute", |v| {
        let (share, selection) = match v.split_once(':') {
            Some((s, sel)) => (number(s)?, Some(number(sel)?)),
            None => (number(v)?, None),
        };
        Ok((share, selection))
    })?
    .into_iter()
    .map(|(name, (share, selection))| Attribute { name, share, selection, trends: Vec::new() })
    .collect();
    for (target, rate) in pairs(&args.trends, "trend", number)? {
        let (name, q) =
            target.split_once(':').ok_or_else(|| format!("--trend takes NAME:QUESTION=RATE, not `{target}`"))?;
        let a = out
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| format!("--trend {target}: no --attribute {name}"))?;
        a.trends.push((q.to_string(), rate));
    }
    Ok(out)
}

pub fn simulate(args: &SimulateArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(survey) = load_survey(&args.survey, color)? else { return Ok(Outcome::Invalid) };
    let survey = &survey;
    let parsed = (|| -> Result<Study, String> {
        Ok(Study {
            unit_question: args.unit_question.clone(),
            unit_plural: args.unit_plural.clone(),
            units: args.units,
            households_per_unit: args.households,
            waves: args.waves.clone(),
            treated_share: args.treated_share,
            adoption_years: args.adoption.clone(),
            effects: pairs(&args.effects, "effect", Effect::parse)?,
            baselines: pairs(&args.baselines, "baseline", number)?,
            attributes: attributes(args)?,
            unit_shock: args.unit_shock,
            growth: args.growth,
            same_within_unit: args.same_within_unit.clone(),
            answers: pairs(&args.answers, "answer", |v| Ok(v.to_string()))?,
            missing_rate: args.missing_rate,
            attrition: args.attrition,
            attrition_programme: args.attrition_programme,
            weight_question: args.weight_question.clone(),
            seed: args.seed,
            ..Study::default()
        })
    })();
    let study = match parsed.and_then(|s| s.size_problem(args.allow_large).map_or(Ok(s), Err)) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    let claim = OutDir::claim(&args.out, Kind::Simulation, None, &[args.survey.as_path()])?;
    match simulate_into(survey, &study, claim) {
        Ok(sim) => {
            let treated = sim.units.iter().filter(|c| c.first_treated > 0).count();
            print(&format!(
                "simulated {} {} ({treated} with the programme) x {} households x {} waves into {}\n",
                sim.units.len(),
                study.unit_plural,
                study.households_per_unit,
                study.waves.len(),
                args.out.display()
            ))?;
            Ok(Outcome::Success)
        }
        Err(e @ endline_simulate::SimulateError::Refused(_)) => {
            error!("{e}");
            Ok(Outcome::Failure)
        }
        Err(endline_simulate::SimulateError::Study(e)) => {
            error!("{e}");
            Ok(Outcome::Invalid)
        }
        Err(e) => {
            error!("{e}");
            Ok(Outcome::Failure)
        }
    }
}
