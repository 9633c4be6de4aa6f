//! Issue #23 (registers): Callaway & Sant'Anna streamed from Parquet, and from sufficient
//! statistics that SQL engines aggregate, give `endline did`'s in-memory estimates.

use std::path::Path;
use std::process::Command;

use polars::prelude::*;
use serde_json::Value;

use crate::{endline, json_of, root, scratch, stdout};

/// Every number of two JSON documents within `rtol` relative (absolute below 1e-3), the
/// rest equal; `skip` names keys left out.
fn assert_json_close(got: &Value, want: &Value, rtol: f64, skip: &[&str], path: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys = |m: &serde_json::Map<String, Value>| {
                m.keys().filter(|k| !skip.contains(&k.as_str())).cloned().collect::<Vec<_>>()
            };
            assert_eq!(keys(g), keys(w), "{path}");
            for k in keys(w) {
                assert_json_close(&g[&k], &w[&k], rtol, skip, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}");
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert_json_close(a, b, rtol, skip, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(g), Value::Number(w)) if g.is_f64() || w.is_f64() => {
            let (a, b) = (g.as_f64().unwrap_or(f64::NAN), w.as_f64().unwrap_or(f64::NAN));
            assert!((a - b).abs() <= rtol * b.abs().max(1e-3), "{path}: {a} vs {b}");
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

fn write_parquet(df: &mut DataFrame, path: &Path) {
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    ParquetWriter::new(f).with_row_group_size(Some(500)).finish(df).unwrap_or_else(|e| panic!("{e}"));
}

/// mpdta with a cluster of 40 counties' groups, as Parquet.
fn mpdta_parquet(dir: &Path) -> DataFrame {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(root().join("crates/endline-analysis/tests/data/did/mpdta.csv")))
        .and_then(|r| r.finish())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut df = df
        .lazy()
        .with_column((col("countyreal") % lit(40)).alias("group40"))
        .collect()
        .unwrap_or_else(|e| panic!("{e}"));
    write_parquet(&mut df, &dir.join("mpdta.parquet"));
    df
}

fn did(data: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["did", data.to_str().unwrap_or_default()];
    args.extend(["--outcome", "lemp", "--unit", "countyreal", "--time", "year", "--cohort", "first.treat"]);
    args.extend(extra);
    args.extend(["--format", "json"]);
    endline(&args)
}

#[test]
fn streaming_a_parquet_panel_gives_the_in_memory_estimates() {
    let dir = scratch("scale-stream");
    let df = mpdta_parquet(&dir);
    let file = dir.join("mpdta.parquet");
    // Also as a directory of files, as a partitioned dataset is.
    std::fs::create_dir_all(dir.join("parts/year=all")).unwrap_or_else(|e| panic!("{e}"));
    let half = df.height() as i64 / 2;
    write_parquet(&mut df.slice(0, half as usize), &dir.join("parts/year=all/part-0.parquet"));
    write_parquet(&mut df.slice(half, df.height()), &dir.join("parts/year=all/part-1.parquet"));
    let cases: [&[&str]; 4] = [
        &[],
        &["--control", "notyet", "--cluster", "group40"],
        &["--base-period", "universal", "--anticipation", "1"],
        &["--control", "notyet", "--cluster", "countyreal"],
    ];
    for extra in cases {
        let mem = did(&file, &[extra, &["--engine", "memory"]].concat());
        assert!(mem.status.success(), "{}", String::from_utf8_lossy(&mem.stderr));
        for data in [file.clone(), dir.join("parts")] {
            let streamed = did(&data, &[extra, &["--engine", "stream"]].concat());
            assert!(streamed.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&streamed.stderr));
            assert_json_close(&json_of(&streamed), &json_of(&mem), 1e-10, &[], &format!("{extra:?}"));
        }
    }
    // What streaming cannot do is said, and `auto` then loads the table.
    let o = did(&file, &["--covariates", "lpop", "--engine", "stream"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot stream: covariates"));
    let mut short = df.slice(1, df.height());
    write_parquet(&mut short, &dir.join("short.parquet"));
    let o = did(&dir.join("short.parquet"), &["--engine", "stream"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 units are not observed in every period"));
    let auto = did(&dir.join("short.parquet"), &[]);
    let mem = did(&dir.join("short.parquet"), &["--engine", "memory"]);
    assert!(auto.status.success());
    assert_eq!(stdout(&auto), stdout(&mem));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `endline estimate` on castle (50 states × 11 years; pyfixest's numbers in the analysis
/// crate's reference tests) as Parquet: the streamed two-way fits give the in-memory JSON
/// to 1e-10, and what cannot stream is said.
#[test]
fn streaming_a_two_way_regression_gives_the_in_memory_fit() {
    let dir = scratch("scale-feols");
    let mut df = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(
            root().join("crates/endline-analysis/tests/data/reference/b_castle_twfe.csv"),
        ))
        .and_then(|r| r.finish())
        .unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("castle.parquet");
    write_parquet(&mut df, &file);
    let data = file.to_str().unwrap_or_default();
    for (formula, vcov) in [
        ("l_homicide ~ post | sid + year", "cluster:sid"),
        ("l_homicide ~ post + l_police + unemployrt | year + sid", "hetero"),
        ("l_homicide ~ post + poverty | sid + year", "iid"),
    ] {
        let run = |engine: &str| {
            endline(&["estimate", data, "-f", formula, "--vcov", vcov, "--engine", engine, "--format", "json"])
        };
        let (s, m) = (run("stream"), run("memory"));
        assert!(s.status.success() && m.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        assert_json_close(&json_of(&s), &json_of(&m), 1e-10, &["demean_iterations"], formula);
    }
    for (formula, why) in [
        ("l_homicide ~ i(year, ref=2000) + post | sid + year", "plain numeric regressors"),
        ("l_homicide ~ post | sid", "exactly two fixed effects"),
    ] {
        let o = endline(&["estimate", data, "-f", formula, "--engine", "stream"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains(why), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let csv = root().join("crates/endline-analysis/tests/data/reference/b_castle_twfe.csv");
    let o = endline(&[
        "estimate",
        csv.to_str().unwrap_or_default(),
        "-f",
        "l_homicide ~ post | sid + year",
        "--engine",
        "stream",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not Parquet"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/scale.md's SQL (`docs/scale/*.sql`), run by DuckDB and by DataFusion on a
/// 1,000,000-row panel (`tests/consumers/cs_sql.py`), gives statistics from which `endline
/// did --from-statistics` finishes the estimate: every ATT(g,t), aggregation and standard
/// error of `endline did` on the panel, to 1e-10 relative, clustered and over units.
#[test]
fn sql_sufficient_statistics_give_the_estimates_of_the_panel() {
    let Some(py) = crate::consumers::python() else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "Python with DuckDB is required");
        eprintln!("skipped: no Python with DuckDB");
        return;
    };
    let doc = std::fs::read_to_string(root().join("docs/scale.md")).unwrap_or_default();
    for sql in ["checks.sql", "cs_clustered.sql", "cs_units.sql"] {
        let text = std::fs::read_to_string(root().join("docs/scale").join(sql)).unwrap_or_default();
        assert!(doc.contains(text.trim()), "docs/scale.md does not show docs/scale/{sql} as it is");
    }
    let dir = scratch("scale-sql");
    let o = Command::new(&py)
        .arg(root().join("tests/consumers/cs_sql.py"))
        .args([dir.as_os_str(), root().join("docs/scale").as_os_str()])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let engines: Vec<&str> = ["duckdb", "datafusion"]
        .into_iter()
        .filter(|e| dir.join(format!("stats_{e}_units.parquet")).is_file())
        .collect();
    assert!(engines.contains(&"duckdb"));
    let panel = dir.join("panel.parquet");
    for (kind, cluster) in [("clustered", Some("county_id")), ("units", None)] {
        let mut args = vec![
            "did",
            panel.to_str().unwrap_or_default(),
            "--outcome",
            "income",
            "--unit",
            "household_id",
            "--time",
            "year",
            "--cohort",
            "first_treat",
            "--control",
            "notyet",
            "--engine",
            "memory",
            "--format",
            "json",
        ];
        if let Some(c) = cluster {
            args.extend(["--cluster", c]);
        }
        let want = endline(&args);
        assert!(want.status.success(), "{}", String::from_utf8_lossy(&want.stderr));
        for e in &engines {
            let stats = dir.join(format!("stats_{e}_{kind}.parquet"));
            let got = endline(&[
                "did",
                stats.to_str().unwrap_or_default(),
                "--from-statistics",
                "--control",
                "notyet",
                "--format",
                "json",
            ]);
            assert!(got.status.success(), "{e} {kind}: {}", String::from_utf8_lossy(&got.stderr));
            assert_json_close(&json_of(&got), &json_of(&want), 1e-10, &[], &format!("{e} {kind}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
