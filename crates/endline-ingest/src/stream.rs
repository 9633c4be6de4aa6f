//! Batches of an export in submission order, formed as the files are read, without the
//! split on disk.
//!
//! ODK Central and KoboToolbox export a form's tables in the same order: a submission's
//! roster rows follow one another, in the order of their parent records. A batch is then
//! some top-level records in file order and the roster rows that follow them, and each
//! file is read once. What a single in-memory batch would decide must be decidable in one
//! batch, so anything else stops the stream and the caller splits the input on disk
//! instead ([`crate::batch`]): a roster row whose parent went into an earlier batch, or
//! a KEY or `_index` already used in an earlier batch. A survey key used again in a later
//! batch (a resubmitted household) is a duplicate there, with the row that first used it.
//! Rows that link to nothing are orphans wherever they go and are checked in a last batch.

use std::collections::hash_map::Entry;

use crate::error::IngestError;
use crate::hash::{FnvMap, HashedMap, fnv};
use crate::ingest::{FileData, Layout, Via, key_of};
use crate::read::{Cells, RawRecord, Records};

/// A batch: each input's records, and the survey keys its top-level records share with
/// earlier batches (with the row that first used each).
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) records: Vec<Cells>,
    pub(crate) earlier: FnvMap<Box<str>, usize>,
    /// The input's bytes read up to the end of this batch (about), for progress.
    pub(crate) read: u64,
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Streamed {
    /// Every record went into a batch.
    Done,
    /// The export is not in submission order (why, for the progress line).
    Unordered(String),
    /// The consumer stopped taking batches.
    Stopped,
}

/// A table's records as they come, one file after another, with one record of lookahead
/// (read into the same buffer each time).
struct TableStream {
    /// (input index, file of the table, its records), in input order.
    files: Vec<(usize, usize, Records)>,
    record: RawRecord,
    /// Whether `record` holds the next record.
    ready: bool,
}

impl TableStream {
    /// The next record without taking it: (input, file of the table, record).
    fn peek(&mut self) -> Result<Option<(usize, usize, &RawRecord)>, IngestError> {
        while !self.ready && !self.files.is_empty() {
            if self.files[0].2.next_into(&mut self.record)? {
                self.ready = true;
            } else {
                self.files.remove(0);
            }
        }
        Ok(self.files.first().filter(|_| self.ready).map(|(i, fi, _)| (*i, *fi, &self.record)))
    }

    /// Moves past the record [`TableStream::peek`] gave.
    fn consume(&mut self) {
        self.ready = false;
    }
}

/// Where a KEY or `_index` of the batch being formed was first used: its record's place
/// in the batch (input, index among the input's records).
#[derive(Debug, Clone, Copy)]
struct Used {
    input: usize,
    at: usize,
}

/// The link values of a table's records and where each was first used: KEY and `_index`
/// by the 64-bit hash of their text (no allocation per record), those of the batch being
/// formed with their record (a small map, looked up by roster rows) and all of them with
/// the batch that first used them (a large map, probed once per record as it is
/// registered, and when the small map has no answer); and (top level) the survey key as
/// written, with its batch and the row that first used it.
///
/// A hash is confirmed against the record's text only within the batch being formed; a
/// value whose hash was used in an earlier batch stops the stream. A hash collision can
/// then only stop a stream that could have gone on, never put a record in the wrong
/// batch: the split on disk decides exactly.
#[derive(Default)]
struct Links {
    odk: HashedMap<Used>,
    kobo: HashedMap<Used>,
    odk_all: HashedMap<u32>,
    kobo_all: HashedMap<u32>,
    key: KeyUses,
}

/// Every survey key of the input so far, with the batch and row that first used it: the
/// keys' texts one after another in one string, looked up by their 64-bit hash (no
/// allocation per key, and a probe reads no text unless the hashes agree). A key whose
/// hash an earlier, different key already has (a collision) is kept by its text apart.
#[derive(Default)]
struct KeyUses {
    text: String,
    /// Each key's place in `uses`, by hash (a small entry: the table is probed at random).
    by_hash: HashedMap<u32>,
    uses: Vec<KeyUse>,
    collided: FnvMap<Box<str>, (usize, usize)>,
}

#[derive(Clone, Copy)]
struct KeyUse {
    /// Where its text is in [`KeyUses::text`].
    start: usize,
    len: u32,
    batch: u32,
    row: usize,
}

impl KeyUses {
    /// Where `k` was first used: (batch, row); `None` when it is new, and then
    /// (`batch`, `row`) is noted as its first use.
    fn first_use(&mut self, k: &str, batch: usize, row: usize) -> Option<(usize, usize)> {
        let KeyUses { text, by_hash, uses, collided } = self;
        match by_hash.entry(fnv(k)) {
            Entry::Vacant(e) => {
                let start = text.len();
                text.push_str(k);
                e.insert(uses.len() as u32);
                uses.push(KeyUse { start, len: k.len() as u32, batch: batch as u32, row });
                None
            }
            Entry::Occupied(e) if key_text(text, uses, *e.get()) == Some(k) => {
                uses.get(*e.get() as usize).map(|u| (u.batch as usize, u.row))
            }
            Entry::Occupied(_) => match collided.entry(Box::from(k)) {
                Entry::Occupied(c) => Some(*c.get()),
                Entry::Vacant(c) => {
                    c.insert((batch, row));
                    None
                }
            },
        }
    }

    /// The batch that first used `k`.
    fn batch_of(&self, k: &str) -> Option<usize> {
        let &at = self.by_hash.get(&fnv(k))?;
        if key_text(&self.text, &self.uses, at) == Some(k) {
            self.uses.get(at as usize).map(|u| u.batch as usize)
        } else {
            self.collided.get(k).map(|&(b, _)| b)
        }
    }
}

/// The text of key use `at` of [`KeyUses`].
fn key_text<'t>(text: &'t str, uses: &[KeyUse], at: u32) -> Option<&'t str> {
    let u = uses.get(at as usize)?;
    text.get(u.start..u.start + u.len as usize)
}

/// Where a parent lookup found its value.
enum Found {
    /// In the batch being formed (at this record, for KEY and `_index`).
    Here(Option<Used>),
    /// In an earlier batch (or a different value with the same hash).
    Earlier,
    /// Nowhere yet.
    Nowhere,
}

impl Links {
    fn find<'t>(&self, via: Via, v: &str, batch_no: usize, text_at: impl FnOnce(Used) -> Option<&'t str>) -> Found {
        let (here, all) = match via {
            Via::Odk => (&self.odk, &self.odk_all),
            Via::Kobo => (&self.kobo, &self.kobo_all),
            Via::Key => {
                return match self.key.batch_of(v) {
                    None => Found::Nowhere,
                    Some(batch) if batch == batch_no => Found::Here(None),
                    Some(_) => Found::Earlier,
                };
            }
        };
        let h = fnv(v);
        match here.get(&h) {
            Some(&u) if text_at(u) == Some(v) => Found::Here(Some(u)),
            Some(_) => Found::Earlier,
            // Every value of this batch is in `here`: one in `all` only is earlier's.
            None if all.contains_key(&h) => Found::Earlier,
            None => Found::Nowhere,
        }
    }

    /// Makes room for about `n` records of a table written in `files` (growing a map of
    /// a million entries one doubling at a time rehashes it whole each time).
    fn reserve(&mut self, n: usize, files: &[FileData], has_kids: bool) {
        let n = n + n / 8;
        if files.iter().any(|f| f.links.survey_key.is_some()) {
            self.key.by_hash.reserve(n.saturating_sub(self.key.by_hash.len()));
            self.key.uses.reserve(n.saturating_sub(self.key.uses.len()));
        }
        if has_kids && files.iter().any(|f| f.links.key.is_some()) {
            self.odk_all.reserve(n.saturating_sub(self.odk_all.len()));
        }
        if has_kids && files.iter().any(|f| f.links.index.is_some()) {
            self.kobo_all.reserve(n.saturating_sub(self.kobo_all.len()));
        }
    }

    /// Ends the batch being formed (its link values are already in the maps of all).
    fn end_batch(&mut self) {
        self.odk.clear();
        self.kobo.clear();
    }
}

/// Forms batches of about `batch_bytes` of top-level records (and the roster rows that
/// follow them) and hands each to `emit` with the keys it shares with earlier batches
/// (false: stop). A batch's records go into the emptied cells `spare` gives, if any (one
/// per input). `top_total` is the size of the top-level files, from which the first batch
/// tells how many records to expect (the maps of the whole input are sized once).
pub(crate) fn stream(
    layout: &Layout<'_>,
    sources: Vec<Records>,
    (batch_bytes, top_total): (u64, u64),
    emit: &dyn Fn(Batch) -> bool,
    spare: &dyn Fn() -> Option<Vec<Cells>>,
) -> Result<Streamed, IngestError> {
    let tables = layout.tables();
    let inputs = sources.len();
    let mut streams: Vec<TableStream> =
        tables.iter().map(|_| TableStream { files: Vec::new(), record: RawRecord::default(), ready: false }).collect();
    for (i, source) in sources.into_iter().enumerate() {
        let (ti, fi) = layout.place(i);
        streams[ti].files.push((i, fi, source));
    }
    let has_kids: Vec<bool> = (0..tables.len()).map(|ti| tables.iter().any(|t| t.parent == Some(ti))).collect();
    // Where each link value went: batch numbers, for the whole input.
    let mut seen: Vec<Links> = tables.iter().map(|_| Links::default()).collect();
    let mut batch_no = 0;
    let mut read = 0;
    loop {
        let mut batch = spare().filter(|s| s.len() == inputs).unwrap_or_else(|| vec![Cells::default(); inputs]);
        let mut earlier = FnvMap::default();
        // Top-level records, about `batch_bytes` of them.
        let mut bytes = 0u64;
        while bytes < batch_bytes {
            let Some((i, fi, rec)) = streams[0].peek()? else { break };
            if let Some(k) = key_of(layout, 0, fi, rec)
                && let Some((batch, row)) = seen[0].key.first_use(&k, batch_no, rec.row)
                && batch != batch_no
            {
                earlier.insert(k.into(), row);
            }
            if let Some(why) = register(layout, &mut seen[0], (0, fi, i), rec, (batch[i].len(), batch_no), has_kids[0])
            {
                return Ok(Streamed::Unordered(why));
            }
            bytes += rec.bytes();
            batch[i].push(rec);
            streams[0].consume();
        }
        let last = bytes == 0;
        // Roster rows whose parent is in this batch, table by table (parents first). After
        // the last top-level record, every roster row left is an orphan unless it links to
        // an earlier batch.
        for ti in 1..tables.len() {
            let Some(pi) = tables[ti].parent else { continue };
            // Roster rows of one parent come together: the last link found in this batch
            // is tried first, then the record after the last parent found (parents come
            // in the order of their records), then the maps. A record of this batch with
            // the KEY or `_index` looked for is where it was first used: had it been used
            // in an earlier batch, registering it would have stopped the stream.
            let mut last_via: Option<Via> = None;
            let mut last_text = String::new();
            let mut last_parent: Option<Used> = None;
            while let Some((i, fi, rec)) = streams[ti].peek()? {
                // Where its parent is, as one batch would link it: by the first link
                // written while more parents may come (not found: wait for a later batch);
                // by the first that finds a parent at the end (none: an orphan, here).
                let links = tables[ti].files[fi].links.parents(|c| rec.cell(c), pi == 0);
                let mut written = links.iter().flatten();
                let find =
                    |via: Via, v: &str| seen[pi].find(via, v, batch_no, |u| link_text(layout, &batch, pi, via, u));
                let found = match written.next() {
                    None => Found::Nowhere,
                    Some(&(via, v)) if !last && last_via == Some(via) && last_text == v => Found::Here(None),
                    Some(&(via, v)) if !last => {
                        let next = last_parent
                            .filter(|_| last_via == Some(via))
                            .map(|u| Used { input: u.input, at: u.at + 1 })
                            .filter(|&u| link_text(layout, &batch, pi, via, u) == Some(v));
                        match next.map_or_else(|| find(via, v), |u| Found::Here(Some(u))) {
                            Found::Nowhere => break,
                            Found::Here(at) => {
                                last_via = Some(via);
                                last_text.clear();
                                last_text.push_str(v);
                                last_parent = at;
                                Found::Here(at)
                            }
                            Found::Earlier => Found::Earlier,
                        }
                    }
                    Some(&first) => std::iter::once(&first)
                        .chain(written)
                        .map(|&(via, v)| find(via, v))
                        .find(|f| !matches!(f, Found::Nowhere))
                        .unwrap_or(Found::Nowhere),
                };
                if matches!(found, Found::Earlier) {
                    return Ok(Streamed::Unordered(format!(
                        "a row of `{}` comes after rows of later records",
                        tables[ti].name
                    )));
                }
                if let Some(why) =
                    register(layout, &mut seen[ti], (ti, fi, i), rec, (batch[i].len(), batch_no), has_kids[ti])
                {
                    return Ok(Streamed::Unordered(why));
                }
                read += rec.bytes();
                batch[i].push(rec);
                streams[ti].consume();
            }
        }
        if batch.iter().all(Cells::is_empty) {
            return Ok(Streamed::Done);
        }
        read += bytes;
        if batch_no == 0 && bytes > 0 {
            let records: usize = (0..inputs).filter(|&i| layout.place(i).0 == 0).map(|i| batch[i].len()).sum();
            let expected = (top_total as u128 * records as u128 / u128::from(bytes)) as usize;
            seen[0].reserve(expected, &tables[0].files, has_kids[0]);
        }
        if !emit(Batch { records: batch, earlier, read }) {
            return Ok(Streamed::Stopped);
        }
        seen.iter_mut().for_each(Links::end_batch);
        batch_no += 1;
    }
}

/// The KEY or `_index` (as `via` reads it) of the record of table `ti` at `u` in the
/// batch being formed.
fn link_text<'b>(layout: &Layout<'_>, batch: &'b [Cells], ti: usize, via: Via, u: Used) -> Option<&'b str> {
    let l = layout.tables()[ti].files[layout.place(u.input).1].links;
    let column = match via {
        Via::Odk => l.key,
        Via::Kobo => l.index,
        Via::Key => None,
    }?;
    batch.get(u.input)?.cell(u.at, column)
}

/// Notes where a record's KEY and `_index` were first used (for tables with rosters);
/// one (or its hash) already used in an earlier batch means the export is not in
/// submission order. `place` is the record's table, file of the table and input; `at`
/// its index among the input's records of batch `batch_no`.
fn register(
    layout: &Layout<'_>,
    seen: &mut Links,
    (ti, fi, input): (usize, usize, usize),
    rec: &RawRecord,
    (at, batch_no): (usize, usize),
    has_kids: bool,
) -> Option<String> {
    if !has_kids {
        return None;
    }
    let l = layout.tables()[ti].files[fi].links;
    let note = |here: &mut HashedMap<Used>, all: &mut HashedMap<u32>, v: &str, what: &str| {
        let h = fnv(v);
        match all.entry(h) {
            Entry::Occupied(first) if *first.get() as usize != batch_no => {
                return Some(format!("{what} `{v}` is used again in a later part of the file"));
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(first) => {
                first.insert(batch_no as u32);
            }
        }
        here.entry(h).or_insert(Used { input, at });
        None
    };
    if let Some(v) = l.key.and_then(|c| rec.cell(c))
        && let Some(why) = note(&mut seen.odk, &mut seen.odk_all, v, "KEY")
    {
        return Some(why);
    }
    l.index.and_then(|c| rec.cell(c)).and_then(|v| note(&mut seen.kobo, &mut seen.kobo_all, v, "_index"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A survey key's first use is kept by its text, also when another key has its hash.
    #[test]
    fn survey_keys_are_told_apart_by_their_text() {
        let mut keys = KeyUses::default();
        assert_eq!(keys.first_use("H001", 0, 2), None);
        assert_eq!(keys.first_use("H002", 0, 3), None);
        assert_eq!(keys.first_use("H001", 1, 9), Some((0, 2)));
        assert_eq!(keys.batch_of("H002"), Some(0));
        assert_eq!(keys.batch_of("H003"), None);
        // A different key under H001's hash, as a collision would have it.
        let h = fnv("H001");
        let stored = keys.by_hash[&h];
        keys.by_hash.insert(fnv("X"), stored);
        assert_eq!(keys.batch_of("X"), None, "the text decides, not the hash");
        assert_eq!(keys.first_use("X", 2, 5), None);
        assert_eq!(keys.first_use("X", 3, 6), Some((2, 5)));
        assert_eq!(keys.batch_of("X"), Some(2));
        assert_eq!(keys.first_use("H001", 3, 7), Some((0, 2)));
    }

    /// A KEY is found in the batch being formed only when its record's text is the
    /// value looked up: a hash shared with another value (a collision) reads as an
    /// earlier batch, which stops the stream (the split on disk then decides exactly).
    #[test]
    fn a_hash_is_confirmed_by_the_text() {
        let mut links = Links::default();
        let here = Used { input: 0, at: 7 };
        links.odk.insert(fnv("uuid:a"), here);
        links.odk_all.insert(fnv("uuid:a"), 3);
        let text = |u: Used| (u.at == 7).then_some("uuid:a");
        assert!(matches!(links.find(Via::Odk, "uuid:a", 3, text), Found::Here(Some(Used { at: 7, .. }))));
        // Another value under the same hash, as a collision would have it.
        links.odk.insert(fnv("uuid:b"), here);
        links.odk_all.insert(fnv("uuid:b"), 3);
        assert!(matches!(links.find(Via::Odk, "uuid:b", 3, text), Found::Earlier));
        assert!(matches!(links.find(Via::Odk, "uuid:c", 3, text), Found::Nowhere));
        assert!(matches!(links.find(Via::Kobo, "uuid:a", 3, text), Found::Nowhere));
        // Used in an earlier batch.
        links.end_batch();
        assert!(matches!(links.find(Via::Odk, "uuid:a", 4, text), Found::Earlier));
        assert!(matches!(links.find(Via::Odk, "uuid:c", 4, text), Found::Nowhere));
    }
}
