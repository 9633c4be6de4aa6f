//! The results contract: everything a study's report prints, as `results.json` holds it.
//! Documented field by field in `docs/results.md`; [`SCHEMA_VERSION`] changes whenever a
//! field is renamed, removed or changes meaning. An effect is serialised exactly as
//! `endline did --format json` serialises it ([`Effect`], [`Aggregates`]).
//!
//! Fields are documented once, in `docs/results.md`: the golden test fails when a field
//! of results.json is missing from it.
#![allow(missing_docs)]

use endline_analysis::did::cs::{Aggregates, CohortSize, Effect, PreTest};
use endline_plan::plan::{ControlGroup, Correction, Estimator, Level, OutcomeType, Transform};
use serde::Serialize;

/// The version of this contract.
pub const SCHEMA_VERSION: u32 = 1;

/// A study's results.
#[derive(Debug, Clone, Serialize)]
pub struct StudyResults {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The plan, as the report needs it.
    pub plan: PlanInfo,
    /// The survey.
    pub survey: SurveyInfo,
    /// The survey version each wave was collected with.
    pub wave_surveys: Vec<WaveSurvey>,
    /// Of every interval, in percent.
    pub confidence_level: f64,
    /// Of every test the report reads as a rejection.
    pub significance_level: f64,
    /// The waves, in order.
    pub waves: Vec<i64>,
    /// What ingest found, wave by wave.
    pub data_quality: Vec<WaveQuality>,
    /// Units, households and interviews.
    pub sample: Sample,
    /// Baseline balance.
    pub balance: Balance,
    /// Each outcome's estimates.
    pub outcomes: Vec<OutcomeResults>,
    /// Households lost after baseline, by wave and arm, with the tests of differential
    /// attrition and Lee bounds; null when every baseline household was interviewed in
    /// every wave.
    pub attrition: Option<endline_analysis::attrition::Attrition>,
    /// Households and members followed across waves (the plan's `linkage:`): links by
    /// rule, persons, and what was found (reused keys, splits, returns, departures);
    /// null without `linkage:`.
    pub linkage: Option<crate::linkage::Summary>,
    /// What the reader should know about the study as a whole.
    pub warnings: Vec<String>,
    /// Inputs by content, endline's version, the seed and the command (filled in by the
    /// command that writes the results).
    pub reproducibility: Option<Reproducibility>,
}

/// The assignment unit's names.
#[derive(Debug, Clone, Serialize)]
pub struct UnitInfo {
    /// The question holding its code.
    pub question: String,
    /// Its name (`village`).
    pub name: String,
    /// Its plural (`villages`).
    pub plural: String,
}

/// The plan's choices.
#[derive(Debug, Clone, Serialize)]
pub struct PlanInfo {
    pub id: String,
    pub title: String,
    pub question: String,
    pub programme: String,
    pub unit: UnitInfo,
    pub level: Level,
    /// The cluster of every standard error (the unit question unless the plan names one).
    pub cluster: String,
    pub control: ControlGroup,
    pub covariates: Vec<String>,
    pub weights: Option<String>,
    pub estimators: Vec<Estimator>,
    pub subgroups: Vec<String>,
    pub correction: Correction,
    /// Whether the data are simulated.
    pub simulated: bool,
    /// The sample design, when the plan declares one: every standard error of the
    /// Callaway & Sant'Anna estimates is then design-based.
    pub design: Option<DesignInfo>,
}

/// The plan's sample design, as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct DesignInfo {
    pub strata: Option<String>,
    pub psu: Option<String>,
    pub ssu: Option<String>,
    pub fpc: Vec<String>,
    pub lonely_psu: String,
}

/// The survey.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyInfo {
    pub id: String,
    pub version: String,
    pub title: Option<String>,
}

/// The survey version of one wave.
#[derive(Debug, Clone, Serialize)]
pub struct WaveSurvey {
    pub wave: i64,
    pub survey: String,
    pub version: String,
}

/// One wave's ingest.
#[derive(Debug, Clone, Serialize)]
pub struct WaveQuality {
    pub wave: i64,
    pub tables: Vec<TableCounts>,
    pub issues: Vec<IssueCount>,
    /// What was done to line a wave of another survey version up with the plan's
    /// (renames and recodes it declares).
    pub harmonised: Vec<endline_ingest::harmonise::Harmonisation>,
}

/// One table's records: `rows_in = rows_written + rows_rejected`.
#[derive(Debug, Clone, Serialize)]
pub struct TableCounts {
    pub table: String,
    pub rows_in: usize,
    pub rows_written: usize,
    pub rows_rejected: usize,
}

/// How many records broke one rule.
#[derive(Debug, Clone, Serialize)]
pub struct IssueCount {
    pub rule: String,
    pub severity: String,
    pub count: usize,
}

/// The sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub units: usize,
    pub programme_units: usize,
    pub comparison_units: usize,
    pub households: usize,
    pub household_interviews: usize,
    /// Rows of the analysis panel (household-waves, or unit-waves at `level: unit`).
    pub analysis_rows: usize,
    /// Units by first programme period (0: never).
    pub cohorts: Vec<CohortCount>,
}

/// Units that started the programme in one period.
#[derive(Debug, Clone, Serialize)]
pub struct CohortCount {
    pub cohort: i64,
    pub units: usize,
}

/// Programme against comparison households in the first wave.
#[derive(Debug, Clone, Serialize)]
pub struct Balance {
    pub wave: i64,
    pub rows: Vec<BalanceRow>,
    pub joint_test: Option<JointTest>,
    /// Whether any difference (or the joint test) is significant at the study's level.
    pub differs: bool,
}

/// One variable's baseline means.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceRow {
    pub variable: String,
    pub label: String,
    pub mean_programme: f64,
    pub mean_comparison: f64,
    pub difference: f64,
    pub p_value: f64,
    pub normalized_difference: f64,
    pub n_programme: usize,
    pub n_comparison: usize,
}

/// The joint F test of balance.
#[derive(Debug, Clone, Serialize)]
pub struct JointTest {
    pub statistic: f64,
    pub df1: usize,
    pub df2: usize,
    pub p_value: f64,
}

/// How an outcome's effects read: a number is multiplied by `multiplier`, printed with
/// `decimals` decimals and followed by `unit` (`percentage points`, `log points`, `CNY`).
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    pub multiplier: f64,
    pub decimals: u32,
    pub unit: String,
    /// The unit of the outcome's mean after the multiplier: `%` for a share, the
    /// survey's unit otherwise (empty for a log scale).
    pub level_unit: String,
    /// What the outcome's mean is: `share`, `mean`, `mean log`, `mean log(1 + y)`,
    /// `mean asinh`.
    pub mean: String,
}

/// How many observations an estimate rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Household interviews with a value of the outcome.
    pub interviews: usize,
    /// Households with at least one.
    pub households: usize,
    /// Units with at least one.
    pub units: usize,
    /// Household interviews without a value (not relevant, skipped, missing codes).
    pub missing: usize,
}

/// One wave's means.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub wave: i64,
    pub programme: Option<f64>,
    pub comparison: Option<f64>,
}

/// The naive comparison, in the outcome's reading.
#[derive(Debug, Clone, Serialize)]
pub struct Naive {
    pub from: i64,
    pub to: i64,
    pub years: i64,
    pub programme_first: Option<f64>,
    pub programme_last: Option<f64>,
    pub comparison_first: Option<f64>,
    pub comparison_last: Option<f64>,
    /// Programme minus comparison change, first to last wave.
    pub change_gap: Option<f64>,
    /// Programme minus comparison mean in the last wave.
    pub last_wave_gap: Option<f64>,
    /// Before the programme: the change gap from the first wave to the last wave before
    /// any unit adopted it.
    pub pre: Option<NaivePre>,
    /// For outcomes on a log scale: yearly growth in percent.
    pub growth: Option<Growth>,
}

/// The naive comparison before the programme.
#[derive(Debug, Clone, Serialize)]
pub struct NaivePre {
    pub from: i64,
    pub to: i64,
    pub change_gap: Option<f64>,
    pub growth: Option<Growth>,
}

/// Yearly growth of programme and comparison households, in percent.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    pub programme_pct: Option<f64>,
    pub comparison_pct: Option<f64>,
    pub gap_pct_points: Option<f64>,
}

/// Callaway & Sant'Anna's main estimate.
#[derive(Debug, Clone, Serialize)]
pub struct CsSummary {
    /// The aggregations, as `did --format json` writes them.
    #[serde(flatten)]
    pub aggregates: Aggregates,
    pub p_value: f64,
    /// After the plan's multiple-outcome correction.
    pub q_value: f64,
    pub pretrend_test: Option<PreTest>,
    pub n_units: usize,
    pub cohorts: Vec<CohortSize>,
    /// Under a sample design: the overall (simple) effect's design effect, its variance
    /// against the same estimate's without the design (units as if drawn independently).
    pub design_effect: Option<f64>,
}

/// How far the main estimate relies on parallel trends: the HonestDiD sensitivity
/// analysis of its event study (Callaway & Sant'Anna, universal base period), and the
/// power of its pre-test (Roth 2022); or why there is none.
#[derive(Debug, Clone, Serialize)]
pub struct SensitivityResults {
    /// The analysis, as `did --honest --format json` writes it.
    pub honest: Option<endline_analysis::honest::Sensitivity>,
    /// The pre-tests' power against linear pre-trends.
    pub pretrend_power: Option<endline_analysis::pretrends::PretrendPower>,
    /// Up to what violation the conclusion holds, in words.
    pub conclusion: Option<String>,
    pub error: Option<String>,
}

/// Another specification's estimate, or why it has none.
#[derive(Debug, Clone, Serialize)]
pub struct Robustness {
    pub name: String,
    #[serde(flatten)]
    pub effect: Option<Effect>,
    pub pretrend_p: Option<f64>,
    pub error: Option<String>,
}

/// The Goodman-Bacon decomposition, or why it has none.
#[derive(Debug, Clone, Serialize)]
pub struct Bacon {
    pub twfe: Option<f64>,
    pub by_kind: Vec<BaconKind>,
    pub error: Option<String>,
}

/// One kind of 2×2 comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BaconKind {
    pub kind: String,
    pub weight: f64,
    pub estimate: f64,
}

/// The main estimate within one subgroup.
#[derive(Debug, Clone, Serialize)]
pub struct Subgroup {
    pub variable: String,
    pub value: String,
    pub name: String,
    #[serde(flatten)]
    pub effect: Option<Effect>,
    pub n_units: Option<usize>,
    pub error: Option<String>,
}

/// What a simulation planted, on the scale the outcome is estimated on.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    /// The average effect on programme households' post-programme interviews.
    pub att: f64,
    /// The planted parameter and its scale (`points`, `log`, `add`).
    pub planted: f64,
    pub planted_scale: String,
    /// Whether the main estimate's interval holds `att`.
    pub covered: bool,
}

/// Everything about one outcome.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeResults {
    pub name: String,
    pub label: String,
    pub question: Option<String>,
    #[serde(rename = "type")]
    pub kind: OutcomeType,
    pub transform: Transform,
    /// Its unit of measurement, from the survey.
    pub unit: Option<String>,
    /// The analysis panel's column.
    pub variable: String,
    pub reading: Reading,
    pub n: Counts,
    pub trends: Vec<Trend>,
    pub naive: Naive,
    pub cs: CsSummary,
    pub sensitivity: SensitivityResults,
    pub robustness: Vec<Robustness>,
    pub bacon: Option<Bacon>,
    pub subgroups: Vec<Subgroup>,
    pub truth: Option<Truth>,
    /// What the reader should know about this outcome's estimates.
    pub warnings: Vec<String>,
}

/// The reproducibility record.
#[derive(Debug, Clone, Serialize)]
pub struct Reproducibility {
    pub endline_version: String,
    pub command: Vec<String>,
    pub seed: Option<u64>,
    pub survey: SurveyVersion,
    pub wave_surveys: Vec<WaveSurvey>,
    pub inputs: Vec<FileHash>,
}

/// A survey and its version.
#[derive(Debug, Clone, Serialize)]
pub struct SurveyVersion {
    pub id: String,
    pub version: String,
}

/// A file by its content.
#[derive(Debug, Clone, Serialize)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}
