//! The paths this process is assembling (staging folders, temporary files) and the lock
//! files it holds, so that an interrupted run removes them: [`cleanup`] is what the
//! CLI's signal handler calls.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A registered path: a lock file goes only once what it guards is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// A staging folder or temporary file.
    Staged,
    /// A lock file.
    Lock,
}

/// This process's registered paths, and a flag set once [`cleanup`] has begun (after
/// which nothing may be committed).
type Registry = (Vec<(PathBuf, Held)>, bool);

static STAGED: Mutex<Registry> = Mutex::new((Vec::new(), false));

fn staged() -> MutexGuard<'static, Registry> {
    STAGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn register(p: &Path, held: Held) {
    staged().0.push((p.to_path_buf(), held));
}

pub(crate) fn unregister(p: &Path) {
    staged().0.retain(|(q, _)| q != p);
}

/// Runs `commit` (the renames that publish an output) unless an interruption's
/// [`cleanup`] has begun, with `p` unregistered: a signal arriving during the renames waits
/// for them, so an output is never left half moved. Returns `None` when interrupted.
pub(crate) fn commit<T>(p: &Path, commit: impl FnOnce() -> T) -> Option<T> {
    let mut s = staged();
    if s.1 {
        return None;
    }
    s.0.retain(|(q, _)| q != p);
    Some(commit())
}

/// Removes every staging folder and temporary file this process has registered, and
/// makes any later commit fail. For an interrupted process, just before it exits.
pub fn cleanup() {
    let mut s = staged();
    s.1 = true;
    // Staging before locks: a lock file goes only once what it guards is gone.
    let (locks, staged): (Vec<_>, Vec<_>) = s.0.drain(..).partition(|(_, held)| *held == Held::Lock);
    for (p, _) in staged.into_iter().chain(locks) {
        // A folder still being written to can gain a file between the listing and the
        // removal: try a few times.
        for _ in 0..5 {
            let gone = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            if gone.is_ok() || !p.exists() {
                break;
            }
        }
    }
}
