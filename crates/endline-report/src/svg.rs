//! Self-contained SVG plots: no fonts fetched, no scripts, fixed precision, so the same
//! data give the same bytes. Text is escaped.

use std::fmt::Write as _;

/// One series: points, and optionally an interval per point.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend label.
    pub name: String,
    /// (x, y) points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// (low, high) per point, drawn as a bar (or a band when `line` is set).
    pub intervals: Option<Vec<(f64, f64)>>,
    /// Join the points with a line (trends) rather than leaving them apart (estimates).
    pub line: bool,
}

/// A plot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plot {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// A dashed horizontal reference line (such as 0 for effects).
    pub h_line: Option<f64>,
    /// A dashed vertical reference line (such as the period before treatment).
    pub v_line: Option<f64>,
}

const W: f64 = 640.0;
const H: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 48.0;
const DASHED: &str = " stroke=\"#666\" stroke-dasharray=\"4 3\"";
const COLORS: [&str; 6] = ["#1b6ca8", "#d1495b", "#2e8b57", "#8a5cb8", "#c98a00", "#555555"];

/// Escapes text for SVG/XML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 × 10^k; whole numbers only
/// when `whole` (an axis of years or event times, where 2020.5 is no tick).
fn ticks(lo: f64, hi: f64, target: usize, whole: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let raw = if whole { raw.max(1.0) } else { raw };
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() as i64;
    let end = (hi / step).floor() as i64;
    (start..=end).map(|k| k as f64 * step).collect()
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = match () {
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        _ if v.abs() >= 1000.0 => format!("{v:.1}"),
        _ => format!("{v:.3}"),
    };
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// A `<line>` element with extra attributes.
fn line(x1: f64, y1: f64, x2: f64, y2: f64, attrs: &str) -> String {
    format!("<line x1=\"{x1:.2}\" y1=\"{y1:.2}\" x2=\"{x2:.2}\" y2=\"{y2:.2}\"{attrs}/>")
}

/// Renders a plot as an SVG document.
pub fn render(plot: &Plot) -> String {
    let finite = |(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for s in &plot.series {
        for (i, p) in s.points.iter().enumerate() {
            if !finite(p) {
                continue;
            }
            xs.push(p.0);
            ys.push(p.1);
            if let Some((lo, hi)) = s.intervals.as_ref().and_then(|v| v.get(i)) {
                ys.extend([*lo, *hi].iter().filter(|v| v.is_finite()));
            }
        }
    }
    ys.extend(plot.h_line.filter(|v| v.is_finite()));
    xs.extend(plot.v_line.filter(|v| v.is_finite()));
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{}</title>\n",
        escape(&plot.title)
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        W / 2.0,
        escape(&plot.title)
    );
    if xs.is_empty() || ys.is_empty() {
        let _ =
            writeln!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n</svg>", W / 2.0, H / 2.0);
        return out;
    }
    let span = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
        let pad = if hi > lo { (hi - lo) * 0.06 } else { lo.abs().max(1.0) * 0.1 };
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(&xs);
    let (y0, y1) = span(&ys);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let p = |v: f64| format!("{v:.2}");
    // Axes, ticks and labels.
    let axes = [line(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM, ""), line(LEFT, TOP, LEFT, H - BOTTOM, "")];
    let _ = writeln!(out, "<g stroke=\"#999\" stroke-width=\"1\">{}</g>", axes.concat());
    let whole = xs.iter().all(|x| x.fract() == 0.0);
    for t in ticks(x0, x1, 8, whole) {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
            p(px(t)),
            p(H - BOTTOM + 16.0),
            fmt_num(t)
        );
    }
    for t in ticks(y0, y1, 6, false) {
        let grid = line(LEFT, py(t), W - RIGHT, py(t), " stroke=\"#eee\"");
        let _ = writeln!(
            out,
            "{grid}<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#333\">{}</text>",
            p(LEFT - 6.0),
            p(py(t) + 4.0),
            fmt_num(t)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
        p((LEFT + W - RIGHT) / 2.0),
        p(H - 10.0),
        escape(&plot.x_label)
    );
    let _ = writeln!(
        out,
        "<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">{}</text>",
        p((TOP + H - BOTTOM) / 2.0),
        p((TOP + H - BOTTOM) / 2.0),
        escape(&plot.y_label)
    );
    if let Some(h) = plot.h_line.filter(|v| v.is_finite()) {
        let _ = writeln!(out, "{}", line(LEFT, py(h), W - RIGHT, py(h), DASHED));
    }
    if let Some(v) = plot.v_line.filter(|v| v.is_finite()) {
        let _ = writeln!(out, "{}", line(px(v), TOP, px(v), H - BOTTOM, DASHED));
    }
    // Series, each in its colour, with a legend entry.
    for (k, s) in plot.series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let _ = writeln!(out, "<g class=\"series\" fill=\"{color}\" stroke=\"{color}\">");
        let pts: Vec<(usize, &(f64, f64))> = s.points.iter().enumerate().filter(|(_, q)| finite(q)).collect();
        if let Some(iv) = &s.intervals {
            for &(i, q) in &pts {
                if let Some((lo, hi)) = iv.get(i).filter(|(a, b)| a.is_finite() && b.is_finite()) {
                    let _ = writeln!(out, "{}", line(px(q.0), py(*lo), px(q.0), py(*hi), " stroke-width=\"1.5\""));
                }
            }
        }
        if s.line && pts.len() > 1 {
            let path: Vec<String> = pts.iter().map(|(_, q)| format!("{},{}", p(px(q.0)), p(py(q.1)))).collect();
            let _ = writeln!(out, "<polyline fill=\"none\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
        }
        for (_, q) in &pts {
            let _ = writeln!(out, "<circle cx=\"{}\" cy=\"{}\" r=\"3.5\"/>", p(px(q.0)), p(py(q.1)));
        }
        let ly = TOP + 4.0 + 16.0 * k as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"/><text x=\"{}\" y=\"{}\" stroke=\"none\" fill=\"#222\">{}</text>",
            p(LEFT + 10.0),
            p(ly),
            p(LEFT + 26.0),
            p(ly + 9.0),
            escape(&s.name)
        );
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_plot(title: &str) -> Plot {
        Plot {
            title: title.into(),
            x_label: "years since the programme".into(),
            y_label: "effect (log points)".into(),
            series: vec![Series {
                name: "Callaway & Sant'Anna".into(),
                points: vec![(-2.0, 0.01), (0.0, 0.10), (2.0, f64::NAN), (4.0, 0.12)],
                intervals: Some(vec![(-0.02, 0.04), (0.08, 0.12), (0.0, 0.0), (0.09, f64::INFINITY)]),
                line: false,
            }],
            h_line: Some(0.0),
            v_line: Some(-1.0),
        }
    }

    #[test]
    fn same_data_same_bytes_and_text_is_escaped() {
        let a = render(&event_plot("<script>alert('x')</script> & effects"));
        assert_eq!(a, render(&event_plot("<script>alert('x')</script> & effects")));
        assert!(!a.contains("<script>") && a.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; effects"));
        assert!(a.contains("Callaway &amp; Sant&#39;Anna"));
        assert_eq!(a.matches("<circle").count(), 3, "the NaN point is skipped");
        assert_eq!(a.matches("stroke-width=\"1.5\"").count(), 2, "intervals with a non-finite end are skipped");
        assert!(a.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && a.ends_with("</svg>\n"));
        assert!(!a.contains("NaN") && !a.contains("inf"));
    }

    #[test]
    fn empty_plots_say_so_and_ticks_are_nice() {
        let empty = render(&Plot { title: "nothing".into(), ..Plot::default() });
        assert!(empty.contains(">no data</text>"));
        assert_eq!(ticks(0.0, 1.0, 5, false), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(ticks(2019.0, 2025.0, 6, true), vec![2019.0, 2020.0, 2021.0, 2022.0, 2023.0, 2024.0, 2025.0]);
        // Four waves padded a little: a year axis has no half years (they printed as
        // "2019 2020 2020 2021 2022 2022").
        assert_eq!(ticks(2018.82, 2022.18, 8, true), vec![2019.0, 2020.0, 2021.0, 2022.0]);
        assert_eq!(fmt_num(2020.5), "2020.5");
        assert_eq!(fmt_num(0.6000000000000001), "0.6");
        assert_eq!(fmt_num(2021.0), "2021");
    }
}
