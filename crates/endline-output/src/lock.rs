//! A lock file beside a target, held with the operating system's advisory lock, so that it
//! is released however the process ends (even killed), and removed when released.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::{OutputError, registry};

/// A held lock on `path`; released, and its file removed, when dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    path: PathBuf,
    file: Option<File>,
}

impl Lock {
    /// Takes the lock at `path` for writing `target`, or says who holds it.
    pub(crate) fn take(path: &Path, target: &Path) -> Result<Lock, OutputError> {
        // A lock file removed by its previous holder between our open and our lock is a
        // different file from the one now at `path`: try again on the new one.
        for _ in 0..100 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(OutputError::io(format!("cannot create the lock file {}", path.display())))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(OutputError::Busy { target: target.to_path_buf(), lock: path.to_path_buf() });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(OutputError::Io { what: format!("cannot lock {}", path.display()), source: e });
                }
            }
            if same_file(&file, path) {
                registry::register(path, registry::Held::Lock);
                return Ok(Lock { path: path.to_path_buf(), file: Some(file) });
            }
        }
        Err(OutputError::Busy { target: target.to_path_buf(), lock: path.to_path_buf() })
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so no other process can hold a lock on this file
        // while it is still at `path`.
        let _ = std::fs::remove_file(&self.path);
        registry::unregister(&self.path);
        drop(self.file.take());
    }
}
