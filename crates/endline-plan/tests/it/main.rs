//! Plan validation: the shipped plan is clean, and every kind of mistake is reported at
//! its line and column, all in one run.

use std::path::{Path, PathBuf};

use endline_diag::{Diagnostic, SourceFile};
use endline_plan::validate;

/// The repository's `analysis/` directory: plans there reach the real survey and templates.
fn analysis_dir() -> PathBuf {
    manifest_dir().join("../../analysis")
}

/// (code, line, column, message) of each diagnostic of a plan written in `analysis/`.
fn check(text: &str) -> Vec<(String, usize, usize, String)> {
    let file = SourceFile::new("plan.yaml", text);
    let v = validate(&file, &analysis_dir());
    v.diagnostics
        .iter()
        .map(|d: &Diagnostic| {
            let at = file.line_col(d.span.start);
            (d.code.as_str().to_string(), at.line, at.column, d.message.clone())
        })
        .collect()
}

const GOOD: &str = "\
plan: small
title: A small study
question: Did it work?
survey: ../surveys/border_household.yaml
data:
  simulate: {seed: 1, units: 12, households: 4, waves: [2019, 2020, 2021], adoption: [2021], attributes: {corridor: {share: 0.5}}}
unit: {question: county_id, name: county, plural: counties, attributes: [corridor]}
outcomes:
  - {name: specialty_output, label: Sales, transform: log1p}
covariates: [corridor]
weights: weight
report: {templates: [../reports/report.md.tera]}
";

#[test]
fn the_shipped_plans_are_clean() {
    for entry in std::fs::read_dir(analysis_dir()).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let file = SourceFile::new(path.display().to_string(), text);
            let v = validate(&file, &analysis_dir());
            assert!(v.diagnostics.is_empty(), "{}: {:?}", path.display(), v.diagnostics);
            assert!(v.plan.is_some() && v.survey.is_some());
        }
    }
    assert_eq!(check(GOOD), Vec::new());
}

#[test]
fn every_mistake_is_reported_where_it_is() {
    let bad = GOOD
        .replace("title: A small study", "titel: A small study")
        .replace("survey: ../surveys/border_household.yaml", "survey: ../surveys/border_household.yaml\nlevel: village")
        .replace(
            "{name: specialty_output, label: Sales, transform: log1p}",
            "{name: specialty_outptu, label: Sales}\n  - {name: region}",
        )
        .replace(
            "covariates: [corridor]",
            "covariates: [corridor, distance]\ncorrection: romano-wolf\nestimators: [twfe, bacn]",
        )
        .replace("../reports/report.md.tera", "../reports/nope.md.tera");
    let got = check(&bad);
    let codes: Vec<(&str, usize, usize)> = got.iter().map(|(c, l, col, _)| (c.as_str(), *l, *col)).collect();
    assert_eq!(
        codes,
        vec![
            ("missing-key", 1, 1),
            ("unknown-key", 2, 1),
            ("invalid-value", 5, 8),
            ("unknown-question", 10, 12),
            ("unknown-question", 11, 12),
            ("unknown-question", 12, 24),
            ("unsupported", 13, 13),
            ("invalid-value", 14, 13),
            ("invalid-value", 14, 20),
            ("file-not-found", 16, 22),
        ],
        "{got:#?}"
    );
    let message = |code: &str, line: usize| got.iter().find(|g| g.0 == code && g.1 == line).map(|g| g.3.clone());
    assert_eq!(message("missing-key", 1).as_deref(), Some("a plan has no `title`"));
    assert!(message("unknown-question", 10).is_some_and(|m| m.contains("specialty_outptu")));
    assert!(message("unknown-question", 11).is_some_and(|m| m.contains("a select_one whose choices are not 0 and 1")));
}

#[test]
fn yaml_errors_and_unreadable_surveys_are_diagnostics() {
    let got = check("plan: [unclosed\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "yaml-syntax");
    let got = check("- a list\n");
    assert_eq!(got[0].0, "yaml-syntax");
    assert_eq!(got[0].3, "a plan file must be a YAML mapping of keys to values");
    let got = check(&GOOD.replace("../surveys/border_household.yaml", "../surveys/missing.yaml"));
    assert_eq!(got.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(), vec!["file-not-found"]);
}

#[test]
fn field_data_need_a_unit_table_and_existing_files() {
    let waves = GOOD.replace(
        "  simulate: {seed: 1, units: 12, households: 4, waves: [2019, 2020, 2021], adoption: [2021], attributes: {corridor: {share: 0.5}}}",
        "  waves:\n    2019: [field/2019/hh.csv]\n    next: [x.csv]",
    );
    let got = check(&waves);
    let codes: Vec<(&str, usize)> = got.iter().map(|(c, l, _, _)| (c.as_str(), *l)).collect();
    assert_eq!(codes, vec![("missing-key", 1), ("file-not-found", 7), ("invalid-value", 8)], "{got:#?}");
}

/// Issue #18: what a run would otherwise hit is found when the plan is validated, at
/// its line and column: a log of an outcome that can be zero, a log of a yes/no outcome,
/// a select_one that is not yes/no, a category that is not a choice, an expression on an
/// unknown question, an effect planted on a calculation, a household subgroup at the
/// unit level, the key as the unit, and the first round's words.
#[test]
fn what_a_run_would_hit_is_found_first() {
    let bad = GOOD
        .replace("transform: log1p}", "log: true}\n  - {name: coop_member, log: true}\n  - {name: toilet_type}\n  - {name: sanitary, question: toilet_type, category: [1, 7]}\n  - {name: far, expression: \"${clinic_km} > 5 and ${nope} = 1\"}")
        .replace("adoption: [2021],", "adoption: [2021], effects: {hygienic_toilet: 0.1},")
        .replace("weights: weight", "weights: weight\nlevel: unit\nsubgroups: [region]");
    let got = check(&bad);
    let codes: Vec<(&str, usize, usize)> = got.iter().map(|(c, l, col, _)| (c.as_str(), *l, *col)).collect();
    assert_eq!(
        codes,
        vec![
            ("unknown-question", 6, 104),
            ("log-of-zero", 9, 49),
            ("invalid-value", 10, 30),
            ("unknown-question", 11, 12),
            ("invalid-value", 12, 55),
            ("unknown-question", 13, 29),
            ("not-at-level", 17, 13),
        ],
        "{got:#?}"
    );
    let message = |line: usize| got.iter().find(|g| g.1 == line).map(|g| g.3.clone()).unwrap_or_default();
    assert!(message(6).contains("`hygienic_toilet` is a calculate question"), "{}", message(6));
    assert!(message(9).contains("can be zero (its constraint allows 0)"), "{}", message(9));
    assert!(message(10).contains("is yes/no"), "{}", message(10));
    assert!(message(11).contains("whose choices are not 0 and 1"), "{}", message(11));
    assert!(message(12).contains("`7` is not a choice of `toilet_type`"), "{}", message(12));
    assert!(message(13).contains("`nope`"), "{}", message(13));
    assert!(message(17).contains("household question"), "{}", message(17));
    let first_round = GOOD
        .replace("unit: {question: county_id, name: county, plural: counties, attributes: [corridor]}", "treatment: {key: county_id}\nunit: {question: household_id, name: household, plural: households, attributes: [corridor]}")
        .replace("weights: weight", "weights: weight\nlevel: county");
    let got = check(&first_round);
    let codes: Vec<(&str, usize)> = got.iter().map(|(c, l, _, _)| (c.as_str(), *l)).collect();
    assert_eq!(codes, vec![("unknown-key", 7), ("invalid-value", 8), ("invalid-value", 13)], "{got:#?}");
    assert!(got[0].3.contains("`treatment` is now `unit`"));
    assert!(got[1].3.contains("the survey's key"));
    assert!(got[2].3.contains("`level` cannot be `county`"));
}

/// An indicator may be written `question in (values)`, as the issue wrote it: a
/// category of the question, its values checked against the choices.
#[test]
fn membership_is_a_category() {
    let plan = GOOD.replace(
        "transform: log1p}",
        "transform: log1p}\n  - {name: sanitary, expression: \"toilet_type in (1, 2)\"}\n  - {name: odd, expression: \"${toilet_type} in (1, 9)\"}",
    );
    let got = check(&plan);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].0.as_str(), got[0].1), ("invalid-value", 11));
    assert!(got[0].3.contains("`9` is not a choice of `toilet_type`"), "{}", got[0].3);
    let file = SourceFile::new("plan.yaml", plan.replace(", 9)", ")"));
    let v = validate(&file, &analysis_dir());
    let outcomes = v.plan.map(|p| p.outcomes).unwrap_or_default();
    assert_eq!(outcomes[1].source, endline_plan::plan::Source::Category(vec!["1".into(), "2".into()]));
    assert_eq!(outcomes[1].question.as_deref(), Some("toilet_type"));
}

#[test]
fn paths_are_recorded_as_written_without_dot_dot() {
    let file = SourceFile::new("plan.yaml", GOOD);
    let v = validate(&file, Path::new("analysis"));
    // Relative to the current directory (the crate), the survey does not resolve; the
    // recorded path is still the clean join of the plan's directory and the path.
    assert!(v.diagnostics.iter().any(|d| d.code.as_str() == "file-not-found"));
    let file = SourceFile::new("plan.yaml", GOOD);
    let v = validate(&file, &analysis_dir());
    let plan = v.plan.unwrap_or_else(|| panic!("{:?}", v.diagnostics));
    assert!(!plan.survey.to_string_lossy().contains(".."), "{}", plan.survey.display());
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

#[test]
fn the_sensitivity_block_is_read_and_its_mistakes_are_located() {
    let good = format!("{GOOD}sensitivity: {{restriction: sd, values: [0, 0.01], target: e=1}}\n");
    let file = SourceFile::new("plan.yaml", good.as_str());
    let v = validate(&file, &analysis_dir());
    assert!(v.diagnostics.is_empty(), "{:?}", v.diagnostics);
    let s = v.plan.map(|p| p.sensitivity).unwrap_or_default();
    assert_eq!((s.restriction.as_str(), s.values.as_slice(), s.target.as_str()), ("sd", &[0.0, 0.01][..], "e=1"));
    let bad = format!("{GOOD}sensitivity:\n  restriction: rn\n  values: [-1, x]\n  target: last\n  grid: 9\n");
    let got = check(&bad);
    let codes: Vec<(&str, usize, usize)> = got.iter().map(|(c, l, col, _)| (c.as_str(), *l, *col)).collect();
    assert_eq!(
        codes,
        vec![
            ("invalid-value", 14, 16),
            ("invalid-value", 15, 12),
            ("invalid-value", 15, 16),
            ("invalid-value", 16, 11),
            ("unknown-key", 17, 3)
        ],
        "{got:#?}"
    );
    assert!(got[0].3.contains("`rn`"));
    assert!(got[1].3.contains("at least 0"));
}
