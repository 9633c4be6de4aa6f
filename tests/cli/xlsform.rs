//! Issue #17 (export): every shipped survey and valid fixture converts to an XLSForm that
//! pyxform 4.5.0 with ODK Validate accepts; the same survey gives the same bytes; missing
//! codes stay enterable and endline's extra columns are kept.
//!
//! pyxform's `xls2xform` is found beside `$ENDLINE_PYTHON` or in `~/.cache/endline-venv`
//! (`.ci/run` installs it, and Java for ODK Validate). Without them the test is skipped,
//! unless `ENDLINE_REQUIRE_PYTHON` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{endline, root, scratch, stdout};

fn xls2xform() -> Option<PathBuf> {
    let python = std::env::var_os("ENDLINE_PYTHON")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/endline-venv/bin/python")))?;
    let tool = python.parent()?.join("xls2xform");
    let java = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
    (tool.is_file() && java).then_some(tool)
}

/// Every shipped survey and valid fixture.
fn surveys() -> Vec<PathBuf> {
    let mut surveys: Vec<PathBuf> = Vec::new();
    for d in ["surveys", "crates/endline-survey/tests/data/valid", "crates/endline-study/tests/data"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root().join(d))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        found.sort();
        surveys.extend(found);
    }
    assert!(surveys.len() >= 6, "{surveys:?}");
    surveys
}

#[test]
fn every_survey_exports_to_an_xlsform_odk_validate_accepts() {
    let Some(tool) = xls2xform() else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "pyxform and Java are required");
        eprintln!("skipped: no pyxform or no Java");
        return;
    };
    let dir = scratch("xlsform");
    let surveys = surveys();
    for s in &surveys {
        let name = s.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let form = dir.join(format!("{name}.xlsx"));
        let again = dir.join(format!("{name}-again.xlsx"));
        for out in [&form, &again] {
            let o = endline(&["convert", &s.display().to_string(), "-o", &out.display().to_string()]);
            assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        }
        assert_eq!(std::fs::read(&form).ok(), std::fs::read(&again).ok(), "{name}: the same survey, other bytes");
        // The Markdown form too: pyxform reads it as it reads the workbook.
        let md = dir.join(format!("{name}.md"));
        let o = endline(&["convert", &s.display().to_string(), "-o", &md.display().to_string()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        for (input, xml) in [(&form, dir.join(format!("{name}.xml"))), (&md, dir.join(format!("{name}-md.xml")))] {
            let o = Command::new(&tool)
                .arg("--odk_validate")
                .arg(input)
                .arg(&xml)
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            let said = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
            assert!(o.status.success() && said.contains("Conversion complete"), "{name}: {said}");
            assert!(!said.contains("ODKValidateError") && !said.contains("PyXFormError"), "{name}: {said}");
        }
        // The workbook and the Markdown give the same XForm.
        let (a, b) = (dir.join(format!("{name}.xml")), dir.join(format!("{name}-md.xml")));
        assert_eq!(std::fs::read(&a).ok(), std::fs::read(&b).ok(), "{name}: .xlsx and .md differ through pyxform");
    }
    // Missing codes stay enterable: the roster's age accepts don't know (-99) beside its
    // bounds, and the export keeps the codes, units and PII flags in its own columns.
    let xml = std::fs::read_to_string(dir.join("border_household.xml")).unwrap_or_default();
    assert!(xml.contains("(. &gt;= 0 and . &lt;= 110) or . = -99"), "the age constraint accepts -99");
    assert!(
        xml.contains("selected( /border_household/interview/livelihood/specialty_products , 'yak_dairy')")
            || xml.contains("selected("),
        "relevance carried"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn python() -> Option<PathBuf> {
    let tool = xls2xform()?;
    Some(tool.parent()?.join("python"))
}

fn xform(tool: &Path, form: &Path, xml: &Path) -> bool {
    Command::new(tool).arg(form).arg(xml).output().is_ok_and(|o| o.status.success() && xml.is_file())
}

/// Issue #17 (import): YAML → XLSForm → YAML gives the same survey, for every shipped
/// survey and valid fixture, through the workbook, the Markdown and the CSV form (the
/// survey read back exports to the very same sheets).
#[test]
fn every_survey_round_trips_through_each_xlsform_format() {
    let dir = scratch("xlsform-roundtrip");
    let surveys = surveys();
    for s in &surveys {
        let name = s.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let md = dir.join(format!("{name}.md"));
        let o = endline(&["convert", &s.display().to_string(), "-o", &md.display().to_string()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        for ext in ["xlsx", "md", "csv"] {
            let form = dir.join(format!("{name}.{ext}"));
            let back = dir.join(format!("{name}-{ext}.yaml"));
            let again = dir.join(format!("{name}-{ext}-again.md"));
            let steps: [(&Path, &Path); 3] = [(s, &form), (&form, &back), (&back, &again)];
            for (from, to) in steps {
                let o = endline(&["convert", &from.display().to_string(), "-o", &to.display().to_string()]);
                assert_eq!(o.status.code(), Some(0), "{name} {ext}: {}", String::from_utf8_lossy(&o.stderr));
                assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"), "{name} {ext}: {o:?}");
            }
            let v = endline(&["validate", &back.display().to_string()]);
            assert_eq!(v.status.code(), Some(0), "{name} {ext}: {}", stdout(&v));
            assert_eq!(
                std::fs::read_to_string(&md).ok(),
                std::fs::read_to_string(&again).ok(),
                "{name}: the survey read back from .{ext} is not the same survey"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// pyxform's own example forms (`tests/data/xlsform/pyxform`, see PROVENANCE): every
/// form pyxform accepts imports into a survey `endline validate` accepts, and exported
/// again it gives, through pyxform, an XForm equivalent to the original's (instance
/// tree, binds, itext, choice lists; `tests/consumers/xform_equivalent.py`), outside the
/// questions and lists the import warned it kept differently. The forms endline refuses
/// are refused for the reason listed, each error at a cell.
#[test]
fn pyxform_example_forms_import_and_round_trip() {
    let (Some(tool), Some(py)) = (xls2xform(), python()) else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "pyxform and Java are required");
        eprintln!("skipped: no pyxform or no Java");
        return;
    };
    // Refused, and why: names endline cannot hold, pyxform features with no endline form,
    // a form with nothing to identify a submission by, a filter naming no column.
    let refused: &[(&str, &str)] = &[
        ("attribute_columns_test.xlsx", "invalid-identifier"),
        ("flat_xlsform_test.xlsx", "invalid-identifier"),
        ("xlsform_spec_test.xlsx", "invalid-identifier"),
        ("gps.csv", "xlsform-key"),
        ("gps.xls", "xlsform-key"),
        ("tutorial.xls", "xlsform-key"),
        ("loop.csv", "xlsform-unsupported"),
        ("loop.md", "xlsform-unsupported"),
        ("loop.xls", "xlsform-unsupported"),
        ("loop.xlsx", "xlsform-unsupported"),
        ("simple_loop.csv", "xlsform-unsupported"),
        ("simple_loop.xls", "xlsform-unsupported"),
        ("or_other.xlsx", "unknown-reference"),
    ];
    // pyxform's plain columns beside a translated one form a language of their own
    // ("default") with `-` placeholders; endline reads them as the form's one language.
    let not_equivalent = ["field-list.xlsx"];
    let dir = scratch("xlsform-pyxform");
    let fixtures = root().join("tests/data/xlsform/pyxform");
    let mut forms: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| ["xls", "xlsx", "md", "csv"].contains(&e.to_str().unwrap_or(""))))
        .collect();
    forms.sort();
    let (mut equivalent, mut imported) = (0, 0);
    for form in &forms {
        let name = form.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let original = dir.join(format!("{name}.xml"));
        if !xform(&tool, form, &original) {
            continue; // not a form pyxform accepts
        }
        let yaml = dir.join(format!("{name}.yaml"));
        let o =
            endline(&["convert", &form.display().to_string(), "-o", &yaml.display().to_string(), "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
        if let Some((_, code)) = refused.iter().find(|(f, _)| *f == name) {
            assert_eq!(o.status.code(), Some(1), "{name}: {doc}");
            let errors: Vec<&serde_json::Value> = diags.iter().filter(|d| d["severity"] == "error").collect();
            assert!(errors.iter().any(|d| d["code"] == *code), "{name}: expected {code}: {doc}");
            for e in errors {
                assert!(e["cell"].is_string() || e["code"] == "xlsform-key", "{name}: an error without a cell: {e}");
            }
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{name}: {doc}");
        imported += 1;
        let v = endline(&["validate", &yaml.display().to_string()]);
        assert_eq!(v.status.code(), Some(0), "{name}: {}", stdout(&v));
        let again = dir.join(format!("{name}-again.xlsx"));
        let o = endline(&["convert", &yaml.display().to_string(), "-o", &again.display().to_string()]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let round = dir.join(format!("{name}-again.xml"));
        assert!(xform(&tool, &again, &round), "{name}: pyxform refuses the form exported again");
        if not_equivalent.contains(&name.as_str()) {
            continue;
        }
        let kept = [
            "xlsform-kept-as",
            "xlsform-platform-only",
            "xlsform-duplicate-choice",
            "xlsform-unused-list",
            "xlsform-unchecked",
        ];
        let mut skip: Vec<String> = diags
            .iter()
            .filter(|d| kept.iter().any(|k| d["code"] == *k))
            .filter_map(|d| d["question"].as_str().map(str::to_string))
            .collect();
        skip.sort();
        skip.dedup();
        let o = Command::new(&py)
            .arg(root().join("tests/consumers/xform_equivalent.py"))
            .args([&original, &round])
            .args(["--skip", &skip.join(",")])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.status.success(), "{name}: the XForms differ (skipping {skip:?}):\n{}", stdout(&o));
        equivalent += 1;
    }
    // 54 of the 65 files are forms pyxform accepts: 13 are refused above, 41 import, and
    // all but field-list.xlsx give an equivalent XForm again.
    assert_eq!((imported, equivalent), (41, 40), "imported, equivalent");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real SurveyCTO form of 588 rows (IPA's case management template, see
/// `tests/data/xlsform/surveycto/PROVENANCE.md`) imports with warnings only, each at its
/// cell, and the survey read passes `endline validate`.
#[test]
fn a_real_surveycto_form_imports_with_every_platform_feature_warned_at_its_cell() {
    let dir = scratch("xlsform-surveycto");
    let form = root().join("tests/data/xlsform/surveycto/advanced_case_management.xlsx");
    let yaml = dir.join("acm.yaml");
    let o = endline(&["convert", &form.display().to_string(), "-o", &yaml.display().to_string(), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "{doc}");
    assert_eq!(doc["errors"], 0, "{doc}");
    let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    assert!(diags.len() > 500, "{} warnings", diags.len());
    let unplaced: Vec<&serde_json::Value> =
        diags.iter().filter(|d| d["cell"].is_null() && d["code"] != "xlsform-setting").collect();
    assert!(unplaced.is_empty(), "warnings without a cell: {unplaced:?}");
    let at = |cell: &str, code: &str, says: &str| {
        assert!(
            diags.iter().any(|d| d["cell"] == cell
                && d["code"] == code
                && d["message"].as_str().is_some_and(|m| m.contains(says))),
            "no {code} at {cell} saying {says:?}"
        );
    };
    // SurveyCTO's sensor metadata, its `publishable` column, pulldata() from the cases
    // dataset, the device's identifiers (kept in the PII side table), `caseid` as the key.
    at("survey!A24", "xlsform-platform-only", "sensor_statistic");
    at("survey!Y9", "xlsform-platform-only", "publishable");
    at("survey!A4", "xlsform-platform-only", "PII side table");
    at("survey!B14", "xlsform-key", "`caseid`");
    assert!(diags.iter().any(|d| d["message"].as_str().is_some_and(|m| m.contains("pulldata()"))));
    // A text compared as a number, or a repeat counted by its own rows: the device checks
    // them, endline says it cannot.
    at("survey!R141", "xlsform-unchecked", "dependency cycle");
    let v = endline(&["validate", &yaml.display().to_string()]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let text = std::fs::read_to_string(&yaml).unwrap_or_default();
    assert!(
        text.contains("pii_metadata: [deviceid, subscriberid, simid, devicephonenum, username]"),
        "{}",
        &text[..2000]
    );
    assert!(text.contains("# XLSForm publishable: yes (not imported)"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #17, item 4: data collected with an exported form ingest as ODK Central and
/// KoboToolbox export them, without renaming. The headers are derived from pyxform's
/// XForm for the exported form (`tests/consumers/platform_export.py`: Central's `-`
/// group paths, split geopoints, `<form>-<repeat>.csv` with `PARENT_KEY`/`KEY`; Kobo's
/// `/` paths, split select_multiple and geopoint columns, repeat sheets linked by
/// `_parent_index`), filled with simulated answers; ingest must map every column to its
/// question: no unknown and no missing column, every record kept.
#[test]
fn collected_data_ingest_as_odk_central_and_kobotoolbox_export_them() {
    let (Some(tool), Some(py)) = (xls2xform(), python()) else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "pyxform and Java are required");
        eprintln!("skipped: no pyxform or no Java");
        return;
    };
    let dir = scratch("xlsform-platforms");
    let d = |p: &str| dir.join(p).display().to_string();
    let survey = "surveys/border_household.yaml";
    let o = endline(&["convert", survey, "-o", &d("form.xlsx")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(xform(&tool, &dir.join("form.xlsx"), &dir.join("form.xml")), "pyxform refuses the export");
    crate::simulate(&dir, "7", "4", "5", &["2019"]);
    for platform in ["central", "kobo"] {
        let o = Command::new(&py)
            .arg(root().join("tests/consumers/platform_export.py"))
            .args([&d("form.xml"), &d("field/2019"), &d(platform), &platform.to_string()])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.status.success(), "{platform}: {}", String::from_utf8_lossy(&o.stderr));
        let headers: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
        let main = headers["border_household.csv"].as_array().cloned().unwrap_or_default();
        let (geo, split) = if platform == "central" {
            ("gps-Latitude", "interview-livelihood-specialty_products")
        } else {
            ("_gps_latitude", "interview/livelihood/specialty_products/yak_dairy")
        };
        assert!(main.iter().any(|h| h == geo) && main.iter().any(|h| h == split), "{platform}: {main:?}");
        let out = d(&format!("ingested-{platform}"));
        let o = endline(&[
            "ingest",
            survey,
            &d(&format!("{platform}/border_household.csv")),
            &d(&format!("{platform}/border_household-members.csv")),
            "--wave",
            "2019",
            "--out",
            &out,
        ]);
        assert_eq!(o.status.code(), Some(0), "{platform}: {}", String::from_utf8_lossy(&o.stderr));
        let issues = std::fs::read_to_string(dir.join(format!("ingested-{platform}/issues.csv"))).unwrap_or_default();
        for rule in ["unknown-column", "missing-column"] {
            assert!(!issues.contains(&format!(",{rule},")), "{platform}: {rule}:\n{issues}");
        }
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("ingested-{platform}/ingest.json"))).unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (table, file) in [("border_household", "border_household.csv"), ("members", "border_household-members.csv")]
        {
            let simulated =
                std::fs::read_to_string(dir.join("field/2019").join(file)).unwrap_or_default().lines().count() - 1;
            let t = &report["tables"][table];
            assert_eq!(
                (t["rows_written"].as_u64(), t["rows_rejected"].as_u64()),
                (Some(simulated as u64), Some(0)),
                "{platform} {table}: {report}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
