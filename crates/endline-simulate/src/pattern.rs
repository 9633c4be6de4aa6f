//! Strings that match a constraint's `regex()`: codes, keys and phone numbers.

use endline_rng::Rng;
use endline_survey::Item;
use endline_survey::expr::ExprKind;

/// Samples a string matching a simple regular expression: literals, `\d`, character
/// classes with ranges, and the quantifiers `{n}`, `{n,m}`, `?`, `*`, `+`. Anchors are
/// ignored; None for anything else (alternation, groups).
pub(crate) fn sample_regex(pattern: &str, rng: &mut Rng) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut out = String::new();
    while i < chars.len() {
        let atom: Vec<char> = match chars[i] {
            '^' | '$' => {
                i += 1;
                continue;
            }
            '(' | ')' | '|' => return None,
            '\\' => {
                i += 1;
                let c = *chars.get(i)?;
                i += 1;
                if c == 'd' { ('0'..='9').collect() } else { vec![c] }
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let body = &chars[i + 1..end];
                let mut set = Vec::new();
                let mut k = 0;
                while k < body.len() {
                    if k + 2 < body.len() && body[k + 1] == '-' {
                        set.extend(body[k]..=body[k + 2]);
                        k += 3;
                    } else {
                        set.push(body[k]);
                        k += 1;
                    }
                }
                i = end + 1;
                set
            }
            '.' => {
                i += 1;
                ('a'..='z').collect()
            }
            c => {
                i += 1;
                vec![c]
            }
        };
        let (lo, hi) = match chars.get(i) {
            Some('{') => {
                let end = chars[i..].iter().position(|c| *c == '}')? + i;
                let body: String = chars[i + 1..end].iter().collect();
                i = end + 1;
                match body.split_once(',') {
                    Some((a, b)) => {
                        (a.trim().parse().ok()?, b.trim().parse().unwrap_or(a.trim().parse::<usize>().ok()? + 3))
                    }
                    None => {
                        let n = body.trim().parse().ok()?;
                        (n, n)
                    }
                }
            }
            Some('?') => {
                i += 1;
                (0, 1)
            }
            Some('*') => {
                i += 1;
                (0, 3)
            }
            Some('+') => {
                i += 1;
                (1, 3)
            }
            _ => (1, 1),
        };
        if atom.is_empty() {
            return None;
        }
        // A reversed range ({5,2}) repeats the lower bound rather than underflowing.
        let n = lo + rng.below(hi.saturating_sub(lo) as u64 + 1) as usize;
        for _ in 0..n {
            out.push(atom[rng.below(atom.len() as u64) as usize]);
        }
    }
    Some(out)
}

pub(crate) fn regex_of(item: &Item) -> Option<String> {
    let c = item.constraint()?;
    let mut found = None;
    c.ast().walk(&mut |e| {
        if let ExprKind::Call { name, args, .. } = &e.kind
            && name == "regex"
            && let Some(ExprKind::Str(p)) = args.get(1).map(|a| &a.kind)
        {
            found = Some(p.clone());
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_samples_match_and_odd_patterns_do_not_panic() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let s = sample_regex("HH[0-9]{7}", &mut rng).unwrap_or_default();
            assert!(s.len() == 9 && s.starts_with("HH") && s[2..].chars().all(|c| c.is_ascii_digit()), "{s}");
            let p = sample_regex("^1[3-9]\\d{9}$", &mut rng).unwrap_or_default();
            assert_eq!(p.len(), 11, "{p}");
        }
        for odd in ["a{5,2}", "[", "x{", "(a|b)", "[]", "a{,}", "\\"] {
            let _ = sample_regex(odd, &mut rng);
        }
    }
}
