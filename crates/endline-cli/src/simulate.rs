//! `endline simulate`: synthetic field data that obey a survey, with a planted effect.

use std::path::PathBuf;

use clap::Args;
use endline_output::{Kind, OutDir};
use endline_simulate::{Study, simulate_into};

use crate::Outcome;
use crate::output::{error, print};
use crate::validate::load_survey;

/// Arguments of `endline simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The survey definition (YAML).
    pub survey: PathBuf,
    /// Where to write: one folder per wave with ODK Central-style exports, plus
    /// counties.csv (the programme's roll-out) and truth.json (the planted parameters).
    /// Must be new, empty or an earlier simulation: real exports are never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// The seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of counties.
    #[arg(long, default_value_t = 40)]
    pub counties: usize,
    /// Households per county (interviewed every wave).
    #[arg(long, default_value_t = 25)]
    pub households: usize,
    /// Survey waves (years), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2019,2021,2023,2025")]
    pub waves: Vec<i64>,
    /// Share of counties that get the programme.
    #[arg(long, default_value_t = 0.4)]
    pub treated_share: f64,
    /// Adoption years of programme counties, assigned in turn, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2021,2023")]
    pub adoption: Vec<i64>,
    /// A true effect, in log points from adoption on: QUESTION=EFFECT (repeatable).
    #[arg(long = "effect", value_name = "QUESTION=EFFECT")]
    pub effects: Vec<String>,
    /// Faster trends: corridor counties' extra yearly log growth, QUESTION=RATE.
    #[arg(long = "pretrend", value_name = "QUESTION=RATE")]
    pub pretrends: Vec<String>,
    /// Share of counties on the trade corridor.
    #[arg(long, default_value_t = 0.5)]
    pub corridor_share: f64,
    /// Selection: share of programme counties drawn from corridor counties (default: at random).
    #[arg(long)]
    pub selection: Option<f64>,
    /// Standard deviation of county × wave shocks to the modelled outcomes (log points).
    #[arg(long, default_value_t = 0.0)]
    pub county_shock: f64,
    /// A select_one question every household of a county answers alike (its region).
    #[arg(long)]
    pub region_question: Option<String>,
    /// Common yearly log growth of the modelled outcomes.
    #[arg(long, default_value_t = 0.10)]
    pub growth: f64,
    /// A fixed answer for every household: QUESTION=VALUE (repeatable).
    #[arg(long = "answer", value_name = "QUESTION=VALUE")]
    pub answers: Vec<String>,
    /// The question holding the county code.
    #[arg(long, default_value = "county_id")]
    pub county_question: String,
    /// Allow more than a million households a wave (up to 100 million).
    #[arg(long)]
    pub allow_large: bool,
}

fn pairs<T: std::str::FromStr>(items: &[String], what: &str) -> Result<Vec<(String, T)>, String> {
    items
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| format!("--{what} takes QUESTION=VALUE, not `{s}`"))?;
            let v = v.parse::<T>().map_err(|_| format!("--{what} {s}: `{v}` is not a valid value"))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

pub fn simulate(args: &SimulateArgs, color: bool) -> anyhow::Result<Outcome> {
    let Some(survey) = load_survey(&args.survey, color)? else { return Ok(Outcome::Invalid) };
    let survey = &survey;
    let parsed = (|| -> Result<Study, String> {
        Ok(Study {
            counties: args.counties,
            households_per_county: args.households,
            waves: args.waves.clone(),
            treated_share: args.treated_share,
            adoption_years: args.adoption.clone(),
            effects: pairs(&args.effects, "effect")?,
            pretrends: pairs(&args.pretrends, "pretrend")?,
            corridor_share: args.corridor_share,
            selection: args.selection,
            county_shock: args.county_shock,
            region_question: args.region_question.clone(),
            growth: args.growth,
            answers: pairs(&args.answers, "answer")?,
            county_question: args.county_question.clone(),
            weight_question: survey.item("weight").map(|_| "weight".to_string()),
            date_question: survey.item("interview_date").map(|_| "interview_date".to_string()),
            seed: args.seed,
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
        Ok(counties) => {
            let treated = counties.iter().filter(|c| c.first_treated > 0).count();
            print(&format!(
                "simulated {} counties ({treated} with the programme) x {} households x {} waves into {}\n",
                counties.len(),
                study.households_per_county,
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
