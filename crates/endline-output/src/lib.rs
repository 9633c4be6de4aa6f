//! Writing endline's outputs without ever destroying what endline did not write.
//!
//! Every command that writes a directory (`ingest`, `simulate`, `run`) goes through
//! [`OutDir`], and every command that writes one file (`codebook --out`, `panel --out`)
//! through [`write_file`]. The rules live here, once:
//!
//! - **endline replaces only its own output.** A directory endline writes carries a
//!   marker file ([`MARKER`]) naming its kind (and, for a study, the plan). `--out`
//!   replaces an existing directory only when it is empty or its marker says it is
//!   endline's output of the same kind; anything else is refused, naming what is there.
//! - **Outputs never replace an input of the same run**, a symbolic link or anything that
//!   is not a regular file or directory.
//! - **One writer at a time.** A lock beside the target ([`OutDir::claim`]) makes a second
//!   writer of the same target stop with a message; staging folders are per process.
//! - **Nothing half-written.** Outputs are assembled in a staging folder beside the
//!   target and moved into place whole ([`OutDir::commit`]). A staging folder is removed
//!   when its [`OutDir`] is dropped uncommitted (an error) and, through [`cleanup`], when
//!   the process is interrupted (the CLI calls it on SIGINT, SIGTERM and SIGHUP).
//!
//! [`csv_cell`] neutralises formula-like CSV cells (OWASP's rule), reversibly.
//!
//! **Invariant:** nothing here removes a path that this process did not create, except a
//! staging folder left by an earlier endline process that carries endline's marker and
//! whose target lock this process holds.

pub mod csv_cell;
mod dir;
mod file;
mod lock;
mod registry;

pub use dir::{Kind, MARKER, OutDir};
pub use file::write_file;
pub use registry::cleanup;

use std::path::PathBuf;

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The target holds something endline will not replace, or the request is unsafe
    /// (an input of the run, a link, a special file): a usage error, nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// Another endline process is writing the same target.
    #[error(
        "another endline process is writing {} (it holds {}); wait for it to finish, or give another --out",
        target.display(), lock.display()
    )]
    Busy {
        /// The output the other process is writing.
        target: PathBuf,
        /// The lock file it holds.
        lock: PathBuf,
    },
    /// The file system failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl OutputError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OutputError {
        let what = what.into();
        move |source| OutputError::Io { what, source }
    }
}

/// A path compared by what it names: canonical when it exists (links and `..` resolved),
/// else its canonical parent joined with its name.
pub(crate) fn resolved(p: &std::path::Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    match (std::fs::canonicalize(parent), p.file_name()) {
        (Ok(d), Some(n)) => d.join(n),
        _ => p.to_path_buf(),
    }
}
