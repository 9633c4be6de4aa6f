//! Issue #20 (panel linking): a simulated three-wave panel with a reused household key,
//! a household that splits and one that vanishes and reappears, each planted in the
//! field files; `endline link` finds each where it was planted, and the members of the
//! other households keep their person IDs across waves. Names are compared from the
//! personal-data side tables and never appear in the outputs.

use std::path::Path;

use crate::{endline, scratch, stdout};

type Rows = (Vec<String>, Vec<Vec<String>>);

fn read(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().map(|h| h.iter().map(str::to_string).collect()).unwrap_or_default();
    let rows = r.records().map(|x| x.map(|x| x.iter().map(str::to_string).collect()).unwrap_or_default()).collect();
    (header, rows)
}

fn write(path: &Path, (header, rows): &Rows) {
    let mut w = csv::Writer::from_path(path).unwrap_or_else(|e| panic!("{e}"));
    w.write_record(header).unwrap_or_else(|e| panic!("{e}"));
    for r in rows {
        w.write_record(r).unwrap_or_else(|e| panic!("{e}"));
    }
    w.flush().unwrap_or_else(|e| panic!("{e}"));
}

fn col(rows: &Rows, name: &str) -> usize {
    rows.0.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn link_finds_reused_keys_splits_and_returns_and_keeps_person_ids() {
    let dir = scratch("link");
    let d = |p: &str| dir.join(p).display().to_string();
    let survey = "surveys/border_household.yaml";
    crate::simulate(&dir, "11", "6", "5", &["2019", "2021", "2023"]);
    let main = |w: &str| dir.join(format!("field/{w}/border_household.csv"));
    let roster = |w: &str| dir.join(format!("field/{w}/border_household-members.csv"));
    let (m23, r23) = (read(&main("2023")), read(&roster("2023")));
    let (key, inst, rkey, parent, size) = (
        col(&m23, "household_id"),
        col(&m23, "KEY"),
        col(&r23, "KEY"),
        col(&r23, "PARENT_KEY"),
        col(&m23, "interview-hh_size"),
    );
    let members_of = |r: &Rows, k: &str| r.1.iter().filter(|x| x[parent] == k).count();
    // Planted in 2023: household `reused`'s key now names strangers (sex swapped, 17 years
    // older); two members of `splitter` form a new household `HH9999999`.
    let reused = m23.1[1][key].clone();
    let splitter_row =
        (2..m23.1.len()).find(|&i| members_of(&r23, &m23.1[i][inst]) >= 4).unwrap_or_else(|| panic!("no roster of 4"));
    let splitter = m23.1[splitter_row][key].clone();
    assert_ne!(reused, splitter);
    let (mut m23, mut r23) = (m23, r23);
    let (sex, age) = (col(&r23, "sex"), col(&r23, "age"));
    let reused_inst = m23.1[1][inst].clone();
    for r in r23.1.iter_mut().filter(|r| r[parent] == reused_inst) {
        r[sex] = if r[sex] == "1" { "2".into() } else { "1".into() };
        r[age] = (r[age].parse::<i64>().unwrap_or(30) + 17).min(105).to_string();
    }
    let split_inst = m23.1[splitter_row][inst].clone();
    let mut new_row = m23.1[splitter_row].clone();
    let new_inst = "uuid:planted-split".to_string();
    new_row[key] = "HH9999999".into();
    new_row[inst] = new_inst.clone();
    new_row[col(&m23, "meta-instanceID")] = new_inst.clone();
    new_row[size] = "2".into();
    let old_size: i64 = m23.1[splitter_row][size].parse().unwrap_or(0);
    m23.1[splitter_row][size] = (old_size - 2).to_string();
    let mut moved = 0;
    for r in r23.1.iter_mut().filter(|r| r[parent] == split_inst).skip(1) {
        if moved < 2 {
            r[parent] = new_inst.clone();
            r[rkey] = format!("{new_inst}/members[{}]", moved + 1);
            moved += 1;
        }
    }
    m23.1.push(new_row);
    write(&main("2023"), &m23);
    write(&roster("2023"), &r23);
    // Planted in 2021: household `returning` is not interviewed, and is again in 2023.
    let (mut m21, mut r21) = (read(&main("2021")), read(&roster("2021")));
    let returning_row = m21.1.iter().position(|r| r[key] != reused && r[key] != splitter).unwrap_or(0);
    let returning = m21.1[returning_row][key].clone();
    let returning_inst = m21.1.remove(returning_row)[inst].clone();
    r21.1.retain(|r| r[parent] != returning_inst);
    write(&main("2021"), &m21);
    write(&roster("2021"), &r21);
    crate::ingest_waves(&dir, &["2019", "2021", "2023"]);
    let o = endline(&[
        "link",
        &d("in/2023"),
        &d("in/2019"),
        &d("in/2021"),
        "--survey",
        survey,
        "--members",
        "members",
        "--sex",
        "sex",
        "--age",
        "age",
        "--relation",
        "relation",
        "--name",
        "member_name",
        "--out",
        &d("persons.csv"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("persons.linkage.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    let findings = report["linkage"]["findings"].as_array().cloned().unwrap_or_default();
    let found = |kind: &str, hh: &str| findings.iter().any(|f| f["kind"] == kind && f["household"] == hh);
    assert!(found("key-reused", &reused), "reused key {reused} not found: {findings:?}");
    assert!(
        findings.iter().any(|f| f["kind"] == "split"
            && f["household"] == "HH9999999"
            && f["from"] == splitter.as_str()
            && f["linked"] == 2),
        "split of {splitter} not found: {findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["kind"] == "reappeared"
            && f["household"] == returning.as_str()
            && f["missing"] == serde_json::json!(["2021"])),
        "return of {returning} not found: {findings:?}"
    );
    // Nothing else is flagged: no household vanished, no other key was reused or split.
    assert_eq!(findings.len(), 3, "{findings:?}");
    // The member panel: every member of the other households keeps one person ID.
    let panel = read(&dir.join("persons.csv"));
    let (hh, pid, wave, rule) =
        (col(&panel, "household_id"), col(&panel, "person_id"), col(&panel, "_wave"), col(&panel, "link_rule"));
    let planted = [&reused, &splitter, &returning, &"HH9999999".to_string()];
    let stayers: Vec<&Vec<String>> = panel.1.iter().filter(|r| !planted.contains(&&r[hh])).collect();
    let later = stayers.iter().filter(|r| r[wave] != "2019").count();
    let linked = stayers.iter().filter(|r| r[wave] != "2019" && r[rule] == "matched").count();
    assert!(later > 50 && linked * 100 >= later * 90, "{linked} of {later} later members linked");
    let split_ids: Vec<&String> = panel.1.iter().filter(|r| r[hh] == "HH9999999").map(|r| &r[pid]).collect();
    assert!(split_ids.iter().all(|p| p.starts_with(&format!("{splitter}-"))), "{split_ids:?}");
    // No name leaves the side tables.
    let everything = format!("{}{}", std::fs::read_to_string(dir.join("persons.csv")).unwrap_or_default(), report);
    assert!(!everything.contains("member_name-"), "a name was written out");
    let _ = std::fs::remove_dir_all(&dir);
}
