//! The validator never panics: not on arbitrary text, not on arbitrary YAML built from
//! survey-like pieces, not on arbitrary expression strings.

use proptest::prelude::*;

use crate::validate_text;

fn survey_with(expr: &str) -> String {
    let quoted = expr.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "survey: p\nversion: \"1\"\nkey: id\nquestions:\n  - name: id\n    type: integer\n    label: ID\n  - name: m\n    type: repeat\n    count: \"${{id}}\"\n    questions:\n      - name: x\n        type: decimal\n        label: X\n  - name: c\n    type: calculate\n    calculation: \"{quoted}\"\n  - name: q\n    type: integer\n    label: Q\n    relevant: \"{quoted}\"\n    constraint: \"{quoted}\"\n"
    )
}

fn expr_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("${id}".to_string()),
        Just("${x}".to_string()),
        Just("${m}".to_string()),
        Just("${c}".to_string()),
        Just("${nope}".to_string()),
        Just(".".to_string()),
        Just("'text'".to_string()),
        Just("\"é边\"".to_string()),
        "[0-9]{1,20}(\\.[0-9]{0,5})?",
        prop::sample::select(vec![
            "+", "-", "*", "div", "mod", "=", "!=", "<", "<=", ">", ">=", "and", "or", "(", ")", ",", "$", "{", "}",
            "!"
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec!["if(", "sum(", "count(", "selected(", "regex(", "max(", "today()", "not(", "bogus("])
            .prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = validate_text("p.yaml", &text);
    }

    #[test]
    fn arbitrary_expressions_never_panic(pieces in prop::collection::vec(expr_piece(), 0..30)) {
        let expr = pieces.join(" ");
        let (file, v) = validate_text("p.yaml", &survey_with(&expr));
        for d in &v.diagnostics {
            // Every span lies inside the file and on character boundaries.
            prop_assert!(d.span.end <= file.text().len());
            prop_assert!(file.text().is_char_boundary(d.span.start) && file.text().is_char_boundary(d.span.end));
        }
    }

    #[test]
    fn arbitrary_expression_strings_never_panic(expr in "[ -~\\u{4e00}-\\u{4e10}]{0,80}") {
        let _ = validate_text("p.yaml", &survey_with(&expr));
        let _ = endline_survey::expr::parse(&expr);
    }

    #[test]
    fn mutated_example_survey_never_panics(cut in 0usize..20_000, insert in "[ -~\\n:{}\\[\\]-]{0,12}") {
        let text = include_str!("../../../../surveys/border_household.yaml");
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[at..]);
        let _ = validate_text("p.yaml", &mutated);
    }
}
