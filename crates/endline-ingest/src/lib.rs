//! Ingest collected survey responses: every record checked against a validated
//! [`Survey`](endline_survey::Survey), typed Parquet out, every rejected record kept with
//! its reasons, and counts that always reconcile.
//!
//! - [`read`]: bytes to records (CSV streamed; JSON Lines, JSON arrays; UTF-8 with or
//!   without BOM, or a legacy encoding such as GB18030).
//! - [`ingest`](ingest::ingest): the checks, with XLSForm's semantics, producing an
//!   [`ingest::Ingested`] (typed tables, rejects, [`Issue`]s, [`TableCounts`]).
//! - [`write`](mod@write): the outputs of `docs/cli.md`, written atomically.
//! - [`ingest_to`]: all three with memory bounded by a batch size (what the CLI runs).
//! - [`hive`]: hive-partitioned datasets, written (`--partition-by`) and read back.

pub mod append;
mod batch;
pub mod corrections;
mod csv_reader;
mod error;
pub mod harmonise;
mod hash;
pub mod hive;
pub mod ingest;
pub mod issues;
mod json_reader;
pub mod labels;
mod model;
mod nested;
pub mod pii;
pub mod read;
mod record_keys;
mod rejects;
mod rosters;
pub mod scan;
mod stream;
pub mod table;
pub mod write;

pub use batch::{ingest_into, ingest_to};
pub use error::IngestError;
pub use model::{Issue, IssueCount, OnError, Severity, TableCounts, too_many_rejected};
