//! Every pyfixest model of the shared reference fixtures (pyfixest 0.60.0, fixest's
//! default small-sample corrections; see tests/data/reference/PROVENANCE.md), reproduced
//! with the tolerances the fixtures' README suggests: coefficients 1e-8, se/t/CI/vcov
//! 1e-7, p-values 1e-6 (scale max(p, 1e-3)); N, K, df and G exactly.

use endline_analysis::{FeolsSpec, Vcov};
use serde_json::Value;

use crate::{close, data_dir, read_csv};

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Checks every pyfixest model of a fixture fitted in memory, or, with `streamed`, every
/// one that streams (two fixed effects, plain regressors, no weights) fitted from chunks.
fn check_fixture(name: &str) -> usize {
    check(name, false)
}

fn check(name: &str, streamed: bool) -> usize {
    let dir = data_dir().join("reference");
    let df = read_csv(&dir.join(format!("{name}.csv")));
    let text = std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).unwrap_or_else(|e| panic!("{e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let models = doc["models"].as_object().unwrap_or_else(|| panic!("no models"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (key, m) in models {
        if m["library"] != "pyfixest" {
            continue;
        }
        let vcov = match (m["vcov"]["type"].as_str(), m["vcov"]["cluster"].as_str()) {
            (Some("iid"), _) => Vcov::Iid,
            (Some("HC1"), _) => Vcov::Hetero,
            (Some("CRV1"), Some(c)) => Vcov::Cluster(vec![c.to_string()]),
            other => panic!("{key}: unexpected vcov {other:?}"),
        };
        let full = m["small_sample"]["pyfixest_ssc"]["k_fixef"] == "full";
        let formula = m["formula"].as_str().unwrap_or_default();
        let weights = m["weights"]["column"].as_str();
        let fit = if streamed {
            let parsed = endline_analysis::formula::parse(formula).unwrap_or_else(|e| panic!("{key}: {e}"));
            if weights.is_some() || endline_analysis::feols_stream::Columns::of(&parsed, &vcov).is_err() {
                continue;
            }
            crate::feols_stream::streamed(&df, formula, &vcov, full).unwrap_or_else(|e| panic!("{key}: {e}"))
        } else {
            FeolsSpec::new(formula)
                .unwrap_or_else(|e| panic!("{key}: {e}"))
                .vcov(vcov)
                .weights(weights)
                .k_fixef_full(full)
                .fit(&df)
                .unwrap_or_else(|e| panic!("{key}: {e}"))
        };
        checked += 1;
        let mut fail = |what: String| failures.push(format!("{name}/{key}: {what}"));
        if fit.n_obs as u64 != m["n_obs"].as_u64().unwrap_or(0) {
            fail(format!("n_obs {} != {}", fit.n_obs, m["n_obs"]));
        }
        if fit.df_k as u64 != m["small_sample"]["df_k"].as_u64().unwrap_or(0) {
            fail(format!("df_k {} != {}", fit.df_k, m["small_sample"]["df_k"]));
        }
        if fit.dof_resid as u64 != m["inference"]["df"].as_u64().unwrap_or(0) {
            fail(format!("df {} != {}", fit.dof_resid, m["inference"]["df"]));
        }
        if let Some(g) = m["n_clusters"].as_u64()
            && fit.clusters.first().map(|c| c.1 as u64) != Some(g)
        {
            fail(format!("G {:?} != {g}", fit.clusters));
        }
        let want_dropped: Vec<&str> =
            m["dropped_collinear"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if fit.dropped_collinear != want_dropped {
            fail(format!("dropped {:?} != {want_dropped:?}", fit.dropped_collinear));
        }
        let coefs = m["coefficients"].as_object().unwrap_or_else(|| panic!("{key}: no coefficients"));
        let names: Vec<&str> = fit.coefficients.iter().map(|c| c.term.as_str()).collect();
        let want_names: Vec<&str> =
            m["vcov_matrix"]["names"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if names != want_names {
            fail(format!("terms {names:?} != {want_names:?}"));
            continue;
        }
        for c in &fit.coefficients {
            let r = &coefs[&c.term];
            let (est, se, t, p) = (num(&r["estimate"]), num(&r["se"]), num(&r["t"]), num(&r["p"]));
            let scale = est.abs().max(se);
            for (what, got, want, sc, tol) in [
                ("estimate", c.estimate, est, scale, 1e-8),
                ("se", c.std_error, se, se, 1e-7),
                ("t", c.statistic, t, t, 1e-7),
                ("p", c.p_value, p, p.max(1e-3), 1e-6),
                ("ci_low", c.conf_low, num(&r["ci_low"]), scale, 1e-7),
                ("ci_high", c.conf_high, num(&r["ci_high"]), scale, 1e-7),
            ] {
                if !close(got, want, sc, tol) {
                    fail(format!("{} {what}: {got:e} vs {want:e} (rel {:.2e})", c.term, (got - want).abs() / sc.abs()));
                }
            }
        }
        let vm = &m["vcov_matrix"]["values"];
        for (a, row) in fit.vcov_matrix.iter().enumerate() {
            for (b, got) in row.iter().enumerate() {
                let want = num(&vm[a][b]);
                let scale = (num(&vm[a][a]) * num(&vm[b][b])).sqrt();
                if !close(*got, want, scale, 1e-7) {
                    fail(format!("vcov[{a}][{b}] {got:e} vs {want:e}"));
                }
            }
        }
        let fs = &m["fit_stats"];
        for (what, got, want) in [
            ("r2", Some(fit.r2), fs["r2"].as_f64()),
            ("adj_r2", Some(fit.adj_r2), fs["adj_r2"].as_f64()),
            ("r2_within", fit.r2_within, fs["r2_within"].as_f64()),
            ("rmse", Some(fit.rmse), fs["rmse"].as_f64()),
        ] {
            match (got, want) {
                (Some(g), Some(w)) if close(g, w, w, 1e-7) => {}
                (None, None) => {}
                (g, w) => fail(format!("{what}: {g:?} vs {w:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    checked
}

#[test]
fn a_kielmc_2x2_did_with_covariates() {
    assert_eq!(check_fixture("a_kielmc"), 9);
}

#[test]
fn a_injury_ky_listwise_deletion() {
    assert_eq!(check_fixture("a_injury_ky"), 5);
}

#[test]
fn b_castle_twfe_two_way_fixed_effects() {
    assert_eq!(check_fixture("b_castle_twfe"), 8);
}

#[test]
fn e_castle_wls_weighted_twfe() {
    assert_eq!(check_fixture("e_castle_wls"), 6);
}

#[test]
fn e_household_wls_unbalanced_weighted_panel() {
    assert_eq!(check_fixture("e_household_wls"), 13);
}

/// The two-way models of the fixtures, streamed in chunks (`feols_stream`), against
/// pyfixest 0.60.0's numbers directly.
#[test]
fn streamed_two_way_fits_match_pyfixest() {
    let n: usize = ["a_kielmc", "a_injury_ky", "b_castle_twfe", "e_household_wls"].iter().map(|f| check(f, true)).sum();
    assert_eq!(n, 10, "{n} streamed models");
}
