//! `endline diff` (issue #20, part): two versions of the example survey with a planted
//! rename (suggested, and one declared with `renamed_from`), recode, relabel, removal,
//! addition and a changed constraint; each is found at its place in both files, classed,
//! and the exit code gates a breaking change.

use serde_json::Value;

use crate::{endline, root, scratch, stdout};

#[test]
fn each_planted_change_is_found_classed_and_located() {
    let dir = scratch("diff");
    let old = root().join("surveys/border_household.yaml");
    let text = std::fs::read_to_string(&old).unwrap_or_default();
    let new_text = text
        .replace("version: \"2025.1\"", "version: \"2026.1\"")
        .replace("- name: clinic_visits", "- name: clinic_trips")
        .replace(
            "    - {value: 4, label: {en: No toilet, zh: 无厕所}}",
            "    - {value: 5, label: {en: No toilet, zh: 无厕所}}",
        )
        .replace(
            "{value: 5, label: {en: Very satisfied, zh: 很满意}}",
            "{value: 5, label: {en: Very satisfied indeed, zh: 很满意}}",
        )
        .replace("constraint: \". >= 1 and . <= 30\"", "constraint: \". >= 1 and . <= 40\"")
        .replace(
            "  - name: village\n",
            "  - name: hamlet\n    type: text\n    label: {en: Hamlet, zh: 自然村}\n  - name: village\n",
        )
        .replace("      - name: phone\n        type: text\n", "      - name: phone_number\n        type: integer\n")
        .replace(
            "          - name: had_dispute\n            type: select_one yes_no\n            label: {en: Was the household party to a dispute in the last 12 months?, zh: 过去12个月本户是否卷入纠纷？}",
            "          - name: any_dispute\n            renamed_from: had_dispute\n            type: select_one yes_no\n            label: {en: Any dispute in the last 12 months?, zh: 过去12个月有无纠纷？}",
        )
        .replace("${had_dispute}", "${any_dispute}");
    assert_ne!(text, new_text);
    let new = dir.join("border_household_v2.yaml");
    std::fs::write(&new, &new_text).unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["diff", &old.display().to_string(), &new.display().to_string(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "breaking changes exit 1: {}", stdout(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let got: Vec<(String, String, String)> = v["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["question"].as_str().unwrap_or("").into(),
                c["kind"].as_str().unwrap_or("").into(),
                c["class"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want = [
        ("hamlet", "added", "benign"),
        ("hh_size", "constraint-changed", "benign"),
        ("toilet_type", "choice-recoded", "breaking"),
        ("clinic_trips", "renamed", "harmonise"),
        ("sw_satisfaction", "choice-relabelled", "benign"),
        ("any_dispute", "renamed", "harmonise"),
        ("dispute_kind", "relevance-changed", "benign"),
        ("mediated_by", "relevance-changed", "benign"),
        ("dispute_resolved", "relevance-changed", "benign"),
        ("phone_number", "added", "benign"),
        ("phone", "removed", "breaking"),
    ];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(got, want);
    let declared = v["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["question"] == "any_dispute")
        .cloned()
        .unwrap_or_default();
    assert!(declared["message"].as_str().is_some_and(|m| m.contains("declared with `renamed_from`")), "{declared}");
    // Located in both files: the rename at the old and the new question.
    let renamed =
        v["changes"].as_array().into_iter().flatten().find(|c| c["kind"] == "renamed").cloned().unwrap_or_default();
    let line =
        |s: &str, name: &str| s.lines().position(|l| l.contains(&format!("- name: {name}"))).map(|i| i as u64 + 1);
    assert_eq!(renamed["old"]["line"].as_u64(), line(&text, "clinic_visits"));
    assert_eq!(renamed["new"]["line"].as_u64(), line(&new_text, "clinic_trips"));
    // A version with only benign changes passes the gate.
    let benign = text.replace("constraint: \". >= 1 and . <= 30\"", "constraint: \". >= 1 and . <= 40\"");
    let path = dir.join("benign.yaml");
    std::fs::write(&path, benign).unwrap_or_else(|e| panic!("{e}"));
    let o = endline(&["diff", &old.display().to_string(), &path.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("1 changes: 0 breaking, 0 to harmonise, 1 benign"), "{}", stdout(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #20: KoboToolbox formpack's five-version `site_inspection` form (transcribed,
/// see `tests/data/versions/site_inspection/PROVENANCE.md`): each version's change, as
/// formpack documents it, is what `endline diff` reports, with its class.
#[test]
fn formpack_site_inspection_versions_diff_as_formpack_describes_them() {
    let dir = "tests/data/versions/site_inspection";
    let diff = |a: &str, b: &str| {
        let o = endline(&["diff", &format!("{dir}/{a}.yaml"), &format!("{dir}/{b}.yaml"), "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{a}→{b}: {e}"));
        let changes: Vec<(String, String, String)> = doc["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("question"), s("kind"), s("class"))
            })
            .collect();
        (o.status.code(), changes)
    };
    let c = |q: &str, k: &str, class: &str| (q.to_string(), k.to_string(), class.to_string());
    // v1 → v2: yes/no named 1/0: every yes/no question's codes change (two per question).
    let (code, changes) = diff("v1", "v2");
    assert_eq!(code, Some(1), "{changes:?}");
    assert_eq!(changes.len(), 10, "{changes:?}");
    for q in
        ["did_you_find_the_site", "was_there_damage_to_the_site", "is_the_gate_secure", "is_plant_life_encroaching"]
    {
        assert_eq!(changes.iter().filter(|x| **x == c(q, "choice-recoded", "breaking")).count(), 2, "{q}: {changes:?}");
    }
    // v2 → v3: the duplicate question removed.
    assert_eq!(diff("v2", "v3"), (Some(1), vec![c("was_there_damage_to_the_site_dupe", "removed", "breaking")]));
    // v3 → v4: the group renamed: its questions move, which loses no data.
    assert_eq!(diff("v3", "v4"), (Some(0), vec![c("ping", "moved", "benign"), c("rssi", "moved", "benign")]));
    // v4 → v5: a question moved into a new group.
    assert_eq!(diff("v4", "v5"), (Some(0), vec![c("is_plant_life_encroaching", "moved", "benign")]));
}
