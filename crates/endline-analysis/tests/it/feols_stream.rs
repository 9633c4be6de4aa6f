//! Two-way fixed-effects regressions streamed in chunks (`feols_stream`) against the
//! in-memory fit on the same table (which matches pyfixest 0.60.0 and fixest,
//! `reference.rs`, where the streamed fit is checked against pyfixest's numbers too):
//! every coefficient, standard error, the variance matrix, N, K, degrees of freedom,
//! clusters and fit statistics, to 1e-10 relative; with what registers have: missing
//! values, singletons, unbalanced units, a regressor the fixed effects absorb, clusters
//! nested or not, text and sparse identifiers.

use endline_analysis::feols_stream::{self, Columns, Fitted, Options};

use endline_analysis::stream::{Chunk, Ids, Source};
use endline_analysis::{FeolsFit, FeolsSpec, Rng, Vcov};
use polars::prelude::*;

use crate::close;

/// A data frame read in chunks of `chunk` rows, as the CLI reads Parquet row groups.
pub struct FrameSource<'a> {
    df: &'a DataFrame,
    ids: Vec<String>,
    numbers: Vec<String>,
    chunk: usize,
}

impl<'a> FrameSource<'a> {
    /// The source of a streamed regression's columns.
    pub fn regression(df: &'a DataFrame, cols: &Columns) -> FrameSource<'a> {
        let mut ids: Vec<String> = cols.fixef.to_vec();
        ids.extend(cols.cluster.clone());
        let mut numbers = vec![cols.y.clone()];
        numbers.extend(cols.x.iter().cloned());
        FrameSource { df, ids, numbers, chunk: 97 }
    }
}

impl Source for FrameSource<'_> {
    fn scan(
        &mut self,
        f: &mut dyn FnMut(&Chunk<'_>) -> endline_analysis::Result<bool>,
    ) -> endline_analysis::Result<()> {
        for at in (0..self.df.height()).step_by(self.chunk) {
            let part = self.df.slice(at as i64, self.chunk);
            let mut ints: Vec<Option<Vec<Option<i64>>>> = Vec::new();
            let mut texts: Vec<Vec<Option<String>>> = Vec::new();
            for name in &self.ids {
                let c = part.column(name)?;
                if c.dtype().is_integer() {
                    ints.push(Some(c.cast(&DataType::Int64)?.i64()?.iter().collect()));
                    texts.push(Vec::new());
                } else {
                    ints.push(None);
                    texts.push(c.cast(&DataType::String)?.str()?.iter().map(|s| s.map(str::to_string)).collect());
                }
            }
            let borrowed: Vec<Vec<Option<&str>>> =
                texts.iter().map(|t| t.iter().map(|s| s.as_deref()).collect()).collect();
            let nums: Vec<Vec<f64>> = self
                .numbers
                .iter()
                .map(|n| {
                    let c = part.column(n)?.cast(&DataType::Float64)?;
                    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
                })
                .collect::<endline_analysis::Result<_>>()?;
            let ids = ints
                .iter()
                .zip(&borrowed)
                .map(|(i, t)| match i {
                    Some(v) => Ids::Int(v),
                    None => Ids::Text(t),
                })
                .collect();
            if !f(&Chunk { ids, numbers: nums.iter().map(Vec::as_slice).collect() })? {
                break;
            }
        }
        Ok(())
    }
}

/// The streamed fit of a formula, or why it fell back.
pub fn streamed(df: &DataFrame, formula: &str, vcov: &Vcov, k_fixef_full: bool) -> Result<FeolsFit, String> {
    streamed_with(df, formula, vcov, k_fixef_full, 0)
}

/// The streamed fit, the rows held in memory when they fit `cache_bytes`.
fn streamed_with(
    df: &DataFrame,
    formula: &str,
    vcov: &Vcov,
    k_fixef_full: bool,
    cache_bytes: usize,
) -> Result<FeolsFit, String> {
    let f = endline_analysis::formula::parse(formula).map_err(|e| e.to_string())?;
    let cols = Columns::of(&f, vcov)?;
    let mut source = FrameSource::regression(df, &cols);
    let opts = Options { formula: &f, vcov, remove_singletons: true, k_fixef_full, cache_bytes };
    match feols_stream::fit(&mut source, &opts).map_err(|e| e.to_string())? {
        Fitted::Fit(fit) => Ok(*fit),
        Fitted::Fallback(why) => Err(format!("fell back: {why}")),
    }
}

fn assert_same(got: &FeolsFit, want: &FeolsFit, what: &str) {
    assert_eq!(
        (got.n_obs, got.n_input, got.n_missing, got.n_singletons, got.df_k, got.dof_resid),
        (want.n_obs, want.n_input, want.n_missing, want.n_singletons, want.df_k, want.dof_resid),
        "{what}: N, rows, missing, singletons, K, df"
    );
    assert_eq!(got.fixed_effects, want.fixed_effects, "{what}");
    assert_eq!(got.clusters, want.clusters, "{what}");
    assert_eq!(got.dropped_collinear, want.dropped_collinear, "{what}");
    assert_eq!(got.coefficients.len(), want.coefficients.len(), "{what}");
    let mut diffs = Vec::new();
    for (g, w) in got.coefficients.iter().zip(&want.coefficients) {
        assert_eq!(g.term, w.term);
        for (label, a, b, scale) in [
            ("estimate", g.estimate, w.estimate, w.std_error.max(w.estimate.abs())),
            ("se", g.std_error, w.std_error, w.std_error),
            ("t", g.statistic, w.statistic, w.statistic.abs().max(1.0)),
            ("p", g.p_value, w.p_value, w.p_value.max(1e-3)),
        ] {
            if !close(a, b, scale, 1e-10) {
                diffs.push(format!("{} {label}: {a:e} vs {b:e}", w.term));
            }
        }
    }
    for (label, a, b) in [
        ("r2", got.r2, want.r2),
        ("adj_r2", got.adj_r2, want.adj_r2),
        ("r2_within", got.r2_within.unwrap_or(0.0), want.r2_within.unwrap_or(0.0)),
        ("rmse", got.rmse, want.rmse),
    ] {
        if !close(a, b, b.abs().max(1e-3), 1e-10) {
            diffs.push(format!("{label}: {a:e} vs {b:e}"));
        }
    }
    assert!(diffs.is_empty(), "{what}:\n{}", diffs.join("\n"));
}

/// Households in counties over 8 years, with the warts of a register.
fn register(households: usize, seed: u64, text_ids: bool, sparse: bool) -> DataFrame {
    let mut rng = Rng::new(seed);
    let (mut hh, mut hh_text, mut county, mut district, mut year, mut y, mut d, mut x, mut size) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    // Clusters nested in households for the first half of the rows, and after it not
    // (`late`) or with some missing (`gaps`): held rows get their clusters late.
    let (mut late, mut gaps) = (vec![], vec![]);
    for h in 0..households {
        let c = (h % 60) as i64;
        let g = if c % 3 == 0 { 0 } else { 2013 + c % 5 };
        let fe = rng.normal() * 4.0 + 30.0;
        let members = 1.0 + rng.below(6) as f64;
        // Some households appear once (singletons), some miss years.
        let years: Vec<i64> =
            if h % 97 == 0 { vec![2012] } else { (2010..2018).filter(|_| rng.uniform() > 0.1).collect() };
        for t in years {
            let treated = g > 0 && t >= g;
            let id = if sparse { h as i64 * 1_000_003 } else { h as i64 };
            hh.push(id);
            hh_text.push(format!("hh{id}"));
            county.push(c);
            district.push(if rng.uniform() < 0.5 { c / 4 } else { (c + 1) / 4 });
            let second_half = h >= households / 2;
            late.push(if second_half { *district.last().unwrap_or(&0) } else { c / 4 });
            gaps.push(if second_half && rng.uniform() < 0.05 { None } else { Some(c / 4) });
            year.push(t);
            d.push(f64::from(u8::from(treated)));
            let xi = rng.normal();
            x.push(if rng.uniform() < 0.02 { None } else { Some(xi) });
            size.push(members);
            y.push(if rng.uniform() < 0.01 {
                None
            } else {
                Some(fe + 0.4 * (t - 2010) as f64 + 2.0 * f64::from(u8::from(treated)) + 0.5 * xi + rng.normal())
            });
        }
    }
    let mut cols = vec![
        Column::new("county".into(), county),
        Column::new("district".into(), district),
        Column::new("late".into(), late),
        Column::new("gaps".into(), gaps),
        Column::new("year".into(), year),
        Column::new("y".into(), y),
        Column::new("d".into(), d),
        Column::new("x".into(), x),
        Column::new("size".into(), size),
    ];
    if text_ids {
        cols.push(Column::new("hh".into(), hh_text));
    } else {
        cols.push(Column::new("hh".into(), hh));
    }
    DataFrame::new_infer_height(cols).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn streamed_two_way_regressions_equal_the_in_memory_fit() {
    let cases = [
        ("y ~ d + x | hh + year", Vcov::Cluster(vec!["county".into()])),
        ("y ~ d + x | year + hh", Vcov::Iid),
        ("y ~ d + x | hh + year", Vcov::Hetero),
        // `size` is constant within a household: the fixed effects absorb it.
        ("y ~ d + size + x | hh + year", Vcov::Cluster(vec!["county".into()])),
        // Households move between districts: not nested, K counts every household.
        ("y ~ d + x | hh + year", Vcov::Cluster(vec!["district".into()])),
        ("y ~ d | county + year", Vcov::Cluster(vec!["county".into()])),
        ("y ~ d + x | hh + year", Vcov::Cluster(vec!["late".into()])),
        ("y ~ d + x | hh + year", Vcov::Cluster(vec!["gaps".into()])),
    ];
    for (label, df) in [
        ("integer ids", register(1_500, 3, false, false)),
        ("text ids", register(400, 4, true, false)),
        ("sparse ids", register(400, 5, false, true)),
    ] {
        for (formula, vcov) in &cases {
            for full in [false, true] {
                let what = format!("{label}: {formula} {vcov} k_fixef_full={full}");
                let want = FeolsSpec::new(formula)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .vcov(vcov.clone())
                    .k_fixef_full(full)
                    .fit(&df)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let got = streamed(&df, formula, vcov, full).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_same(&got, &want, &what);
                // The rows held in memory for the later passes.
                let held =
                    streamed_with(&df, formula, vcov, full, usize::MAX).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_same(&held, &want, &format!("{what}, rows held"));
                assert!(want.n_missing > 0, "{what}: the case lacks missing values");
                assert!(want.n_singletons > 0 || !formula.contains("hh"), "{what}: the case lacks singletons");
            }
        }
    }
}

#[test]
fn what_cannot_stream_says_why() {
    let df = register(200, 6, false, false);
    let formula = |f: &str| endline_analysis::formula::parse(f).unwrap_or_else(|e| panic!("{e}"));
    for (f, vcov, why) in [
        ("y ~ i(year, ref=2010) | hh + county", Vcov::Iid, "plain numeric regressors"),
        ("y ~ d | hh", Vcov::Iid, "exactly two fixed effects"),
        ("y ~ d | hh + year", Vcov::Cluster(vec!["county".into(), "year".into()]), "multiway"),
    ] {
        let e = Columns::of(&formula(f), &vcov).err().unwrap_or_default();
        assert!(e.contains(why), "{f}: {e}");
    }
    // Both fixed effects with more than 64 levels.
    let e = streamed(&df, "y ~ d | hh + x", &Vcov::Iid, false).err().unwrap_or_default();
    assert!(e.contains("x") || e.contains("64"), "{e}");
    // A household twice in a year is two rows of one pair of levels, as in the fit.
    let mut dup = df.clone();
    dup.vstack_mut(&df.slice(0, 3)).unwrap_or_else(|e| panic!("{e}"));
    let want = FeolsSpec::new("y ~ d + x | hh + year").and_then(|s| s.fit(&dup)).unwrap_or_else(|e| panic!("{e}"));
    let got = streamed(&dup, "y ~ d + x | hh + year", &Vcov::Iid, false).unwrap_or_else(|e| panic!("{e}"));
    assert_same(&got, &want, "a repeated row");
    // A year with one row (a singleton of the small fixed effect) from a household with
    // other years: taking it out takes the sums again.
    let mut lone = df.slice(5, 1);
    lone.with_column(Column::new("year".into(), [2030i64])).unwrap_or_else(|e| panic!("{e}"));
    let mut with_lone = df.clone();
    with_lone.vstack_mut(&lone).unwrap_or_else(|e| panic!("{e}"));
    let want =
        FeolsSpec::new("y ~ d + x | hh + year").and_then(|s| s.fit(&with_lone)).unwrap_or_else(|e| panic!("{e}"));
    for bytes in [0, usize::MAX] {
        let got = streamed_with(&with_lone, "y ~ d + x | hh + year", &Vcov::Hetero, false, bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        let want = FeolsSpec::new("y ~ d + x | hh + year")
            .map(|s| s.vcov(Vcov::Hetero))
            .and_then(|s| s.fit(&with_lone))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_same(&got, &want, "a lone year");
    }
    assert!(want.n_singletons > 1);
}
