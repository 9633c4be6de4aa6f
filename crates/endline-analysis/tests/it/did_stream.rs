//! Callaway & Sant'Anna from streamed sufficient statistics against the in-memory estimator
//! on the same panel (which matches R did, `did.rs`): every ATT(g,t), aggregation, standard
//! error, the pre-test, the event study's covariance and the warnings, to 1e-10 relative,
//! on mpdta and on simulated panels with what registers have: clusters, cohorts after the
//! last period, units treated from the start, shuffled rows, text and sparse identifiers,
//! and more units than one pass's memory holds.

use endline_analysis::Rng;
use endline_analysis::did::cs::stream::{self, Chunk, Ids, Names, Source, Streamed};
use endline_analysis::did::cs::{self, BasePeriod, Control, CsOptions, CsResult};
use endline_analysis::did::panel::{self, PanelSpec};
use polars::prelude::*;

use crate::{close, data_dir, read_csv};

/// A long panel held as columns, read in chunks of `chunk` rows.
struct Columns {
    unit: Vec<Option<i64>>,
    text_unit: Option<Vec<Option<String>>>,
    time: Vec<f64>,
    y: Vec<f64>,
    cohort: Vec<f64>,
    cluster: Option<Vec<Option<i64>>>,
    chunk: usize,
    scans: usize,
}

impl Source for Columns {
    fn scan(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        self.scans += 1;
        let text: Option<Vec<Option<&str>>> = self.text_unit.as_ref().map(|v| v.iter().map(|s| s.as_deref()).collect());
        for at in (0..self.time.len()).step_by(self.chunk) {
            let r = at..(at + self.chunk).min(self.time.len());
            let unit = match &text {
                Some(t) => Ids::Text(&t[r.clone()]),
                None => Ids::Int(&self.unit[r.clone()]),
            };
            let mut ids = vec![unit];
            ids.extend(self.cluster.as_ref().map(|c| Ids::Int(&c[r.clone()])));
            let c = Chunk { ids, numbers: vec![&self.time[r.clone()], &self.y[r.clone()], &self.cohort[r.clone()]] };
            if !f(&c)? {
                break;
            }
        }
        Ok(())
    }
}

impl Columns {
    fn frame(&self) -> DataFrame {
        let mut cols = vec![
            Column::new("y".into(), &self.y),
            Column::new("year".into(), &self.time),
            Column::new("cohort".into(), &self.cohort),
        ];
        match &self.text_unit {
            Some(t) => cols.push(Column::new("unit".into(), t)),
            None => cols.push(Column::new("unit".into(), &self.unit)),
        }
        if let Some(c) = &self.cluster {
            cols.push(Column::new("cluster".into(), c));
        }
        DataFrame::new_infer_height(cols).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(&self) -> PanelSpec {
        PanelSpec {
            outcome: "y".into(),
            unit: "unit".into(),
            time: "year".into(),
            cohort: "cohort".into(),
            cluster: self.cluster.as_ref().map(|_| "cluster".into()),
            ..PanelSpec::default()
        }
    }

    fn stream(&mut self, memory: usize) -> endline_analysis::Result<Streamed> {
        stream::sufficient_statistics(self, &Names { time: "year", cohort: "cohort" }, memory)
    }
}

fn column_f64(df: &DataFrame, name: &str) -> Vec<f64> {
    let c = df.column(name).and_then(|c| c.cast(&DataType::Float64)).unwrap_or_else(|e| panic!("{e}"));
    c.f64().unwrap_or_else(|e| panic!("{e}")).iter().map(|v| v.unwrap_or(f64::NAN)).collect()
}

/// mpdta's columns, optionally clustered by groups of counties.
fn mpdta(clusters: Option<i64>) -> Columns {
    let df = read_csv(&data_dir().join("did/mpdta.csv"));
    let unit: Vec<Option<i64>> = column_f64(&df, "countyreal").iter().map(|v| Some(*v as i64)).collect();
    Columns {
        cluster: clusters.map(|k| unit.iter().map(|u| u.map(|u| u % k)).collect()),
        unit,
        text_unit: None,
        time: column_f64(&df, "year"),
        y: column_f64(&df, "lemp"),
        cohort: column_f64(&df, "first.treat"),
        chunk: 97,
        scans: 0,
    }
}

/// A staggered panel of `units` units × 8 periods (2001–2008): cohorts 2003–2008, never
/// treated, treated before the first period, and first treated after the last (2010);
/// rows shuffled; clusters of about 25 units when asked.
fn simulated(units: usize, seed: u64, clustered: bool) -> Columns {
    let mut rng = Rng::new(seed);
    let mut rows: Vec<(i64, f64, f64, f64, i64)> = Vec::new();
    for u in 0..units {
        let g = match rng.below(10) {
            0..=2 => 0.0,
            3 => 2001.0,
            4 => 2010.0,
            k => 2000.0 + k as f64 - 2.0,
        };
        let id = 1_000 + 7 * u as i64;
        let effect = rng.normal() * 3.0 + 50.0;
        let cluster = (u / 25) as i64;
        for t in 2001..=2008 {
            let te = if g > 0.0 && t as f64 >= g { 1.0 + 0.2 * (t as f64 - g) } else { 0.0 };
            rows.push((id, t as f64, effect + 0.3 * (t - 2001) as f64 + te + rng.normal(), g, cluster));
        }
    }
    // Shuffle (Fisher-Yates), so that units' rows are scattered across chunks.
    for i in (1..rows.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        rows.swap(i, j);
    }
    Columns {
        unit: rows.iter().map(|r| Some(r.0)).collect(),
        text_unit: None,
        time: rows.iter().map(|r| r.1).collect(),
        y: rows.iter().map(|r| r.2).collect(),
        cohort: rows.iter().map(|r| r.3).collect(),
        cluster: clustered.then(|| rows.iter().map(|r| Some(r.4)).collect()),
        chunk: 1_000,
        scans: 0,
    }
}

/// Every number of two results within 1e-10 relative (the scale of an estimate is its
/// standard error), and the same cells, cohorts and warnings.
fn assert_same(got: &CsResult, want: &CsResult, what: &str) {
    let mut diffs = Vec::new();
    let mut check = |label: String, g: f64, w: f64, scale: f64| {
        if !close(g, w, scale.max(w.abs() * 1e-3), 1e-10) {
            diffs.push(format!("{label}: {g} vs {w}"));
        }
    };
    assert_eq!(got.att_gt.len(), want.att_gt.len(), "{what}: cells");
    for (g, w) in got.att_gt.iter().zip(&want.att_gt) {
        assert_eq!(
            (g.group, g.time, g.post, g.n_treated, g.n_control),
            (w.group, w.time, w.post, w.n_treated, w.n_control)
        );
        check(format!("ATT({},{})", w.group, w.time), g.att, w.att, w.std_error);
        check(format!("se({},{})", w.group, w.time), g.std_error, w.std_error, w.std_error);
        check(format!("low({},{})", w.group, w.time), g.conf_low, w.conf_low, w.std_error);
    }
    let effects = |r: &CsResult| {
        let mut v =
            vec![r.simple.clone(), r.dynamic.overall.clone(), r.group.overall.clone(), r.calendar.overall.clone()];
        for a in [&r.dynamic, &r.group, &r.calendar] {
            v.extend(a.by.iter().map(|b| b.effect.clone()));
        }
        v
    };
    let (ge, we) = (effects(got), effects(want));
    assert_eq!(ge.len(), we.len(), "{what}: aggregations");
    for (i, (g, w)) in ge.iter().zip(&we).enumerate() {
        check(format!("aggregate {i}"), g.att, w.att, w.std_error);
        check(format!("aggregate se {i}"), g.std_error, w.std_error, w.std_error);
    }
    match (&got.pretrend_test, &want.pretrend_test) {
        (Some(g), Some(w)) => {
            assert_eq!(g.df, w.df);
            check("pre-test".into(), g.statistic, w.statistic, w.statistic);
        }
        (g, w) => assert_eq!(g.is_some(), w.is_some(), "{what}: pre-test"),
    }
    for (gr, wr) in got.dynamic_vcov.iter().zip(&want.dynamic_vcov) {
        for (g, w) in gr.iter().zip(wr) {
            check("dynamic vcov".into(), *g, *w, wr.iter().fold(0.0, |m, v| f64::max(m, v.abs())));
        }
    }
    assert!(diffs.is_empty(), "{what}: {} differences:\n{}", diffs.len(), diffs.join("\n"));
    assert_eq!(got.n_units, want.n_units, "{what}");
    assert_eq!(got.cohorts, want.cohorts, "{what}");
    assert_eq!(got.warnings, want.warnings, "{what}");
}

fn options() -> Vec<(String, CsOptions)> {
    let mut v = Vec::new();
    for control in [Control::Never, Control::Notyet] {
        for base_period in [BasePeriod::Varying, BasePeriod::Universal] {
            for anticipation in [0, 1] {
                v.push((
                    format!("{control:?} {base_period:?} anticipation {anticipation}"),
                    CsOptions { control, base_period, anticipation, ..CsOptions::default() },
                ));
            }
        }
    }
    v
}

fn compare(cols: &mut Columns, memory: usize, what: &str) {
    let p = panel::build(&cols.frame(), &cols.spec()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let stats = match cols.stream(memory).unwrap_or_else(|e| panic!("{what}: {e}")) {
        Streamed::Stats(s) => s,
        Streamed::Fallback(why) => panic!("{what}: fell back: {why}"),
    };
    assert_eq!(stats.n_obs, p.n_obs, "{what}");
    for (label, o) in options() {
        let want = cs::estimate(&p, &o).unwrap_or_else(|e| panic!("{what} {label}: {e}"));
        let got = cs::stats::estimate(&stats, &o).unwrap_or_else(|e| panic!("{what} {label}: {e}"));
        assert_same(&got, &want, &format!("{what}, {label}"));
    }
}

#[test]
fn streamed_statistics_give_the_in_memory_estimates_on_mpdta() {
    compare(&mut mpdta(None), 1 << 30, "mpdta");
    compare(&mut mpdta(Some(40)), 1 << 30, "mpdta clustered");
}

#[test]
fn streamed_statistics_give_the_in_memory_estimates_on_register_like_panels() {
    let mut clustered = simulated(3_000, 11, true);
    compare(&mut clustered, 1 << 30, "clustered");
    assert_eq!(clustered.scans, 3);
    // Units in blocks of 500: the cross-products take six passes.
    let mut units = simulated(3_000, 12, false);
    compare(&mut units, 500 * 8 * 8, "units in blocks");
    assert_eq!(units.scans, 2 + 6, "{}", units.scans);
    // Text identifiers; identifiers spread too far for dense codes.
    let mut text = simulated(400, 13, false);
    text.text_unit = Some(text.unit.iter().map(|u| u.map(|u| format!("hh-{u}"))).collect());
    compare(&mut text, 1 << 30, "text units");
    let mut sparse = simulated(400, 14, true);
    for u in sparse.unit.iter_mut().flatten() {
        *u *= 1_000_000_007;
    }
    compare(&mut sparse, 1 << 30, "sparse units");
}

#[test]
fn panels_the_statistics_cannot_hold_fall_back_and_bad_panels_fail_as_in_memory() {
    let mut missing = simulated(200, 15, false);
    missing.y[17] = f64::NAN;
    assert!(matches!(missing.stream(1 << 30), Ok(Streamed::Fallback(w)) if w.contains("missing outcome")));
    let mut short = simulated(200, 16, false);
    short.unit.pop();
    short.time.pop();
    short.y.pop();
    short.cohort.pop();
    assert!(matches!(short.stream(1 << 30), Ok(Streamed::Fallback(w)) if w.contains("1 units are not observed")));
    // A duplicate row and a cohort that changes: the in-memory panel's own messages.
    for broken in [0, 1] {
        let mut bad = simulated(200, 17, false);
        let (a, b) =
            (5, (0..bad.unit.len()).find(|&i| bad.unit[i] != bad.unit[5] && bad.time[i] == bad.time[5]).unwrap_or(0));
        if broken == 0 {
            bad.unit[b] = bad.unit[a];
        } else {
            let other = (0..bad.unit.len()).find(|&i| bad.unit[i] == bad.unit[a] && i != a).unwrap_or(0);
            bad.cohort[other] = 2004.0 + (bad.cohort[a] == 2004.0) as i64 as f64;
        }
        let want = panel::build(&bad.frame(), &bad.spec()).map(|_| ()).err().map(|e| e.to_string());
        let got = bad.stream(1 << 30).map(|_| ()).err().map(|e| e.to_string());
        assert!(want.is_some());
        assert_eq!(got, want);
    }
}
