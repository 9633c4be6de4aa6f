//! The analysis plan: its model, and the validator that reads it with file:line:column
//! diagnostics, checking every name it uses against the survey.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endline_diag::{Diagnostic, SourceFile, Span};
use endline_simulate::{Attribute, Effect, EffectScale, Study};
use endline_survey::yaml::{Doc, Reader, Sp, kind_of};
use endline_survey::{QuestionType, Survey};
use marked_yaml::types::{MarkedMappingNode, Node};

use crate::{checks, codes};

mod data;
mod model;

pub use model::*;

const TOP_KEYS: &[&str] = &[
    "plan",
    "title",
    "question",
    "programme",
    "survey",
    "data",
    "unit",
    "cluster",
    "treatment",
    "outcomes",
    "covariates",
    "weights",
    "level",
    "control",
    "estimators",
    "subgroups",
    "correction",
    "report",
    "pii_secret",
    "design",
    "sensitivity",
    "linkage",
];
const SIMULATE_KEYS: &[&str] = &[
    "seed",
    "units",
    "households",
    "waves",
    "adoption",
    "treated_share",
    "growth",
    "unit_shock",
    "effects",
    "baselines",
    "attributes",
    "answers",
    "same_within_unit",
    "missing_rate",
    "attrition",
    "attrition_programme",
];

/// A question the plan names: where, as what, and which types it may have.
pub(crate) type QuestionRef = (Sp<String>, &'static str, fn(QuestionType) -> bool);

/// Where an outcome's parts are written, for diagnostics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutcomeSpans {
    /// Its `name`.
    pub(crate) name: Span,
    /// Its `log` or `transform`.
    pub(crate) transform: Option<Span>,
    /// Its `category` or `expression`.
    pub(crate) source: Option<Span>,
}

/// What a plan refers to, checked against the survey once the whole file is read
/// ([`crate::checks`]).
pub(crate) struct Refs {
    pub(crate) questions: Vec<QuestionRef>,
    /// Outcomes the simulation plants effects or trends on.
    pub(crate) simulated: Vec<Sp<String>>,
    /// Each outcome's spans, in the plan's order.
    pub(crate) outcomes: Vec<OutcomeSpans>,
    /// Subgroups, the cluster and the unit question, for the level checks.
    pub(crate) subgroups: Vec<Sp<String>>,
    pub(crate) cluster: Option<Sp<String>>,
    /// The design's names, for the level checks.
    pub(crate) design: Vec<Sp<String>>,
    pub(crate) unit: Option<Sp<String>>,
    pub(crate) covariates: Vec<Sp<String>>,
    /// `linkage:`: the roster, then its questions, each with its key.
    pub(crate) linkage: Vec<(Sp<String>, &'static str)>,
    files: Vec<(Sp<String>, PathBuf)>,
    wave_surveys: Vec<(i64, Sp<String>, PathBuf)>,
}

fn numeric(t: QuestionType) -> bool {
    matches!(t, QuestionType::Integer | QuestionType::Decimal | QuestionType::Calculate)
}

fn simulated(t: QuestionType) -> bool {
    matches!(t, QuestionType::Integer | QuestionType::Decimal | QuestionType::SelectOne)
}

fn any_type(t: QuestionType) -> bool {
    t.has_value()
}

fn select_one(t: QuestionType) -> bool {
    t == QuestionType::SelectOne
}

struct PlanReader<'d, 'f> {
    r: Reader<'d, 'f>,
    base: PathBuf,
    refs: Refs,
}

impl PlanReader<'_, '_> {
    fn error(&mut self, code: endline_diag::Code, span: Span, message: String) {
        self.r.diags.push(Diagnostic::error(code, span, message));
    }

    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            other => {
                self.r.invalid(other, format!("{what} must be a mapping, but is {}", kind_of(other)));
                None
            }
        }
    }

    fn required(&mut self, m: &MarkedMappingNode, keys: &[&str], what: &str) {
        for k in keys {
            if m.get_node(k).is_none() {
                let span = self.r.mapping_span(m);
                let span = Span::new(span.start, span.start);
                self.error(codes::MISSING_KEY, span, format!("{what} has no `{k}`"));
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        self.r.list(node, what).unwrap_or(&[])
    }

    fn strings(&mut self, node: &Node, what: &str) -> Vec<Sp<String>> {
        self.list(node, what).iter().filter_map(|n| self.r.string(n, what)).collect()
    }

    fn number<T: std::str::FromStr>(&mut self, node: &Node, what: &str, kind: &str) -> Option<T> {
        let s = self.r.string(node, what)?;
        match s.v.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(codes::INVALID_VALUE, s.span, format!("{what} must be {kind}, not `{}`", s.v));
                None
            }
        }
    }

    fn share(&mut self, node: &Node, what: &str) -> Option<f64> {
        let v: f64 = self.number(node, what, "a number")?;
        if !(0.0..=1.0).contains(&v) {
            let span = self.r.doc.span(node);
            self.error(codes::INVALID_VALUE, span, format!("{what} is a share: it must lie between 0 and 1, not {v}"));
            return None;
        }
        Some(v)
    }

    fn one_of<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.r.string(node, what)?;
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == s.v) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let help = endline_diag::suggest(&s.v, names.iter().copied())
            .map_or_else(|| format!("{what} is one of: {}", names.join(", ")), |n| format!("did you mean `{n}`?"));
        self.r.diags.push(
            Diagnostic::error(codes::INVALID_VALUE, s.span, format!("{what} cannot be `{}`", s.v)).with_help(help),
        );
        None
    }

    /// A path, relative to the plan's directory; recorded so that its existence is checked.
    fn file_ref(&mut self, node: &Node, what: &str) -> Option<(Sp<String>, PathBuf)> {
        let s = self.r.string(node, what)?;
        let path = normalize(&self.base.join(&s.v));
        self.refs.files.push((s.clone(), path.clone()));
        Some((s, path))
    }

    /// A template must be of a kind endline escapes, render to a plain file name, and
    /// lie inside the study's folder (the plan's folder's parent, where `surveys/`,
    /// `analysis/` and `reports/` live) unless the plan allows otherwise.
    fn check_template(&mut self, s: &Sp<String>, path: &Path, allow_outside: bool) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Err(e) = endline_report::render::output_name(&name) {
            self.error(codes::INVALID_VALUE, s.span, e);
            return;
        }
        let base = if self.base.as_os_str().is_empty() { Path::new(".") } else { self.base.as_path() };
        let (Ok(base), Ok(resolved)) = (std::fs::canonicalize(base), std::fs::canonicalize(path)) else { return };
        let root = base.parent().unwrap_or(&base);
        if !allow_outside && !resolved.starts_with(root) {
            self.r.diags.push(
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    s.span,
                    format!("the template `{}` lies outside the study's folder {}", s.v, root.display()),
                )
                .with_help("keep templates with the study (reports/), or say `allow_outside: true` under `report:`"),
            );
        }
    }

    fn file(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        self.file_ref(node, what).map(|(_, p)| p)
    }
    fn question(&mut self, s: Sp<String>, what: &'static str, ok: fn(QuestionType) -> bool) -> String {
        let v = s.v.clone();
        self.refs.questions.push((s, what, ok));
        v
    }

    /// The `design:` block; its names are checked as covariates are (a household question
    /// or a unit attribute, at the plan's level).
    fn design(&mut self, node: &Node) -> Option<SampleDesign> {
        let m = self.mapping(node, "`design`")?;
        let mut d = SampleDesign { lonely_psu: "fail".into(), ..SampleDesign::default() };
        let keys = ["strata", "psu", "ssu", "fpc", "lonely_psu"];
        let mut ssu_span = None;
        let mut fpc_spans = Vec::new();
        for (k, v) in self.r.fields(m, &keys, "`design`") {
            match k.as_str() {
                "lonely_psu" => {
                    let options = [
                        ("fail", "fail"),
                        ("remove", "remove"),
                        ("certainty", "certainty"),
                        ("adjust", "adjust"),
                        ("average", "average"),
                    ];
                    if let Some(o) = self.one_of(v, "`design.lonely_psu`", &options) {
                        d.lonely_psu = o.to_string();
                    }
                }
                "fpc" => {
                    let names = match v {
                        Node::Sequence(_) => self.strings(v, "`design.fpc`"),
                        _ => self.r.string(v, "`design.fpc`").into_iter().collect(),
                    };
                    fpc_spans = names.iter().map(|s| s.span).collect();
                    d.fpc = names.iter().map(|s| s.v.clone()).collect();
                    self.refs.design.extend(names.iter().cloned());
                    self.refs.covariates.extend(names);
                }
                key => {
                    if let Some(s) = self.r.string(v, &format!("`design.{key}`")) {
                        let slot = match key {
                            "strata" => &mut d.strata,
                            "psu" => &mut d.psu,
                            _ => {
                                ssu_span = Some(s.span);
                                &mut d.ssu
                            }
                        };
                        *slot = Some(s.v.clone());
                        self.refs.design.push(s.clone());
                        self.refs.covariates.push(s);
                    }
                }
            }
        }
        if let (Some(span), None) = (ssu_span, &d.psu) {
            self.error(codes::INVALID_VALUE, span, "`design.ssu` needs `design.psu`: SSUs lie within PSUs".into());
        }
        let stages = 1 + usize::from(d.ssu.is_some());
        if let Some(span) = fpc_spans.get(stages) {
            self.error(
                codes::INVALID_VALUE,
                *span,
                format!("{} FPCs for a design of {stages} stage(s): one per stage", d.fpc.len()),
            );
        }
        Some(d)
    }

    fn sensitivity(&mut self, node: &Node) -> Option<Sensitivity> {
        let m = self.mapping(node, "`sensitivity`")?;
        let mut out = Sensitivity::default();
        for (k, v) in self.r.fields(m, &["restriction", "values", "target"], "`sensitivity`") {
            match k.as_str() {
                "restriction" => {
                    let options = [("rm", "rm"), ("sd", "sd"), ("sdrm", "sdrm")];
                    if let Some(r) = self.one_of(v, "`sensitivity.restriction`", &options) {
                        out.restriction = r.to_string();
                    }
                }
                "values" => {
                    for n in self.list(v, "`sensitivity.values`") {
                        if let Some(x) = self.number::<f64>(n, "`sensitivity.values`", "a number") {
                            if x.is_finite() && x >= 0.0 {
                                out.values.push(x);
                            } else {
                                let span = self.r.doc.span(n);
                                self.error(
                                    codes::INVALID_VALUE,
                                    span,
                                    format!("`sensitivity.values` are bounds on violations: at least 0, not {x}"),
                                );
                            }
                        }
                    }
                }
                _ => {
                    if let Some(t) = self.r.string(v, "`sensitivity.target`") {
                        let ok = t.v == "first"
                            || t.v == "average"
                            || t.v.strip_prefix("e=").is_some_and(|k| k.parse::<usize>().is_ok());
                        if ok {
                            out.target = t.v.clone();
                        } else {
                            self.error(
                                codes::INVALID_VALUE,
                                t.span,
                                format!("`sensitivity.target` is first, average or e=K (K = 0, 1, …), not `{}`", t.v),
                            );
                        }
                    }
                }
            }
        }
        Some(out)
    }

    /// The `linkage:` block: the roster and its questions, checked against the survey.
    fn linkage(&mut self, node: &Node) -> Option<Linkage> {
        let m = self.mapping(node, "`linkage`")?;
        let keys = ["members", "sex", "age", "relation", "name", "member_id", "age_tolerance"];
        self.required(m, &["members", "sex", "age"], "`linkage`");
        let mut l = Linkage { age_tolerance: 2.0, ..Linkage::default() };
        for (k, v) in self.r.fields(m, &keys, "`linkage`") {
            if k.as_str() == "age_tolerance" {
                if let Some(x) = self.number::<f64>(v, "`linkage.age_tolerance`", "a number of years") {
                    l.age_tolerance = x;
                }
                continue;
            }
            let Some(s) = self.r.string(v, "a question") else { continue };
            let v = s.v.clone();
            match k.as_str() {
                "members" => {
                    l.members = v;
                    self.refs.linkage.insert(0, (s, "members"));
                    continue;
                }
                "sex" => l.sex = v,
                "age" => l.age = v,
                "relation" => l.relation = Some(v),
                "name" => l.name = Some(v),
                _ => l.member_id = Some(v),
            }
            let key: &'static str = keys.iter().find(|x| **x == k.as_str()).copied().unwrap_or("sex");
            self.refs.linkage.push((s, key));
        }
        Some(l)
    }

    fn unit(&mut self, node: &Node) -> Option<Unit> {
        let m = self.mapping(node, "`unit`")?;
        self.required(m, &["question", "name", "plural"], "`unit`");
        let mut u = Unit::default();
        let keys = ["question", "name", "plural", "table", "first_treated", "attributes"];
        for (k, v) in self.r.fields(m, &keys, "`unit`") {
            match k.as_str() {
                "table" => u.table = self.file(v, "`unit.table`"),
                "question" => {
                    if let Some(s) = self.r.string(v, "`unit.question`") {
                        self.refs.unit = Some(s.clone());
                        u.question = self.question(s, "the unit question", any_type);
                    }
                }
                "name" | "plural" => {
                    if let Some(s) = self.r.string(v, "a unit's name") {
                        if s.v.trim().is_empty() {
                            self.error(codes::INVALID_VALUE, s.span, format!("`unit.{}` cannot be empty", k.as_str()));
                        }
                        if k.as_str() == "name" { u.name = s.v } else { u.plural = s.v }
                    }
                }
                "first_treated" => {
                    if let Some(s) = self.r.string(v, "`first_treated`") {
                        u.first_treated = s.v;
                    }
                }
                _ => u.attributes = self.strings(v, "`attributes`").into_iter().map(|s| s.v).collect(),
            }
        }
        Some(u)
    }

    fn outcome(&mut self, m: &MarkedMappingNode) -> Outcome {
        let mut o = Outcome {
            name: String::new(),
            label: String::new(),
            question: None,
            source: Source::Question,
            kind: None,
            transform: Transform::Level,
            unit: None,
        };
        let span = self.r.mapping_span(m);
        let mut spans = OutcomeSpans { name: Span::new(span.start, span.start), transform: None, source: None };
        let keys = ["name", "label", "question", "category", "expression", "type", "log", "transform"];
        let mut question: Option<Sp<String>> = None;
        for (k, v) in self.r.fields(m, &keys, "an outcome") {
            match k.as_str() {
                "name" => {
                    if let Some(s) = self.r.string(v, "an outcome's `name`") {
                        spans.name = s.span;
                        o.name = s.v;
                    }
                }
                "label" => o.label = self.r.string(v, "an outcome's `label`").map(|s| s.v).unwrap_or_default(),
                "question" => question = self.r.string(v, "an outcome's `question`"),
                "category" => {
                    spans.source = Some(self.r.doc.span(v));
                    let values: Vec<String> = match v {
                        Node::Sequence(_) => self.strings(v, "`category`").into_iter().map(|s| s.v).collect(),
                        other => self.r.string(other, "`category`").map(|s| vec![s.v]).unwrap_or_default(),
                    };
                    o.source = Source::Category(values);
                }
                "expression" => {
                    if let Some(s) = self.r.string(v, "an outcome's `expression`") {
                        spans.source = Some(s.span);
                        match membership(&s.v) {
                            // `water_source in (1, 2)`: a category indicator.
                            Some((q, values)) => {
                                question.get_or_insert(Sp { v: q, span: s.span });
                                o.source = Source::Category(values);
                            }
                            None => o.source = Source::Expression(s.v),
                        }
                    }
                }
                "type" => {
                    o.kind = self.one_of(v, "an outcome's `type`", &OutcomeType::BY_NAME);
                }
                "log" => {
                    spans.transform = Some(self.r.doc.span(v));
                    if self.r.boolean(v, "`log`").is_some_and(|b| b.v) {
                        o.transform = Transform::Log;
                    }
                }
                _ => {
                    spans.transform = Some(self.r.doc.span(v));
                    o.transform = self.one_of(v, "`transform`", &Transform::BY_NAME).unwrap_or(Transform::Level);
                }
            }
        }
        if m.get_node("log").is_some() && m.get_node("transform").is_some() {
            self.error(codes::INVALID_VALUE, span, "an outcome takes `log: true` or `transform:`, not both".into());
        }
        if m.get_node("category").is_some() && m.get_node("expression").is_some() {
            self.error(codes::INVALID_VALUE, span, "an outcome takes `category` or `expression`, not both".into());
        }
        // The question: `question`, or the outcome's own name unless it is an expression.
        let q = question.or_else(|| {
            (!matches!(o.source, Source::Expression(_)) && !o.name.is_empty())
                .then(|| Sp { v: o.name.clone(), span: spans.name })
        });
        if let Some(q) = q {
            let ok: fn(QuestionType) -> bool =
                if matches!(o.source, Source::Category(_)) { select_one } else { any_type };
            o.question = Some(self.question(q, "an outcome", ok));
        }
        if o.label.is_empty() {
            o.label.clone_from(&o.name);
        }
        if m.get_node("name").is_none() {
            self.required(m, &["name"], "an outcome");
        }
        self.refs.outcomes.push(spans);
        o
    }

    fn outcomes(&mut self, node: &Node) -> Vec<Outcome> {
        let mut out = Vec::new();
        for item in self.list(node, "`outcomes`") {
            let Some(m) = self.mapping(item, "an outcome") else { continue };
            out.push(self.outcome(m));
        }
        if out.is_empty() && matches!(node, Node::Sequence(_)) {
            let span = self.r.doc.span(node);
            self.error(codes::INVALID_VALUE, span, "`outcomes` lists at least one outcome".into());
        }
        out
    }

    fn plan(&mut self, root: &Node) -> Option<Plan> {
        let Node::Mapping(m) = root else {
            self.r.invalid(root, format!("a plan file must be a YAML mapping, but is {}", kind_of(root)));
            return None;
        };
        self.required(m, &["plan", "title", "question", "survey", "data", "unit", "outcomes", "report"], "a plan");
        if let Some(t) = m.get_node("treatment") {
            let span = self.r.doc.span(t);
            self.r.diags.push(Diagnostic::error(codes::UNKNOWN_KEY, span, "`treatment` is now `unit`").with_help(
                "write `unit: {question: county_id, name: county, plural: counties, attributes: [...]}` \
                     (`key` became `question`; the table is `unit.table`)",
            ));
        }
        let mut plan = Plan {
            id: String::new(),
            title: String::new(),
            question: String::new(),
            programme: "the programme".into(),
            survey: PathBuf::new(),
            data: Data::Waves(Vec::new()),
            unit: Unit::default(),
            cluster: None,
            outcomes: Vec::new(),
            covariates: Vec::new(),
            weights: None,
            level: Level::Household,
            control: ControlGroup::Never,
            estimators: vec![Estimator::Cs],
            subgroups: Vec::new(),
            correction: Correction::Bh,
            templates: Vec::new(),
            pii_secret: None,
            design: None,
            sensitivity: Sensitivity::default(),
            linkage: None,
        };
        for (k, v) in self.r.fields(m, TOP_KEYS, "a plan") {
            let text = |r: &mut Self, what: &str| r.r.string(v, what).map(|s| s.v).unwrap_or_default();
            match k.as_str() {
                "plan" => {
                    if let Some(s) = self.r.string(v, "`plan`") {
                        if s.v.is_empty() || !s.v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                            self.error(
                                codes::INVALID_VALUE,
                                s.span,
                                format!(
                                    "`plan` names the output directory: letters, digits, `_` and `-` only, not `{}`",
                                    s.v
                                ),
                            );
                        }
                        plan.id = s.v;
                    }
                }
                "title" => plan.title = text(self, "`title`"),
                "question" => plan.question = text(self, "`question`"),
                "programme" => plan.programme = text(self, "`programme`"),
                "pii_secret" => plan.pii_secret = self.file(v, "`pii_secret`"),
                "survey" => plan.survey = self.file(v, "`survey`").unwrap_or_default(),
                "data" => plan.data = self.data(v).unwrap_or(Data::Waves(Vec::new())),
                // Diagnosed above, with what to write instead.
                "treatment" => {}
                "unit" => {
                    if let Some(u) = self.unit(v) {
                        plan.unit = u;
                    }
                }
                "design" => plan.design = self.design(v),
                "sensitivity" => {
                    if let Some(x) = self.sensitivity(v) {
                        plan.sensitivity = x;
                    }
                }
                "linkage" => plan.linkage = self.linkage(v),
                "cluster" => {
                    if let Some(s) = self.r.string(v, "`cluster`") {
                        plan.cluster = Some(s.v.clone());
                        self.refs.cluster = Some(s.clone());
                        self.refs.covariates.push(s);
                    }
                }
                "outcomes" => plan.outcomes = self.outcomes(v),
                "covariates" => {
                    let c = self.strings(v, "`covariates`");
                    plan.covariates = c.iter().map(|s| s.v.clone()).collect();
                    self.refs.covariates.extend(c);
                }
                "subgroups" => {
                    let c = self.strings(v, "`subgroups`");
                    plan.subgroups = c.iter().map(|s| s.v.clone()).collect();
                    self.refs.subgroups.extend(c.iter().cloned());
                    self.refs.covariates.extend(c);
                }
                "weights" => {
                    if let Some(s) = self.r.string(v, "`weights`") {
                        plan.weights = Some(self.question(s, "the weight question", numeric));
                    }
                }
                "level" => {
                    if let Node::Scalar(sc) = v
                        && ["county", "village", "school", "district", "township", "clinic"].contains(&sc.as_str())
                    {
                        let span = self.r.doc.span(v);
                        self.r.diags.push(
                            Diagnostic::error(
                                codes::INVALID_VALUE,
                                span,
                                format!("`level` cannot be `{}`", sc.as_str()),
                            )
                            .with_help("say `level: unit`; the plan names its unit under `unit:`"),
                        );
                    } else {
                        let options = [("household", Level::Household), ("unit", Level::Unit)];
                        plan.level = self.one_of(v, "`level`", &options).unwrap_or(Level::Household);
                    }
                }
                "control" => {
                    let options = [("never", ControlGroup::Never), ("notyet", ControlGroup::Notyet)];
                    plan.control = self.one_of(v, "`control`", &options).unwrap_or(ControlGroup::Never);
                }
                "correction" => {
                    if let Node::Scalar(s) = v
                        && s.as_str() == "romano-wolf"
                    {
                        let span = self.r.doc.span(v);
                        self.r.diags.push(
                            Diagnostic::error(codes::UNSUPPORTED, span, "Romano–Wolf is not implemented yet")
                                .with_help("use `bh` (Benjamini–Hochberg q-values) or `none`"),
                        );
                    } else {
                        let options = [("bh", Correction::Bh), ("none", Correction::None)];
                        plan.correction = self.one_of(v, "`correction`", &options).unwrap_or(Correction::Bh);
                    }
                }
                "estimators" => {
                    let listed: Vec<Estimator> = self
                        .list(v, "`estimators`")
                        .iter()
                        .filter_map(|e| self.one_of(e, "an estimator", &Estimator::BY_NAME))
                        .collect();
                    if !listed.contains(&Estimator::Cs) {
                        let span = self.r.doc.span(v);
                        self.r.diags.push(
                            Diagnostic::error(codes::INVALID_VALUE, span, "`estimators` must include `cs`")
                                .with_help("the report is built around Callaway & Sant'Anna's estimates; the others are robustness checks"),
                        );
                    }
                    plan.estimators = listed;
                }
                _ => {
                    if let Some(m) = self.mapping(v, "`report`") {
                        self.required(m, &["templates"], "`report`");
                        let mut allow_outside = false;
                        let mut named = Vec::new();
                        for (k, t) in self.r.fields(m, &["templates", "allow_outside"], "`report`") {
                            if k.as_str() == "allow_outside" {
                                let options = [("true", true), ("false", false)];
                                allow_outside = self.one_of(t, "`allow_outside`", &options).unwrap_or(false);
                            } else {
                                for f in self.list(t, "`templates`") {
                                    named.extend(self.file_ref(f, "a template"));
                                }
                            }
                        }
                        for (s, path) in named {
                            self.check_template(&s, &path, allow_outside);
                            plan.templates.push(path);
                        }
                    }
                }
            }
        }
        if let (Data::Waves(_), None) = (&plan.data, &plan.unit.table) {
            let span = self.r.mapping_span(m);
            self.error(
                codes::MISSING_KEY,
                Span::new(span.start, span.start),
                "with field data, `unit.table` must name the unit table (each unit's code and first programme period)"
                    .into(),
            );
        }
        if let Data::Simulate(st) = &mut plan.data {
            st.unit_question.clone_from(&plan.unit.question);
            st.unit_plural.clone_from(&plan.unit.plural);
            st.weight_question.clone_from(&plan.weights);
            let declared: Vec<&str> = st.attributes.iter().map(|a| a.name.as_str()).collect();
            if plan.unit.attributes.is_empty() {
                plan.unit.attributes = declared.iter().map(|a| a.to_string()).collect();
            }
            if let Some(extra) = plan.unit.attributes.iter().find(|a| !declared.contains(&a.as_str())) {
                let span = self.r.mapping_span(m);
                self.error(
                    codes::INVALID_VALUE,
                    Span::new(span.start, span.start),
                    format!("`unit.attributes` names `{extra}`, which `data.simulate.attributes` does not make"),
                );
            }
        }
        Some(plan)
    }
}

/// `q in (1, 2)` or `${q} in ('a', 'b')`: the question and the values, for an outcome
/// that is 1 when the answer is one of them.
fn membership(text: &str) -> Option<(String, Vec<String>)> {
    let (name, rest) = text.trim().split_once(" in ")?;
    let name = name.trim().trim_start_matches("${").trim_end_matches('}');
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let list = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    let values: Vec<String> =
        list.split(',').map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string()).collect();
    (ok && values.iter().all(|v| !v.is_empty())).then(|| (name.to_string(), values))
}

/// `a/../b/./c` as `b/c`, without touching the file system (outputs record these paths,
/// so they should read as a person would write them).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() { PathBuf::from(".") } else { out.iter().collect() }
}

/// Validates a plan. Reads the files it names (the survey; whether data files and
/// templates exist); paths are relative to `base`, the plan file's directory.
pub fn validate(file: &SourceFile, base: &Path) -> Validation {
    let doc = Doc::of_kind(file, "plan");
    let root = match doc.parse() {
        Ok(root) => root,
        Err(d) => {
            return Validation {
                plan: None,
                survey: None,
                wave_surveys: BTreeMap::new(),
                diagnostics: vec![*d],
                survey_diagnostics: Vec::new(),
            };
        }
    };
    let mut pr = PlanReader {
        r: Reader { doc: &doc, diags: Vec::new() },
        base: base.to_path_buf(),
        refs: Refs {
            questions: Vec::new(),
            simulated: Vec::new(),
            outcomes: Vec::new(),
            subgroups: Vec::new(),
            cluster: None,
            design: Vec::new(),
            unit: None,
            covariates: Vec::new(),
            linkage: Vec::new(),
            files: Vec::new(),
            wave_surveys: Vec::new(),
        },
    };
    let mut plan = pr.plan(&root);
    let PlanReader { r, refs, .. } = pr;
    let mut diags = r.diags;
    for (s, path) in &refs.files {
        if !path.is_file() {
            diags.push(Diagnostic::error(codes::FILE_NOT_FOUND, s.span, format!("no file `{}`", s.v)).with_help(
                format!(
                    "paths in a plan are relative to the plan's directory; this one resolves to {}",
                    path.display()
                ),
            ));
        }
    }
    // The surveys: each validated on its own, then every name the plan uses is looked up
    // in each (a wave collected with an older version must have the columns too).
    let mut survey_diagnostics = Vec::new();
    let mut load = |s: &Sp<String>, path: &Path, diags: &mut Vec<Diagnostic>| -> Option<Survey> {
        let text = std::fs::read_to_string(path).ok()?;
        let sf = SourceFile::new(path.display().to_string(), text);
        let v = endline_survey::validate(&sf);
        if v.survey.is_none() {
            diags.push(Diagnostic::error(codes::INVALID_SURVEY, s.span, format!("the survey `{}` has errors", s.v)));
        }
        survey_diagnostics.push((sf, v.diagnostics));
        v.survey
    };
    let survey_ref = plan.as_ref().and_then(|pl| refs.files.iter().find(|(_, p)| *p == pl.survey));
    let survey = survey_ref.and_then(|(s, path)| load(s, path, &mut diags));
    let mut wave_surveys = BTreeMap::new();
    let mut wave_surveys_ok = true;
    for (wave, s, path) in &refs.wave_surveys {
        match load(s, path, &mut diags) {
            Some(sv) => {
                wave_surveys.insert(*wave, sv);
            }
            None => wave_surveys_ok = false,
        }
    }
    if let (Some(sv), Some(pl), Some((s, _))) = (&survey, &plan, survey_ref)
        && matches!(pl.data, Data::Waves(_))
        && pl.pii_secret.is_none()
        && std::iter::once(sv).chain(wave_surveys.values()).any(Survey::key_is_pii)
    {
        diags.push(
            Diagnostic::error(
                codes::MISSING_KEY,
                s.span,
                format!(
                    "the survey key `{}` is personal data (pii: true), so the plan must name a pseudonym secret",
                    sv.key()
                ),
            )
            .with_help(
                "add `pii_secret: FILE` (the file `endline ingest --pii-secret FILE` made, or 32 random bytes); \
                 the key is replaced by its pseudonym in every output of the study",
            ),
        );
    }
    if let (Some(sv), Some(pl)) = (&survey, &mut plan) {
        checks::resolve_outcomes(sv, pl, &refs, &mut diags);
    }
    if let (Some(sv), Some(pl)) = (&survey, &plan) {
        checks::check_names(sv, pl, &refs, &mut diags, None);
        for wave in wave_surveys.values() {
            checks::check_names(wave, pl, &refs, &mut diags, Some(sv));
            checks::check_harmonised(sv, wave, &refs, &mut diags);
        }
    }
    endline_diag::sort(&mut diags);
    diags.dedup();
    let ok = !diags.iter().any(Diagnostic::is_error) && survey.is_some() && wave_surveys_ok;
    Validation { plan: if ok { plan } else { None }, survey, wave_surveys, diagnostics: diags, survey_diagnostics }
}
