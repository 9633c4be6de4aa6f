//! Issue #21: `endline tabulate` against R's survey package. Every case of
//! `tests/data/survey/expected.json` (made by `tests/reference/survey_refs.R` with R 4.2.2
//! and survey 4.1-1, Debian bookworm, on the package's own California API samples) is run
//! with the flags it names and compared to 1e-6, relative: stratified with FPC, one- and
//! two-stage cluster with FPC and with replacement, domains, ratios, each lonely-PSU
//! option, and replicate weights (JK1, JKn, BRR, Fay, bootstrap).

use serde_json::Value;

use crate::{endline, root};

fn expected() -> Value {
    let path = root().join("tests/data/survey/expected.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run(data: &str, args: &[Value]) -> Value {
    let data = format!("tests/data/survey/{data}");
    let mut argv: Vec<String> = vec!["tabulate".into(), data];
    argv.extend(args.iter().map(|a| a.as_str().unwrap_or_default().to_string()));
    argv.extend(["--format".into(), "json".into()]);
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let o = endline(&refs);
    assert_eq!(o.status.code(), Some(0), "{argv:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{argv:?}: {e}"))
}

fn close(what: &str, got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs().max(1e-300);
    assert!(rel < 1e-6, "{what}: endline {got}, R {want} (relative difference {rel:e})");
}

#[test]
fn every_design_matches_r_survey() {
    let expected = expected();
    let cases = expected["cases"].as_array().unwrap_or_else(|| panic!("no cases"));
    assert!(cases.len() >= 20);
    let mut compared = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let out = run(case["data"].as_str().unwrap_or_default(), case["args"].as_array().unwrap_or(&Vec::new()));
        let got = out["estimates"].as_array().unwrap_or_else(|| panic!("{name}: no estimates"));
        for want in case["estimates"].as_array().unwrap_or(&Vec::new()) {
            let same = |e: &&Value| {
                e["statistic"] == want["statistic"]
                    && e["variable"] == want["variable"]
                    && e["domain"] == want["domain"]
            };
            let e = got.iter().find(same).unwrap_or_else(|| panic!("{name}: no estimate like {want}"));
            let what = format!("{name}: {} {} {}", want["statistic"], want["variable"], want["domain"]);
            for field in ["estimate", "std_error", "deff"] {
                if let Some(w) = want[field].as_f64() {
                    let g = e[field].as_f64().unwrap_or_else(|| panic!("{what}: no {field} in {e}"));
                    close(&format!("{what} {field}"), g, w);
                    compared += 1;
                }
            }
            // cv is the standard error over the estimate.
            let cv = e["cv"].as_f64().unwrap_or(f64::NAN);
            close(
                &format!("{what} cv"),
                cv,
                e["std_error"].as_f64().unwrap_or(0.0) / e["estimate"].as_f64().unwrap_or(1.0).abs(),
            );
        }
    }
    assert!(compared > 150, "{compared} numbers compared");
}

/// The published values the issue quotes: svymean(~api00) on the stratified design with
/// FPC, 662.29 (SE 9.4089); on the two-stage cluster design with both FPCs, 670.81 (SE 30.099).
#[test]
fn the_published_values() {
    let strat = run(
        "apistrat.csv",
        &["--mean", "api00", "--weights", "pw", "--strata", "stype", "--fpc", "fpc"].map(Value::from),
    );
    let e = &strat["estimates"][0];
    assert_eq!(
        format!("{:.2} {:.4}", e["estimate"].as_f64().unwrap_or(0.0), e["std_error"].as_f64().unwrap_or(0.0)),
        "662.29 9.4089"
    );
    let clus2 = run(
        "apiclus2.csv",
        &["--mean", "api00", "--psu", "dnum", "--ssu", "snum", "--fpc", "fpc1,fpc2"].map(Value::from),
    );
    let e = &clus2["estimates"][0];
    assert_eq!(
        format!("{:.2} {:.3}", e["estimate"].as_f64().unwrap_or(0.0), e["std_error"].as_f64().unwrap_or(0.0)),
        "670.81 30.099"
    );
    assert_eq!(clus2["design"]["df"], 39.0);
}

/// A proportion's interval is on the logit scale with the design's degrees of freedom,
/// as svyciprop(method = "logit") computes it.
#[test]
fn a_proportion_has_a_logit_interval() {
    let want = &expected()["logit"];
    let out = run(want["data"].as_str().unwrap_or_default(), want["args"].as_array().unwrap_or(&Vec::new()));
    let e = &out["estimates"][0];
    assert_eq!(e["interval"], "logit");
    for field in ["estimate", "conf_low", "conf_high"] {
        close(field, e[field].as_f64().unwrap_or(f64::NAN), want[field].as_f64().unwrap_or(0.0));
    }
    assert_eq!(out["design"]["df"].as_f64(), want["df"].as_f64());
}

/// A lonely PSU fails by default, naming its stratum; a PSU code that appears in two
/// strata, an FPC that varies within a stratum and a missing design variable are refused
/// with a message, exit 1.
#[test]
fn design_errors_are_messages() {
    for (args, message) in [
        (
            vec!["--mean", "api00", "--weights", "pw", "--strata", "lstrat", "--psu", "dnum"],
            "stratum `B` has only one PSU",
        ),
        (vec!["--mean", "api00", "--weights", "pw", "--psu", "dnum", "--fpc", "api99"], "FPC differs within stratum"),
        (vec!["--mean", "api00", "--weights", "nope"], "no column `nope`"),
        (vec!["--mean", "api00", "--repweights", "jk", "--rep-type", "jkn"], "--rep-rscales"),
        (vec!["--ratio", "api00"], "NUM/DEN"),
    ] {
        let mut argv = vec!["tabulate", "tests/data/survey/apiclus1.csv"];
        argv.extend(args);
        let o = endline(&argv);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{argv:?}: {err}");
        assert!(err.contains(message), "{argv:?}: {err}");
    }
}

/// `endline estimate` under a design against R's svyglm with the fixed effects as dummies
/// (R has no absorbed fixed effects under a design): the coefficients and their
/// design-based standard errors to 1e-6, for stratified, one- and two-stage cluster,
/// lonely-PSU and replicate-weight designs (`regressions` of expected.json).
#[test]
fn regressions_under_a_design_match_svyglm() {
    let expected = expected();
    let cases = expected["regressions"].as_array().unwrap_or_else(|| panic!("no regressions"));
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let data = format!("tests/data/survey/{}", case["data"].as_str().unwrap_or_default());
        let formula = case["formula"].as_str().unwrap_or_default();
        let mut argv = vec!["estimate", data.as_str(), "-f", formula, "--format", "json"];
        let extra: Vec<&str> = case["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        argv.extend(extra);
        let o = endline(&argv);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let fit: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(fit["vcov"].as_str().is_some_and(|v| v.starts_with("design")), "{name}: {}", fit["vcov"]);
        for want in case["coefficients"].as_array().into_iter().flatten() {
            let term = &want["term"];
            let got = fit["coefficients"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["term"] == *term))
                .unwrap_or_else(|| panic!("{name}: no {term} in {}", fit["coefficients"]));
            for field in ["estimate", "std_error"] {
                close(
                    &format!("{name} {term} {field}"),
                    got[field].as_f64().unwrap_or(f64::NAN),
                    want[field].as_f64().unwrap_or(0.0),
                );
            }
        }
    }
    // A design and --vcov together are refused.
    let o = endline(&[
        "estimate",
        "tests/data/survey/apiclus1.csv",
        "-f",
        "api00 ~ ell",
        "--psu",
        "dnum",
        "--vcov",
        "hetero",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
