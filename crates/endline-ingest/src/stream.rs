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
use crate::hash::{FnvMap, HashedMap, HashedSet, fnv};
use crate::ingest::{FileData, Layout, Via, key_of};
use crate::read::{Cells, CellsSize, RawRecord, Records};

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
/// formed with their record (a small map, looked up by roster rows) and those of earlier
/// batches (a large set, looked up when the small map has no answer); and (top level) the
/// survey key as written, with its batch and the row that first used it.
///
/// The large tables of the whole input are probed at random, each probe a cache miss. A
/// batch's values are therefore looked up in them when the batch is formed, in one loop
/// ([`Links::end_batch`], [`KeyUses::settle`]), where the misses overlap, not one at a
/// time between the reading of records.
///
/// A hash is confirmed against the record's text only within the batch being formed; a
/// value whose hash was used in an earlier batch stops the stream. A hash collision can
/// then only stop a stream that could have gone on, never put a record in the wrong
/// batch: the split on disk decides exactly.
#[derive(Default)]
struct Links {
    odk: HashedMap<Used>,
    kobo: HashedMap<Used>,
    /// The KEY and `_index` hashes of earlier batches.
    odk_all: HashedSet,
    kobo_all: HashedSet,
    /// The batch being formed's KEY and `_index` hashes, in the order first used.
    odk_new: Vec<u64>,
    kobo_new: Vec<u64>,
    key: KeyUses,
}

/// Every survey key of the earlier batches, with the batch and row that first used it:
/// the keys' texts one after another in one string, looked up by their 64-bit hash (no
/// allocation per key, and a probe reads no text unless the hashes agree). A key whose
/// hash an earlier, different key already has (a collision) is kept by its text apart.
/// The batch being formed's keys wait in `new` until [`KeyUses::settle`].
#[derive(Default)]
struct KeyUses {
    text: String,
    /// Each key's place in `uses`, by hash (a small entry: the table is probed at random).
    by_hash: HashedMap<u32>,
    uses: Vec<KeyUse>,
    collided: FnvMap<Box<str>, (usize, usize)>,
    /// The batch being formed's keys, in record order.
    new: NewKeys,
}

/// The survey keys of the batch being formed: their texts one after another, each key's
/// hash, place in the text and row, and the first key of each hash (for roster rows that
/// look their household up by the survey key, [`Via::Key`]).
#[derive(Default)]
struct NewKeys {
    text: String,
    keys: Vec<(u64, usize, usize)>,
    by_hash: HashedMap<u32>,
}

impl NewKeys {
    fn text_of(&self, i: usize) -> Option<&str> {
        let &(_, start, _) = self.keys.get(i)?;
        let end = self.keys.get(i + 1).map_or(self.text.len(), |&(_, next, _)| next);
        self.text.get(start..end)
    }

    /// Whether `k` is a key of the batch being formed.
    fn has(&self, k: &str) -> bool {
        match self.by_hash.get(&fnv(k)) {
            None => false,
            Some(&i) if self.text_of(i as usize) == Some(k) => true,
            // Another key of the batch has its hash (a collision): read them all.
            Some(_) => (0..self.keys.len()).any(|i| self.text_of(i) == Some(k)),
        }
    }
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
    /// Notes a survey key of the batch being formed, and the row that has it.
    fn note(&mut self, k: &str, row: usize) {
        let h = fnv(k);
        let NewKeys { text, keys, by_hash } = &mut self.new;
        by_hash.entry(h).or_insert(keys.len() as u32);
        keys.push((h, text.len(), row));
        text.push_str(k);
    }

    /// Looks the batch being formed's keys up among the earlier batches', in record order,
    /// then makes them earlier keys: each key first used in an earlier batch goes into
    /// `earlier` with the row that first used it.
    fn settle(&mut self, batch: usize, earlier: &mut FnvMap<Box<str>, usize>) {
        // Taken out while the input's keys grow, then put back emptied (its memory kept).
        let mut new = std::mem::take(&mut self.new);
        for (i, &(h, _, row)) in new.keys.iter().enumerate() {
            let Some(k) = new.text_of(i) else { continue };
            if let Some((first, first_row)) = self.first_use(h, k, batch, row)
                && first != batch
            {
                earlier.insert(k.into(), first_row);
            }
        }
        new.text.clear();
        new.keys.clear();
        new.by_hash.clear();
        self.new = new;
    }

    /// Where `k` (whose hash is `h`) was first used: (batch, row); `None` when it is new,
    /// and then (`batch`, `row`) is noted as its first use.
    fn first_use(&mut self, h: u64, k: &str, batch: usize, row: usize) -> Option<(usize, usize)> {
        let KeyUses { text, by_hash, uses, collided, .. } = self;
        match by_hash.entry(h) {
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

    /// The earlier batch that first used `k`.
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
    fn find<'t>(&self, via: Via, v: &str, text_at: impl FnOnce(Used) -> Option<&'t str>) -> Found {
        let (here, all) = match via {
            Via::Odk => (&self.odk, &self.odk_all),
            Via::Kobo => (&self.kobo, &self.kobo_all),
            // A key of an earlier batch is the earlier household's, even if this batch
            // has it again (the split on disk decides).
            Via::Key if self.key.batch_of(v).is_some() => return Found::Earlier,
            Via::Key if self.key.new.has(v) => return Found::Here(None),
            Via::Key => return Found::Nowhere,
        };
        let h = fnv(v);
        match here.get(&h) {
            Some(&u) if text_at(u) == Some(v) => Found::Here(Some(u)),
            Some(_) => Found::Earlier,
            None if all.contains(&h) => Found::Earlier,
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

    /// Ends the batch being formed: its KEY and `_index` values join the earlier
    /// batches', in one loop each. A value an earlier batch used (or its hash) is
    /// returned with where this batch first used it: the export is not in submission
    /// order.
    fn end_batch(&mut self) -> Option<(Via, Used)> {
        let mut again = None;
        let tables = [
            (Via::Odk, &mut self.odk, &mut self.odk_new, &mut self.odk_all),
            (Via::Kobo, &mut self.kobo, &mut self.kobo_new, &mut self.kobo_all),
        ];
        for (via, here, new, all) in tables {
            for &h in new.iter() {
                if !all.insert(h) && again.is_none() {
                    again = here.get(&h).map(|&u| (via, u));
                }
            }
            new.clear();
            here.clear();
        }
        again
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
    // The last batch's size: when no emptied cells are back, new ones are made as large.
    let mut room = vec![CellsSize::default(); inputs];
    loop {
        let mut batch = spare()
            .filter(|s| s.len() == inputs)
            .unwrap_or_else(|| room.iter().map(|&size| Cells::with_room(size)).collect());
        let mut earlier = FnvMap::default();
        // Top-level records, about `batch_bytes` of them.
        let mut bytes = 0u64;
        while bytes < batch_bytes {
            let Some((i, fi, rec)) = streams[0].peek()? else { break };
            if let Some(k) = key_of(layout, 0, fi, rec) {
                seen[0].key.note(&k, rec.row);
            }
            register(layout, &mut seen[0], (0, fi, i), rec, batch[i].len(), has_kids[0]);
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
                let find = |via: Via, v: &str| seen[pi].find(via, v, |u| link_text(layout, &batch, pi, via, u));
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
                register(layout, &mut seen[ti], (ti, fi, i), rec, batch[i].len(), has_kids[ti]);
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
        // The batch's link values against the earlier batches', each table in one loop.
        seen[0].key.settle(batch_no, &mut earlier);
        for (ti, links) in seen.iter_mut().enumerate() {
            if let Some((via, u)) = links.end_batch() {
                let what = if via == Via::Kobo { "_index" } else { "KEY" };
                let v = link_text(layout, &batch, ti, via, u).unwrap_or_default();
                return Ok(Streamed::Unordered(format!("{what} `{v}` is used again in a later part of the file")));
            }
        }
        room = batch.iter().map(Cells::size).collect();
        if !emit(Batch { records: batch, earlier, read }) {
            return Ok(Streamed::Stopped);
        }
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

/// Notes where in the batch being formed a record's KEY and `_index` were first used
/// (for tables with rosters; whether an earlier batch used them is asked when the batch
/// ends). `place` is the record's table, file of the table and input; `at` its index
/// among the input's records of the batch.
fn register(
    layout: &Layout<'_>,
    seen: &mut Links,
    (ti, fi, input): (usize, usize, usize),
    rec: &RawRecord,
    at: usize,
    has_kids: bool,
) {
    if !has_kids {
        return;
    }
    let l = layout.tables()[ti].files[fi].links;
    let note = |here: &mut HashedMap<Used>, new: &mut Vec<u64>, v: &str| {
        let h = fnv(v);
        if let Entry::Vacant(e) = here.entry(h) {
            e.insert(Used { input, at });
            new.push(h);
        }
    };
    if let Some(v) = l.key.and_then(|c| rec.cell(c)) {
        note(&mut seen.odk, &mut seen.odk_new, v);
    }
    if let Some(v) = l.index.and_then(|c| rec.cell(c)) {
        note(&mut seen.kobo, &mut seen.kobo_new, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A survey key's first use is kept by its text, also when another key has its hash;
    /// a batch's keys are looked up when it ends.
    #[test]
    fn survey_keys_are_told_apart_by_their_text() {
        let mut keys = KeyUses::default();
        let mut earlier = FnvMap::default();
        keys.note("H001", 2);
        keys.note("H002", 3);
        keys.note("H001", 4);
        assert_eq!(keys.batch_of("H001"), None, "not before the batch ends");
        assert!(keys.new.has("H002") && !keys.new.has("H003"));
        keys.settle(0, &mut earlier);
        assert!(earlier.is_empty(), "a key used twice in one batch is that batch's");
        assert_eq!(keys.batch_of("H002"), Some(0));
        assert!(!keys.new.has("H002"));
        keys.note("H003", 10);
        keys.note("H001", 9);
        keys.settle(1, &mut earlier);
        assert_eq!(earlier, FnvMap::from_iter([(Box::from("H001"), 2)]));
        assert_eq!(keys.batch_of("H003"), Some(1));
        // A different key under H001's hash, as a collision would have it.
        let h = fnv("H001");
        let stored = keys.by_hash[&h];
        keys.by_hash.insert(fnv("X"), stored);
        assert_eq!(keys.batch_of("X"), None, "the text decides, not the hash");
        assert_eq!(keys.first_use(fnv("X"), "X", 2, 5), None);
        assert_eq!(keys.first_use(fnv("X"), "X", 3, 6), Some((2, 5)));
        assert_eq!(keys.batch_of("X"), Some(2));
        assert_eq!(keys.first_use(h, "H001", 3, 7), Some((0, 2)));
    }

    /// A KEY is found in the batch being formed only when its record's text is the
    /// value looked up: a hash shared with another value (a collision) reads as an
    /// earlier batch, which stops the stream (the split on disk then decides exactly).
    #[test]
    fn a_hash_is_confirmed_by_the_text() {
        let mut links = Links::default();
        let note = |links: &mut Links, v: &str, at: usize| {
            links.odk.insert(fnv(v), Used { input: 0, at });
            links.odk_new.push(fnv(v));
        };
        note(&mut links, "uuid:a", 7);
        let text = |u: Used| (u.at == 7).then_some("uuid:a");
        assert!(matches!(links.find(Via::Odk, "uuid:a", text), Found::Here(Some(Used { at: 7, .. }))));
        // Another value under the same hash, as a collision would have it.
        links.odk.insert(fnv("uuid:b"), Used { input: 0, at: 7 });
        assert!(matches!(links.find(Via::Odk, "uuid:b", text), Found::Earlier));
        assert!(matches!(links.find(Via::Odk, "uuid:c", text), Found::Nowhere));
        assert!(matches!(links.find(Via::Kobo, "uuid:a", text), Found::Nowhere));
        assert!(links.end_batch().is_none());
        // Used in an earlier batch.
        assert!(matches!(links.find(Via::Odk, "uuid:a", text), Found::Earlier));
        assert!(matches!(links.find(Via::Odk, "uuid:c", text), Found::Nowhere));
        // Used again in a later batch: where this batch first used it.
        note(&mut links, "uuid:c", 1);
        note(&mut links, "uuid:a", 2);
        assert!(matches!(links.end_batch(), Some((Via::Odk, Used { at: 2, .. }))));
    }

    /// A roster row looking its household up by the survey key finds it in the batch
    /// being formed, or in an earlier batch (also when this batch has it again).
    #[test]
    fn survey_keys_are_found_where_they_were_first_used() {
        let mut links = Links::default();
        let nothing = |_: Used| None;
        links.key.note("H1", 1);
        assert!(matches!(links.find(Via::Key, "H1", nothing), Found::Here(None)));
        assert!(matches!(links.find(Via::Key, "H2", nothing), Found::Nowhere));
        links.key.settle(0, &mut FnvMap::default());
        links.key.note("H1", 5);
        links.key.note("H2", 6);
        assert!(matches!(links.find(Via::Key, "H1", nothing), Found::Earlier));
        assert!(matches!(links.find(Via::Key, "H2", nothing), Found::Here(None)));
        // A key whose hash another key of the batch has, as a collision would have it.
        links.key.note("H3", 7);
        links.key.new.by_hash.insert(fnv("H3"), 0);
        links.key.new.by_hash.insert(fnv("H4"), 0);
        assert!(links.key.new.has("H3") && !links.key.new.has("H4"));
    }
}
