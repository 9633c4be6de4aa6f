//! The survey-level parts: languages, labels in every language, missing codes and
//! choice lists.

use super::*;

impl Validator {
    pub(super) fn languages(&mut self, raw: &RawSurvey) {
        let Some(langs) = &raw.languages else { return };
        if langs.v.is_empty() {
            self.error(
                codes::INVALID_VALUE,
                langs.span,
                "`languages` is empty: list the label languages, default first, or leave it out",
            );
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for l in &langs.v {
            if let Some(&first) = seen.get(l.v.as_str()) {
                let d =
                    Diagnostic::error(codes::DUPLICATE_LANGUAGE, l.span, format!("language `{}` is listed twice", l.v))
                        .with_note(first, "first listed here");
                self.diags.push(d);
                continue;
            }
            if !is_language_tag(&l.v) {
                self.error(codes::INVALID_VALUE, l.span, format!("`{}` is not a language code", l.v)).help =
                    Some("use a BCP 47 code such as `en`, `zh`, `bo` (Tibetan), `ug` (Uyghur), `mn` (Mongolian) or `kk` (Kazakh)".into());
                continue;
            }
            seen.insert(&l.v, l.span);
            self.languages.push(l.v.clone());
        }
    }

    /// Checks a label against the declared languages.
    pub(super) fn label(&mut self, raw: &RawLabel, what: &str) -> Label {
        match raw {
            RawLabel::Plain(text) => {
                if self.languages.len() > 1 {
                    let missing = self.languages[1..].join(", ");
                    let langs = self.languages.clone();
                    self.error(
                        codes::MISSING_TRANSLATION,
                        text.span,
                        format!("{what} is given in one language, but the survey declares {}", langs.join(", ")),
                    )
                    .help = Some(format!(
                        "give a text per language, adding {missing}: {{{}}}",
                        langs.iter().map(|l| format!("{l}: ...")).collect::<Vec<_>>().join(", ")
                    ));
                }
                let lang = self.languages.first().cloned().unwrap_or_default();
                Label::new(vec![(lang, text.v.clone())])
            }
            RawLabel::Map { span, entries } => {
                if self.languages.is_empty() {
                    self.error(
                        codes::UNKNOWN_LANGUAGE,
                        *span,
                        format!("{what} is given per language, but the survey declares no `languages`"),
                    )
                    .help = Some("declare them at the top: `languages: [en, zh]`".into());
                    return Label::new(entries.iter().map(|(l, t)| (l.v.clone(), t.v.clone())).collect());
                }
                for (lang, _) in entries {
                    if !self.languages.contains(&lang.v) {
                        let help = endline_diag::suggest(&lang.v, self.languages.iter().map(String::as_str))
                            .map(|s| format!("did you mean `{s}`?"));
                        let declared = self.languages.join(", ");
                        let d = Diagnostic::error(
                            codes::UNKNOWN_LANGUAGE,
                            lang.span,
                            format!("`{}` is not a declared language ({declared})", lang.v),
                        )
                        .with_help_opt(help.or(Some("add it to `languages` or remove this text".to_string())));
                        self.diags.push(d);
                    }
                }
                let missing: Vec<&str> = self
                    .languages
                    .iter()
                    .filter(|l| !entries.iter().any(|(e, _)| &e.v == *l))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    let s = if missing.len() == 1 { "" } else { "s" };
                    let msg = format!("{what} has no text in language{s} {}", missing.join(", "));
                    self.diags.push(Diagnostic::error(codes::MISSING_TRANSLATION, *span, msg));
                }
                // Language order, not file order, so outputs do not depend on how a
                // translator ordered the keys.
                Label::new(
                    self.languages
                        .iter()
                        .filter_map(|l| entries.iter().find(|(e, _)| &e.v == l).map(|(_, t)| (l.clone(), t.v.clone())))
                        .collect(),
                )
            }
        }
    }

    pub(super) fn missing_codes(&mut self, raw: &RawSurvey) {
        let mut by_value: HashMap<ChoiceValue, (&str, Span)> = HashMap::new();
        for (name, value) in &raw.missing_codes {
            if !is_identifier(&name.v) {
                self.error(
                    codes::INVALID_IDENTIFIER,
                    name.span,
                    format!("missing code name `{}` is not an identifier", name.v),
                );
            }
            let Some(v) = &value.v else { continue };
            if let Some(&(first_name, first)) = by_value.get(v) {
                let message = format!("missing codes `{first_name}` and `{}` share the value `{v}`", name.v);
                let d = Diagnostic::error(codes::MISSING_CODE_COLLISION, value.span, message)
                    .with_note(first, format!("`{first_name}` is declared here"))
                    .with_help("each reason for a missing answer needs a value of its own");
                self.diags.push(d);
                continue;
            }
            by_value.insert(v.clone(), (&name.v, value.span));
            self.missing.push(MissingCode { name: name.v.clone(), value: v.clone() });
        }
    }

    /// Checks a choice list; returns it when it can be used by questions.
    pub(super) fn choice_list(&mut self, list: &RawList, inline: bool) -> Option<ChoiceList> {
        let what = if inline {
            format!("the inline choice list of `{}`", list.name.v)
        } else {
            format!("choice list `{}`", list.name.v)
        };
        if list.choices.is_empty() {
            self.error(codes::EMPTY_CHOICE_LIST, list.name.span, format!("{what} has no choices"));
        }
        let mut seen: HashMap<&ChoiceValue, Span> = HashMap::new();
        let mut first_kind: Option<(bool, Span)> = None;
        let mut choices = Vec::new();
        for c in &list.choices {
            let label = match &c.label {
                Some(l) => self.label(l, "a choice label"),
                None => {
                    let shown = c.value.v.as_ref().map_or_else(String::new, |v| format!(" `{v}`"));
                    self.error(codes::MISSING_KEY, c.span, format!("choice{shown} has no `label`"));
                    Label::new(Vec::new())
                }
            };
            let Some(value) = &c.value.v else { continue };
            if let ChoiceValue::Text(t) = value
                && (t.is_empty() || t.chars().any(char::is_whitespace))
            {
                self.error(codes::INVALID_CHOICE_VALUE, c.value.span, format!("choice value `{t}` is empty or contains white space"))
                        .help = Some("select_multiple answers are stored space-separated, so values must be single words such as `yak_dairy`".into());
            }
            match first_kind {
                None => first_kind = Some((value.is_int(), c.value.span)),
                Some((int, first)) if int != value.is_int() => {
                    let kinds = |i: bool| if i { "integers" } else { "strings" };
                    let d = Diagnostic::error(
                        codes::MIXED_CHOICE_TYPES,
                        c.value.span,
                        format!(
                            "{what} mixes integer and string values: `{value}` is one of the {}",
                            kinds(value.is_int())
                        ),
                    )
                    .with_note(first, format!("the list starts with {}", kinds(int)))
                    .with_help("quote integers to make every value a string, or use integers throughout");
                    self.diags.push(d);
                }
                Some(_) => {}
            }
            if let Some(&first) = seen.get(value) {
                let d = Diagnostic::error(
                    codes::DUPLICATE_CHOICE_VALUE,
                    c.value.span,
                    format!("value `{value}` appears twice in {what}"),
                )
                .with_note(first, "first used here");
                self.diags.push(d);
                continue;
            }
            seen.insert(value, c.value.span);
            let mut filter = Vec::new();
            for (col, v) in &c.filter {
                if !is_identifier(&col.v) || matches!(col.v.as_str(), "name" | "label" | "value" | "list_name") {
                    self.error(
                        codes::INVALID_IDENTIFIER,
                        col.span,
                        format!("`{}` cannot be a filter column: use a name such as `county`", col.v),
                    )
                    .help = Some(
                        "a filter column is a name (letters, digits, `_`) other than name, label, value and list_name"
                            .into(),
                    );
                } else if let Some(v) = &v.v {
                    filter.push((col.v.clone(), v.clone()));
                }
            }
            choices.push(Choice { value: value.clone(), label, filter });
        }
        (!choices.is_empty()).then(|| ChoiceList { name: list.name.v.clone(), inline, choices })
    }
}
