//! The results contract (docs/results.md) and the second shipped study.
//!
//! The WASH study is of another design than the example: villages coded by a pattern,
//! village × wave means, not-yet-treated controls, yes/no, count and minutes outcomes,
//! indicators by category and by expression, a bilingual survey. It runs from
//! simulation to report with no workaround; its report speaks of villages and of each
//! outcome's scale; its planted effects are covered; and the shape of its results.json
//! is the golden contract, every field of which docs/results.md describes.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::run::{golden, run_in};
use crate::{root, scratch};

/// A copy of the shipped study's files in a scratch directory.
fn wash_study(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    for f in [
        "analysis/wash_villages.yaml",
        "surveys/wash_household.yaml",
        "reports/report.html.tera",
        "reports/report.md.tera",
    ] {
        let to = dir.join(f);
        std::fs::create_dir_all(to.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(root().join(f), &to).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    dir
}

/// The shape of a JSON value: objects with their keys, arrays as their first element,
/// numbers, strings, booleans and nulls by kind.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Number(_) => Value::String("number".into()),
        Value::String(_) => Value::String("string".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Null => Value::String("null".into()),
    }
}

fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn the_wash_study_speaks_of_villages_and_recovers_its_effects() {
    let dir = wash_study("wash-report");
    let o = run_in(&dir, &["run", "analysis/wash_villages.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("out/wash_villages");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap_or_default())
        .unwrap_or(Value::Null);
    assert_eq!(results["schema_version"], 1);
    assert_eq!(results["plan"]["unit"]["plural"], "villages");
    assert_eq!(results["sample"]["units"], 40);
    assert_eq!(results["sample"]["analysis_rows"], 40 * 5, "village × wave means");
    let outcome = |name: &str| {
        results["outcomes"].as_array().into_iter().flatten().find(|o| o["name"] == name).cloned().unwrap_or_default()
    };
    for (name, kind, unit) in [
        ("has_latrine", "binary", "percentage points"),
        ("minutes_to_water", "count", "minutes"),
        ("diarrhoea_cases", "count", "per household"),
        ("improved_source", "binary", "percentage points"),
        ("latrine_with_slab", "binary", "percentage points"),
    ] {
        let o = outcome(name);
        assert_eq!((o["type"].as_str(), o["reading"]["unit"].as_str()), (Some(kind), Some(unit)), "{name}");
    }
    // Every planted effect is inside its interval; the indicators have no truth.
    for o in results["outcomes"].as_array().into_iter().flatten() {
        if o["truth"].is_null() {
            assert!(o["question"] == "water_source" || o["question"].is_null(), "{}", o["name"]);
        } else {
            assert_eq!(o["truth"]["covered"], true, "{}: {}", o["name"], o["truth"]);
        }
    }
    // The report's words: villages, percentage points, minutes; never counties or a
    // growth rate for a share.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    for text in [&md, &html] {
        assert!(
            !text.to_lowercase().contains("county") && !text.contains("counties"),
            "a report of villages says county"
        );
        assert!(text.contains("comparison villages"));
        assert!(text.contains("percentage points") && text.contains("minutes"));
        assert!(!text.contains("% a year"), "growth language for shares and counts");
    }
    let answer = md.lines().find(|l| l.starts_with("- **Household has a latrine**")).unwrap_or_else(|| panic!("{md}"));
    assert!(
        answer.contains("percentage points") && answer.contains("interviews of 600 households in 40 villages"),
        "{answer}"
    );
    // Every warning of results.json reaches the report.
    let warned: Vec<&str> = results["outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str))
        .chain(results["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str))
        .collect();
    assert!(!warned.is_empty(), "missing codes leave outcomes without values");
    for w in warned {
        assert!(md.contains(&w.replace('_', "\\_")), "{w} is not in the report");
    }
    // The contract: the shape is golden, and every field is documented.
    golden("results-shape.json", &format!("{}\n", serde_json::to_string_pretty(&shape(&results)).unwrap_or_default()));
    let doc = std::fs::read_to_string(root().join("docs/results.md")).unwrap_or_default();
    let mut fields = BTreeSet::new();
    keys(&results, &mut fields);
    let undocumented: Vec<&String> = fields.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(undocumented.is_empty(), "fields of results.json missing from docs/results.md: {undocumented:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `did --format json` and results.json serialise an effect and its aggregations alike.
#[test]
fn did_and_results_share_the_effect_serialisation() {
    let dir = wash_study("wash-did");
    let o = run_in(&dir, &["run", "analysis/wash_villages.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("out/wash_villages");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap_or_default())
        .unwrap_or(Value::Null);
    let panel = out.join("panel.parquet").display().to_string();
    let o = run_in(
        &dir,
        &[
            "did",
            &panel,
            "--outcome",
            "has_latrine",
            "--unit",
            "village",
            "--time",
            "wave",
            "--cohort",
            "cohort",
            "--control",
            "notyet",
            "--covariates",
            "remote",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let did: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let cs = &results["outcomes"][0]["cs"];
    for part in ["simple", "dynamic", "group", "calendar"] {
        assert_eq!(shape(&did["aggregate"][part]), shape(&cs[part]), "{part}");
    }
    // The same panel and options give the same numbers.
    let (a, b) = (&did["aggregate"]["simple"], &cs["simple"]);
    for f in ["att", "std_error", "conf_low", "conf_high"] {
        let (x, y) = (a[f].as_f64().unwrap_or(f64::NAN), b[f].as_f64().unwrap_or(f64::NAN));
        assert!((x - y).abs() <= 1e-12 * x.abs().max(1.0), "{f}: did {x}, run {y}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
