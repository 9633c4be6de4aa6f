//! `endline did --honest`: the sensitivity analysis and pre-test power end to end, on the
//! HonestDiD README's Medicaid example (tests/data/honest, with provenance) and on mpdta.

use crate::{endline, json_of, num, scratch};

/// The README's sample: years before 2016, the 2015 cohort dropped.
fn medicaid_csv() -> std::path::PathBuf {
    let dir = scratch("honest-medicaid");
    let text = std::fs::read_to_string(crate::root().join("tests/data/honest/ehec_data.csv"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::from("stfips,year,dins,yexp2\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (year, cohort) = (f[1].trim_matches('"'), f[3].trim_matches('"'));
        if year.parse::<i64>().unwrap_or(9999) < 2016 && cohort != "2015" {
            out.push_str(&format!("{},{year},{},{cohort}\n", f[0], f[2]));
        }
    }
    let path = dir.join("ehec.csv");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// `endline did DATA` with the Medicaid columns.
fn did_args(data: &str) -> Vec<&str> {
    vec!["did", data, "--outcome", "dins", "--unit", "stfips", "--time", "year", "--cohort", "yexp2"]
}

fn medicaid(extra: &[&str]) -> std::process::Output {
    let data = medicaid_csv();
    let mut args = did_args(data.to_str().unwrap_or_default());
    args.extend(["--method", "event"]);
    args.extend_from_slice(extra);
    endline(&args)
}

#[test]
fn relative_magnitudes_on_the_medicaid_event_study_match_the_published_intervals() {
    let v = json_of(&medicaid(&["--honest", "rm", "--mbar", "0.5,1,1.5,2", "--format", "json"]));
    let h = &v["honest"];
    assert_eq!(
        (h["restriction"].as_str(), h["method"].as_str(), h["target"].as_str()),
        (Some("rm"), Some("C-LF"), Some("first"))
    );
    // The original interval is the 2014 coefficient ± 1.96 s.e. of pyfixest 0.60.0's fit.
    let (b, se) = (0.046_446_864_502_164_245, 8.375_674_028_516_17e-5f64.sqrt());
    assert!((num(&h["original"]["lb"]) - (b - 1.959_963_984_540_054 * se)).abs() < 1e-9);
    // HonestDiD README (R, grid of 1,000 points, 1,000 draws for the critical value).
    let published = [(0.5, 0.0241, 0.0673), (1.0, 0.0171, 0.0720), (1.5, 0.00859, 0.0796), (2.0, -0.00107, 0.0883)];
    let intervals = h["intervals"].as_array().cloned().unwrap_or_default();
    assert_eq!(intervals.len(), 4);
    for (got, (mbar, lb, ub)) in intervals.iter().zip(published) {
        assert_eq!(num(&got["mbar"]), mbar);
        assert!(got.get("m").is_none());
        assert!((num(&got["lb"]) - lb).abs() < 1.4e-3 && (num(&got["ub"]) - ub).abs() < 1.4e-3, "{got}");
    }
    let breakdown = num(&h["breakdown"]);
    assert!(breakdown > 1.5 && breakdown < 2.0, "{breakdown}");
    let p = &v["pretrend_power"];
    assert!(num(&p["any_significant"]["slope_50"]) < num(&p["any_significant"]["slope_80"]));
}

#[test]
fn smoothness_and_its_text_say_up_to_what_violation_the_effect_holds() {
    let o = medicaid(&["--honest", "sd", "--m", "0,0.01,0.02,0.03", "--pretrend-slope", "0.002"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("smoothness (FLCI)"), "{text}");
    // README: [0.0259, 0.0607] at M = 0 and [-0.00714, 0.101] at M = 0.03.
    assert!(text.contains("[0.02597, 0.06072]") && text.contains("[-0.007165, 0.1007]"), "{text}");
    assert!(text.contains("by less than 0.0228 per period in slope (breakdown M = 0.0228)"), "{text}");
    assert!(text.contains("Against a slope of 0.002000"), "{text}");
}

#[test]
fn callaway_santanna_needs_a_universal_base_and_then_runs_on_its_dynamic_effects() {
    let mpdta = "crates/endline-analysis/tests/data/did/mpdta.csv";
    let base = ["did", mpdta, "--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        endline(&a)
    };
    let varying = run(&["--method", "cs", "--honest", "rm"]);
    assert_eq!(varying.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&varying.stderr).contains("--base-period universal"));
    let v = json_of(&run(&[
        "--method",
        "cs",
        "--base-period",
        "universal",
        "--honest",
        "sdrm",
        "--mbar",
        "0,1",
        "--honest-target",
        "average",
        "--format",
        "json",
    ]));
    let h = &v["honest"];
    assert_eq!((h["restriction"].as_str(), h["target"].as_str()), (Some("sdrm"), Some("average")));
    // The target is the mean of the post-period dynamic effects (e = 0..3).
    let by = v["aggregate"]["dynamic"]["by"].as_array().cloned().unwrap_or_default();
    let post: Vec<f64> = by.iter().filter(|b| num(&b["event_time"]) >= 0.0).map(|b| num(&b["att"])).collect();
    assert_eq!(post.len(), 4);
    assert!((num(&h["estimate"]) - post.iter().sum::<f64>() / 4.0).abs() < 1e-12);
    let iv = h["intervals"].as_array().cloned().unwrap_or_default();
    assert!(num(&iv[1]["lb"]) <= num(&iv[0]["lb"]) && num(&iv[1]["ub"]) >= num(&iv[0]["ub"]));
}

#[test]
fn misused_sensitivity_flags_are_usage_errors() {
    for (extra, says) in [
        (vec!["--method", "twfe", "--honest", "rm"], "--method event or --method cs"),
        (vec!["--honest", "sd", "--mbar", "1"], "smoothness (sd) takes --m"),
        (vec!["--honest", "rm", "--m", "0.1"], "rm takes --mbar"),
        (vec!["--honest", "rm", "--honest-target", "last"], "first, average or e=K"),
        (vec!["--mbar", "1"], "add --honest"),
        (vec!["--honest", "rm", "--mbar", "-1"], "at least 0"),
    ] {
        let mut args = did_args("tests/data/honest/ehec_data.csv");
        if !extra.contains(&"--method") {
            args.extend(["--method", "event"]);
        }
        args.extend(extra.iter());
        let o = endline(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(says), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    // A post period the event study does not have: the data's fault, exit 1.
    let o = medicaid(&["--honest", "rm", "--honest-target", "e=5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("e=0 to e=1"));
}
