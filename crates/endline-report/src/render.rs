//! Rendering report templates with tera.
//!
//! The context is `results.json` (every number the report shows) plus `plots`, SVG
//! figures drawn from it. Templates print numbers only through the `num` filter, which
//! formats a stored number to a fixed number of decimals and never computes a new one,
//! and the `effect` filter, which prints a stored effect in its outcome's reading
//! (a share's effect ×100, in percentage points): every number of a report can be found
//! in results.json.
//!
//! All text is escaped: HTML templates (`*.html.tera`) with tera's HTML escaping, Markdown
//! templates (`*.md.tera`) with a Markdown escaping of the characters that would change
//! the document's structure (`*`, `_`, `[`, `|`, `<`, …). The figures are the only values
//! marked `safe`; the SVG module escapes their text itself.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use tera::{Context, Tera};

use crate::svg::{self, Plot, Series};

/// A template could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

/// One template: its file name (`report.html.tera`) and text.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file name; the output is named by dropping `.tera`.
    pub name: String,
    /// The template text.
    pub text: String,
}

/// Escapes text for Markdown: the characters that start emphasis, links, tables, code,
/// headings or HTML tags. Digits, `-` and `.` are left alone, so numbers read as written.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A number with `d` decimals (`–` when missing or not finite; no `-0.000`).
pub fn format_number(v: Option<f64>, d: usize) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:.d$}");
            // "-0.000" reads as a sign that is not there.
            if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
                s.trim_start_matches('-').into()
            } else {
                s
            }
        }
        _ => "–".into(),
    }
}

/// A p-value with three decimals, or `< 0.001`.
pub fn format_p(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() && p < 0.0005 => "< 0.001".into(),
        other => format_number(other, 3),
    }
}

/// A p-value for running text: `= 0.046` or `< 0.001`.
pub fn format_p_relation(p: Option<f64>) -> String {
    let p = format_p(p);
    if p.starts_with('<') { p } else { format!("= {p}") }
}

/// `num(d=3)`: a stored number with `d` decimals.
fn num(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let d = args.get("d").and_then(Value::as_u64).unwrap_or(3) as usize;
    Ok(Value::String(format_number(value.as_f64(), d)))
}

/// `effect(r=o.reading)`: an effect (or a share) in its outcome's reading: multiplied by
/// the reading's multiplier (100 for a share, giving percentage points) and printed with
/// its decimals; `unit=true` adds the reading's unit. A change of unit, never a new
/// number.
fn effect(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let r = args.get("r").ok_or_else(|| tera::Error::msg("`effect` needs r=<the outcome's reading>"))?;
    let multiplier = r["multiplier"].as_f64().unwrap_or(1.0);
    let d = args.get("d").and_then(Value::as_u64).or_else(|| r["decimals"].as_u64()).unwrap_or(3) as usize;
    let mut text = format_number(value.as_f64().map(|v| v * multiplier), d);
    // `unit=true`: followed by the reading's unit, when it has one.
    if args.get("unit").and_then(Value::as_bool) == Some(true)
        && let Some(u) = r["unit"].as_str().filter(|u| !u.is_empty())
    {
        text.push(' ');
        text.push_str(u);
    }
    Ok(Value::String(text))
}

/// `p`: a p-value, as [`format_p`].
fn p_value(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(format_p(value.as_f64())))
}

/// `p_eq`: a p-value for running text, as [`format_p_relation`].
fn p_relation(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(format_p_relation(value.as_f64())))
}

fn tera(markdown: bool) -> Tera {
    let mut t = Tera::default();
    // tera registers get_env whatever its features: a template must not read the
    // environment (secrets live there), and a report must not depend on it.
    t.register_function("get_env", |_: &HashMap<String, Value>| -> tera::Result<Value> {
        Err(tera::Error::msg("get_env is not available in endline reports"))
    });
    t.register_filter("num", num);
    t.register_filter("effect", effect);
    t.register_filter("p", p_value);
    t.register_filter("p_eq", p_relation);
    if markdown {
        t.autoescape_on(vec![".md"]);
        t.set_escape_fn(escape_markdown);
    } else {
        t.autoescape_on(vec![".html", ".htm"]);
    }
    t
}

/// The kinds of template endline knows how to escape, by the name's ending.
pub const TEMPLATE_KINDS: [&str; 2] = [".html.tera", ".md.tera"];

/// The file a template named `name` renders to (`report.html.tera` → `report.html`), or
/// why it cannot be one: only HTML and Markdown templates are escaped, and an output name
/// is a plain file name (never results.json or manifest.json, which endline writes).
pub fn output_name(name: &str) -> Result<String, String> {
    if !TEMPLATE_KINDS.iter().any(|k| name.ends_with(k)) {
        return Err(format!(
            "template `{name}`: only HTML (`*.html.tera`) and Markdown (`*.md.tera`) templates are rendered, \
             since only their text can be escaped"
        ));
    }
    let out = name.strip_suffix(".tera").unwrap_or(name);
    let stem = out.rsplit_once('.').map_or("", |(s, _)| s);
    if stem.is_empty() || stem.starts_with('.') || out.contains(['/', '\\']) {
        return Err(format!("template `{name}`: its output `{out}` must be a plain file name"));
    }
    Ok(out.to_string())
}

/// Renders each template against `results`; returns (output name, text) pairs.
pub fn render(templates: &[Template], results: &Value) -> Result<Vec<(String, String)>, RenderError> {
    let mut ctx = Context::from_value(results.clone()).map_err(|e| RenderError(e.to_string()))?;
    ctx.insert("plots", &plots(results));
    let mut out: Vec<(String, String)> = Vec::new();
    for tpl in templates {
        let name = output_name(&tpl.name).map_err(RenderError)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(RenderError(format!("two templates would both write {name}")));
        }
        let mut t = tera(name.ends_with(".md"));
        t.add_raw_template(&name, &tpl.text).map_err(|e| RenderError(format!("{}: {}", tpl.name, chain(&e))))?;
        let text = t.render(&name, &ctx).map_err(|e| RenderError(format!("{}: {}", tpl.name, chain(&e))))?;
        out.push((name, text));
    }
    Ok(out)
}

/// A tera error with its causes (tera puts the useful part in the source chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// The figures of each outcome: raw trends and the event study, in the outcome's
/// reading (percentage points for a share) and the plan's words for its units.
pub fn plots(results: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let first_adoption = results["sample"]["cohorts"]
        .as_array()
        .and_then(|c| c.iter().filter_map(|c| c["cohort"].as_i64()).filter(|g| *g > 0).min());
    let plural = results["plan"]["unit"]["plural"].as_str().unwrap_or("units");
    for o in results["outcomes"].as_array().into_iter().flatten() {
        let name = o["name"].as_str().unwrap_or_default().to_string();
        let label = o["label"].as_str().unwrap_or_default();
        let reading = &o["reading"];
        let mean = reading["mean"].as_str().unwrap_or("mean");
        let unit = reading["unit"].as_str().unwrap_or_default();
        let multiplier = reading["multiplier"].as_f64().unwrap_or(1.0);
        let trend = |key: &str| -> Vec<(f64, f64)> {
            o["trends"].as_array().into_iter().flatten().map(|t| (f(&t["wave"]), f(&t[key]))).collect()
        };
        let trends = Plot {
            title: format!("{label}: programme and comparison {plural}"),
            x_label: "survey wave".into(),
            y_label: format!("{mean} (survey-weighted)"),
            series: vec![
                Series { name: format!("programme {plural}"), points: trend("programme"), intervals: None, line: true },
                Series {
                    name: format!("comparison {plural}"),
                    points: trend("comparison"),
                    intervals: None,
                    line: true,
                },
            ],
            h_line: None,
            v_line: first_adoption.map(|g| g as f64 - 0.5),
        };
        let dynamic: Vec<&Value> = o["cs"]["dynamic"]["by"].as_array().into_iter().flatten().collect();
        let scaled = |v: &Value| f(v) * multiplier;
        let mut series = vec![Series {
            name: "ATT by years since adoption (95% CI)".into(),
            points: dynamic.iter().map(|d| (f(&d["event_time"]), scaled(&d["att"]))).collect(),
            intervals: Some(dynamic.iter().map(|d| (scaled(&d["conf_low"]), scaled(&d["conf_high"]))).collect()),
            line: false,
        }];
        if let Some(t) = o["truth"]["att"].as_f64() {
            let post: Vec<(f64, f64)> = dynamic
                .iter()
                .map(|d| f(&d["event_time"]))
                .filter(|e| *e >= 0.0)
                .map(|e| (e, t * multiplier))
                .collect();
            series.push(Series { name: "true effect (simulation)".into(), points: post, intervals: None, line: true });
        }
        let event = Plot {
            title: format!("{label}: event study (Callaway & Sant'Anna)"),
            x_label: "years since the programme began".into(),
            y_label: if unit.is_empty() { "effect".to_string() } else { format!("effect ({unit})") },
            series,
            h_line: Some(0.0),
            v_line: Some(-0.5),
        };
        let mut figures = json!({"trends": svg::render(&trends), "event": svg::render(&event)});
        if let Some(plot) = sensitivity_plot(o, label, unit, multiplier) {
            figures["sensitivity"] = json!(svg::render(&plot));
        }
        out.insert(name, figures);
    }
    out
}

/// The HonestDiD sensitivity plot: the robust interval at each M̄ or M, with the usual
/// interval to their left.
fn sensitivity_plot(o: &Value, label: &str, unit: &str, multiplier: f64) -> Option<Plot> {
    let h = &o["sensitivity"]["honest"];
    let intervals = h["intervals"].as_array()?;
    let key = if h["restriction"] == "sd" { "m" } else { "mbar" };
    // M is on the outcome's scale; M̄ is a ratio.
    let x_scale = if key == "m" { multiplier } else { 1.0 };
    let xs: Vec<f64> = intervals.iter().map(|i| f(&i[key]) * x_scale).collect();
    let mut sorted = xs.clone();
    sorted.sort_by(f64::total_cmp);
    let gap = sorted.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).fold(f64::INFINITY, f64::min);
    let gap = if gap.is_finite() { gap } else { 0.5 };
    let x0 = sorted.first().copied().unwrap_or(0.0) - gap;
    let end = |v: &Value, fallback: f64| v.as_f64().map_or(fallback, |x| x * multiplier);
    let center = |lo: f64, hi: f64| if lo.is_finite() && hi.is_finite() { 0.5 * (lo + hi) } else { f64::NAN };
    let (olo, ohi) = (end(&h["original"]["lb"], f64::NAN), end(&h["original"]["ub"], f64::NAN));
    let robust: Vec<(f64, f64)> =
        intervals.iter().map(|i| (end(&i["lb"], f64::NAN), end(&i["ub"], f64::NAN))).collect();
    let (param, x_label) = if key == "m" {
        (
            "M",
            format!(
                "M: change in the slope of the violation per wave{}",
                if unit.is_empty() { String::new() } else { format!(" ({unit})") }
            ),
        )
    } else {
        ("M̄", "M̄: post-programme violation relative to the largest pre-programme one".to_string())
    };
    Some(Plot {
        title: format!("{label}: sensitivity to violations of parallel trends"),
        x_label,
        y_label: if unit.is_empty() { "effect".to_string() } else { format!("effect ({unit})") },
        series: vec![
            Series {
                name: "usual 95% interval (parallel trends)".into(),
                points: vec![(x0, center(olo, ohi))],
                intervals: Some(vec![(olo, ohi)]),
                line: false,
            },
            Series {
                name: format!("robust 95% interval at each {param}"),
                points: xs.iter().zip(&robust).map(|(x, (lo, hi))| (*x, center(*lo, *hi))).collect(),
                intervals: Some(robust),
                line: false,
            },
        ],
        h_line: Some(0.0),
        v_line: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped_in_both_formats() {
        let results = json!({"title": "<script>alert(1)</script> *bold* | x", "n": -0.0001, "outcomes": []});
        let templates = [
            Template { name: "r.html.tera".into(), text: "{{ title }} {{ n | num(d=2) }}".into() },
            Template { name: "r.md.tera".into(), text: "{{ title }} {{ n | num(d=2) }}".into() },
        ];
        let out = render(&templates, &results).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[0].0, "r.html");
        assert_eq!(out[0].1, "&lt;script&gt;alert(1)&lt;&#x2F;script&gt; *bold* | x 0.00");
        assert_eq!(out[1].0, "r.md");
        assert_eq!(out[1].1, "&lt;script&gt;alert(1)&lt;/script&gt; \\*bold\\* \\| x 0.00");
        let p = [Template {
            name: "p.md.tera".into(),
            text: "{{ a | p }} {{ b | p }} {{ c | p }}; p {{ a | p_eq }}, p {{ b | p_eq }}".into(),
        }];
        let out = render(&p, &json!({"a": 0.0001, "b": 0.04567, "c": null})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out[0].1, "&lt; 0.001 0.046 –; p &lt; 0.001, p = 0.046", "escaped for Markdown like any value");
    }

    #[test]
    fn template_errors_are_messages_not_panics() {
        let t = [Template { name: "bad.md.tera".into(), text: "{{ nope.deeper }".into() }];
        let e = render(&t, &json!({})).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("bad.md.tera:"), "{e}");
        let t = [Template { name: "missing.md.tera".into(), text: "{{ nope.deeper }}".into() }];
        let e = render(&t, &json!({})).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("nope.deeper"), "{e}");
    }
}
