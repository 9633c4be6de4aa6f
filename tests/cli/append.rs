//! Issue #19: `endline ingest --append`, the correction loop that loses nothing. A fixed
//! reject appended finds its household, keys repeated across batches are caught, every
//! batch is counted, and the records already accepted come back unchanged, byte for byte.

use std::path::Path;

use serde_json::Value;

use crate::{endline, scratch, stdout};

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ok(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(o), String::from_utf8_lossy(&o.stderr));
}

/// Simulates one wave of `survey` into `dir/field` and returns its files.
fn field(dir: &Path, survey: &str, unit: &str, answer: &str) -> Vec<String> {
    let out = dir.join("field");
    let o = endline(&[
        "simulate",
        survey,
        "--out",
        &out.display().to_string(),
        "--unit-question",
        unit,
        "--units",
        "3",
        "--households",
        "4",
        "--waves",
        "2021",
        "--answer",
        answer,
        "--missing-rate",
        "0.2",
    ]);
    ok(&o);
    let mut files: Vec<String> = std::fs::read_dir(out.join("2021"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path().display().to_string())
        .collect();
    files.sort();
    files
}

/// Ingests the wash survey's `files` as wave 2021 into `out` (must succeed).
fn ingest_wash(files: &[String], out: &str) {
    let mut args = vec!["ingest", "surveys/wash_household.yaml"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--wave", "2021", "--out", out]);
    ok(&endline(&args));
}

/// Every data file of an ingested wave (tables, side tables), with its bytes.
fn tables(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    out.sort();
    out
}

fn counts_reconcile(summary: &Value) {
    for (table, c) in summary["tables"].as_object().unwrap_or_else(|| panic!("no tables")) {
        let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{table}: no {k}"));
        assert_eq!(n("rows_in"), n("rows_written") + n("rows_rejected"), "{table}: {c}");
        let batches = summary["batches"].as_array().unwrap_or_else(|| panic!("no batches"));
        let brought: u64 = batches.iter().map(|b| b["tables"][table]["records"].as_u64().unwrap_or(0)).sum();
        assert_eq!(brought, n("rows_in"), "{table}: the batches' records add up to the wave's");
    }
}

/// An empty batch appended (a file with the header only) leaves every table as it was,
/// byte for byte: the accepted records of every type (select_multiple of numbers and of
/// words, date, datetime with its offset, geopoint, missing codes, personal data and a
/// personal key) are written back and read again without a change.
#[test]
fn an_empty_batch_leaves_the_wave_byte_for_byte() {
    for (survey, unit, answer, secret) in [
        ("crates/endline-survey/tests/data/valid/all-types.yaml", "i", "so=a", false),
        ("surveys/border_household.yaml", "county_id", "consent=1", true),
    ] {
        let dir = scratch(&format!("append-empty-{}", secret));
        let files = field(&dir, survey, unit, answer);
        let out = dir.join("data").display().to_string();
        let secret_file = dir.join("secret").display().to_string();
        let mut args = vec!["ingest", survey];
        args.extend(files.iter().map(String::as_str));
        args.extend(["--wave", "2021", "--out", &out]);
        if secret {
            args.extend(["--pii-secret", &secret_file]);
        }
        ok(&endline(&args));
        let before = tables(Path::new(&out));
        assert!(before.len() >= 2, "{before:?}");
        // The top-level file's header, no records.
        let name = |f: &String| f.rsplit('/').next().unwrap_or_default().to_string();
        let top = files.iter().find(|f| !name(f).contains('-')).unwrap_or_else(|| panic!("{files:?}"));
        let header = std::fs::read_to_string(top).unwrap_or_default().lines().next().unwrap_or_default().to_string();
        let empty = dir.join("empty.csv");
        std::fs::write(&empty, header + "\n").unwrap_or_else(|e| panic!("{e}"));
        let table = name(top).trim_end_matches(".csv").to_string();
        let empty_arg = format!("{table}={}", empty.display());
        let mut args = vec!["ingest", survey, &empty_arg, "--wave", "2021", "--out", &out, "--append"];
        if secret {
            args.extend(["--pii-secret", &secret_file]);
        }
        let o = endline(&args);
        ok(&o);
        let after = tables(Path::new(&out));
        assert_eq!(before.len(), after.len());
        for ((name, a), (_, b)) in before.iter().zip(&after) {
            assert!(a == b, "{survey}: {name} changed when an empty batch was appended");
        }
        let summary = json(&Path::new(&out).join("ingest.json"));
        assert_eq!(summary["batches"].as_array().map(Vec::len), Some(2), "{summary}");
        counts_reconcile(&summary);
        // No scratch left beside the output.
        let left: Vec<_> = std::fs::read_dir(dir.join(""))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".append-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        if secret {
            // Another secret would give every household of the wave a new pseudonym.
            let other = dir.join("other-secret").display().to_string();
            let o = endline(&[
                "ingest",
                survey,
                &empty_arg,
                "--wave",
                "2021",
                "--out",
                &out,
                "--append",
                "--pii-secret",
                &other,
            ]);
            assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
            assert!(String::from_utf8_lossy(&o.stderr).contains("not the secret this wave was ingested with"));
            assert!(tables(Path::new(&out)) == after, "a refused append changes nothing");
        }
    }
}

/// The loop of issue #19: a roster row is rejected, fixed in the rejects file, and
/// appended. It finds its household (no orphan), the household's roster is whole again
/// (its partial-roster warning is gone), the original reject stays on record, and the
/// counts reconcile over both batches.
#[test]
fn a_fixed_roster_reject_appended_finds_its_household() {
    let dir = scratch("append-fix");
    let files = field(&dir, "surveys/wash_household.yaml", "village", "treats_water=0");
    let members = files.iter().find(|f| f.ends_with("-members.csv")).unwrap_or_else(|| panic!("{files:?}"));
    // Break the age of one member.
    let text = std::fs::read_to_string(members).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let age = lines[0].split(',').position(|c| c == "age").unwrap_or_else(|| panic!("{}", lines[0]));
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    cells[age] = "930".into();
    lines[2] = cells.join(",");
    std::fs::write(members, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("data");
    let out_s = out.display().to_string();
    ingest_wash(&files, &out_s);
    let first = json(&out.join("ingest.json"));
    assert_eq!(first["tables"]["members"]["rows_rejected"], 1, "{first}");
    let issues = std::fs::read_to_string(out.join("issues.csv")).unwrap_or_default();
    assert!(issues.contains("partial-roster"), "{issues}");

    // Fix the reject as a field team would: in the rejects file, then append it.
    let rejects = std::fs::read_to_string(out.join("rejects/members.csv")).unwrap_or_default();
    let fixed = rejects.replacen(",930,", ",30,", 1);
    assert_ne!(fixed, rejects);
    let fixed_path = dir.join("members-fixed.csv");
    std::fs::write(&fixed_path, fixed).unwrap_or_else(|e| panic!("{e}"));
    let arg = format!("members={}", fixed_path.display());
    let o = endline(&["ingest", "surveys/wash_household.yaml", &arg, "--wave", "2021", "--out", &out_s, "--append"]);
    ok(&o);
    assert!(stdout(&o).contains("batch 2"), "{}", stdout(&o));
    let summary = json(&out.join("ingest.json"));
    let batch = &summary["batches"][1];
    assert_eq!(batch["tables"]["members"]["records"], 1, "{summary}");
    assert_eq!(batch["tables"]["members"]["written"], 1, "{summary}");
    assert_eq!(batch["inputs"][0], fixed_path.display().to_string());
    let wave = &summary["tables"]["members"];
    let before = &first["tables"]["members"];
    assert_eq!(wave["rows_written"].as_u64(), before["rows_written"].as_u64().map(|n| n + 1), "{summary}");
    assert_eq!(wave["rows_rejected"], 1, "the original reject stays on record: {summary}");
    counts_reconcile(&summary);
    let issues = std::fs::read_to_string(out.join("issues.csv")).unwrap_or_default();
    assert!(!issues.contains("orphan"), "{issues}");
    assert!(!issues.contains("partial-roster"), "the roster is whole again: {issues}");
    assert!(issues.contains(",930,"), "the first batch's error stays in issues.csv: {issues}");
    let rejects_after = std::fs::read_to_string(out.join("rejects/members.csv")).unwrap_or_default();
    assert_eq!(rejects_after, rejects, "the rejects file keeps the earlier batch's record");
}

/// A key already accepted, sent again in a later batch, is a duplicate; the message
/// names the file and row that used it first. A batch for another wave, or for a folder
/// that holds no ingest, is refused.
#[test]
fn keys_repeated_across_batches_are_duplicates() {
    let dir = scratch("append-dupes");
    let files = field(&dir, "surveys/wash_household.yaml", "village", "treats_water=0");
    let top = files.iter().find(|f| f.ends_with("wash_household.csv")).unwrap_or_else(|| panic!("{files:?}"));
    let out = dir.join("data").display().to_string();
    ingest_wash(&files, &out);
    let text = std::fs::read_to_string(top).unwrap_or_default();
    let again = dir.join("again.csv");
    std::fs::write(&again, text.lines().take(2).collect::<Vec<_>>().join("\n") + "\n").unwrap_or_default();
    let arg = format!("wash_household={}", again.display());
    let o = endline(&["ingest", "surveys/wash_household.yaml", &arg, "--wave", "2021", "--out", &out, "--append"]);
    ok(&o);
    let summary = json(&Path::new(&out).join("ingest.json"));
    assert_eq!(summary["batches"][1]["tables"]["wash_household"]["rejected"], 1, "{summary}");
    counts_reconcile(&summary);
    let rejects = std::fs::read_to_string(Path::new(&out).join("rejects/wash_household.csv")).unwrap_or_default();
    assert!(rejects.contains("duplicate-key"), "{rejects}");
    assert!(rejects.contains(&format!("row 1 of {top}")), "{rejects}");
    assert!(!rejects.lines().next().unwrap_or_default().starts_with("_source_row"), "{rejects}");

    let o = endline(&["ingest", "surveys/wash_household.yaml", &arg, "--wave", "2023", "--out", &out, "--append"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds wave `2021`, not `2023`"));
    let none = dir.join("nothing").display().to_string();
    let o = endline(&["ingest", "surveys/wash_household.yaml", &arg, "--wave", "2021", "--out", &none, "--append"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ingest the wave first, without --append"));
}

/// IPA-style corrections: applied where the cell still holds its old value, all or none
/// (every problem at its line, in one run), kept in `corrections.csv` with their batch,
/// reason, file and line; a personal column's values stay out of the shareable trail.
/// The same file applied twice is refused: its old values are gone.
#[test]
fn corrections_are_applied_all_or_none_with_an_audit_trail() {
    let dir = scratch("append-corrections");
    let files = field(&dir, "surveys/wash_household.yaml", "village", "treats_water=0");
    let out = dir.join("data");
    let out_s = out.display().to_string();
    ingest_wash(&files, &out_s);
    let before = tables(&out);
    // The first household's key, its minutes to water and its head's name, as exported.
    let top = files.iter().find(|f| f.ends_with("wash_household.csv")).unwrap_or_else(|| panic!("{files:?}"));
    let text = std::fs::read_to_string(top).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let first: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let cell = |name: &str| first[header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{name}"))];
    let (key, minutes, name) = (cell("hh_id"), cell("minutes_to_water"), cell("head_name"));
    let fixes = dir.join("fixes.csv");
    let bad = format!(
        "key,column,old value,new value,reason\n\
         {key},minutes_to_water,{minutes},7,back-check\n\
         NOPE,minutes_to_water,1,2,typo\n\
         {key},n_under5,0,1,recount\n\
         {key},head_name,wrong-name,Someone,spelling\n"
    );
    std::fs::write(&fixes, bad).unwrap_or_else(|e| panic!("{e}"));
    let fixes_s = fixes.display().to_string();
    let run = || {
        endline(&[
            "ingest",
            "surveys/wash_household.yaml",
            "--wave",
            "2021",
            "--out",
            &out_s,
            "--corrections",
            &fixes_s,
        ])
    };
    let o = run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    for expected in [
        format!("{fixes_s}:3: no record of wave 2021 has the key `NOPE`"),
        format!("{fixes_s}:4: `n_under5` is a calculation"),
        format!("{fixes_s}:5: `head_name` of `{key}` holds another value (personal data: not shown)"),
    ] {
        assert!(err.contains(&expected), "{expected}\n{err}");
    }
    assert!(!err.contains(name), "a personal value is never shown: {err}");
    assert!(tables(&out) == before, "nothing is applied when any correction is refused");

    let good = format!(
        "key,column,old_value,new_value,reason\n{key},minutes_to_water,{minutes},7,back-check\n{key},head_name,{name},Someone Else,spelling\n"
    );
    std::fs::write(&fixes, good).unwrap_or_else(|e| panic!("{e}"));
    let o = run();
    ok(&o);
    assert!(stdout(&o).contains("2 corrections applied"), "{}", stdout(&o));
    let trail = std::fs::read_to_string(out.join("corrections.csv")).unwrap_or_default();
    assert_eq!(trail.lines().next(), Some("batch,table,key,column,old_value,new_value,reason,file,line"));
    assert!(
        trail.contains(&format!("2,wash_household,{key},minutes_to_water,{minutes},7,back-check,{fixes_s},2")),
        "{trail}"
    );
    assert!(trail.contains("(personal data)") && !trail.contains(name), "{trail}");
    let whole = std::fs::read_to_string(out.join("corrections.pii.csv")).unwrap_or_default();
    assert!(whole.contains(name) && whole.contains("Someone Else"), "{whole}");
    let summary = json(&out.join("ingest.json"));
    assert_eq!(summary["batches"][1]["corrected"], 2, "{summary}");
    counts_reconcile(&summary);
    assert!(tables(&out) != before);

    let o = run();
    assert_eq!(o.status.code(), Some(1), "applied twice");
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("holds `7`, not the old value `{minutes}`")));
}
