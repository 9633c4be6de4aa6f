//! One household's interview in one wave, question by question, as an enumerator would
//! record it: skip logic followed, every answer of its question's type and choices and
//! satisfying its constraint, required questions answered, rosters as long as their count
//! says, and declared missing codes at the study's rate. Answers carry over from the
//! household's previous interview: members keep their sex and relation and grow older,
//! the roster gains or loses a member now and then, and other answers change at a rate.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use endline_rng::Rng;
use endline_survey::expr::{Context, Value, eval, self_bounds};
use endline_survey::{Item, QuestionType, Required, Survey};

use crate::model::{Drivers, Model, TruthSums};
use crate::pattern::{regex_of, sample_regex};

/// What a household answered in a wave: its answers and its rosters' rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    values: HashMap<String, Value>,
    repeats: HashMap<String, Vec<Memory>>,
}

/// Answers as written in an export: (column, value) in questionnaire order, and the rows
/// of each repeat met (nested repeats within their rows).
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub values: Vec<(String, String)>,
    pub repeats: Vec<(String, Vec<Record>)>,
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

/// What every household's interview shares: the survey and the study's rules.
pub(crate) struct Design<'s> {
    pub survey: &'s Survey,
    /// The modelled outcomes, by question.
    pub models: HashMap<String, Model>,
    /// Questions never given a missing code nor changed between waves on their own: the
    /// key, the unit, fixed answers, weights.
    pub protected: HashSet<String>,
    /// Questions a repeat's count refers to (a household's size).
    pub count_refs: HashSet<String>,
    /// Questions another question's constraint refers to: never given a missing code,
    /// which would leave the other with no answer that holds (as a form would refuse).
    pub constraint_refs: HashSet<String>,
    /// Ages: integer questions that grow by the years between waves.
    pub ages: HashSet<String>,
    /// A person's traits, kept from wave to wave: sex, relation to the head, and names
    /// and other personal text.
    pub traits: HashSet<String>,
    /// Share of answers given a declared missing code.
    pub missing_rate: f64,
    /// Share of a household's other answers that change from one wave to the next.
    pub churn: f64,
    /// Chance that a household's size changes by one between waves.
    pub turnover: f64,
}

/// The most rows one repeat may have in one interview.
const MAX_ROWS: usize = 10_000;

impl Design<'_> {
    /// Whether an integer question is an age (it grows between waves): named `age`,
    /// `*_age` or `age_*`.
    pub(crate) fn is_age(item: &Item) -> bool {
        let n = item.name();
        item.question_type() == QuestionType::Integer && (n == "age" || n.ends_with("_age") || n.starts_with("age_"))
    }

    /// Whether a question is a trait a person keeps (it never churns between waves):
    /// sex or gender, relation to the head, or personal text such as a name.
    pub(crate) fn is_trait(item: &Item) -> bool {
        let n = item.name();
        let named = |w: &str| n == w || n.ends_with(&format!("_{w}")) || n.starts_with(&format!("{w}_"));
        named("sex")
            || named("gender")
            || named("relation")
            || named("relationship")
            || (item.is_pii() && item.question_type() == QuestionType::Text)
    }
}

/// One household's interview in one wave.
pub(crate) struct Interview<'a> {
    /// Answers fixed for this household (its key, unit, weight and the study's answers).
    pub fixed: &'a HashMap<String, Value>,
    /// What drives its modelled outcomes.
    pub drivers: &'a Drivers,
    /// Its previous interview, and the years since.
    pub previous: Option<&'a Memory>,
    pub gap: i64,
    /// The day `today()` is.
    pub today: NaiveDate,
    /// Where in the export it is, for messages.
    pub what: &'a str,
}

/// The generator: a household's random stream and the truth it accumulates.
pub(crate) struct Gen<'d, 's> {
    pub design: &'d Design<'s>,
    pub rng: Rng,
    pub truth: HashMap<String, TruthSums>,
}

impl Gen<'_, '_> {
    /// The household's answers in this wave, and what it will remember of them.
    pub(crate) fn interview(&mut self, iv: &Interview<'_>) -> Result<(Record, Memory), String> {
        let mut scope =
            Scope { values: HashMap::new(), parent: None, repeats: HashMap::new(), own: Value::Null, today: iv.today };
        let mut rec = Record::default();
        let mut mem = Memory::default();
        self.items(self.design.survey.items(), &mut scope, &mut rec, "", iv.previous, &mut mem, iv)?;
        Ok((rec, mem))
    }

    #[allow(clippy::too_many_arguments)]
    fn items(
        &mut self,
        items: &[Item],
        scope: &mut Scope<'_>,
        out: &mut Record,
        prefix: &str,
        previous: Option<&Memory>,
        mem: &mut Memory,
        iv: &Interview<'_>,
    ) -> Result<(), String> {
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
                    self.items(item.children(), scope, out, &p, previous, mem, iv)?;
                    continue;
                }
                QuestionType::Repeat => {
                    let before = previous.and_then(|p| p.repeats.get(item.name()));
                    let n = match item.count() {
                        Some(c) => eval(c.ast(), &*scope).as_number().unwrap_or(0.0).max(0.0),
                        None => before.map_or(1.0 + self.rng.below(3) as f64, |b| b.len() as f64),
                    };
                    if n > MAX_ROWS as f64 {
                        return Err(format!(
                            "{}: the repeat `{}` would have {n} rows, more than {MAX_ROWS}",
                            iv.what,
                            item.name()
                        ));
                    }
                    let mut rows = Vec::new();
                    let mut typed_rows = Vec::new();
                    let mut remembered = Vec::new();
                    for k in 0..n as usize {
                        let parent: &Scope<'_> = scope;
                        let mut child = Scope {
                            values: HashMap::new(),
                            parent: Some(parent),
                            repeats: HashMap::new(),
                            own: Value::Null,
                            today: parent.today,
                        };
                        let mut rec = Record::default();
                        let mut row_mem = Memory::default();
                        let row_before = before.and_then(|b| b.get(k));
                        self.items(item.children(), &mut child, &mut rec, "", row_before, &mut row_mem, iv)?;
                        rows.push(rec);
                        typed_rows.push(child.values);
                        remembered.push(row_mem);
                    }
                    scope.repeats.insert(item.name().to_string(), typed_rows);
                    out.repeats.push((item.name().to_string(), rows));
                    mem.repeats.insert(item.name().to_string(), remembered);
                    continue;
                }
                _ => {}
            }
            let (value, written) = if item.question_type() == QuestionType::Calculate {
                let v = item.calculation().map_or(Value::Null, |c| eval(c.ast(), &*scope));
                (v.clone(), v)
            } else {
                self.answer(item, scope, previous, iv)?
            };
            if written.is_null() {
                let required = match item.required() {
                    Required::No => false,
                    Required::Yes => true,
                    Required::When(e) => eval(e.ast(), &*scope).truthy(),
                };
                if required {
                    return Err(format!(
                        "{}: no answer to the required question `{}` satisfies its constraint `{}`",
                        iv.what,
                        item.name(),
                        item.constraint().map_or("", |c| c.text())
                    ));
                }
                continue;
            }
            out.values.push((format!("{prefix}{}", item.name()), written.as_text()));
            mem.values.insert(item.name().to_string(), value.clone());
            scope.values.insert(item.name().to_string(), value);
        }
        Ok(())
    }

    /// Whether an answer carries over from the previous wave: with chance 1 − churn, and
    /// always for a person's trait. A trait that would have changed still draws the new
    /// answer and discards it, so that every other answer keeps its random stream (the
    /// same seed simulates the same study as before traits were kept).
    fn keeps(&mut self, item: &Item, scope: &mut Scope<'_>, iv: &Interview<'_>) -> bool {
        let keep = self.rng.uniform() >= self.design.churn;
        if !keep && self.design.traits.contains(item.name()) {
            let _ = self.solve(item, scope, iv);
            return true;
        }
        keep
    }

    /// One question's answer: (its value for the expressions that follow, what is
    /// written). They differ for a missing code, which is written but has no value.
    fn answer(
        &mut self,
        item: &Item,
        scope: &mut Scope<'_>,
        previous: Option<&Memory>,
        iv: &Interview<'_>,
    ) -> Result<(Value, Value), String> {
        let name = item.name();
        let d = self.design;
        if let Some(v) = iv.fixed.get(name) {
            if !self.satisfies(item, v, scope) {
                return Err(format!(
                    "{}: the answer `{v}` given to `{name}` breaks its constraint `{}`",
                    iv.what,
                    item.constraint().map_or("", |c| c.text())
                ));
            }
            return Ok((v.clone(), v.clone()));
        }
        let mut modelled = None;
        let before = previous.and_then(|p| p.values.get(name)).filter(|v| !v.is_null());
        let value = if let Some(m) = d.models.get(name) {
            let (u, e) = (self.rng.uniform(), self.rng.normal());
            let (y0, y1) = m.draw(iv.drivers, u, e);
            let v = number_value(d.survey, item, if iv.drivers.post { y1 } else { y0 });
            if self.satisfies(item, &v, scope) {
                modelled = iv.drivers.post.then_some((y0, y1));
                v
            } else {
                self.solve(item, scope, iv)
            }
        } else if let Some(b) = before
            && item.question_type().has_value()
            && !matches!(item.question_type(), QuestionType::Date | QuestionType::DateTime)
            && (d.count_refs.contains(name) || d.ages.contains(name) || self.keeps(item, scope, iv))
        {
            // An age grows by the years since; a household's size moves by one member
            // now and then (the other way if one way breaks the constraint); any other
            // answer stays as it was.
            let shifted = |k: i64| b.as_number().map_or(Value::Null, |a| Value::Int(a as i64 + k));
            let candidates = if d.ages.contains(name) {
                vec![shifted(iv.gap)]
            } else if d.count_refs.contains(name) && self.rng.uniform() < d.turnover {
                let step = if self.rng.uniform() < 0.5 { -1 } else { 1 };
                vec![shifted(step), shifted(-step), b.clone()]
            } else {
                vec![b.clone()]
            };
            let counted = d.count_refs.contains(name);
            let negative = |c: &Value| c.as_number().is_some_and(|n| n < 0.0);
            let usable = |c: &Value| !(c.is_null() || counted && negative(c));
            match candidates.into_iter().find(|c| usable(c) && self.satisfies(item, c, scope)) {
                Some(c) => c,
                None => self.solve(item, scope, iv),
            }
        } else {
            self.solve(item, scope, iv)
        };
        // A declared missing code, now and then, where an answer is given.
        if !value.is_null()
            && !item.missing().is_empty()
            && !d.protected.contains(name)
            && !d.count_refs.contains(name)
            && !d.constraint_refs.contains(name)
            && self.rng.uniform() < d.missing_rate
        {
            let codes = item.missing();
            let code = &codes[self.rng.below(codes.len() as u64) as usize];
            if let Some(c) = d.survey.missing_code(code) {
                let text = c.value().as_text();
                return Ok((Value::Null, Value::Text(text)));
            }
        }
        // No choice ticked is no answer.
        let value = if matches!(&value, Value::Multi(v) if v.is_empty()) { Value::Null } else { value };
        if let Some((y0, y1)) = modelled {
            self.truth.entry(name.to_string()).or_default().add(y0, y1);
        }
        Ok((value.clone(), value))
    }

    fn satisfies(&self, item: &Item, v: &Value, scope: &mut Scope<'_>) -> bool {
        if v.is_null() {
            return true;
        }
        let ok = item.constraint().is_none_or(|c| {
            scope.own = v.clone();
            eval(c.ast(), &*scope).truthy()
        });
        scope.own = Value::Null;
        ok
    }

    /// An answer that satisfies the constraint: drawn at random, and if fifty draws all
    /// fail, the first that holds of every value the question's type and bounds allow
    /// (searched from a random start). Null if none does.
    fn solve(&mut self, item: &Item, scope: &mut Scope<'_>, iv: &Interview<'_>) -> Value {
        for _ in 0..50 {
            let v = self.sample(item, iv.today);
            if v.is_null() {
                break;
            }
            if self.satisfies(item, &v, scope) {
                return v;
            }
        }
        let candidates = self.candidates(item, iv.today);
        let start = if candidates.is_empty() { 0 } else { self.rng.below(candidates.len() as u64) as usize };
        let (tail, head) = candidates.split_at(start);
        head.iter().chain(tail).find(|v| self.satisfies(item, v, scope)).cloned().unwrap_or(Value::Null)
    }

    fn sample(&mut self, item: &Item, today: NaiveDate) -> Value {
        let (lo, hi) = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
        let d = self.design;
        let rng = &mut self.rng;
        match item.question_type() {
            QuestionType::Integer => {
                let span = if d.count_refs.contains(item.name()) { 5 } else { 80 };
                let lo_i = lo.map_or(0, |v| v.ceil().clamp(-1e15, 1e15) as i64);
                let hi_i = hi.map_or(lo_i + span, |v| (v.floor().clamp(-1e15, 1e15) as i64).min(lo_i + span));
                Value::Int(lo_i + rng.below((hi_i - lo_i).max(0) as u64 + 1) as i64)
            }
            QuestionType::Decimal => {
                let base = lo.filter(|l| l.is_finite()).unwrap_or(0.0);
                // Within the bounds, on a scale that reads like an answer (a distance, a
                // sum of money): at most a hundredth of a wide range, at least 50.
                let width = hi.map_or(50.0, |h| ((h - base) / 100.0).max(50.0).min(h - base));
                Value::Dec(((base + rng.uniform() * width) * 100.0).round() / 100.0)
            }
            QuestionType::Text => match regex_of(item).and_then(|p| sample_regex(&p, rng)) {
                Some(s) => Value::Text(s),
                None => Value::Text(format!("{}-{}", item.name(), rng.below(1000))),
            },
            QuestionType::SelectOne | QuestionType::SelectMultiple => {
                let Some(list) = d.survey.choices_of(item) else { return Value::Null };
                let values: Vec<String> = list.choices().iter().map(|c| c.value().as_text()).collect();
                if values.is_empty() {
                    return Value::Null;
                }
                if item.question_type() == QuestionType::SelectOne {
                    choice_value(values[rng.below(values.len() as u64) as usize].clone())
                } else {
                    let pick = rng.below(values.len() as u64) as usize;
                    let mut ticked: Vec<String> = values.iter().filter(|_| rng.uniform() < 0.35).cloned().collect();
                    // A required question gets at least one choice.
                    if ticked.is_empty() && !matches!(item.required(), Required::No) {
                        ticked.push(values[pick].clone());
                    }
                    Value::Multi(ticked)
                }
            }
            QuestionType::Date => Value::Date(today - chrono::TimeDelta::days(rng.below(60) as i64)),
            QuestionType::DateTime => {
                let day = today - chrono::TimeDelta::days(rng.below(60) as i64);
                let at = day.and_hms_opt(8 + rng.below(10) as u32, rng.below(60) as u32, 0).unwrap_or_default();
                Value::DateTime(at.and_utc().fixed_offset())
            }
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

    /// Every value worth trying for a question whose random draws all failed.
    fn candidates(&self, item: &Item, today: NaiveDate) -> Vec<Value> {
        let (lo, hi) = item.constraint().map_or((None, None), |c| self_bounds(c.ast()));
        let lo = lo.filter(|l| l.abs() < 1e15);
        let hi = hi.filter(|h| h.abs() < 1e15);
        match item.question_type() {
            QuestionType::Integer => {
                let a = lo.map_or(0, |l| l.ceil() as i64);
                let b = hi.map_or(a + 20_000, |h| (h.floor() as i64).min(a + 20_000));
                (a..=b).map(Value::Int).collect()
            }
            QuestionType::Decimal => {
                let a = lo.unwrap_or(0.0);
                let b = hi.unwrap_or(a + 10_000.0);
                (0..=2000).map(|k| Value::Dec(((a + (b - a) * k as f64 / 2000.0) * 100.0).round() / 100.0)).collect()
            }
            QuestionType::SelectOne | QuestionType::SelectMultiple => {
                let values: Vec<String> = self
                    .design
                    .survey
                    .choices_of(item)
                    .map(|l| l.choices().iter().map(|c| c.value().as_text()).collect())
                    .unwrap_or_default();
                if item.question_type() == QuestionType::SelectOne {
                    values.into_iter().map(choice_value).collect()
                } else {
                    let mut v: Vec<Value> = values.into_iter().map(|c| Value::Multi(vec![c])).collect();
                    v.push(Value::Multi(Vec::new()));
                    v
                }
            }
            QuestionType::Date => (0..3660).map(|k| Value::Date(today - chrono::TimeDelta::days(k))).collect(),
            // Letters and digits of every length up to 64: what a length or pattern
            // constraint the sampler missed may still accept.
            QuestionType::Text => (1..=64)
                .flat_map(|k| [Value::Text("a".repeat(k)), Value::Text("1".repeat(k)), Value::Text("A".repeat(k))])
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A choice value as the expressions see it: a whole number where it is one.
pub(crate) fn choice_value(v: String) -> Value {
    v.parse::<i64>().map_or(Value::Text(v), Value::Int)
}

/// A modelled number as the question's value: a choice, a whole number or a decimal.
fn number_value(survey: &Survey, item: &Item, y: f64) -> Value {
    match item.question_type() {
        QuestionType::SelectOne => {
            let text = format!("{}", y as i64);
            let is_int = survey.choices_of(item).is_some_and(|l| l.has_int_values());
            if is_int { Value::Int(y as i64) } else { Value::Text(text) }
        }
        QuestionType::Integer => Value::Int(y as i64),
        _ => Value::Dec(y),
    }
}

/// Whether a value satisfies a question's constraint with nothing else answered (for
/// codes chosen before any interview: units and keys).
pub(crate) fn holds_alone(item: &Item, v: &Value, today: NaiveDate) -> bool {
    let mut scope = Scope { values: HashMap::new(), parent: None, repeats: HashMap::new(), own: v.clone(), today };
    scope.values.insert(item.name().to_string(), v.clone());
    item.constraint().is_none_or(|c| eval(c.ast(), &scope).truthy())
}
