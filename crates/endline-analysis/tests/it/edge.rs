//! Edge cases: each gives a clear error or a documented result, never a panic or a
//! silent NaN.

use endline_analysis::{AnalysisError, FeolsSpec, Rng, Vcov, WildBootstrap, WildWeights};
use polars::prelude::*;

fn fit(df: &DataFrame, formula: &str) -> Result<endline_analysis::FeolsFit, AnalysisError> {
    FeolsSpec::new(formula)?.fit(df)
}

fn panel(n_units: usize, n_years: usize, seed: u64, effect: f64) -> DataFrame {
    panel_with(n_units, n_years, seed, effect, 0.2)
}

fn panel_with(n_units: usize, n_years: usize, seed: u64, effect: f64, trend: f64) -> DataFrame {
    let mut rng = Rng::new(seed);
    let (mut unit, mut year, mut cluster, mut x, mut y, mut d) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for u in 0..n_units {
        let ue = rng.uniform();
        let treated = u % 2 == 0;
        for t in 0..n_years {
            let xi = rng.uniform() + 0.1 * t as f64;
            let di = f64::from(u8::from(treated && t >= n_years / 2));
            unit.push(u as i64);
            year.push(t as i64);
            cluster.push((u % 12) as i64);
            x.push(xi);
            d.push(di);
            y.push(ue + trend * t as f64 + 0.5 * xi + effect * di + rng.uniform() - 0.5);
        }
    }
    df!("unit" => unit, "year" => year, "cl" => cluster, "x" => x, "d" => d, "y" => y).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn perfect_collinearity_drops_the_later_term_with_a_note() {
    let df = df!("y" => [1.0, 2.0, 2.5, 4.1, 5.2, 5.9], "a" => [1.0, 2.0, 3.0, 4.0, 5.0, 7.0], "b" => [0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut df = df;
    let c: Vec<f64> = (0..6).map(|i| [1.0, 3.0, 3.0, 5.0, 6.0, 7.0][i]).collect();
    df.with_column(Column::new("c".into(), c)).unwrap_or_else(|e| panic!("{e}"));
    let with = fit(&df, "y ~ a + b + c").unwrap_or_else(|e| panic!("{e}"));
    let without = fit(&df, "y ~ a + b").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(with.dropped_collinear, vec!["c".to_string()]);
    assert!(with.notes.iter().any(|n| n.contains("collinearity") && n.contains('c')));
    for (a, b) in with.coefficients.iter().zip(&without.coefficients) {
        assert_eq!(a.term, b.term);
        assert!((a.estimate - b.estimate).abs() < 1e-10 && (a.std_error - b.std_error).abs() < 1e-10);
    }
}

#[test]
fn only_singletons_is_an_error() {
    let df =
        df!("y" => [1.0, 2.0, 3.0], "x" => [0.5, 0.1, 0.9], "id" => [1i64, 2, 3]).unwrap_or_else(|e| panic!("{e}"));
    match fit(&df, "y ~ x | id") {
        Err(AnalysisError::NoObservations { reason }) => assert!(reason.contains("singletons"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Kept, every row is its own fixed effect: nothing is identified.
    let kept = FeolsSpec::new("y ~ x | id").and_then(|s| s.remove_singletons(false).fit(&df));
    assert!(matches!(kept, Err(AnalysisError::NotIdentified(_))), "{kept:?}");
}

#[test]
fn singletons_are_removed_iteratively_and_counted() {
    // Units 1, 4, 5 over years 0-2; unit 3 alone (year 5); unit 2 in years 0 and 6, and
    // year 6 has no one else. Round one drops unit 3's row and year 6's row; that leaves
    // unit 2 with one row, dropped in round two.
    let mut unit = vec![];
    let mut year = vec![];
    for u in [1i64, 4, 5] {
        for t in 0..3i64 {
            unit.push(u);
            year.push(t);
        }
    }
    unit.extend([3, 2, 2]);
    year.extend([5, 0, 6]);
    let n = unit.len();
    let y: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64).collect();
    let x: Vec<f64> = (0..n).map(|i| ((i * 13) % 7) as f64).collect();
    let df = df!("y" => y, "x" => x, "unit" => unit, "year" => year).unwrap_or_else(|e| panic!("{e}"));
    let f = fit(&df, "y ~ x | unit + year").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((f.n_singletons, f.n_obs), (3, 9));
    let kept = FeolsSpec::new("y ~ x | unit + year")
        .and_then(|s| s.remove_singletons(false).fit(&df))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((kept.n_singletons, kept.n_obs), (0, 12));
    let (a, b) = (f.coefficients[0].estimate, kept.coefficients[0].estimate);
    assert!((a - b).abs() < 1e-9, "singletons do not move the estimate: {a} vs {b}");
}

#[test]
fn a_fixed_effect_with_one_level_acts_as_the_intercept() {
    let df = panel(20, 4, 1, 0.0);
    let mut with_g = df.clone();
    with_g.with_column(Column::new("g".into(), vec![7i64; df.height()])).unwrap_or_else(|e| panic!("{e}"));
    let a = fit(&with_g, "y ~ x | g").unwrap_or_else(|e| panic!("{e}"));
    let b = fit(&df, "y ~ x").unwrap_or_else(|e| panic!("{e}"));
    let (ax, bx) = (a.coefficient("x").map(|c| c.estimate), b.coefficient("x").map(|c| c.estimate));
    assert!((ax.unwrap_or(0.0) - bx.unwrap_or(1.0)).abs() < 1e-10);
    assert_eq!(a.df_k, b.df_k, "one level counts as the intercept did");
    assert!(
        (a.coefficient("x").map_or(0.0, |c| c.std_error) - b.coefficient("x").map_or(1.0, |c| c.std_error)).abs()
            < 1e-10
    );
}

#[test]
fn no_rows_after_missing_values_is_an_error() {
    let df = df!("y" => [None::<f64>, None, None], "x" => [1.0, 2.0, 3.0]).unwrap_or_else(|e| panic!("{e}"));
    match fit(&df, "y ~ x") {
        Err(AnalysisError::NoObservations { reason }) => assert!(reason.contains("missing"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_values_are_dropped_listwise_and_counted() {
    let df = df!("y" => [Some(1.0), Some(2.0), None, Some(4.5), Some(5.0)], "x" => [Some(1.0), None, Some(3.0), Some(4.0), Some(6.0)])
        .unwrap_or_else(|e| panic!("{e}"));
    let f = fit(&df, "y ~ x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((f.n_obs, f.n_missing, f.n_input), (3, 2, 5));
}

#[test]
fn zero_weights_drop_rows_and_negative_weights_are_errors() {
    let mut df = panel(10, 4, 2, 0.0);
    let w: Vec<f64> = (0..df.height()).map(|i| if i % 5 == 0 { 0.0 } else { 1.0 + (i % 3) as f64 }).collect();
    df.with_column(Column::new("w".into(), w.clone())).unwrap_or_else(|e| panic!("{e}"));
    let f = FeolsSpec::new("y ~ x + d").and_then(|s| s.weights(Some("w")).fit(&df)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.n_zero_weight, 8);
    let kept = df
        .filter(&df.column("w").and_then(|c| c.as_materialized_series().gt(0.0)).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let g = FeolsSpec::new("y ~ x + d").and_then(|s| s.weights(Some("w")).fit(&kept)).unwrap_or_else(|e| panic!("{e}"));
    assert!((f.coefficients[1].estimate - g.coefficients[1].estimate).abs() < 1e-12);

    let mut neg = w;
    neg[3] = -1.0;
    df.with_column(Column::new("w".into(), neg)).unwrap_or_else(|e| panic!("{e}"));
    match FeolsSpec::new("y ~ x").and_then(|s| s.weights(Some("w")).fit(&df)) {
        Err(e @ AnalysisError::InvalidWeight { row: 4, .. }) => assert!(e.to_string().contains("-1")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_single_cluster_is_an_error() {
    let mut df = panel(5, 4, 3, 0.0);
    df.with_column(Column::new("one".into(), vec![1i64; df.height()])).unwrap_or_else(|e| panic!("{e}"));
    match FeolsSpec::new("y ~ x").and_then(|s| s.vcov(Vcov::Cluster(vec!["one".into()])).fit(&df)) {
        Err(AnalysisError::NotIdentified(m)) => assert!(m.contains("at least two clusters"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn user_errors_name_the_problem() {
    let df = panel(5, 4, 4, 0.0);
    match fit(&df, "y ~ xx | unit") {
        Err(e @ AnalysisError::UnknownColumn { .. }) => {
            assert_eq!(e.to_string(), "no column `xx` in the data; did you mean `x`?")
        }
        other => panic!("{other:?}"),
    }
    let mut s = df.clone();
    s.with_column(Column::new("name".into(), vec!["a"; df.height()])).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(fit(&s, "y ~ name"), Err(AnalysisError::ColumnType { .. })));
    assert!(matches!(fit(&df, "y ~ i(year, ref=99) | unit"), Err(AnalysisError::Invalid(m)) if m.contains("99")));
    assert!(matches!(fit(&df, "y ~ d:x +"), Err(AnalysisError::Formula { at: 9, .. })));
    match fit(&df, "y ~ unit | unit") {
        Err(AnalysisError::NotIdentified(m)) => assert!(m.contains("collinear"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!("cluster:".parse::<Vcov>().is_err() && "robust".parse::<Vcov>().is_err());
}

#[test]
fn every_number_is_finite_on_a_regular_model() {
    let df = panel(30, 6, 5, 1.0);
    for vcov in ["iid", "hetero", "cluster:cl", "cluster:cl+year"] {
        let f = FeolsSpec::new("y ~ d + x | unit + year")
            .and_then(|s| s.vcov(vcov.parse()?).fit(&df))
            .unwrap_or_else(|e| panic!("{e}"));
        for c in &f.coefficients {
            assert!(
                [c.estimate, c.std_error, c.statistic, c.p_value, c.conf_low, c.conf_high]
                    .iter()
                    .all(|v| v.is_finite()),
                "{vcov}: {c:?}"
            );
        }
        assert!(f.r2.is_finite() && f.adj_r2.is_finite() && f.rmse.is_finite());
    }
}

fn wild(df: &DataFrame, formula: &str, seed: u64, weights: WildWeights) -> f64 {
    let b = WildBootstrap { reps: 999, weights, seed, cluster: None };
    let f = FeolsSpec::new(formula)
        .and_then(|s| s.vcov(Vcov::Cluster(vec!["cl".into()])).wild_bootstrap(Some(b)).fit(df))
        .unwrap_or_else(|e| panic!("{e}"));
    f.coefficient("d").and_then(|c| c.wild_bootstrap.as_ref()).map_or(f64::NAN, |w| w.p_value)
}

/// Checked statistically, not to the digit: reproducible for a seed, small for a large
/// effect, and, under the null, p-values spread over (0, 1) with about 5% below 0.05.
#[test]
fn wild_cluster_bootstrap_behaves() {
    let strong = panel(24, 6, 11, 2.0);
    for formula in ["y ~ d + x | unit", "y ~ d + x | unit + year"] {
        let p = wild(&strong, formula, 1, WildWeights::Rademacher);
        assert!(p < 0.01, "{formula}: strong effect, p = {p}");
        assert_eq!(p, wild(&strong, formula, 1, WildWeights::Rademacher), "same seed, same p");
    }
    // Under the null, with the fixed effects nested in the clusters (the fast path) and
    // with year effects that are not (each draw is demeaned again).
    for (formula, trend) in [("y ~ d + x | unit", 0.0), ("y ~ d + x | unit + year", 0.2)] {
        let mut below = 0;
        let mut ps = Vec::new();
        for seed in 0..40 {
            let null = panel_with(24, 6, 100 + seed, 0.0, trend);
            let p = wild(&null, formula, seed, WildWeights::Webb);
            assert!((0.0..=1.0).contains(&p));
            ps.push(p);
            if p < 0.05 {
                below += 1;
            }
        }
        let mean = ps.iter().sum::<f64>() / ps.len() as f64;
        assert!(below <= 7, "{formula}: {below} of 40 null p-values below 0.05");
        assert!((0.3..0.7).contains(&mean), "{formula}: mean null p-value {mean}");
    }
}

#[test]
fn an_empty_table_says_so() {
    let df = df!("y" => Vec::<String>::new(), "x" => Vec::<String>::new()).unwrap_or_else(|e| panic!("{e}"));
    match fit(&df, "y ~ x") {
        Err(AnalysisError::NoObservations { reason }) => assert_eq!(reason, "the table is empty"),
        other => panic!("{other:?}"),
    }
}
