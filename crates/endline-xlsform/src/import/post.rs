//! After the walk: the export's own mapping undone, pyxform's `or_other` built, the
//! lists in use marked, and the survey's id and key chosen.

use super::survey::{Choice, List, Q, Settings};
use super::{Cell, Problems, Texts};

/// Undoes the export's mapping of missing codes: `<list>_missing` back to `<list>`, the
/// `or . = -99` a numeric constraint gained and the codes a filter kept offered.
pub(super) fn undo_missing(items: &mut [Q], codes: &[(String, String)], lists: &[List]) {
    for q in items.iter_mut() {
        undo_missing(&mut q.children, codes, lists);
        let Some((names, _)) = &q.missing else { continue };
        let values: Vec<&str> = names
            .split_whitespace()
            .filter_map(|n| codes.iter().find(|(c, _)| c == n))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            continue;
        }
        if let Some(list) = q.list().and_then(|l| l.strip_suffix("_missing")).map(str::to_string)
            && lists.iter().any(|l| l.name.0 == list)
        {
            q.set_list(&list);
        }
        let accepts = |name: &str| -> String {
            values
                .iter()
                .map(|v| {
                    let lit = if v.parse::<i64>().is_ok() { v.to_string() } else { format!("'{v}'") };
                    format!(" or {name} = {lit}")
                })
                .collect()
        };
        for (slot, name) in [(&mut q.constraint, "."), (&mut q.choice_filter, "name")] {
            if let Some((c, _)) = slot.as_mut()
                && let Some(inner) =
                    c.strip_suffix(&accepts(name)).and_then(|s| s.strip_prefix('(')).and_then(|s| s.strip_suffix(')'))
            {
                *c = inner.to_string();
            }
        }
    }
}

/// Whether a question selects from `list` without `or_other`.
pub(super) fn uses(items: &[Q], list: &str) -> bool {
    items.iter().any(|q| q.list() == Some(list) || uses(&q.children, list))
}

pub(super) fn rename_list(items: &mut [Q], from: &str, to: &str) {
    for q in items {
        if q.list() == Some(from) {
            q.set_list(to);
        }
        rename_list(&mut q.children, from, to);
    }
}

/// The list `copy`: `list` with pyxform's `other` choice added (in place when `copy`
/// is `list`).
pub(super) fn add_other(lists: &mut Vec<List>, list: &str, copy: &str, problems: &mut Problems) {
    let Some(l) = lists.iter().find(|l| l.name.0 == list) else { return };
    if l.choices.iter().any(|c| c.value.0 == "other") {
        return;
    }
    if l.choices.iter().all(|c| c.value.0.parse::<i64>().is_ok()) {
        problems.warn(
            Some(l.name.1.clone()),
            "xlsform-kept-as",
            format!("list `{list}` has integer values: its `other` choice is written as the text `other`, so the copy's values are text"),
        );
    }
    let mut choices: Vec<Choice> = l
        .choices
        .iter()
        .map(|c| Choice { value: c.value.clone(), label: c.label.clone(), filter: c.filter.clone() })
        .collect();
    let cell = l.name.1.clone();
    let label =
        l.choices.first().and_then(|c| c.label.as_ref()).map(|t| {
            t.iter().map(|(code, _, cell)| (code.clone(), "Other".to_string(), cell.clone())).collect::<Texts>()
        });
    choices.push(Choice { value: ("other".into(), cell.clone()), label, filter: Vec::new() });
    if copy == list {
        if let Some(l) = lists.iter_mut().find(|l| l.name.0 == list) {
            l.choices = choices;
        }
    } else {
        lists.push(List { name: (copy.to_string(), cell), choices, used: false });
    }
}

/// pyxform's `<name>_other` text question after each `or_other` select.
pub(super) fn add_other_questions(items: &mut Vec<Q>) {
    let mut i = 0;
    while i < items.len() {
        add_other_questions(&mut items[i].children);
        if items[i].or_other {
            let q = &items[i];
            let cell = q.ty_cell.clone();
            let name = format!("{}_other", q.name());
            let label = q.label.as_ref().map(|t| {
                t.iter().map(|(code, _, c)| (code.clone(), "Specify other.".to_string(), c.clone())).collect::<Texts>()
            });
            let other = Q {
                name: cell.clone().map(|c| (name, c)),
                ty: "text".into(),
                ty_cell: cell.clone(),
                label,
                relevant: cell.map(|c| (format!("selected(${{{}}}, 'other')", q.name()), c)),
                comments: vec!["added for `or_other`, as pyxform adds it".into()],
                ..Q::default()
            };
            items.insert(i + 1, other);
            i += 1;
        }
        i += 1;
    }
}

pub(super) fn mark_used(items: &[Q], lists: &mut [List]) {
    for q in items {
        if let Some(l) = q.list()
            && let Some(list) = lists.iter_mut().find(|x| x.name.0 == l)
        {
            list.used = true;
        }
        mark_used(&q.children, lists);
    }
}

/// The question that identifies a submission: the one the form names its submissions
/// by (`instance_name: concat(${x})`), else the first identifier-like question.
pub(super) fn choose_key(items: &[Q], settings: &Settings, problems: &mut Problems) -> Option<(String, Option<Cell>)> {
    let mut eligible: Vec<&Q> = Vec::new();
    fn gather<'q>(items: &'q [Q], out: &mut Vec<&'q Q>) {
        for q in items {
            match q.ty.as_str() {
                "group" => gather(&q.children, out),
                "text" | "integer" | "calculate" => out.push(q),
                t if t.starts_with("select_one ") => out.push(q),
                _ => {}
            }
        }
    }
    gather(items, &mut eligible);
    if let Some((inst, cell)) = &settings.instance_name {
        let inner = inst.trim().strip_prefix("concat(").and_then(|s| s.strip_suffix(')')).unwrap_or(inst).trim();
        if let Some(name) = inner.strip_prefix("${").and_then(|s| s.strip_suffix('}'))
            && eligible.iter().any(|q| q.name() == name)
        {
            return Some((name.to_string(), Some(cell.clone())));
        }
    }
    let id_like = |n: &str| {
        let n = n.to_ascii_lowercase();
        matches!(n.as_str(), "key" | "id" | "uid" | "hhid" | "hh_id" | "household_id" | "caseid")
            || n.ends_with("_id")
            || n.ends_with("id") && n.len() <= 8
    };
    let chosen = eligible
        .iter()
        .find(|q| id_like(q.name()) && q.required.is_some())
        .or_else(|| eligible.iter().find(|q| id_like(q.name())))
        .or_else(|| eligible.first());
    match chosen {
        Some(q) => {
            let cell = q.name.as_ref().map(|n| n.1.clone());
            problems.warn(
                cell.clone(),
                "xlsform-key",
                format!(
                    "the form does not say which question identifies a submission: `{}` was taken as the survey's key; change `key:` if another does",
                    q.name()
                ),
            );
            Some((q.name().to_string(), cell))
        }
        None => {
            problems.error(
                None,
                "xlsform-key",
                "no question can identify a submission (a text, integer, select_one or calculate outside repeats)"
                    .into(),
                Some("add the household or respondent ID as a question".into()),
            );
            None
        }
    }
}

pub(super) fn survey_id(settings: &Settings, stem: &str, problems: &mut Problems) -> (String, Option<Cell>) {
    let (raw, cell) = match &settings.form_id {
        Some((id, cell)) => (id.clone(), Some(cell.clone())),
        None => (stem.to_string(), None),
    };
    let mut id: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id = format!("form_{id}");
    }
    if id != raw {
        problems.warn(
            cell.clone(),
            "xlsform-setting",
            format!("the form id `{raw}` is written as the survey id `{id}` (lower-case letters, digits and `_`)"),
        );
    }
    (id, cell)
}
