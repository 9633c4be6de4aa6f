//! Stage 3: the analysis panel. The waves are stacked, the unit table is joined (every
//! household's unit must be in it), each outcome is built on its scale (a question, a
//! category indicator or an expression; log, log1p or asinh), and at `level: unit` the
//! household interviews become unit × wave survey-weighted means.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use endline_analysis::aggregate::{AggregateSpec, aggregate, left_join, stack};
use endline_analysis::data;
use endline_plan::Plan;
use endline_plan::plan::{Level, Outcome, OutcomeType, Source, Transform};
use endline_survey::expr::{Context, Value, eval, parse, parse_date};
use endline_survey::{QuestionType, Survey};
use polars::prelude::*;

use crate::RunError;
use crate::ingest::Ingested;
use crate::load::Loaded;

/// Columns the run adds to the household table.
pub const WAVE: &str = "wave";
/// 1 for households of units that ever get the programme.
pub const PROGRAMME: &str = "programme";
/// The unit's first programme period (0: never).
pub const COHORT: &str = "cohort";

/// One outcome in the panel.
#[derive(Debug, Clone)]
pub struct OutcomeColumn {
    /// The column estimated on.
    pub variable: String,
    /// What it measures (a calculation's type decided by its values).
    pub kind: OutcomeType,
    /// Household interviews without a value.
    pub missing: usize,
    /// What the reader should know about how it was built.
    pub warnings: Vec<String>,
}

/// The analysis panel.
pub struct AnalysisPanel {
    /// One row per household interview, with the unit table, wave, cohort and outcomes.
    pub households: DataFrame,
    /// What is estimated on: `households`, or unit × wave means at `level: unit`.
    pub analysis: DataFrame,
    /// The plan's outcomes, in order.
    pub outcomes: Vec<OutcomeColumn>,
    /// The unit question.
    pub unit_key: String,
    /// The survey key.
    pub household_key: String,
    /// The cluster of the standard errors.
    pub cluster: String,
    /// The waves, sorted.
    pub waves: Vec<i64>,
}

/// Builds the panel and writes it to `out/panel.parquet`.
pub fn build(
    plan: &Plan,
    survey: &Survey,
    loaded: &Loaded,
    ingested: &Ingested,
    out: &Path,
) -> Result<AnalysisPanel, RunError> {
    let key = plan.unit.question.as_str();
    let mut df = stack(ingested.frames.clone())?;
    let units = unit_table(plan, &loaded.unit_table)?;
    check_units(plan, &df, &units, &loaded.unit_table)?;
    df = left_join(df, units, key)?;
    let first = data::numeric(&df, &plan.unit.first_treated)?;
    let cohort: Vec<i64> = first.iter().map(|g| if g.is_nan() { 0 } else { *g as i64 }).collect();
    let wave: Vec<i64> =
        data::text(&df, "_wave")?.iter().map(|w| w.as_deref().and_then(|w| w.parse().ok()).unwrap_or(0)).collect();
    let mut waves = wave.clone();
    waves.sort_unstable();
    waves.dedup();
    df.with_column(Column::new(WAVE.into(), wave))?;
    df.with_column(Column::new(COHORT.into(), cohort.clone()))?;
    df.with_column(Column::new(PROGRAMME.into(), cohort.iter().map(|g| i64::from(*g > 0)).collect::<Vec<_>>()))?;
    let mut outcomes = Vec::new();
    for o in &plan.outcomes {
        outcomes.push(add_outcome(survey, &mut df, o)?);
    }
    let cluster = plan.cluster.clone().unwrap_or_else(|| key.to_string());
    let analysis = match plan.level {
        Level::Household => df.clone(),
        Level::Unit => {
            let variables: Vec<String> = outcomes.iter().map(|o| o.variable.clone()).collect();
            unit_means(plan, &df, &variables)?
        }
    };
    let path = out.join("panel.parquet");
    let bytes = endline_ingest::table::parquet_bytes(&analysis, 512 * 512, None)?;
    std::fs::write(&path, bytes).map_err(|e| RunError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(AnalysisPanel {
        households: df,
        analysis,
        outcomes,
        unit_key: key.to_string(),
        household_key: survey.key().to_string(),
        cluster,
        waves,
    })
}

/// The unit table, with the columns the plan needs.
fn unit_table(plan: &Plan, path: &Path) -> Result<DataFrame, RunError> {
    let units = endline_ingest::table::read_table(path).map_err(RunError::Io)?;
    let needed = std::iter::once(&plan.unit.question).chain([&plan.unit.first_treated]).chain(&plan.unit.attributes);
    for c in needed {
        if units.column(c).is_err() {
            return Err(RunError::Data(format!(
                "the {} table {} has no column `{c}` (it has: {})",
                plan.unit.name,
                path.display(),
                data::column_names(&units).join(", ")
            )));
        }
    }
    Ok(units)
}

/// Every household interview names a unit of the unit table: one that does not would
/// silently count as never treated.
fn check_units(plan: &Plan, df: &DataFrame, units: &DataFrame, path: &Path) -> Result<(), RunError> {
    let key = plan.unit.question.as_str();
    let known: HashSet<String> = data::text(units, key)?.into_iter().flatten().collect();
    let codes = data::text(df, key)?;
    let blank = codes.iter().filter(|c| c.is_none()).count();
    let unknown: BTreeSet<&str> = codes.iter().flatten().filter(|c| !known.contains(*c)).map(String::as_str).collect();
    if blank > 0 {
        return Err(RunError::Data(format!(
            "{blank} household interviews have no {} code (`{key}`): each must belong to a {}",
            plan.unit.name, plan.unit.name
        )));
    }
    if !unknown.is_empty() {
        let shown: Vec<&str> = unknown.iter().take(5).copied().collect();
        return Err(RunError::Data(format!(
            "{} {} codes of the survey are not in the {} table {} ({}{}): add their rows (first_treated 0 for never)",
            unknown.len(),
            plan.unit.name,
            plan.unit.name,
            path.display(),
            shown.join(", "),
            if unknown.len() > shown.len() { ", …" } else { "" }
        )));
    }
    Ok(())
}

/// One row's answers, for an outcome's expression.
struct Row<'a> {
    values: &'a HashMap<&'a str, Vec<Value>>,
    i: usize,
}

impl Context for Row<'_> {
    fn value(&self, name: &str) -> Value {
        self.values.get(name).map_or(Value::Null, |v| v[self.i].clone())
    }
}

/// A stored column as the expressions see it, by its question's type.
fn values(survey: &Survey, df: &DataFrame, name: &str) -> Result<Vec<Value>, RunError> {
    let ty = survey.item(name).map(|i| i.question_type());
    Ok(data::text(df, name)?
        .into_iter()
        .map(|t| match t {
            None => Value::Null,
            Some(t) => match ty {
                Some(QuestionType::Integer) => t.parse().map_or(Value::Text(t), Value::Int),
                Some(QuestionType::Decimal) => t.parse().map_or(Value::Text(t), Value::Dec),
                Some(QuestionType::SelectMultiple) => Value::Multi(t.split_whitespace().map(str::to_string).collect()),
                Some(QuestionType::Date) => parse_date(&t).map_or(Value::Text(t), Value::Date),
                _ if t == "true" || t == "false" => Value::Bool(t == "true"),
                _ => match (t.parse::<i64>(), t.parse::<f64>()) {
                    (Ok(i), _) => Value::Int(i),
                    (_, Ok(f)) => Value::Dec(f),
                    _ => Value::Text(t),
                },
            },
        })
        .collect())
}

/// The outcome's values before its transform, and its type.
fn raw_values(survey: &Survey, df: &DataFrame, o: &Outcome) -> Result<(Vec<Option<f64>>, OutcomeType), RunError> {
    match &o.source {
        Source::Question => {
            let q = o.question.as_deref().unwrap_or(&o.name);
            let v: Vec<Option<f64>> = data::numeric(df, q)?.into_iter().map(|x| x.is_finite().then_some(x)).collect();
            let zero_one = v.iter().flatten().all(|x| *x == 0.0 || *x == 1.0);
            let kind = o.kind.unwrap_or(if zero_one { OutcomeType::Binary } else { OutcomeType::Continuous });
            if kind == OutcomeType::Binary
                && let Some(bad) = v.iter().flatten().find(|x| **x != 0.0 && **x != 1.0)
            {
                return Err(RunError::Data(format!("`{}` is a yes/no outcome, but `{q}` has the value {bad}", o.name)));
            }
            Ok((v, kind))
        }
        Source::Category(categories) => {
            let q = o.question.as_deref().unwrap_or(&o.name);
            let v = data::text(df, q)?
                .into_iter()
                .map(|t| t.map(|t| f64::from(u8::from(categories.contains(&t)))))
                .collect();
            Ok((v, OutcomeType::Binary))
        }
        Source::Expression(text) => {
            let e = parse(text).map_err(|e| RunError::Data(format!("`{}`: {}", o.name, e.message)))?;
            let refs: Vec<&str> = e.references().into_iter().map(|(n, _)| n).collect();
            let mut columns: HashMap<&str, Vec<Value>> = HashMap::new();
            for r in &refs {
                columns.insert(r, values(survey, df, r)?);
            }
            // No value where none of the answers it reads has one (the household was not
            // asked); otherwise whether it holds.
            let v = (0..df.height())
                .map(|i| {
                    if refs.iter().all(|r| columns[r][i].is_null()) {
                        return None;
                    }
                    let holds = eval(&e, &Row { values: &columns, i }).truthy();
                    Some(f64::from(u8::from(holds)))
                })
                .collect();
            Ok((v, OutcomeType::Binary))
        }
    }
}

/// Adds the outcome's column on its scale; refuses a log of zero or less, naming where.
fn add_outcome(survey: &Survey, df: &mut DataFrame, o: &Outcome) -> Result<OutcomeColumn, RunError> {
    let (raw, kind) = raw_values(survey, df, o)?;
    // The column's name, where the transform is undefined, and the transform.
    type Scale = (String, fn(f64) -> bool, fn(f64) -> f64);
    let (variable, undefined, f): Scale = match o.transform {
        Transform::Level => (o.name.clone(), |_| false, |x| x),
        Transform::Log => (format!("log_{}", o.name), |x| x <= 0.0, f64::ln),
        Transform::Log1p => (format!("log1p_{}", o.name), |x| x <= -1.0, f64::ln_1p),
        Transform::Asinh => (format!("asinh_{}", o.name), |_| false, f64::asinh),
    };
    let bad: Vec<usize> = raw.iter().enumerate().filter(|(_, x)| x.is_some_and(undefined)).map(|(i, _)| i).collect();
    if let Some(&first) = bad.first() {
        let keys = data::text(df, survey.key())?;
        let waves = data::text(df, "_wave")?;
        return Err(RunError::Data(format!(
            "`{}` is estimated on the log scale, but {} of {} household interviews have a value of 0 or less \
             (the first: household {}, wave {}); the plan can say `transform: log1p` or `transform: asinh`, \
             or estimate it in levels",
            o.name,
            bad.len(),
            raw.iter().flatten().count(),
            keys[first].as_deref().unwrap_or("?"),
            waves[first].as_deref().unwrap_or("?"),
        )));
    }
    let column: Vec<Option<f64>> = raw.iter().map(|x| x.map(f)).collect();
    let missing = column.iter().filter(|x| x.is_none()).count();
    let mut warnings = Vec::new();
    if missing > 0 {
        warnings.push(format!(
            "{missing} of {} household interviews have no value of {} (not asked, skipped or answered with a \
             missing code); the estimates use the rest",
            column.len(),
            o.label
        ));
    }
    df.with_column(Column::new(variable.as_str().into(), column))?;
    Ok(OutcomeColumn { variable, kind, missing, warnings })
}

/// Unit × wave survey-weighted means of the outcomes and the household covariates; the
/// unit table's columns carried over.
fn unit_means(plan: &Plan, df: &DataFrame, variables: &[String]) -> Result<DataFrame, RunError> {
    let attributes = &plan.unit.attributes;
    let household_covariates = plan.covariates.iter().filter(|c| !attributes.contains(c)).cloned();
    let mut constants = vec![COHORT.to_string(), PROGRAMME.to_string()];
    constants.extend(attributes.iter().cloned());
    if let Some(c) = &plan.cluster
        && !constants.contains(c)
        && *c != plan.unit.question
    {
        constants.push(c.clone());
    }
    let spec = AggregateSpec {
        by: vec![plan.unit.question.clone(), WAVE.into()],
        means: variables.iter().cloned().chain(household_covariates).collect(),
        constants,
        weights: plan.weights.clone(),
    };
    Ok(aggregate(df, &spec)?)
}
