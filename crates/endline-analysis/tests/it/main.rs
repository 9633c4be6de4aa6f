//! Integration tests of the analysis crate: reference cases from peer tools, edge cases.

mod did;
mod did_stream;
mod edge;
mod feols_stream;
mod helpers;
mod honest;
mod own;
mod reference;

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// The crate's test data.
pub fn data_dir() -> PathBuf {
    Path::new(&manifest_dir()).join("tests/data")
}

/// Reads a CSV fixture (empty fields are missing).
pub fn read_csv(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|r| r.finish())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `|got - want| <= rtol * scale`.
pub fn close(got: f64, want: f64, scale: f64, rtol: f64) -> bool {
    (got - want).abs() <= rtol * scale.abs().max(f64::MIN_POSITIVE)
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}
