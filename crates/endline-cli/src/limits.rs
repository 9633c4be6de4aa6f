//! Documented caps on the work a command can be asked for. A request above a cap needs
//! `--allow-large`; above the hard limit it is refused either way (such sizes overflow
//! memory or take longer than any study could use).

/// Bootstrap draws without `--allow-large`.
pub const DRAWS: usize = 100_000;
/// Bootstrap draws at most.
pub const DRAWS_LARGE: usize = 10_000_000;

/// `n` bootstrap draws for `flag`, or why not.
pub fn draws(n: usize, flag: &str, large: bool) -> Result<usize, String> {
    match n {
        0 => Err(format!("{flag} must be at least 1")),
        n if n > DRAWS_LARGE => Err(format!("{flag} {n} is more than {DRAWS_LARGE} draws")),
        n if n > DRAWS && !large => Err(format!(
            "{flag} {n} is more than {DRAWS} draws; give --allow-large to run that many (the time grows with them)"
        )),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_capped_and_zero_is_refused() {
        assert!(draws(0, "--bootstrap", true).is_err());
        assert_eq!(draws(999, "--bootstrap", false), Ok(999));
        assert!(draws(DRAWS + 1, "--bootstrap", false).is_err_and(|e| e.contains("--allow-large")));
        assert_eq!(draws(DRAWS + 1, "--bootstrap", true), Ok(DRAWS + 1));
        assert!(draws(usize::MAX, "--bootstrap", true).is_err());
    }
}
