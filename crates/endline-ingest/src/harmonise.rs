//! A wave collected with another version of the survey, lined up with the version the
//! analysis uses before waves are stacked (issue #20): a question's earlier names
//! (`renamed_from`) become its name, and its earlier codes (`recode: {old: new}`) its
//! codes, so that one variable means one thing across rounds. Every step applied is
//! returned, for the report's data-quality section.

use polars::prelude::*;

use endline_survey::Survey;

/// One harmonisation applied to a wave.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Harmonisation {
    /// The question, as the analysis names it.
    pub question: String,
    /// `renamed` or `recoded`.
    pub kind: &'static str,
    /// What was done, in a sentence.
    pub message: String,
    /// Rows whose value changed (for a rename: rows with a value).
    pub rows: usize,
}

fn err(e: PolarsError) -> String {
    e.to_string()
}

/// Lines `df`, a table of a wave collected with survey version `from`, up with `to` (the
/// version the analysis uses): renames, then recodes. Declarations of `to` apply to an
/// earlier wave; those of `from` (a later wave's version) apply backwards: its renames
/// are undone, and its recodes inverted where each code comes from one earlier code (a
/// merge of codes cannot be undone: an error).
///
/// Without `from` (the wave's version is known only by its number), only `to`'s
/// declarations apply.
pub fn harmonise(
    mut df: DataFrame,
    from: Option<&Survey>,
    to: &Survey,
) -> Result<(DataFrame, Vec<Harmonisation>), String> {
    let mut done = Vec::new();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut recodes: Vec<(String, Vec<(String, String)>)> = Vec::new();
    to.visit(&mut |p| {
        for old in p.item.renamed_from() {
            renames.push((old.clone(), p.item.name().to_string()));
        }
        if !p.item.recode().is_empty() {
            recodes.push((p.item.name().to_string(), p.item.recode().to_vec()));
        }
    });
    let mut merged = Vec::new();
    let mut later = Vec::new();
    if let Some(f) = from {
        f.visit(&mut |p| later.push(p.item));
    }
    for item in later {
        // The later version's name for a question `to` knows by an earlier one.
        let target = item.renamed_from().iter().find(|old| to.item(old).is_some()).cloned();
        let name = target.clone().unwrap_or_else(|| item.name().to_string());
        if let Some(old) = target {
            renames.push((item.name().to_string(), old));
        }
        if !item.recode().is_empty() && to.item(&name).is_some() {
            let inverse: Vec<(String, String)> = item.recode().iter().map(|(o, n)| (n.clone(), o.clone())).collect();
            if inverse.iter().any(|(n, _)| inverse.iter().filter(|(m, _)| m == n).count() > 1) {
                merged.push(name.clone());
            }
            recodes.push((name, inverse));
        }
    }
    if !merged.is_empty() {
        return Err(format!(
            "version {} merges codes of {} (`recode`), which cannot be split back into version {}'s: analyse with the \
             later version's survey",
            from.map_or("?", Survey::version),
            merged.join(", "),
            to.version()
        ));
    }
    for (old, new) in renames {
        if df.column(&old).is_err() || df.column(&new).is_ok() {
            continue;
        }
        let rows = df.column(&old).map_err(err)?.len() - df.column(&old).map_err(err)?.null_count();
        df.rename(&old, new.as_str().into()).map_err(err)?;
        let (om, nm) = (format!("{old}_missing"), format!("{new}_missing"));
        if df.column(&om).is_ok() && df.column(&nm).is_err() {
            df.rename(&om, nm.as_str().into()).map_err(err)?;
        }
        done.push(Harmonisation {
            question: new.clone(),
            kind: "renamed",
            message: format!("stacked under its new name; was {old} (declared with renamed_from)"),
            rows,
        });
    }
    for (name, map) in recodes {
        let Ok(col) = df.column(&name) else { continue };
        let s = col.as_materialized_series().clone();
        let (recoded, rows) = recode(&s, &map).map_err(|e| format!("`{name}`: {e}"))?;
        if rows > 0 {
            df.with_column(recoded.with_name(name.as_str().into()).into_column()).map_err(err)?;
        }
        let pairs: Vec<String> = map.iter().map(|(o, n)| format!("{o} → {n}")).collect();
        done.push(Harmonisation {
            question: name.clone(),
            kind: "recoded",
            message: format!("recoded {} (declared with recode)", pairs.join(", ")),
            rows,
        });
    }
    Ok((df, done))
}

/// A column with its values mapped (`map`: old → new, as text); the number of rows changed.
fn recode(s: &Series, map: &[(String, String)]) -> PolarsResult<(Series, usize)> {
    let find = |v: &str| map.iter().find(|(o, _)| o == v).map(|(_, n)| n.as_str());
    let mut changed = 0;
    let out = match s.dtype() {
        DataType::List(inner) => {
            let lists = s.list()?;
            let mut rows: Vec<Option<Series>> = Vec::with_capacity(s.len());
            for i in 0..lists.len() {
                rows.push(match lists.get_as_series(i) {
                    Some(items) => {
                        let (r, n) = recode(&items, map)?;
                        changed += usize::from(n > 0);
                        Some(r)
                    }
                    None => None,
                });
            }
            let mut out = ListChunked::from_iter(rows).into_series();
            out = out.cast(&DataType::List(inner.clone()))?;
            return Ok((out, changed));
        }
        dt if dt.is_integer() => {
            let ints = s.cast(&DataType::Int64)?;
            let values: Vec<Option<i64>> = ints
                .i64()?
                .iter()
                .map(|v| {
                    v.map(|x| match find(&x.to_string()).and_then(|n| n.parse::<i64>().ok()) {
                        Some(n) => {
                            changed += 1;
                            n
                        }
                        None => x,
                    })
                })
                .collect();
            Series::new(s.name().clone(), values).cast(dt)?
        }
        _ => {
            let text = s.cast(&DataType::String)?;
            let values: Vec<Option<String>> = text
                .str()?
                .iter()
                .map(|v| {
                    v.map(|x| match find(x) {
                        Some(n) => {
                            changed += 1;
                            n.to_string()
                        }
                        None => x.to_string(),
                    })
                })
                .collect();
            Series::new(s.name().clone(), values).cast(s.dtype())?
        }
    };
    Ok((out, changed))
}
