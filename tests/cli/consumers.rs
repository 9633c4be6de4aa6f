//! Issue #19: the tables endline writes open in the tools users open them with. An
//! ingested wave of every type (a select_multiple of numbers and of words, a date, a
//! datetime, a geopoint in the personal side table) and a stacked panel as Parquet and as
//! CSV (each select_multiple split into 0/1 columns) are opened with pandas (both
//! backends), pyarrow, DuckDB and polars by `tests/consumers/open_tables.py`.
//!
//! Exports for Stata (`endline export --to dta`) are read back with pandas' read_stata
//! and pyreadstat by `tests/consumers/read_dta.py`: values, variable and value labels,
//! and the declared missing codes as Stata's extended missing values.
//!
//! Python with those packages is found at `$ENDLINE_PYTHON` or in the virtual
//! environment `.ci/run` makes (`~/.cache/endline-venv`). Without it the test is skipped,
//! unless `ENDLINE_REQUIRE_PYTHON` is set (CI).

use std::path::PathBuf;
use std::process::Command;

use crate::{endline, root, scratch, stdout};

pub(crate) fn python() -> Option<PathBuf> {
    let candidates = std::env::var_os("ENDLINE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/endline-venv/bin/python")));
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "import pandas, pyarrow, duckdb, polars, pyreadstat"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(p);
        }
    }
    None
}

#[test]
fn every_table_opens_in_pandas_pyarrow_duckdb_and_polars() {
    let Some(python) = python() else {
        assert!(
            std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(),
            "Python with pandas, pyarrow, duckdb, polars and pyreadstat is required"
        );
        eprintln!("skipped: no Python with pandas, pyarrow, duckdb and polars");
        return;
    };
    let dir = scratch("consumers");
    let d = |p: &str| dir.join(p).display().to_string();
    let mut opened = Vec::new();
    for (survey, unit, answer, name) in [
        ("crates/endline-survey/tests/data/valid/all-types.yaml", "i", "so=a", "all_types"),
        ("surveys/border_household.yaml", "county_id", "consent=1", "border_household"),
    ] {
        let field = d(&format!("field-{name}"));
        let o = endline(&[
            "simulate",
            survey,
            "--out",
            &field,
            "--unit-question",
            unit,
            "--units",
            "4",
            "--households",
            "5",
            "--waves",
            "2019,2020",
            "--adoption",
            "2020",
            "--answer",
            answer,
            "--missing-rate",
            "0.3",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let mut waves = Vec::new();
        for wave in ["2019", "2020"] {
            let files: Vec<String> = std::fs::read_dir(dir.join(format!("field-{name}/{wave}")))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().display().to_string())
                .collect();
            let out = d(&format!("data-{name}/{wave}"));
            let mut args = vec!["ingest", survey];
            args.extend(files.iter().map(String::as_str));
            args.extend(["--wave", wave, "--out", &out]);
            let o = endline(&args);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            waves.push(out);
        }
        for ext in ["parquet", "csv"] {
            let mut args = vec!["panel"];
            args.extend(waves.iter().map(String::as_str));
            let out = d(&format!("panel-{name}.{ext}"));
            args.extend(["--table", name, "--out", &out]);
            let o = endline(&args);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        }
        // The panel for Stata users too, beside its Parquet twin, read back like an export.
        for ext in ["parquet", "dta"] {
            let mut args = vec!["panel"];
            args.extend(waves.iter().map(String::as_str));
            let out = d(&format!("panel-dta-{name}/{name}.{ext}"));
            args.extend(["--table", name, "--out", &out]);
            let o = endline(&args);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let panel = d(&format!("panel-dta-{name}"));
        let o = Command::new(&python)
            .arg(root().join("tests/consumers/read_dta.py"))
            .args([&panel, &panel])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let report = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "panel {name}: {report}");
        assert!(report.contains("read back as Stata's extended missing values"), "{report}");
        opened.push(d(&format!("data-{name}")));
        // Exported for Stata, CSV and Parquet users: each opens, and Stata's files read
        // back with their labels and missing values.
        for to in ["dta", "csv", "parquet"] {
            let out = d(&format!("export-{name}-{to}"));
            let o = endline(&["export", &waves[0], "--to", to, "--out", &out]);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            opened.push(out);
        }
        let o = Command::new(&python)
            .arg(root().join("tests/consumers/read_dta.py"))
            .args([d(&format!("export-{name}-dta")), waves[0].clone()])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let report = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "{name}: {report}");
        assert!(report.contains("read back as Stata's extended missing values"), "{report}");
        if name == "border_household" {
            assert!(!report.contains("\n0 missing codes"), "the simulation gives answers missing codes: {report}");
        }
    }
    // select_multiple split for CSV, named as ODK names them; waves are numbers.
    let csv = std::fs::read_to_string(dir.join("panel-all_types.csv")).unwrap_or_default();
    let header = csv.lines().next().unwrap_or_default();
    assert!(header.split(',').any(|h| h == "sm_1") && header.split(',').any(|h| h == "sm_2"), "{header}");
    assert!(!header.split(',').any(|h| h == "sm"), "{header}");
    let o = Command::new(&python)
        .arg(root().join("tests/consumers/open_tables.py"))
        .args(&opened)
        .arg(dir.join("panel-all_types.parquet").parent().map(|p| p.display().to_string()).unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let report = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{report}");
    assert!(
        report.contains("large_list<element: int64>") && report.contains("large_list<element: large_string>"),
        "{report}"
    );
    assert!(
        report.contains("date32[day]") && report.contains("timestamp[us]") && report.contains("struct<lat"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Python with the consumers and DataFusion's package; `None` (the test skipped) when
/// either is missing, unless ENDLINE_REQUIRE_PYTHON is set.
fn python_with_datafusion() -> Option<PathBuf> {
    let Some(py) = python() else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "Python with the consumers is required");
        eprintln!("skipped: no Python with pandas, pyarrow, DuckDB, polars and pyreadstat");
        return None;
    };
    let has_datafusion = Command::new(&py).args(["-c", "import datafusion"]).output().is_ok_and(|o| o.status.success());
    if !has_datafusion {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "DataFusion's Python package is required");
        eprintln!("skipped: no datafusion");
        return None;
    }
    Some(py)
}

/// Issue #23 (datasets engines read as they are): several ingested waves exported as a
/// hive-partitioned Parquet dataset (`<table>/wave=2019/county_id=3/part-0.parquet`; the
/// rosters by wave) read back with DuckDB and with Apache DataFusion give the ingested
/// rows with their types (`tests/consumers/read_partitioned.py`), and every file carries
/// the table's labels. `endline panel --partition-by` writes the stacked waves the same
/// way, read back equal to the panel written as one file.
#[test]
fn a_partitioned_export_reads_back_in_duckdb_and_datafusion() {
    let Some(py) = python_with_datafusion() else { return };
    let dir = scratch("partitioned");
    let d = |p: &str| dir.join(p).display().to_string();
    crate::simulate_and_ingest(&dir, "3", "4", "3", &["2019", "2021"]);
    // One output alone needs no partitioning; several need it, and only Parquet has it.
    let o = endline(&["export", &d("in/2019"), &d("in/2021"), "--to", "parquet", "--out", &d("x")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o =
        endline(&["export", &d("in/2019"), &d("in/2021"), "--to", "csv", "--partition-by", "wave", "--out", &d("x")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let o = endline(&[
        "export",
        &d("in/2019"),
        &d("in/2021"),
        "--to",
        "parquet",
        "--partition-by",
        "wave,county_id",
        "--out",
        &d("ds"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("ds/border_household/wave=2021/county_id=3/part-0.parquet").is_file());
    assert!(dir.join("ds/members/wave=2019/part-0.parquet").is_file());
    for (table, unit) in [("border_household", "county_id"), ("members", "-")] {
        let o = Command::new(&py)
            .arg(root().join("tests/consumers/read_partitioned.py"))
            .args([&d("ds"), table, unit, &d("in/2019"), &d("in/2021")])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.status.success(), "{table}: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    }
    // `endline panel` writes the stacked waves as such a dataset too: the same rows as
    // the panel written as one file.
    let panel = |waves: &[&str], rest: &[&str]| {
        let ins: Vec<String> = waves.iter().map(|w| d(&format!("in/{w}"))).collect();
        let mut args: Vec<&str> = vec!["panel"];
        args.extend(ins.iter().map(String::as_str));
        args.extend(["--table", "border_household"]);
        args.extend(rest);
        endline(&args)
    };
    for rest in [
        ["--out", &d("plain/border_household.parquet")].as_slice(),
        &["--partition-by", "wave,county_id", "--out", &d("pds")],
    ] {
        let o = panel(&["2019", "2021"], rest);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let o = Command::new(&py)
        .arg(root().join("tests/consumers/read_partitioned.py"))
        .args([&d("pds"), "border_household", "county_id", &d("plain")])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "panel: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let o = panel(&["2019"], &["--partition-by", "wave", "--out", &d("p.parquet")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    // The labels travel with every file.
    let o = Command::new(&py)
        .args(["-c", "import sys, glob, pyarrow.parquet as pq; fs = glob.glob(sys.argv[1] + '/**/*.parquet', recursive=True); print(len(fs), all(b'endline.labels' in pq.read_metadata(f).metadata for f in fs))"])
        .arg(d("ds"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stdout(&o).trim(), "10 True", "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #23: `ingest --partition-by wave,county_id` writes each table as a hive dataset
/// inside the wave's output (rosters by wave alone; the PII side table split alike): DuckDB
/// and DataFusion read it as the unpartitioned ingest's rows and types, every file has the
/// labels, the run reports what the plain one reports, and `panel`, `export` and
/// `--append` read the partitioned wave as they read a plain one.
#[test]
fn a_partitioned_ingest_reads_back_in_duckdb_datafusion_and_endline() {
    let Some(py) = python_with_datafusion() else { return };
    let dir = scratch("partitioned-ingest");
    let d = |p: &str| dir.join(p).display().to_string();
    crate::simulate_and_ingest(&dir, "5", "4", "30", &["2019", "2021"]);
    let ingest = |wave: &str, out: &str, rest: &[&str]| {
        let (hh, members) = (
            d(&format!("field/{wave}/border_household.csv")),
            d(&format!("field/{wave}/border_household-members.csv")),
        );
        let mut args = vec!["ingest", "surveys/border_household.yaml", &hh, &members, "--wave", wave, "--out", out];
        args.extend(rest);
        endline(&args)
    };
    for (wave, by) in [("2019", "wave,county_id"), ("2021", "wave")] {
        let o = ingest(wave, &d(&format!("pin/{wave}")), &["--partition-by", by]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let json = |p: &str| std::fs::read_to_string(dir.join(p).join("ingest.json")).unwrap_or_default();
        assert!(json(&format!("pin/{wave}")).len() > 100);
        assert_eq!(json(&format!("pin/{wave}")), json(&format!("in/{wave}")), "{wave}: the same report");
    }
    assert!(dir.join("pin/2019/border_household/wave=2019/county_id=2/part-0.parquet").is_file());
    assert!(dir.join("pin/2019/members/wave=2019/part-0.parquet").is_file());
    assert!(dir.join("pin/2021/border_household/wave=2021/part-0.parquet").is_file());
    assert!(!dir.join("pin/2019/border_household.parquet").exists());
    // The personal side table, split as its table is (its files outside the dataset's
    // directory, which a reader of the dataset never lists).
    if dir.join("in/2019/border_household.pii.parquet").exists() {
        assert!(dir.join("pin/2019/border_household.pii/wave=2019/county_id=2/part-0.parquet").is_file());
    }
    for (table, unit) in [("border_household", "county_id"), ("members", "-")] {
        let o = Command::new(&py)
            .arg(root().join("tests/consumers/read_partitioned.py"))
            .args([&d("pin/2019"), table, unit, &d("in/2019")])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.status.success(), "{table}: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    }
    let o = Command::new(&py)
        .args(["-c", "import sys, glob, pyarrow.parquet as pq; fs = glob.glob(sys.argv[1] + '/*/wave=*/**/*.parquet', recursive=True); print(len(fs) > 4, all(b'endline.labels' in pq.read_metadata(f).metadata for f in fs))"])
        .arg(d("pin/2019"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stdout(&o).trim(), "True True", "{}", String::from_utf8_lossy(&o.stderr));
    // endline reads the partitioned waves as the plain ones: the panel's rows (as CSV,
    // sorted: a partitioned table comes back unit by unit) and each exported table.
    let sorted_csv = |p: &str| {
        let text = std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    for (ins, out) in [("in", "plain.csv"), ("pin", "parts.csv")] {
        let (w19, w21) = (d(&format!("{ins}/2019")), d(&format!("{ins}/2021")));
        let o = endline(&["panel", &w19, &w21, "--table", "border_household", "--out", &d(out)]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let o = endline(&["export", &d(&format!("{ins}/2019")), "--to", "csv", "--out", &d(&format!("x-{ins}"))]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(sorted_csv("plain.csv"), sorted_csv("parts.csv"));
    for table in ["border_household", "members"] {
        assert_eq!(sorted_csv(&format!("x-in/{table}.csv")), sorted_csv(&format!("x-pin/{table}.csv")), "{table}");
    }
    // estimate reads the table with the unit column from its paths, loaded and streamed
    // (two fixed effects, one with at most 64 levels).
    let est = |table: &str, engine: &str| {
        let o = endline(&[
            "estimate",
            table,
            "-f",
            "income_total ~ hh_size | county_id + interview_date",
            "--vcov",
            "cluster:county_id",
            "--engine",
            engine,
            "--format",
            "json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{table}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
        (v["coefficients"][0]["estimate"].as_f64(), v["coefficients"][0]["std_error"].as_f64(), v["n_obs"].clone())
    };
    let plain = est(&d("in/2019/border_household.parquet"), "memory");
    assert!(plain.0.is_some() && plain.2.as_u64().is_some_and(|n| n > 0), "{plain:?}");
    for engine in ["memory", "stream"] {
        let parts = est(&d("pin/2019/border_household"), engine);
        let close =
            |a: Option<f64>, b: Option<f64>| matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= 1e-10 * b.abs());
        assert!(
            close(parts.0, plain.0) && close(parts.1, plain.1) && parts.2 == plain.2,
            "{engine}: {parts:?} {plain:?}"
        );
    }
    // --append reads the partitioned wave back, personal data included (row for row with
    // its table): the same batch again is all duplicates, as for the plain wave.
    for ins in ["in", "pin"] {
        let o = ingest(
            "2019",
            &d(&format!("{ins}/2019")),
            &["--append", "--max-reject-share", "1", "--partition-by", "wave,county_id"],
        );
        assert_eq!(o.status.code(), Some(0), "{ins}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let json = |p: &str| std::fs::read_to_string(dir.join(p).join("ingest.json")).unwrap_or_default();
    assert!(json("pin/2019").contains("duplicate-key"));
    assert_eq!(json("in/2019"), json("pin/2019"));
    // Refusals: a column the top-level table lacks, and one that is personal data.
    let o = ingest("2019", &d("bad"), &["--partition-by", "wave,no_such"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a question of the top-level table"));
    let o = ingest("2019", &d("bad"), &["--partition-by", "wave,village"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("personal data"));
    assert!(!dir.join("bad").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
