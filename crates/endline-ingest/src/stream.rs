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

use crate::error::IngestError;
use crate::hash::FnvMap;
use crate::ingest::{Layout, Via, key_of};
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

/// The link values of a table's records and the batch of their first use: KEY,
/// `_index`, and (top level) the survey key, with the row that first used it.
#[derive(Default)]
struct Links {
    odk: FnvMap<Box<str>, usize>,
    kobo: FnvMap<Box<str>, usize>,
    key: FnvMap<Box<str>, (usize, usize)>,
}

impl Links {
    fn get(&self, via: Via, v: &str) -> Option<usize> {
        match via {
            Via::Odk => self.odk.get(v),
            Via::Kobo => self.kobo.get(v),
            Via::Key => return self.key.get(v).map(|(b, _)| *b),
        }
        .copied()
    }
}

/// Forms batches of about `batch_bytes` of top-level records (and the roster rows that
/// follow them) and hands each to `emit` with the keys it shares with earlier batches
/// (false: stop).
pub(crate) fn stream(
    layout: &Layout<'_>,
    sources: Vec<Records>,
    batch_bytes: u64,
    emit: &dyn Fn(Batch) -> bool,
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
        let mut batch = vec![Cells::default(); inputs];
        let mut earlier = FnvMap::default();
        // Top-level records, about `batch_bytes` of them.
        let mut bytes = 0u64;
        while bytes < batch_bytes {
            let Some((i, fi, rec)) = streams[0].peek()? else { break };
            if let Some(k) = key_of(layout, 0, fi, rec) {
                match seen[0].key.get(&*k) {
                    Some(&(b, row)) if b != batch_no => {
                        earlier.insert(Box::from(&*k), row);
                    }
                    Some(_) => {}
                    None => {
                        seen[0].key.insert(k.into(), (batch_no, rec.row));
                    }
                }
            }
            if let Some(why) = register(layout, &mut seen[0], 0, fi, rec, batch_no, has_kids[0]) {
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
            // Roster rows of one parent come together: the last link found is tried first.
            let mut last_link: Option<(Via, String, usize)> = None;
            while let Some((i, fi, rec)) = streams[ti].peek()? {
                // The batch of its parent as one batch would link it: by the first link
                // written while more parents may come; by the first that finds a parent at
                // the end. None: wait for a later batch; Some(None): no parent anywhere.
                let links = tables[ti].files[fi].links.parents(|c| rec.cell(c), pi == 0);
                let mut written = links.iter().flatten();
                let parent_batch = match written.next() {
                    None => Some(None),
                    Some((via, v)) if !last && last_link.as_ref().is_some_and(|(w, l, _)| w == via && l == v) => {
                        last_link.as_ref().map(|(_, _, b)| Some(*b))
                    }
                    Some((via, v)) if !last => {
                        let found = seen[pi].get(*via, v);
                        if let Some(b) = found {
                            last_link = Some((*via, v.to_string(), b));
                        }
                        found.map(Some)
                    }
                    Some(first) => {
                        Some(std::iter::once(first).chain(written).find_map(|(via, v)| seen[pi].get(*via, v)))
                    }
                };
                match parent_batch {
                    None => break,
                    Some(Some(b)) if b < batch_no => {
                        return Ok(Streamed::Unordered(format!(
                            "a row of `{}` comes after rows of later records",
                            tables[ti].name
                        )));
                    }
                    Some(_) => {}
                }
                if let Some(why) = register(layout, &mut seen[ti], ti, fi, rec, batch_no, has_kids[ti]) {
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
        if !emit(Batch { records: batch, earlier, read }) {
            return Ok(Streamed::Stopped);
        }
        batch_no += 1;
    }
}

/// Notes in which batch a record's KEY and `_index` went (for tables with rosters); one
/// already used in an earlier batch means the export is not in submission order.
fn register(
    layout: &Layout<'_>,
    seen: &mut Links,
    ti: usize,
    fi: usize,
    rec: &RawRecord,
    batch_no: usize,
    has_kids: bool,
) -> Option<String> {
    let l = layout.tables()[ti].files[fi].links;
    let meta = |c: Option<usize>| c.and_then(|c| rec.cell(c));
    let note = |map: &mut FnvMap<Box<str>, usize>, v: &str, what: &str| match map.get(v) {
        Some(&b) if b != batch_no => Some(format!("{what} `{v}` is used again in a later part of the file")),
        Some(_) => None,
        None => {
            map.insert(v.into(), batch_no);
            None
        }
    };
    if has_kids {
        if let Some(v) = meta(l.key)
            && let Some(why) = note(&mut seen.odk, v, "KEY")
        {
            return Some(why);
        }
        if let Some(v) = meta(l.index)
            && let Some(why) = note(&mut seen.kobo, v, "_index")
        {
            return Some(why);
        }
    }
    None
}
