//! `endline link`: households and members followed across ingested waves, with stable
//! person IDs and a linkage report (`endline_analysis::linkage` has the rules).

use std::path::{Path, PathBuf};

use clap::Args;
use endline_analysis::linkage::{Options, link};
use endline_output::write_file;

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

pub fn run(args: &LinkArgs) -> anyhow::Result<Outcome> {
    let Some(survey) = crate::validate::load_survey(&args.survey, false)? else { return Ok(Outcome::Invalid) };
    let spec = endline_plan::plan::Linkage {
        members: args.members.clone(),
        sex: args.sex.clone(),
        age: args.age.clone(),
        relation: args.relation.clone(),
        name: args.name.clone(),
        member_id: args.member_id.clone(),
        age_tolerance: args.age_tolerance,
    };
    let (waves, rosters, read) = match endline_study::linkage::load(&args.waves, &survey, &spec) {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return Ok(Outcome::Failure);
        }
    };
    let linkage = link(&waves, &Options { age_tolerance: args.age_tolerance });
    let df = endline_study::linkage::member_panel(rosters, &linkage).map_err(anyhow::Error::msg)?;
    let ext = args.out.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let bytes = match ext.as_str() {
        "csv" => endline_ingest::table::csv_bytes(&df)?,
        "parquet" => endline_ingest::table::parquet_bytes(&df, 512 * 512, None)?,
        other => {
            error!("cannot tell the format of {}: expected .csv or .parquet, not `.{other}`", args.out.display());
            return Ok(Outcome::Failure);
        }
    };
    let summary = endline_study::linkage::summary(&waves, &linkage, &spec);
    let report = serde_json::json!({"survey": survey.id(), "key": survey.key(), "linkage": summary});
    let report_path = args.out.with_extension("linkage.json");
    let inputs: Vec<&Path> = std::iter::once(args.survey.as_path()).chain(read.iter().map(PathBuf::as_path)).collect();
    write_file(&args.out, &bytes, &inputs)?;
    write_file(&report_path, format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes(), &inputs)?;
    let mut text = format!(
        "{} members in {} waves → {} persons; {}\n",
        linkage.members.len(),
        waves.len(),
        summary.persons,
        args.out.display()
    );
    for f in &linkage.findings {
        text.push_str(&format!("  {}\n", serde_json::to_string(f)?));
    }
    text.push_str(&format!("report: {}\n", report_path.display()));
    print(&text)?;
    Ok(Outcome::Success)
}
