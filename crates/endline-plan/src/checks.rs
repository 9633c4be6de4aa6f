//! The plan checked against its survey: each outcome's type, unit and source (a log of
//! an outcome that can be zero is refused), and every name the plan uses, at the level
//! the plan works at. What a run would otherwise hit is found here, at file:line:column.

use std::collections::BTreeMap;

use endline_diag::Diagnostic;
use endline_simulate::OutcomeKind;
use endline_survey::expr::self_bounds;
use endline_survey::yaml::Sp;
use endline_survey::{Item, QuestionType, Survey};

use crate::codes;
use crate::plan::{Level, OutcomeType, Plan, Refs, Source, Transform};

/// The household table's questions, by name.
fn household_questions(survey: &Survey) -> BTreeMap<&str, &Item> {
    let mut top = BTreeMap::new();
    survey.visit(&mut |p| {
        if p.table == survey.id() && p.item.question_type().has_value() {
            top.insert(p.item.name(), p.item);
        }
    });
    top
}

/// Whether a calculation is a yes/no: a comparison, or `if(c, 1, 0)` / `if(c, 0, 1)`.
fn calculates_yes_no(item: &Item) -> bool {
    use endline_survey::expr::{Expr, ExprKind, Ty};
    let Some(c) = item.calculation() else { return false };
    if c.ty() == Ty::Bool {
        return true;
    }
    let zero_one = |e: &Expr| {
        matches!(&e.kind, ExprKind::Int(0 | 1)) || matches!(&e.kind, ExprKind::Dec(n) if *n == 0.0 || *n == 1.0)
    };
    matches!(&c.ast().kind, ExprKind::Call { name, args, .. }
        if name == "if" && args.len() == 3 && zero_one(&args[1]) && zero_one(&args[2]))
}

/// Each outcome's type, unit and source checked against the survey: a yes/no question or
/// indicator is binary, an integer a count, a decimal an amount; a log of an outcome that
/// can be zero is refused where the plan asks for it.
pub(crate) fn resolve_outcomes(survey: &Survey, plan: &mut Plan, refs: &Refs, diags: &mut Vec<Diagnostic>) {
    let top = household_questions(survey);
    for (o, spans) in plan.outcomes.iter_mut().zip(&refs.outcomes) {
        let item = o.question.as_deref().and_then(|q| top.get(q).copied());
        o.unit = item.and_then(|i| i.unit().map(str::to_string));
        let at = spans.source.unwrap_or(spans.name);
        let inferred = match (&o.source, item) {
            (Source::Category(values), Some(i)) => {
                let choices: Vec<String> = survey
                    .choices_of(i)
                    .map(|l| l.choices().iter().map(|c| c.value().as_text()).collect())
                    .unwrap_or_default();
                for v in values.iter().filter(|v| !choices.contains(v)) {
                    diags.push(
                        Diagnostic::error(codes::INVALID_VALUE, at, format!("`{v}` is not a choice of `{}`", i.name()))
                            .with_help(format!("its choices are: {}", choices.join(", "))),
                    );
                }
                if values.is_empty() {
                    diags.push(Diagnostic::error(codes::INVALID_VALUE, at, "`category` names at least one choice"));
                }
                Some(OutcomeType::Binary)
            }
            (Source::Expression(text), _) => {
                match endline_survey::expr::parse(text) {
                    Err(e) => diags.push(Diagnostic::error(
                        codes::INVALID_VALUE,
                        at,
                        format!("the outcome's expression does not parse: {}", e.message),
                    )),
                    Ok(e) => {
                        for (name, _) in e.references() {
                            if !top.contains_key(name) {
                                diags.push(Diagnostic::error(
                                    codes::UNKNOWN_QUESTION,
                                    at,
                                    format!(
                                        "the outcome's expression refers to `{name}`, not a question of the household table"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Some(OutcomeType::Binary)
            }
            (Source::Question, Some(i)) => match (i.question_type(), OutcomeKind::of(survey, i)) {
                (_, Some(OutcomeKind::Binary)) => Some(OutcomeType::Binary),
                (_, Some(OutcomeKind::Count)) => Some(OutcomeType::Count),
                (_, Some(OutcomeKind::Continuous)) => Some(OutcomeType::Continuous),
                (QuestionType::Calculate, _) => calculates_yes_no(i).then_some(OutcomeType::Binary),
                (QuestionType::SelectOne, _) => {
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_QUESTION,
                            spans.name,
                            format!("`{}` is a select_one whose choices are not 0 and 1", i.name()),
                        )
                        .with_help("make it an indicator: `category: [VALUE, ...]` (1 when the answer is one of them)"),
                    );
                    None
                }
                (t, _) => {
                    diags.push(Diagnostic::error(
                        codes::UNKNOWN_QUESTION,
                        spans.name,
                        format!("`{}` is a {} question and cannot be an outcome", i.name(), t.name()),
                    ));
                    None
                }
            },
            _ => None,
        };
        if !matches!(o.source, Source::Question) && top.contains_key(o.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    spans.name,
                    format!("`{}` is a question of the survey; an indicator needs a new name", o.name),
                )
                .with_help(format!("for example `{}_share`", o.name)),
            );
        }
        if o.kind.is_none() {
            o.kind = inferred;
        }
        let transform_at = spans.transform.unwrap_or(spans.name);
        if o.kind == Some(OutcomeType::Binary) && o.transform != Transform::Level {
            diags.push(
                Diagnostic::error(
                    codes::INVALID_VALUE,
                    transform_at,
                    format!(
                        "`{}` is yes/no: its mean is a share and its effect is in percentage points, not on a log scale",
                        o.name
                    ),
                )
                .with_help("drop `log`/`transform`"),
            );
        } else if o.transform == Transform::Log
            && let Some(i) = item
            && i.question_type() != QuestionType::Calculate
        {
            let lo = i.constraint().and_then(|c| self_bounds(c.ast()).0);
            if lo.is_none_or(|l| l <= 0.0) {
                let why = match lo {
                    Some(l) => format!("its constraint allows {}", if l < 0.0 { "negative values" } else { "0" }),
                    None => "nothing in its constraint keeps it above 0".to_string(),
                };
                diags.push(
                    Diagnostic::error(
                        codes::LOG_OF_ZERO,
                        transform_at,
                        format!("`{}` can be zero ({why}), and the log of zero is undefined", o.name),
                    )
                    .with_help("use `transform: log1p` (log of 1 + y) or `transform: asinh`, or estimate in levels"),
                );
            }
        }
    }
}

/// A change between a wave's survey version and the plan's that cannot be harmonised (a
/// recode without `recode`, a type change) is an error on every name of the plan it
/// touches: the stacked variable would mean two things.
pub(crate) fn check_harmonised(main: &Survey, wave: &Survey, refs: &Refs, diags: &mut Vec<Diagnostic>) {
    use endline_survey::diff::{Class, diff};
    if wave.version() == main.version() {
        return;
    }
    for c in diff(wave, main).into_iter().filter(|c| c.class == Class::Breaking) {
        for (s, _, _) in refs.questions.iter().filter(|(s, _, _)| s.v == c.question) {
            diags.push(
                Diagnostic::error(
                    codes::NOT_HARMONISED,
                    s.span,
                    format!(
                        "`{}` cannot be stacked across versions {} and {}: {}",
                        s.v,
                        wave.version(),
                        main.version(),
                        c.message
                    ),
                )
                .with_help("declare how the versions line up in the survey (`renamed_from`, `recode`), or leave the variable out of the plan"),
            );
        }
    }
}

/// Every question the plan names must be in the survey's household table, of a usable
/// type; every covariate, subgroup and cluster must exist at the plan's level.
///
/// For a wave collected with another version (`main` is then the plan's survey), a name
/// is looked up as that version calls it: through the plan's survey's `renamed_from`,
/// or the wave's own (a later version's new name).
pub(crate) fn check_names(
    survey: &Survey,
    plan: &Plan,
    refs: &Refs,
    diags: &mut Vec<Diagnostic>,
    main: Option<&Survey>,
) {
    let items = household_questions(survey);
    let mut top: BTreeMap<&str, QuestionType> = items.iter().map(|(k, i)| (*k, i.question_type())).collect();
    if let Some(main) = main {
        for (name, item) in household_questions(main) {
            if top.contains_key(name) {
                continue;
            }
            let earlier = item.renamed_from().iter().find_map(|old| items.get(old.as_str()));
            let later = items.values().find(|i| i.renamed_from().iter().any(|old| old == name));
            if let Some(i) = earlier.or(later) {
                top.insert(name, i.question_type());
            }
        }
    }
    let attributes = &plan.unit.attributes;
    let suggest = |name: &str| {
        endline_diag::suggest(name, top.keys().copied().chain(attributes.iter().map(String::as_str)))
            .map(|s| format!("did you mean `{s}`?"))
    };
    for (s, what, ok) in &refs.questions {
        match top.get(s.v.as_str()) {
            Some(t) if ok(*t) => {}
            Some(t) => diags.push(Diagnostic::error(
                codes::UNKNOWN_QUESTION,
                s.span,
                format!("`{}` is a {} question and cannot be {what}", s.v, t.name()),
            )),
            None => diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_QUESTION,
                    s.span,
                    format!(
                        "{what} `{}` is not a question of the household table of survey `{}` version {}",
                        s.v,
                        survey.id(),
                        survey.version()
                    ),
                )
                .with_help_opt(suggest(&s.v)),
            ),
        }
    }
    // `linkage:`: the roster is a repeat, and its questions are in it.
    if let Some((roster, _)) = refs.linkage.first() {
        let is_repeat = survey.item(&roster.v).is_some_and(|i| i.question_type() == QuestionType::Repeat);
        if !is_repeat {
            let repeats: Vec<&str> = survey.tables().iter().skip(1).map(|t| t.name).collect();
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_QUESTION,
                    roster.span,
                    format!("`linkage.members` `{}` is not a repeat of survey `{}`", roster.v, survey.id()),
                )
                .with_help_opt(
                    endline_diag::suggest(&roster.v, repeats.iter().copied()).map(|s| format!("did you mean `{s}`?")),
                ),
            );
        } else {
            let mut inside = Vec::new();
            survey.visit(&mut |p| {
                if p.table == roster.v && p.item.question_type().has_value() {
                    inside.push(p.item.name().to_string());
                }
            });
            for (s, key) in &refs.linkage[1..] {
                if !inside.contains(&s.v) {
                    diags.push(
                        Diagnostic::error(
                            codes::UNKNOWN_QUESTION,
                            s.span,
                            format!("`linkage.{key}` `{}` is not a question of the roster `{}`", s.v, roster.v),
                        )
                        .with_help_opt(
                            endline_diag::suggest(&s.v, inside.iter().map(String::as_str))
                                .map(|x| format!("did you mean `{x}`?")),
                        ),
                    );
                }
            }
        }
    }
    for s in &refs.simulated {
        if let Some(i) = items.get(s.v.as_str())
            && i.question_type() == QuestionType::SelectOne
            && OutcomeKind::of(survey, i).is_none()
        {
            diags.push(Diagnostic::error(
                codes::UNKNOWN_QUESTION,
                s.span,
                format!(
                    "no effect can be planted on `{}`: of the select_one questions, the simulation plants \
                     effects on yes/no ones (choices 0 and 1)",
                    s.v
                ),
            ));
        }
    }
    if let Some(u) = &refs.unit
        && u.v == survey.key()
    {
        diags.push(Diagnostic::error(
            codes::INVALID_VALUE,
            u.span,
            format!("`{}` is the survey's key, one per household: the unit is what households belong to", u.v),
        ));
    }
    for s in &refs.covariates {
        if !top.contains_key(s.v.as_str()) && !attributes.contains(&s.v) {
            diags.push(
                Diagnostic::error(
                    codes::UNKNOWN_QUESTION,
                    s.span,
                    format!(
                        "`{}` is neither a household question nor a {} attribute (`unit.attributes`)",
                        s.v, plan.unit.name
                    ),
                )
                .with_help_opt(suggest(&s.v)),
            );
        }
    }
    if plan.level == Level::Unit {
        let at_unit = |s: &Sp<String>| attributes.contains(&s.v) || s.v == plan.unit.question;
        for s in refs.subgroups.iter().chain(&refs.cluster).chain(&refs.design) {
            if top.contains_key(s.v.as_str()) && !at_unit(s) {
                diags.push(
                    Diagnostic::error(
                        codes::NOT_AT_LEVEL,
                        s.span,
                        format!(
                            "at `level: unit` the data are {} means, and `{}` is a household question, \
                             with no single value per {}",
                            plan.unit.name, s.v, plan.unit.name
                        ),
                    )
                    .with_help(format!(
                        "use a {} attribute (`unit.attributes`), or `level: household`",
                        plan.unit.name
                    )),
                );
            }
        }
    }
}
