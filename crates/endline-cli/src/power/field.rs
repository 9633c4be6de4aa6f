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
    let households_seen: usize = units.values().map(Vec::len).sum();
    let per_unit: Vec<Vec<Vec<f64>>> = units.values().map(|hs| hs.iter().map(|v| v.to_vec()).collect()).collect();
    let components = estimate_components(&per_unit, t_n)?;
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
        households_seen,
        per_unit.len(),
        plan.unit.plural,
        first_treated.len()
    )];
    Ok((NormalProcess { first_treated, households, waves: panel.waves.clone(), components }, notes))
}

/// The variance components of an outcome observed in `t_n` waves, from each unit's
/// households' values (households × waves), by moments:
/// - within a unit of n households, the households' variation over waves around their own
///   mean, after removing the unit-wave means, has expectation (n − 1)(T − 1)σ²_e;
/// - their means over waves vary around the unit's with (n − 1)(σ²_h + σ²_e/T);
/// - the unit-wave means' residual after unit and wave means has variance σ²_s + σ²_e/n;
/// - the unit means vary with σ²_u + (σ²_s + σ²_e/n)/T + σ²_h/n.
///
/// Negative moment estimates are set to zero.
pub(super) fn estimate_components(units: &[Vec<Vec<f64>>], t_n: usize) -> Result<Components, String> {
    let tf = t_n as f64;
    // Household deviations from their unit-wave means. Within a unit of n households,
    // their variation over waves around each household's mean has expectation
    // (n − 1)(T − 1)σ²_e, and the households' means vary with (n − 1)(σ²_h + σ²_e/T).
    let (mut within, mut within_df, mut between, mut between_df) = (0.0, 0.0, 0.0, 0.0);
    let mut means = Vec::new();
    let mut sizes = Vec::new();
    for hs in units {
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
    Ok(Components { unit: unit_var, unit_wave, household: household_var, household_wave })
}

#[cfg(test)]
mod tests {
    use super::*;
    use endline_simulate::Process;

    #[test]
    fn the_moments_recover_the_components_of_simulated_data() {
        let truth = Components { unit: 0.1, unit_wave: 0.02, household: 0.15, household_wave: 0.01 };
        let (units, households, t_n) = (400, 8, 3);
        let p = Process::Components(NormalProcess {
            first_treated: vec![0; units],
            households,
            waves: vec![2019, 2020, 2021],
            components: truth,
        });
        let rep = p.draw(11, 0, 0.0).unwrap_or_else(|e| panic!("{e}"));
        let per_unit: Vec<Vec<Vec<f64>>> = (0..units)
            .map(|j| {
                (0..households)
                    .map(|h| {
                        let i = j * households + h;
                        rep.y[i * t_n..(i + 1) * t_n].to_vec()
                    })
                    .collect()
            })
            .collect();
        let got = estimate_components(&per_unit, t_n).unwrap_or_else(|e| panic!("{e}"));
        for (name, g, w) in [
            ("unit", got.unit, truth.unit),
            ("unit × wave", got.unit_wave, truth.unit_wave),
            ("household", got.household, truth.household),
            ("household × wave", got.household_wave, truth.household_wave),
        ] {
            assert!((g / w - 1.0).abs() < 0.15, "{name}: {g} vs {w}");
        }
    }
}
