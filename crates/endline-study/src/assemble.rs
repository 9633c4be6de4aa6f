//! Stage 5: the typed results, from the stages before: the plan's choices, the sample,
//! baseline balance, the outcomes with their multiple-outcome correction, and the
//! warnings the report must show.

use std::collections::BTreeMap;

use endline_analysis::multiple::benjamini_hochberg;
use endline_analysis::{attrition, data};
use endline_plan::Plan;
use endline_plan::plan::{Correction, Data};
use endline_survey::Survey;

use crate::estimate::balance;
use crate::ingest::Ingested;
use crate::panel::{AnalysisPanel, COHORT, PROGRAMME, WAVE};
use crate::results::{CohortCount, DesignInfo, OutcomeResults, PlanInfo, Sample, StudyResults, SurveyInfo, UnitInfo};
use crate::{ALPHA, LEVEL, RunError, SCHEMA_VERSION};

/// The study's results.
pub fn results(
    plan: &Plan,
    survey: &Survey,
    ingested: &Ingested,
    p: &AnalysisPanel,
    mut outcomes: Vec<OutcomeResults>,
    linkage: Option<crate::linkage::Summary>,
) -> Result<StudyResults, RunError> {
    let p_values: Vec<f64> = outcomes.iter().map(|o| o.cs.p_value).collect();
    let q = match plan.correction {
        Correction::Bh => benjamini_hochberg(&p_values),
        Correction::None => p_values,
    };
    for (o, q) in outcomes.iter_mut().zip(q) {
        o.cs.q_value = q;
    }
    let balance = balance(plan, p, &outcomes)?;
    let sample = sample(p)?;
    let attrition = attrition::attrition(
        &p.households,
        &attrition::AttritionSpec {
            household: p.household_key.clone(),
            unit: p.unit_key.clone(),
            wave: WAVE.into(),
            programme: PROGRAMME.into(),
            outcomes: outcomes.iter().map(|o| o.variable.clone()).collect(),
        },
    )?;
    let attrition = attrition.any().then_some(attrition);
    // (Few clusters are noted by each estimate, which knows how many it used.)
    let mut warnings = Vec::new();
    let rejected: usize = ingested
        .quality
        .iter()
        .flat_map(|w| &w.tables)
        .filter(|t| t.table == survey.id())
        .map(|t| t.rows_rejected)
        .sum();
    if let Some(t) = attrition.as_ref().and_then(|a| a.differential).filter(|t| t.p_value < ALPHA) {
        let p = if t.p_value < 0.001 { "p < 0.001".to_string() } else { format!("p = {:.3}", t.p_value) };
        warnings.push(format!(
            "Programme and comparison {} lost households at different rates by the last wave ({:+.1} percentage \
             points, {p}): the estimates rest on the households that stayed; see the attrition section and its Lee \
             bounds",
            plan.unit.plural,
            100.0 * t.estimate,
        ));
    }
    if let Some(l) = &linkage {
        use endline_analysis::linkage::Finding;
        let reused = l.findings.iter().filter(|f| matches!(f, Finding::KeyReused { .. })).count();
        let split = l.findings.iter().filter(|f| matches!(f, Finding::Split { .. })).count();
        if reused + split > 0 {
            warnings.push(format!(
                "{reused} household key(s) were reused by another household and {split} household(s) split off between \
                 waves (see the data quality section): a reused key is a different household under the same key"
            ));
        }
    }
    if rejected > 0 {
        warnings.push(format!(
            "{rejected} household records were rejected at ingest and are not in the analysis (see the data quality table)"
        ));
    }
    Ok(StudyResults {
        schema_version: SCHEMA_VERSION,
        plan: PlanInfo {
            id: plan.id.clone(),
            title: plan.title.clone(),
            question: plan.question.clone(),
            programme: plan.programme.clone(),
            unit: UnitInfo {
                question: plan.unit.question.clone(),
                name: plan.unit.name.clone(),
                plural: plan.unit.plural.clone(),
            },
            level: plan.level,
            cluster: p.cluster.clone(),
            control: plan.control,
            covariates: plan.covariates.clone(),
            weights: plan.weights.clone(),
            estimators: plan.estimators.clone(),
            subgroups: plan.subgroups.clone(),
            correction: plan.correction,
            simulated: matches!(plan.data, Data::Simulate(_)),
            design: plan.design.as_ref().map(|d| DesignInfo {
                strata: d.strata.clone(),
                psu: d.psu.clone(),
                ssu: d.ssu.clone(),
                fpc: d.fpc.clone(),
                lonely_psu: d.lonely_psu.clone(),
            }),
        },
        survey: SurveyInfo {
            id: survey.id().to_string(),
            version: survey.version().to_string(),
            title: survey.title().map(|t| t.default_text().to_string()),
        },
        wave_surveys: ingested.versions.clone(),
        confidence_level: LEVEL * 100.0,
        significance_level: ALPHA,
        waves: p.waves.clone(),
        data_quality: ingested.quality.clone(),
        sample,
        balance,
        outcomes,
        attrition,
        linkage,
        warnings,
        reproducibility: None,
    })
}

/// Units, programme units, households and first programme periods.
fn sample(p: &AnalysisPanel) -> Result<Sample, RunError> {
    let h = &p.households;
    let units = data::text(h, &p.unit_key)?;
    let prog = data::numeric(h, PROGRAMME)?;
    let cohort = data::numeric(h, COHORT)?;
    let mut by_unit: BTreeMap<&str, (bool, i64)> = BTreeMap::new();
    for i in 0..units.len() {
        if let Some(u) = &units[i] {
            by_unit.insert(u, (prog[i] == 1.0, cohort[i] as i64));
        }
    }
    let mut cohorts: BTreeMap<i64, usize> = BTreeMap::new();
    for (_, g) in by_unit.values() {
        *cohorts.entry(*g).or_default() += 1;
    }
    let households: std::collections::BTreeSet<String> =
        data::text(h, &p.household_key)?.into_iter().flatten().collect();
    Ok(Sample {
        units: by_unit.len(),
        programme_units: by_unit.values().filter(|(p, _)| *p).count(),
        comparison_units: by_unit.values().filter(|(p, _)| !*p).count(),
        households: households.len(),
        household_interviews: h.height(),
        analysis_rows: p.analysis.height(),
        cohorts: cohorts.into_iter().map(|(cohort, units)| CohortCount { cohort, units }).collect(),
    })
}
