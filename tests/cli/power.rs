//! `endline power`: simulated power and MDE of a plan's declared design, against the
//! analytic calculation where both apply, reproducible by seed.

use crate::run::{run_in, study};
use crate::{json_of, num};

/// One adoption year, no confounding attribute, a continuous outcome on the log scale:
/// the design for which the analytic variance is exact (transitory unit × wave shocks,
/// independent across waves).
const SIMPLE: &str = "\
plan: small
title: Power
question: Did it work?
survey: ../surveys/border_household.yaml
data:
  simulate:
    seed: 7
    units: 40
    households: 5
    waves: [2019, 2020, 2021, 2022]
    adoption: [2021]
    treated_share: 0.5
    growth: 0.05
    unit_shock: 0.05
    effects: {specialty_output: 0.05}
    answers: {consent: 1}
unit: {question: county_id, name: county, plural: counties}
outcomes:
  - {name: specialty_output, label: Specialty-product sales, transform: log1p}
report: {templates: [../reports/report.md.tera]}
";

#[test]
fn simulated_power_converges_to_the_analytic_where_both_apply() {
    let dir = study("power-simple", SIMPLE);
    let v = json_of(&run_in(&dir, &["power", "analysis/small.yaml", "--replicates", "400", "--format", "json"]));
    assert_eq!(v["replicates"], 400);
    let (p, se, pa) = (num(&v["power"]["estimate"]), num(&v["power"]["mc_se"]), num(&v["analytic"]["power"]));
    assert!(p > 0.2 && p < 0.95, "a design with power in between: {p}");
    // Within Monte Carlo error (3 s.e.) plus 0.03 for the t approximation of CS's
    // influence-function standard errors.
    assert!((p - pa).abs() < 3.0 * se + 0.03, "simulated {p} ± {se} vs analytic {pa}");
    let (m, mse, ma) = (num(&v["mde"]["estimate"]), num(&v["mde"]["mc_se"]), num(&v["analytic"]["mde"]));
    assert!((m - ma).abs() < 3.0 * mse + 0.05 * ma, "MDE simulated {m} ± {mse} vs analytic {ma}");
    // The curve starts at the test's size and rises.
    let curve = v["curve"].as_array().cloned().unwrap_or_default();
    assert!(num(&curve[0]["power"]) < 0.12, "size {}", curve[0]["power"]);
    assert!(num(&curve[16]["power"]) > 0.9);
    // Same seed, same bytes.
    let again = run_in(&dir, &["power", "analysis/small.yaml", "--replicates", "400", "--format", "json"]);
    assert_eq!(
        again.stdout,
        run_in(&dir, &["power", "analysis/small.yaml", "--replicates", "400", "--format", "json"]).stdout
    );
}

/// The example study (issue #22's "done when"): staggered adoption in three years, a
/// confounding corridor the estimator conditions on. The analytic MDE (the stratified
/// comparison's exact variance) agrees with the simulated one within Monte Carlo error.
#[test]
fn on_the_example_plan_simulated_and_analytic_mde_agree() {
    let o =
        crate::endline(&["power", "analysis/border_social_workers.yaml", "--replicates", "150", "--format", "json"]);
    let v = json_of(&o);
    let (m, mse, ma) = (num(&v["mde"]["estimate"]), num(&v["mde"]["mc_se"]), num(&v["analytic"]["mde"]));
    assert!((m - ma).abs() < 3.0 * mse + 0.02 * ma, "MDE simulated {m} ± {mse} vs analytic {ma}");
    // The analytic standard error is the spread of the estimates across replicates.
    let (se, sd) = (num(&v["analytic"]["std_error"]), num(&v["analytic"]["simulated_sd"]));
    assert!((se / sd - 1.0).abs() < 0.2, "analytic s.e. {se} vs simulated sd {sd}");
}

#[test]
fn precision_sets_the_replicates_and_sizes_and_plots_are_given() {
    let dir = study("power-sizes", SIMPLE);
    let o = run_in(
        &dir,
        &[
            "power",
            "analysis/small.yaml",
            "--precision",
            "0.04",
            "--units",
            "20,60",
            "--households",
            "5",
            "--plot",
            "power.svg",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    // p(1 − p)/0.04² is at most 157: the floor of 200 replicates applies.
    assert!(text.contains("200 replicates, seed 7"), "{text}");
    let rows: Vec<&str> =
        text.lines().filter(|l| l.trim_start().starts_with("20 ") || l.trim_start().starts_with("60 ")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let power_of = |row: &str| row.split_whitespace().nth(2).and_then(|p| p.parse::<f64>().ok()).unwrap_or(f64::NAN);
    assert!(power_of(rows[1]) > power_of(rows[0]), "more units, more power: {rows:?}");
    let svg = std::fs::read_to_string(dir.join("power.svg")).unwrap_or_default();
    assert!(svg.starts_with("<svg") && svg.contains("analytic"), "{}", &svg[..svg.len().min(200)]);
    let sizes = std::fs::read_to_string(dir.join("power-sizes.svg")).unwrap_or_default();
    assert!(sizes.contains("5 households per unit"), "{}", &sizes[..sizes.len().min(200)]);
}

/// A plan on field data: the variance components come from its two pre-programme waves,
/// and the normal model they define is exactly the analytic one's.
#[test]
fn a_field_study_is_simulated_from_its_variance_components() {
    let dir = study("power-field", SIMPLE);
    crate::run::simulate_field(
        &dir,
        "surveys/border_household.yaml",
        "2019,2020,2021,2022",
        "field",
        &["specialty_output=0.1"],
    );
    let waves: String = (2019..=2022)
        .map(|w| format!("    {w}: [../field/{w}/border_household.csv, ../field/{w}/border_household-members.csv]\n"))
        .collect();
    let plan = SIMPLE
        .replace(
            &SIMPLE[SIMPLE.find("  simulate:").unwrap_or(0)..SIMPLE.find("unit: {").unwrap_or(0)],
            &format!("  waves:\n{waves}"),
        )
        .replace("unit: {question: county_id,", "unit: {table: ../field/units.csv, question: county_id,");
    std::fs::write(dir.join("analysis/small.yaml"), &plan).unwrap_or_else(|e| panic!("{e}"));
    let v = json_of(&run_in(
        &dir,
        &["power", "analysis/small.yaml", "--effect", "0.04", "--replicates", "300", "--format", "json"],
    ));
    let c = &v["components"];
    for k in ["unit", "unit_wave", "household", "household_wave"] {
        assert!(num(&c[k]) >= 0.0, "{k}: {c}");
    }
    assert!(num(&c["household_wave"]) > 0.0, "{c}");
    assert_eq!((v["units"].as_u64(), v["households"].as_u64()), (Some(24), Some(5)));
    let (p, se, pa) = (num(&v["power"]["estimate"]), num(&v["power"]["mc_se"]), num(&v["analytic"]["power"]));
    assert!(p > 0.2 && p < 0.95, "a design with power in between: {p}");
    assert!((p - pa).abs() < 3.0 * se + 0.03, "simulated {p} ± {se} vs analytic {pa}");
    let (m, mse, ma) = (num(&v["mde"]["estimate"]), num(&v["mde"]["mc_se"]), num(&v["analytic"]["mde"]));
    assert!((m - ma).abs() < 3.0 * mse + 0.05 * ma, "MDE simulated {m} ± {mse} vs analytic {ma}");
    assert!(v["notes"].to_string().contains("pre-programme waves [2019, 2020]"), "{}", v["notes"]);
    // One pre-programme wave cannot split persistent from transitory variation.
    let late = plan
        .replace("2019: [../field/2019/border_household.csv, ../field/2019/border_household-members.csv]\n    ", "");
    std::fs::write(dir.join("analysis/small.yaml"), &late).unwrap_or_else(|e| panic!("{e}"));
    let o = run_in(&dir, &["power", "analysis/small.yaml", "--effect", "0.1"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs two"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn plans_power_cannot_simulate_are_refused_with_a_reason() {
    let dir = study("power-bad", SIMPLE);
    let o = run_in(&dir, &["power", "analysis/small.yaml", "--outcome", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no outcome `nope`"));
    let o = run_in(&dir, &["power", "analysis/small.yaml", "--power", "1.2"]);
    assert_eq!(o.status.code(), Some(2));
    let no_effect = SIMPLE.replace("    effects: {specialty_output: 0.05}\n", "    effects: {income_total: 0.05}\n");
    let dir = study("power-no-effect", &no_effect);
    let o = run_in(&dir, &["power", "analysis/small.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no planted effect or trend"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
