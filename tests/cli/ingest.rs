//! `endline ingest`: outputs, summary and exit codes.

use crate::{endline, scratch, stdout};

const SURVEY: &str = "crates/endline-ingest/tests/data/hh.yaml";
const HH: &str = "crates/endline-ingest/tests/data/hh.csv";
const MEMBERS: &str = "crates/endline-ingest/tests/data/hh-members.csv";

#[test]
fn ingest_writes_the_contracted_outputs_and_a_summary() {
    let out = scratch("ingest").join("wave2025");
    let o = endline(&["ingest", SURVEY, HH, MEMBERS, "--wave", "2025", "--out", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["hh", "9", "2", "7"]), "{text}");
    assert!(text.contains("top problems"));
    for f in ["hh.parquet", "hh.pii.parquet", "members.parquet", "ingest.json", "rejects/hh.csv", "rejects/members.csv"]
    {
        assert!(out.join(f).exists(), "{f}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ingest.json")).unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        (v["survey"].as_str(), v["version"].as_str(), v["wave"].as_str()),
        (Some("hh"), Some("1"), Some("2025"))
    );
    let issue = &v["issues"].as_array().cloned().unwrap_or_default()[1];
    for k in ["table", "file", "row", "key", "column", "rule", "severity", "value", "message"] {
        assert!(issue.get(k).is_some(), "issue field {k}");
    }
}

#[test]
fn on_error_fail_exits_1_and_writes_nothing() {
    let out = scratch("ingest-fail").join("out");
    let o = endline(&[
        "ingest",
        SURVEY,
        HH,
        MEMBERS,
        "--wave",
        "2025",
        "--out",
        &out.display().to_string(),
        "--on-error",
        "fail",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was written"));
    assert!(!out.exists());
}

#[test]
fn usage_and_data_errors() {
    let out = scratch("ingest-errors").join("out");
    let o = endline(&["ingest", SURVEY, "README.md", "--wave", "1", "--out", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "a file that is no table of the survey");
    let o = endline(&["ingest", SURVEY, "hh=missing.csv", "--wave", "1", "--out", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "an unreadable file");
    let bad = scratch("ingest-ragged").join("hh.csv");
    std::fs::create_dir_all(bad.parent().unwrap_or(&out)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&bad, "hh_id,info-size\nH001,1\nH002\n").unwrap_or_else(|e| panic!("{e}"));
    let o =
        endline(&["ingest", SURVEY, &bad.display().to_string(), "--wave", "1", "--out", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "a ragged file is invalid data");
    assert!(String::from_utf8_lossy(&o.stderr).contains("row 2") && !out.exists());
}

/// The pipeline on a small simulated study: simulate → ingest two waves → panel → did.
#[test]
fn simulate_ingest_panel_did() {
    let dir = scratch("pipeline");
    let d = |p: &str| dir.join(p).display().to_string();
    let o = endline(&[
        "simulate",
        "surveys/border_household.yaml",
        "--out",
        &d("field"),
        "--seed",
        "4",
        "--unit-question",
        "county_id",
        "--units",
        "12",
        "--households",
        "6",
        "--waves",
        "2019,2021,2023",
        "--adoption",
        "2021",
        "--answer",
        "consent=1",
        "--effect",
        "specialty_output=0.1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    for wave in ["2019", "2021", "2023"] {
        let o = endline(&[
            "ingest",
            "surveys/border_household.yaml",
            &d(&format!("field/{wave}/border_household.csv")),
            &d(&format!("field/{wave}/border_household-members.csv")),
            "--wave",
            wave,
            "--out",
            &d(&format!("ingested/{wave}")),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            stdout(&o)
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["border_household", "72", "72", "0"]),
            "{}",
            stdout(&o)
        );
    }
    let o = endline(&[
        "panel",
        &d("ingested/2019"),
        &d("ingested/2021"),
        &d("ingested/2023"),
        "--table",
        "border_household",
        "--log",
        "specialty_output",
        "--join",
        &d("field/units.csv"),
        "--on",
        "county_id",
        "--out",
        &d("panel.parquet"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).starts_with("216 rows"), "{}", stdout(&o));
    let o = endline(&[
        "did",
        &d("panel.parquet"),
        "--outcome",
        "log_specialty_output",
        "--unit",
        "household_id",
        "--time",
        "_wave",
        "--cohort",
        "first_treated",
        "--cluster",
        "county_id",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let att = v["aggregate"]["simple"]["att"].as_f64().unwrap_or(f64::NAN);
    assert!((att - 0.1).abs() < 0.1, "ATT {att}");
    // Aggregated to counties with survey weights.
    let o = endline(&[
        "panel",
        &d("ingested/2019"),
        &d("ingested/2021"),
        "--table",
        "border_household",
        "--by",
        "county_id,_wave",
        "--means",
        "specialty_output",
        "--weights",
        "weight",
        "--out",
        &d("counties.csv"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("24 rows"), "{}", stdout(&o));
}

/// An export larger than `--batch-mb` is checked in batches: the same summary and
/// ingest.json as in one batch; a ragged row deep in the file still fails the whole run.
#[test]
fn large_exports_are_checked_in_batches() {
    let dir = scratch("ingest-batches");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let read = |p: &str| std::fs::read_to_string(crate::root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (hh, members) = (read(HH), read(MEMBERS));
    // About 1.5 MB: the fixture 1,500 times, keys renamed per copy, rosters after their parents.
    let mut hh_out = hh.lines().next().unwrap_or_default().to_string() + "\n";
    let mut members_out = members.lines().next().unwrap_or_default().to_string() + "\n";
    for copy in 0..1500 {
        for line in hh.lines().skip(1) {
            hh_out += &(line.replace(",H0", &format!(",H{copy}-")).replace("uuid:", &format!("uuid:{copy}-")) + "\n");
        }
        let mut rows: Vec<&str> = members.lines().skip(1).filter(|l| !l.contains("zzz")).collect();
        rows.sort_by_key(|l| l.split(",uuid:").nth(1).and_then(|k| k.chars().next()));
        for line in rows {
            members_out += &(line.replace("uuid:", &format!("uuid:{copy}-")) + "\n");
        }
    }
    let (hh_path, members_path) = (dir.join("hh.csv"), dir.join("hh-members.csv"));
    std::fs::write(&hh_path, &hh_out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&members_path, &members_out).unwrap_or_else(|e| panic!("{e}"));
    let run = |batch: &str, out: &std::path::Path| {
        endline(&[
            "ingest",
            SURVEY,
            &hh_path.display().to_string(),
            &members_path.display().to_string(),
            "--wave",
            "2025",
            "--out",
            &out.display().to_string(),
            "--batch-mb",
            batch,
            // The renamed keys (H12-01) break the key's pattern, so every household is
            // rejected; this test compares batchings, so it accepts that.
            "--max-reject-share",
            "1",
        ])
    };
    let (one, many) = (dir.join("one"), dir.join("many"));
    let (a, b) = (run("64", &one), run("1", &many));
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(stdout(&a).replace("/one", "/many"), stdout(&b));
    let json = |d: &std::path::Path| std::fs::read_to_string(d.join("ingest.json")).unwrap_or_default();
    assert!(json(&one).len() > 1000 && json(&one) == json(&many));
    // A ragged row near the end: exit 1, nothing written, the row named.
    std::fs::write(&hh_path, hh_out + "H9-999,2025-06-01\n").unwrap_or_else(|e| panic!("{e}"));
    let failed = dir.join("failed");
    let o = run("1", &failed);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("row 13501") && err.contains("ragged") && !failed.exists(), "{err}");
}

/// A table whose every record is rejected exited 0 (issue #18): it is exit 1, with the
/// outputs written; --max-reject-share sets the bar.
#[test]
fn rejecting_every_record_or_too_many_exits_1() {
    let dir = scratch("ingest-share");
    let data = dir.join("hh.csv");
    std::fs::write(&data, "hh_id,info-size,info-coop,KEY\nbad1,1,0,uuid:a\nbad2,1,0,uuid:b\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let input = format!("hh={}", data.display());
    let run = |extra: &[&str], out: &str| {
        let out = dir.join(out);
        let shown = out.display().to_string();
        let mut args = vec!["ingest", SURVEY, input.as_str(), "--wave", "1", "--out", shown.as_str()];
        args.extend_from_slice(extra);
        (endline(&args), out)
    };
    let (o, out) = run(&[], "a");
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("table `hh` rejected every one of its 2 records"));
    assert!(out.join("rejects/hh.csv").exists() && out.join("ingest.json").exists());
    let (o, _) = run(&["--max-reject-share", "1"], "b");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let (o, _) = run(&["--max-reject-share", "1.5"], "c");
    assert_eq!(o.status.code(), Some(2));
    let (o, _) = run(&["--max-reject-share", "0.5"], "d");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rejected 2 of 2 records (100.0%)"));
}
