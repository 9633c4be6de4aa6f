//! Every issue of an ingest, in bounded memory: streamed to `issues.csv`, with counts and
//! the first [`REPORTED`] in `ingest.json`.
//!
//! A file whose every record is bad has several issues a record: kept in memory and
//! written whole into `ingest.json`, a 13.6 MB CSV made a 220 MB report. Here each
//! batch's issues are sorted into a run file as the batch is written; `finish` merges
//! the runs into `issues.csv` (file-level issues first, then by table, file, row, column
//! and rule), so the file is the same however the input was batched. Only the counts and
//! the first issues stay in memory.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use endline_output::csv_cell::neutralize;

use crate::model::{Issue, IssueCount, Severity, report_order};

/// How many issues `ingest.json` lists (all of them are in `issues.csv`).
pub const REPORTED: usize = 1000;

/// An issue ordered as the report orders them.
struct Ranked(Issue);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        report_order(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        report_order(&self.0, &other.0)
    }
}

/// The issues of an ingest as its batches are written.
pub(crate) struct IssueLog {
    dir: PathBuf,
    runs: Vec<PathBuf>,
    /// The first [`REPORTED`] records' issues so far (a max-heap: the last one on top).
    first: BinaryHeap<Ranked>,
    counts: BTreeMap<(String, String, String, Severity), usize>,
    total: usize,
}

/// What `finish` hands to `ingest.json`.
pub(crate) struct Logged {
    /// The first [`REPORTED`] issues in report order, file-level ones first.
    pub first: Vec<Issue>,
    /// Counts by table, column, rule and severity.
    pub counts: Vec<IssueCount>,
    /// How many issues there are in all.
    pub total: usize,
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> std::io::Error + '_ {
    move |e| std::io::Error::new(e.kind(), format!("{}: {e}", what.display()))
}

impl IssueLog {
    /// A log whose run files go in `dir` (a scratch folder of the output's staging).
    pub(crate) fn new(dir: PathBuf) -> Self {
        IssueLog { dir, runs: Vec::new(), first: BinaryHeap::new(), counts: BTreeMap::new(), total: 0 }
    }

    /// Takes one batch's issues.
    pub(crate) fn add(&mut self, mut batch: Vec<Issue>) -> std::io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        batch.sort_by(report_order);
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(self.runs.len().to_string());
        let mut w = BufWriter::new(File::create(&path).map_err(io(&path))?);
        for i in &batch {
            let run: Run<'_> = (
                &i.table,
                &i.file,
                i.row,
                i.key.as_deref(),
                &i.column,
                &i.rule,
                i.severity.as_str(),
                i.value.as_deref(),
                &i.message,
            );
            serde_json::to_writer(&mut w, &run)?;
            w.write_all(b"\n")?;
        }
        w.flush().map_err(io(&path))?;
        self.runs.push(path);
        self.total += batch.len();
        for i in batch {
            *self.counts.entry((i.table.clone(), i.column.clone(), i.rule.clone(), i.severity)).or_default() += 1;
            if self.first.len() < REPORTED {
                self.first.push(Ranked(i));
            } else if self.first.peek().is_some_and(|last| report_order(&i, &last.0) == Ordering::Less) {
                self.first.pop();
                self.first.push(Ranked(i));
            }
        }
        Ok(())
    }

    /// Writes `issues.csv` at `csv` (`file_issues` first, then every record's issue in
    /// report order), removes the runs, and returns what `ingest.json` shows.
    pub(crate) fn finish(&mut self, file_issues: &[Issue], csv: &Path) -> std::io::Result<Logged> {
        let mut w = BufWriter::new(File::create(csv).map_err(io(csv))?);
        let header = ["table", "file", "row", "key", "column", "rule", "severity", "value", "message"];
        write_row(&mut w, header.iter().map(|h| h.to_string()))?;
        for i in file_issues {
            write_row(&mut w, fields(i).into_iter())?;
        }
        // A k-way merge of the sorted runs.
        let runs = std::mem::take(&mut self.runs);
        let mut readers = Vec::with_capacity(runs.len());
        for p in &runs {
            readers.push(BufReader::new(File::open(p).map_err(io(p))?).lines());
        }
        let mut heads: BinaryHeap<std::cmp::Reverse<(Ranked, usize)>> = BinaryHeap::new();
        let next = |readers: &mut Vec<std::io::Lines<BufReader<File>>>, r: usize| -> std::io::Result<Option<Issue>> {
            match readers[r].next() {
                Some(line) => parse(&line?).map(Some),
                None => Ok(None),
            }
        };
        for r in 0..readers.len() {
            if let Some(i) = next(&mut readers, r)? {
                heads.push(std::cmp::Reverse((Ranked(i), r)));
            }
        }
        while let Some(std::cmp::Reverse((Ranked(i), r))) = heads.pop() {
            write_row(&mut w, fields(&i).into_iter())?;
            if let Some(i) = next(&mut readers, r)? {
                heads.push(std::cmp::Reverse((Ranked(i), r)));
            }
        }
        w.flush().map_err(io(csv))?;
        let _ = std::fs::remove_dir_all(&self.dir);
        let mut first: Vec<Issue> = file_issues.iter().take(REPORTED).cloned().collect();
        let mut records: Vec<Issue> = std::mem::take(&mut self.first).into_vec().into_iter().map(|r| r.0).collect();
        records.sort_by(report_order);
        first.extend(records.into_iter().take(REPORTED - first.len()));
        let mut counts: BTreeMap<(String, String, String, Severity), usize> = std::mem::take(&mut self.counts);
        for i in file_issues {
            *counts.entry((i.table.clone(), i.column.clone(), i.rule.clone(), i.severity)).or_default() += 1;
        }
        let counts = counts
            .into_iter()
            .map(|((table, column, rule, severity), count)| IssueCount { table, column, rule, severity, count })
            .collect();
        Ok(Logged { first, counts, total: std::mem::take(&mut self.total) + file_issues.len() })
    }
}

/// An issue's fields as text, in `issues.csv`'s column order.
fn fields(i: &Issue) -> [String; 9] {
    [
        i.table.clone(),
        i.file.clone(),
        i.row.to_string(),
        i.key.clone().unwrap_or_default(),
        i.column.clone(),
        i.rule.clone(),
        i.severity.as_str().to_string(),
        i.value.clone().unwrap_or_default(),
        i.message.clone(),
    ]
}

/// An issue as a line of a run file: a JSON array of its fields.
type Run<'a> = (&'a str, &'a str, usize, Option<&'a str>, &'a str, &'a str, &'a str, Option<&'a str>, &'a str);

/// An issue back from a line of a run file.
fn parse(line: &str) -> std::io::Result<Issue> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a scratch file of issues is damaged");
    type Owned = (String, String, usize, Option<String>, String, String, String, Option<String>, String);
    let (table, file, row, key, column, rule, severity, value, message): Owned =
        serde_json::from_str(line).map_err(|_| bad())?;
    let severity = match severity.as_str() {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => return Err(bad()),
    };
    Ok(Issue { table, file, row, key, column, rule, severity, value, message })
}

fn write_row(w: &mut impl Write, cells: impl Iterator<Item = String>) -> std::io::Result<()> {
    let mut line = String::new();
    for (k, c) in cells.enumerate() {
        if k > 0 {
            line.push(',');
        }
        let c = neutralize(&c);
        if c.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&c.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(&c);
        }
    }
    line.push('\n');
    w.write_all(line.as_bytes())
}
