//! Data-driven checks: every invalid survey against its golden diagnostics, every valid
//! survey (fixtures and the shipped `surveys/`) against silence.
//!
//! Regenerate the golden files with `UPDATE_EXPECT=1 cargo test -p endline-survey`, then
//! read the diff before committing it.

use std::collections::BTreeSet;

use endline_survey::codes;

use crate::{data_dir, rendered, validate_text, yaml_files};

#[test]
fn invalid_surveys_match_their_golden_diagnostics() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for path in yaml_files(&data_dir().join("invalid")) {
        let name =
            format!("invalid/{}", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (file, v) = validate_text(&name, &text);
        assert!(!v.diagnostics.is_empty(), "{name}: no diagnostics");
        let got = rendered(&file, &v);
        let expected_path = path.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!("--- {name}: expected\n{expected}\n--- got\n{got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ (UPDATE_EXPECT=1 regenerates):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Each fixture is named after the code it exists for; that code must be among its
/// diagnostics, and every code the validator can emit must have such a fixture.
#[test]
fn every_code_has_a_fixture_that_triggers_it() {
    let mut covered = BTreeSet::new();
    for path in yaml_files(&data_dir().join("invalid")) {
        let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let (_, v) = validate_text(&stem, &text);
        let code = codes::ALL.iter().filter(|c| stem.starts_with(c.as_str())).max_by_key(|c| c.as_str().len());
        let code = code.unwrap_or_else(|| panic!("fixture {stem} is not named after a code"));
        assert!(v.diagnostics.iter().any(|d| d.code == *code), "fixture {stem} does not produce {code}");
        covered.insert(code.as_str());
    }
    let missing: Vec<&str> = codes::ALL.iter().map(|c| c.as_str()).filter(|c| !covered.contains(c)).collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}

#[test]
fn invalid_fixtures_yield_no_survey() {
    for path in yaml_files(&data_dir().join("invalid")) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (_, v) = validate_text("x.yaml", &text);
        assert_eq!(v.survey.is_some(), !v.has_errors(), "{}", path.display());
    }
}

#[test]
fn valid_surveys_have_no_diagnostics() {
    let shipped = data_dir().join("../../../../surveys");
    let files: Vec<_> = yaml_files(&data_dir().join("valid")).into_iter().chain(yaml_files(&shipped)).collect();
    assert!(files.len() >= 4, "expected the valid fixtures and the example survey");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (file, v) = validate_text(&path.display().to_string(), &text);
        assert!(v.diagnostics.is_empty(), "{}", rendered(&file, &v));
        assert!(v.survey.is_some());
    }
}

#[test]
fn json_positions_are_one_based_and_point_into_expressions() {
    let text = "survey: fx\nversion: \"1\"\nkey: id\nquestions:\n  - name: id\n    type: text\n    label: ID\n    relevant: \"${idd} = 'x'\"\n";
    let (file, v) = validate_text("s.yaml", text);
    let d =
        v.diagnostics.iter().find(|d| d.code == codes::UNKNOWN_REFERENCE).unwrap_or_else(|| panic!("no diagnostic"));
    let json = endline_diag::DiagnosticJson::new(&file, d);
    assert_eq!((json.line, json.column, json.end_column), (8, 16, 22));
    assert_eq!(json.help.as_deref(), Some("did you mean `${id}`?"));
}
