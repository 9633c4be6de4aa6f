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
    // Rank by distance, then prefer a candidate with the same first letter (people
    // rarely mistype the first one): `zn` suggests `zh`, not `en`.
    let first = lower.chars().next();
    let mut best: Option<((usize, bool), &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let cand = candidate.to_lowercase();
        let d = strsim::damerau_levenshtein(&lower, &cand);
        let rank = (d, cand.chars().next() != first);
        if d <= budget && best.is_none_or(|(b, _)| rank < b) {
            best = Some((rank, candidate));
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
        assert_eq!(suggest("zn", ["en", "zh"]), Some("zh"));
    }
}
