//! Nothing silently chosen between two copies (issue #24): a header naming one question
//! twice is refused, and a record's KEY used twice is a duplicate, never written twice.

use std::path::Path;

use endline_ingest::ingest::{Input, Options};
use endline_ingest::{IngestError, ingest_to};

use crate::{scratch_dir, survey};

fn write(dir: &Path, name: &str, text: &str) -> Input {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    Input { table: None, path, display: name.into() }
}

const HEADER: &str = "hh_id,visit,info-size,info-coop,info-dividend,info-crops,n_adults,KEY";

#[test]
fn a_question_twice_in_a_header_is_refused() {
    let dir = scratch_dir("dup-header");
    let _ = std::fs::remove_dir_all(&dir);
    for (header, says) in [
        // The same name twice.
        (format!("{HEADER},info-size"), "columns 3 (`info-size`) and 9 (`info-size`) both hold question `size`"),
        // An ODK Central group path and the plain name of one question.
        (format!("{HEADER},size"), "columns 3 (`info-size`) and 9 (`size`) both hold question `size`"),
    ] {
        let row = "H001,2025-06-01,2,0,,,1,uuid:a,5";
        let input = write(&dir.join("in"), "hh.csv", &format!("{header}\n{row}\n"));
        let out = dir.join("out");
        match ingest_to(&survey(), &[input], &Options::default(), &out) {
            Err(IngestError::Malformed { file, row: 0, message }) => {
                assert_eq!(file, "hh.csv");
                assert!(message.contains(says), "{message}");
            }
            other => panic!("expected the header to be refused, got {other:?}"),
        }
        assert!(!out.exists());
    }
}

#[test]
fn a_key_used_twice_is_a_duplicate_in_every_table() {
    let dir = scratch_dir("dup-key");
    let _ = std::fs::remove_dir_all(&dir);
    let hh = write(
        &dir.join("in"),
        "hh.csv",
        &format!("{HEADER}\nH001,2025-06-01,2,0,,,1,uuid:a\nH002,2025-06-01,1,0,,,0,uuid:a\n"),
    );
    let members = write(
        &dir.join("in"),
        "hh-members.csv",
        "age,PARENT_KEY,KEY\n40,uuid:a,uuid:a/members[1]\n41,uuid:a,uuid:a/members[1]\n",
    );
    let out = dir.join("out");
    let report = ingest_to(&survey(), &[hh, members], &Options::default(), &out).unwrap_or_else(|e| panic!("{e}"));
    let dups: Vec<(String, String, usize)> = report
        .issues
        .iter()
        .filter(|i| i.rule == "duplicate-key")
        .map(|i| (i.table.clone(), i.column.clone(), i.row))
        .collect();
    assert_eq!(dups, [("hh".to_string(), "KEY".to_string(), 2), ("members".to_string(), "KEY".to_string(), 2)]);
    let counts: Vec<(String, usize, usize)> =
        report.counts.iter().map(|(t, c)| (t.clone(), c.rows_written, c.rows_rejected)).collect();
    assert_eq!(counts, [("hh".to_string(), 1, 1), ("members".to_string(), 1, 1)]);
}
