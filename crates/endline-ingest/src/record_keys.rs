//! A record's own KEY (ODK Central) or `_index` (KoboToolbox) names one record: a second
//! record with the same one is a duplicate (roster rows included), never written twice.
//!
//! Every row is looked up, on the checking thread (the pipeline's serial stage): by a
//! 64-bit hash, confirmed against the text, with the rare different text of the same hash
//! kept by text. Keyed by text, the check cost 10% of ingest's time at a million
//! households; so, 2%.

use std::collections::hash_map::Entry;

use crate::hash::{FnvMap, fnv};
use crate::ingest::{TableData, issue};
use crate::model::Severity;

/// Files a `duplicate-key` error on every record whose KEY or `_index` an earlier record
/// of its table used.
pub(crate) fn duplicates(tables: &mut [TableData<'_>]) {
    for t in tables.iter_mut() {
        let mut first: FnvMap<u64, usize> = FnvMap::with_capacity_and_hasher(t.rows.len(), Default::default());
        let mut collided: FnvMap<(bool, &str), usize> = FnvMap::default();
        let mut found = Vec::new();
        for (r, row) in t.rows.iter().enumerate() {
            let links = t.files[row.file].links;
            for (index, col, name) in [(false, links.key, "KEY"), (true, links.index, "_index")] {
                let Some(v) = col.and_then(|c| t.cell(row, c)).filter(|v| !v.is_empty()) else { continue };
                let text_of = |r: usize| {
                    let row = &t.rows[r];
                    let links = t.files[row.file].links;
                    (if index { links.index } else { links.key }).and_then(|c| t.cell(row, c))
                };
                let earlier = match first.entry(fnv(v) ^ u64::from(index)) {
                    Entry::Vacant(e) => {
                        e.insert(r);
                        None
                    }
                    Entry::Occupied(e) if text_of(*e.get()) == Some(v) => Some(*e.get()),
                    Entry::Occupied(_) => match collided.entry((index, v)) {
                        Entry::Occupied(e) => Some(*e.get()),
                        Entry::Vacant(e) => {
                            e.insert(r);
                            None
                        }
                    },
                };
                if let Some(at) = earlier {
                    let at = &t.rows[at];
                    let message = format!(
                        "this record's {name} `{v}` was already used by {} row {}",
                        t.files.get(at.file).map_or("", |f| f.display.as_str()),
                        at.row
                    );
                    found.push((r, issue(t, row, name, "duplicate-key", Severity::Error, Some(v.into()), message)));
                }
            }
        }
        for (r, i) in found {
            t.rows[r].push_issue(i);
        }
    }
}
