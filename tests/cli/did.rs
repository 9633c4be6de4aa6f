//! `endline did`: the JSON contract on mpdta, methods, errors and exit codes.

use crate::{endline, scratch, stdout};

const MPDTA: &str = "crates/endline-analysis/tests/data/did/mpdta.csv";

fn did(extra: &[&str]) -> std::process::Output {
    let mut args =
        vec!["did", MPDTA, "--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"];
    args.extend_from_slice(extra);
    endline(&args)
}

fn json(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cs_json_follows_the_contract() {
    let v = json(&did(&["--method", "cs", "--format", "json"]));
    assert_eq!(v["method"], "cs");
    assert_eq!(v["control"], "never");
    assert_eq!((v["n_units"].as_u64(), v["n_obs"].as_u64()), (Some(500), Some(2500)));
    let first = &v["att_gt"][0];
    // R did (and moderndid 0.2.0): ATT(2004,2004) = -0.0105032, s.e. 0.0232510.
    assert_eq!((first["group"].as_i64(), first["time"].as_i64()), (Some(2004), Some(2004)));
    assert!((first["att"].as_f64().unwrap_or(0.0) + 0.010_503_246_220_961_885).abs() < 1e-9);
    for k in ["std_error", "conf_low", "conf_high"] {
        assert!(first[k].is_f64(), "{k}");
    }
    let agg = &v["aggregate"];
    assert!((agg["simple"]["att"].as_f64().unwrap_or(0.0) + 0.0400).abs() < 1e-3);
    assert!(agg["dynamic"]["overall"]["std_error"].is_f64());
    assert_eq!(agg["dynamic"]["by"][0]["event_time"], -3);
    assert_eq!(agg["group"]["by"][0]["group"], 2004);
    assert_eq!(agg["calendar"]["by"][0]["time"], 2004);
    let pt = &v["pretrend_test"];
    assert_eq!(pt["df"], 5);
    assert!(pt["statistic"].is_f64() && pt["p_value"].is_f64());
}

#[test]
fn event_study_has_event_times_and_a_pretrend_test() {
    let v = json(&did(&["--method", "event", "--format", "json"]));
    let coefs = v["coefficients"].as_array().cloned().unwrap_or_default();
    let times: Vec<i64> = coefs.iter().filter_map(|c| c["event_time"].as_i64()).collect();
    assert_eq!(times, [-4, -3, -2, 0, 1, 2, 3]);
    assert_eq!(coefs[0]["term"], "rel_time::-4");
    assert_eq!(v["pretrend_test"]["df"], 3);
    let binned = json(&did(&["--method", "event", "--min-event", "-2", "--max-event", "2", "--format", "json"]));
    let times: Vec<i64> =
        binned["coefficients"].as_array().into_iter().flatten().filter_map(|c| c["event_time"].as_i64()).collect();
    assert_eq!(times, [-2, 0, 1, 2]);
}

#[test]
fn bootstrap_bands_are_seeded_and_wider_than_pointwise() {
    let a = did(&["--se", "bootstrap", "--seed", "5", "--bootstrap-reps", "499", "--format", "json"]);
    let b = did(&["--se", "bootstrap", "--seed", "5", "--bootstrap-reps", "499", "--format", "json"]);
    assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
    let v = json(&a);
    let crit = v["critical_value"].as_f64().unwrap_or(0.0);
    assert!(crit > 1.96 && crit < 4.0, "uniform band critical value {crit}");
}

#[test]
fn static_twfe_and_errors() {
    let v = json(&did(&["--method", "twfe", "--format", "json"]));
    assert_eq!(v["coefficients"][0]["term"], "treat_post");
    assert!((v["coefficients"][0]["estimate"].as_f64().unwrap_or(0.0) + 0.0365).abs() < 1e-3);
    let o = did(&["--method", "2x2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("one treated cohort"));
    let o = endline(&[
        "did",
        MPDTA,
        "--outcome",
        "lemp",
        "--unit",
        "countyreal",
        "--time",
        "year",
        "--cohort",
        "first_treat",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `first.treat`?"));
}

#[test]
fn duplicated_unit_periods_are_an_error() {
    let dir = scratch("did-dup");
    let path = dir.join("dup.csv");
    std::fs::write(&path, "u,t,g,y\n1,2000,0,1.0\n1,2000,0,2.0\n2,2000,2001,1.5\n2,2001,2001,2.5\n1,2001,0,1.1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let o =
        endline(&["did", &path.display().to_string(), "--outcome", "y", "--unit", "u", "--time", "t", "--cohort", "g"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("unit 1 appears twice in period 2000 (row 2)"), "{err}");
    let _ = stdout(&o);
}

#[test]
fn sun_abraham_and_bacon_from_the_command_line() {
    let v = json(&did(&["--method", "sa", "--format", "json"]));
    assert_eq!(v["control"], "never");
    let e0 =
        v["coefficients"].as_array().into_iter().flatten().find(|c| c["event_time"] == 0).cloned().unwrap_or_default();
    // pyfixest 0.60.0 saturated event study, aggregated: -0.019931816789259187.
    assert!((e0["estimate"].as_f64().unwrap_or(0.0) + 0.019_931_816_789_259_187).abs() < 1e-9);
    let b = json(&did(&["--method", "bacon", "--format", "json"]));
    let total: f64 = b["comparisons"].as_array().into_iter().flatten().filter_map(|c| c["weight"].as_f64()).sum();
    assert!((total - 1.0).abs() < 1e-10);
    assert!((b["twfe"].as_f64().unwrap_or(0.0) + 0.0365).abs() < 1e-3);
}

#[test]
fn balance_table_from_the_command_line() {
    let data = "crates/endline-analysis/tests/data/reference/e_household_wls.csv";
    let o = endline(&[
        "balance",
        data,
        "--group",
        "treated_county",
        "--vars",
        "age,urban",
        "--vcov",
        "cluster:county_id",
        "--format",
        "json",
    ]);
    let v = json(&o);
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2);
    let d = rows[1]["difference"].as_f64().unwrap_or(f64::NAN);
    let (m0, m1) = (rows[1]["mean_control"].as_f64().unwrap_or(0.0), rows[1]["mean_treated"].as_f64().unwrap_or(0.0));
    assert!((d - (m1 - m0)).abs() < 1e-10, "the OLS difference is the difference in means");
    assert_eq!(v["joint_test"]["df1"], 2);
    assert_eq!(
        endline(&["balance", data, "--group", "age", "--vars", "urban"]).status.code(),
        Some(1),
        "the group must be 0/1"
    );
}

/// Callaway & Sant'Anna under a sample design (issue #21): the aggregated influence
/// functions' totals are summed within PSUs and strata. Two identities pin the plumbing to
/// the estimates that match R `did`: with every county its own PSU, the design variance is
/// R did's n/(n−1) times; with states as PSUs, the clustered variance G/(G−1) times. A
/// design variable that varies within a unit is refused.
#[test]
fn callaway_santanna_under_a_sample_design() {
    let dir = scratch("did-design");
    let text = std::fs::read_to_string(crate::root().join(MPDTA)).unwrap_or_default();
    let mut lines = text.lines();
    let mut out = format!("{},state,region,wobble,r1,r2\n", lines.next().unwrap_or_default());
    for (i, line) in lines.enumerate() {
        let county: i64 = line.split(',').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let state = county / 1000;
        out.push_str(&format!("{line},{state},{},{},1,1\n", if state < 30 { "west" } else { "east" }, i % 2));
    }
    let data = dir.join("mpdta-design.csv");
    std::fs::write(&data, out).unwrap_or_else(|e| panic!("{e}"));
    let data = data.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec!["did", &data, "--outcome", "lemp", "--unit", "countyreal", "--time", "year"];
        args.extend(["--cohort", "first.treat", "--method", "cs", "--format", "json"]);
        args.extend_from_slice(extra);
        json(&endline(&args))
    };
    let se = |v: &serde_json::Value, path: &[&str]| -> f64 {
        let mut x = v;
        for p in path {
            x = &x[*p];
        }
        x["std_error"].as_f64().unwrap_or(f64::NAN)
    };
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    let plain = run(&[]);
    let own_psu = run(&["--psu", "countyreal"]);
    let n: f64 = 500.0;
    for path in [&["aggregate", "simple"][..], &["aggregate", "dynamic", "overall"], &["att_gt", "0"]] {
        let path: Vec<&str> = path.to_vec();
        let (a, b) = if path[0] == "att_gt" {
            (
                own_psu["att_gt"][0]["std_error"].as_f64().unwrap_or(0.0),
                plain["att_gt"][0]["std_error"].as_f64().unwrap_or(1.0),
            )
        } else {
            (se(&own_psu, &path), se(&plain, &path))
        };
        assert!(rel(a, b * (n / (n - 1.0)).sqrt()) < 1e-9, "{path:?}: {a} vs {b}");
    }
    let clustered = run(&["--cluster", "state"]);
    let by_state = run(&["--psu", "state"]);
    let g: f64 = 29.0; // states in mpdta
    let (a, b) = (se(&by_state, &["aggregate", "simple"]), se(&clustered, &["aggregate", "simple"]));
    assert!(rel(a, b * (g / (g - 1.0)).sqrt()) < 1e-9, "{a} vs {b}");
    // Strata change the standard error, not the estimate.
    let strat = run(&["--psu", "state", "--strata", "region"]);
    assert_eq!(strat["aggregate"]["simple"]["att"], plain["aggregate"]["simple"]["att"]);
    assert!(rel(se(&strat, &["aggregate", "simple"]), a) > 1e-6);
    assert!(strat["pretrend_test"]["statistic"].is_f64());
    // A design variable must be one value per unit.
    let mut args = vec!["did", &data, "--outcome", "lemp", "--unit", "countyreal", "--time", "year"];
    args.extend(["--cohort", "first.treat", "--psu", "wobble"]);
    let o = endline(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("differs within unit"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Replicate weights are refused, not ignored.
    let mut args = vec!["did", &data, "--outcome", "lemp", "--unit", "countyreal", "--time", "year"];
    args.extend(["--cohort", "first.treat", "--repweights", "r", "--rep-type", "jk1"]);
    let o = endline(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("replicate weights are not available"), "{err}");
}
