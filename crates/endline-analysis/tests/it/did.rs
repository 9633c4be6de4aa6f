//! Callaway & Sant'Anna on mpdta against R did's numbers, as computed by moderndid 0.2.0
//! (tests/reference/make_did_refs.py; versions recorded in tests/data/did/mpdta_refs.json):
//! ATT(g,t) and all four aggregations with analytic standard errors, for never- and
//! not-yet-treated controls, without and with `lpop`, by dr, ipw and reg, plus the
//! universal base period and anticipation, and three cases with sampling weights.
//! Tolerance: 1e-6 relative (scale: the standard error for estimates).

use endline_analysis::did::cs::{self, BasePeriod, Control, CsOptions};
use endline_analysis::did::drdid::EstMethod;
use endline_analysis::did::panel::{self, PanelSpec};
use serde_json::Value;

use crate::{close, data_dir, read_csv};

/// Numbers; null (the standard error of a cell normalised to zero under the universal
/// base period, NA in R) reads as 0, which is what a constant has.
fn floats(v: &Value) -> Vec<f64> {
    v.as_array().into_iter().flatten().map(|x| x.as_f64().unwrap_or(0.0)).collect()
}

#[test]
fn mpdta_matches_r_did() {
    let (df, doc) = (mpdta(), mpdta_refs());
    let cases = doc["cases"].as_object().unwrap_or_else(|| panic!("no cases"));
    assert_eq!(cases.len(), 17);
    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, c) in cases {
        let covariates: Vec<String> =
            c["covariates"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
        let spec = PanelSpec {
            outcome: "lemp".into(),
            unit: "countyreal".into(),
            time: "year".into(),
            cohort: "first.treat".into(),
            covariates,
            weights: c["weights"].as_str().map(str::to_string),
            ..PanelSpec::default()
        };
        let p = panel::build(&df, &spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        let opts = CsOptions {
            control: if c["control"] == "never" { Control::Never } else { Control::Notyet },
            est_method: match c["est_method"].as_str() {
                Some("ipw") => EstMethod::Ipw,
                Some("reg") => EstMethod::Reg,
                _ => EstMethod::Dr,
            },
            base_period: if c["base_period"] == "universal" { BasePeriod::Universal } else { BasePeriod::Varying },
            anticipation: c["anticipation"].as_i64().unwrap_or(0),
            ..CsOptions::default()
        };
        let r = cs::estimate(&p, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut diffs: Vec<String> = Vec::new();
        macro_rules! check {
            ($what:expr, $got:expr, $want:expr, $scale:expr) => {{
                let (got, want): (f64, f64) = ($got, $want);
                compared += 1;
                if !close(got, want, $scale, 1e-6) {
                    diffs.push(format!("{name} {}: {got:.12e} vs {want:.12e}", $what));
                }
            }};
        }
        if r.n_units as u64 != c["n_units"].as_u64().unwrap_or(0) {
            diffs.push(format!("{name}: n_units {} vs {}", r.n_units, c["n_units"]));
        }
        let (g, t, a, s) = (
            floats(&c["att_gt"]["group"]),
            floats(&c["att_gt"]["time"]),
            floats(&c["att_gt"]["att"]),
            floats(&c["att_gt"]["std_error"]),
        );
        if g.len() != r.att_gt.len() {
            failures.push(format!("{name}: {} cells vs {}", r.att_gt.len(), g.len()));
            failures.extend(diffs);
            continue;
        }
        for (i, cell) in r.att_gt.iter().enumerate() {
            assert_eq!((cell.group as f64, cell.time as f64), (g[i], t[i]), "{name}: cell order");
            check!(format!("ATT({},{})", cell.group, cell.time), cell.att, a[i], s[i].max(1e-12));
            check!(format!("se({},{})", cell.group, cell.time), cell.std_error, s[i], s[i].max(1e-12));
        }
        let aggs = [
            ("simple", &r.simple, None),
            ("dynamic", &r.dynamic.overall, Some(&r.dynamic.by)),
            ("group", &r.group.overall, Some(&r.group.by)),
            ("calendar", &r.calendar.overall, Some(&r.calendar.by)),
        ];
        // With sampling weights, moderndid 0.2.0's aggregation leaves the cohort shares
        // unweighted, unlike R did's compute.aggte (pg from weights.ind <- dta$.w): there the
        // aggregates' point estimates are checked against R did's formula applied to the
        // matching ATT(g,t) (recorded by the script), and their standard errors are not
        // compared with moderndid's.
        let r_did = c.get("aggregate_r_did_points");
        for (kind, overall, by) in aggs {
            let want = &c["aggregate"][kind];
            let se = want["overall"]["std_error"].as_f64().unwrap_or(f64::NAN);
            if let Some(points) = r_did {
                let (o, b) = if kind == "simple" {
                    (&points[kind], &Value::Null)
                } else {
                    (&points[kind]["overall"], &points[kind]["by"])
                };
                check!(format!("{kind} att (R did weighting)"), overall.att, o.as_f64().unwrap_or(f64::NAN), se);
                if let Some(by) = by {
                    let want_by = floats(b);
                    assert_eq!(want_by.len(), by.len(), "{name} {kind}");
                    for (x, w) in by.iter().zip(want_by) {
                        check!(
                            format!("{kind}[{}] att (R did weighting)", x.index),
                            x.effect.att,
                            w,
                            x.effect.std_error.max(1e-12)
                        );
                    }
                }
                continue;
            }
            check!(format!("{kind} att"), overall.att, want["overall"]["att"].as_f64().unwrap_or(f64::NAN), se);
            check!(format!("{kind} se"), overall.std_error, se, se);
            if let Some(by) = by {
                let (idx, att, ses) =
                    (floats(&want["by"]["index"]), floats(&want["by"]["att"]), floats(&want["by"]["std_error"]));
                if idx.len() != by.len() {
                    diffs.push(format!("{name} {kind}: {} components vs {}", by.len(), idx.len()));
                    continue;
                }
                for (i, b) in by.iter().enumerate() {
                    assert_eq!(b.index as f64, idx[i], "{name} {kind} order");
                    check!(format!("{kind}[{}] att", b.index), b.effect.att, att[i], ses[i].max(1e-12));
                    check!(format!("{kind}[{}] se", b.index), b.effect.std_error, ses[i], ses[i].max(1e-12));
                }
            }
        }
        if let (Some(pt), Some(w)) = (r.pretrend_test, c["pretrend"]["statistic"].as_f64()) {
            check!("pretest W", pt.statistic, w, w);
            let p = c["pretrend"]["p_value"].as_f64().unwrap_or(f64::NAN);
            // moderndid stores this p-value rounded to 5 decimals (the statistic is exact).
            compared += 1;
            if (pt.p_value - p).abs() > 5e-6 {
                diffs.push(format!("{name} pretest p: {} vs {p}", pt.p_value));
            }
        }
        failures.extend(diffs);
    }
    assert!(failures.is_empty(), "{} of {compared} comparisons differ:\n{}", failures.len(), failures.join("\n"));
    assert!(compared > 900, "{compared}");
}

/// mpdta, as moderndid 0.2.0 ships it.
fn mpdta() -> polars::prelude::DataFrame {
    read_csv(&data_dir().join("did/mpdta.csv"))
}

/// The reference numbers of tests/reference/make_did_refs.py.
fn mpdta_refs() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir().join("did/mpdta_refs.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// mpdta's treated counties (first.treat > 0).
fn treated_only(df: &polars::prelude::DataFrame) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    let treated =
        df.column("first.treat").and_then(|c| c.as_materialized_series().gt(0)).unwrap_or_else(|e| panic!("{e}"));
    df.filter(&treated).unwrap_or_else(|e| panic!("{e}"))
}

fn mpdta_spec() -> PanelSpec {
    PanelSpec {
        outcome: "lemp".into(),
        unit: "countyreal".into(),
        time: "year".into(),
        cohort: "first.treat".into(),
        ..PanelSpec::default()
    }
}

/// Sun & Abraham against pyfixest 0.60.0's saturated event study on mpdta: every cohort ×
/// event-time coefficient and the cohort-share aggregation by event time (1e-6 relative).
#[test]
fn sun_abraham_matches_pyfixest_saturated_event_study() {
    use endline_analysis::did::sa;
    let (df, doc) = (mpdta(), mpdta_refs());
    let r = sa::estimate(&df, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.control, "never");
    let want = &doc["sunab"]["by_event_time"];
    let (times, est, se) = (floats(&want["event_time"]), floats(&want["estimate"]), floats(&want["std_error"]));
    let got_times: Vec<f64> = r.coefficients.iter().map(|c| c.event_time as f64).collect();
    assert_eq!(got_times, times);
    for (i, c) in r.coefficients.iter().enumerate() {
        assert!(close(c.estimate, est[i], se[i], 1e-6), "e={}: {} vs {}", c.event_time, c.estimate, est[i]);
        assert!(close(c.std_error, se[i], se[i], 1e-6), "e={}: se {} vs {}", c.event_time, c.std_error, se[i]);
    }
    let cohort = doc["sunab"]["cohort_effects"].as_object().unwrap_or_else(|| panic!("no cohort effects"));
    assert_eq!(cohort.len(), r.cohort_effects.len());
    for ce in &r.cohort_effects {
        let key = format!("rel_time::{:.1}:first_treated_period::{}", ce.event_time as f64, ce.cohort);
        let w = &cohort[&key];
        let (we, ws) = (w["estimate"].as_f64().unwrap_or(f64::NAN), w["std_error"].as_f64().unwrap_or(f64::NAN));
        assert!(
            close(ce.estimate, we, ws, 1e-6) && close(ce.std_error, ws, ws, 1e-6),
            "{key}: {} ({}) vs {we} ({ws})",
            ce.estimate,
            ce.std_error
        );
    }
    // Without covariates and with never-treated comparisons, the post-treatment effects equal
    // Callaway & Sant'Anna's dynamic aggregation (a known identity).
    let p = panel::build(&df, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
    let cs = cs::estimate(&p, &CsOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for c in r.coefficients.iter().filter(|c| c.event_time >= 0) {
        let d = cs.dynamic.by.iter().find(|b| b.index == c.event_time).map_or(f64::NAN, |b| b.effect.att);
        assert!((c.estimate - d).abs() < 1e-10, "e={}: SA {} vs CS {d}", c.event_time, c.estimate);
    }
    assert!(r.pretrend_test.is_some_and(|t| t.df == 3));
}

/// The Bacon decomposition's weights sum to one and its weighted 2×2 estimates add up to
/// the static TWFE coefficient, to rounding, on mpdta (with never-treated) and on the
/// treated cohorts alone (timing comparisons only).
#[test]
fn bacon_decomposition_reproduces_twfe() {
    use endline_analysis::did::{bacon, twfe};
    let df = mpdta();
    let only_treated = treated_only(&df);
    for (label, data) in [("mpdta", &df), ("treated cohorts only", &only_treated)] {
        let p = panel::build(data, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
        let b = bacon::decompose(&p).unwrap_or_else(|e| panic!("{e}"));
        let total: f64 = b.comparisons.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-10, "{label}: weights sum to {total}");
        let fit = twfe::static_twfe(data, &mpdta_spec(), &twfe::RegressionOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let coef = fit.coefficients[0].estimate;
        assert!((b.twfe - coef).abs() < 1e-10, "{label}: Bacon {} vs TWFE {coef}", b.twfe);
    }
}

/// The multiplier bootstrap, checked statistically: its standard errors agree with the
/// analytic ones within sampling error, the uniform band's critical value lies between the
/// pointwise 1.96 and a Bonferroni bound, a seed reproduces it and another seed moves it.
#[test]
fn multiplier_bootstrap_agrees_with_analytic_inference() {
    let df = mpdta();
    let p = panel::build(&df, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
    let analytic = cs::estimate(&p, &CsOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let boot = |seed| {
        cs::estimate(&p, &CsOptions { bootstrap: Some((1999, seed)), ..CsOptions::default() })
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (a, b, c) = (boot(11), boot(11), boot(12));
    for ((x, y), z) in analytic.att_gt.iter().zip(&a.att_gt).zip(&b.att_gt) {
        let ratio = y.std_error / x.std_error;
        assert!((0.85..1.15).contains(&ratio), "ATT({},{}): bootstrap/analytic s.e. {ratio}", x.group, x.time);
        assert_eq!(y, z, "same seed, same result");
    }
    let cells = analytic.att_gt.len() as f64;
    let bonferroni = 3.4; // about the normal 1 - 0.05 / (2 * 12) quantile
    assert!(a.critical_value > 1.96 && a.critical_value < bonferroni, "critical value {}", a.critical_value);
    assert_ne!(a.critical_value, c.critical_value, "another seed, other draws");
    assert!(cells == 12.0);
}

/// The dynamic aggregation's covariance (what `did --honest` hands the sensitivity
/// analysis) has the components' own variances on its diagonal, clustered or not.
#[test]
fn the_dynamic_covariance_agrees_with_the_dynamic_standard_errors() {
    let df = mpdta();
    for cluster in [None, Some("countyreal".to_string())] {
        let spec = PanelSpec { cluster: cluster.clone(), ..mpdta_spec() };
        let p = panel::build(&df, &spec).unwrap_or_else(|e| panic!("{e}"));
        let opts = CsOptions { base_period: BasePeriod::Universal, ..CsOptions::default() };
        let r = cs::estimate(&p, &opts).unwrap_or_else(|e| panic!("{e}"));
        let v = &r.dynamic_vcov;
        assert_eq!(v.len(), r.dynamic.by.len());
        for (i, b) in r.dynamic.by.iter().enumerate() {
            assert!(
                (v[i][i].sqrt() - b.effect.std_error).abs() <= 1e-12 * b.effect.std_error.max(1e-300),
                "{cluster:?} e={}",
                b.index
            );
            for j in 0..v.len() {
                assert_eq!(v[i][j], v[j][i]);
            }
        }
    }
}

/// An unbalanced panel is handled, not silently dropped: each comparison uses the units
/// observed in both of its periods, the warning says so, and with a few unit-periods
/// missing the estimates stay close to the balanced ones.
#[test]
fn unbalanced_panels_are_handled_with_a_warning() {
    use polars::prelude::*;
    let df = mpdta();
    // Drop every 37th row (about 3% of unit-periods).
    let keep: BooleanChunked = (0..df.height()).map(|i| i % 37 != 5).collect();
    let thinned = df.filter(&keep).unwrap_or_else(|e| panic!("{e}"));
    let full = cs::estimate(&panel::build(&df, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}")), &CsOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let p = panel::build(&thinned, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.is_balanced());
    let r = cs::estimate(&p, &CsOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.warnings.iter().any(|w| w.contains("unbalanced")), "{:?}", r.warnings);
    assert_eq!(r.n_units, 500, "no unit is dropped");
    assert!(
        (r.simple.att - full.simple.att).abs() < 2.0 * full.simple.std_error,
        "{} vs {}",
        r.simple.att,
        full.simple.att
    );
    let mut thinner = 0;
    for (c, f) in r.att_gt.iter().zip(&full.att_gt) {
        assert!(c.att.is_finite() && c.std_error.is_finite());
        assert!(c.n_treated + c.n_control <= f.n_treated + f.n_control);
        if c.n_treated + c.n_control < f.n_treated + f.n_control {
            thinner += 1;
        }
    }
    assert!(thinner > 0, "some comparisons lost units observed in only one of their periods");
}

/// Without never-treated units, Sun & Abraham compare with the last-treated cohort and
/// drop the periods from its treatment on: on mpdta's treated counties, the comparison
/// is the 2007 cohort and no effect reaches 2007.
#[test]
fn sun_abraham_uses_the_last_treated_cohort_when_no_one_is_never_treated() {
    use endline_analysis::did::sa;
    let df = mpdta();
    let treated = treated_only(&df);
    let r = sa::estimate(&treated, &mpdta_spec()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.control, "last-treated cohort 2007");
    assert!(
        r.cohort_effects.iter().all(|c| c.cohort != 2007 && c.cohort + c.event_time < 2007),
        "{:?}",
        r.cohort_effects
    );
    let cohorts: std::collections::BTreeSet<i64> = r.cohort_effects.iter().map(|c| c.cohort).collect();
    assert_eq!(cohorts.into_iter().collect::<Vec<_>>(), [2004, 2006]);
    assert!(r.coefficients.iter().all(|c| c.estimate.is_finite() && c.std_error.is_finite() && c.std_error > 0.0));
}

/// A binary covariate that every unit of a cohort shares (quasi-complete separation in its
/// propensity score) does not stop the estimate: as R's glm, the fit stops once the
/// likelihood no longer moves, the comparison units the covariate rules out get weights
/// of about zero, and the cohort's ATT(g,t) equal the unconditional ones on the units
/// with that covariate value.
#[test]
fn a_covariate_that_separates_a_cohort_is_handled_as_r_does() {
    use polars::prelude::*;
    let df = mpdta();
    let id = endline_analysis::data::numeric(&df, "countyreal").unwrap_or_else(|e| panic!("{e}"));
    let g = endline_analysis::data::numeric(&df, "first.treat").unwrap_or_else(|e| panic!("{e}"));
    let x: Vec<f64> = id
        .iter()
        .zip(&g)
        .map(|(id, g)| if *g == 2004.0 { 1.0 } else { f64::from(u8::from((*id as i64) % 2 == 0)) })
        .collect();
    let mut df = df.clone();
    df.with_column(Column::new("x".into(), x)).unwrap_or_else(|e| panic!("{e}"));
    let spec = |covariates: Vec<String>| PanelSpec { covariates, cluster: None, ..mpdta_spec() };
    let opts = CsOptions { control: Control::Never, ..CsOptions::default() };
    let with_x = cs::estimate(&panel::build(&df, &spec(vec!["x".into()])).unwrap_or_else(|e| panic!("{e}")), &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    let mask: BooleanChunked =
        df.column("x").and_then(|c| c.f64().cloned()).unwrap_or_else(|e| panic!("{e}")).equal(1.0);
    let ones = df.filter(&mask).unwrap_or_else(|e| panic!("{e}"));
    let subsample = cs::estimate(&panel::build(&ones, &spec(Vec::new())).unwrap_or_else(|e| panic!("{e}")), &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    let cells = |r: &cs::CsResult| -> Vec<(i64, f64)> {
        r.att_gt.iter().filter(|c| c.group == 2004).map(|c| (c.time, c.att)).collect()
    };
    let (a, b) = (cells(&with_x), cells(&subsample));
    assert_eq!(a.len(), 4);
    for ((t, x), (_, y)) in a.iter().zip(&b) {
        assert!(close(*x, *y, y.abs().max(1e-3), 1e-6), "ATT(2004,{t}): {x} with x, {y} on x = 1");
    }
    assert!(with_x.att_gt.iter().all(|c| c.std_error.is_finite() && c.std_error > 0.0));
}

/// The pre-test's covariance sums influence functions within clusters, like every
/// standard error: clustering on the unit itself gives R did's statistic exactly, and
/// clustering on larger groups changes it.
#[test]
fn the_pre_test_uses_the_clustered_covariance() {
    use polars::prelude::*;
    let df = mpdta();
    let test = |cluster: Option<&str>, df: &DataFrame| {
        let spec = PanelSpec { cluster: cluster.map(str::to_string), ..mpdta_spec() };
        let p = panel::build(df, &spec).unwrap_or_else(|e| panic!("{e}"));
        cs::estimate(&p, &CsOptions::default()).unwrap_or_else(|e| panic!("{e}")).pretrend_test.map(|t| t.statistic)
    };
    let (plain, by_unit) = (test(None, &df), test(Some("countyreal"), &df));
    let (plain, by_unit) = (plain.unwrap_or(f64::NAN), by_unit.unwrap_or(f64::NAN));
    assert!(close(by_unit, plain, plain, 1e-10), "{by_unit} vs {plain}");
    let ids = endline_analysis::data::numeric(&df, "countyreal").unwrap_or_else(|e| panic!("{e}"));
    let mut df = df.clone();
    df.with_column(Column::new("region".into(), ids.iter().map(|i| (*i as i64) % 40).collect::<Vec<i64>>()))
        .unwrap_or_else(|e| panic!("{e}"));
    let by_region = test(Some("region"), &df).unwrap_or(f64::NAN);
    assert!(by_region.is_finite() && (by_region - plain).abs() > 1e-3 * plain, "{by_region} vs {plain}");
}
