//! The simulator: reproducible, obeys the survey (ingest finds nothing to reject), and
//! plants what the study says.

mod obeys;

use std::path::{Path, PathBuf};

use endline_diag::SourceFile;
use endline_ingest::ingest::{Input, Options, ingest};
use endline_simulate::{Attribute, Effect, Study, simulate};
use endline_survey::Survey;

fn example_survey() -> Survey {
    let path = Path::new(&manifest_dir()).join("../../surveys/border_household.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    endline_survey::validate(&SourceFile::new("border_household.yaml", text))
        .survey
        .unwrap_or_else(|| panic!("invalid example survey"))
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("endline-sim-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn corridor(selection: Option<f64>) -> Attribute {
    Attribute { name: "corridor".into(), share: 0.5, selection, trends: vec![("specialty_output".into(), 0.03)] }
}

fn study() -> Study {
    Study {
        unit_question: "county_id".into(),
        unit_plural: "counties".into(),
        units: 10,
        households_per_unit: 6,
        effects: vec![("specialty_output".into(), Effect::new(0.08))],
        attributes: vec![corridor(None)],
        answers: vec![("consent".into(), "1".into())],
        weight_question: Some("weight".into()),
        seed: 11,
        ..Study::default()
    }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(all_files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let s = example_survey();
    let (a, b, c) = (scratch("a"), scratch("b"), scratch("c"));
    simulate(&s, &study(), &a).unwrap_or_else(|e| panic!("{e}"));
    simulate(&s, &study(), &b).unwrap_or_else(|e| panic!("{e}"));
    simulate(&s, &Study { seed: 12, ..study() }, &c).unwrap_or_else(|e| panic!("{e}"));
    let (fa, fb) = (all_files(&a), all_files(&b));
    assert_eq!(fa.len(), 4 * 2 + 3, "two tables per wave, units.csv, truth.json and endline's marker");
    assert!(a.join(endline_output::MARKER).exists());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(std::fs::read(x).unwrap_or_default(), std::fs::read(y).unwrap_or_default(), "{}", x.display());
    }
    assert_ne!(
        std::fs::read(a.join("2019/border_household.csv")).unwrap_or_default(),
        std::fs::read(c.join("2019/border_household.csv")).unwrap_or_default()
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn real_exports_are_never_overwritten() {
    // The adversarial run: `simulate --out DIR` overwrote real exports in DIR.
    let s = example_survey();
    let dir = scratch("real");
    std::fs::create_dir_all(dir.join("2019")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("2019/border_household.csv"), "real field data").unwrap_or_else(|e| panic!("{e}"));
    let e = simulate(&s, &study(), &dir).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("holds files endline did not write (2019)"), "{e}");
    assert_eq!(std::fs::read_to_string(dir.join("2019/border_household.csv")).unwrap_or_default(), "real field data");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn simulated_waves_ingest_without_a_single_issue() {
    let s = example_survey();
    let dir = scratch("ingest");
    simulate(&s, &study(), &dir).unwrap_or_else(|e| panic!("{e}"));
    for wave in ["2019", "2021", "2023", "2025"] {
        let inputs: Vec<Input> = ["border_household.csv", "border_household-members.csv"]
            .iter()
            .map(|f| Input { table: None, path: dir.join(wave).join(f), display: f.to_string() })
            .collect();
        let d =
            ingest(&s, &inputs, &Options { wave: wave.into(), ..Options::default() }).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.issues(), Vec::new(), "wave {wave}");
        assert_eq!(d.tables[0].rows.len(), 60);
        assert!(d.tables[1].rows.len() >= 60, "every household has a roster");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The roll-out and the planted parameters: the programme's share of units, adoption
/// in the given years, placement on the corridor, and the outcome's treated-minus-
/// comparison change from the first to the last wave near 6 years x 0.03 x (the
/// difference in corridor shares) + 0.08 (the effect).
#[test]
fn the_planted_design_is_in_the_data() {
    let s = example_survey();
    let dir = scratch("design");
    let st = Study { units: 40, households_per_unit: 10, attributes: vec![corridor(Some(1.0))], ..study() };
    let sim = simulate(&s, &st, &dir).unwrap_or_else(|e| panic!("{e}"));
    let units = &sim.units;
    let treated: Vec<_> = units.iter().filter(|c| c.first_treated > 0).collect();
    assert_eq!(treated.len(), 16);
    assert!(treated.iter().all(|c| [2021, 2023].contains(&c.first_treated)));
    assert!(treated.iter().all(|c| c.attributes[0]), "selection 1: every programme county on the corridor");
    assert_eq!(units.iter().filter(|c| c.attributes[0]).count(), 20);
    let table = std::fs::read_to_string(dir.join("units.csv")).unwrap_or_default();
    assert!(table.starts_with("county_id,first_treated,corridor\n"), "{table}");
    // 4 of the 24 comparison counties are on the corridor.
    let share_gap = 1.0 - 4.0 / 24.0;
    let mean_log = |wave: &str, programme: bool| -> f64 {
        let text = std::fs::read_to_string(dir.join(wave).join("border_household.csv")).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let (ci, oi) = (
            header.iter().position(|h| *h == "county_id").unwrap_or(0),
            header.iter().position(|h| h.ends_with("specialty_output")).unwrap_or(0),
        );
        let values: Vec<f64> = lines
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                let county = *f.get(ci)?;
                let is_t = units.iter().any(|c| c.code == county && c.first_treated > 0);
                let y = f.get(oi)?.parse::<f64>().ok().filter(|y| *y > 0.0)?;
                (is_t == programme).then(|| y.ln())
            })
            .collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    let did = (mean_log("2025", true) - mean_log("2019", true)) - (mean_log("2025", false) - mean_log("2019", false));
    let want = 6.0 * 0.03 * share_gap + 0.08;
    assert!((did - want).abs() < 0.05, "treated-minus-comparison change {did}, planted {want}");
    let truth = sim.truth.iter().find(|t| t.question == "specialty_output").unwrap_or_else(|| panic!("no truth"));
    assert!(truth.n > 0);
    let log = truth.att.log.unwrap_or(f64::NAN);
    assert!((log - 0.08).abs() < 0.01, "the log-scale truth is the planted 0.08 up to clamping: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Faults planted at random into simulated exports are each caught at exactly their row
/// and column, with the right rule, and nothing else is reported.
#[test]
fn planted_faults_are_caught_where_they_are() {
    let s = example_survey();
    let dir = scratch("faults");
    simulate(&s, &study(), &dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("2021/border_household.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<String> = lines[0].split(',').map(str::to_string).collect();
    let col = |name: &str| {
        header.iter().position(|h| h == name || h.ends_with(&format!("-{name}"))).unwrap_or_else(|| panic!("{name}"))
    };
    // (column, bad value, rule) — one per record, on records chosen by a seeded generator.
    let faults = [
        ("hh_size", "0", "constraint"),
        ("county_id", "abc", "type"),
        ("region", "9", "choice"),
        ("weight", "-1", "constraint"),
        ("toilet_type", "", "required"),
        ("income_total", "-5", "constraint"),
    ];
    let mut rng = endline_rng::Rng::new(99);
    let mut planted = Vec::new();
    for (column, value, rule) in faults {
        let row = loop {
            let r = 1 + rng.below(lines.len() as u64 - 1) as usize;
            if !planted.iter().any(|(pr, _, _)| *pr == r) {
                break r;
            }
        };
        // Simulated cells hold no commas or quotes, so a plain split is exact.
        let mut cells: Vec<String> = lines[row].split(',').map(str::to_string).collect();
        cells[col(column)] = value.to_string();
        lines[row] = cells.join(",");
        planted.push((row, column.to_string(), rule.to_string()));
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let inputs: Vec<Input> = ["border_household.csv", "border_household-members.csv"]
        .iter()
        .map(|f| Input { table: None, path: dir.join("2021").join(f), display: f.to_string() })
        .collect();
    let d =
        ingest(&s, &inputs, &Options { wave: "2021".into(), ..Options::default() }).unwrap_or_else(|e| panic!("{e}"));
    let mut got: Vec<(usize, String, String)> = d
        .issues()
        .into_iter()
        .filter(|i| i.table == "border_household" && i.rule != "count-mismatch" && i.rule != "calculation")
        .map(|i| (i.row, i.column, i.rule))
        .collect();
    got.sort();
    planted.sort();
    assert_eq!(got, planted);
    // Their roster rows go with them, as orphans of rejected records, and counts reconcile.
    let rejected_children = d.tables[1].rows.iter().filter(|r| r.has_error()).count();
    assert!(rejected_children > 0);
    assert!(d.issues().iter().filter(|i| i.table == "members").all(|i| i.rule == "orphan"));
    for (_, c) in d.counts() {
        assert_eq!(c.rows_in, c.rows_written + c.rows_rejected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}
