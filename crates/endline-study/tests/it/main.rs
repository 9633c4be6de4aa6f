//! A study of a design unlike the shipped ones, run through the library: pupils'
//! households grouped by school, an integer key, a yes/no, a count and a score as
//! outcomes, an indicator by expression. The plan validates clean, the run recovers
//! the planted effects, and the results and the report speak of schools and of each
//! outcome's scale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endline_diag::SourceFile;
use endline_plan::plan::{OutcomeType, Transform};

const PLAN: &str = "\
plan: schools
title: School meals and reading
question: Did school meals raise reading?
survey: ../surveys/school_visit.yaml
unit: {question: school, name: school, plural: schools}
data:
  simulate:
    seed: 3
    units: 36
    households: 12
    waves: [2021, 2022, 2023, 2024]
    adoption: [2022, 2023]
    treated_share: 0.5
    growth: 0.0
    effects: {reads: 0.12, meals_week: 0.4, test_score: {add: 4}}
    baselines: {reads: 0.4, meals_week: 2, test_score: 50}
    attributes:
      urban: {share: 0.5, selection: 0.7, trends: {reads: 0.02}}
outcomes:
  - {name: reads, label: Reads a short text}
  - {name: meals_week, label: School meals a week}
  - {name: test_score, label: Reading test score}
  - {name: reads_and_fed, label: Reads and had meals, expression: \"${reads} = 1 and ${meals_week} >= 3\"}
covariates: [urban]
weights: wt
report: {templates: [../reports/report.md.tera]}
";

fn root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from);
    dir.join("../..")
}

fn study_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("endline-study-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (from, to) in [
        ("crates/endline-study/tests/data/school_visit.yaml", "surveys/school_visit.yaml"),
        ("reports/report.md.tera", "reports/report.md.tera"),
    ] {
        let to = dir.join(to);
        std::fs::create_dir_all(to.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(root().join(from), &to).unwrap_or_else(|e| panic!("{from}: {e}"));
    }
    std::fs::create_dir_all(dir.join("analysis")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("analysis/schools.yaml"), PLAN).unwrap_or_else(|e| panic!("{e}"));
    dir
}

#[test]
fn a_school_study_runs_and_speaks_of_schools() {
    let dir = study_dir();
    let file = SourceFile::new("analysis/schools.yaml", PLAN);
    let v = endline_plan::validate(&file, &dir.join("analysis"));
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let (Some(plan), Some(survey)) = (v.plan, v.survey) else { panic!("no plan") };
    let kinds: Vec<(Option<OutcomeType>, Transform)> = plan.outcomes.iter().map(|o| (o.kind, o.transform)).collect();
    assert_eq!(
        kinds,
        [
            (Some(OutcomeType::Binary), Transform::Level),
            (Some(OutcomeType::Count), Transform::Level),
            (Some(OutcomeType::Continuous), Transform::Level),
            (Some(OutcomeType::Binary), Transform::Level),
        ]
    );
    let run = endline_study::run(&plan, &survey, &BTreeMap::new(), &dir.join("out"), &|_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let r = &run.results;
    assert_eq!((r.plan.unit.name.as_str(), r.plan.unit.plural.as_str()), ("school", "schools"));
    assert_eq!(r.plan.cluster, "school");
    assert_eq!(r.sample.units, 36);
    assert_eq!(r.sample.households, 36 * 12);
    let by: BTreeMap<&str, &endline_study::results::OutcomeResults> =
        r.outcomes.iter().map(|o| (o.name.as_str(), o)).collect();
    assert_eq!(by["reads"].reading.unit, "percentage points");
    assert_eq!(by["meals_week"].reading.unit, "per household");
    assert_eq!(by["reads_and_fed"].reading.multiplier, 100.0);
    for name in ["reads", "meals_week", "test_score"] {
        let t = by[name].truth.as_ref().unwrap_or_else(|| panic!("{name} has no truth"));
        assert!(
            t.covered,
            "{name}: truth {} outside [{}, {}]",
            t.att, by[name].cs.aggregates.simple.conf_low, by[name].cs.aggregates.simple.conf_high
        );
    }
    // Four points added, except where a score is already at the top of its scale (100):
    // the truth is what the data hold.
    let score = by["test_score"].truth.as_ref().map_or(0.0, |t| t.att);
    assert!(score > 2.5 && score <= 4.0, "an additive effect of at most 4 points: {score}");
    // The units.csv key column is the unit question.
    let units = std::fs::read_to_string(dir.join("out/field/units.csv")).unwrap_or_default();
    assert!(units.starts_with("school,first_treated,urban\n"), "{units}");
    // The report: schools, never counties; the share's effect in percentage points.
    let json = serde_json::to_value(r).unwrap_or_default();
    let text = std::fs::read_to_string(dir.join("reports/report.md.tera")).unwrap_or_default();
    let t = endline_report::render::Template { name: "report.md.tera".into(), text };
    let mut with_repro = json.clone();
    with_repro["reproducibility"] = serde_json::json!({"endline_version": "test", "command": [], "seed": 3,
        "survey": {"id": "school_visit", "version": "3"}, "inputs": []});
    let md = endline_report::render::render(&[t], &with_repro).unwrap_or_else(|e| panic!("{e}"))[0].1.clone();
    assert!(md.contains("comparison schools") && !md.contains("county") && !md.contains("counties"), "{md}");
    assert!(md.contains("**Reads a short text**: ") && md.contains("percentage points"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
