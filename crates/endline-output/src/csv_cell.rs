//! CSV cells that a spreadsheet will not run as formulas (OWASP's CSV-injection rule),
//! undone exactly on the way back in.

use std::borrow::Cow;

/// Whether `s` would be read as a formula by a spreadsheet, or is such a text already
/// neutralised (so that neutralising stays reversible): it starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return and is not a number (`-99` and `+5` stay as they are),
/// or it is `'` followed by such a text.
fn is_formula(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => s.trim().parse::<f64>().is_err(),
        Some(b'\'') => is_formula(&s[1..]),
        _ => false,
    }
}

/// `s` as a CSV cell that is not a formula: `'` put before a formula-like text.
pub fn neutralize(s: &str) -> Cow<'_, str> {
    if is_formula(s) { Cow::Owned(format!("'{s}")) } else { Cow::Borrowed(s) }
}

/// The text a [`neutralize`]d cell came from.
pub fn restore(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if is_formula(rest) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_restored_exactly() {
        for (text, written) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("@x", "'@x"),
            ("-x", "'-x"),
            ("\tx", "'\tx"),
            ("'=x", "''=x"),
            ("-99", "-99"),
            ("+5", "+5"),
            ("-1.5e3", "-1.5e3"),
            ("'quoted'", "'quoted'"),
            ("plain", "plain"),
            ("", ""),
        ] {
            assert_eq!(neutralize(text), written, "{text:?}");
            assert_eq!(restore(written), text, "{written:?}");
        }
    }
}
