//! Fuzzing with large generated inputs (issue #24): YAML of any shape and depth, surveys
//! of thousands of items, long expressions. Each must give a value or diagnostics, never a
//! panic, a stack overflow or an endless run.
//!
//! `.ci/run` runs a bounded number of cases (`ENDLINE_FUZZ_CASES`, 32 by default). For a
//! release, run many more in the release profile:
//! `ENDLINE_FUZZ_CASES=20000 cargo test --release --workspace -- fuzz large_ long_`.

use proptest::prelude::*;

use crate::validate_text;

/// Runs `f` on a thread with the stack endline's validation is documented to need (a test
/// thread has 2 MiB).
fn on_stack(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        let t = std::thread::Builder::new().stack_size(endline_survey::expr::STACK_BYTES).spawn_scoped(s, f);
        let joined = t.map(|h| h.join());
        assert!(matches!(joined, Ok(Ok(()))), "the fuzzed call panicked");
    });
}

fn config() -> ProptestConfig {
    let cases = std::env::var("ENDLINE_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// A YAML value of any shape: scalars of every kind, mappings and lists, block or flow.
fn yaml_value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        "[a-z_]{1,8}",
        "-?[0-9]{1,6}(\\.[0-9]{1,3})?",
        Just("~".to_string()),
        Just("true".to_string()),
        Just("\"quoted: ${x} 边\"".to_string()),
        Just("'single'".to_string()),
        Just("&anchor x".to_string()),
        Just("*alias".to_string()),
        Just("!tag x".to_string()),
        Just("|\n  block".to_string()),
    ];
    scalar.prop_recursive(12, 200, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner.clone()), 0..6).prop_map(|kv| {
                format!("{{{}}}", kv.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
            }),
        ]
    })
}

/// A survey's top level with questions of any shape.
fn survey_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "type",
        "label",
        "relevant",
        "constraint",
        "required",
        "calculation",
        "count",
        "choices",
        "missing",
        "pii",
        "unit",
        "questions",
        "hint",
        "default",
        "bogus",
    ]);
    let item = prop::collection::vec((key, yaml_value()), 0..8).prop_map(|kv| {
        format!("  - {{{}}}", kv.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
    });
    prop::collection::vec(item, 0..40)
        .prop_map(|items| format!("survey: f\nversion: \"1\"\nkey: id\nquestions:\n{}\n", items.join("\n")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn yaml_of_any_shape_never_panics(top in prop::collection::vec(("[a-z_]{1,10}", yaml_value()), 0..12)) {
        let text: String = top.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        let _ = validate_text("f.yaml", &text);
    }

    #[test]
    fn survey_shaped_yaml_never_panics(text in survey_like()) {
        let (file, v) = validate_text("f.yaml", &text);
        for d in &v.diagnostics {
            prop_assert!(d.span.end <= file.text().len());
        }
    }

    /// Nesting far beyond the limit, in every style, is one diagnostic.
    #[test]
    fn any_depth_is_a_diagnostic(depth in 100usize..6000, style in 0u8..4) {
        let text = match style {
            0 => (0..depth).map(|i| format!("{}a:\n", " ".repeat(i))).collect::<String>(),
            1 => "- ".repeat(depth) + "x\n",
            2 => format!("a: {}x{}\n", "[".repeat(depth), "]".repeat(depth)),
            _ => format!("a: {}x{}\n", "{b: ".repeat(depth), "}".repeat(depth)),
        };
        let (_, v) = validate_text("f.yaml", &text);
        prop_assert!(v.survey.is_none());
        prop_assert!(!v.diagnostics.is_empty());
    }

    /// Long and deeply nested expressions.
    #[test]
    fn long_expressions_never_panic(depth in 0usize..5000, ops in prop::collection::vec(prop::sample::select(vec!["+", "-", "*", "div", "and", "or", "=", "<"]), 0..3000)) {
        let nested = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        let chain: String = ops.iter().map(|o| format!(" {o} ${{id}}")).collect();
        for expr in [nested, format!("1{chain}"), format!("{}1", "-".repeat(depth)), format!("{}1", "not(".repeat(depth))] {
            on_stack(|| {
                let _ = endline_survey::expr::parse(&expr);
                let text = format!("survey: f\nversion: \"1\"\nkey: id\nquestions:\n  - {{name: id, type: integer, label: I}}\n  - {{name: c, type: calculate, calculation: \"{expr}\"}}\n");
                let _ = validate_text("f.yaml", &text);
            });
        }
    }
}
