//! The `data:` block: a simulated study (`simulate:` with its effects, baselines and
//! attributes) or field waves (`waves:`, each with its files and survey version).

use super::*;

impl PlanReader<'_, '_> {
    /// `question: number` pairs naming simulated outcomes (trends, baselines).
    pub(super) fn rates(&mut self, node: &Node, what: &'static str) -> Vec<(String, f64)> {
        let Some(m) = self.mapping(node, what) else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in m.iter() {
            let name = self.question(self.r.sp(k), "a simulated outcome", simulated);
            self.refs.simulated.push(self.r.sp(k));
            if let Some(x) = self.number(v, what, "a number") {
                out.push((name, x));
            }
        }
        out
    }

    /// `question: effect`: a number on the outcome's natural scale, or `{log: x}`,
    /// `{points: x}`, `{add: x}`.
    pub(super) fn effects(&mut self, node: &Node) -> Vec<(String, Effect)> {
        let Some(m) = self.mapping(node, "`effects`") else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in m.iter() {
            let name = self.question(self.r.sp(k), "a simulated outcome", simulated);
            self.refs.simulated.push(self.r.sp(k));
            let effect = match v {
                Node::Mapping(em) => {
                    let mut e = None;
                    for (scale, x) in self.r.fields(em, &["log", "points", "add"], "an effect") {
                        let kind = EffectScale::BY_NAME.iter().find(|(n, _)| *n == scale.as_str()).map(|(_, k)| *k);
                        if let Some(size) = self.number::<f64>(x, "an effect", "a number") {
                            e = Some(Effect { size, scale: kind });
                        }
                    }
                    if em.len() != 1 {
                        let span = self.r.mapping_span(em);
                        self.error(
                            codes::INVALID_VALUE,
                            span,
                            "an effect takes one of `log`, `points` or `add`".into(),
                        );
                    }
                    e
                }
                other => self.number::<f64>(other, "an effect", "a number").map(Effect::new),
            };
            out.extend(effect.map(|e| (name, e)));
        }
        out
    }

    /// `name: {share, selection, trends}` per confounding unit attribute.
    pub(super) fn attributes(&mut self, node: &Node) -> Vec<Attribute> {
        let Some(m) = self.mapping(node, "`attributes`") else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in m.iter() {
            let mut a = Attribute { name: k.as_str().to_string(), share: 0.5, selection: None, trends: Vec::new() };
            if let Some(am) = self.mapping(v, "an attribute") {
                for (key, value) in self.r.fields(am, &["share", "selection", "trends"], "an attribute") {
                    match key.as_str() {
                        "share" => a.share = self.share(value, "`share`").unwrap_or(a.share),
                        "selection" => a.selection = self.share(value, "`selection`"),
                        _ => a.trends = self.rates(value, "`trends`"),
                    }
                }
            }
            out.push(a);
        }
        out
    }

    pub(super) fn simulate(&mut self, node: &Node) -> Option<Study> {
        let m = self.mapping(node, "`data.simulate`")?;
        let mut st = Study::default();
        for (k, v) in self.r.fields(m, SIMULATE_KEYS, "`data.simulate`") {
            match k.as_str() {
                "seed" => st.seed = self.number(v, "`seed`", "a whole number").unwrap_or(st.seed),
                "units" => st.units = self.number(v, "`units`", "a whole number").unwrap_or(st.units),
                "households" => {
                    st.households_per_unit =
                        self.number(v, "`households`", "a whole number").unwrap_or(st.households_per_unit)
                }
                "waves" | "adoption" => {
                    let years: Vec<i64> = self
                        .list(v, "a list of years")
                        .iter()
                        .filter_map(|y| self.number(y, "a year", "a whole number"))
                        .collect();
                    if k.as_str() == "waves" {
                        st.waves = years;
                    } else {
                        st.adoption_years = years;
                    }
                }
                "treated_share" => st.treated_share = self.share(v, "`treated_share`").unwrap_or(st.treated_share),
                "missing_rate" => st.missing_rate = self.share(v, "`missing_rate`").unwrap_or(st.missing_rate),
                "attrition" => st.attrition = self.share(v, "`attrition`").unwrap_or(st.attrition),
                "attrition_programme" => {
                    st.attrition_programme = self.share(v, "`attrition_programme`").unwrap_or(st.attrition_programme);
                }
                "growth" => st.growth = self.number(v, "`growth`", "a number").unwrap_or(st.growth),
                "unit_shock" => st.unit_shock = self.number(v, "`unit_shock`", "a number").unwrap_or(st.unit_shock),
                "effects" => st.effects = self.effects(v),
                "baselines" => st.baselines = self.rates(v, "`baselines`"),
                "attributes" => st.attributes = self.attributes(v),
                "answers" => {
                    if let Some(m) = self.mapping(v, "`answers`") {
                        for (q, a) in m.iter() {
                            let name = self.question(self.r.sp(q), "an answered question", any_type);
                            if let Some(a) = self.r.string(a, "an answer") {
                                st.answers.push((name, a.v));
                            }
                        }
                    }
                }
                _ => {
                    for s in self.strings(v, "`same_within_unit`") {
                        st.same_within_unit.push(self.question(
                            s,
                            "a question answered alike within a unit",
                            select_one,
                        ));
                    }
                }
            }
        }
        if st.waves.len() < 2 {
            let span = self.r.doc.span(node);
            self.error(codes::INVALID_VALUE, span, "a simulated study needs at least two `waves`".into());
        }
        if let Some(problem) = st.size_problem(false) {
            let span = self.r.doc.span(node);
            self.error(codes::INVALID_VALUE, span, format!("`data.simulate`: {problem}"));
        }
        Some(st)
    }

    /// `wave: [files]`, or `wave: {survey: path, files: [files]}` for a wave collected
    /// with another version of the survey.
    pub(super) fn waves(&mut self, node: &Node) -> Vec<Wave> {
        let Some(m) = self.mapping(node, "`data.waves`") else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in m.iter() {
            let wave = match k.as_str().parse::<i64>() {
                Ok(w) => w,
                Err(_) => {
                    let span = self.r.doc.scalar_span(k);
                    self.error(codes::INVALID_VALUE, span, format!("a wave is a year, not `{}`", k.as_str()));
                    continue;
                }
            };
            let mut w = Wave { wave, survey: None, files: Vec::new() };
            let files = match v {
                Node::Mapping(m) => {
                    self.required(m, &["files"], "a wave");
                    let mut files = None;
                    for (key, value) in self.r.fields(m, &["survey", "files"], "a wave") {
                        if key.as_str() == "files" {
                            files = Some(value);
                        } else if let Some((s, path)) = self.file_ref(value, "a wave's `survey`") {
                            self.refs.wave_surveys.push((wave, s, path.clone()));
                            w.survey = Some(path);
                        }
                    }
                    files
                }
                other => Some(other),
            };
            if let Some(files) = files {
                w.files = self
                    .list(files, "the files of a wave")
                    .iter()
                    .filter_map(|f| self.file(f, "a data file"))
                    .collect();
            }
            out.push(w);
        }
        out
    }

    pub(super) fn data(&mut self, node: &Node) -> Option<Data> {
        let m = self.mapping(node, "`data`")?;
        let fields = self.r.fields(m, &["simulate", "waves"], "`data`");
        if fields.len() != 1 {
            let span = self.r.mapping_span(m);
            self.error(
                codes::INVALID_VALUE,
                span,
                "`data` takes exactly one of `simulate` (a simulated study) or `waves` (field exports per wave)".into(),
            );
        }
        let (k, v) = fields.first()?;
        Some(match k.as_str() {
            "simulate" => Data::Simulate(Box::new(self.simulate(v)?)),
            _ => Data::Waves(self.waves(v)),
        })
    }
}
