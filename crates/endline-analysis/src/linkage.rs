//! Panel linking: households followed across waves by their key, checked by their
//! members, and members followed within households, each given a stable person ID.
//!
//! **Members** of a household seen in two waves are linked by the survey's member ID when
//! it has one (a link whose sex or age disagrees is kept but flagged), otherwise by this
//! rule: two members can be the same person only if their sex agrees and the later age is
//! the earlier one plus the elapsed time, within `age_tolerance` years (where the waves
//! are years); among those pairs, each scores its agreement (age closeness, relation,
//! name similarity where names are given, a normalised edit distance on lower-case
//! names; pairs whose names are less than half alike are not candidates), and pairs are
//! taken greedily by score. A link's confidence is its score over the most it could have
//! scored with the fields both members have.
//!
//! **Households**: a key seen again is checked by its members. If fewer than half of the
//! smaller roster link, the key is taken to be **reused** by another household: its
//! members get new person IDs. A key missing from a wave and seen again later
//! **reappears**; one not seen after some wave **vanishes**. A household first seen in a
//! later wave whose members link (two or more, or one by a name at least 85% alike) to
//! members who left a household since the previous wave **split** from it: they keep their
//! person IDs.
//!
//! Names are compared and never returned: the report carries scores, not names.

use std::collections::BTreeMap;

/// One member in one wave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Member {
    /// The member's row in the wave's member table, for the caller to attach the ID to.
    pub row: usize,
    /// Sex, as coded.
    pub sex: Option<String>,
    /// Age in years.
    pub age: Option<f64>,
    /// Relation to the head, as coded.
    pub relation: Option<String>,
    /// From the personal-data side table; compared, never copied out.
    pub name: Option<String>,
    /// The survey's own member ID, when it has one.
    pub id: Option<String>,
}

/// One household in one wave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Household {
    /// The survey key.
    pub key: String,
    /// Its roster.
    pub members: Vec<Member>,
}

/// One wave: its label, its time in years when it is one, its households.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wave {
    /// The wave as ingested (`_wave`).
    pub label: String,
    /// The wave's time in years, when the label is a number: ages advance by the
    /// difference.
    pub year: Option<f64>,
    /// Its households.
    pub households: Vec<Household>,
}

/// How a member was linked to the person ID it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// First seen here: a new person ID.
    New,
    /// The survey's member ID.
    MemberId,
    /// The matching rule (sex, age, relation, name).
    Matched,
    /// Followed into a household that split off.
    Split,
}

impl Rule {
    /// The rule's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::New => "new",
            Rule::MemberId => "member-id",
            Rule::Matched => "matched",
            Rule::Split => "split",
        }
    }
}

/// A member's link in one wave.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemberLink {
    /// The wave's index in the input.
    pub wave: usize,
    /// The member's row in that wave's member table.
    pub row: usize,
    /// The household's key in that wave.
    pub household: String,
    /// The person's ID, the same in every wave: `<key where first seen>-<n>`.
    pub person_id: String,
    /// How the link was made.
    pub rule: Rule,
    /// 1 for a new person or a consistent member ID; the rule's confidence otherwise.
    pub confidence: f64,
    /// Why the link is doubtful (a member ID whose sex or age disagrees).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

/// Something found about a household.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// Not seen in `missing`, seen again in `back`.
    #[allow(missing_docs)]
    Reappeared { household: String, missing: Vec<String>, back: String },
    /// Last seen in `last`.
    #[allow(missing_docs)]
    Vanished { household: String, last: String },
    /// The key's roster in `wave` is another household's: `linked` of the smaller roster's
    /// `of` members link to the key's previous roster (in `previous`).
    #[allow(missing_docs)]
    KeyReused { household: String, previous: String, wave: String, linked: usize, of: usize },
    /// `household`, first seen in `wave`, holds `linked` members who left `from` since
    /// `previous`.
    #[allow(missing_docs)]
    Split { household: String, from: String, previous: String, wave: String, linked: usize },
}

/// Options of the linking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Years an age may differ from the earlier age plus the elapsed time.
    pub age_tolerance: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { age_tolerance: 2.0 }
    }
}

/// The result: every member's link, every finding, and counts for the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Linkage {
    /// Every member of every wave, in input order.
    pub members: Vec<MemberLink>,
    /// What was found about households, in wave order.
    pub findings: Vec<Finding>,
}

/// Similarity of two names in [0, 1]: one minus the edit distance over the longer.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    let norm = |s: &str| s.trim().to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    let (a, b): (Vec<char>, Vec<char>) = (norm(a).chars().collect(), norm(b).chars().collect());
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

/// A candidate link's score and the most it could have scored, or `None` when the
/// pair cannot be one person.
fn score(a: &Member, b: &Member, elapsed: Option<f64>, o: &Options) -> Option<(f64, f64)> {
    let (mut s, mut max) = (0.0, 0.0);
    if let (Some(x), Some(y)) = (&a.sex, &b.sex) {
        if x != y {
            return None;
        }
        s += 1.0;
        max += 1.0;
    }
    if let (Some(x), Some(y), Some(dt)) = (a.age, b.age, elapsed) {
        let off = (y - (x + dt)).abs();
        if off > o.age_tolerance {
            return None;
        }
        s += 1.0 - off / (o.age_tolerance + 1.0);
        max += 1.0;
    }
    if let (Some(x), Some(y)) = (&a.relation, &b.relation) {
        s += f64::from(u8::from(x == y));
        max += 1.0;
    }
    if let (Some(x), Some(y)) = (&a.name, &b.name) {
        let sim = name_similarity(x, y);
        if sim < 0.5 {
            return None;
        }
        s += 2.0 * sim;
        max += 2.0;
    }
    Some((s, max))
}

/// A link between two rosters: (index in the earlier, index in the later, confidence).
type Pair = (usize, usize, f64);

/// A member's person ID in a wave, how it was given, its confidence and any flag.
type Assigned = (String, Rule, f64, Option<String>);

/// Links roster `a` (earlier) to roster `b`.
fn match_members(a: &[Member], b: &[Member], elapsed: Option<f64>, o: &Options) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if let Some((s, max)) = score(x, y, elapsed, o) {
                pairs.push((i, j, s, if max > 0.0 { s / max } else { 0.0 }));
            }
        }
    }
    // Greedy by score, ties in roster order: deterministic.
    pairs.sort_by(|p, q| q.2.total_cmp(&p.2).then(p.0.cmp(&q.0)).then(p.1.cmp(&q.1)));
    let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
    let mut out = Vec::new();
    for (i, j, _, conf) in pairs {
        if !used_a[i] && !used_b[j] {
            used_a[i] = true;
            used_b[j] = true;
            out.push((i, j, conf));
        }
    }
    out.sort_by_key(|p| p.1);
    out
}

/// Links households and members across the waves, in the order given.
pub fn link(waves: &[Wave], o: &Options) -> Linkage {
    let mut out = Linkage::default();
    // Per key: the last wave it was seen in and its members' person IDs there.
    let mut last: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let mut next_person: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut new_id = |key: &str| {
        let n = next_person.entry(key.to_string()).or_insert(0);
        *n += 1;
        format!("{key}-{n}")
    };
    for (w, wave) in waves.iter().enumerate() {
        // Members who left a household since its previous wave, for splits.
        let mut departed: Vec<(String, usize, Member, String)> = Vec::new();
        let mut fresh: Vec<usize> = Vec::new();
        let mut ids_now: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (h, hh) in wave.households.iter().enumerate() {
            seen.entry(hh.key.clone()).or_default().push(w);
            let mut ids: Vec<Option<Assigned>> = vec![None; hh.members.len()];
            if let Some((pw, prev_ids)) = last.get(&hh.key).cloned() {
                let prev = waves[pw].households.iter().find(|x| x.key == hh.key).map_or(&[][..], |x| &x.members[..]);
                let elapsed = waves[pw].year.zip(wave.year).map(|(a, b)| b - a);
                let by_id = prev.iter().all(|m| m.id.is_some()) && hh.members.iter().all(|m| m.id.is_some());
                let links: Vec<(usize, usize, f64, Option<String>)> = if by_id && !prev.is_empty() {
                    hh.members
                        .iter()
                        .enumerate()
                        .filter_map(|(j, m)| {
                            let i = prev.iter().position(|p| p.id == m.id)?;
                            // Sex and age must still agree; names may be spelt anew.
                            let unnamed = |x: &Member| Member { name: None, ..x.clone() };
                            let ok = score(&unnamed(&prev[i]), &unnamed(m), elapsed, o).is_some();
                            let flag =
                                (!ok).then(|| "the member ID links members whose sex or age disagree".to_string());
                            Some((i, j, if ok { 1.0 } else { 0.5 }, flag))
                        })
                        .collect()
                } else {
                    match_members(prev, &hh.members, elapsed, o).into_iter().map(|(i, j, c)| (i, j, c, None)).collect()
                };
                let smaller = prev.len().min(hh.members.len());
                if smaller > 0 && links.len() * 2 < smaller {
                    out.findings.push(Finding::KeyReused {
                        household: hh.key.clone(),
                        previous: waves[pw].label.clone(),
                        wave: wave.label.clone(),
                        linked: links.len(),
                        of: smaller,
                    });
                    for (i, m) in prev.iter().enumerate() {
                        departed.push((hh.key.clone(), pw, m.clone(), prev_ids[i].clone()));
                    }
                } else {
                    let rule = if by_id { Rule::MemberId } else { Rule::Matched };
                    let mut linked_prev = vec![false; prev.len()];
                    for (i, j, c, flag) in links {
                        linked_prev[i] = true;
                        ids[j] = Some((prev_ids[i].clone(), rule, c, flag));
                    }
                    for (i, m) in prev.iter().enumerate() {
                        if !linked_prev[i] {
                            departed.push((hh.key.clone(), pw, m.clone(), prev_ids[i].clone()));
                        }
                    }
                }
                if pw + 1 < w {
                    out.findings.push(Finding::Reappeared {
                        household: hh.key.clone(),
                        missing: waves[pw + 1..w].iter().map(|x| x.label.clone()).collect(),
                        back: wave.label.clone(),
                    });
                }
            } else if w > 0 {
                fresh.push(h);
            }
            let assigned: Vec<Assigned> =
                ids.into_iter().map(|x| x.unwrap_or_else(|| (new_id(&hh.key), Rule::New, 1.0, None))).collect();
            ids_now.insert(hh.key.clone(), assigned.iter().map(|x| x.0.clone()).collect());
            for (m, (pid, rule, conf, flag)) in hh.members.iter().zip(assigned) {
                out.members.push(MemberLink {
                    wave: w,
                    row: m.row,
                    household: hh.key.clone(),
                    person_id: pid,
                    rule,
                    confidence: conf,
                    flag,
                });
            }
        }
        // Households that left since the previous wave: all their members departed.
        for (key, (pw, prev_ids)) in &last {
            if !wave.households.iter().any(|h| &h.key == key)
                && let Some(prev) = waves[*pw].households.iter().find(|x| &x.key == key)
            {
                for (i, m) in prev.members.iter().enumerate() {
                    departed.push((key.clone(), *pw, m.clone(), prev_ids[i].clone()));
                }
            }
        }
        // Splits: a new household whose members link to members who left one household.
        for &h in &fresh {
            let hh = &wave.households[h];
            let mut from: BTreeMap<String, Vec<(usize, Member, String)>> = BTreeMap::new();
            for (key, pw, m, pid) in &departed {
                from.entry(key.clone()).or_default().push((*pw, m.clone(), pid.clone()));
            }
            let mut best: Option<(String, usize, Vec<Pair>)> = None;
            for (key, ms) in &from {
                let pw = ms[0].0;
                let elapsed = waves[pw].year.zip(wave.year).map(|(a, b)| b - a);
                let prev: Vec<Member> = ms.iter().map(|x| x.1.clone()).collect();
                let links = match_members(&prev, &hh.members, elapsed, o);
                let named = links.iter().any(|&(i, j, _)| {
                    prev[i]
                        .name
                        .as_deref()
                        .zip(hh.members[j].name.as_deref())
                        .is_some_and(|(a, b)| name_similarity(a, b) >= 0.85)
                });
                if (links.len() >= 2 || named) && best.as_ref().is_none_or(|b| links.len() > b.2.len()) {
                    best = Some((key.clone(), pw, links));
                }
            }
            if let Some((key, pw, links)) = best {
                let pids: Vec<String> = from[&key].iter().map(|x| x.2.clone()).collect();
                out.findings.push(Finding::Split {
                    household: hh.key.clone(),
                    from: key.clone(),
                    previous: waves[pw].label.clone(),
                    wave: wave.label.clone(),
                    linked: links.len(),
                });
                for (i, j, c) in links {
                    let row = hh.members[j].row;
                    if let Some(l) = out.members.iter_mut().find(|l| l.wave == w && l.row == row) {
                        l.person_id = pids[i].clone();
                        l.rule = Rule::Split;
                        l.confidence = c;
                    }
                    if let Some(v) = ids_now.get_mut(&hh.key) {
                        v[j] = pids[i].clone();
                    }
                }
            }
        }
        for (key, ids) in ids_now {
            last.insert(key, (w, ids));
        }
    }
    if let Some(final_wave) = waves.len().checked_sub(1) {
        for (key, ws) in &seen {
            if let Some(&l) = ws.last()
                && l < final_wave
            {
                out.findings.push(Finding::Vanished { household: key.clone(), last: waves[l].label.clone() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(row: usize, sex: &str, age: f64, rel: &str, name: &str) -> Member {
        Member {
            row,
            sex: Some(sex.into()),
            age: Some(age),
            relation: Some(rel.into()),
            name: (!name.is_empty()).then(|| name.into()),
            id: None,
        }
    }

    fn hh(key: &str, members: Vec<Member>) -> Household {
        Household { key: key.into(), members }
    }

    #[test]
    fn members_follow_their_household_and_a_reused_key_or_a_split_is_found() {
        let w0 = Wave {
            label: "2019".into(),
            year: Some(2019.0),
            households: vec![
                hh(
                    "A",
                    vec![
                        m(0, "1", 40.0, "1", "Tashi Dorje"),
                        m(1, "2", 38.0, "2", "Pema"),
                        m(2, "1", 10.0, "3", "Karma"),
                    ],
                ),
                hh(
                    "B",
                    vec![m(3, "2", 60.0, "1", "Dolma"), m(4, "1", 35.0, "3", "Norbu"), m(5, "2", 33.0, "2", "Yangzom")],
                ),
                hh("C", vec![m(6, "1", 50.0, "1", "")]),
            ],
        };
        let w1 = Wave {
            label: "2021".into(),
            year: Some(2021.0),
            households: vec![
                // A: the same people two years older, in another order.
                hh(
                    "A",
                    vec![
                        m(0, "2", 40.0, "2", "Pema"),
                        m(1, "1", 42.0, "1", "Tashi Dorje"),
                        m(2, "1", 12.0, "3", "Karma"),
                    ],
                ),
                // B's key now names strangers.
                hh("B", vec![m(3, "1", 25.0, "1", "Sonam"), m(4, "2", 24.0, "2", "Lhamo")]),
                // B's son and his wife set up their own household.
                hh("D", vec![m(5, "1", 37.0, "1", "Norbu"), m(6, "2", 35.0, "2", "Yangzom")]),
            ],
        };
        let w2 = Wave {
            label: "2023".into(),
            year: Some(2023.0),
            households: vec![hh("C", vec![m(0, "1", 54.0, "1", "")])],
        };
        let l = link(&[w0, w1, w2], &Options::default());
        let pid =
            |w: usize, row: usize| l.members.iter().find(|x| x.wave == w && x.row == row).map(|x| x.person_id.clone());
        assert_eq!(pid(1, 1), pid(0, 0), "Tashi keeps his ID");
        assert_eq!(pid(1, 0), pid(0, 1));
        assert!(l.findings.contains(&Finding::KeyReused {
            household: "B".into(),
            previous: "2019".into(),
            wave: "2021".into(),
            linked: 0,
            of: 2
        }));
        assert_ne!(pid(1, 3), pid(0, 3), "strangers get new IDs");
        assert!(l.findings.iter().any(
            |f| matches!(f, Finding::Split { household, from, linked: 2, .. } if household == "D" && from == "B")
        ));
        assert_eq!(pid(1, 5), pid(0, 4), "Norbu keeps his ID in the new household");
        assert!(l.findings.contains(&Finding::Reappeared {
            household: "C".into(),
            missing: vec!["2021".into()],
            back: "2023".into()
        }));
        assert!(l.findings.contains(&Finding::Vanished { household: "A".into(), last: "2021".into() }));
        assert_eq!(pid(2, 0), pid(0, 6), "C's head, four years older");
        assert!((name_similarity("Tashi  Dorje", "tashi dorje") - 1.0).abs() < 1e-12);
        assert!(name_similarity("Tashi", "Dolma") < 0.5);
    }

    #[test]
    fn a_member_id_links_and_a_disagreeing_one_is_flagged() {
        let with_id = |row, sex: &str, age, id: &str| Member { id: Some(id.into()), ..m(row, sex, age, "1", "") };
        let w0 = Wave {
            label: "1".into(),
            year: Some(1.0),
            households: vec![hh("A", vec![with_id(0, "1", 30.0, "01"), with_id(1, "2", 28.0, "02")])],
        };
        let w1 = Wave {
            label: "2".into(),
            year: Some(2.0),
            households: vec![hh("A", vec![with_id(0, "2", 29.0, "02"), with_id(1, "2", 31.0, "01")])],
        };
        let l = link(&[w0, w1], &Options::default());
        let at = |w: usize, row: usize| l.members.iter().find(|x| x.wave == w && x.row == row).cloned();
        let (a, b) = (at(1, 0).unwrap_or_else(|| panic!()), at(1, 1).unwrap_or_else(|| panic!()));
        assert_eq!(
            (a.rule, a.flag.is_none(), a.person_id),
            (Rule::MemberId, true, at(0, 1).map(|x| x.person_id).unwrap_or_default())
        );
        // Member 01 was a man of 30; the roster now says a woman of 31: linked by the ID, flagged.
        assert_eq!((b.rule, b.confidence), (Rule::MemberId, 0.5));
        assert!(b.flag.is_some());
    }
}
