//! `rejects/<table>.csv` (and `rejects/<table>.pii.csv`): every rejected record, as
//! written, with its reasons, so that it can be fixed and ingested again. The added
//! columns start with `_`, which ingest reads as its own; formula-like cells are
//! neutralised, and ingest restores them on the way back in.
//!
//! A table with personal columns gets two files: `<table>.csv` without them (for review,
//! and shareable) and `<table>.pii.csv` with the records whole (to fix and ingest again),
//! unless personal data are not written at all (`endline run`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use endline_output::csv_cell::neutralize;

use crate::error::IngestError;
use crate::ingest::TableData;
use crate::model::{Issue, Severity};

type Csv = csv::Writer<BufWriter<File>>;

/// The columns endline adds to a rejected record.
pub(crate) const OWN: [&str; 4] = ["_source_file", "_source_row", "_rules", "_reasons"];

/// One table's rejects files, opened when its first record is rejected.
pub(crate) struct Rejects {
    shared: Option<Csv>,
    whole: Option<Csv>,
    /// Every column of the table's files, in order of appearance.
    header: Vec<String>,
    /// Which of them hold personal data (in any file that has them).
    personal: Vec<bool>,
    /// For each of the table's files, where each of `header`'s columns is in it.
    header_at: Vec<Vec<Option<usize>>>,
}

impl Rejects {
    /// The rejects of table `t`, whose files are all known.
    pub(crate) fn new(t: &TableData<'_>) -> Self {
        // Looked up by hash: a file may have 100,000 columns.
        let mut header: Vec<String> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for f in &t.files {
            // endline's own columns (of a rejects file ingested again, or of an earlier
            // batch's records) are written afresh, at the end.
            for c in f.columns.iter().filter(|c| !crate::ingest::OWN_COLUMNS.contains(&c.as_str())) {
                at.entry(c.as_str()).or_insert_with(|| {
                    header.push(c.clone());
                    header.len() - 1
                });
            }
        }
        let header_at: Vec<Vec<Option<usize>>> = t
            .files
            .iter()
            .map(|f| {
                let mut positions = vec![None; header.len()];
                for (i, c) in f.columns.iter().enumerate().rev() {
                    if let Some(&h) = at.get(c.as_str()) {
                        positions[h] = Some(i);
                    }
                }
                positions
            })
            .collect();
        let personal = (0..header.len())
            .map(|h| header_at.iter().enumerate().any(|(f, at)| at[h].is_some_and(|c| t.is_pii_file_column(f, c))))
            .collect();
        Rejects { shared: None, whole: None, header, personal, header_at }
    }

    /// Appends rows `rejected` of `t` to the files in `dir` (`write_personal`: whether the
    /// `.pii.csv` is written).
    pub(crate) fn write(
        &mut self,
        t: &TableData<'_>,
        rejected: &[usize],
        dir: &Path,
        write_personal: bool,
    ) -> Result<(), IngestError> {
        std::fs::create_dir_all(dir).map_err(|e| IngestError::Io(format!("cannot write {}: {e}", dir.display())))?;
        let redacted = self.personal.iter().any(|p| *p);
        let kept: Vec<usize> = (0..self.header.len()).filter(|&h| !(redacted && self.personal[h])).collect();
        if self.shared.is_none() {
            let mut w = open(dir, &format!("{}.csv", t.name))?;
            let names = kept.iter().map(|&h| neutralize(&self.header[h]));
            put_row(&mut w, names.chain(OWN.map(Cow::Borrowed))).map_err(csv_err(dir))?;
            self.shared = Some(w);
        }
        if redacted && write_personal && self.whole.is_none() {
            let mut w = open(dir, &format!("{}.pii.csv", t.name))?;
            let names = self.header.iter().map(|h| neutralize(h));
            put_row(&mut w, names.chain(OWN.map(Cow::Borrowed))).map_err(csv_err(dir))?;
            self.whole = Some(w);
        }
        for &r in rejected {
            let row = &t.rows[r];
            let at = &self.header_at[row.file];
            let cell = |h: usize| neutralize(at[h].and_then(|i| t.cell(row, i)).unwrap_or_default());
            let errors: Vec<&Issue> = row.issues().iter().filter(|i| i.severity == Severity::Error).collect();
            let rules = errors.iter().map(|i| i.rule.as_str()).collect::<Vec<_>>().join(";");
            let reasons = errors.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join("; ");
            let source_row = row.row.to_string();
            let added = [t.files[row.file].display.as_str(), &source_row, &rules, &reasons].map(neutralize);
            if let Some(w) = &mut self.whole {
                put_row(w, (0..self.header.len()).map(cell).chain(added.clone())).map_err(csv_err(dir))?;
            }
            if let Some(w) = &mut self.shared {
                put_row(w, kept.iter().map(|&h| cell(h)).chain(added)).map_err(csv_err(dir))?;
            }
        }
        Ok(())
    }

    /// Flushes the files written in `dir`.
    pub(crate) fn finish(&mut self, dir: &Path) -> Result<(), IngestError> {
        for w in [self.shared.take(), self.whole.take()].into_iter().flatten() {
            let mut w = w;
            w.flush().map_err(|e| IngestError::Io(format!("cannot write rejects in {}: {e}", dir.display())))?;
        }
        Ok(())
    }

    /// Closes the files (before the staging folder is moved or removed).
    pub(crate) fn close(&mut self) {
        self.shared = None;
        self.whole = None;
    }
}

fn open(dir: &Path, name: &str) -> Result<Csv, IngestError> {
    let path = dir.join(name);
    let file = File::create(&path).map_err(|e| IngestError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(csv::Writer::from_writer(BufWriter::new(file)))
}

/// Writes one CSV record from its cells.
fn put_row<'c>(w: &mut Csv, cells: impl Iterator<Item = Cow<'c, str>>) -> csv::Result<()> {
    for c in cells {
        w.write_field(c.as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

fn csv_err(dir: &Path) -> impl Fn(csv::Error) -> IngestError + '_ {
    move |e| IngestError::Io(format!("cannot write rejects in {}: {e}", dir.display()))
}
