//! Two versions of a survey compared question by question (issue #20): what was added,
//! removed, renamed (suggested: a removed and an added question of the same type whose
//! labels or names match), retyped, recoded, moved, or asked differently, each classed by
//! what it does to a panel across the two versions.

use endline_diag::Span;
use serde::Serialize;

use crate::model::{Item, QuestionType, Required, Survey};

/// What a change does to a panel that stacks data of both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// One variable no longer means one thing across the versions, and nothing declared
    /// says how to line them up.
    Breaking,
    /// The data line up once the change is applied (a rename, a recode).
    Harmonise,
    /// The data line up as they are.
    Benign,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The question's name in the new version (the old one for a removal).
    pub question: String,
    /// What changed: `added`, `removed`, `renamed`, `type-changed`, `choice-removed`,
    /// `choice-added`, `choice-recoded`, `choice-relabelled`, `moved`,
    /// `relevance-changed`, `constraint-changed`, `required-changed`,
    /// `calculation-changed`, `missing-codes-changed`.
    pub kind: &'static str,
    /// What it does to a panel.
    pub class: Class,
    /// Where it is in the old file, if there.
    #[serde(skip)]
    pub old: Option<Span>,
    /// Where it is in the new file, if there.
    #[serde(skip)]
    pub new: Option<Span>,
    /// What changed, in a sentence.
    pub message: String,
}

/// A question with where it sits.
struct Q<'s> {
    item: &'s Item,
    table: String,
    groups: Vec<String>,
}

fn questions(s: &Survey) -> Vec<Q<'_>> {
    let mut out = Vec::new();
    s.visit(&mut |p| {
        if p.item.question_type().has_value() {
            out.push(Q {
                item: p.item,
                table: p.table.to_string(),
                groups: p.path.iter().map(|g| g.name().to_string()).collect(),
            });
        }
    });
    out
}

/// The choices of a select question: (value, default-language label).
fn choices(s: &Survey, item: &Item) -> Vec<(String, String)> {
    s.choices_of(item)
        .map(|l| l.choices().iter().map(|c| (c.value().as_text(), c.label().default_text().to_string())).collect())
        .unwrap_or_default()
}

fn label(item: &Item) -> String {
    item.label().map(|l| l.default_text().to_string()).unwrap_or_default()
}

fn required_text(r: &Required) -> String {
    match r {
        Required::No => "no".into(),
        Required::Yes => "yes".into(),
        Required::When(e) => e.text().to_string(),
    }
}

/// Whether a type change keeps the data's meaning (an integer read as a decimal).
fn widening(a: QuestionType, b: QuestionType) -> bool {
    a == b || (a == QuestionType::Integer && b == QuestionType::Decimal)
}

/// The changes from `old` to `new`, in the new version's order (removals last).
pub fn diff(old: &Survey, new: &Survey) -> Vec<Change> {
    let (olds, news) = (questions(old), questions(new));
    let find = |qs: &[Q<'_>], name: &str| qs.iter().position(|q| q.item.name() == name);
    let mut out = Vec::new();
    let mut matched_old = vec![false; olds.len()];
    // Renames: a new question whose name is not in the old version, matched with an old
    // one not in the new version of the same type and the same label (or choices).
    let mut renamed: Vec<Option<(usize, bool)>> = vec![None; news.len()];
    // Declared renames first (`renamed_from`), then suggested ones.
    for (ni, n) in news.iter().enumerate() {
        if find(&olds, n.item.name()).is_some() {
            continue;
        }
        if let Some(oi) = n.item.renamed_from().iter().find_map(|r| find(&olds, r)).filter(|oi| !matched_old[*oi]) {
            matched_old[oi] = true;
            renamed[ni] = Some((oi, true));
        }
    }
    for (ni, n) in news.iter().enumerate() {
        if find(&olds, n.item.name()).is_some() || renamed[ni].is_some() {
            continue;
        }
        let candidate = olds.iter().enumerate().find(|(oi, o)| {
            !matched_old[*oi]
                && find(&news, o.item.name()).is_none()
                && o.item.question_type() == n.item.question_type()
                && o.table == n.table
                && (!label(o.item).is_empty() && label(o.item) == label(n.item)
                    || n.item.question_type().is_select() && choices(old, o.item) == choices(new, n.item))
        });
        if let Some((oi, _)) = candidate {
            matched_old[oi] = true;
            renamed[ni] = Some((oi, false));
        }
    }
    for (ni, n) in news.iter().enumerate() {
        let name = n.item.name().to_string();
        let at = Some(n.item.span());
        let change = |kind, class, old_at, message: String| Change {
            question: name.clone(),
            kind,
            class,
            old: old_at,
            new: at,
            message,
        };
        let o = match (find(&olds, &name), renamed[ni]) {
            (Some(oi), _) => {
                matched_old[oi] = true;
                &olds[oi]
            }
            (None, Some((oi, declared))) => {
                let o = &olds[oi];
                let message = if declared {
                    format!(
                        "`{}` was renamed `{name}` (declared with `renamed_from`): stack its data under `{name}`",
                        o.item.name()
                    )
                } else {
                    format!(
                        "`{}` seems renamed `{name}` (same type and label): declare `renamed_from: {}` on `{name}` so that its data are stacked under one name",
                        o.item.name(),
                        o.item.name()
                    )
                };
                out.push(change("renamed", Class::Harmonise, Some(o.item.span()), message));
                o
            }
            (None, None) => {
                out.push(change(
                    "added",
                    Class::Benign,
                    None,
                    format!("`{name}` is new: earlier waves have no values"),
                ));
                continue;
            }
        };
        let old_at = Some(o.item.span());
        let (ot, nt) = (o.item.question_type(), n.item.question_type());
        if ot != nt {
            let class = if widening(ot, nt) { Class::Harmonise } else { Class::Breaking };
            out.push(change(
                "type-changed",
                class,
                old_at,
                format!("`{name}` was a {} and is a {}", ot.name(), nt.name()),
            ));
        }
        if o.table != n.table {
            out.push(change(
                "moved",
                Class::Breaking,
                old_at,
                format!("`{name}` moved from table `{}` to `{}`: one row per record became another", o.table, n.table),
            ));
        } else if o.groups != n.groups {
            out.push(change(
                "moved",
                Class::Benign,
                old_at,
                format!(
                    "`{name}` moved from group {:?} to {:?} (its column name in exports changes)",
                    o.groups, n.groups
                ),
            ));
        }
        if ot.is_select() && nt.is_select() {
            let (oc, nc) = (choices(old, o.item), choices(new, n.item));
            for (v, l) in &oc {
                if let Some((_, nv)) = n.item.recode().iter().find(|(ov, _)| ov == v) {
                    out.push(change(
                        "choice-recoded",
                        Class::Harmonise,
                        old_at,
                        format!("`{name}`: {v} (`{l}`) becomes {nv} (declared with `recode`): earlier waves are recoded when stacked"),
                    ));
                    continue;
                }
                match nc.iter().find(|(nv, _)| nv == v) {
                    // Its answer now has another code (codes swapped or shifted).
                    Some((_, nl)) if nl != l && nc.iter().any(|(nv, ml)| ml == l && nv != v) => {
                        let nv = nc.iter().find(|(nv, ml)| ml == l && nv != v).map(|(nv, _)| nv.as_str()).unwrap_or("");
                        out.push(change(
                            "choice-recoded",
                            Class::Breaking,
                            old_at,
                            format!("`{name}`: `{l}` was coded {v} and is coded {nv}, while {v} now means `{nl}`: declare `recode: {{{v}: {nv}}}` on `{name}` to stack them as one"),
                        ));
                    }
                    Some((_, nl)) if nl != l => out.push(change(
                        "choice-relabelled",
                        Class::Benign,
                        old_at,
                        format!("`{name}`: the choice {v} was `{l}` and is `{nl}`"),
                    )),
                    Some(_) => {}
                    None => match nc.iter().find(|(_, nl)| nl == l) {
                        Some((nv, _)) => out.push(change(
                            "choice-recoded",
                            Class::Breaking,
                            old_at,
                            format!("`{name}`: `{l}` was coded {v} and is coded {nv}: one answer, two codes across the versions; declare `recode: {{{v}: {nv}}}` on `{name}` to stack them as one"),
                        )),
                        None => out.push(change(
                            "choice-removed",
                            Class::Harmonise,
                            old_at,
                            format!("`{name}`: the choice {v} (`{l}`) was removed; earlier waves may hold it"),
                        )),
                    },
                }
            }
            for (v, l) in &nc {
                if !oc.iter().any(|(ov, ol)| ov == v || ol == l) {
                    out.push(change(
                        "choice-added",
                        Class::Benign,
                        old_at,
                        format!("`{name}`: the choice {v} (`{l}`) is new"),
                    ));
                }
            }
        }
        let text = |e: Option<&crate::Expression>| e.map(|e| e.text().to_string()).unwrap_or_default();
        for (kind, a, b) in [
            ("relevance-changed", text(o.item.relevant()), text(n.item.relevant())),
            ("constraint-changed", text(o.item.constraint()), text(n.item.constraint())),
            ("calculation-changed", text(o.item.calculation()), text(n.item.calculation())),
            ("required-changed", required_text(o.item.required()), required_text(n.item.required())),
            ("missing-codes-changed", o.item.missing().join(" "), n.item.missing().join(" ")),
        ] {
            if a != b {
                let show = |s: &str| if s.is_empty() { "nothing".to_string() } else { format!("`{s}`") };
                let class = if kind == "calculation-changed" { Class::Harmonise } else { Class::Benign };
                out.push(change(kind, class, old_at, format!("`{name}`: {} became {}", show(&a), show(&b))));
            }
        }
    }
    for (oi, o) in olds.iter().enumerate() {
        if !matched_old[oi] {
            out.push(Change {
                question: o.item.name().to_string(),
                kind: "removed",
                class: Class::Breaking,
                old: Some(o.item.span()),
                new: None,
                message: format!("`{}` was removed: later waves have no values", o.item.name()),
            });
        }
    }
    out
}
