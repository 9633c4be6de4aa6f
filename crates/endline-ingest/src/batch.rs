//! Ingest with memory bounded by the batch size, not by the input's.
//!
//! Every rule is decided within one submission (its top-level record and its roster
//! rows: a repeat's count, a calculation over roster rows, a roster row whose parent was
//! rejected) or among records sharing a key (duplicates). Inputs larger than
//! [`Options::batch_bytes`] are therefore checked in batches of whole submissions. When
//! the export is in submission order, batches are formed as the files are read
//! ([`crate::stream`]). Otherwise the input is split on disk first ([`Spill`]): each
//! record is routed to one of N scratch files by a hash of its submission's key, roster
//! rows following their parent record (by ODK Central's PARENT_KEY, KoboToolbox's
//! _parent_index or the survey key, as linking does); only the keys of records that have
//! roster rows are held across the whole input.
//!
//! A streamed run writes rows in file order; a split one, batch by batch (in file order
//! within each). Nothing else differs from checking everything in one batch.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use endline_output::{Kind, OutDir};
use endline_survey::Survey;

use crate::error::IngestError;
use crate::hash::{FnvMap, fnv};
use crate::ingest::{Ingested, Input, Layout, Options, Typed, Via, key_of, read_all};
use crate::model::OnError;
use crate::read::{self, Cells, RawRecord, Records};
use crate::stream::{Batch, Streamed, stream};
use crate::write::{Report, Writer};

/// At most this many batches (files open at once while splitting): beyond
/// `MAX_BATCHES × batch_bytes`, batches grow.
const MAX_BATCHES: u64 = 512;

/// Reads, checks and writes `inputs` into `out` (see [`Writer`]); with `--on-error fail`
/// and any error, writes nothing and returns [`IngestError::Rejected`].
///
/// Inputs up to [`Options::batch_bytes`] are checked in one batch. Larger ones are read
/// as they come when the export is in submission order (see `stream`), else split
/// on disk first; either way one thread forms batches, a second checks them and the
/// main thread writes them ([`Writer::add`]: each table as a task on rayon's pool).
pub fn ingest_to(survey: &Survey, inputs: &[Input], opts: &Options, out: &Path) -> Result<Report, IngestError> {
    let paths: Vec<&Path> = inputs.iter().map(|i| i.path.as_path()).collect();
    ingest_into(survey, inputs, opts, OutDir::claim(out, Kind::Ingest, None, &paths)?)
}

/// [`ingest_to`] into an output already claimed (the caller names every input of the
/// run, such as the survey, when it claims it).
///
/// With [`Options::prior`] (`--append`), the wave's accepted records are read first, as
/// inputs of their own, and checked again with the batch ([`crate::append`]).
pub fn ingest_into(survey: &Survey, inputs: &[Input], opts: &Options, out: OutDir) -> Result<Report, IngestError> {
    let with_prior: Vec<Input>;
    let inputs = match &opts.prior {
        Some(prior) => {
            with_prior = prior.inputs().iter().chain(inputs).cloned().collect();
            &with_prior[..]
        }
        None => inputs,
    };
    let (layout, sources) = Layout::new(survey, inputs, opts)?;
    let sizes: Vec<u64> = inputs.iter().map(|i| std::fs::metadata(&i.path).map_or(0, |m| m.len())).collect();
    let total: u64 = sizes.iter().sum();
    let mut writer = Writer::create(survey, layout.tables(), opts, out)?;
    let mut errors = 0;
    if total <= opts.batch_bytes {
        let records = read_all(sources, opts)?;
        opts.report("checking records", 0, 1);
        errors += write(&layout.check(records), &mut writer, opts)?;
    } else {
        // A batch's top-level records take their share of the batch, the rest is rosters.
        let top: u64 = sizes.iter().enumerate().filter(|(i, _)| layout.place(*i).0 == 0).map(|(_, s)| s).sum();
        let top_bytes = (opts.batch_bytes as u128 * top as u128 / total.max(1) as u128).max(1) as u64;
        let streamed = pipeline(&layout, opts, total, &mut writer, &mut errors, |emit, spare| {
            stream(&layout, sources, (top_bytes, top), emit, spare)
        })?;
        if let Streamed::Unordered(why) = streamed {
            // Start again, splitting the input by submission on disk.
            opts.report(&format!("not in submission order ({why}): splitting the input"), 0, 1);
            writer = writer.restart(layout.tables())?;
            errors = 0;
            let sources = inputs
                .iter()
                .map(|i| read::open(&i.path, &i.display, opts.encoding.as_deref()))
                .collect::<Result<Vec<_>, _>>()?;
            let parts = total.div_ceil(opts.batch_bytes.max(1)).clamp(2, MAX_BATCHES) as usize;
            let spill = Spill::route(&layout, sources, parts, total, &writer.scratch("spill"), opts)?;
            pipeline(&layout, opts, total, &mut writer, &mut errors, |emit, _| {
                for p in 0..parts {
                    let read = total * (p as u64 + 1) / parts as u64;
                    if !emit(Batch { records: spill.read(p)?, read, ..Batch::default() }) {
                        break;
                    }
                }
                Ok(())
            })?;
            spill.remove();
        }
    }
    opts.report("checked", 1, 1);
    if opts.on_error == OnError::Fail && errors > 0 {
        return Err(IngestError::Rejected(errors));
    }
    writer.finish(layout.file_issues())
}

/// Writes a checked batch (unless `--on-error fail`, which writes nothing); returns its
/// number of records with errors.
fn write(data: &Ingested<'_>, writer: &mut Writer<'_>, opts: &Options) -> Result<usize, IngestError> {
    if opts.on_error == OnError::Fail { Ok(data.records_with_errors()) } else { writer.add(data) }
}

/// Runs `produce` on one thread (it hands batches to `emit`, which returns false once
/// nobody takes them), checks its batches on a second, and writes them on this one,
/// reporting progress in bytes of the input (`total`). A written batch's large vectors
/// go back to be filled again (`produce`'s second argument gives cells, if any are back),
/// so that the batches' memory is allocated once rather than for every batch.
fn pipeline<T: Send>(
    layout: &Layout<'_>,
    opts: &Options,
    total: u64,
    writer: &mut Writer<'_>,
    errors: &mut usize,
    produce: impl FnOnce(&dyn Fn(Batch) -> bool, &dyn Fn() -> Option<Vec<Cells>>) -> Result<T, IngestError> + Send,
) -> Result<T, IngestError> {
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Batch>(1);
        let (checked_tx, checked_rx) = std::sync::mpsc::sync_channel(1);
        let (cells_tx, cells_rx) = std::sync::mpsc::sync_channel::<Vec<Cells>>(2);
        let (typed_tx, typed_rx) = std::sync::mpsc::sync_channel::<Vec<Typed>>(2);
        let producer = std::thread::Builder::new()
            .name("ingest-read".into())
            .spawn_scoped(scope, move || produce(&|batch| raw_tx.send(batch).is_ok(), &|| cells_rx.try_recv().ok()))
            .map_err(|e| IngestError::Io(format!("cannot start a thread: {e}")))?;
        std::thread::Builder::new()
            .name("ingest-check".into())
            // It evaluates every expression of the survey.
            .stack_size(endline_survey::expr::STACK_BYTES)
            .spawn_scoped(scope, move || {
                for batch in raw_rx {
                    let data = layout.check_after(batch.records, &batch.earlier, typed_rx.try_recv().ok());
                    if checked_tx.send((data, batch.read)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| IngestError::Io(format!("cannot start a thread: {e}")))?;
        for (k, (data, read)) in checked_rx.into_iter().enumerate() {
            *errors += write(&data, writer, opts)?;
            opts.report(&format!("checked batch {}", k + 1), read.min(total) as usize, total as usize);
            // Nobody waits for these: when the channels are full, they are dropped.
            let spare = data.into_spare(layout);
            let _ = cells_tx.try_send(spare.cells);
            let _ = typed_tx.try_send(spare.typed);
        }
        producer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Records split into batches on disk: one file per batch, of records each written as its
/// input's index, its row number, its cells' lengths and its cells' bytes.
struct Spill {
    dir: PathBuf,
    inputs: usize,
}

fn spill_err(path: &Path) -> impl Fn(std::io::Error) -> IngestError + '_ {
    move |e| IngestError::Io(format!("cannot use scratch file {}: {e}", path.display()))
}

/// Appends a record of input `input` to a spill file.
fn put(w: &mut impl Write, input: usize, rec: &RawRecord) -> std::io::Result<()> {
    w.write_all(&(input as u32).to_le_bytes())?;
    w.write_all(&(rec.row as u64).to_le_bytes())?;
    w.write_all(&(rec.len() as u32).to_le_bytes())?;
    for c in rec.cells() {
        w.write_all(&(c.len() as u32).to_le_bytes())?;
    }
    for c in rec.cells() {
        w.write_all(c.as_bytes())?;
    }
    Ok(())
}

/// Reads back the records of a spill file, per input.
fn take(bytes: &[u8], inputs: usize) -> Option<Vec<Cells>> {
    fn word<const N: usize>(bytes: &[u8], at: &mut usize) -> Option<[u8; N]> {
        let w = bytes.get(*at..*at + N)?.try_into().ok()?;
        *at += N;
        Some(w)
    }
    let mut records = vec![Cells::default(); inputs];
    let mut lens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let input = u32::from_le_bytes(word(bytes, &mut at)?) as usize;
        let row = u64::from_le_bytes(word(bytes, &mut at)?) as usize;
        let n = u32::from_le_bytes(word(bytes, &mut at)?) as usize;
        lens.clear();
        for _ in 0..n {
            lens.push(u32::from_le_bytes(word(bytes, &mut at)?) as usize);
        }
        let end = at + lens.iter().sum::<usize>();
        // The bytes were valid UTF-8 when they were written.
        let text = std::str::from_utf8(bytes.get(at..end)?).ok()?;
        let mut from = 0;
        let cells = lens.iter().map(|len| {
            let cell = text.get(from..from + len).unwrap_or_default();
            from += len;
            cell
        });
        records.get_mut(input)?.push_cells(row, cells);
        at = end;
    }
    Some(records)
}

impl Spill {
    fn path(&self, p: usize) -> PathBuf {
        self.dir.join(p.to_string())
    }

    /// Routes every record to its batch. Parents are routed before their roster rows.
    fn route(
        layout: &Layout<'_>,
        sources: Vec<Records>,
        parts: usize,
        total: u64,
        dir: &Path,
        opts: &Options,
    ) -> Result<Spill, IngestError> {
        let mut read = 0;
        std::fs::create_dir_all(dir).map_err(spill_err(dir))?;
        let spill = Spill { dir: dir.to_path_buf(), inputs: sources.len() };
        let tables = layout.tables();
        let batch = |h: u64| (h % parts as u64) as u32;
        // For each table with roster tables: where its records went, by KEY and by _index.
        let mut by_odk: Vec<FnvMap<Box<str>, u32>> = vec![FnvMap::default(); tables.len()];
        let mut by_kobo: Vec<FnvMap<Box<str>, u32>> = vec![FnvMap::default(); tables.len()];
        let mut order: Vec<(usize, Records)> = sources.into_iter().enumerate().collect();
        order.sort_by_key(|(i, _)| layout.place(*i).0);
        let mut writers = Vec::with_capacity(parts);
        for p in 0..parts {
            let path = spill.path(p);
            writers.push(BufWriter::with_capacity(1 << 16, File::create(&path).map_err(spill_err(&path))?));
        }
        let mut rec = RawRecord::default();
        for (i, mut source) in order {
            let (ti, fi) = layout.place(i);
            let t = &tables[ti];
            let file = &t.files[fi];
            let (own_key, own_index) = (file.links.key, file.links.index);
            let has_kids = tables.iter().any(|c| c.parent == Some(ti));
            while source.next_into(&mut rec)? {
                let before = read;
                read += rec.bytes();
                if read >> 23 != before >> 23 {
                    opts.report(
                        &format!("splitting the input into {parts} batches"),
                        read.min(total) as usize,
                        total as usize,
                    );
                }
                // Records that cannot be placed (no key, no parent) are spread by their own
                // KEY or _index (so that two with the same one meet), else by position.
                let spread = || {
                    let own = own_key.or(own_index).and_then(|c| rec.cell(c)).filter(|v| !v.is_empty());
                    batch(own.map_or_else(|| fnv(&format!("{i}:{}", rec.row)), fnv))
                };
                // A record whose own KEY or _index an earlier record used goes with that
                // record, so that the duplicate is found as it would be in one batch.
                let seen = || {
                    own_key
                        .and_then(|c| rec.cell(c))
                        .and_then(|v| by_odk[ti].get(v).copied())
                        .or_else(|| own_index.and_then(|c| rec.cell(c)).and_then(|v| by_kobo[ti].get(v).copied()))
                };
                let p = match t.parent {
                    None => {
                        seen().unwrap_or_else(|| key_of(layout, ti, fi, &rec).map_or_else(spread, |k| batch(fnv(&k))))
                    }
                    Some(pi) => file
                        .links
                        .parents(|c| rec.cell(c), pi == 0)
                        .iter()
                        .flatten()
                        .find_map(|&(via, v)| match via {
                            Via::Odk => by_odk[pi].get(v).copied(),
                            Via::Kobo => by_kobo[pi].get(v).copied(),
                            Via::Key => Some(batch(fnv(v))),
                        })
                        .unwrap_or_else(spread),
                };
                if has_kids {
                    if let Some(v) = own_key.and_then(|c| rec.cell(c)) {
                        by_odk[ti].entry(v.into()).or_insert(p);
                    }
                    if let Some(v) = own_index.and_then(|c| rec.cell(c)) {
                        by_kobo[ti].entry(v.into()).or_insert(p);
                    }
                }
                put(&mut writers[p as usize], i, &rec).map_err(spill_err(&spill.path(p as usize)))?;
            }
        }
        for (p, mut w) in writers.into_iter().enumerate() {
            w.flush().map_err(spill_err(&spill.path(p)))?;
        }
        Ok(spill)
    }

    /// Batch `p`'s records, per input; its file is removed once read.
    fn read(&self, p: usize) -> Result<Vec<Cells>, IngestError> {
        let path = self.path(p);
        let bytes = std::fs::read(&path).map_err(spill_err(&path))?;
        let _ = std::fs::remove_file(&path);
        take(&bytes, self.inputs).ok_or_else(|| IngestError::Io(format!("scratch file {} is damaged", path.display())))
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
