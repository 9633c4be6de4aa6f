//! Power for a plan on field data: the outcome's variance components estimated from the
//! pre-programme waves, simulated as a normal model on the study's own roll-out.

use endline_analysis::data;
use endline_plan::Plan;
use endline_simulate::{Components, NormalProcess};
use endline_study::panel::{COHORT, WAVE};
use endline_survey::Survey;

/// The field study's panel, built as `endline run` builds it (into a scratch directory
/// that is removed afterwards), and the normal model of `outcome` it implies.
pub(super) fn process(
    plan: &Plan,
    survey: &Survey,
    wave_surveys: &std::collections::BTreeMap<i64, Survey>,
    outcome: &str,
) -> Result<(NormalProcess, Vec<String>), String> {
    let scratch = std::env::temp_dir().join(format!("endline-power-{}-{}", plan.id, std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let built = (|| -> Result<_, endline_study::RunError> {
        std::fs::create_dir_all(&scratch).map_err(|e| endline_study::RunError::Io(e.to_string()))?;
        let quiet = |_: &str| {};
        let loaded = endline_study::load::load(plan, survey, &scratch, &quiet)?;
        let ingested = endline_study::ingest::ingest(plan, survey, wave_surveys, &loaded, &scratch, &quiet)?;
        endline_study::panel::build(plan, survey, &loaded, &ingested, &scratch)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let panel = built.map_err(|e| e.to_string())?;
    let column = plan
        .outcomes
        .iter()
        .zip(&panel.outcomes)
        .find(|(o, _)| o.name == outcome)
        .map(|(_, c)| c.variable.clone())
        .ok_or_else(|| format!("no outcome `{outcome}`"))?;
    let df = &panel.households;
    let num = |c: &str| data::numeric(df, c).map_err(|e| e.to_string());
    let (y, wave, cohort) = (num(&column)?, num(WAVE)?, num(COHORT)?);
    let text = |c: &str| data::text(df, c).map_err(|e| e.to_string());
    let (unit, household) = (text(&panel.unit_key)?, text(&panel.household_key)?);
    let first_adoption = cohort.iter().copied().filter(|g| *g > 0.0).fold(f64::INFINITY, f64::min);
    let pre: Vec<i64> = panel.waves.iter().copied().filter(|w| (*w as f64) < first_adoption).collect();
    if pre.len() < 2 {
        return Err(format!(
            "power for a field study estimates the outcome's variance from its pre-programme waves, and needs two to \
             tell persistent from transitory variation; this study has {} ({pre:?})",
            pre.len()
        ));
    }
    // Households observed with a value in every pre-programme wave.
    let t_n = pre.len();
    let mut by_household: std::collections::BTreeMap<(String, String), Vec<f64>> = std::collections::BTreeMap::new();
    let mut unit_cohort: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for r in 0..y.len() {
        let (Some(u), Some(h)) = (&unit[r], &household[r]) else { continue };
        unit_cohort.entry(u.clone()).or_insert(cohort[r] as i64);
        if let Some(t) = pre.iter().position(|w| *w as f64 == wave[r]) {
            let v = by_household.entry((u.clone(), h.clone())).or_insert_with(|| vec![f64::NAN; t_n]);
            v[t] = y[r];
        }
    }
    by_household.retain(|_, v| v.iter().all(|x| x.is_finite()));
    let mut units: std::collections::BTreeMap<&str, Vec<&Vec<f64>>> = std::collections::BTreeMap::new();
    for ((u, _), v) in &by_household {
        units.entry(u.as_str()).or_default().push(v);
    }
    units.retain(|_, hs| hs.len() >= 2);
    if units.len() < 3 {
        return Err("too few units with households observed in every pre-programme wave to estimate variances".into());
    }
    let tf = t_n as f64;
    // Household deviations from their unit-wave means. Within a unit of n households,
    // their variation over waves around each household's mean has expectation
    // (n − 1)(T − 1)σ²_e, and the households' means vary with (n − 1)(σ²_h + σ²_e/T).
    let (mut within, mut within_df, mut between, mut between_df) = (0.0, 0.0, 0.0, 0.0);
    let mut means = Vec::new();
    let mut sizes = Vec::new();
    for hs in units.values() {
        let n = hs.len() as f64;
        let m: Vec<f64> = (0..t_n).map(|t| hs.iter().map(|v| v[t]).sum::<f64>() / n).collect();
        for v in hs {
            let d: Vec<f64> = (0..t_n).map(|t| v[t] - m[t]).collect();
            let dm = d.iter().sum::<f64>() / tf;
            within += d.iter().map(|x| (x - dm).powi(2)).sum::<f64>();
            between += dm * dm;
        }
        within_df += (n - 1.0) * (tf - 1.0);
        between_df += n - 1.0;
        means.extend(m);
        sizes.push(n);
    }
    let household_wave = within / within_df;
    let household_var = (between / between_df - household_wave / tf).max(0.0);
    let n_bar = sizes.iter().sum::<f64>() / sizes.len() as f64;
    let cells = vec![0usize; units.len()];
    let transitory = endline_analysis::power::transitory_variance(&means, t_n, &cells)
        .ok_or("the pre-programme waves leave no transitory variation to estimate")?;
    let unit_wave = (transitory - household_wave / n_bar).max(0.0);
    let unit_means: Vec<f64> = means.chunks(t_n).map(|m| m.iter().sum::<f64>() / tf).collect();
    let grand = unit_means.iter().sum::<f64>() / unit_means.len() as f64;
    let var_means = unit_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (unit_means.len() - 1) as f64;
    let unit_var = (var_means - transitory / tf - household_var / n_bar).max(0.0);
    let first_treated: Vec<i64> = unit_cohort.values().copied().collect();
    // The design's households per unit: those interviewed at baseline, outcome or not.
    let at_baseline: std::collections::BTreeSet<(&str, &str)> = (0..y.len())
        .filter(|&r| wave[r] == pre[0] as f64)
        .filter_map(|r| Some((unit[r].as_deref()?, household[r].as_deref()?)))
        .collect();
    let households = (at_baseline.len() as f64 / unit_cohort.len().max(1) as f64).round().max(1.0) as usize;
    let notes = vec![format!(
        "variance components estimated from {} households in {} {} over the pre-programme waves {pre:?}, simulated as a normal \
         model on the study's roll-out ({} units, {households} households each)",
        by_household.len(),
        units.len(),
        plan.unit.plural,
        first_treated.len()
    )];
    Ok((
        NormalProcess {
            first_treated,
            households,
            waves: panel.waves.clone(),
            components: Components { unit: unit_var, unit_wave, household: household_var, household_wave },
        },
        notes,
    ))
}
