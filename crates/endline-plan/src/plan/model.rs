//! What a plan says, once read: its data, unit, outcomes, estimators, design and report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use endline_diag::{Diagnostic, SourceFile};
use endline_simulate::Study;
use endline_survey::Survey;
use serde::Serialize;

/// Where the data of each wave come from.
#[derive(Debug, Clone)]
pub enum Data {
    /// Simulated from the survey (the example study).
    Simulate(Box<Study>),
    /// Field exports, wave by wave.
    Waves(Vec<Wave>),
}

/// One wave of field exports.
#[derive(Debug, Clone)]
pub struct Wave {
    /// The wave (a year).
    pub wave: i64,
    /// The survey version this wave was collected with, when not the plan's `survey`.
    pub survey: Option<PathBuf>,
    /// The export files (as `endline ingest` takes them).
    pub files: Vec<PathBuf>,
}

/// The assignment unit: what the programme was given to (villages, schools, counties),
/// how the report names it, and where each unit's first programme period is read from.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// The survey question holding the unit's code, and the unit table's key column.
    pub question: String,
    /// The unit's name in the report (`village`).
    pub name: String,
    /// Its plural (`villages`).
    pub plural: String,
    /// The unit table (one row per unit); None: the simulation's `units.csv`.
    #[serde(skip)]
    pub table: Option<PathBuf>,
    /// The table's column with the first programme period (0 or empty: never).
    pub first_treated: String,
    /// Unit characteristics to join onto households (covariates, subgroups, clusters).
    pub attributes: Vec<String>,
}

impl Default for Unit {
    fn default() -> Self {
        Unit {
            question: String::new(),
            name: "unit".into(),
            plural: "units".into(),
            table: None,
            first_treated: "first_treated".into(),
            attributes: Vec::new(),
        }
    }
}

/// What an outcome measures, which decides how its effect is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeType {
    /// Yes or no (0/1): its mean is a share, its effect in percentage points.
    Binary,
    /// A whole number of things or events: effects in its units.
    Count,
    /// An amount: effects in its units, or log points on the log scale.
    Continuous,
}

impl OutcomeType {
    pub(crate) const BY_NAME: [(&'static str, OutcomeType); 3] =
        [("binary", OutcomeType::Binary), ("count", OutcomeType::Count), ("continuous", OutcomeType::Continuous)];
}

/// The scale an outcome is estimated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Its own units.
    Level,
    /// Natural log (every value must be positive).
    Log,
    /// log(1 + y), for amounts that can be zero.
    Log1p,
    /// Inverse hyperbolic sine, for amounts that can be zero.
    Asinh,
}

impl Transform {
    pub(crate) const BY_NAME: [(&'static str, Transform); 4] = [
        ("level", Transform::Level),
        ("log", Transform::Log),
        ("log1p", Transform::Log1p),
        ("asinh", Transform::Asinh),
    ];
}

/// Where an outcome's values come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The question's answers.
    Question,
    /// 1 when the question's answer is one of these choices, 0 otherwise.
    Category(Vec<String>),
    /// 1 when this expression (XLSForm syntax, on the household's answers) holds.
    Expression(String),
}

/// An outcome to estimate the programme's effect on.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Its column in the analysis panel: the question's name, or a new name for an
    /// indicator.
    pub name: String,
    /// How the report names it.
    pub label: String,
    /// The survey question it is read from (None for an expression).
    pub question: Option<String>,
    /// Where its values come from.
    pub source: Source,
    /// What it measures; None: a calculation whose values decide (0/1 is binary).
    #[serde(rename = "type")]
    pub kind: Option<OutcomeType>,
    /// The scale it is estimated on.
    pub transform: Transform,
    /// Its unit of measurement, from the survey (`CNY`, `minutes`).
    pub unit: Option<String>,
}

/// The unit of analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Households, with standard errors clustered by unit.
    Household,
    /// Unit × wave survey-weighted means.
    Unit,
}

/// The comparison group of the main Callaway & Sant'Anna estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlGroup {
    /// Units that never get the programme.
    Never,
    /// Units without the programme yet.
    Notyet,
}

/// An estimator a plan can ask for, beside Callaway & Sant'Anna (always run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimator {
    /// Callaway & Sant'Anna (2021).
    Cs,
    /// Static two-way fixed effects.
    Twfe,
    /// Sun & Abraham (2021).
    Sa,
    /// Goodman-Bacon (2021) decomposition of the static TWFE estimate.
    Bacon,
}

impl Estimator {
    /// Each estimator by the name a plan gives it.
    pub(crate) const BY_NAME: [(&'static str, Estimator); 4] =
        [("cs", Estimator::Cs), ("twfe", Estimator::Twfe), ("sa", Estimator::Sa), ("bacon", Estimator::Bacon)];
}

/// The multiple-outcome correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    /// None.
    None,
    /// Benjamini–Hochberg q-values (false discovery rate).
    Bh,
}

/// A validated analysis plan. Paths are resolved against the plan file's directory.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's name (names the output directory).
    pub id: String,
    /// The report's title.
    pub title: String,
    /// The evaluation question, in a sentence.
    pub question: String,
    /// The programme, as the report names it.
    pub programme: String,
    /// The survey file.
    pub survey: PathBuf,
    /// The data.
    pub data: Data,
    /// The assignment unit, and the household → unit map.
    pub unit: Unit,
    /// The cluster of the standard errors (None: the unit).
    pub cluster: Option<String>,
    /// The outcomes, in report order.
    pub outcomes: Vec<Outcome>,
    /// Covariates for conditional parallel trends (survey questions or unit attributes).
    pub covariates: Vec<String>,
    /// The survey-weight question.
    pub weights: Option<String>,
    /// The unit of analysis.
    pub level: Level,
    /// The main comparison group.
    pub control: ControlGroup,
    /// The estimators to run.
    pub estimators: Vec<Estimator>,
    /// Subgroups (a select_one question or a unit attribute): the main estimate within each.
    pub subgroups: Vec<String>,
    /// The multiple-outcome correction.
    pub correction: Correction,
    /// The report templates (`*.html.tera`, `*.md.tera`).
    pub templates: Vec<PathBuf>,
    /// The file holding the pseudonym secret, for field data whose survey key is personal
    /// data (`pii: true`).
    pub pii_secret: Option<PathBuf>,
    /// How the households were sampled (`design:`): standard errors are then design-based.
    pub design: Option<SampleDesign>,
    /// The sensitivity analysis of each main estimate to violations of parallel trends
    /// (`sensitivity:`).
    pub sensitivity: Sensitivity,
    /// Households and members followed across waves (`linkage:`), for the report's data
    /// quality section.
    pub linkage: Option<Linkage>,
}

/// `linkage: {members: members, sex: sex, age: age, relation: relation, name: member_name}`:
/// the roster and the questions `endline link` follows members by.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Linkage {
    /// The roster (a repeat).
    pub members: String,
    /// Sex.
    pub sex: String,
    /// Age in years.
    pub age: String,
    /// Relation to the head.
    pub relation: Option<String>,
    /// The name (read from the personal-data side table, never written out).
    pub name: Option<String>,
    /// The survey's member ID, when it has one.
    pub member_id: Option<String>,
    /// Years an age may differ from the earlier plus the elapsed time (default 2).
    pub age_tolerance: f64,
}

/// How the report tests the main estimate's reliance on parallel trends (HonestDiD):
/// `sensitivity: {restriction: rm, values: [0.5, 1, 1.5, 2], target: average}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// rm (relative magnitudes), sd (smoothness) or sdrm (both).
    pub restriction: String,
    /// M̄ (rm, sdrm) or M (sd) values; empty: the analysis's defaults.
    pub values: Vec<f64>,
    /// first, average or e=K.
    pub target: String,
}

impl Default for Sensitivity {
    fn default() -> Self {
        Sensitivity { restriction: "rm".into(), values: Vec::new(), target: "average".into() }
    }
}

/// A sample design, by the names of survey questions or unit attributes (`design:` in the
/// plan: the design belongs to the sample, which a plan describes, not to the
/// questionnaire, which several samples may share).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleDesign {
    /// First-stage strata (provinces, urban/rural).
    pub strata: Option<String>,
    /// Primary sampling units (villages, enumeration areas).
    pub psu: Option<String>,
    /// Secondary sampling units within PSUs.
    pub ssu: Option<String>,
    /// Finite-population corrections, one per stage: population counts or fractions.
    pub fpc: Vec<String>,
    /// What a stratum with one PSU contributes: fail, remove, certainty, adjust, average.
    pub lonely_psu: String,
}

/// The result of validating a plan: the plan when there are no errors, every diagnostic
/// on the plan file, and the surveys (and their own validation) the plan names.
#[derive(Debug)]
pub struct Validation {
    /// The plan, present exactly when neither it nor its surveys have errors.
    pub plan: Option<Plan>,
    /// The plan's survey, when it validated.
    pub survey: Option<Survey>,
    /// The surveys of waves collected with another version, by wave.
    pub wave_surveys: BTreeMap<i64, Survey>,
    /// Problems in the plan file.
    pub diagnostics: Vec<Diagnostic>,
    /// Each readable survey file the plan names, with its problems.
    pub survey_diagnostics: Vec<(SourceFile, Vec<Diagnostic>)>,
}
