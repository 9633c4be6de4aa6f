//! Columns out of a polars DataFrame: numbers (with missing as NaN) and
//! factors (dense codes over sorted levels).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use polars::prelude::*;

use crate::error::{AnalysisError, Result};

/// The code of a missing value in a [`FactorColumn`].
pub const MISSING: u32 = u32::MAX;

/// A level of a factor.
#[derive(Debug, Clone, PartialEq)]
pub enum Level {
    /// An integer level.
    Int(i64),
    /// A decimal level.
    Float(f64),
    /// A boolean level.
    Bool(bool),
    /// A text level (boxed: a level is 24 bytes, which matters for a million households).
    Str(Box<str>),
}

impl Level {
    fn rank(&self) -> u8 {
        match self {
            Level::Bool(_) => 0,
            Level::Int(_) | Level::Float(_) => 1,
            Level::Str(_) => 2,
        }
    }

    /// Levels sort numerically when numeric, else as text.
    pub fn sort_cmp(&self, other: &Level) -> Ordering {
        match (self, other) {
            (Level::Int(a), Level::Int(b)) => a.cmp(b),
            (Level::Bool(a), Level::Bool(b)) => a.cmp(b),
            (Level::Str(a), Level::Str(b)) => a.cmp(b),
            (a @ (Level::Int(_) | Level::Float(_)), b @ (Level::Int(_) | Level::Float(_))) => {
                a.as_f64().total_cmp(&b.as_f64())
            }
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Level::Int(i) => *i as f64,
            Level::Float(f) => *f,
            Level::Bool(b) => f64::from(u8::from(*b)),
            Level::Str(_) => f64::NAN,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Int(i) => write!(f, "{i}"),
            Level::Float(x) => write!(f, "{x:?}"),
            Level::Bool(b) => write!(f, "{b}"),
            Level::Str(s) => f.write_str(s),
        }
    }
}

/// A categorical column: one code per row ([`MISSING`] for a missing value), codes
/// indexing `levels`, which are sorted.
#[derive(Debug, Clone)]
pub struct FactorColumn {
    /// The code of each row.
    pub codes: Vec<u32>,
    /// The distinct levels, sorted.
    pub levels: Vec<Level>,
}

impl FactorColumn {
    /// Codes levels in order of first appearance, then renumbers them in sorted order.
    fn from_first_seen(mut codes: Vec<u32>, levels: Vec<Level>) -> Self {
        let mut order: Vec<u32> = (0..levels.len() as u32).collect();
        order.sort_by(|&a, &b| levels[a as usize].sort_cmp(&levels[b as usize]));
        let mut rank = vec![0u32; levels.len()];
        for (r, &o) in order.iter().enumerate() {
            rank[o as usize] = r as u32;
        }
        for c in codes.iter_mut().filter(|c| **c != MISSING) {
            *c = rank[*c as usize];
        }
        let mut sorted: Vec<Option<Level>> = levels.into_iter().map(Some).collect();
        let levels = order.iter().filter_map(|&o| sorted[o as usize].take()).collect();
        FactorColumn { codes, levels }
    }

    /// Combines two factors into their interaction (fixest's `a^b`).
    pub fn combine(&self, other: &FactorColumn) -> FactorColumn {
        let mut map: HashMap<(u32, u32), u32> = HashMap::new();
        let mut levels = Vec::new();
        let codes = self
            .codes
            .iter()
            .zip(&other.codes)
            .map(|(&a, &b)| {
                if a == MISSING || b == MISSING {
                    return MISSING;
                }
                *map.entry((a, b)).or_insert_with(|| {
                    levels.push(Level::Str(format!("{}_{}", self.levels[a as usize], other.levels[b as usize]).into()));
                    (levels.len() - 1) as u32
                })
            })
            .collect();
        FactorColumn::from_first_seen(codes, levels)
    }
}

/// The names of the table's columns.
pub fn column_names(df: &DataFrame) -> Vec<String> {
    df.get_column_names().iter().map(|s| s.to_string()).collect()
}

fn series<'d>(df: &'d DataFrame, name: &str) -> Result<&'d Series> {
    match df.column(name) {
        Ok(c) => Ok(c.as_materialized_series()),
        Err(_) => {
            let names = column_names(df);
            let suggestion = endline_diag::suggest(name, names.iter().map(String::as_str)).map(str::to_string);
            Err(AnalysisError::UnknownColumn { name: name.to_string(), suggestion })
        }
    }
}

/// Checks that a column exists (with a suggestion when it does not).
pub fn require(df: &DataFrame, name: &str) -> Result<()> {
    series(df, name).map(|_| ())
}

/// A numeric column as f64, missing (null or NaN) as NaN. Booleans become 0/1.
pub fn numeric(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let s = series(df, name)?;
    let dt = s.dtype();
    if !(dt.is_primitive_numeric() || dt.is_bool()) {
        let hint = if dt.is_string() {
            format!("; use C({name}) or i({name}) to treat it as a factor")
        } else {
            String::new()
        };
        return Err(AnalysisError::ColumnType {
            name: name.to_string(),
            problem: format!("is {dt}, not numeric{hint}"),
        });
    }
    let s = s.cast(&DataType::Float64)?;
    let ca = s.f64()?;
    let values: Vec<f64> = if ca.null_count() == 0
        && let Ok(slice) = ca.cont_slice()
    {
        slice.to_vec()
    } else {
        ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    };
    check_magnitudes(name, &values)?;
    Ok(values)
}

/// Values this large are data errors (no measured quantity is), and their squares
/// overflow the sums every estimator forms, which then give numbers that mean nothing.
pub const ABSURD: f64 = 1e100;

/// Refuses infinite values and values beyond ±[`ABSURD`], naming the rows (1-based data
/// rows of the table as read).
fn check_magnitudes(name: &str, values: &[f64]) -> Result<()> {
    let bad = |v: &f64| v.is_infinite() || v.abs() >= ABSURD;
    if !values.iter().any(bad) {
        return Ok(());
    }
    let rows: Vec<usize> = values.iter().enumerate().filter(|(_, v)| bad(v)).map(|(i, _)| i + 1).collect();
    let shown: Vec<String> = rows.iter().take(5).map(usize::to_string).collect();
    Err(AnalysisError::Invalid(format!(
        "`{name}` has {} value(s) that are infinite or beyond ±1e100, which no estimate can use (rows {}{}); \
         fix or remove them",
        rows.len(),
        shown.join(", "),
        if rows.len() > shown.len() { ", …" } else { "" }
    )))
}

/// Integer codes over a range no wider than a few times the number of rows (unit ids,
/// years, waves): a table indexed by value marks the levels present, already in sorted
/// order, with no hashing and no re-sorting. None for sparse values.
fn dense_integer_factor(ca: &Int64Chunked) -> Option<FactorColumn> {
    let (min, max) = (ca.min()?, ca.max()?);
    let range = u64::try_from(max.checked_sub(min)?).ok()? as usize + 1;
    if range > 4 * ca.len().max(1024) {
        return None;
    }
    let mut code = vec![MISSING; range];
    for v in ca.iter().flatten() {
        code[(v - min) as usize] = 0;
    }
    let mut levels = Vec::new();
    for (offset, c) in code.iter_mut().enumerate() {
        if *c == 0 {
            *c = levels.len() as u32;
            levels.push(Level::Int(min + offset as i64));
        }
    }
    let codes = ca.iter().map(|v| v.map_or(MISSING, |v| code[(v - min) as usize])).collect();
    Some(FactorColumn { codes, levels })
}

/// Codes values in order of first appearance (missing as [`MISSING`]), then sorts levels.
fn encode<K, I>(values: I, level: impl Fn(&K) -> Level) -> FactorColumn
where
    K: std::hash::Hash + Eq,
    I: Iterator<Item = Option<K>>,
{
    let mut map: HashMap<K, u32> = HashMap::new();
    let mut levels = Vec::new();
    let codes = values
        .map(|v| match v {
            None => MISSING,
            Some(v) => {
                let next = map.len() as u32;
                *map.entry(v).or_insert_with_key(|k| {
                    levels.push(level(k));
                    next
                })
            }
        })
        .collect();
    FactorColumn::from_first_seen(codes, levels)
}

/// A column as text (anything polars can render as text), missing as None.
pub fn text(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let s = series(df, name)?.cast(&DataType::String)?;
    Ok(s.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

/// A column as a factor: integers, booleans, text, decimals, or anything polars can
/// render as text (dates, categoricals).
pub fn factor(df: &DataFrame, name: &str) -> Result<FactorColumn> {
    let s = series(df, name)?;
    let dt = s.dtype().clone();
    if dt.is_integer() {
        let s = s.cast(&DataType::Int64)?;
        let ca = s.i64()?;
        if let Some(f) = dense_integer_factor(ca) {
            return Ok(f);
        }
        return Ok(encode(ca.iter(), |v| Level::Int(*v)));
    }
    if dt.is_float() {
        let s = s.cast(&DataType::Float64)?;
        // Key by bits, with -0.0 folded into 0.0; integral values print as integers.
        let bits = s
            .f64()?
            .iter()
            .map(|v| v.filter(|x| x.is_finite()).map(|x| if x == 0.0 { 0.0f64.to_bits() } else { x.to_bits() }));
        return Ok(encode(bits, |b| {
            let v = f64::from_bits(*b);
            if v.fract() == 0.0 && v.abs() < 9e15 { Level::Int(v as i64) } else { Level::Float(v) }
        }));
    }
    if dt.is_bool() {
        return Ok(encode(s.bool()?.iter(), |b| Level::Bool(*b)));
    }
    let s = s.cast(&DataType::String)?;
    Ok(encode(s.str()?.iter(), |v: &&str| Level::Str((*v).into())))
}

impl FactorColumn {
    /// Keeps only the rows where `keep` is true, and drops levels left without rows.
    pub fn filter(&self, keep: &[bool]) -> FactorColumn {
        let codes = self.codes.iter().zip(keep).filter(|(_, k)| **k).map(|(c, _)| *c).collect();
        FactorColumn { codes, levels: self.levels.clone() }.compact()
    }

    /// Drops levels no row uses, keeping the sorted order.
    pub fn compact(mut self) -> FactorColumn {
        let mut used = vec![false; self.levels.len()];
        for &c in &self.codes {
            if c != MISSING {
                used[c as usize] = true;
            }
        }
        if used.iter().all(|u| *u) {
            return self;
        }
        let mut remap = vec![MISSING; self.levels.len()];
        let mut levels = Vec::new();
        for (i, level) in self.levels.into_iter().enumerate() {
            if used[i] {
                remap[i] = levels.len() as u32;
                levels.push(level);
            }
        }
        for c in self.codes.iter_mut().filter(|c| **c != MISSING) {
            *c = remap[*c as usize];
        }
        self.levels = levels;
        self
    }

    /// The number of levels.
    pub fn n_levels(&self) -> usize {
        self.levels.len()
    }
}
