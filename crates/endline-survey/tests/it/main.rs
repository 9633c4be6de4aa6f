//! Integration tests of the survey language: one binary, a module per concern.

mod eval;
mod fixtures;
mod fuzz;
mod props;

use std::path::{Path, PathBuf};

use endline_diag::{SourceFile, render_human};
use endline_survey::Validation;

/// The crate's test data folder.
pub fn data_dir() -> PathBuf {
    Path::new(&manifest_dir()).join("tests/data")
}

/// Validates `text` as if read from a file called `name`.
pub fn validate_text(name: &str, text: &str) -> (SourceFile, Validation) {
    let file = SourceFile::new(name, text);
    let v = endline_survey::validate(&file);
    (file, v)
}

/// Every diagnostic rendered as plain text, as the golden files hold them.
pub fn rendered(file: &SourceFile, v: &Validation) -> String {
    v.diagnostics.iter().map(|d| render_human(file, d, false)).collect::<Vec<_>>().join("\n")
}

/// The YAML files of a folder, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// The crate's directory, read when the tests run: cargo sets it for `cargo test`. The
/// compile-time `env!` would bake in the path of whichever checkout built the binary, and
/// a test binary reused from a shared target directory would then read another
/// checkout's fixtures.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}
