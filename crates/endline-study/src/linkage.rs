//! Households and members followed across ingested waves (`endline link`, and a plan's
//! `linkage:`): the rosters read from each wave's ingest output, names from the
//! personal-data side table only, and the summary `results.json` and the linkage report
//! carry.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use endline_analysis::linkage::{Finding, Household, Linkage, Member, Rule, Wave};
use endline_plan::plan::Linkage as Spec;
use endline_survey::Survey;
use polars::prelude::*;
use serde::Serialize;

fn strings(df: &DataFrame, col: &str, file: &Path) -> Result<Vec<Option<String>>, String> {
    let c = df.column(col).map_err(|_| format!("{}: no column `{col}`", file.display()))?;
    let c = c.cast(&DataType::String).map_err(|e| e.to_string())?;
    Ok(c.str().map_err(|e| e.to_string())?.iter().map(|v| v.map(str::to_string)).collect())
}

fn numbers(df: &DataFrame, col: &str, file: &Path) -> Result<Vec<Option<f64>>, String> {
    let c = df.column(col).map_err(|_| format!("{}: no column `{col}`", file.display()))?;
    let c = c.cast(&DataType::Float64).map_err(|e| e.to_string())?;
    Ok(c.f64().map_err(|e| e.to_string())?.iter().collect())
}

/// The waves, each wave's roster table (for the member panel), and the files read.
pub type Loaded = (Vec<Wave>, Vec<DataFrame>, Vec<PathBuf>);

/// A record's place in its source: file and row (how a side table joins its table).
type Place = (Option<String>, Option<String>);

/// The waves' households and rosters, from ingest outputs (one directory per wave), in
/// time order when every wave is named by a number. Also returns each wave's roster
/// table (for the member panel) and the files read.
pub fn load(dirs: &[PathBuf], survey: &Survey, spec: &Spec) -> Result<Loaded, String> {
    let key = survey.key();
    let mut read_files = Vec::new();
    let mut waves: Vec<(Wave, DataFrame)> = Vec::new();
    for dir in dirs {
        let table = |name: &str| {
            endline_ingest::hive::table_path(dir, name).unwrap_or_else(|| dir.join(format!("{name}.parquet")))
        };
        let (main_path, roster_path) = (table(survey.id()), table(&spec.members));
        let (main, roster) =
            (endline_ingest::table::read_table(&main_path)?, endline_ingest::table::read_table(&roster_path)?);
        read_files.extend([main_path.clone(), roster_path.clone()]);
        let label = strings(&main, "_wave", &main_path)?.into_iter().flatten().next().unwrap_or_default();
        let keys = strings(&main, key, &main_path)?;
        let hh = strings(&roster, key, &roster_path)?;
        let sex = strings(&roster, &spec.sex, &roster_path)?;
        let age = numbers(&roster, &spec.age, &roster_path)?;
        let relation = spec.relation.as_deref().map(|q| strings(&roster, q, &roster_path)).transpose()?;
        let ids = spec.member_id.as_deref().map(|q| strings(&roster, q, &roster_path)).transpose()?;
        // Names come from the side table, joined on the record's source file and row.
        let names = match &spec.name {
            None => None,
            Some(q) => {
                let pii_path = table(&format!("{}.pii", spec.members));
                let pii = endline_ingest::table::read_table(&pii_path)?;
                read_files.push(pii_path.clone());
                let at = |df: &DataFrame, f: &Path| -> Result<Vec<Place>, String> {
                    Ok(strings(df, "_source_file", f)?.into_iter().zip(strings(df, "_source_row", f)?).collect())
                };
                let lookup: HashMap<_, _> =
                    at(&pii, &pii_path)?.into_iter().zip(strings(&pii, q, &pii_path)?).collect();
                Some(
                    at(&roster, &roster_path)?
                        .into_iter()
                        .map(|k| lookup.get(&k).cloned().flatten())
                        .collect::<Vec<_>>(),
                )
            }
        };
        let mut households: Vec<Household> =
            keys.into_iter().flatten().map(|k| Household { key: k, members: Vec::new() }).collect();
        let mut at: HashMap<String, usize> = households.iter().enumerate().map(|(i, h)| (h.key.clone(), i)).collect();
        for (row, k) in hh.iter().enumerate() {
            let Some(k) = k else { continue };
            let member = Member {
                row,
                sex: sex[row].clone(),
                age: age[row],
                relation: relation.as_ref().and_then(|r| r[row].clone()),
                name: names.as_ref().and_then(|n| n[row].clone()),
                id: ids.as_ref().and_then(|i| i[row].clone()),
            };
            let i = *at.entry(k.clone()).or_insert_with(|| {
                households.push(Household { key: k.clone(), members: Vec::new() });
                households.len() - 1
            });
            households[i].members.push(member);
        }
        let year = label.parse::<f64>().ok();
        waves.push((Wave { label, year, households }, roster));
    }
    if waves.iter().all(|(w, _)| w.year.is_some()) {
        waves.sort_by(|a, b| a.0.year.unwrap_or(0.0).total_cmp(&b.0.year.unwrap_or(0.0)));
    }
    let (waves, rosters) = waves.into_iter().unzip();
    Ok((waves, rosters, read_files))
}

/// One wave's counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaveCount {
    /// The wave.
    pub wave: String,
    /// Households interviewed.
    pub households: usize,
    /// Roster rows.
    pub members: usize,
}

/// What `results.json` (`linkage`) and the linkage report say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The roster followed.
    pub members_table: String,
    /// `member-id` or `matching`.
    pub by: String,
    /// The fields the rule compares.
    pub fields: Vec<String>,
    /// Years an age may be off.
    pub age_tolerance: f64,
    /// Each wave's counts.
    pub waves: Vec<WaveCount>,
    /// Members by how they were linked: `new`, `member-id`, `matched`, `split`, and
    /// `flagged` (a member ID whose sex or age disagrees).
    pub links: BTreeMap<String, usize>,
    /// Distinct persons.
    pub persons: usize,
    /// What was found about households: reused keys, splits, returns, departures.
    pub findings: Vec<Finding>,
}

/// The summary of a linkage.
pub fn summary(waves: &[Wave], linkage: &Linkage, spec: &Spec) -> Summary {
    let count = |r: Rule| linkage.members.iter().filter(|l| l.rule == r).count();
    let mut links = BTreeMap::new();
    for r in [Rule::New, Rule::MemberId, Rule::Matched, Rule::Split] {
        links.insert(r.as_str().to_string(), count(r));
    }
    links.insert("flagged".into(), linkage.members.iter().filter(|l| l.flag.is_some()).count());
    let mut ids: Vec<&str> = linkage.members.iter().map(|l| l.person_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let fields =
        [Some("sex"), Some("age"), spec.relation.as_ref().map(|_| "relation"), spec.name.as_ref().map(|_| "name")]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
    Summary {
        members_table: spec.members.clone(),
        by: if spec.member_id.is_some() { "member-id" } else { "matching" }.into(),
        fields,
        age_tolerance: spec.age_tolerance,
        waves: waves
            .iter()
            .map(|w| WaveCount {
                wave: w.label.clone(),
                households: w.households.len(),
                members: w.households.iter().map(|h| h.members.len()).sum(),
            })
            .collect(),
        links,
        persons: ids.len(),
        findings: linkage.findings.clone(),
    }
}

/// The member panel: each wave's roster with `person_id`, `link_rule`,
/// `link_confidence` and `link_flag`.
pub fn member_panel(rosters: Vec<DataFrame>, linkage: &Linkage) -> Result<DataFrame, String> {
    let mut frames = Vec::new();
    for (w, mut roster) in rosters.into_iter().enumerate() {
        let n = roster.height();
        let (mut pid, mut rule, mut conf, mut flag) =
            (vec![None; n], vec![None; n], vec![None; n], vec![None::<String>; n]);
        for l in linkage.members.iter().filter(|l| l.wave == w) {
            pid[l.row] = Some(l.person_id.clone());
            rule[l.row] = Some(l.rule.as_str());
            conf[l.row] = Some(l.confidence);
            flag[l.row] = l.flag.clone();
        }
        for c in [
            Column::new("person_id".into(), pid),
            Column::new("link_rule".into(), rule),
            Column::new("link_confidence".into(), conf),
            Column::new("link_flag".into(), flag),
        ] {
            roster.with_column(c).map_err(|e| e.to_string())?;
        }
        frames.push(roster);
    }
    endline_analysis::aggregate::stack(frames).map_err(|e| e.to_string())
}
