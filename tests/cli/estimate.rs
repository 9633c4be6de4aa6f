//! `endline estimate`: the JSON contract, the table, errors and exit codes.

use crate::{endline, stdout};

const CASTLE: &str = "crates/endline-analysis/tests/data/reference/b_castle_twfe.csv";

#[test]
fn json_follows_the_contract_and_matches_pyfixest() {
    let o = endline(&[
        "estimate",
        CASTLE,
        "--formula",
        "l_homicide ~ post | sid + year",
        "--vcov",
        "cluster:sid",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["formula"], "l_homicide ~ post | sid + year");
    assert_eq!(v["n_obs"], 550);
    assert_eq!(v["vcov"], "cluster:sid");
    assert_eq!(v["dof_resid"], 49);
    assert!(v["r2"].is_f64() && v["r2_within"].is_f64());
    let c = &v["coefficients"][0];
    assert_eq!(c["term"], "post");
    // pyfixest 0.60.0, CRV1(sid): 0.06939843388545162 (0.05585963569555157).
    let rel = |got: &serde_json::Value, want: f64| (got.as_f64().unwrap_or(0.0) - want).abs() / want.abs();
    assert!(rel(&c["estimate"], 0.069_398_433_885_451_62) < 1e-8);
    assert!(rel(&c["std_error"], 0.055_859_635_695_551_57) < 1e-7);
    for key in ["statistic", "p_value", "conf_low", "conf_high"] {
        assert!(c[key].is_f64(), "{key}");
    }
}

#[test]
fn several_formulas_side_by_side() {
    let o = endline(&[
        "estimate",
        CASTLE,
        "-f",
        "l_homicide ~ post | sid + year",
        "-f",
        "l_homicide ~ post + poverty | sid + year",
        "--vcov",
        "hetero",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let header = out.lines().next().unwrap_or("");
    assert!(header.contains("(1)") && header.contains("(2)"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("post") && l.matches("0.0").count() == 2), "{out}");
    assert!(out.contains("poverty") && out.contains("Observations") && out.contains("hetero"));
    let json = endline(&[
        "estimate",
        CASTLE,
        "-f",
        "l_homicide ~ post | sid",
        "-f",
        "l_homicide ~ post | year",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.as_array().map(Vec::len), Some(2));
}

#[test]
fn estimation_errors_exit_1_with_a_clear_message() {
    let o = endline(&["estimate", CASTLE, "-f", "l_homicide ~ postt | sid"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column `postt` in the data; did you mean `post`?"));
    let o = endline(&["estimate", CASTLE, "-f", "l_homicide ~ post +"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains("invalid formula") && err.contains("  | l_homicide ~ post +\n  |                    ^"),
        "{err}"
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(endline(&["estimate", CASTLE, "-f", "l_homicide ~ post", "--vcov", "robust"]).status.code(), Some(2));
    assert_eq!(endline(&["estimate", "missing.csv", "-f", "y ~ x"]).status.code(), Some(2));
    assert_eq!(endline(&["estimate", CASTLE]).status.code(), Some(2));
    assert_eq!(endline(&["estimate", "README.md", "-f", "y ~ x"]).status.code(), Some(2));
}

#[test]
fn wild_bootstrap_is_reproducible() {
    let args = [
        "estimate",
        CASTLE,
        "-f",
        "l_homicide ~ post | sid + year",
        "--vcov",
        "cluster:sid",
        "--bootstrap",
        "199",
        "--seed",
        "7",
        "--format",
        "json",
    ];
    let a = endline(&args);
    let b = endline(&args);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap_or_else(|e| panic!("{e}"));
    let p = v["coefficients"][0]["wild_bootstrap"]["p_value"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=1.0).contains(&p));
}
