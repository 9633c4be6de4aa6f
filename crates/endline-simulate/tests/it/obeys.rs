//! The simulator's invariant: simulate → ingest gives zero rejects and zero issues, for
//! every survey shipped in `surveys/`, every valid survey fixture, a WASH-style survey of
//! another design, and randomly generated valid surveys (a property test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endline_diag::SourceFile;
use endline_ingest::ingest::{Input, Options, ingest};
use endline_simulate::{Effect, Study, simulate};
use endline_survey::{QuestionType, Survey};
use proptest::prelude::*;

use crate::{manifest_dir, scratch};

fn load(path: &Path) -> Survey {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v = endline_survey::validate(&SourceFile::new(path.display().to_string(), text));
    v.survey.unwrap_or_else(|| panic!("{} is invalid: {:?}", path.display(), v.diagnostics))
}

fn parse(text: &str) -> Survey {
    let v = endline_survey::validate(&SourceFile::new("generated.yaml", text.to_string()));
    v.survey.unwrap_or_else(|| panic!("the generated survey is invalid: {:?}\n{text}", v.diagnostics))
}

/// Every wave's issues after ingesting what the simulation wrote, and each wave's tables'
/// row counts.
/// Rows written per table, by wave.
type Written = BTreeMap<i64, Vec<(String, usize)>>;

fn ingest_all(survey: &Survey, dir: &Path, waves: &[i64]) -> (Vec<String>, Written) {
    let mut issues = Vec::new();
    let mut rows = BTreeMap::new();
    for wave in waves {
        let wave_dir = dir.join(wave.to_string());
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&wave_dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        files.sort();
        let inputs: Vec<Input> =
            files.iter().map(|p| Input { table: None, path: p.clone(), display: p.display().to_string() }).collect();
        let d = ingest(survey, &inputs, &Options { wave: wave.to_string(), ..Options::default() })
            .unwrap_or_else(|e| panic!("wave {wave}: {e}"));
        issues.extend(d.issues().iter().map(|i| {
            format!(
                "wave {wave} {} row {} `{}` {}: {} ({})",
                i.table,
                i.row,
                i.column,
                i.rule,
                i.value.as_deref().unwrap_or(""),
                i.message
            )
        }));
        rows.insert(*wave, d.counts().iter().map(|(t, c)| (t.to_string(), c.rows_written)).collect());
        for (t, c) in d.counts() {
            assert_eq!(c.rows_in, c.rows_written + c.rows_rejected, "{t}");
        }
    }
    (issues, rows)
}

/// A question that can hold `n` unit codes: an integer, a text or a select_one of the
/// household table other than the key.
fn unit_question(survey: &Survey, n: usize) -> Option<String> {
    let mut found = Vec::new();
    survey.visit(&mut |p| {
        let t = p.item.question_type();
        let fits = matches!(t, QuestionType::Integer | QuestionType::Text)
            || (t == QuestionType::SelectOne && survey.choices_of(p.item).is_some_and(|l| l.choices().len() >= n));
        if p.table == survey.id()
            && p.path.is_empty()
            && fits
            && p.item.name() != survey.key()
            && p.item.relevant().is_none()
        {
            found.push(p.item.name().to_string());
        }
    });
    found.into_iter().next()
}

fn check(survey: &Survey, study: &Study, name: &str) {
    let dir = scratch(name);
    simulate(survey, study, &dir).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (issues, _) = ingest_all(survey, &dir, &study.waves);
    assert_eq!(issues, Vec::<String>::new(), "{name}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_shipped_survey_and_valid_fixture_simulates_without_a_reject() {
    let root = manifest_dir().join("../..");
    let mut paths: Vec<PathBuf> = Vec::new();
    let dirs = [
        root.join("surveys"),
        root.join("crates/endline-survey/tests/data/valid"),
        root.join("crates/endline-study/tests/data"),
    ];
    for dir in dirs {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        found.sort();
        paths.extend(found);
    }
    assert!(paths.len() >= 6, "{paths:?}");
    for path in paths {
        let survey = load(&path);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(unit) = unit_question(&survey, 4) else {
            // A survey with nothing but its key (minimal.yaml) has no question to hold a
            // unit: the simulation says so rather than inventing one.
            let study = Study { unit_question: "unit".into(), ..Study::default() };
            let e = simulate(&survey, &study, &scratch(&name)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("the unit question `unit` is not a question"), "{name}: {e}");
            continue;
        };
        let study = Study {
            unit_question: unit,
            units: 4,
            households_per_unit: 5,
            waves: vec![2019, 2020, 2023],
            adoption_years: vec![2020],
            missing_rate: 0.2,
            seed: 5,
            ..Study::default()
        };
        check(&survey, &study, &name);
    }
}

/// The survey of issue #18's WASH programme: villages coded `V` and three digits, a yes/no
/// outcome, minutes to water of at most 600, a roster, missing codes and two languages.
pub(crate) const WASH: &str = r#"
survey: wash
version: "1"
languages: [en, fr]
key: hh_id
missing_codes: {dont_know: -99, refused: -98}
choices:
  yes_no:
    - {value: 1, label: {en: "Yes", fr: Oui}}
    - {value: 0, label: {en: "No", fr: Non}}
  source:
    - {value: 1, label: {en: Piped, fr: Robinet}}
    - {value: 2, label: {en: Borehole, fr: Forage}}
    - {value: 3, label: {en: River, fr: Rivière}}
questions:
  - {name: hh_id, type: text, label: {en: Household, fr: Ménage}, required: true, constraint: "regex(., 'W[0-9]{6}')"}
  - {name: village, type: text, label: {en: Village, fr: Village}, required: true, constraint: "regex(., '^V[0-9]{3}$')"}
  - {name: hh_size, type: integer, label: {en: Size, fr: Taille}, required: true, constraint: ". >= 1 and . <= 12"}
  - name: members
    type: repeat
    label: {en: Members, fr: Membres}
    count: "${hh_size}"
    questions:
      - {name: age, type: integer, label: {en: Age, fr: Âge}, required: true, missing: [dont_know], constraint: ". >= 0 and . <= 100"}
      - {name: in_school, type: select_one yes_no, label: {en: School, fr: École}, relevant: "${age} >= 5 and ${age} <= 18", required: true}
  - {name: water_source, type: select_one source, label: {en: Source, fr: Source}, required: true}
  - {name: improved_water, type: calculate, calculation: "if(${water_source} = 1 or ${water_source} = 2, 1, 0)"}
  - {name: has_latrine, type: select_one yes_no, label: {en: Latrine, fr: Latrines}, required: true}
  - {name: minutes_to_water, type: integer, label: {en: Minutes, fr: Minutes}, required: true, missing: [dont_know], constraint: ". >= 0 and . <= 600"}
  - {name: diarrhoea_cases, type: integer, label: {en: Cases, fr: Cas}, missing: [dont_know, refused], constraint: ". >= 0 and . <= ${hh_size} * 10"}
"#;

#[test]
fn a_wash_study_obeys_its_survey_and_keeps_its_households() {
    let survey = parse(WASH);
    let study = Study {
        unit_question: "village".into(),
        unit_plural: "villages".into(),
        units: 30,
        households_per_unit: 12,
        waves: vec![2020, 2021, 2022, 2023, 2024],
        adoption_years: vec![2022, 2023],
        effects: vec![
            ("has_latrine".into(), Effect::new(0.15)),
            ("minutes_to_water".into(), Effect::new(-0.3)),
            ("diarrhoea_cases".into(), Effect::new(-0.2)),
        ],
        missing_rate: 0.05,
        seed: 3,
        ..Study::default()
    };
    let dir = scratch("wash");
    let sim = simulate(&survey, &study, &dir).unwrap_or_else(|e| panic!("{e}"));
    let (issues, rows) = ingest_all(&survey, &dir, &study.waves);
    assert_eq!(issues, Vec::<String>::new());
    for r in rows.values() {
        assert_eq!(r[0], ("wash".to_string(), 360), "every household is interviewed every wave");
    }
    let units = std::fs::read_to_string(dir.join("units.csv")).unwrap_or_default();
    assert!(units.starts_with("village,first_treated\n"), "{units}");
    assert!(sim.units.iter().all(|u| u.code.len() == 4 && u.code.starts_with('V')), "{:?}", sim.units[0]);
    // Answers: yes/no outcomes 0 or 1, minutes within 600, missing codes at about 5%.
    let table = |wave: i64, file: &str| -> Vec<BTreeMap<String, String>> {
        let text = std::fs::read_to_string(dir.join(wave.to_string()).join(file)).unwrap_or_default();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = r.headers().map(|h| h.iter().map(str::to_string).collect()).unwrap_or_default();
        r.records().flatten().map(|rec| header.iter().cloned().zip(rec.iter().map(str::to_string)).collect()).collect()
    };
    let mut minutes = Vec::new();
    for wave in &study.waves {
        for row in table(*wave, "wash.csv") {
            assert!(["0", "1"].contains(&row["has_latrine"].as_str()), "{row:?}");
            minutes.push(row["minutes_to_water"].clone());
        }
    }
    let coded = minutes.iter().filter(|m| *m == "-99").count() as f64 / minutes.len() as f64;
    assert!((0.02..0.09).contains(&coded), "share of minutes answered `don't know`: {coded}");
    assert!(minutes.iter().filter_map(|m| m.parse::<i64>().ok()).all(|m| m == -99 || (0..=600).contains(&m)));
    // Households persist: the same keys every wave, roster sizes that move by at most one
    // member, and members who grow older by the years between waves.
    let by_key = |wave: i64| -> BTreeMap<String, (i64, Vec<String>)> {
        let hh = table(wave, "wash.csv");
        let members = table(wave, "wash-members.csv");
        hh.iter()
            .map(|r| {
                let ages: Vec<String> =
                    members.iter().filter(|m| m["PARENT_KEY"] == r["KEY"]).map(|m| m["age"].clone()).collect();
                (r["hh_id"].clone(), (r["hh_size"].parse().unwrap_or(-1), ages))
            })
            .collect()
    };
    let (a, b) = (by_key(2020), by_key(2021));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut aged = 0;
    let mut changed = 0;
    for (k, (size, ages)) in &a {
        let (size2, ages2) = &b[k];
        assert!((size - size2).abs() <= 1, "{k}: {size} then {size2}");
        changed += usize::from(size != size2);
        for (x, y) in ages.iter().zip(ages2) {
            if let (Ok(x), Ok(y)) = (x.parse::<i64>(), y.parse::<i64>())
                && x >= 0
                && y >= 0
            {
                assert!(y == x + 1 || y < x, "{k}: a member aged {x} then {y}");
                aged += usize::from(y == x + 1);
            }
        }
    }
    assert!(aged > 500, "members grow older: {aged}");
    assert!(changed > 10 && changed < 120, "some households gain or lose a member: {changed} of 360");
    // The truth: five points on the latrine share, -0.3 log points on minutes.
    let t = |q: &str| sim.truth.iter().find(|t| t.question == q).unwrap_or_else(|| panic!("{q}"));
    let latrine = t("has_latrine").att.level.unwrap_or(f64::NAN);
    assert!((latrine - 0.15).abs() < 0.03, "{latrine}");
    assert!(t("minutes_to_water").att.log.is_none(), "minutes can be zero: no log-scale truth");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn what_cannot_be_simulated_is_said_plainly() {
    let survey = parse(WASH);
    let base = Study { unit_question: "village".into(), units: 5, households_per_unit: 2, ..Study::default() };
    let cases = [
        (Study { unit_question: "villages".into(), ..base.clone() }, "the unit question `villages` is not a question"),
        (Study { unit_question: "age".into(), ..base.clone() }, "is in a repeat"),
        (
            Study { effects: vec![("improved_water".into(), Effect::new(0.1))], ..base.clone() },
            "`improved_water` is calculated",
        ),
        (
            Study { effects: vec![("water_source".into(), Effect::new(0.1))], ..base.clone() },
            "effects are planted on yes/no",
        ),
        (Study { unit_question: "hh_size".into(), units: 20, ..base.clone() }, "only 12 distinct values of `hh_size`"),
        (Study { answers: vec![("hh_size".into(), "40".into())], ..base.clone() }, "breaks its constraint"),
    ];
    for (study, want) in cases {
        let e = simulate(&survey, &study, &scratch("bad")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(want), "want {want:?}, got {e:?}");
    }
}

/// One generated question: (kind, option, required).
type Spec = (u8, u8, bool);

/// A valid survey built from specs: a key with a pattern, a unit question, questions of
/// every kind with bounds, patterns, missing codes, skip logic and constraints that refer
/// to earlier answers, a group, and (optionally) a roster with a nested repeat.
fn generated(specs: &[Spec], roster: bool, nested: bool, unit_kind: u8) -> String {
    let mut y = String::from(
        "survey: gen\nversion: \"1\"\nkey: k\nmissing_codes: {dk: -9}\nchoices:\n  yn:\n    - {value: 1, label: Y}\n    - {value: 0, label: N}\n  fruit:\n    - {value: apple, label: A}\n    - {value: pear, label: P}\n    - {value: fig, label: F}\n  town:\n",
    );
    for t in 1..=6 {
        y.push_str(&format!("    - {{value: t{t}, label: T{t}}}\n"));
    }
    y.push_str(
        "questions:\n  - {name: k, type: text, label: K, required: true, constraint: \"regex(., 'K[0-9]{6}')\"}\n",
    );
    y.push_str(match unit_kind % 3 {
        0 => "  - {name: unit, type: integer, label: U, required: true, constraint: \". >= 100 and . <= 999\"}\n",
        1 => "  - {name: unit, type: text, label: U, required: true, constraint: \"regex(., '[A-Z]{2}-[0-9]{2}')\"}\n",
        _ => "  - {name: unit, type: select_one town, label: U, required: true}\n",
    });
    let mut last_yn: Option<String> = None;
    let mut last_num: Option<String> = None;
    let half = specs.len() / 2;
    for (i, (kind, opt, required)) in specs.iter().enumerate() {
        if i == half {
            y.push_str("  - name: g\n    type: group\n    label: G\n");
            if let Some(q) = &last_yn {
                y.push_str(&format!("    relevant: \"${{{q}}} = 1\"\n"));
            }
            y.push_str("    questions:\n");
        }
        let indent = if i >= half { "      " } else { "  " };
        let name = format!("q{i}");
        let mut props = vec![format!("name: {name}"), "label: Q".to_string()];
        if *required {
            props.push("required: true".into());
        }
        if opt % 3 == 0
            && let Some(q) = &last_yn
        {
            props.push(format!("relevant: \"${{{q}}} = 1\""));
        }
        match kind % 7 {
            0 => {
                let lo = i64::from(*opt % 5);
                props.push("type: integer".into());
                props.push(format!("constraint: \". >= {lo} and . <= {}\"", lo + 3 + i64::from(*opt)));
                if opt % 2 == 0 {
                    props.push("missing: [dk]".into());
                }
                last_num = Some(name.clone());
            }
            1 => {
                props.push("type: decimal".into());
                match &last_num {
                    Some(q) if !required => props.push(format!("constraint: \". >= 0 and . <= ${{{q}}} * 3\"")),
                    _ => props.push("constraint: \". > 0 and . <= 1000\"".into()),
                }
                last_num = Some(name.clone());
            }
            2 => {
                props.push("type: select_one yn".into());
                last_yn = Some(name.clone());
            }
            3 => props.push("type: select_multiple fruit".into()),
            4 => props.push(
                "type: text\n".to_string() + &format!("{indent}  constraint: \"regex(., '[a-z]{{3}}[0-9]{{2}}')\""),
            ),
            5 => {
                props.push("type: date".into());
                props.push("constraint: \". >= date('2000-01-01')\"".into());
            }
            _ => {
                props.retain(|p| !p.starts_with("required"));
                props.push("type: calculate".into());
                let calc = match (&last_yn, &last_num) {
                    (Some(q), _) => format!("if(${{{q}}} = 1, 1, 0)"),
                    (None, Some(q)) => format!("${{{q}}} * 2"),
                    _ => "1".into(),
                };
                props.push(format!("calculation: \"{calc}\""));
            }
        }
        y.push_str(&format!("{indent}- {}\n", props.join(&format!("\n{indent}  "))));
    }
    if roster {
        y.push_str("  - {name: size, type: integer, label: S, required: true, constraint: \". >= 1 and . <= 4\"}\n");
        y.push_str("  - name: people\n    type: repeat\n    label: P\n    count: \"${size}\"\n    questions:\n");
        y.push_str("      - {name: age, type: integer, label: A, required: true, missing: [dk], constraint: \". >= 0 and . <= 99\"}\n");
        y.push_str(
            "      - {name: works, type: select_one yn, label: W, relevant: \"${age} >= 15\", required: true}\n",
        );
        if nested {
            y.push_str("      - {name: n_jobs, type: integer, label: J, relevant: \"${works} = 1\", required: true, constraint: \". >= 1 and . <= 3\"}\n");
            y.push_str("      - name: jobs\n        type: repeat\n        label: J\n        count: \"${n_jobs}\"\n        questions:\n");
            y.push_str("          - {name: pay, type: decimal, label: P, required: true, constraint: \". > 0\"}\n");
        }
        y.push_str("  - {name: adults, type: calculate, calculation: \"count(${people})\"}\n");
    }
    y
}

fn config() -> ProptestConfig {
    let cases = std::env::var("ENDLINE_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_valid_surveys_simulate_without_a_reject(
        specs in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..14),
        roster in any::<bool>(),
        nested in any::<bool>(),
        unit_kind in any::<u8>(),
        seed in 1u64..1000,
    ) {
        let survey = parse(&generated(&specs, roster, nested, unit_kind));
        // An effect on the first question that can carry one (outside the group, which
        // may be skipped).
        let mut effects = Vec::new();
        survey.visit(&mut |p| {
            if effects.is_empty()
                && p.path.is_empty()
                && endline_simulate::OutcomeKind::of(&survey, p.item).is_some()
                && p.item.name() != "unit"
                && p.item.name() != "size"
            {
                effects.push((p.item.name().to_string(), Effect::new(0.1)));
            }
        });
        let study = Study {
            unit_question: "unit".into(),
            units: 3,
            households_per_unit: 3,
            waves: vec![2019, 2021],
            adoption_years: vec![2021],
            effects,
            missing_rate: 0.25,
            seed,
            ..Study::default()
        };
        check(&survey, &study, &format!("prop-{seed}"));
    }
}
