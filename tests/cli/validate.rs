//! `endline validate` and `endline codebook`: outputs and exit codes of docs/cli.md.

use crate::{endline, root, scratch, stdout};

#[test]
fn example_survey_validates_clean() {
    let o = endline(&["validate", "surveys/border_household.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "1 file checked: no problems\n");
}

#[test]
fn errors_exit_1_with_caret_snippets() {
    let o = endline(&["validate", "crates/endline-survey/tests/data/invalid/unknown-reference.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("error[unknown-reference]: `hh_sise` is not a question in this survey"), "{out}");
    assert!(out.contains("--> crates/endline-survey/tests/data/invalid/unknown-reference.yaml:14:16"), "{out}");
    assert!(out.contains("= help: did you mean `${hh_size}`?"), "{out}");
    assert!(out.ends_with("1 file checked: 3 errors, 0 warnings\n"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when piped");
}

#[test]
fn warnings_alone_exit_0() {
    let o = endline(&["validate", "crates/endline-survey/tests/data/invalid/unused-choice-list.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("warning[unused-choice-list]"));
}

#[test]
fn json_follows_the_contract() {
    let bad = "crates/endline-survey/tests/data/invalid/never-relevant.yaml";
    let o = endline(&["validate", "--format", "json", "surveys/border_household.yaml", bad]);
    assert_eq!(o.status.code(), Some(0), "warnings only");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["files"], 2);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 2);
    let d = &v["diagnostics"][0];
    assert_eq!(d["file"], bad);
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(11), Some(15)));
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["code"], "never-relevant");
    assert!(d["message"].as_str().is_some_and(|m| m.contains("never relevant")));
    assert!(d.get("help").is_some());
    assert!(!stdout(&o).contains('\u{1b}'));
}

#[test]
fn unreadable_file_exits_2_and_others_are_still_checked() {
    let o = endline(&["validate", "no/such/file.yaml", "surveys/border_household.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read no/such/file.yaml"));
    assert!(stdout(&o).contains("1 file checked"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(endline(&["validate"]).status.code(), Some(2));
    assert_eq!(endline(&["validate", "--format", "xml", "x.yaml"]).status.code(), Some(2));
    assert_eq!(endline(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn codebook_in_every_format() {
    let md = endline(&["codebook", "surveys/border_household.yaml"]);
    assert_eq!(md.status.code(), Some(0));
    let md = stdout(&md);
    assert!(md.starts_with("# Codebook: Border county household survey\n"));
    assert!(md.contains("| Asked when | consent = 1 (Yes) and had\\_dispute = 1 (Yes) |"), "skip logic written out");
    assert!(md.contains("| PII | yes: stored only in `border_household.pii.parquet` |"));
    assert!(md.contains("| Unit | CNY |"));

    let csv = stdout(&endline(&["codebook", "surveys/border_household.yaml", "--format", "csv"]));
    let header = csv.lines().next().unwrap_or("");
    assert!(header.starts_with("table,name,type,value_type,label_en,label_zh,choices,asked_when"), "{header}");
    assert!(csv.contains("members,age,integer,integer,Age in completed years,周岁年龄,"));

    let json = endline(&["codebook", "surveys/border_household.yaml", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["survey"], "border_household");
    let vars = v["variables"].as_array().map_or(0, Vec::len);
    assert!(vars > 40, "{vars} variables");
    let tables: Vec<&str> = v["tables"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(tables, ["border_household", "members"]);
}

#[test]
fn codebook_of_an_invalid_survey_exits_1() {
    let o = endline(&["codebook", "crates/endline-survey/tests/data/invalid/dependency-cycle.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[dependency-cycle]"));
}

#[test]
fn codebook_out_writes_atomically_and_reproducibly() {
    let dir = scratch("codebook");
    let a = dir.join("a.md");
    let b = dir.join("b.md");
    for path in [&a, &b] {
        let o = endline(&["codebook", "surveys/border_household.yaml", "--out", &path.display().to_string()]);
        assert_eq!(o.status.code(), Some(0));
    }
    let (x, y) = (std::fs::read(&a).unwrap_or_default(), std::fs::read(&b).unwrap_or_default());
    assert!(!x.is_empty() && x == y, "same input, same bytes");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let _ = root();
}

#[test]
fn a_closed_stdout_pipe_is_not_an_error() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_endline"))
        .args(["codebook", "surveys/border_household.yaml", "--format", "csv"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // Close the reading end before the codebook is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// 8 KB of YAML nesting aborted validate, codebook and run with a stack overflow (issue
/// #24): it is a yaml-syntax diagnostic at the place the limit is passed.
#[test]
fn deep_nesting_is_a_diagnostic_not_a_crash() {
    let dir = crate::scratch("deep");
    let block: String = (0..4000).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
    let seq: String = "- ".repeat(4000) + "x\n";
    let flow = format!("survey: {}x{}\n", "[".repeat(4000), "]".repeat(4000));
    for (name, text) in [("block.yaml", block), ("seq.yaml", seq), ("flow.yaml", flow)] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        let p = path.display().to_string();
        for args in [vec!["validate", p.as_str()], vec!["codebook", p.as_str()], vec!["run", p.as_str()]] {
            let o = crate::endline(&args);
            let said = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {said}");
            assert!(said.contains("error[yaml-syntax]"), "{args:?}: {said}");
        }
    }
    let o = crate::endline(&["validate", "--format", "short", &dir.join("block.yaml").display().to_string()]);
    assert!(
        crate::stdout(&o).contains(
            "block.yaml:129:129: error[yaml-syntax]: this survey nests mappings and lists deeper than 128 levels"
        ),
        "{}",
        crate::stdout(&o)
    );
}
