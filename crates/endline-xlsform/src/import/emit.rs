//! Writing the survey YAML: lists in flow style, one block per question, each line
//! remembering the cells it came from.

use super::survey::{List, Q};
use super::yaml::{Writer, quoted, scalar};
use super::{Cell, Languages, Texts};

pub(super) fn value_scalar(v: &str, int: bool) -> String {
    if int { v.to_string() } else { flow(v) }
}

/// A scalar inside a flow mapping, where `,` and brackets end a plain one.
fn flow(s: &str) -> String {
    if s.contains([',', '{', '}', '[', ']']) { quoted(s) } else { scalar(s) }
}

pub(super) fn write_list(w: &mut Writer, l: &List, langs: &Languages) {
    let int = l.choices.iter().all(|c| c.value.0.parse::<i64>().is_ok_and(|i| i.to_string() == c.value.0));
    w.line(2, &[(&format!("{}:", scalar(&l.name.0)), Some(&l.name.1))]);
    for c in &l.choices {
        let mut segs: Vec<(String, Option<&Cell>)> =
            vec![("- {value: ".into(), None), (value_scalar(&c.value.0, int), Some(&c.value.1))];
        if let Some(label) = &c.label {
            segs.push((", label: ".into(), None));
            if langs.single() {
                segs.push((flow(&label[0].1), Some(&label[0].2)));
            } else {
                segs.push(("{".into(), None));
                for (i, (code, text, cell)) in label.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    segs.push((format!("{sep}{code}: "), None));
                    segs.push((flow(text), Some(cell)));
                }
                segs.push(("}".into(), None));
            }
        }
        if !c.filter.is_empty() {
            segs.push((", filter: {".into(), None));
            for (i, (col, v, cell)) in c.filter.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let int = v.parse::<i64>().is_ok_and(|x| x.to_string() == *v);
                segs.push((format!("{sep}{col}: "), None));
                segs.push((value_scalar(v, int), Some(cell)));
            }
            segs.push(("}".into(), None));
        }
        segs.push(("}".into(), None));
        let refs: Vec<(&str, Option<&Cell>)> = segs.iter().map(|(s, c)| (s.as_str(), *c)).collect();
        w.line(4, &refs);
    }
}

fn write_texts(w: &mut Writer, indent: usize, key: &str, t: &Texts, langs: &Languages) {
    if langs.single() {
        w.field(indent, key, &scalar(&t[0].1), Some(&t[0].2));
        return;
    }
    w.line(indent, &[(&format!("{key}:"), None)]);
    for (code, text, cell) in t {
        w.field(indent + 2, code, &scalar(text), Some(cell));
    }
}

pub(super) fn write_item(w: &mut Writer, q: &Q, indent: usize, langs: &Languages) {
    for c in &q.comments {
        w.comment(indent, c);
    }
    let inner = indent + 2;
    w.line(indent, &[("- name: ", None), (&scalar(q.name()), q.name.as_ref().map(|n| &n.1))]);
    w.field(inner, "type", &scalar(&q.ty), q.ty_cell.as_ref());
    let texts = [("label", &q.label), ("hint", &q.hint)];
    for (k, t) in texts {
        if let Some(t) = t {
            write_texts(w, inner, k, t, langs);
        }
    }
    if let Some((r, cell)) = &q.required {
        let v = if r == "true" { "true".to_string() } else { quoted(r) };
        w.field(inner, "required", &v, Some(cell));
    }
    if let Some(t) = &q.required_message {
        write_texts(w, inner, "required_message", t, langs);
    }
    for (k, v) in [("relevant", &q.relevant), ("constraint", &q.constraint)] {
        if let Some((e, cell)) = v {
            w.field(inner, k, &quoted(e), Some(cell));
        }
    }
    if let Some(t) = &q.constraint_message {
        write_texts(w, inner, "constraint_message", t, langs);
    }
    for (k, v) in [("calculation", &q.calculation), ("count", &q.count), ("choice_filter", &q.choice_filter)] {
        if let Some((e, cell)) = v {
            w.field(inner, k, &quoted(e), Some(cell));
        }
    }
    if let Some((d, cell)) = &q.default {
        w.field(inner, "default", &quoted(d), Some(cell));
    }
    if let Some((a, cell)) = &q.appearance {
        w.field(inner, "appearance", &scalar(a), Some(cell));
    }
    if let Some(cell) = &q.read_only {
        w.field(inner, "read_only", "true", Some(cell));
    }
    if let Some((m, cell)) = &q.missing {
        let names: Vec<&str> = m.split_whitespace().collect();
        w.field(inner, "missing", &format!("[{}]", names.join(", ")), Some(cell));
    }
    if let Some((u, cell)) = &q.unit {
        w.field(inner, "unit", &scalar(u), Some(cell));
    }
    if let Some(cell) = &q.pii {
        w.field(inner, "pii", "true", Some(cell));
    }
    if let Some((d, cell)) = &q.description {
        w.field(inner, "description", &scalar(d), Some(cell));
    }
    if let Some((r, cell)) = &q.renamed_from {
        let names: Vec<&str> = r.split_whitespace().collect();
        w.field(inner, "renamed_from", &format!("[{}]", names.join(", ")), Some(cell));
    }
    if q.container {
        w.line(inner, &[("questions:", None)]);
        for c in &q.children {
            write_item(w, c, inner + 2, langs);
        }
    }
}
