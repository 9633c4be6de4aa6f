/// The candidate closest to `name`, if one is close enough to be a likely misspelling.
///
/// Closeness is the Damerau-Levenshtein distance (a transposition counts once), allowed
/// to grow with the length of the name: one edit for short names, up to a third of the
/// name for long ones. Ties go to the first candidate, so results are deterministic.
pub fn suggest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = name.to_lowercase();
    let budget = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let d = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
        if d <= budget && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn finds_close_names_only() {
        let names = ["hh_size", "head_age", "village"];
        assert_eq!(suggest("hh_sise", names), Some("hh_size"));
        assert_eq!(suggest("vilage", names), Some("village"));
        assert_eq!(suggest("income", names), None);
        assert_eq!(suggest("slect_one", ["select_one", "select_multiple"]), Some("select_one"));
        assert_eq!(suggest("Integer", ["integer"]), Some("integer"));
    }
}
