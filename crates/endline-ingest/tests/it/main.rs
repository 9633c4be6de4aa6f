//! Ingest, end to end through the library: every fault class at its row and column,
//! counts that reconcile, byte-identical reruns, the --on-error modes, broken files,
//! legacy encodings, KoboToolbox's conventions, and rejects that can be ingested again.

mod dupes;
mod pii;
mod props;

use std::path::{Path, PathBuf};

use endline_diag::SourceFile;
use endline_ingest::ingest::{Input, Options, ingest};
use endline_ingest::{IngestError, OnError, Severity, write};
use endline_survey::Survey;

fn data(name: &str) -> PathBuf {
    Path::new(&manifest_dir()).join("tests/data").join(name)
}

/// The test survey.
pub fn survey() -> Survey {
    let path = data("hh.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    endline_survey::validate(&SourceFile::new("hh.yaml", text)).survey.unwrap_or_else(|| panic!("hh.yaml is invalid"))
}

fn input(name: &str) -> Input {
    Input { table: None, path: data(name), display: name.to_string() }
}

/// A scratch directory unique to this process and `name` (for the property tests).
pub fn scratch_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("endline-ingest-{}-{name}", std::process::id()))
}

/// A scratch directory for one test, emptied (and absent) to begin with.
fn scratch(name: &str) -> PathBuf {
    let dir = scratch_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn opts(on_error: OnError) -> Options {
    Options { wave: "2025".into(), on_error, ..Options::default() }
}

#[test]
fn every_fault_is_caught_at_its_row_and_column() {
    let s = survey();
    let d = ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Reject))
        .unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, usize, String, String, Severity)> =
        d.issues().into_iter().map(|i| (i.table, i.row, i.column, i.rule, i.severity)).collect();
    let e = |t: &str, r: usize, c: &str, rule: &str, sev: Severity| {
        (t.to_string(), r, c.to_string(), rule.to_string(), sev)
    };
    use Severity::{Error as E, Warning as W};
    let want = vec![
        e("hh", 0, "extra", "unknown-column", W),
        e("hh", 2, "members", "count-mismatch", W),
        e("hh", 2, "n_adults", "calculation", W),
        e("hh", 2, "size", "constraint", E),
        e("hh", 3, "coop", "choice", E),
        e("hh", 3, "members", "count-mismatch", W),
        e("hh", 4, "dividend", "relevance", E),
        e("hh", 4, "members", "count-mismatch", W),
        e("hh", 5, "hh_id", "duplicate-key", E),
        e("hh", 5, "members", "count-mismatch", W),
        e("hh", 6, "size", "type", E),
        e("hh", 7, "coop", "required", E),
        e("hh", 7, "members", "count-mismatch", W),
        e("hh", 8, "members", "count-mismatch", W),
        e("hh", 8, "n_adults", "calculation", W),
        e("hh", 9, "crops", "choice", E),
        e("hh", 9, "members", "count-mismatch", W),
        e("hh", 9, "visit", "constraint", E),
        e("members", 5, "PARENT_KEY", "orphan", E),
        e("members", 6, "hh_id", "orphan", E),
    ];
    assert_eq!(got, want);
    // The values are those written, and the key is known.
    let issues = d.issues();
    let dup = issues.iter().find(|i| i.rule == "duplicate-key").unwrap_or_else(|| panic!("no duplicate"));
    assert_eq!((dup.key.as_deref(), dup.value.as_deref()), (Some("H001"), Some("H001")));
    let ty = issues.iter().find(|i| i.rule == "type").unwrap_or_else(|| panic!("no type issue"));
    assert_eq!((ty.value.as_deref(), ty.file.as_str()), (Some("two"), "hh.csv"));
    // Every household's problems are filed under its key, those found while typing too.
    for i in issues.iter().filter(|i| i.table == "hh" && i.row > 0) {
        let own = if i.row == 5 { "H001".to_string() } else { format!("H00{}", i.row) };
        assert_eq!(i.key.as_deref(), Some(own.as_str()), "{} at row {}", i.rule, i.row);
    }
}

/// A roster row's problems are filed under its household's key, whether found while
/// typing (a type problem) or after (a constraint); an orphan's key is not known (ODK
/// Central's PARENT_KEY is not a survey key).
#[test]
fn roster_problems_carry_their_households_key() {
    let dir = scratch("roster-keys");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let members = dir.join("hh-members.csv");
    let text = "age,adult,PARENT_KEY,KEY\nold,1,uuid:a,uuid:a/members[1]\n150,1,uuid:a,uuid:a/members[2]\n\
                abc,1,uuid:zzz,uuid:zzz/members[1]\n";
    std::fs::write(&members, text).unwrap_or_else(|e| panic!("{e}"));
    let inputs = [input("hh.csv"), Input { table: None, path: members, display: "hh-members.csv".into() }];
    let s = survey();
    let d = ingest(&s, &inputs, &opts(OnError::Reject)).unwrap_or_else(|e| panic!("{e}"));
    let keys: Vec<(usize, String, Option<String>)> = d
        .issues()
        .into_iter()
        .filter(|i| i.table == "members" && i.rule != "calculation")
        .map(|i| (i.row, i.rule, i.key))
        .collect();
    let h001 = Some("H001".to_string());
    assert_eq!(
        keys,
        [
            (1, "type".to_string(), h001.clone()),
            (2, "constraint".to_string(), h001),
            (3, "orphan".to_string(), None),
            (3, "type".to_string(), None),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn counts_reconcile_and_outputs_match_them() {
    let s = survey();
    let d = ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Reject))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = scratch("counts");
    let counts = write::write_outputs(&d, &out).unwrap_or_else(|e| panic!("{e}"));
    for (table, c) in &counts {
        assert_eq!(c.rows_in, c.rows_written + c.rows_rejected, "{table}");
        let rejects = std::fs::read_to_string(out.join("rejects").join(format!("{table}.csv"))).unwrap_or_default();
        assert_eq!(rejects.lines().count().saturating_sub(1), c.rows_rejected, "{table} rejects");
    }
    assert_eq!(
        counts.iter().map(|(_, c)| (c.rows_in, c.rows_written, c.rows_rejected)).collect::<Vec<_>>(),
        [(9, 2, 7), (6, 4, 2)]
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ingest.json")).unwrap_or_default()).unwrap_or_default();
    assert_eq!(json["tables"]["hh"]["rows_written"], 2);
    assert_eq!(json["wave"], "2025");
    assert!(json["issues"].as_array().is_some_and(|a| a.len() == 20));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let s = survey();
    let (a, b) = (scratch("same-a"), scratch("same-b"));
    for dir in [&a, &b] {
        let d = ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Reject))
            .unwrap_or_else(|e| panic!("{e}"));
        write::write_outputs(&d, dir).unwrap_or_else(|e| panic!("{e}"));
    }
    for f in ["hh.parquet", "hh.pii.parquet", "members.parquet", "ingest.json", "rejects/hh.csv", "rejects/members.csv"]
    {
        let (x, y) = (std::fs::read(a.join(f)).unwrap_or_default(), std::fs::read(b.join(f)).unwrap_or_default());
        assert!(!x.is_empty() && x == y, "{f} differs");
    }
    let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
}

#[test]
fn on_error_fail_writes_nothing_and_keep_flags() {
    let s = survey();
    match ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Fail)) {
        Err(IngestError::Rejected(n)) => assert_eq!(n, 9),
        other => panic!("{other:?}"),
    }
    let d =
        ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Keep)).unwrap_or_else(|e| panic!("{e}"));
    let out = scratch("keep");
    let counts = write::write_outputs(&d, &out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts[0].1.rows_written, 9);
    assert!(!out.join("rejects").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn broken_files_are_clear_errors_and_leave_no_output() {
    let s = survey();
    let dir = scratch("broken");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let header = "hh_id,visit,info-size,info-coop,KEY\n";
    let cases = [
        (
            "truncated.csv",
            format!("{header}H001,2025-06-01,1,1,\"uuid:a\nH002,2025-06-01,1,1,uuid:b\n").into_bytes(),
            "truncated",
        ),
        ("ragged.csv", format!("{header}H001,2025-06-01,1,1,uuid:a\nH002,2025-06-01\n").into_bytes(), "ragged"),
        (
            "encoded.csv",
            encoding_rs::GB18030.encode(&format!("{header}H001,2025-06-01,1,1,拉萨\n")).0.into_owned(),
            "--encoding gb18030",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        let err = ingest(&s, &[Input { table: Some("hh".into()), path, display: name.into() }], &opts(OnError::Reject))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(name) && err.contains(expected), "{name}: {err}");
    }
    // With the right encoding the GB18030 file reads.
    let d = ingest(
        &s,
        &[Input { table: Some("hh".into()), path: dir.join("encoded.csv"), display: "encoded.csv".into() }],
        &Options { encoding: Some("gb18030".into()), ..opts(OnError::Reject) },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.tables[0].rows.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kobo_json_with_group_paths_split_choices_and_indexes() {
    let s = survey();
    let dir = scratch("kobo");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let top = r#"[{"hh_id": "H101", "visit": "2025-05-01", "info/size": "1", "info/coop": "1", "info/dividend": "7.5",
                  "info/crops/barley": "1", "info/crops/yak": "0", "_index": 1, "_submission_time": "2025-05-02T08:00:00"}]"#;
    let kids = "{\"age\": \"44\", \"_index\": 1, \"_parent_index\": 1}\n";
    std::fs::write(dir.join("top.json"), top).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("kids.jsonl"), kids).unwrap_or_else(|e| panic!("{e}"));
    let inputs = [
        Input { table: Some("hh".into()), path: dir.join("top.json"), display: "top.json".into() },
        Input { table: Some("members".into()), path: dir.join("kids.jsonl"), display: "kids.jsonl".into() },
    ];
    let d = ingest(&s, &inputs, &opts(OnError::Reject)).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<_> = d.issues().into_iter().filter(|i| i.severity == Severity::Error).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let crops = d.tables[0].items.iter().position(|i| i.name() == "crops").unwrap_or(0);
    assert_eq!(*d.tables[0].value(0, crops), endline_survey::expr::Value::Multi(vec!["barley".into()]));
    assert_eq!(d.tables[1].rows[0].parent, Some(0));
    assert_eq!(d.tables[1].rows[0].key.as_deref(), Some("H101"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rejects_can_be_fixed_and_ingested_again_and_reingest_replaces() {
    let s = survey();
    let out = scratch("fix");
    let d = ingest(&s, &[input("hh.csv"), input("hh-members.csv")], &opts(OnError::Reject))
        .unwrap_or_else(|e| panic!("{e}"));
    write::write_outputs(&d, &out).unwrap_or_else(|e| panic!("{e}"));
    // The table has a personal column (gps): rejects/hh.csv leaves it out, and
    // rejects/hh.pii.csv has the records whole, to fix and ingest again.
    let shared = std::fs::read_to_string(out.join("rejects/hh.csv")).unwrap_or_default();
    assert!(shared.starts_with("SubmissionDate,hh_id,visit,info-size") && !shared.contains("gps"), "{shared}");
    // Fix H003's coop (2 -> 0) and ingest the rejects file as it is otherwise.
    let rejects = std::fs::read_to_string(out.join("rejects/hh.pii.csv")).unwrap_or_default();
    let fixed: String = rejects
        .lines()
        .filter(|l| l.starts_with("SubmissionDate") || l.contains(",H003,"))
        .map(|l| l.replacen(",1,2,,", ",1,0,,", 1) + "\n")
        .collect();
    let path = out.with_extension("fixed.csv");
    std::fs::write(&path, fixed).unwrap_or_else(|e| panic!("{e}"));
    let again = ingest(
        &s,
        &[Input { table: Some("hh".into()), path: path.clone(), display: "fixed.csv".into() }],
        &opts(OnError::Reject),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let counts = write::write_outputs(&again, &out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts[0].1.rows_written, 1, "{:?}", again.issues());
    assert!(!out.join("rejects").exists(), "the previous ingest was replaced whole");
    let unknown: Vec<String> =
        again.issues().into_iter().filter(|i| i.rule == "unknown-column").map(|i| i.column).collect();
    assert_eq!(unknown, ["extra"], "the rejects' own columns (_source_row, _reasons, ...) are not unknown");
    let _ = (std::fs::remove_dir_all(&out), std::fs::remove_file(&path));
}

/// A roster row under a record where the roster is not asked (an enclosing group's
/// relevance is false) is a relevance error, reported on the roster row.
#[test]
fn roster_rows_where_the_roster_is_not_asked_are_rejected() {
    let yaml = "survey: r\nversion: \"1\"\nkey: id\nchoices:\n  yn: [{value: 1, label: \"Yes\"}, {value: 0, label: \"No\"}]\nquestions:\n  - {name: id, type: text, label: ID}\n  - {name: consent, type: select_one yn, label: Consent}\n  - name: main\n    type: group\n    relevant: \"${consent} = 1\"\n    questions:\n      - name: people\n        type: repeat\n        questions:\n          - {name: age, type: integer, label: Age}\n";
    let survey = endline_survey::validate(&SourceFile::new("r.yaml", yaml)).survey.unwrap_or_else(|| panic!("invalid"));
    let dir = scratch("roster-relevance");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("r.csv"), "id,consent,KEY\nA,1,uuid:a\nB,0,uuid:b\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("r-people.csv"), "age,PARENT_KEY,KEY\n30,uuid:a,uuid:a/p[1]\n40,uuid:b,uuid:b/p[1]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let inputs = [
        Input { table: None, path: dir.join("r.csv"), display: "r.csv".into() },
        Input { table: None, path: dir.join("r-people.csv"), display: "r-people.csv".into() },
    ];
    let d = ingest(&survey, &inputs, &opts(OnError::Reject)).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, usize, String, String)> =
        d.issues().into_iter().map(|i| (i.table, i.row, i.column, i.rule)).collect();
    assert_eq!(got, [("people".to_string(), 2, "people".to_string(), "relevance".to_string())]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #19: a household kept while one of its roster rows is rejected is written with
/// a partial roster, and says so: a `partial-roster` warning on the household, with the
/// rows it keeps and the rejected rows' numbers. A batch-wise ingest says the same.
#[test]
fn a_household_with_a_rejected_member_says_its_roster_is_partial() {
    let yaml = "survey: r\nversion: \"1\"\nkey: id\nquestions:\n  - {name: id, type: text, label: ID}\n  - {name: size, type: integer, label: Size}\n  - name: people\n    type: repeat\n    count: \"${size}\"\n    questions:\n      - {name: age, type: integer, label: Age, constraint: \". <= 110\"}\n";
    let survey = endline_survey::validate(&SourceFile::new("r.yaml", yaml)).survey.unwrap_or_else(|| panic!("invalid"));
    let dir = scratch("partial-roster");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("r.csv"), "id,size,KEY\nA,3,uuid:a\nB,1,uuid:b\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join("r-people.csv"),
        "age,PARENT_KEY,KEY\n30,uuid:a,uuid:a/p[1]\n150,uuid:a,uuid:a/p[2]\n5,uuid:a,uuid:a/p[3]\n40,uuid:b,uuid:b/p[1]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let inputs = [
        Input { table: None, path: dir.join("r.csv"), display: "r.csv".into() },
        Input { table: None, path: dir.join("r-people.csv"), display: "r-people.csv".into() },
    ];
    let d = ingest(&survey, &inputs, &opts(OnError::Reject)).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, usize, String, String, Option<String>)> =
        d.issues().into_iter().map(|i| (i.table, i.row, i.column, i.rule, i.value)).collect();
    assert_eq!(
        got,
        [
            ("people".to_string(), 2, "age".to_string(), "constraint".to_string(), Some("150".to_string())),
            ("r".to_string(), 1, "people".to_string(), "partial-roster".to_string(), Some("2".to_string())),
        ]
    );
    let message = d.issues().into_iter().find(|i| i.rule == "partial-roster").map(|i| i.message).unwrap_or_default();
    assert!(message.contains("1 of its 3 `people` rows have errors (row 2 of people)"), "{message}");
    // The household is kept, its rejected member is not.
    assert_eq!(d.counts().iter().map(|(_, c)| c.rows_written).collect::<Vec<_>>(), [2, 3]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A wave with no records still writes tables with the survey's types (a select_multiple
/// is a list of strings, not of nulls), so that every wave has the same schema.
#[test]
fn an_empty_export_writes_typed_empty_tables() {
    let s = survey();
    let dir = scratch("empty");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("hh.csv"), "hh_id,info-size,info-coop,info-crops,KEY\n").unwrap_or_else(|e| panic!("{e}"));
    let d = ingest(
        &s,
        &[Input { table: None, path: dir.join("hh.csv"), display: "hh.csv".into() }],
        &opts(OnError::Reject),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    write::write_outputs(&d, &out).unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::open(out.join("hh.parquet")).unwrap_or_else(|e| panic!("{e}"));
    use polars::prelude::SerReader;
    let df = polars::prelude::ParquetReader::new(file).finish().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(df.height(), 0);
    let crops = df.column("crops").map(|c| c.dtype().clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(crops, polars::prelude::DataType::List(Box::new(polars::prelude::DataType::String)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// How a batched ingest went: streamed in submission order, or split on disk.
#[derive(Debug, PartialEq)]
pub enum Batching {
    /// Batches formed as the files were read (in submission order).
    Streamed,
    /// The input split on disk by submission first.
    Split,
}

/// The order of the roster rows in [`fixture_copies`].
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// In the order of their parents, rows without a parent last (submission order).
    Parents,
    /// The reverse.
    Reversed,
    /// Shuffled (by this seed).
    Shuffled(u64),
}

/// Writes the faulty fixture `copies` times over into `dir` as `<name>.csv` and
/// `<name>-members.csv`, with its keys renamed in each copy (H001 -> H001, H101, ...;
/// uuid:a -> uuid:0-a, uuid:1-a, ...), except that with `reuse` the last copy reuses the
/// first copy's household IDs.
pub fn fixture_copies(dir: &Path, name: &str, copies: usize, reuse: bool, order: Order) -> [Input; 2] {
    let (hh, members) = (read_data("hh.csv"), read_data("hh-members.csv"));
    let mut hh_out = hh.lines().next().unwrap_or_default().to_string() + "\n";
    let mut rows: Vec<(usize, String)> = Vec::new();
    for copy in 0..copies {
        let id = if reuse && copy + 1 == copies { 0 } else { copy };
        for line in hh.lines().skip(1) {
            hh_out += &(line.replace(",H0", &format!(",H{id}")).replace("uuid:", &format!("uuid:{copy}-")) + "\n");
        }
        // The fixture lists uuid:b's row after uuid:h's: sort by parent within the copy.
        let mut own: Vec<&str> = members.lines().skip(1).collect();
        own.sort_by_key(|l| l.split(",uuid:").nth(1).and_then(|k| k.chars().next()));
        for line in own {
            let orphan = line.contains("zzz");
            rows.push((if orphan { usize::MAX } else { copy }, line.replace("uuid:", &format!("uuid:{copy}-")) + "\n"));
        }
    }
    rows.sort_by_key(|(copy, _)| *copy); // stable: orphans last
    match order {
        Order::Parents => {}
        Order::Reversed => rows.reverse(),
        Order::Shuffled(seed) => {
            let mut state = seed | 1;
            for i in (1..rows.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                rows.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
    }
    let members_out: String = members.lines().next().unwrap_or_default().to_string()
        + "\n"
        + &rows.into_iter().map(|(_, l)| l).collect::<String>();
    std::fs::write(dir.join(format!("{name}.csv")), hh_out).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join(format!("{name}-members.csv")), members_out).unwrap_or_else(|e| panic!("{e}"));
    [
        Input {
            table: Some("members".into()),
            path: dir.join(format!("{name}-members.csv")),
            display: "hh-members.csv".into(),
        },
        Input { table: Some("hh".into()), path: dir.join(format!("{name}.csv")), display: "hh.csv".into() },
    ]
}

/// Checks `inputs` in one batch (in memory) and in about `parts` batches, and asserts the
/// outputs are the same: counts and ingest.json byte for byte, the tables and rejects row
/// for row (batches write rows batch by batch). Asserts which way the batches were made,
/// when `batching` says.
pub fn assert_batches_match(
    s: &Survey,
    inputs: &[Input],
    parts: u64,
    name: &str,
    batching: Option<Batching>,
) -> endline_ingest::write::Report {
    let one = scratch(&format!("{name}-one"));
    let many = scratch(&format!("{name}-many"));
    let d = ingest(s, inputs, &opts(OnError::Reject)).unwrap_or_else(|e| panic!("{e}"));
    let counts = write::write_outputs(&d, &one).unwrap_or_else(|e| panic!("{e}"));
    let total: u64 = inputs.iter().map(|i| std::fs::metadata(&i.path).map_or(0, |m| m.len())).sum();
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = said.clone();
    let progress = endline_ingest::ingest::Progress(std::sync::Arc::new(move |what: &str, _: usize, _: usize| {
        if let Ok(mut l) = log.lock() {
            l.push(what.to_string());
        }
    }));
    let batched = Options { batch_bytes: total.div_ceil(parts), progress: Some(progress), ..opts(OnError::Reject) };
    let report = endline_ingest::ingest_to(s, inputs, &batched, &many).unwrap_or_else(|e| panic!("{e}"));
    let said = said.lock().map(|l| l.clone()).unwrap_or_default();
    if let Some(batching) = batching {
        let split = said.iter().any(|w| w.contains("not in submission order"));
        assert_eq!(if split { Batching::Split } else { Batching::Streamed }, batching, "{said:?}");
        let batches = said.iter().filter(|w| w.starts_with("checked batch")).count();
        assert!(batches >= parts as usize / 2, "{batches} batches: {said:?}");
    }
    assert_eq!(report.counts, counts);
    let all = d.issues();
    assert_eq!(report.issues, all[..all.len().min(endline_ingest::issues::REPORTED)]);
    assert_eq!(report.issues_total, all.len());
    let read = |dir: &Path, f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert_eq!(read(&one, "ingest.json"), read(&many, "ingest.json"));
    // Every issue, in the same order however the input was batched.
    assert_eq!(read(&one, "issues.csv"), read(&many, "issues.csv"));
    assert_eq!(read(&many, "issues.csv").lines().count(), all.len() + 1);
    use polars::prelude::{SerReader, SortMultipleOptions};
    let table = |dir: &Path, f: &str| {
        let file = std::fs::File::open(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let df = polars::prelude::ParquetReader::new(file).finish().unwrap_or_else(|e| panic!("{e}"));
        df.sort(["_source_file", "_source_row"], SortMultipleOptions::default()).unwrap_or_else(|e| panic!("{e}"))
    };
    for t in s.tables() {
        let f = format!("{}.parquet", t.name);
        let (a, b) = (table(&one, &f), table(&many, &f));
        assert!(a.height() > 0 && a.equals_missing(&b), "{f} differs");
        let rejects = |dir: &Path| {
            let mut lines: Vec<String> =
                read(dir, &format!("rejects/{}.csv", t.name)).lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(rejects(&one), rejects(&many), "rejects of {}", t.name);
    }
    let _ = (std::fs::remove_dir_all(&one), std::fs::remove_dir_all(&many));
    report
}

/// Large inputs are checked in batches: streamed when the export is in submission order,
/// else split by submission on disk. Every rule gives what it gives in one batch,
/// including duplicate keys far apart in the file, roster rows far from their parent or
/// without one, and counts over roster rows.
#[test]
fn batches_give_what_one_batch_gives() {
    let s = survey();
    let dir = scratch("batches");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    // The faulty fixture 40 times over, with its keys renamed in each copy (H001 -> H001,
    // H101, ..., H3801). In submission order it streams (its orphan roster rows come last),
    // also when the last copy reuses the first copy's household IDs (duplicates across
    // batches); with the roster rows in reverse order, it is split on disk.
    let write = |name: &str, reuse: bool, reverse: bool| {
        let order = if reverse { Order::Reversed } else { Order::Parents };
        fixture_copies(&dir, name, 40, reuse, order)
    };
    let report = assert_batches_match(&s, &write("ordered", false, false), 7, "ordered", Some(Batching::Streamed));
    let rule = |report: &endline_ingest::write::Report, r: &str| {
        report.issue_counts.iter().filter(|c| c.rule == r).map(|c| c.count).sum::<usize>()
    };
    // Per copy: one duplicate; five orphans (one without a parent, four under rejected records).
    assert_eq!((rule(&report, "duplicate-key"), rule(&report, "orphan")), (40, 200));
    assert_batches_match(&s, &write("reversed", false, true), 7, "reversed", Some(Batching::Split));
    let report = assert_batches_match(&s, &write("reused", true, false), 7, "reused", Some(Batching::Streamed));
    // Each copy's duplicate, and the last copy's nine households again (the one whose ID
    // breaks its type is not a key).
    assert_eq!(rule(&report, "duplicate-key"), 39 + 9);
    assert!(rule(&report, "count-mismatch") >= 40, "{:?}", report.counts);
    // The last copy's KEYs are the first copy's: a KEY used again in a later batch stops
    // the stream, and the input is split on disk.
    let rekeyed = write("rekeyed", false, false);
    for input in &rekeyed {
        let text = std::fs::read_to_string(&input.path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&input.path, text.replace("uuid:39-", "uuid:0-")).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_batches_match(&s, &rekeyed, 7, "rekeyed", Some(Batching::Split));
    // KoboToolbox's _index/_parent_index links, split over batches the same way.
    let kobo_hh: String = std::iter::once("hh_id,info-size,info-coop,_index\n".to_string())
        .chain((1..=60).map(|i| format!("H{i:03},{},1,{i}\n", 1 + i % 3)))
        .collect();
    let kobo_members: String = std::iter::once("age,_parent_index,_index\n".to_string())
        .chain((1..=60).rev().flat_map(|i| (0..=(i % 3)).map(move |k| format!("{},{i},{}\n", 20 + k, i * 10 + k))))
        .collect();
    std::fs::write(dir.join("kobo.csv"), kobo_hh).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("kobo-members.csv"), kobo_members).unwrap_or_else(|e| panic!("{e}"));
    let inputs = [
        Input { table: Some("hh".into()), path: dir.join("kobo.csv"), display: "kobo.csv".into() },
        Input { table: Some("members".into()), path: dir.join("kobo-members.csv"), display: "kobo-members.csv".into() },
    ];
    let report = assert_batches_match(&s, &inputs, 5, "kobo", Some(Batching::Split));
    assert!(
        report.issue_counts.iter().all(|c| c.rule != "orphan" && c.rule != "count-mismatch"),
        "{:?}",
        report.issue_counts
    );
    let kobo_members: String = std::iter::once("age,_parent_index,_index\n".to_string())
        .chain((1..=60).flat_map(|i| (0..=(i % 3)).map(move |k| format!("{},{i},{}\n", 20 + k, i * 10 + k))))
        .collect();
    std::fs::write(dir.join("kobo-members.csv"), kobo_members).unwrap_or_else(|e| panic!("{e}"));
    assert_batches_match(&s, &inputs, 5, "kobo-ordered", Some(Batching::Streamed));
    let _ = std::fs::remove_dir_all(&dir);
}

/// In batches, `--on-error fail` still counts every error and writes nothing, and two
/// runs give the same bytes.
#[test]
fn batches_fail_whole_and_are_reproducible() {
    let s = survey();
    let inputs = [input("hh.csv"), input("hh-members.csv")];
    let batched = |on_error| Options { batch_bytes: 200, ..opts(on_error) };
    let out = scratch("batches-fail");
    match endline_ingest::ingest_to(&s, &inputs, &batched(OnError::Fail), &out) {
        Err(IngestError::Rejected(n)) => assert_eq!(n, 9),
        other => panic!("{other:?}"),
    }
    assert!(!out.exists(), "nothing is written");
    let (a, b) = (scratch("batches-same-a"), scratch("batches-same-b"));
    for dir in [&a, &b] {
        endline_ingest::ingest_to(&s, &inputs, &batched(OnError::Reject), dir).unwrap_or_else(|e| panic!("{e}"));
    }
    for f in ["hh.parquet", "hh.pii.parquet", "members.parquet", "ingest.json", "rejects/hh.csv", "rejects/members.csv"]
    {
        let (x, y) = (std::fs::read(a.join(f)).unwrap_or_default(), std::fs::read(b.join(f)).unwrap_or_default());
        assert!(!x.is_empty() && x == y, "{f} differs");
    }
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(!leftovers.iter().any(|f| f.contains("batches-fail")), "{leftovers:?}");
    let _ = (std::fs::remove_dir_all(&a), std::fs::remove_dir_all(&b));
}

/// A fixture's text.
pub fn read_data(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A file whose every record is bad made a report 16 times its size, held in memory
/// (issue #24): ingest.json has counts and the first issues, issues.csv all of them.
#[test]
fn every_record_bad_gives_a_compact_report_and_every_issue_in_issues_csv() {
    let s = survey();
    let dir = scratch("all-bad");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("hh.csv");
    let mut text = String::from("hh_id,visit,info-size,info-coop,KEY\n");
    for r in 0..5000 {
        text += &format!("X{r},not a date,many,7,uuid:{r}\n");
    }
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    let inputs = [Input { table: Some("hh".into()), path, display: "hh.csv".into() }];
    let report = endline_ingest::ingest_to(&s, &inputs, &opts(OnError::Reject), &out).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.issues_total >= 4 * 5000, "{}", report.issues_total);
    let json = std::fs::read_to_string(out.join("ingest.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(v["issues"].as_array().map(Vec::len), Some(endline_ingest::issues::REPORTED));
    assert_eq!(v["issues_total"].as_u64(), Some(report.issues_total as u64));
    let counted: u64 = v["issue_counts"].as_array().into_iter().flatten().filter_map(|c| c["count"].as_u64()).sum();
    assert_eq!(counted, report.issues_total as u64);
    assert!(json.len() < 2 * text.len().max(400_000), "ingest.json has {} bytes", json.len());
    let csv = std::fs::read_to_string(out.join("issues.csv")).unwrap_or_default();
    assert_eq!(csv.lines().count(), report.issues_total + 1);
    assert!(csv.starts_with("table,file,row,key,column,rule,severity,value,message\n"));
}

/// A CSV table's types come from every row: a county attribute empty in the first 150
/// rows is still read as a number, and files that cannot be read say which and why.
#[test]
fn read_table_infers_types_from_every_row() {
    let dir = std::env::temp_dir().join(format!("endline-ingest-{}-read-table", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("counties.csv");
    let rows: String = (1..=200).map(|i| format!("{i},{}\n", if i > 150 { "2.5" } else { "" })).collect();
    std::fs::write(&path, format!("county_id,share\n{rows}")).unwrap_or_else(|e| panic!("{e}"));
    let df = endline_ingest::table::read_table(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(df.column("share").map(|c| c.dtype().clone()).ok(), Some(polars::prelude::DataType::Float64));
    assert_eq!(df.column("share").map(|c| c.null_count()).ok(), Some(150));
    let missing = endline_ingest::table::read_table(&dir.join("nope.csv")).err().unwrap_or_default();
    assert!(missing.contains("nope.csv") && missing.contains("no such file"), "{missing}");
    std::fs::write(dir.join("counties.xlsx"), "x").unwrap_or_else(|e| panic!("{e}"));
    let odd = endline_ingest::table::read_table(&dir.join("counties.xlsx")).err().unwrap_or_default();
    assert!(odd.contains("counties.xlsx") && odd.contains("cannot tell the format"), "{odd}");
    let _ = std::fs::remove_dir_all(&dir);
}
