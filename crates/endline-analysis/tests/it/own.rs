//! Our own reference cases, computed by tests/reference/make_feols_refs.py with pyfixest
//! 0.60.0 (versions recorded in tests/data/own/feols_refs.json): two-way clustering,
//! i() event-study terms, weights with clustering, and collinear covariates.

use endline_analysis::{FeolsSpec, Vcov};
use serde_json::Value;

use crate::{close, data_dir, read_csv};

#[test]
fn pyfixest_two_way_clusters_event_studies_and_weights() {
    let dir = data_dir().join("own");
    let df = read_csv(&dir.join("household_event.csv"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("feols_refs.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["generated_by"]["pyfixest"], "0.60.0");
    let models = doc["models"].as_object().unwrap_or_else(|| panic!("no models"));
    assert_eq!(models.len(), 6);
    let mut failures = Vec::new();
    for (name, m) in models {
        let vcov: Vcov = m["vcov"].as_str().unwrap_or_default().parse().unwrap_or_else(|e| panic!("{e}"));
        let fit = FeolsSpec::new(m["formula"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
            .vcov(vcov)
            .weights(m["weights"].as_str())
            .fit(&df)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let coefs = m["coefficients"].as_object().unwrap_or_else(|| panic!("{name}"));
        let want: Vec<&str> = coefs.keys().map(String::as_str).collect();
        let got: Vec<&str> = fit.coefficients.iter().map(|c| c.term.as_str()).collect();
        let mut want_sorted = want.clone();
        want_sorted.sort_unstable();
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        if got_sorted != want_sorted {
            failures.push(format!("{name}: terms {got:?} vs {want:?}"));
            continue;
        }
        if fit.n_obs as u64 != m["n_obs"].as_u64().unwrap_or(0)
            || fit.dof_resid as u64 != m["df_t"].as_u64().unwrap_or(0)
        {
            failures.push(format!("{name}: N {} df {} vs {} {}", fit.n_obs, fit.dof_resid, m["n_obs"], m["df_t"]));
        }
        for c in &fit.coefficients {
            let r = &coefs[&c.term];
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let scale = f("estimate").abs().max(f("se"));
            for (what, got, want, sc, tol) in [
                ("estimate", c.estimate, f("estimate"), scale, 1e-8),
                ("se", c.std_error, f("se"), f("se"), 1e-7),
                ("p", c.p_value, f("p"), f("p").max(1e-3), 1e-6),
                ("ci_low", c.conf_low, f("ci_low"), scale, 1e-7),
                ("ci_high", c.conf_high, f("ci_high"), scale, 1e-7),
            ] {
                if !close(got, want, sc, tol) {
                    failures.push(format!("{name} {} {what}: {got:e} vs {want:e}", c.term));
                }
            }
        }
        if !close(fit.r2, m["r2"].as_f64().unwrap_or(f64::NAN), 1.0, 1e-8) {
            failures.push(format!("{name}: r2 {} vs {}", fit.r2, m["r2"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
