//! The panel aggregation helper and the balance table.

use endline_analysis::Vcov;
use endline_analysis::aggregate::{AggregateSpec, aggregate};
use endline_analysis::balance::balance;
use polars::prelude::*;

fn households() -> DataFrame {
    df!(
        "county" => [2i64, 1, 1, 1, 2, 2, 1],
        "wave" => [2021i64, 2021, 2021, 2023, 2021, 2023, 2021],
        "income" => [Some(10.0), Some(1.0), Some(3.0), Some(5.0), None, Some(7.0), Some(8.0)],
        "w" => [1.0, 1.0, 3.0, 2.0, 5.0, 1.0, 0.0],
        "first_year" => [2022i64, 0, 0, 0, 2022, 2022, 0]
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn weighted_means_counts_and_constants_by_group() {
    let spec = AggregateSpec {
        by: vec!["county".into(), "wave".into()],
        means: vec!["income".into()],
        constants: vec!["first_year".into()],
        weights: Some("w".into()),
    };
    let out = aggregate(&households(), &spec).unwrap_or_else(|e| panic!("{e}"));
    let col = |name: &str| out.column(name).unwrap_or_else(|e| panic!("{e}")).as_materialized_series().clone();
    let county: Vec<i64> = col("county").i64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    let wave: Vec<i64> = col("wave").i64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    assert_eq!(county, [1, 1, 2, 2], "sorted by the grouping columns");
    assert_eq!(wave, [2021, 2023, 2021, 2023]);
    let income: Vec<f64> = col("income").f64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    // County 1, 2021: (1*1 + 3*3 + 0*8) / (1 + 3 + 0) = 2.5; county 2, 2021: the missing
    // income (weight 5) is left out of both sums: 10.
    assert_eq!(income, [2.5, 5.0, 10.0, 7.0]);
    let n: Vec<i64> = col("n").i64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    assert_eq!(n, [3, 1, 2, 1]);
    let ws: Vec<f64> = col("weight_sum").f64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    assert_eq!(ws, [4.0, 2.0, 6.0, 1.0]);
    let first: Vec<i64> = col("first_year").i64().unwrap_or_else(|e| panic!("{e}")).iter().flatten().collect();
    assert_eq!(first, [0, 0, 2022, 2022]);
}

#[test]
fn a_constant_that_varies_within_a_group_is_an_error() {
    let mut df = households();
    df.with_column(Column::new("first_year".into(), [2022i64, 0, 2020, 0, 2022, 2022, 0]))
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = AggregateSpec {
        by: vec!["county".into(), "wave".into()],
        constants: vec!["first_year".into()],
        ..AggregateSpec::default()
    };
    let err = aggregate(&df, &spec).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("`first_year` is not constant within the group county=1, wave=2021"), "{err}");
    let spec = AggregateSpec {
        by: vec!["county".into(), "wave".into()],
        means: vec!["incme".into()],
        ..AggregateSpec::default()
    };
    assert!(aggregate(&df, &spec).err().is_some_and(|e| e.to_string().contains("did you mean `income`?")));
}

#[test]
fn balance_table_identities() {
    let n = 60;
    let treat: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
    let age: Vec<f64> = (0..n).map(|i| 30.0 + (i * 7 % 23) as f64 + 2.0 * treat[i]).collect();
    let size: Vec<f64> = (0..n).map(|i| 3.0 + (i * 5 % 4) as f64).collect();
    let df = df!("treat" => treat.clone(), "age" => age.clone(), "hh_size" => size).unwrap_or_else(|e| panic!("{e}"));
    let t =
        balance(&df, "treat", &["age".into(), "hh_size".into()], None, Vcov::Hetero).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.rows.len(), 2);
    let r = &t.rows[0];
    assert_eq!((r.n_control, r.n_treated), (40, 20));
    // With one 0/1 regressor, OLS gives exactly the difference in means.
    assert!((r.difference - (r.mean_treated - r.mean_control)).abs() < 1e-10);
    let (a0, a1): (Vec<f64>, Vec<f64>) = (
        (0..n).filter(|&i| treat[i] == 0.0).map(|i| age[i]).collect(),
        (0..n).filter(|&i| treat[i] == 1.0).map(|i| age[i]).collect(),
    );
    let var = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
    };
    let nd = (r.mean_treated - r.mean_control) / ((var(&a0) + var(&a1)) / 2.0).sqrt();
    assert!((r.normalized_difference - nd).abs() < 1e-12);
    assert!((r.se_control - (var(&a0) / 40.0).sqrt()).abs() < 1e-12);
    assert!(t.joint_test.is_some_and(|f| f.df1 == 2 && (0.0..=1.0).contains(&f.p_value)));
    assert!(balance(&df, "age", &["hh_size".into()], None, Vcov::Iid).is_err(), "the group must be 0/1");
}
