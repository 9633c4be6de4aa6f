//! Synthetic field data that obey a survey, with a planted programme effect, so that the
//! example study runs without field data and every estimator can be checked against a
//! known truth.
//!
//! [`Study`] describes the design: counties, households per county, waves, which counties
//! get the programme and when, the true effect on named outcomes (in log points), and
//! selection on trends. Some counties lie on a trade corridor and their outcomes grow
//! faster (the `pretrends`), with or without the programme; the programme is placed
//! preferentially there (`selection`). Programme counties were therefore already on faster
//! trends: a naive comparison overstates the effect, unconditional parallel trends fail,
//! and parallel trends hold conditional on the corridor (written to `counties.csv`).
//! [`simulate`] writes, per wave, ODK Central-style exports (`<survey>.csv` with group
//! paths as `grp-name`, `<survey>-<repeat>.csv` linked by `PARENT_KEY`/`KEY`), plus
//! `counties.csv` (the programme's roll-out) and `truth.json`. Every answer obeys the
//! survey: types, choices, constraints (resampled until they hold), skip logic, required
//! answers and roster counts. The same seed gives the same bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use endline_output::{Kind, OutDir, OutputError};
use endline_rng::Rng;
use endline_survey::expr::{Context, Value, eval, self_bounds};
use endline_survey::{Item, QuestionType, Required, Survey};
use serde::Serialize;

/// The design of a simulated study.
#[derive(Debug, Clone, Serialize)]
pub struct Study {
    /// Number of counties.
    pub counties: usize,
    /// Households interviewed per county (the same households every wave).
    pub households_per_county: usize,
    /// The survey waves, as years.
    pub waves: Vec<i64>,
    /// Share of counties that get the programme.
    pub treated_share: f64,
    /// The years programme counties adopt it, assigned in turn.
    pub adoption_years: Vec<i64>,
    /// True effects: outcome question → effect in log points from adoption on.
    pub effects: Vec<(String, f64)>,
    /// Outcome question → extra yearly log growth of corridor counties, before and after
    /// adoption, programme or not.
    pub pretrends: Vec<(String, f64)>,
    /// Share of counties on the corridor.
    pub corridor_share: f64,
    /// Share of programme counties drawn from corridor counties (None: drawn at random,
    /// regardless of the corridor).
    pub selection: Option<f64>,
    /// Standard deviation of county × wave shocks to the modelled outcomes (log points):
    /// what makes households of a county move together, and clustering matter.
    pub county_shock: f64,
    /// A select_one question answered the same by every household of a county (its
    /// region): counties are assigned its choices in turn.
    pub region_question: Option<String>,
    /// Common yearly log growth of every modelled outcome.
    pub growth: f64,
    /// Answers fixed for every household (question → value as written).
    pub answers: Vec<(String, String)>,
    /// The question holding the county code.
    pub county_question: String,
    /// The question holding the survey weight, if any.
    pub weight_question: Option<String>,
    /// The question holding the interview date, if any.
    pub date_question: Option<String>,
    /// The seed.
    pub seed: u64,
}

impl Default for Study {
    fn default() -> Self {
        Study {
            counties: 40,
            households_per_county: 25,
            waves: vec![2019, 2021, 2023, 2025],
            treated_share: 0.4,
            adoption_years: vec![2021, 2023],
            effects: Vec::new(),
            pretrends: Vec::new(),
            corridor_share: 0.5,
            selection: None,
            county_shock: 0.0,
            region_question: None,
            growth: 0.10,
            answers: Vec::new(),
            county_question: "county_id".into(),
            weight_question: Some("weight".into()),
            date_question: Some("interview_date".into()),
            seed: 1,
        }
    }
}

/// A county of the simulation.
#[derive(Debug, Clone, Serialize)]
pub struct County {
    /// Its code.
    pub county_id: i64,
    /// The year it adopts the programme (0: never).
    pub first_treated: i64,
    /// Whether it lies on the trade corridor (faster growth).
    pub corridor: bool,
    /// Its region (a choice value of the region question), if the study names one.
    pub region: Option<String>,
    /// Its level (log scale) on the modelled outcomes.
    pub effect: f64,
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

/// Values in scope while generating one household (and its rosters).
struct Scope<'a> {
    values: HashMap<String, Value>,
    parent: Option<&'a Scope<'a>>,
    repeats: HashMap<String, Vec<HashMap<String, Value>>>,
    own: Value,
    today: NaiveDate,
}

impl Context for Scope<'_> {
    fn value(&self, name: &str) -> Value {
        match self.values.get(name) {
            Some(v) => v.clone(),
            None => self.parent.map_or(Value::Null, |p| p.value(name)),
        }
    }
    fn self_value(&self) -> Value {
        self.own.clone()
    }
    fn repeat_values(&self, name: &str) -> Vec<Value> {
        if let Some(rows) = self.repeats.get(name) {
            return rows.iter().map(|_| Value::Null).collect();
        }
        self.repeats.values().flat_map(|rows| rows.iter().filter_map(|r| r.get(name).cloned())).collect()
    }
    fn today(&self) -> Option<NaiveDate> {
        Some(self.today)
    }
    fn now(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        None
    }
}

/// Samples a string matching a simple regular expression: literals, `\d`, character
/// classes with ranges, and the quantifiers `{n}`, `{n,m}`, `?`, `*`, `+`. Anchors are
/// ignored; None for anything else (alternation, groups).
fn sample_regex(pattern: &str, rng: &mut Rng) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut out = String::new();
    while i < chars.len() {
        let atom: Vec<char> = match chars[i] {
            '^' | '$' => {
                i += 1;
                continue;
            }
            '(' | ')' | '|' => return None,
            '\\' => {
                i += 1;
                let c = *chars.get(i)?;
                i += 1;
                if c == 'd' { ('0'..='9').collect() } else { vec![c] }
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let body = &chars[i + 1..end];
                let mut set = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        set.extend(body[k]..=body[k + 2]);
                        k += 3;
                    } else {
                        set.push(body[k]);
                        k += 1;
                    }
                }
                i = end + 1;
                set
            }
            '.' => {
                i += 1;
                ('a'..='z').collect()
            }
            c => {
                i += 1;
                vec![c]
            }
        };
        let (lo, hi) = match chars.get(i) {
            Some('{') => {
                let end = chars[i..].iter().position(|c| *c == '}')? + i;
                let body: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                match body.split_once(',') {
                    Some((a, b)) => {
                        (a.trim().parse().ok()?, b.trim().parse().unwrap_or(a.trim().parse::<usize>().ok()? + 3))
                    }
                    None => {
                        let n = body.trim().parse().ok()?;
                        (n, n)
                    }
                }
            }
            Some('?') => {
                i += 1;
                (0, 1)
            }
            Some('*') => {
                i += 1;
                (0, 3)
            }
            Some('+') => {
                i += 1;
                (1, 3)
            }
            _ => (1, 1),
        };
        if atom.is_empty() {
            return None;
        }
        // A reversed range ({5,2}) repeats the lower bound rather than underflowing.
        let n = lo + rng.below(hi.saturating_sub(lo) as u64 + 1) as usize;
        for _ in 0..n {
            out.push(atom[rng.below(atom.len() as u64) as usize]);
        }
    }
    Some(out)
}

fn regex_of(item: &Item) -> Option<String> {
    let c = item.constraint()?;
    let mut found = None;
    c.ast().walk(&mut |e| {
        if let endline_survey::expr::ExprKind::Call { name, args, .. } = &e.kind
            && name == "regex"
            && let Some(endline_survey::expr::ExprKind::Str(p)) = args.get(1).map(|a| &a.kind)
        {
            found = Some(p.clone());
        }
    });
    found
}

/// The generator of one household's answers.
struct Gen<'a> {
    survey: &'a Survey,
    rng: Rng,
    outcomes: HashMap<&'a str, (f64, f64)>,
    count_items: Vec<String>,
}

/// Answers as written in an export: (column, value) in questionnaire order.
type Answers = Vec<(String, String)>;

/// One household's generated record, in survey order.
struct Record {
    values: Answers,
    repeats: Vec<(String, Vec<Answers>)>,
}

impl Gen<'_> {
    fn sample(&mut self, item: &Item, scope: &Scope<'_>) -> Value {
        let (lo, hi) = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
        let rng = &mut self.rng;
        match item.question_type() {
            QuestionType::Integer => {
                let is_count = self.count_items.iter().any(|c| c == item.name());
                let lo_i = lo.map_or(0, |v| v.ceil() as i64);
                let span = if is_count { 5 } else { 80 };
                let hi_i = hi.map_or(lo_i + span, |v| (v.floor() as i64).min(lo_i + span));
                Value::Int(lo_i + rng.below((hi_i - lo_i).max(0) as u64 + 1) as i64)
            }
            QuestionType::Decimal => {
                let base = lo.unwrap_or(0.0);
                // Within the bounds, on a scale that reads like an answer (a distance, a
                // sum of money): at most a hundredth of a wide range, at least 50.
                let width = hi.map_or(50.0, |h| ((h - base) / 100.0).max(50.0).min(h - base));
                let top = base + width;
                Value::Dec(((base + rng.uniform() * (top - base)) * 100.0).round() / 100.0)
            }
            QuestionType::Text => match regex_of(item).and_then(|p| sample_regex(&p, rng)) {
                Some(s) => Value::Text(s),
                None => Value::Text(format!("{}-{}", item.name(), rng.below(1000))),
            },
            QuestionType::SelectOne | QuestionType::SelectMultiple => {
                let Some(list) = self.survey.choices_of(item) else { return Value::Null };
                let values: Vec<String> = list.choices().iter().map(|c| c.value().as_text()).collect();
                if item.question_type() == QuestionType::SelectOne {
                    let v = values[rng.below(values.len() as u64) as usize].clone();
                    v.parse::<i64>().map_or(Value::Text(v), Value::Int)
                } else {
                    Value::Multi(values.into_iter().filter(|_| rng.uniform() < 0.35).collect())
                }
            }
            QuestionType::Date => Value::Date(scope.today - chrono::TimeDelta::days(rng.below(60) as i64)),
            QuestionType::DateTime => Value::Null,
            QuestionType::Geopoint => {
                let round = |v: f64, d: f64| (v * d).round() / d;
                Value::Geo([
                    round(28.0 + rng.uniform() * 12.0, 1e6),
                    round(80.0 + rng.uniform() * 20.0, 1e6),
                    round(1000.0 + rng.uniform() * 3000.0, 10.0),
                    5.0,
                ])
            }
            _ => Value::Null,
        }
    }

    /// Generates the items of one table (and nested repeats), in interview order.
    fn items(
        &mut self,
        items: &[Item],
        scope: &mut Scope<'_>,
        out: &mut Record,
        prefix: &str,
        fixed: &HashMap<String, Value>,
    ) {
        for item in items {
            if let Some(r) = item.relevant()
                && !eval(r.ast(), &*scope).truthy()
            {
                continue;
            }
            match item.question_type() {
                QuestionType::Note => continue,
                QuestionType::Group => {
                    let p = format!("{prefix}{}-", item.name());
                    self.items(item.children(), scope, out, &p, fixed);
                    continue;
                }
                QuestionType::Repeat => {
                    let n =
                        item.count().and_then(|c| eval(c.ast(), &*scope).as_number()).unwrap_or(1.0).max(0.0) as usize;
                    let mut rows = Vec::new();
                    let mut typed_rows = Vec::new();
                    for _ in 0..n {
                        let child_values = {
                            let parent: &Scope<'_> = scope;
                            let mut child = Scope {
                                values: HashMap::new(),
                                parent: Some(parent),
                                repeats: HashMap::new(),
                                own: Value::Null,
                                today: parent.today,
                            };
                            let mut rec = Record { values: Vec::new(), repeats: Vec::new() };
                            self.items(item.children(), &mut child, &mut rec, "", fixed);
                            (rec.values, child.values)
                        };
                        rows.push(child_values.0);
                        typed_rows.push(child_values.1);
                    }
                    scope.repeats.insert(item.name().to_string(), typed_rows);
                    out.repeats.push((item.name().to_string(), rows));
                    continue;
                }
                _ => {}
            }
            let value = if item.question_type() == QuestionType::Calculate {
                item.calculation().map_or(Value::Null, |c| eval(c.ast(), &*scope))
            } else if let Some(v) = fixed.get(item.name()) {
                v.clone()
            } else {
                let mut v = self.sample(item, scope);
                for _ in 0..50 {
                    let ok = item.constraint().is_none_or(|c| {
                        scope.own = v.clone();
                        v.is_null() || eval(c.ast(), &*scope).truthy()
                    });
                    if ok {
                        break;
                    }
                    v = self.sample(item, scope);
                }
                v
            };
            let required = match item.required() {
                Required::No => false,
                Required::Yes => true,
                Required::When(e) => eval(e.ast(), &*scope).truthy(),
            };
            if value.is_null() && !required {
                continue;
            }
            out.values.push((format!("{prefix}{}", item.name()), value.as_text()));
            scope.values.insert(item.name().to_string(), value);
        }
    }
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

/// A CSV table with the given leading, item and trailing columns.
fn tabulate(records: &[Vec<(String, String)>], columns: &[String]) -> (Vec<String>, Vec<Vec<String>>) {
    let header: Vec<String> = columns.to_vec();
    let rows = records
        .iter()
        .map(|r| {
            header.iter().map(|h| r.iter().find(|(k, _)| k == h).map(|(_, v)| v.clone()).unwrap_or_default()).collect()
        })
        .collect();
    (header, rows)
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
        let households = self.counties.checked_mul(self.households_per_county);
        if self.counties == 0 || self.households_per_county == 0 || self.waves.is_empty() {
            Some("a study needs at least one unit, one household per unit and one wave".into())
        } else if households.is_none_or(|h| h > cap) {
            Some(format!(
                "{} units x {} households is more than {cap} households a wave{}",
                self.counties,
                self.households_per_county,
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
/// `<wave>/<survey>-<repeat>.csv`, `counties.csv` and `truth.json`. Returns the counties.
/// `out` is replaced only if it is new, empty or an earlier simulation
/// ([`OutDir::claim`]), and only once the whole simulation is written.
pub fn simulate(survey: &Survey, study: &Study, out: &Path) -> Result<Vec<County>, SimulateError> {
    simulate_into(survey, study, OutDir::claim(out, Kind::Simulation, None, &[])?)
}

/// [`simulate`] into an output already claimed (the caller names the run's inputs).
pub fn simulate_into(survey: &Survey, study: &Study, claim: OutDir) -> Result<Vec<County>, SimulateError> {
    let counties = write_study(survey, study, claim.staging())?;
    claim.commit()?;
    Ok(counties)
}

fn write_study(survey: &Survey, study: &Study, out: &Path) -> Result<Vec<County>, SimulateError> {
    if let Some(problem) = study.size_problem(true) {
        return Err(SimulateError::Study(problem));
    }
    let named =
        study.effects.iter().chain(&study.pretrends).map(|(n, _)| n).chain(study.answers.iter().map(|(n, _)| n));
    for name in named {
        if survey.item(name).is_none() {
            return Err(SimulateError::Study(format!("`{name}` is not a question of survey `{}`", survey.id())));
        }
    }
    if survey.item(&study.county_question).is_none() {
        return Err(SimulateError::Study(format!(
            "the county question `{}` is not in the survey",
            study.county_question
        )));
    }
    for (what, share) in [("treated_share", study.treated_share), ("corridor_share", study.corridor_share)]
        .into_iter()
        .chain(study.selection.map(|s| ("selection", s)))
    {
        if !(0.0..=1.0).contains(&share) {
            return Err(SimulateError::Study(format!("{what} must lie between 0 and 1, not {share}")));
        }
    }
    let regions: Vec<String> = match &study.region_question {
        None => Vec::new(),
        Some(q) => {
            let item = survey.item(q).filter(|i| i.question_type() == QuestionType::SelectOne);
            let list = item.and_then(|i| survey.choices_of(i)).ok_or_else(|| {
                SimulateError::Study(format!("the region question `{q}` is not a select_one question of the survey"))
            })?;
            list.choices().iter().map(|c| c.value().as_text()).collect()
        }
    };
    let mut rng = Rng::new(study.seed);
    let n = study.counties;
    let shuffled = |rng: &mut Rng, mut v: Vec<usize>| {
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i as u64 + 1) as usize);
        }
        v
    };
    // Corridor counties first, drawn at random; then the programme counties, a `selection`
    // share of them from the corridor (as far as there are enough), each adopting in one of
    // the adoption years in turn.
    let n_corridor = (n as f64 * study.corridor_share).round() as usize;
    let order = shuffled(&mut rng, (0..n).collect());
    let corridor: Vec<bool> = {
        let mut c = vec![false; n];
        for &i in order.iter().take(n_corridor) {
            c[i] = true;
        }
        c
    };
    let n_treated = (n as f64 * study.treated_share).round() as usize;
    let programme: Vec<usize> = match study.selection {
        None => shuffled(&mut rng, (0..n).collect()).into_iter().take(n_treated).collect(),
        Some(s) => {
            let on = shuffled(&mut rng, (0..n).filter(|&i| corridor[i]).collect());
            let off = shuffled(&mut rng, (0..n).filter(|&i| !corridor[i]).collect());
            let want_on =
                ((n_treated as f64 * s).round() as usize).min(on.len()).max(n_treated.saturating_sub(off.len()));
            let mut p: Vec<usize> =
                on.into_iter().take(want_on).chain(off.into_iter().take(n_treated - want_on)).collect();
            p.sort_unstable();
            shuffled(&mut rng, p)
        }
    };
    let mut counties: Vec<County> = (0..n)
        .map(|c| County {
            county_id: c as i64 + 1,
            first_treated: 0,
            corridor: corridor[c],
            region: (!regions.is_empty()).then(|| regions[c % regions.len()].clone()),
            effect: 0.3 * rng.normal(),
        })
        .collect();
    for (k, &c) in programme.iter().enumerate() {
        counties[c].first_treated =
            study.adoption_years.get(k % study.adoption_years.len().max(1)).copied().unwrap_or(0);
    }
    let mut count_items = Vec::new();
    survey.visit(&mut |p| {
        if let Some(c) = p.item.count() {
            count_items.extend(c.references().into_iter().map(str::to_string));
        }
    });
    let outcomes: HashMap<&str, (f64, f64)> = study
        .effects
        .iter()
        .map(|(n, e)| (n.as_str(), (*e, study.pretrends.iter().find(|(p, _)| p == n).map_or(0.0, |p| p.1))))
        .chain(
            study
                .pretrends
                .iter()
                .filter(|(n, _)| !study.effects.iter().any(|(e, _)| e == n))
                .map(|(n, p)| (n.as_str(), (0.0, *p))),
        )
        .collect();
    let hh_effects: Vec<f64> = (0..study.counties * study.households_per_county).map(|_| 0.4 * rng.normal()).collect();
    let mut generator = Gen { survey, rng, outcomes, count_items };
    let t0 = study.waves[0];
    let columns = export_columns(survey);
    let key_item =
        survey.item(survey.key()).ok_or_else(|| SimulateError::Study("the key question is missing".into()))?;
    let key_regex = regex_of(key_item);
    // County × wave shocks, drawn up front so that they do not depend on how many answers
    // a household's interview draws.
    let mut shock_rng = Rng::new(study.seed ^ 0x5eed_c0de);
    let shocks: Vec<f64> = (0..n * study.waves.len()).map(|_| study.county_shock * shock_rng.normal()).collect();
    for (w, &wave) in study.waves.iter().enumerate() {
        let dir: PathBuf = out.join(wave.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| SimulateError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let mut top: Vec<Vec<(String, String)>> = Vec::new();
        let mut repeat_rows: HashMap<String, Vec<Vec<(String, String)>>> = HashMap::new();
        let mut repeat_order: Vec<String> = Vec::new();
        let today = NaiveDate::from_ymd_opt(wave as i32, 7, 31).unwrap_or_default();
        for (c, county) in counties.iter().enumerate() {
            for h in 0..study.households_per_county {
                let idx = c * study.households_per_county + h;
                // Fixed answers, identifiers and the modelled outcomes.
                let mut fixed: HashMap<String, Value> = study
                    .answers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.parse::<i64>().map_or(Value::Text(v.clone()), Value::Int)))
                    .collect();
                fixed.insert(study.county_question.clone(), Value::Int(county.county_id));
                if let (Some(q), Some(r)) = (&study.region_question, &county.region) {
                    fixed.insert(q.clone(), r.parse::<i64>().map_or(Value::Text(r.clone()), Value::Int));
                }
                let key = match &key_regex {
                    Some(p) if p.contains("[0-9]{") => {
                        let digits: usize = p
                            .split("[0-9]{")
                            .nth(1)
                            .and_then(|r| r.split('}').next())
                            .and_then(|d| d.parse().ok())
                            .unwrap_or(7);
                        let prefix: String = p.split('[').next().unwrap_or("").trim_start_matches('^').to_string();
                        format!("{prefix}{:0digits$}", idx + 1)
                    }
                    _ => format!("H{:07}", idx + 1),
                };
                fixed.insert(survey.key().to_string(), Value::Text(key.clone()));
                if let Some(w) = &study.weight_question {
                    fixed.insert(w.clone(), Value::Dec(1.0 + ((county.county_id * 7) % 5) as f64 / 2.0));
                }
                if let Some(d) = &study.date_question {
                    fixed.insert(d.clone(), Value::Text(format!("{wave}-06-{:02}", 1 + (idx % 28))));
                }
                let years = (wave - t0) as f64;
                let post = county.first_treated > 0 && wave >= county.first_treated;
                let outcome_names: Vec<(String, (f64, f64))> =
                    generator.outcomes.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                let mut names_sorted = outcome_names;
                names_sorted.sort_by(|a, b| a.0.cmp(&b.0));
                for (name, (effect, pretrend)) in names_sorted {
                    let log_y = (10_000f64).ln()
                        + county.effect
                        + hh_effects[idx]
                        + (study.growth + if county.corridor { pretrend } else { 0.0 }) * years
                        + shocks[c * study.waves.len() + w]
                        + if post { effect } else { 0.0 }
                        + 0.1 * generator.rng.normal();
                    let v = (log_y.exp() * 100.0).round() / 100.0;
                    let is_int = survey.item(&name).is_some_and(|i| i.question_type() == QuestionType::Integer);
                    fixed.insert(name, if is_int { Value::Int(v.round() as i64) } else { Value::Dec(v) });
                }
                let mut scope =
                    Scope { values: HashMap::new(), parent: None, repeats: HashMap::new(), own: Value::Null, today };
                let mut rec = Record { values: Vec::new(), repeats: Vec::new() };
                generator.items(survey.items(), &mut scope, &mut rec, "", &fixed);
                let instance = format!("uuid:{}-{wave}-{idx:07}", survey.id());
                let mut row = vec![("SubmissionDate".to_string(), format!("{wave}-07-31T12:00:00.000Z"))];
                row.extend(rec.values);
                row.push(("meta-instanceID".into(), instance.clone()));
                row.push(("KEY".into(), instance.clone()));
                top.push(row);
                for (name, rows) in rec.repeats {
                    if !repeat_order.contains(&name) {
                        repeat_order.push(name.clone());
                    }
                    for (k, mut r) in rows.into_iter().enumerate() {
                        r.push(("PARENT_KEY".into(), instance.clone()));
                        r.push(("KEY".into(), format!("{instance}/{name}[{}]", k + 1)));
                        repeat_rows.entry(name.clone()).or_default().push(r);
                    }
                }
            }
        }
        let mut top_columns = vec!["SubmissionDate".to_string()];
        top_columns.extend(columns.get(survey.id()).cloned().unwrap_or_default());
        top_columns.extend(["meta-instanceID".to_string(), "KEY".to_string()]);
        let (header, rows) = tabulate(&top, &top_columns);
        write_csv(&dir.join(format!("{}.csv", survey.id())), &header, &rows)?;
        for name in &repeat_order {
            let mut repeat_columns = columns.get(name).cloned().unwrap_or_default();
            repeat_columns.extend(["PARENT_KEY".to_string(), "KEY".to_string()]);
            let (header, rows) = tabulate(repeat_rows.get(name).map_or(&[][..], Vec::as_slice), &repeat_columns);
            write_csv(&dir.join(format!("{}-{name}.csv", survey.id())), &header, &rows)?;
        }
    }
    let rows: Vec<Vec<String>> = counties
        .iter()
        .map(|c| vec![c.county_id.to_string(), c.first_treated.to_string(), u8::from(c.corridor).to_string()])
        .collect();
    let header = ["county_id", "first_treated", "corridor"].map(String::from);
    write_csv(&out.join("counties.csv"), &header, &rows)?;
    let truth = serde_json::json!({"study": study, "counties": counties});
    std::fs::write(out.join("truth.json"), format!("{}\n", serde_json::to_string_pretty(&truth).unwrap_or_default()))
        .map_err(|e| SimulateError::Io(e.to_string()))?;
    Ok(counties)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_samples_match_and_odd_patterns_do_not_panic() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let s = sample_regex("HH[0-9]{7}", &mut rng).unwrap_or_default();
            assert!(s.len() == 9 && s.starts_with("HH") && s[2..].chars().all(|c| c.is_ascii_digit()), "{s}");
            let p = sample_regex("^1[3-9]\\d{9}$", &mut rng).unwrap_or_default();
            assert_eq!(p.len(), 11, "{p}");
        }
        for odd in ["a{5,2}", "[", "x{", "(a|b)", "[]", "a{,}", "\\"] {
            let _ = sample_regex(odd, &mut rng);
        }
    }
}
