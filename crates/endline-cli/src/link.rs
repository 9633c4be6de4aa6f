//! `endline link`: households and members followed across ingested waves, with stable
//! person IDs and a linkage report (`endline_analysis::linkage` has the rules).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use endline_analysis::aggregate::stack;
use endline_analysis::linkage::{Household, Member, Options, Rule, Wave, link};
use endline_output::write_file;
use polars::prelude::*;

use crate::Outcome;
use crate::output::{error, print};

/// Arguments of `endline link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Ingest output directories, one per wave (in any order: waves named by years are
    /// sorted).
    #[arg(required = true)]
    pub waves: Vec<PathBuf>,
    /// The survey (for its key and its tables).
    #[arg(long, value_name = "SURVEY.yaml")]
    pub survey: PathBuf,
    /// The roster: the repeat that lists a household's members.
    #[arg(long, value_name = "TABLE")]
    pub members: String,
    /// The members' sex question.
    #[arg(long, value_name = "Q")]
    pub sex: String,
    /// The members' age question (in years).
    #[arg(long, value_name = "Q")]
    pub age: String,
    /// The members' relation to the head.
    #[arg(long, value_name = "Q")]
    pub relation: Option<String>,
    /// The members' name question, read from the personal-data side table and compared,
    /// never written out.
    #[arg(long, value_name = "Q")]
    pub name: Option<String>,
    /// The survey's own member ID question, when it has one: members are linked by it.
    #[arg(long, value_name = "Q")]
    pub member_id: Option<String>,
    /// Years an age may differ from the earlier age plus the elapsed time.
    #[arg(long, default_value_t = 2.0)]
    pub age_tolerance: f64,
    /// The member panel to write (.csv or .parquet), with `person_id`, `link_rule`,
    /// `link_confidence` and `link_flag`; the report goes beside it as
    /// `<name>.linkage.json`.
    #[arg(long)]
    pub out: PathBuf,
}

fn strings(df: &DataFrame, col: &str) -> anyhow::Result<Vec<Option<String>>> {
    let c = anyhow::Context::with_context(df.column(col), || format!("no column `{col}`"))?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

fn numbers(df: &DataFrame, col: &str) -> anyhow::Result<Vec<Option<f64>>> {
    let c = anyhow::Context::with_context(df.column(col), || format!("no column `{col}`"))?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

fn read(path: &Path) -> anyhow::Result<DataFrame> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::Context::with_context(ParquetReader::new(file).finish(), || format!("cannot read {}", path.display()))
}

pub fn run(args: &LinkArgs) -> anyhow::Result<Outcome> {
    let Some(survey) = crate::validate::load_survey(&args.survey, false)? else { return Ok(Outcome::Invalid) };
    let key = survey.key().to_string();
    let mut inputs: Vec<PathBuf> = vec![args.survey.clone()];
    let mut waves: Vec<(Wave, DataFrame)> = Vec::new();
    for dir in &args.waves {
        let main_path = dir.join(format!("{}.parquet", survey.id()));
        let roster_path = dir.join(format!("{}.parquet", args.members));
        for p in [&main_path, &roster_path] {
            if !p.exists() {
                bail!("cannot read {}: not in this ingest output", p.display());
            }
            inputs.push(p.clone());
        }
        let main = read(&main_path)?;
        let roster = read(&roster_path)?;
        let label = strings(&main, "_wave")?.into_iter().flatten().next().unwrap_or_default();
        let keys = strings(&main, &key)?;
        let (hh, sex, age) = (strings(&roster, &key)?, strings(&roster, &args.sex)?, numbers(&roster, &args.age)?);
        let relation = args.relation.as_deref().map(|q| strings(&roster, q)).transpose()?;
        let ids = args.member_id.as_deref().map(|q| strings(&roster, q)).transpose()?;
        // Names come from the side table, joined on the record's source file and row.
        let names: Option<Vec<Option<String>>> = match &args.name {
            None => None,
            Some(q) => {
                let pii_path = dir.join(format!("{}.pii.parquet", args.members));
                inputs.push(pii_path.clone());
                let pii = read(&pii_path)?;
                let at = |df: &DataFrame| -> anyhow::Result<Vec<(Option<String>, Option<String>)>> {
                    Ok(strings(df, "_source_file")?.into_iter().zip(strings(df, "_source_row")?).collect())
                };
                let lookup: std::collections::HashMap<(Option<String>, Option<String>), Option<String>> =
                    at(&pii)?.into_iter().zip(strings(&pii, q)?).collect();
                Some(at(&roster)?.into_iter().map(|k| lookup.get(&k).cloned().flatten()).collect())
            }
        };
        let mut households: Vec<Household> =
            keys.into_iter().flatten().map(|k| Household { key: k, members: Vec::new() }).collect();
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
            match households.iter_mut().find(|h| &h.key == k) {
                Some(h) => h.members.push(member),
                None => households.push(Household { key: k.clone(), members: vec![member] }),
            }
        }
        let year = label.parse::<f64>().ok();
        waves.push((Wave { label, year, households }, roster));
    }
    if waves.iter().all(|(w, _)| w.year.is_some()) {
        waves.sort_by(|a, b| a.0.year.unwrap_or(0.0).total_cmp(&b.0.year.unwrap_or(0.0)));
    }
    let (plain, rosters): (Vec<Wave>, Vec<DataFrame>) = waves.into_iter().unzip();
    let linkage = link(&plain, &Options { age_tolerance: args.age_tolerance });
    // The member panel: each wave's roster (never its side table) with the links.
    let mut frames = Vec::new();
    for (w, mut roster) in rosters.into_iter().enumerate() {
        let n = roster.height();
        let (mut pid, mut rule, mut conf, mut flag) =
            (vec![None; n], vec![None; n], vec![None; n], vec![None::<String>; n]);
        for l in linkage.members.iter().filter(|l| l.wave == w) {
            pid[l.row] = Some(l.person_id.clone());
            rule[l.row] = Some(serde_json::to_value(l.rule)?.as_str().unwrap_or_default().to_string());
            conf[l.row] = Some(l.confidence);
            flag[l.row] = l.flag.clone();
        }
        roster.with_column(Column::new("person_id".into(), pid))?;
        roster.with_column(Column::new("link_rule".into(), rule))?;
        roster.with_column(Column::new("link_confidence".into(), conf))?;
        roster.with_column(Column::new("link_flag".into(), flag))?;
        frames.push(roster);
    }
    let df = stack(frames).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let bytes = match ext.as_str() {
        "csv" => endline_ingest::table::csv_bytes(&df)?,
        "parquet" => endline_ingest::table::parquet_bytes(&df, 512 * 512, None)?,
        other => {
            error!("cannot tell the format of {}: expected .csv or .parquet, not `.{other}`", args.out.display());
            return Ok(Outcome::Failure);
        }
    };
    let count = |r: Rule| linkage.members.iter().filter(|l| l.rule == r).count();
    let fields: Vec<&str> =
        [Some("sex"), Some("age"), args.relation.as_ref().map(|_| "relation"), args.name.as_ref().map(|_| "name")]
            .into_iter()
            .flatten()
            .collect();
    let persons = {
        let mut ids: Vec<&str> = linkage.members.iter().map(|l| l.person_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let report = serde_json::json!({
        "survey": survey.id(),
        "key": key,
        "members_table": args.members,
        "waves": plain.iter().map(|w| serde_json::json!({"wave": w.label, "households": w.households.len(),
            "members": w.households.iter().map(|h| h.members.len()).sum::<usize>()})).collect::<Vec<_>>(),
        "rule": {
            "by": if args.member_id.is_some() { "member-id" } else { "matching" },
            "age_tolerance": args.age_tolerance,
            "fields": fields,
        },
        "links": {"new": count(Rule::New), "member-id": count(Rule::MemberId), "matched": count(Rule::Matched),
            "split": count(Rule::Split), "flagged": linkage.members.iter().filter(|l| l.flag.is_some()).count()},
        "persons": persons,
        "findings": linkage.findings,
    });
    let report_path = args.out.with_extension("linkage.json");
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    write_file(&args.out, &bytes, &input_refs)?;
    write_file(&report_path, format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes(), &input_refs)?;
    let mut summary = format!(
        "{} members in {} waves → {} persons; {}\n",
        linkage.members.len(),
        plain.len(),
        report["persons"],
        args.out.display()
    );
    for f in &linkage.findings {
        summary.push_str(&format!("  {}\n", serde_json::to_string(f)?));
    }
    summary.push_str(&format!("report: {}\n", report_path.display()));
    print(&summary)?;
    Ok(Outcome::Success)
}
