//! `endline run`: the example study end to end at a small size, reproducibility, the
//! report's numbers against results.json, escaping, golden snippets, and the HTML report
//! in headless Chromium.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::{root, scratch, stdout};

/// A small version of the example plan: 24 counties, five households each,
/// four waves. The title carries markup that must come out escaped.
pub const SMALL: &str = "\
plan: small
title: 'Small <b>study</b> & *friends* | x'
programme: embedded social workers
question: Did it work?
survey: ../surveys/border_household.yaml
data:
  simulate:
    seed: 4
    units: 24
    households: 5
    waves: [2019, 2020, 2021, 2022]
    adoption: [2021, 2022]
    treated_share: 0.5
    growth: 0.1
    unit_shock: 0.02
    effects: {specialty_output: 0.1, income_total: 0.05}
    attributes:
      corridor: {share: 0.5, selection: 0.6, trends: {specialty_output: 0.03}}
    answers: {consent: 1}
    same_within_unit: [region]
unit: {question: county_id, name: county, plural: counties, attributes: [corridor]}
outcomes:
  - {name: specialty_output, label: Specialty-product sales, transform: log1p}
  - {name: income_total, label: Household income, transform: log1p}
covariates: [corridor]
weights: weight
estimators: [cs, twfe, sa, bacon]
subgroups: [corridor]
report: {templates: [../reports/report.html.tera, ../reports/report.md.tera]}
";

/// A study directory: the plan in `analysis/`, the survey and templates copied beside it,
/// so that every recorded path is relative.
pub fn study(name: &str, plan: &str) -> PathBuf {
    let dir = scratch(name);
    for sub in ["analysis", "surveys", "reports"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.join("analysis/small.yaml"), plan).unwrap_or_else(|e| panic!("{e}"));
    for f in ["surveys/border_household.yaml", "reports/report.html.tera", "reports/report.md.tera"] {
        std::fs::copy(root().join(f), dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    dir
}

pub(crate) fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_endline"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run endline: {e}"))
}

/// Simulates 24 border counties (5 households each, half with the programme from 2021 or
/// 2022) with `survey` into `dir/out` for `waves`, planting `effects` (`Q=EFFECT`).
pub(crate) fn simulate_field(dir: &Path, survey: &str, waves: &str, out: &str, effects: &[&str]) {
    let mut args = vec![
        "simulate",
        survey,
        "--out",
        out,
        "--seed",
        "5",
        "--unit-question",
        "county_id",
        "--units",
        "24",
        "--attribute",
        "corridor=0.5:0.6",
        "--households",
        "5",
        "--waves",
        waves,
        "--adoption",
        "2021,2022",
        "--treated-share",
        "0.5",
        "--growth",
        "0",
        "--answer",
        "consent=1",
        "--weight-question",
        "weight",
    ];
    for e in effects {
        args.extend(["--effect", e]);
    }
    let o = run_in(dir, &args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every file under `dir` with its bytes, by relative path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or_default();
                out.push((rel, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Every number in a JSON document, and every string (a version such as `0.1.0`).
fn json_numbers(v: &Value, out: &mut Vec<f64>, strings: &mut BTreeSet<String>) {
    match v {
        Value::Number(n) => out.extend(n.as_f64()),
        Value::String(s) => {
            out.extend(s.parse::<f64>().ok());
            strings.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| json_numbers(x, out, strings)),
        Value::Object(o) => o.values().for_each(|x| json_numbers(x, out, strings)),
        _ => {}
    }
}

/// The numbers written in a Markdown report, as printed: tokens made only of digits, a
/// decimal point and a leading minus. Words with digits (hashes, `2x2`, names) are not
/// numbers; `< 0.001` is a bound, not a value.
fn report_numbers(md: &str) -> Vec<String> {
    let text = md.replace("&lt; 0.001", "").replace("< 0.001", "");
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
        .flat_map(|t| t.split("--"))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| {
            let digits = t.strip_prefix('-').unwrap_or(t);
            !digits.is_empty()
                && digits.chars().next().is_some_and(|c| c.is_ascii_digit())
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_string)
        .collect()
}

/// Whether a printed number is one of `values` at the printed precision.
fn printed_from(token: &str, values: &[f64]) -> bool {
    let decimals = token.split_once('.').map_or(0, |(_, d)| d.len());
    let want = token.trim_start_matches('-');
    values.iter().any(|v| format!("{v:.decimals$}").trim_start_matches('-') == want)
}

/// A section of a Markdown document: from its `## ` heading to the next.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md.find(&format!("## {heading}\n")).unwrap_or_else(|| panic!("no section {heading}"));
    let rest = &md[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 4);
    &rest[..end]
}

pub(crate) fn golden(name: &str, got: &str) {
    let path = root().join("tests/cli/golden").join(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, got).unwrap_or_else(|e| panic!("{e}"));
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got, want, "{name} differs from the golden file (UPDATE_EXPECT=1 regenerates it)");
}

#[test]
fn the_study_runs_end_to_end_and_twice_gives_the_same_bytes() {
    let dir = study("run", SMALL);
    let args = ["run", "analysis/small.yaml", "--out", "out"];
    let first = run_in(&dir, &args);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let out = dir.join("out/small");
    for f in ["report.html", "report.md", "results.json", "manifest.json", "panel.parquet"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for wave in ["2019", "2020", "2021", "2022"] {
        assert!(out.join(format!("data/{wave}/border_household.parquet")).is_file());
        assert!(out.join(format!("data/{wave}/ingest.json")).is_file());
    }
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("report: out/small/report.html"), "{stdout}");
    let a = snapshot(&out);
    let again = run_in(&dir, &args);
    assert_eq!(again.status.code(), Some(0));
    let b = snapshot(&out);
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{} differs between two runs", path.display());
    }
    assert!(!dir.join("out/.small.partial").exists(), "the staging directory is left behind");

    // Every number of the Markdown report is a number of results.json (but for the
    // constants of the formulas in Methods).
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap_or_default())
        .unwrap_or(Value::Null);
    let (mut values, mut strings) = (Vec::new(), BTreeSet::new());
    json_numbers(&results, &mut values, &mut strings);
    let numbers = report_numbers(&md.replace(section(&md, "Methods"), ""));
    assert!(numbers.len() > 150, "only {} numbers found", numbers.len());
    let missing: BTreeSet<&String> =
        numbers.iter().filter(|t| !printed_from(t, &values) && !strings.contains(*t)).collect();
    assert!(missing.is_empty(), "numbers in report.md but not in results.json: {missing:?}");

    // The manifest: inputs and outputs by content, relative paths, no machine leaks.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap_or_default();
    let m: Value = serde_json::from_str(&manifest).unwrap_or(Value::Null);
    let inputs: Vec<&str> = m["inputs"].as_array().into_iter().flatten().filter_map(|i| i["path"].as_str()).collect();
    assert_eq!(
        inputs,
        ["analysis/small.yaml", "surveys/border_household.yaml", "reports/report.html.tera", "reports/report.md.tera"]
    );
    assert!(m["outputs"].as_array().is_some_and(|o| o.len() > 20));
    assert_eq!(m["seed"], 4);
    for text in [&manifest, &md] {
        assert!(!text.contains(&dir.display().to_string()), "an absolute path leaked");
    }

    // User text is escaped in both formats.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    assert!(html.contains("<h1>Small &lt;b&gt;study&lt;&#x2F;b&gt; &amp; *friends* | x</h1>"), "{}", &html[..800]);
    assert!(md.starts_with("# Small &lt;b&gt;study&lt;/b&gt; & \\*friends\\* \\| x\n"), "{}", &md[..200]);
    // Self-contained: no scripts, nothing fetched; three figures per outcome.
    for banned in ["<script", "<link", " src=", "url("] {
        assert!(!html.contains(banned), "{banned}");
    }
    assert_eq!(html.matches("<svg").count(), 6);

    golden("small-summary.md", section(&md, "Summary"));
    golden("small-methods.md", section(&md, "Methods"));
    golden("small-data-quality.md", section(&md, "Data quality"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_invalid_plan_is_diagnosed_and_writes_nothing() {
    let dir = study("run-invalid", &SMALL.replace("name: income_total", "name: income_totl"));
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("analysis/small.yaml:24:12"), "{err}");
    assert!(err.contains("did you mean `income_total`?"), "{err}");
    assert!(!dir.join("out").exists());
    // `endline validate` reads plans too, with the JSON contract of surveys.
    let o = run_in(&dir, &["validate", "analysis/small.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let d = &json["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("unknown-question"), Some(24), Some(12))
    );
    let o = run_in(&dir, &["run", "analysis/nope.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The HTML report in headless Chromium: the page renders, its text and figures are there,
/// and a screenshot is kept as an artifact (`$ENDLINE_ARTIFACTS`, default `out/artifacts`).
/// Without Chromium the test is skipped, unless `ENDLINE_REQUIRE_CHROMIUM` is set (CI).
#[test]
fn the_html_report_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_CHROMIUM").is_none(), "Chromium is required but not installed");
        eprintln!("skipped: no chromium");
        return;
    };
    let dir = study("run-chromium", SMALL);
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let page = format!("file://{}", dir.join("out/small/report.html").display());
    let headless = |extra: &[&str]| {
        Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,2400"])
            .args(extra)
            .arg(&page)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let dom = headless(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for text in ["Summary", "Data quality", "Event study", "Reproducibility", "Specialty-product sales"] {
        assert!(dom.contains(text), "the rendered page lacks {text}");
    }
    assert_eq!(dom.matches("<svg").count(), 6, "figures: trends, event study and sensitivity per outcome");
    assert!(dom.matches("<circle").count() >= 16, "the figures have no points");
    let artifacts = std::env::var_os("ENDLINE_ARTIFACTS").map_or_else(|| root().join("out/artifacts"), PathBuf::from);
    std::fs::create_dir_all(&artifacts).unwrap_or_else(|e| panic!("{e}"));
    let shot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let o = headless(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(png.starts_with(b"\x89PNG"), "no screenshot: {}", String::from_utf8_lossy(&o.stderr));
    assert!(png.len() > 30_000, "the screenshot looks blank ({} bytes)", png.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Field data rather than a simulation, and a wave collected with a newer version of the
/// survey (one more question): each wave is ingested against its own version, the columns
/// line up in the panel, and the manifest records every input.
#[test]
fn field_waves_may_use_a_newer_survey_version() {
    let dir = study("run-field", SMALL);
    let v1 = std::fs::read_to_string(dir.join("surveys/border_household.yaml")).unwrap_or_default();
    let v2 = v1.replace("version: \"2025.1\"", "version: \"2026.1\"").replacen(
        "  - name: village\n",
        "  - name: hamlet\n    type: text\n    label: {en: Hamlet, zh: 自然村}\n  - name: village\n",
        1,
    );
    assert_ne!(v1, v2);
    std::fs::write(dir.join("surveys/border_household_v2.yaml"), v2).unwrap_or_else(|e| panic!("{e}"));
    let effects = ["specialty_output=0.1", "income_total=0.05"];
    simulate_field(&dir, "surveys/border_household.yaml", "2019,2020,2021", "field", &effects);
    simulate_field(&dir, "surveys/border_household_v2.yaml", "2022", "field-v2", &effects);
    // One household of 2020 answers a region that is not a choice: it is rejected, and
    // the report's data-quality section says so.
    let path = dir.join("field/2020/border_household.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let col = lines[0].split(',').position(|h| h == "region").unwrap_or_else(|| panic!("no region column"));
    let mut cells: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    cells[col] = "9".into();
    lines[1] = cells.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let plan = SMALL
        .replace(
            &SMALL[SMALL.find("  simulate:").unwrap_or(0)..SMALL.find("unit: {").unwrap_or(0)],
            "  waves:\n    2019: [../field/2019/border_household.csv, ../field/2019/border_household-members.csv]\n    2020: [../field/2020/border_household.csv, ../field/2020/border_household-members.csv]\n    2021: [../field/2021/border_household.csv, ../field/2021/border_household-members.csv]\n    2022:\n      survey: ../surveys/border_household_v2.yaml\n      files: [../field-v2/2022/border_household.csv, ../field-v2/2022/border_household-members.csv]\n",
        )
        .replace("unit: {question: county_id,", "unit: {table: ../field/units.csv, question: county_id,");
    std::fs::write(dir.join("analysis/small.yaml"), &plan).unwrap_or_else(|e| panic!("{e}"));
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("out/small");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap_or_default())
        .unwrap_or(Value::Null);
    let versions: Vec<(i64, &str)> = results["wave_surveys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| Some((w["wave"].as_i64()?, w["version"].as_str()?)))
        .collect();
    assert_eq!(versions, [(2019, "2025.1"), (2020, "2025.1"), (2021, "2025.1"), (2022, "2026.1")]);
    assert_eq!(results["plan"]["simulated"], false);
    assert_eq!(results["reproducibility"]["seed"], Value::Null);
    let inputs: Vec<String> = results["reproducibility"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["path"].as_str().map(str::to_string))
        .collect();
    assert!(inputs.contains(&"surveys/border_household_v2.yaml".to_string()), "{inputs:?}");
    assert!(inputs.contains(&"field-v2/2022/border_household.csv".to_string()), "{inputs:?}");
    assert!(inputs.contains(&"field/units.csv".to_string()), "{inputs:?}");
    let y2020 = &results["data_quality"][1];
    assert_eq!((y2020["wave"].as_i64(), y2020["tables"][0]["rows_rejected"].as_u64()), (Some(2020), Some(1)));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    assert!(md.contains("| 2020 | choice | error | 1 |"), "{}", section(&md, "Data quality"));
    let panel = std::fs::read(out.join("panel.parquet")).unwrap_or_default();
    assert!(panel.windows(6).any(|w| w == b"hamlet"), "the newer wave's column is in the panel");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `level: unit`: the estimates run on county × wave survey-weighted means, one row per
/// county and wave, clustered by county; a subgroup from the unit table is carried over.
#[test]
fn the_unit_level_runs_on_unit_means() {
    let dir = study("run-county", &format!("{SMALL}level: unit\n"));
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/small/results.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert_eq!(results["plan"]["level"], "unit");
    assert!(
        results["outcomes"][0]["subgroups"]
            .as_array()
            .is_some_and(|s| s.len() == 2 && s.iter().all(|g| g["error"].is_null()))
    );
    assert_eq!(results["sample"]["analysis_rows"], 24 * 4);
    assert_eq!(results["outcomes"][0]["cs"]["n_units"], 24);
    let md = std::fs::read_to_string(dir.join("out/small/report.md")).unwrap_or_default();
    assert!(md.contains("County × wave survey-weighted means"), "{}", section(&md, "Methods"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An outcome estimated in its own units is reported without "log points", in the text,
/// the tables and the event-study figure; a log outcome keeps them.
#[test]
fn an_outcome_in_levels_is_not_reported_in_log_points() {
    let plan = SMALL.replace(
        "{name: income_total, label: Household income, transform: log1p}",
        "{name: income_total, label: Household income}",
    );
    let dir = study("run-levels", &plan);
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(dir.join("out/small/report.md")).unwrap_or_default();
    let line = |label: &str| md.lines().find(|l| l.starts_with(&format!("- **{label}**"))).unwrap_or_default();
    assert!(line("Specialty-product sales").contains("log points"), "{md}");
    assert!(!line("Household income").is_empty() && !line("Household income").contains("log points"), "{md}");
    let html = std::fs::read_to_string(dir.join("out/small/report.html")).unwrap_or_default();
    assert_eq!(
        html.matches("effect (log points (of 1 + y))").count(),
        2,
        "one event study and one sensitivity plot on the log scale"
    );
    assert_eq!(html.matches("effect (CNY)").count(), 2, "one event study and one sensitivity plot in yuan");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #21: a plan that declares its sample design (`design:`) gets design-based
/// standard errors in results.json and the report, with each headline estimate's design
/// effect. With PSUs and no strata or FPC, the design variance is the clustered one times
/// G/(G−1) (24 counties), exactly; strata change it. A design name that is neither a
/// household question nor a unit attribute is diagnosed at its line.
#[test]
fn a_declared_sample_design_gives_design_based_errors() {
    let se = |dir: &Path| -> (f64, Value) {
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/small/results.json")).unwrap_or_default())
                .unwrap_or(Value::Null);
        (results["outcomes"][0]["cs"]["simple"]["std_error"].as_f64().unwrap_or(f64::NAN), results)
    };
    let plain = study("run-design-plain", SMALL);
    let o = run_in(&plain, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (clustered, r0) = se(&plain);
    assert!(r0["outcomes"][0]["cs"]["design_effect"].is_null());

    let psu = study("run-design-psu", &format!("{SMALL}design: {{psu: county_id}}\n"));
    let o = run_in(&psu, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (by_psu, r1) = se(&psu);
    let g: f64 = 24.0;
    assert!(((by_psu / clustered) - (g / (g - 1.0)).sqrt()).abs() < 1e-9, "{by_psu} vs {clustered}");
    assert_eq!(r1["outcomes"][0]["cs"]["simple"]["att"], r0["outcomes"][0]["cs"]["simple"]["att"]);
    assert_eq!(r1["plan"]["design"]["psu"], "county_id");

    let strat = study(
        "run-design-strata",
        &format!("{SMALL}design: {{strata: corridor, psu: county_id, lonely_psu: adjust}}\n"),
    );
    let o = run_in(&strat, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (stratified, r2) = se(&strat);
    assert!((stratified - by_psu).abs() > 1e-9);
    let deff = r2["outcomes"][0]["cs"]["design_effect"].as_f64().unwrap_or(f64::NAN);
    assert!(deff.is_finite() && deff > 0.0, "{deff}");
    let md = std::fs::read_to_string(strat.join("out/small/report.md")).unwrap_or_default();
    assert!(
        md.contains("**Sample design.**") && md.contains("within strata (corridor)"),
        "{}",
        section(&md, "Methods")
    );
    assert!(md.contains(&format!("design effect {deff:.2}")), "{md}");

    let bad = study("run-design-bad", &format!("{SMALL}design: {{strata: provnce, psu: county_id}}\n"));
    let o = run_in(&bad, &["validate", "analysis/small.yaml"]);
    let err = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("small.yaml:") && err.contains("provnce"), "{err}");
    for d in [plain, psu, strat, bad] {
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// Issue #20: attrition planted by the simulator (10% of households a wave, 15 points more
/// in programme counties once treated) is found where it was planted: the report's
/// attrition table shows programme counties retaining fewer households, the differential
/// test is positive and significant, leavers are compared at baseline, Lee bounds bracket
/// the untrimmed difference, and the warning reaches "What to keep in mind". A study
/// without attrition has none of it.
#[test]
fn planted_differential_attrition_is_found_and_reported() {
    let plan = SMALL
        .replace("    households: 5\n", "    households: 20\n")
        .replace(
            "    same_within_unit: [region]\n",
            "    same_within_unit: [region]\n    attrition: 0.1\n    attrition_programme: 0.15\n",
        )
        .replace(
            "covariates: [corridor]\n",
            "covariates: [corridor]\nlinkage: {members: members, sex: sex, age: age, relation: relation, name: member_name}\n",
        );
    let dir = study("run-attrition", &plan);
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/small/results.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    let a = &results["attrition"];
    assert_eq!(a["baseline_wave"], 2019);
    let last = a["waves"].as_array().and_then(|w| w.last()).cloned().unwrap_or(Value::Null);
    let rate = |arm: &str| last[arm]["rate"].as_f64().unwrap_or(f64::NAN);
    // Comparison households: 0.9³ ≈ 0.73 retained by 2022; programme ones lose more.
    assert!((rate("comparison") - 0.729).abs() < 0.1, "{last}");
    assert!(rate("programme") < rate("comparison") - 0.05, "{last}");
    let d = &a["differential"];
    assert!(d["estimate"].as_f64().unwrap_or(0.0) > 0.0 && d["p_value"].as_f64().unwrap_or(1.0) < 0.05, "{d}");
    assert_eq!(a["leavers"].as_array().map(Vec::len), Some(2));
    for b in a["lee"].as_array().into_iter().flatten() {
        let (lo, hi, mid) = (b["lower"].as_f64(), b["upper"].as_f64(), b["untrimmed"].as_f64());
        assert!(lo <= mid && mid <= hi, "{b}");
        assert_eq!(b["trimmed_arm"], "comparison", "{b}");
        // The bootstrap over counties: standard errors, and an interval around the bounds.
        let inf = &b["inference"];
        let (cl, ch) = (inf["conf_low"].as_f64(), inf["conf_high"].as_f64());
        assert!(inf["lower_se"].as_f64().is_some_and(|s| s > 0.0) && cl < lo && ch > hi, "{b}");
    }
    // Issue #20: households followed by their members. Every household lost is found
    // to have vanished, none is taken for another (no reused key, no split), and the
    // simulated members, who keep their sex and relation and grow older, keep their IDs.
    let l = &results["linkage"];
    let findings = l["findings"].as_array().cloned().unwrap_or_default();
    let vanished = findings.iter().filter(|f| f["kind"] == "vanished").count();
    assert!(vanished > 40 && findings.iter().all(|f| f["kind"] == "vanished"), "{findings:?}");
    let waves = l["waves"].as_array().cloned().unwrap_or_default();
    let households = |i: usize| waves[i]["households"].as_u64().unwrap_or(0) as usize;
    assert_eq!(vanished, households(0) - households(waves.len() - 1), "{l}");
    // Baseline members are new; after it, nearly every member links to an earlier one
    // (the few new ones join households between waves).
    let (matched, new) = (l["links"]["matched"].as_u64().unwrap_or(0), l["links"]["new"].as_u64().unwrap_or(0));
    let baseline = waves[0]["members"].as_u64().unwrap_or(0);
    assert!(new >= baseline && (new - baseline) * 20 < matched, "{l}");
    assert!(!results.to_string().contains("member_name-"), "a name was written out");
    let md = std::fs::read_to_string(dir.join("out/small/report.md")).unwrap_or_default();
    assert!(md.contains("Households were followed across waves") && md.contains("last interviewed in"), "{md}");
    assert!(md.contains("## Attrition") && md.contains("Lee (2009) bounds") && md.contains("Imbens & Manski"), "{md}");
    assert!(section(&md, "What to keep in mind").contains("lost households at different rates"), "{md}");
    let html = std::fs::read_to_string(dir.join("out/small/report.html")).unwrap_or_default();
    assert!(html.contains("<h2>Attrition</h2>"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #20: waves of an earlier questionnaire are harmonised when stacked. Version
/// 2026.1 renames `income_total` to `household_income` (`renamed_from`) and merges "no
/// toilet" into "traditional pit latrine" (`recode: {4: 3}`); the plan analyses with it.
/// The three waves collected with 2025.1 are lined up: the outcome has values in every
/// wave, no old code is left, and the report's data-quality section lists each step.
#[test]
fn earlier_waves_are_renamed_and_recoded_when_stacked() {
    let dir = study("run-harmonise", SMALL);
    let v1 = std::fs::read_to_string(dir.join("surveys/border_household.yaml")).unwrap_or_default();
    let v2 = v1
        .replace("version: \"2025.1\"", "version: \"2026.1\"")
        .replace("${income_total}", "${household_income}")
        .replace(
            "          - name: income_total\n",
            "          - name: household_income\n            renamed_from: income_total\n",
        )
        .replace("    - {value: 4, label: {en: No toilet, zh: 无厕所}}\n", "")
        .replace(
            "            type: select_one toilet\n",
            "            type: select_one toilet\n            recode: {4: 3}\n",
        );
    assert!(v2.contains("renamed_from: income_total") && v2.contains("recode: {4: 3}"));
    std::fs::write(dir.join("surveys/border_household_v2.yaml"), &v2).unwrap_or_else(|e| panic!("{e}"));
    simulate_field(&dir, "surveys/border_household.yaml", "2019,2020,2021", "field", &["income_total=0.05"]);
    simulate_field(&dir, "surveys/border_household_v2.yaml", "2022", "field-v2", &["household_income=0.05"]);
    let old = |w: i64| {
        format!(
            "    {w}:\n      survey: ../surveys/border_household.yaml\n      files: [../field/{w}/border_household.csv, ../field/{w}/border_household-members.csv]\n"
        )
    };
    let plan = SMALL
        .replace("survey: ../surveys/border_household.yaml", "survey: ../surveys/border_household_v2.yaml")
        .replace(
            &SMALL[SMALL.find("  simulate:").unwrap_or(0)..SMALL.find("unit: {").unwrap_or(0)],
            &format!(
                "  waves:\n{}{}{}    2022: [../field-v2/2022/border_household.csv, ../field-v2/2022/border_household-members.csv]\n",
                old(2019),
                old(2020),
                old(2021)
            ),
        )
        .replace("unit: {question: county_id,", "unit: {table: ../field/units.csv, question: county_id,")
        .replace("name: income_total, label: Household income", "name: household_income, label: Household income");
    std::fs::write(dir.join("analysis/small.yaml"), &plan).unwrap_or_else(|e| panic!("{e}"));
    let o = run_in(&dir, &["run", "analysis/small.yaml", "--out", "out"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let out = dir.join("out/small");
    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap_or_default())
        .unwrap_or(Value::Null);
    for w in &results["data_quality"].as_array().cloned().unwrap_or_default()[..3] {
        let kinds: Vec<(&str, &str, u64)> = w["harmonised"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                (
                    h["question"].as_str().unwrap_or(""),
                    h["kind"].as_str().unwrap_or(""),
                    h["rows"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert!(kinds.iter().any(|(q, k, n)| *q == "household_income" && *k == "renamed" && *n > 0), "{kinds:?}");
        assert!(kinds.iter().any(|(q, k, n)| *q == "toilet_type" && *k == "recoded" && *n > 0), "{kinds:?}");
    }
    assert_eq!(results["data_quality"][3]["harmonised"].as_array().map(Vec::len), Some(0));
    // The outcome has values in all four waves.
    let trends = &results["outcomes"][1]["trends"];
    assert!(trends.as_array().is_some_and(|t| t.len() == 4 && t.iter().all(|w| w["programme"].is_f64())), "{trends}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    assert!(md.contains("lined up with version 2026.1") && md.contains("recoded 4 → 3"), "{md}");
    // `endline panel --survey` lines the ingested waves up the same way.
    let o = run_in(
        &dir,
        &[
            "panel",
            "out/small/data/2019",
            "out/small/data/2022",
            "--table",
            "border_household",
            "--survey",
            "surveys/border_household_v2.yaml",
            "--columns",
            "_wave,household_income,toilet_type",
            "--out",
            "p.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("recoded 4 → 3"), "{}", stdout(&o));
    let csv = std::fs::read_to_string(dir.join("p.csv")).unwrap_or_default();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().any(|r| r[0] == "2019" && !r[1].is_empty()), "{csv}");
    assert!(rows.iter().all(|r| r[2] != "4"), "no code 4 is left: {csv}");
    // Codes that swap meaning without a `recode`: a plan that uses the question is refused
    // at its line.
    let swapped = v1.replace("version: \"2025.1\"", "version: \"2026.1\"").replace(
        "    - {value: 3, label: {en: Traditional pit latrine, zh: 传统旱厕}}\n    - {value: 4, label: {en: No toilet, zh: 无厕所}}\n",
        "    - {value: 3, label: {en: No toilet, zh: 无厕所}}\n    - {value: 4, label: {en: Traditional pit latrine, zh: 传统旱厕}}\n",
    );
    assert_ne!(swapped, v1);
    std::fs::write(dir.join("surveys/border_household_v2.yaml"), swapped).unwrap_or_else(|e| panic!("{e}"));
    let with_toilet = plan.replace("household_income, label", "income_total, label").replace(
        "outcomes:\n",
        "outcomes:\n  - {name: sanitary, label: Sanitary toilet, question: toilet_type, category: [1, 2]}\n",
    );
    std::fs::write(dir.join("analysis/small.yaml"), &with_toilet).unwrap_or_else(|e| panic!("{e}"));
    let o = run_in(&dir, &["validate", "analysis/small.yaml"]);
    let err = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not-harmonised") && err.contains("`toilet_type` cannot be stacked across versions"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
