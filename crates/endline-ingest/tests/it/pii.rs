//! Personal data stay in the PII side tables (issue #24): a personal survey key becomes a
//! stable pseudonym everywhere else, identifying platform metadata go to the side tables,
//! and no personal value reaches ingest.json, messages or the shareable rejects.

use std::path::{Path, PathBuf};

use endline_diag::SourceFile;
use endline_ingest::ingest::{Input, Options};
use endline_ingest::pii::Pseudonyms;
use endline_ingest::{IngestError, OnError, ingest_to};
use endline_survey::Survey;
use polars::prelude::*;

use crate::scratch_dir;

/// The adversarial run's crash case too: a personal key together with personal integer,
/// date and geopoint questions.
const SURVEY: &str = "\
survey: reg
version: \"1\"
key: phone
pii_metadata: [enumerator_phone]
questions:
  - {name: phone, type: text, label: Phone, pii: true, constraint: \"regex(., '1[0-9]{10}')\"}
  - {name: name, type: text, label: Name, pii: true}
  - {name: id_number, type: integer, label: ID number, pii: true}
  - {name: born, type: date, label: Born, pii: true}
  - {name: home, type: geopoint, label: Home, pii: true}
  - {name: size, type: integer, label: Size, constraint: \". >= 1\"}
  - name: people
    type: repeat
    questions:
      - {name: person, type: text, label: Person, pii: true}
      - {name: age, type: integer, label: Age}
";

/// Every personal value in the data below.
const PERSONAL: &[&str] = &[
    "13800138000",
    "13900139000",
    "1390013900X",
    "Zhang Wei",
    "Dolma",
    "110101199001011234",
    "notanumber",
    "1990-01-01",
    "29.65 91.1",
    "Tashi village",
    "enum-7",
    "device-42",
    "13711112222",
    "Pema",
    "Lhamo",
];

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    let (top, roster) = (dir.join("reg.csv"), dir.join("reg-people.csv"));
    std::fs::write(
        &top,
        "SubmissionDate,phone,name,id_number,born,home,size,meta-instanceName,SubmitterName,deviceid,meta-enumerator_phone,meta-instanceID,KEY\n\
         2025-06-02T10:00:00Z,13800138000,Zhang Wei,110101199001011234,1990-01-01,29.65 91.1,2,Tashi village,enum-7,device-42,13711112222,uuid:a,uuid:a\n\
         2025-06-02T10:00:00Z,13900139000,Dolma,notanumber,1990-01-01,,0,Tashi village,enum-7,device-42,13711112222,uuid:b,uuid:b\n\
         2025-06-02T10:00:00Z,1390013900X,Dolma,1,1990-01-01,,1,Tashi village,enum-7,device-42,13711112222,uuid:c,uuid:c\n\
         2025-06-02T10:00:00Z,13800138000,Zhang Wei,2,1990-01-01,,1,Tashi village,enum-7,device-42,13711112222,uuid:d,uuid:d\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &roster,
        "person,age,PARENT_KEY,KEY\nPema,30,uuid:a,uuid:a/people[1]\nLhamo,x,uuid:a,uuid:a/people[2]\nPema,3,uuid:b,uuid:b/people[1]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (top, roster)
}

fn survey() -> Survey {
    endline_survey::validate(&SourceFile::new("reg.yaml", SURVEY)).survey.unwrap_or_else(|| panic!("invalid survey"))
}

fn run(survey: &Survey, dir: &Path, out: &Path, secret: Option<&[u8]>) -> Result<(), IngestError> {
    let (top, roster) = files(dir);
    let inputs = [
        Input { table: None, path: top, display: "reg.csv".into() },
        Input { table: None, path: roster, display: "reg-people.csv".into() },
    ];
    let opts = Options {
        wave: "1".into(),
        on_error: OnError::Reject,
        pseudonyms: secret.map(Pseudonyms::new),
        ..Options::default()
    };
    ingest_to(survey, &inputs, &opts, out).map(|_| ())
}

fn frame(path: &Path) -> DataFrame {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(f).finish().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every cell of a Parquet file, as text.
fn cells(path: &Path) -> Vec<String> {
    let df = frame(path);
    let mut out: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    for c in df.columns() {
        let s =
            c.as_materialized_series().cast(&DataType::String).unwrap_or_else(|_| c.as_materialized_series().clone());
        if let Ok(ca) = s.str() {
            out.extend(ca.iter().flatten().map(str::to_string));
        } else {
            out.extend((0..s.len()).map(|i| format!("{:?}", s.get(i))));
        }
    }
    out
}

fn column(path: &Path, name: &str) -> Vec<Option<String>> {
    let df = frame(path);
    let c = df.column(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let s = c.as_materialized_series().cast(&DataType::String).unwrap_or_else(|e| panic!("{e}"));
    s.str().unwrap_or_else(|e| panic!("{e}")).iter().map(|v| v.map(str::to_string)).collect()
}

fn leaks(text: &str) -> Vec<&'static str> {
    PERSONAL.iter().copied().filter(|p| text.contains(p)).collect()
}

#[test]
fn a_personal_key_without_a_secret_is_a_clear_error() {
    let dir = scratch_dir("pii-nosecret");
    let _ = std::fs::remove_dir_all(&dir);
    let e = run(&survey(), &dir.join("in"), &dir.join("out"), None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("the survey key `phone` is personal data") && e.contains("--pii-secret"), "{e}");
    assert!(!dir.join("out").exists());
}

#[test]
fn personal_data_stay_in_the_pii_tables() {
    let dir = scratch_dir("pii");
    let _ = std::fs::remove_dir_all(&dir);
    let s = survey();
    let out = dir.join("out");
    run(&s, &dir.join("in"), &out, Some(b"a study secret of some length")).unwrap_or_else(|e| panic!("{e}"));
    // Nothing personal in the analysis tables, ingest.json or the shareable rejects.
    for f in ["reg.parquet", "people.parquet"] {
        let found: Vec<&str> = cells(&out.join(f)).iter().flat_map(|c| leaks(c)).collect();
        assert!(found.is_empty(), "{f}: {found:?}");
    }
    for f in ["ingest.json", "rejects/reg.csv", "rejects/people.csv"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(leaks(&text), Vec::<&str>::new(), "{f}:\n{text}");
    }
    // The analysis tables join on the pseudonym; the identifying metadata are gone from them.
    let keys = column(&out.join("reg.parquet"), "phone");
    assert!(keys.iter().flatten().all(|k| k.len() == 21 && k.starts_with('P')), "{keys:?}");
    let names: Vec<String> = frame(&out.join("reg.parquet")).get_column_names().iter().map(|n| n.to_string()).collect();
    for gone in ["name", "id_number", "born", "home", "meta-instanceName", "SubmitterName", "deviceid"] {
        assert!(!names.contains(&gone.to_string()), "{gone} in {names:?}");
    }
    assert!(names.contains(&"meta-instanceID".to_string()), "{names:?}");
    assert_eq!(column(&out.join("people.parquet"), "phone")[0], keys[0], "a roster row links by the pseudonym");
    // The side table: the mapping, once each, and every personal column.
    let pii = out.join("reg.pii.parquet");
    let side: Vec<String> = frame(&pii).get_column_names().iter().map(|n| n.to_string()).collect();
    let mut unique = side.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), side.len(), "no column twice: {side:?}");
    for want in ["phone", "_key_clear", "name", "id_number", "born", "home", "meta-instanceName", "SubmitterName"] {
        assert!(side.contains(&want.to_string()), "{want} not in {side:?}");
    }
    assert_eq!(column(&pii, "phone")[0], keys[0]);
    // (The leak check reads values: the side table shows them.)
    let side_cells = cells(&pii).join(" ");
    for shown in ["Zhang Wei", "Tashi village", "enum-7", "13711112222", "13800138000"] {
        assert!(leaks(&side_cells).contains(&shown), "{shown} not seen in {side_cells}");
    }
    assert_eq!(column(&pii, "_key_clear")[0].as_deref(), Some("13800138000"));
    // Rejected records whole, for correction, only in the .pii.csv.
    let whole = std::fs::read_to_string(out.join("rejects/reg.pii.csv")).unwrap_or_default();
    assert!(whole.contains("13900139000") && whole.contains("notanumber"), "{whole}");
    // Problems found in personal columns are reported without their values.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ingest.json")).unwrap_or_default()).unwrap_or_default();
    let issues = report["issues"].as_array().cloned().unwrap_or_default();
    let on = |col: &str, rule: &str| issues.iter().find(|i| i["column"] == col && i["rule"] == rule).cloned();
    let typed = on("id_number", "type").unwrap_or_else(|| panic!("{issues:?}"));
    assert!(typed["value"].is_null() && typed["key"].as_str().is_some_and(|k| k.starts_with('P')), "{typed}");
    let dup = on("phone", "duplicate-key").unwrap_or_else(|| panic!("{issues:?}"));
    assert_eq!(dup["key"].as_str().map(str::to_string), keys[0].clone());
    assert!(on("phone", "constraint").is_some_and(|i| i["value"].is_null()));
}

#[test]
fn a_household_keeps_its_pseudonym_across_waves_and_only_with_the_same_secret() {
    let dir = scratch_dir("pii-stable");
    let _ = std::fs::remove_dir_all(&dir);
    let s = survey();
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    run(&s, &dir.join("in"), &a, Some(b"secret one")).unwrap_or_else(|e| panic!("{e}"));
    run(&s, &dir.join("in"), &b, Some(b"secret one")).unwrap_or_else(|e| panic!("{e}"));
    run(&s, &dir.join("in"), &c, Some(b"secret two")).unwrap_or_else(|e| panic!("{e}"));
    let keys = |d: &Path| column(&d.join("reg.parquet"), "phone");
    assert_eq!(keys(&a), keys(&b));
    assert_ne!(keys(&a), keys(&c));
}

#[test]
fn a_study_output_can_leave_personal_data_out() {
    let dir = scratch_dir("pii-none");
    let _ = std::fs::remove_dir_all(&dir);
    let s = survey();
    let (top, roster) = files(&dir.join("in"));
    let inputs = [
        Input { table: None, path: top, display: "reg.csv".into() },
        Input { table: None, path: roster, display: "reg-people.csv".into() },
    ];
    let opts = Options {
        wave: "1".into(),
        pseudonyms: Some(Pseudonyms::new(b"s")),
        personal_data: false,
        ..Options::default()
    };
    let out = dir.join("out");
    ingest_to(&s, &inputs, &opts, &out).unwrap_or_else(|e| panic!("{e}"));
    let mut all = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path())
            } else {
                all.push(e.file_name().to_string_lossy().into_owned())
            }
        }
    }
    all.sort();
    assert!(all.iter().all(|f| !f.contains(".pii.")), "{all:?}");
    assert!(all.contains(&"reg.csv".to_string()), "{all:?}");
}
