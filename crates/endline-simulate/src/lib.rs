//! Synthetic field data that obey a survey, with a planted programme effect, so that a
//! study runs before its field data exist and every estimator can be checked against a
//! known truth.
//!
//! [`Study`] describes the design: the assignment unit (the question holding its code),
//! how many units and households per unit, the waves, which units get the programme and
//! when, the true effects on named outcomes on their natural scale
//! ([`model::OutcomeKind`]), and confounding: unit [`Attribute`]s that both raise an
//! outcome's trend and make the programme more likely, so that a naive comparison is
//! biased and parallel trends hold only conditional on them.
//!
//! [`simulate`] writes, per wave, ODK Central-style exports (`<survey>.csv` with group
//! paths as `grp-name`, `<survey>-<repeat>.csv` linked by `PARENT_KEY`/`KEY`), plus
//! `units.csv` (the roll-out: the unit question's name as its key column, `first_treated`
//! and the attributes) and `truth.json` (the study and what the planted effects did in
//! the data). Every answer obeys the survey: type, choices, constraint (including
//! `regex()` on keys and codes), skip logic, required answers and roster counts; declared
//! missing codes appear at a stated rate; households persist across waves with their
//! rosters. The same seed gives the same bytes.

mod answers;
pub mod model;
mod pattern;
pub mod replicate;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use endline_output::{Kind, OutDir, OutputError};
use endline_rng::Rng;
use endline_survey::expr::{Value, self_bounds};
use endline_survey::{Item, QuestionType, Survey};
use serde::Serialize;

use crate::answers::{Design, Gen, Interview, Memory, Record, choice_value, holds_alone};
pub use crate::model::{Att, Effect, EffectScale, OutcomeKind, Truth};
use crate::model::{Drivers, Model, TruthSums};
use crate::pattern::{regex_of, sample_regex};
pub use crate::replicate::{Components, NormalProcess, OutcomeProcess, Process, Replicate};

/// A unit characteristic that confounds: units with it are on faster trends, and more
/// likely to get the programme.
#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    /// Its name: a column of `units.csv` (0 or 1).
    pub name: String,
    /// Share of units that have it.
    pub share: f64,
    /// Share of programme units drawn from units with it, in expectation (None: the
    /// programme ignores it).
    pub selection: Option<f64>,
    /// Outcome question → extra yearly trend of units with it, before and after adoption,
    /// programme or not (probability points for a yes/no outcome, log points otherwise).
    pub trends: Vec<(String, f64)>,
}

/// The design of a simulated study.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// The question holding the unit's code.
    pub unit_question: String,
    /// The units' plural, as messages name them (`villages`).
    pub unit_plural: String,
    /// Number of units.
    pub units: usize,
    /// Households interviewed per unit (the same households every wave).
    pub households_per_unit: usize,
    /// The survey waves, as years.
    pub waves: Vec<i64>,
    /// Share of units that get the programme.
    pub treated_share: f64,
    /// The years programme units adopt it, assigned in turn.
    pub adoption_years: Vec<i64>,
    /// True effects: outcome question → effect from adoption on.
    pub effects: Vec<(String, Effect)>,
    /// Outcome question → its baseline: a probability (yes/no), a mean (count) or a
    /// median (amount). Unnamed outcomes get one from their question's bounds.
    pub baselines: Vec<(String, f64)>,
    /// Confounding unit attributes.
    pub attributes: Vec<Attribute>,
    /// Standard deviation of unit × wave shocks to the modelled outcomes: what makes
    /// households of a unit move together, and clustering matter.
    pub unit_shock: f64,
    /// Common yearly log growth of modelled counts and amounts.
    pub growth: f64,
    /// select_one questions every household of a unit answers alike (its region):
    /// units are assigned the choices in turn.
    pub same_within_unit: Vec<String>,
    /// Answers fixed for every household (question → value as written).
    pub answers: Vec<(String, String)>,
    /// Share of answers given one of the question's declared missing codes.
    pub missing_rate: f64,
    /// Share of a household's other answers that change from one wave to the next.
    pub churn: f64,
    /// Chance that a household's size changes by one member between waves.
    pub turnover: f64,
    /// Chance that a household interviewed in one wave is lost for good before the next
    /// (moved away, refused): it is never interviewed again.
    pub attrition: f64,
    /// Added chance of loss, per wave, for households of programme units once the
    /// programme has started there: attrition that differs by treatment.
    pub attrition_programme: f64,
    /// The question holding the survey weight, if any (constant within a unit).
    pub weight_question: Option<String>,
    /// The seed.
    pub seed: u64,
}

impl Default for Study {
    fn default() -> Self {
        Study {
            unit_question: String::new(),
            unit_plural: "units".into(),
            units: 40,
            households_per_unit: 25,
            waves: vec![2019, 2021, 2023, 2025],
            treated_share: 0.4,
            adoption_years: vec![2021, 2023],
            effects: Vec::new(),
            baselines: Vec::new(),
            attributes: Vec::new(),
            unit_shock: 0.0,
            growth: 0.10,
            same_within_unit: Vec::new(),
            answers: Vec::new(),
            missing_rate: 0.02,
            churn: 0.3,
            turnover: 0.15,
            attrition: 0.0,
            attrition_programme: 0.0,
            weight_question: None,
            seed: 1,
        }
    }
}

/// A unit of the simulation.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// Its code, as written in the unit question.
    pub code: String,
    /// The year it adopts the programme (0: never).
    pub first_treated: i64,
    /// Whether it has each of the study's attributes, in their order.
    pub attributes: Vec<bool>,
    /// Its level on the modelled outcomes (standard normal).
    pub level: f64,
}

/// What a simulation made: its units and the truth about each planted outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    /// The units, in code order as generated.
    pub units: Vec<Unit>,
    /// Each modelled outcome's truth, in question order.
    pub truth: Vec<Truth>,
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// The study does not fit the survey.
    #[error("{0}")]
    Study(String),
    /// Writing failed.
    #[error("{0}")]
    Io(String),
    /// The output directory may not be replaced (it holds what endline did not write, or
    /// another process is writing it).
    #[error("{0}")]
    Refused(String),
}

impl From<OutputError> for SimulateError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Io { .. } => SimulateError::Io(e.to_string()),
            _ => SimulateError::Refused(e.to_string()),
        }
    }
}

/// The most households a simulated wave may have (units × households per unit): a
/// documented cap on the work and disk a request can ask for (`simulate --allow-large`
/// lifts it to [`MAX_HOUSEHOLDS_LARGE`]).
pub const MAX_HOUSEHOLDS: usize = 1_000_000;
/// The most households a simulated wave may have at all.
pub const MAX_HOUSEHOLDS_LARGE: usize = 100_000_000;
/// The most waves a simulation may have.
pub const MAX_WAVES: usize = 100;

impl Study {
    /// Why the study's size cannot be simulated, if it cannot (`large`: the request allows
    /// more than [`MAX_HOUSEHOLDS`]).
    pub fn size_problem(&self, large: bool) -> Option<String> {
        let cap = if large { MAX_HOUSEHOLDS_LARGE } else { MAX_HOUSEHOLDS };
        let households = self.units.checked_mul(self.households_per_unit);
        if self.units == 0 || self.households_per_unit == 0 || self.waves.is_empty() {
            Some("a study needs at least one unit, one household per unit and one wave".into())
        } else if households.is_none_or(|h| h > cap) {
            Some(format!(
                "{} units x {} households is more than {cap} households a wave{}",
                self.units,
                self.households_per_unit,
                if large { "" } else { " (give --allow-large to simulate up to 100 million)" }
            ))
        } else if self.waves.len() > MAX_WAVES {
            Some(format!("{} waves is more than {MAX_WAVES}", self.waves.len()))
        } else {
            let odd = self.waves.iter().chain(&self.adoption_years).find(|w| !(1..=9999).contains(*w));
            odd.map(|w| format!("{w} is not a year between 1 and 9999"))
        }
    }
}

/// Simulates the study and writes it under `out`: `<wave>/<survey>.csv`,
/// `<wave>/<survey>-<repeat>.csv`, `units.csv` and `truth.json`. `out` is replaced only
/// if it is new, empty or an earlier simulation ([`OutDir::claim`]), and only once the
/// whole simulation is written.
pub fn simulate(survey: &Survey, study: &Study, out: &Path) -> Result<Simulation, SimulateError> {
    simulate_into(survey, study, OutDir::claim(out, Kind::Simulation, None, &[])?)
}

/// [`simulate`] into an output already claimed (the caller names the run's inputs).
pub fn simulate_into(survey: &Survey, study: &Study, claim: OutDir) -> Result<Simulation, SimulateError> {
    let sim = write_study(survey, study, claim.staging())?;
    claim.commit()?;
    Ok(sim)
}

/// A 64-bit mix of three numbers (SplitMix64's finaliser): independent streams for each
/// household and each unit-wave, so that no draw depends on how many others came before.
fn mix(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ c.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn study_error(m: impl Into<String>) -> SimulateError {
    SimulateError::Study(m.into())
}

/// The item of a question the study names, in the survey's household table unless
/// `anywhere`.
fn question<'s>(survey: &'s Survey, name: &str, what: &str, anywhere: bool) -> Result<&'s Item, SimulateError> {
    let mut top = false;
    survey.visit(&mut |p| {
        if p.item.name() == name && p.table == survey.id() {
            top = true;
        }
    });
    match survey.item(name) {
        Some(i) if top || anywhere => Ok(i),
        Some(_) => Err(study_error(format!("{what} `{name}` is in a repeat; it must be in the household table"))),
        None => Err(study_error(format!("{what} `{name}` is not a question of survey `{}`", survey.id()))),
    }
}

/// The models of the outcomes the study plants effects or trends on.
fn models(survey: &Survey, study: &Study) -> Result<HashMap<String, Model>, SimulateError> {
    let mut names: Vec<&str> = study.effects.iter().map(|(n, _)| n.as_str()).collect();
    for a in &study.attributes {
        names.extend(a.trends.iter().map(|(n, _)| n.as_str()));
    }
    let mut out = HashMap::new();
    for name in names {
        if out.contains_key(name) {
            continue;
        }
        let item = question(survey, name, "the outcome", true)?;
        let kind = OutcomeKind::of(survey, item).ok_or_else(|| {
            study_error(match item.question_type() {
                QuestionType::Calculate => format!(
                    "`{name}` is calculated, so no effect can be planted on it: plant it on the questions it is computed from"
                ),
                t => format!(
                    "`{name}` is a {} question; effects are planted on yes/no (choices 0 and 1), integer and decimal questions",
                    t.name()
                ),
            })
        })?;
        let effect = study.effects.iter().find(|(n, _)| n == name).map(|(_, e)| *e);
        if let Some(e) = effect
            && kind != OutcomeKind::Binary
            && e.scale == Some(EffectScale::Points)
        {
            return Err(study_error(format!("`{name}` is not yes/no: its effect cannot be in probability points")));
        }
        let base = study.baselines.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
        let mut m = Model::new(kind, item, effect, base);
        m.trends = study
            .attributes
            .iter()
            .map(|a| a.trends.iter().find(|(n, _)| n == name).map_or(0.0, |(_, t)| *t))
            .collect();
        out.insert(name.to_string(), m);
    }
    for (name, b) in &study.baselines {
        let Some(m) = out.get(name) else {
            return Err(study_error(format!("a baseline is given for `{name}`, which has no planted effect or trend")));
        };
        let ok = match m.kind {
            OutcomeKind::Binary => (0.0..=1.0).contains(b),
            _ => *b > 0.0 && b.is_finite(),
        };
        if !ok {
            return Err(study_error(format!(
                "the baseline of `{name}` must be {}, not {b}",
                if m.kind == OutcomeKind::Binary { "a probability between 0 and 1" } else { "a positive number" }
            )));
        }
    }
    Ok(out)
}

/// `n` distinct codes that satisfy a question's type and constraint (its `regex()`, its
/// bounds): unit codes, household keys.
fn codes(survey: &Survey, item: &Item, n: usize, what: &str, rng: &mut Rng) -> Result<Vec<Value>, SimulateError> {
    let today = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let too_few = |found: usize| {
        study_error(format!(
            "only {found} distinct values of `{}` satisfy its type and constraint{}, and the study needs {n} {what}",
            item.name(),
            item.constraint().map_or(String::new(), |c| format!(" `{}`", c.text()))
        ))
    };
    let mut out = Vec::with_capacity(n);
    match item.question_type() {
        QuestionType::SelectOne => {
            let list = survey.choices_of(item).map(|l| l.choices().to_vec()).unwrap_or_default();
            out.extend(
                list.iter().map(|c| choice_value(c.value().as_text())).filter(|v| holds_alone(item, v, today)).take(n),
            );
        }
        QuestionType::Integer | QuestionType::Decimal => {
            let (lo, hi) = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
            let start = lo.filter(|l| l.abs() < 1e15).map_or(1, |l| l.ceil() as i64);
            let end = hi.filter(|h| h.abs() < 1e15).map_or(i64::MAX, |h| h.floor() as i64);
            let mut k = start;
            let mut tried = 0usize;
            while out.len() < n && k <= end && tried < n.saturating_mul(100).saturating_add(10_000) {
                let v =
                    if item.question_type() == QuestionType::Integer { Value::Int(k) } else { Value::Dec(k as f64) };
                if holds_alone(item, &v, today) {
                    out.push(v);
                }
                k += 1;
                tried += 1;
            }
        }
        QuestionType::Text => {
            let pattern = regex_of(item);
            let mut seen = HashSet::new();
            let mut tries = 0usize;
            let width = n.to_string().len().max(3);
            while out.len() < n && tries < n.saturating_mul(50).saturating_add(1000) {
                tries += 1;
                let text = match &pattern {
                    Some(p) => match sample_regex(p, rng) {
                        Some(t) => t,
                        None => break,
                    },
                    None => {
                        format!("{}{:0width$}", item.name().chars().next().unwrap_or('u').to_ascii_uppercase(), tries)
                    }
                };
                let v = Value::Text(text.clone());
                if !seen.contains(&text) && holds_alone(item, &v, today) {
                    seen.insert(text);
                    out.push(v);
                }
            }
        }
        t => return Err(study_error(format!("`{}` is a {} question and cannot hold a code", item.name(), t.name()))),
    }
    if out.len() < n {
        return Err(too_few(out.len()));
    }
    Ok(out)
}

/// Each unit's survey weight: 1, 1.5, … 3 in turn, moved above the question's lower
/// bound when it has one, and checked against its constraint.
fn unit_weights(survey: &Survey, question: &str, units: usize) -> Result<Vec<Value>, SimulateError> {
    let Some(item) = survey.item(question) else { return Ok(Vec::new()) };
    let today = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    let lo = item.constraint().and_then(|c| self_bounds(c.ast()).0).filter(|l| l.is_finite() && *l >= 0.0);
    (0..units)
        .map(|j| {
            let step = 1.0 + ((j * 7) % 5) as f64 / 2.0;
            let v = match item.question_type() {
                QuestionType::Integer => Value::Int(lo.map_or(0.0, f64::ceil) as i64 + step.round() as i64),
                _ => Value::Dec(lo.unwrap_or(0.0) + step),
            };
            if holds_alone(item, &v, today) {
                Ok(v)
            } else {
                Err(study_error(format!(
                    "no survey weight of the simple kind the simulation writes satisfies `{question}`'s constraint `{}`",
                    item.constraint().map_or("", |c| c.text())
                )))
            }
        })
        .collect()
}

/// Which units have each attribute, and which get the programme and when.
fn roll_out(study: &Study, rng: &mut Rng) -> Result<(Vec<Vec<bool>>, Vec<i64>), SimulateError> {
    let n = study.units;
    let shuffled = |rng: &mut Rng, mut v: Vec<usize>| {
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i as u64 + 1) as usize);
        }
        v
    };
    let mut attrs = vec![vec![false; study.attributes.len()]; n];
    for (a, attribute) in study.attributes.iter().enumerate() {
        let k = (n as f64 * attribute.share).round() as usize;
        for &j in shuffled(rng, (0..n).collect()).iter().take(k) {
            attrs[j][a] = true;
        }
    }
    // Programme units by weighted sampling without replacement (Efraimidis & Spirakis,
    // 2006): a unit's weight multiplies, for each selective attribute it has, the odds
    // that make the attribute's share among programme units its `selection` in
    // expectation.
    let odds: Vec<f64> = study
        .attributes
        .iter()
        .enumerate()
        .map(|(a, attribute)| {
            let q = attrs.iter().filter(|u| u[a]).count() as f64 / n as f64;
            match attribute.selection {
                None => 1.0,
                Some(s) if q <= 0.0 || q >= 1.0 => {
                    let _ = s;
                    1.0
                }
                Some(s) => (s * (1.0 - q) / (q * (1.0 - s))).clamp(1e-9, 1e9),
            }
        })
        .collect();
    let mut keys: Vec<(f64, usize)> = (0..n)
        .map(|j| {
            let w: f64 = odds.iter().zip(&attrs[j]).filter(|(_, on)| **on).map(|(o, _)| o).product();
            let u = rng.uniform().max(1e-300);
            (u.ln() / w, j)
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let n_treated = (n as f64 * study.treated_share).round() as usize;
    let mut first = vec![0; n];
    if n_treated > 0 && study.adoption_years.is_empty() {
        return Err(study_error("programme units need at least one adoption year"));
    }
    let mut programme: Vec<usize> = keys.iter().take(n_treated).map(|(_, j)| *j).collect();
    programme.sort_unstable();
    for (k, j) in shuffled(rng, programme).into_iter().enumerate() {
        first[j] = study.adoption_years[k % study.adoption_years.len()];
    }
    Ok((attrs, first))
}

/// An open export and its path (for messages).
type OpenCsv = (csv::Writer<BufWriter<File>>, PathBuf);

/// The per-wave export writers, opened as the first row of each table arrives.
struct Writers<'a> {
    out: &'a Path,
    survey: &'a Survey,
    /// Each table's header, made once: the export columns and the tool's metadata.
    headers: HashMap<String, Vec<String>>,
    open: HashMap<(i64, String), OpenCsv>,
}

impl<'a> Writers<'a> {
    fn new(out: &'a Path, survey: &'a Survey) -> Self {
        let headers = export_columns(survey)
            .into_iter()
            .map(|(table, items)| {
                let header: Vec<String> = if table == survey.id() {
                    std::iter::once("SubmissionDate".to_string())
                        .chain(items)
                        .chain(["meta-instanceID".to_string(), "KEY".to_string()])
                        .collect()
                } else {
                    items.into_iter().chain(["PARENT_KEY".to_string(), "KEY".to_string()]).collect()
                };
                (table, header)
            })
            .collect();
        Writers { out, survey, headers, open: HashMap::new() }
    }

    fn row(&mut self, wave: i64, table: &str, cells: &[(String, String)]) -> Result<(), SimulateError> {
        let header = self.headers.get(table).map_or(&[][..], Vec::as_slice);
        let key = (wave, table.to_string());
        if !self.open.contains_key(&key) {
            let dir = self.out.join(wave.to_string());
            std::fs::create_dir_all(&dir)
                .map_err(|e| SimulateError::Io(format!("cannot create {}: {e}", dir.display())))?;
            let name = if table == self.survey.id() {
                format!("{table}.csv")
            } else {
                format!("{}-{table}.csv", self.survey.id())
            };
            let path = dir.join(name);
            let file =
                File::create(&path).map_err(|e| SimulateError::Io(format!("cannot write {}: {e}", path.display())))?;
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            w.write_record(header).map_err(|e| SimulateError::Io(format!("cannot write {}: {e}", path.display())))?;
            self.open.insert(key.clone(), (w, path));
        }
        let (w, path) = self.open.get_mut(&key).ok_or_else(|| SimulateError::Io("lost a writer".into()))?;
        let by: HashMap<&str, &str> = cells.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        w.write_record(header.iter().map(|h| by.get(h.as_str()).copied().unwrap_or("")))
            .map_err(|e| SimulateError::Io(format!("cannot write {}: {e}", path.display())))
    }

    /// A record's repeat rows, nested ones included, each linked to its parent's KEY.
    fn repeats(&mut self, wave: i64, parent: &str, rec: Record) -> Result<(), SimulateError> {
        for (name, rows) in rec.repeats {
            for (k, mut row) in rows.into_iter().enumerate() {
                let key = format!("{parent}/{name}[{}]", k + 1);
                let nested = Record { values: Vec::new(), repeats: std::mem::take(&mut row.repeats) };
                row.values.push(("PARENT_KEY".into(), parent.to_string()));
                row.values.push(("KEY".into(), key.clone()));
                self.row(wave, &name, &row.values)?;
                self.repeats(wave, &key, nested)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), SimulateError> {
        for (_, (mut w, path)) in self.open {
            w.flush().map_err(|e| SimulateError::Io(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }
}

fn write_study(survey: &Survey, study: &Study, out: &Path) -> Result<Simulation, SimulateError> {
    if let Some(problem) = study.size_problem(true) {
        return Err(study_error(problem));
    }
    for (what, share) in [
        ("treated_share", study.treated_share),
        ("missing_rate", study.missing_rate),
        ("attrition", study.attrition),
        ("attrition_programme", study.attrition_programme),
    ]
    .into_iter()
    .chain([("churn", study.churn), ("turnover", study.turnover)])
    .chain(study.attributes.iter().map(|a| ("an attribute's share", a.share)))
    .chain(study.attributes.iter().filter_map(|a| a.selection.map(|s| ("an attribute's selection", s))))
    {
        if !(0.0..=1.0).contains(&share) {
            return Err(study_error(format!("{what} must lie between 0 and 1, not {share}")));
        }
    }
    let unit_item = question(survey, &study.unit_question, "the unit question", false)?;
    if study.unit_question == survey.key() {
        return Err(study_error("the unit question cannot be the survey's key (a household is not a unit)"));
    }
    let mut reserved: HashSet<&str> = HashSet::from([study.unit_question.as_str(), "first_treated"]);
    for a in &study.attributes {
        let ok = a.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && a.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || !reserved.insert(a.name.as_str()) {
            return Err(study_error(format!("`{}` cannot name an attribute: a new identifier is needed", a.name)));
        }
    }
    for (name, _) in &study.answers {
        question(survey, name, "the answered question", true)?;
    }
    for name in &study.same_within_unit {
        let item = question(survey, name, "the question answered alike within a unit", false)?;
        if item.question_type() != QuestionType::SelectOne {
            return Err(study_error(format!(
                "`{name}` must be a select_one question to be answered alike within a unit"
            )));
        }
    }
    if let Some(w) = &study.weight_question {
        question(survey, w, "the weight question", false)?;
    }
    let models = models(survey, study)?;
    let mut rng = Rng::new(study.seed);
    let (attrs, first) = roll_out(study, &mut rng)?;
    let unit_codes = codes(survey, unit_item, study.units, &study.unit_plural, &mut rng)?;
    let key_item = question(survey, survey.key(), "the key question", false)?;
    let n_households = study.units * study.households_per_unit;
    let keys = codes(survey, key_item, n_households, "households", &mut rng)?;
    let units: Vec<Unit> = (0..study.units)
        .map(|j| Unit {
            code: unit_codes[j].as_text(),
            first_treated: first[j],
            attributes: attrs[j].clone(),
            level: rng.normal(),
        })
        .collect();
    let same: Vec<(String, Vec<Value>)> = study
        .same_within_unit
        .iter()
        .map(|q| {
            let list = survey.item(q).and_then(|i| survey.choices_of(i));
            let values = list.map(|l| l.choices().iter().map(|c| choice_value(c.value().as_text())).collect());
            (q.clone(), values.unwrap_or_default())
        })
        .filter(|(_, v): &(String, Vec<Value>)| !v.is_empty())
        .collect();
    let mut count_refs = HashSet::new();
    let mut constraint_refs = HashSet::new();
    let mut ages = HashSet::new();
    let mut traits = HashSet::new();
    survey.visit(&mut |p| {
        if let Some(c) = p.item.count() {
            count_refs.extend(c.references().into_iter().map(str::to_string));
        }
        if let Some(c) = p.item.constraint() {
            constraint_refs.extend(c.references().into_iter().map(str::to_string));
        }
        if Design::is_age(p.item) {
            ages.insert(p.item.name().to_string());
        }
        if Design::is_trait(p.item) {
            traits.insert(p.item.name().to_string());
        }
    });
    let mut protected: HashSet<String> = study.answers.iter().map(|(q, _)| q.clone()).collect();
    protected.extend([survey.key().to_string(), study.unit_question.clone()]);
    protected.extend(study.same_within_unit.iter().cloned());
    protected.extend(study.weight_question.iter().cloned());
    let design = Design {
        survey,
        models,
        protected,
        count_refs,
        constraint_refs,
        ages,
        traits,
        missing_rate: study.missing_rate,
        churn: study.churn,
        turnover: study.turnover,
    };
    let weights = match &study.weight_question {
        Some(q) => unit_weights(survey, q, study.units)?,
        None => Vec::new(),
    };
    let mut writers = Writers::new(out, survey);
    let answers: Vec<(String, Value)> =
        study.answers.iter().map(|(k, v)| (k.clone(), choice_value(v.clone()))).collect();
    let mut truth: HashMap<String, TruthSums> = HashMap::new();
    let t0 = study.waves[0];
    for (j, unit) in units.iter().enumerate() {
        for h in 0..study.households_per_unit {
            let idx = j * study.households_per_unit + h;
            let mut household =
                Gen { design: &design, rng: Rng::new(mix(study.seed, 1, idx as u64)), truth: HashMap::new() };
            let household_level = household.rng.normal();
            let mut fixed: HashMap<String, Value> = answers.iter().cloned().collect();
            fixed.insert(study.unit_question.clone(), unit_codes[j].clone());
            fixed.insert(survey.key().to_string(), keys[idx].clone());
            for (q, values) in &same {
                fixed.insert(q.clone(), values[j % values.len()].clone());
            }
            if let Some(w) = &study.weight_question {
                fixed.insert(w.clone(), weights[j].clone());
            }
            let mut previous: Option<(i64, Memory)> = None;
            for &wave in &study.waves {
                // Lost before this wave: never interviewed again (its own stream of draws,
                // so the households that stay answer as they would without attrition).
                if previous.is_some() {
                    let treated = unit.first_treated > 0 && wave >= unit.first_treated;
                    let rate = study.attrition + if treated { study.attrition_programme } else { 0.0 };
                    if Rng::new(mix(study.seed, 3, (idx as u64) << 20 | (wave as u64 & 0xfffff))).uniform() < rate {
                        break;
                    }
                }
                let mut shock = Rng::new(mix(study.seed, 2, (j as u64) << 20 | (wave as u64 & 0xfffff)));
                let drivers = Drivers {
                    unit: unit.level,
                    household: household_level,
                    years: (wave - t0) as f64,
                    growth: study.growth,
                    attributes: unit.attributes.clone(),
                    shock: study.unit_shock * shock.normal(),
                    post: unit.first_treated > 0 && wave >= unit.first_treated,
                };
                let what = format!("wave {wave}, household {}", keys[idx]);
                let iv = Interview {
                    fixed: &fixed,
                    drivers: &drivers,
                    previous: previous.as_ref().map(|(_, m)| m),
                    gap: previous.as_ref().map_or(0, |(w, _)| wave - w),
                    today: NaiveDate::from_ymd_opt(wave as i32, 7, 31).unwrap_or_default(),
                    what: &what,
                };
                let (mut rec, mem) = household.interview(&iv).map_err(SimulateError::Study)?;
                let instance = format!("uuid:{}-{wave}-{idx:07}", survey.id());
                let mut row = vec![("SubmissionDate".to_string(), format!("{wave}-07-31T12:00:00.000Z"))];
                row.append(&mut rec.values);
                row.push(("meta-instanceID".into(), instance.clone()));
                row.push(("KEY".into(), instance.clone()));
                writers.row(wave, survey.id(), &row)?;
                writers.repeats(wave, &instance, rec)?;
                previous = Some((wave, mem));
            }
            for (q, sums) in household.truth {
                truth.entry(q).or_default().merge(&sums);
            }
        }
    }
    writers.finish()?;
    let mut header = vec![study.unit_question.clone(), "first_treated".to_string()];
    header.extend(study.attributes.iter().map(|a| a.name.clone()));
    let rows: Vec<Vec<String>> = units
        .iter()
        .map(|u| {
            let mut r = vec![u.code.clone(), u.first_treated.to_string()];
            r.extend(u.attributes.iter().map(|a| u8::from(*a).to_string()));
            r
        })
        .collect();
    write_csv(&out.join("units.csv"), &header, &rows)?;
    let mut truths: Vec<Truth> = Vec::new();
    survey.visit(&mut |p| {
        if let Some(m) = design.models.get(p.item.name()) {
            let (n, att) = truth.get(p.item.name()).map(TruthSums::att).unwrap_or_default();
            truths.push(Truth {
                question: p.item.name().to_string(),
                kind: m.kind,
                effect: m.effect,
                scale: m.scale,
                n,
                att,
            });
        }
    });
    let sim = Simulation { units, truth: truths };
    let doc = serde_json::json!({"study": study, "units": sim.units, "outcomes": sim.truth});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| SimulateError::Io(e.to_string()))?;
    std::fs::write(out.join("truth.json"), format!("{text}\n"))
        .map_err(|e| SimulateError::Io(format!("cannot write truth.json: {e}")))?;
    Ok(sim)
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<(), SimulateError> {
    let io = |e: csv::Error| SimulateError::Io(format!("cannot write {}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record(header).map_err(io)?;
    for r in rows {
        w.write_record(r).map_err(io)?;
    }
    w.flush().map_err(|e| SimulateError::Io(format!("cannot write {}: {e}", path.display())))
}

/// The export columns of each table, as ODK Central names them: every stored item,
/// with the groups inside its table as a `grp-` prefix, in questionnaire order.
fn export_columns(survey: &Survey) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    survey.visit(&mut |p| {
        if !p.item.question_type().has_value() {
            return;
        }
        let inner = p.path.iter().rposition(|g| g.question_type() == QuestionType::Repeat).map_or(0, |i| i + 1);
        let prefix: String = p.path[inner..].iter().map(|g| format!("{}-", g.name())).collect();
        out.entry(p.table.to_string()).or_default().push(format!("{prefix}{}", p.item.name()));
    });
    out
}
