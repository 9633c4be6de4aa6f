//! `endline ingest --append`: a batch added to a wave already ingested.
//!
//! The records already accepted are checked again with the new batch, as if both had come
//! in one export: a key the new batch repeats is a duplicate, a roster row finds its
//! household accepted earlier (and the household's answers, for the row's relevance and
//! constraints), a household's roster is counted over every batch. To do that, each table
//! the wave holds is written back, by [`Prior::open`], into scratch files in the form of
//! an export (one per source file, so that every record keeps its `_source_file` and
//! `_source_row`), which ingest reads first, before the new batch. Nothing of the earlier
//! batches is lost:
//!
//! - their rejected records stay in `rejects/` (the new rejects are added after them),
//!   with their issues in `issues.csv`;
//! - `ingest.json` counts every record of every batch (`rows_in = rows_written +
//!   rows_rejected` still holds) and lists the batches with their inputs and counts;
//! - personal data come back from the PII side tables, and a personal key from its clear
//!   copy there (the pseudonym secret must be the one the wave was ingested with).
//!
//! Only a wave ingested with the same survey version can take a batch: a changed
//! questionnaire means the whole wave is ingested again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use endline_survey::{QuestionType, Survey};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::corrections::{Applied, Correction, Corrections};
use crate::error::IngestError;
use crate::ingest::Input;
use crate::model::{Issue, Severity, TableCounts};
use crate::pii::Pseudonyms;
use crate::write::CLEAR_KEY;

/// One batch of a wave, as `ingest.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// 1 for the first ingest, 2 for the first batch appended, ...
    pub batch: usize,
    /// Its input files, as named on the command line.
    pub inputs: Vec<String>,
    /// Its counts, per table.
    pub tables: BTreeMap<String, BatchCounts>,
    /// The corrections file applied with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrections: Option<String>,
    /// How many corrections it applied (see `corrections.csv`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub corrected: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The columns of `corrections.csv`, the audit trail of every correction applied.
pub const AUDIT: [&str; 9] = ["batch", "table", "key", "column", "old_value", "new_value", "reason", "file", "line"];

/// What became of one batch's records of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchCounts {
    /// Records the batch brought.
    pub records: usize,
    /// Of them, written to the table.
    pub written: usize,
    /// Of them, rejected.
    pub rejected: usize,
    /// Records accepted in an earlier batch that this batch's checks reject (a roster
    /// that now has more rows than its count allows, say): moved to the rejects.
    pub earlier_rejected: usize,
}

/// What `ingest.json` says of an earlier ingest, as far as appending needs it.
#[derive(Debug, Deserialize)]
struct Earlier {
    survey: String,
    version: String,
    wave: String,
    tables: BTreeMap<String, Counts>,
    #[serde(default)]
    batches: Vec<BatchSummary>,
}

#[derive(Debug, Deserialize)]
struct Counts {
    rows_in: usize,
    rows_written: usize,
    rows_rejected: usize,
}

/// A wave already ingested, ready to take a batch: its accepted records written back as
/// inputs ([`Prior::inputs`], read before the batch's), its counts and batches, and
/// where its rejects and issues are.
#[derive(Debug)]
pub struct Prior {
    dir: PathBuf,
    scratch: PathBuf,
    inputs: Vec<Input>,
    /// Every record written back: (table, source file, source row).
    rechecked: HashSet<(String, String, usize)>,
    counts: BTreeMap<String, TableCounts>,
    batches: Vec<BatchSummary>,
    /// The corrections given, each with whether a record took it.
    corrections: Vec<(Correction, bool)>,
    corrections_file: Option<String>,
    problems: Vec<String>,
    applied: Vec<Applied>,
}

impl Drop for Prior {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Prior {
    /// Reads the wave ingested in `dir` (refused unless it is an ingest of `survey`'s
    /// id and version, for `wave`) and writes its accepted records back, as exports,
    /// into a scratch folder beside it (removed when the `Prior` is dropped).
    ///
    /// `corrections` are applied to the records written back (see [`crate::corrections`]):
    /// all of them, or none (each problem at its line).
    pub fn open(
        dir: &Path,
        survey: &Survey,
        wave: &str,
        pseudonyms: Option<&Pseudonyms>,
        corrections: Option<&Corrections>,
    ) -> Result<Prior, IngestError> {
        let summary_path = dir.join("ingest.json");
        let text = std::fs::read_to_string(&summary_path).map_err(|e| {
            IngestError::Usage(format!(
                "--append adds a batch to a wave already ingested, but {} is not one ({}: {e}); ingest the wave \
                 first, without --append",
                dir.display(),
                summary_path.display()
            ))
        })?;
        let earlier: Earlier = serde_json::from_str(&text)
            .map_err(|e| IngestError::Io(format!("cannot read {}: {e}", summary_path.display())))?;
        let refuse = |what: &str, was: &str, now: &str| {
            Err(IngestError::Usage(format!(
                "{} holds {what} `{was}`, not `{now}`: a batch is appended only to the same wave of the same survey \
                 version (after a questionnaire change, ingest the whole wave again)",
                dir.display()
            )))
        };
        if earlier.survey != survey.id() {
            return refuse("survey", &earlier.survey, survey.id());
        }
        if earlier.version != survey.version() {
            return refuse("survey version", &earlier.version, survey.version());
        }
        if earlier.wave != wave {
            return refuse("wave", &earlier.wave, wave);
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let scratch = parent.join(format!(".{name}.append-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)
            .map_err(|e| IngestError::Io(format!("cannot create {}: {e}", scratch.display())))?;
        let counts = earlier
            .tables
            .iter()
            .map(|(t, c)| {
                (
                    t.clone(),
                    TableCounts { rows_in: c.rows_in, rows_written: c.rows_written, rows_rejected: c.rows_rejected },
                )
            })
            .collect::<BTreeMap<_, _>>();
        // An ingest from before batches were listed was one batch.
        let batches = if earlier.batches.is_empty() {
            let tables = counts
                .iter()
                .map(|(t, c)| {
                    let b = BatchCounts {
                        records: c.rows_in,
                        written: c.rows_written,
                        rejected: c.rows_rejected,
                        earlier_rejected: 0,
                    };
                    (t.clone(), b)
                })
                .collect();
            vec![BatchSummary { batch: 1, inputs: Vec::new(), tables, corrections: None, corrected: 0 }]
        } else {
            earlier.batches
        };
        let mut prior = Prior {
            dir: dir.to_path_buf(),
            scratch,
            inputs: Vec::new(),
            rechecked: HashSet::new(),
            counts,
            batches,
            corrections: corrections.map(|c| c.list.iter().map(|c| (c.clone(), false)).collect()).unwrap_or_default(),
            corrections_file: corrections.map(|c| c.file.clone()),
            problems: Vec::new(),
            applied: Vec::new(),
        };
        let mut clear_keys: HashMap<String, String> = HashMap::new();
        for (ti, table) in survey.tables().iter().enumerate() {
            let Some(path) = crate::hive::table_path(dir, table.name) else {
                continue;
            };
            let main = read(&path)?;
            let pii_path = crate::hive::table_path(dir, &format!("{}.pii", table.name))
                .unwrap_or_else(|| dir.join(format!("{}.pii.parquet", table.name)));
            let personal = pii_path.exists().then(|| read(&pii_path)).transpose()?;
            let needs_personal = table.columns.iter().any(|i| i.is_pii()) || (ti == 0 && survey.key_is_pii());
            if needs_personal && personal.is_none() {
                return Err(IngestError::Usage(format!(
                    "{} has no {}: the wave's personal data were not kept, and appending would lose them; ingest the \
                     whole wave again",
                    dir.display(),
                    pii_path.display()
                )));
            }
            let frame = Frame::join(&main, personal.as_ref(), &path)?;
            // The key was pseudonymised (a personal key, or any key when a secret was
            // given): its clear copy is in the side table.
            if ti == 0 && frame.columns.contains_key(CLEAR_KEY) {
                frame.clear_keys(survey.key(), pseudonyms, &mut clear_keys, &pii_path)?;
            }
            prior.write_back(survey, table, ti == 0, &frame, &clear_keys)?;
        }
        let file = prior.corrections_file.clone().unwrap_or_default();
        for (c, taken) in &prior.corrections {
            if !taken {
                prior.problems.push(format!("{file}:{}: no record of wave {wave} has the key `{}`", c.line, c.key));
            }
        }
        if !prior.problems.is_empty() {
            prior.problems.sort_by_key(|p| {
                p.strip_prefix(&format!("{file}:"))
                    .and_then(|r| r.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            });
            return Err(IngestError::Corrections(std::mem::take(&mut prior.problems)));
        }
        Ok(prior)
    }

    /// Applies the corrections whose key is a record of `table` to its written-back
    /// cells (`header` names `columns`).
    fn correct(
        &mut self,
        table: &endline_survey::Table<'_>,
        top: bool,
        survey: &Survey,
        header: &[String],
        columns: &mut [Vec<Option<String>>],
    ) {
        if self.corrections.is_empty() {
            return;
        }
        let file = self.corrections_file.clone().unwrap_or_default();
        let col = |name: &str| header.iter().position(|h| h == name);
        // The columns that name a record: the survey key (top level) and the record's own KEY.
        let keys: Vec<usize> = [top.then(|| col(survey.key())).flatten(), col("KEY"), col("meta-instanceID")]
            .into_iter()
            .flatten()
            .collect();
        let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
        for &k in &keys {
            for (r, v) in columns[k].iter().enumerate() {
                if let Some(v) = v {
                    let rows = index.entry(v.as_str()).or_default();
                    if !rows.contains(&r) {
                        rows.push(r);
                    }
                }
            }
        }
        let mut edits: Vec<(usize, usize, Option<String>)> = Vec::new();
        for (c, taken) in &mut self.corrections {
            let Some(rows) = index.get(c.key.as_str()) else { continue };
            *taken = true;
            let at = format!("{file}:{}", c.line);
            let [r] = rows[..] else {
                self.problems.push(format!(
                    "{at}: {} records of `{}` have the key `{}`",
                    rows.len(),
                    table.name,
                    c.key
                ));
                continue;
            };
            let item = table.columns.iter().find(|i| i.name() == c.column);
            let Some(item) = item else {
                self.problems.push(format!(
                    "{at}: `{}` is not a question of table `{}`, where the record `{}` is",
                    c.column, table.name, c.key
                ));
                continue;
            };
            if item.question_type() == QuestionType::Calculate {
                self.problems
                    .push(format!("{at}: `{}` is a calculation: correct the answers it is computed from", c.column));
                continue;
            }
            if top && item.name() == survey.key() {
                self.problems
                    .push(format!("{at}: `{}` is the survey key, which a correction does not change", c.column));
                continue;
            }
            let Some(ci) = col(item.name()) else { continue };
            let now = columns[ci][r].as_deref();
            if !crate::corrections::holds(now, &c.old) {
                let shown = if item.is_pii() {
                    "another value (personal data: not shown)".to_string()
                } else {
                    format!("`{}`", now.unwrap_or_default())
                };
                self.problems.push(format!(
                    "{at}: `{}` of `{}` holds {shown}, not the old value `{}` the correction names: refused (was it \
                     corrected or answered again since?)",
                    c.column,
                    c.key,
                    if item.is_pii() { "…" } else { c.old.as_str() }
                ));
                continue;
            }
            edits.push((ci, r, Some(c.new.clone()).filter(|v| !v.trim().is_empty())));
            self.applied.push(Applied {
                correction: c.clone(),
                table: table.name.to_string(),
                personal: item.is_pii(),
            });
        }
        for (ci, r, v) in edits {
            columns[ci][r] = v;
        }
    }

    /// Writes the audit trail into `staging`: the earlier batches' `corrections.csv`
    /// (and `corrections.pii.csv`) with this batch's corrections after them. A personal
    /// column's values are only in the `.pii.csv`.
    pub(crate) fn write_audit(&self, staging: &Path, batch: usize) -> Result<(), IngestError> {
        let personal = self.applied.iter().any(|a| a.personal);
        for (name, redact) in [("corrections.csv", true), ("corrections.pii.csv", false)] {
            let earlier = self.dir.join(name);
            if self.applied.is_empty() && !earlier.exists() || !redact && !personal && !earlier.exists() {
                continue;
            }
            let path = staging.join(name);
            let err = |e: csv::Error| IngestError::Io(format!("cannot write {}: {e}", path.display()));
            let mut w = csv::Writer::from_path(&path).map_err(err)?;
            w.write_record(AUDIT).map_err(err)?;
            if earlier.exists() {
                let mut r = csv::Reader::from_path(&earlier).map_err(err)?;
                for rec in r.records() {
                    w.write_record(&rec.map_err(err)?).map_err(err)?;
                }
            }
            for a in &self.applied {
                let c = &a.correction;
                let value = |v: &str| {
                    let v = if redact && a.personal { "(personal data)" } else { v };
                    endline_output::csv_cell::neutralize(v).into_owned()
                };
                let file = self.corrections_file.clone().unwrap_or_default();
                let cells = [
                    batch.to_string(),
                    a.table.clone(),
                    c.key.clone(),
                    c.column.clone(),
                    value(&c.old),
                    value(&c.new),
                    endline_output::csv_cell::neutralize(&c.reason).into_owned(),
                    file,
                    c.line.to_string(),
                ];
                w.write_record(&cells).map_err(err)?;
            }
            w.flush().map_err(|e| IngestError::Io(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// How many corrections this batch applies, and from which file.
    pub(crate) fn corrected(&self) -> (usize, Option<&str>) {
        (self.applied.len(), self.corrections_file.as_deref())
    }

    /// The accepted records of the wave, as inputs to ingest before the new batch's.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The wave's counts before this batch, per table.
    pub(crate) fn counts(&self, table: &str) -> TableCounts {
        self.counts.get(table).copied().unwrap_or_default()
    }

    /// The wave's batches so far.
    pub(crate) fn batches(&self) -> &[BatchSummary] {
        &self.batches
    }

    /// Writes one table's records back into scratch exports, one per source file.
    fn write_back(
        &mut self,
        survey: &Survey,
        table: &endline_survey::Table<'_>,
        top: bool,
        frame: &Frame,
        clear_keys: &HashMap<String, String>,
    ) -> Result<(), IngestError> {
        let n = frame.height;
        let sources = frame.texts("_source_file")?.unwrap_or_else(|| vec![None; n]);
        let rows = frame.texts("_source_row")?.unwrap_or_else(|| vec![None; n]);
        // The columns of the export: metadata and links as stored, every answer (not the
        // calculations, which ingest computes again) with its missing code put back.
        let mut header: Vec<String> = vec!["_source_row".into()];
        let mut columns: Vec<Vec<Option<String>>> = vec![rows.clone()];
        let items: HashSet<&str> = table.columns.iter().map(|i| i.name()).collect();
        for name in &frame.names {
            let derived = name.strip_suffix("_missing").is_some_and(|q| items.contains(q))
                || name.strip_suffix("_utc_offset_min").is_some_and(|q| items.contains(q));
            let own = matches!(name.as_str(), "_wave" | "_survey_version" | "_source_file" | "_source_row" | "_valid")
                || name == "_issues"
                || name == CLEAR_KEY;
            if derived || own || items.contains(name.as_str()) {
                continue;
            }
            let mut texts = frame.texts(name)?.unwrap_or_else(|| vec![None; n]);
            if !top && name == survey.key() && !clear_keys.is_empty() {
                // A roster's copy of a personal key: its pseudonym, back to the key.
                for t in texts.iter_mut().flatten() {
                    if let Some(k) = clear_keys.get(t.as_str()) {
                        *t = k.clone();
                    }
                }
            }
            header.push(name.clone());
            columns.push(texts);
        }
        for item in &table.columns {
            if item.question_type() == QuestionType::Calculate {
                continue;
            }
            let name = item.name();
            let mut texts = match item.question_type() {
                QuestionType::DateTime => frame.datetimes(name)?,
                _ => frame.texts(name)?.unwrap_or_else(|| vec![None; n]),
            };
            if top && name == survey.key() && frame.columns.contains_key(CLEAR_KEY) {
                texts = frame.texts(CLEAR_KEY)?.unwrap_or_else(|| vec![None; n]);
            }
            if let Some(codes) = frame.texts(&format!("{name}_missing"))? {
                for (t, code) in texts.iter_mut().zip(codes) {
                    let value = code.and_then(|c| survey.missing_code(&c).map(|m| m.value().as_text()));
                    if t.is_none() && value.is_some() {
                        *t = value;
                    }
                }
            }
            header.push(name.to_string());
            columns.push(texts);
        }
        self.correct(table, top, survey, &header, &mut columns);
        // One export per source file, its records in their order.
        let mut files: Vec<(String, Vec<usize>)> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for (r, s) in sources.iter().enumerate() {
            let s = s.clone().unwrap_or_default();
            let f = *at.entry(s.clone()).or_insert_with(|| {
                files.push((s.clone(), Vec::new()));
                files.len() - 1
            });
            files[f].1.push(r);
        }
        for (source, records) in files {
            let path = self.scratch.join(format!("{}-{}.csv", table.name, self.inputs.len()));
            let mut w = csv::Writer::from_path(&path)
                .map_err(|e| IngestError::Io(format!("cannot write {}: {e}", path.display())))?;
            let write_err = |e: csv::Error| IngestError::Io(format!("cannot write {}: {e}", path.display()));
            w.write_record(&header).map_err(write_err)?;
            for &r in &records {
                w.write_record(columns.iter().map(|c| c[r].as_deref().unwrap_or_default())).map_err(write_err)?;
                let row = rows[r].as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
                self.rechecked.insert((table.name.to_string(), source.clone(), row));
            }
            w.flush().map_err(|e| IngestError::Io(format!("cannot write {}: {e}", path.display())))?;
            self.inputs.push(Input { table: Some(table.name.to_string()), path, display: source });
        }
        Ok(())
    }

    /// The earlier batches' issues that checking the accepted records again does not
    /// find again: those of files (unknown and missing columns) and of rejected records.
    pub(crate) fn carried_issues(&self) -> Result<Vec<Issue>, IngestError> {
        let path = self.dir.join("issues.csv");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let mut reader =
            csv::Reader::from_path(&path).map_err(|e| IngestError::Io(format!("{}: {e}", path.display())))?;
        let mut out = Vec::new();
        for record in reader.records() {
            let r = record.map_err(|e| IngestError::Io(format!("cannot read {}: {e}", path.display())))?;
            let cell = |i: usize| endline_output::csv_cell::restore(r.get(i).unwrap_or_default()).to_string();
            let row: usize = cell(2).parse().unwrap_or(0);
            let (table, file) = (cell(0), cell(1));
            if row > 0 && self.rechecked.contains(&(table.clone(), file.clone(), row)) {
                continue;
            }
            let severity = if cell(6) == "error" { Severity::Error } else { Severity::Warning };
            let opt = |s: String| Some(s).filter(|s| !s.is_empty());
            out.push(Issue {
                table,
                file,
                row,
                key: opt(cell(3)),
                column: cell(4),
                rule: cell(5),
                severity,
                value: opt(cell(7)),
                message: cell(8),
            });
        }
        Ok(out)
    }

    /// Puts the earlier batches' rejects of each table before this batch's in
    /// `staging/rejects` (the union of both files' columns).
    pub(crate) fn merge_rejects(&self, staging: &Path) -> Result<(), IngestError> {
        let earlier = self.dir.join("rejects");
        let Ok(entries) = std::fs::read_dir(&earlier) else { return Ok(()) };
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let old = earlier.join(&name);
            let new = staging.join("rejects").join(&name);
            merge_csv(&old, &new)?;
        }
        Ok(())
    }
}

/// Writes `new` as `old`'s rows then its own, under the union of their headers (old's
/// columns first; endline's own `_` columns last, in old's order).
fn merge_csv(old: &Path, new: &Path) -> Result<(), IngestError> {
    let read = |p: &Path| -> Result<(Vec<String>, Vec<csv::StringRecord>), IngestError> {
        if !p.exists() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut r = csv::ReaderBuilder::new().flexible(true).from_path(p).map_err(io_csv(p))?;
        let header = r.headers().map_err(io_csv(p))?.iter().map(str::to_string).collect();
        let rows = r.records().collect::<Result<Vec<_>, _>>().map_err(io_csv(p))?;
        Ok((header, rows))
    };
    let (h_old, r_old) = read(old)?;
    let (h_new, r_new) = read(new)?;
    let own = crate::rejects::OWN;
    let mut header: Vec<String> = Vec::new();
    for h in h_old.iter().chain(&h_new) {
        if !own.contains(&h.as_str()) && !header.contains(h) {
            header.push(h.clone());
        }
    }
    header.extend(own.iter().map(|s| s.to_string()));
    if let Some(dir) = new.parent() {
        std::fs::create_dir_all(dir).map_err(|e| IngestError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = new.with_extension("csv.merging");
    let mut w = csv::Writer::from_path(&tmp).map_err(io_csv(&tmp))?;
    w.write_record(&header).map_err(io_csv(&tmp))?;
    for (h, rows) in [(&h_old, &r_old), (&h_new, &r_new)] {
        let at: Vec<Option<usize>> = header.iter().map(|c| h.iter().position(|x| x == c)).collect();
        for r in rows {
            w.write_record(at.iter().map(|i| i.and_then(|i| r.get(i)).unwrap_or_default())).map_err(io_csv(&tmp))?;
        }
    }
    w.flush().map_err(|e| IngestError::Io(format!("cannot write {}: {e}", tmp.display())))?;
    drop(w);
    std::fs::rename(&tmp, new).map_err(|e| IngestError::Io(format!("cannot write {}: {e}", new.display())))
}

fn io_csv(p: &Path) -> impl Fn(csv::Error) -> IngestError + '_ {
    move |e| IngestError::Io(format!("cannot use {}: {e}", p.display()))
}

/// A table of the wave: a file, or a partitioned table's directory.
fn read(path: &Path) -> Result<DataFrame, IngestError> {
    crate::hive::read(path).map_err(IngestError::Io)
}

/// A table's main file with its PII side table's columns beside it (row for row: they are
/// written together).
struct Frame {
    names: Vec<String>,
    columns: HashMap<String, Series>,
    height: usize,
}

impl Frame {
    fn join(main: &DataFrame, personal: Option<&DataFrame>, path: &Path) -> Result<Frame, IngestError> {
        let mut frame = Frame { names: Vec::new(), columns: HashMap::new(), height: main.height() };
        for c in main.columns() {
            frame.names.push(c.name().to_string());
            frame.columns.insert(c.name().to_string(), c.as_materialized_series().clone());
        }
        if let Some(p) = personal {
            let same = p.height() == main.height()
                && ["_source_file", "_source_row"].iter().all(|c| match (main.column(c), p.column(c)) {
                    (Ok(a), Ok(b)) => a.as_materialized_series().equals_missing(b.as_materialized_series()),
                    _ => false,
                });
            if !same {
                return Err(IngestError::Io(format!(
                    "{} and its PII side table do not hold the same records, row for row: the wave was changed \
                     outside endline; ingest it again",
                    path.display()
                )));
            }
            for c in p.columns() {
                let name = c.name().to_string();
                if !frame.columns.contains_key(&name) {
                    frame.names.push(name.clone());
                    frame.columns.insert(name, c.as_materialized_series().clone());
                }
            }
        }
        Ok(frame)
    }

    /// Column `name` as the text an export would hold (`None` when there is no such column).
    fn texts(&self, name: &str) -> Result<Option<Vec<Option<String>>>, IngestError> {
        let Some(s) = self.columns.get(name) else { return Ok(None) };
        texts(s).map(Some).map_err(|e| IngestError::Io(format!("cannot read column {name}: {e}")))
    }

    /// A timestamp column with its UTC offset, as RFC 3339 text.
    fn datetimes(&self, name: &str) -> Result<Vec<Option<String>>, IngestError> {
        let err = |e: PolarsError| IngestError::Io(format!("cannot read column {name}: {e}"));
        let Some(s) = self.columns.get(name) else { return Ok(vec![None; self.height]) };
        let micros = s
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .and_then(|s| s.cast(&DataType::Int64))
            .map_err(err)?;
        let offsets = match self.columns.get(&format!("{name}_utc_offset_min")) {
            Some(o) => o.cast(&DataType::Int64).map_err(err)?,
            None => Series::full_null("".into(), self.height, &DataType::Int64),
        };
        let (micros, offsets) = (micros.i64().map_err(err)?, offsets.i64().map_err(err)?);
        Ok(micros
            .iter()
            .zip(offsets.iter())
            .map(|(m, o)| {
                let offset = FixedOffset::east_opt(o.unwrap_or(0) as i32 * 60)?;
                let t = DateTime::from_timestamp_micros(m?)?.with_timezone(&offset);
                Some(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
            })
            .collect())
    }

    /// Fills `keys` with each pseudonym's clear key, after checking that `pseudonyms`
    /// (the secret given) made them.
    fn clear_keys(
        &self,
        key: &str,
        pseudonyms: Option<&Pseudonyms>,
        keys: &mut HashMap<String, String>,
        pii_path: &Path,
    ) -> Result<(), IngestError> {
        let shown = self.texts(key)?.unwrap_or_default();
        let clear = self.texts(CLEAR_KEY)?.ok_or_else(|| {
            IngestError::Io(format!("{} has no `{CLEAR_KEY}` column: ingest the wave again", pii_path.display()))
        })?;
        let Some(pseudonyms) = pseudonyms else {
            return Err(IngestError::Usage(
                "this wave's keys are pseudonyms: give the --pii-secret it was ingested with".into(),
            ));
        };
        for (s, c) in shown.into_iter().zip(clear) {
            if let (Some(s), Some(c)) = (s, c) {
                if pseudonyms.of(&c) != s {
                    return Err(IngestError::Usage(
                        "--pii-secret is not the secret this wave was ingested with (its pseudonyms differ): give \
                         the same file, or every household of the wave would change pseudonym"
                            .into(),
                    ));
                }
                keys.insert(s, c);
            }
        }
        Ok(())
    }
}

/// A column's values as an export's cells: numbers as Rust prints them (the shortest text
/// that reads back the same), dates as ISO 8601, a point as `lat lon alt acc`, a list as
/// its items separated by spaces.
fn texts(s: &Series) -> PolarsResult<Vec<Option<String>>> {
    Ok(match s.dtype() {
        DataType::String => s.str()?.iter().map(|v| v.map(str::to_string)).collect(),
        DataType::Boolean => s.bool()?.iter().map(|v| v.map(|b| if b { "1" } else { "0" }.to_string())).collect(),
        DataType::Float32 | DataType::Float64 => {
            s.cast(&DataType::Float64)?.f64()?.iter().map(|v| v.map(|f| f.to_string())).collect()
        }
        DataType::Date => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            s.cast(&DataType::Int32)?
                .i32()?
                .iter()
                .map(|d| d.map(|d| (epoch + chrono::Duration::days(i64::from(d))).format("%Y-%m-%d").to_string()))
                .collect()
        }
        DataType::Struct(_) => {
            let parts = s.struct_()?.fields_as_series();
            let parts = parts.iter().map(texts).collect::<PolarsResult<Vec<_>>>()?;
            let valid = s.is_not_null();
            (0..s.len())
                .map(|r| {
                    valid.get(r).unwrap_or(false).then(|| {
                        let cells: Vec<&str> = parts.iter().map_while(|p| p[r].as_deref()).collect();
                        cells.join(" ")
                    })
                })
                .collect()
        }
        DataType::List(_) => {
            let lists = s.list()?;
            (0..lists.len())
                .map(|i| {
                    Ok(match lists.get_as_series(i) {
                        Some(items) => Some(texts(&items)?.into_iter().flatten().collect::<Vec<_>>().join(" ")),
                        None => None,
                    })
                })
                .collect::<PolarsResult<_>>()?
        }
        dt if dt.is_integer() => s.cast(&DataType::Int64)?.i64()?.iter().map(|v| v.map(|i| i.to_string())).collect(),
        _ => s.cast(&DataType::String)?.str()?.iter().map(|v| v.map(str::to_string)).collect(),
    })
}
