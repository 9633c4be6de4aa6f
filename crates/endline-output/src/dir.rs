//! Output directories that endline owns: [`OutDir`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::lock::Lock;
use crate::{OutputError, registry, resolved};

/// The marker file in every directory endline writes.
pub const MARKER: &str = ".endline-output.json";

/// How many of a foreign directory's entries a refusal names.
const SHOWN: usize = 5;

/// What kind of output a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Kind {
    /// `endline ingest`: one wave's typed tables.
    Ingest,
    /// `endline simulate`: synthetic field exports.
    Simulation,
    /// `endline run`: a study's outputs.
    Study,
    /// `endline export`: tables for Stata, CSV or Parquet users.
    Export,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Ingest => "ingest output",
            Kind::Simulation => "simulation",
            Kind::Study => "study output",
            Kind::Export => "export",
        }
    }
}

/// The marker's content: what wrote the directory. No time, path or process id, so that
/// outputs stay byte-identical across runs.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    /// Always "endline".
    written_by: String,
    kind: Kind,
    /// For a study, the plan's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// A claim on an output directory: checked, locked, and staged beside it.
///
/// [`OutDir::claim`] checks that the target may be replaced, takes its lock and makes a
/// staging folder of this process beside it (holding the marker). Outputs are written
/// into [`OutDir::staging`]; [`OutDir::commit`] moves them into place whole. Dropped
/// uncommitted, the staging folder is removed and the target is as it was.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
    // Dropped last: the lock outlives the staging folder's removal.
    _lock: Lock,
}

impl OutDir {
    /// Claims `target` for an output of `kind` (with `id`, a study's plan id). `inputs`
    /// are the run's input files: none may lie inside the target.
    ///
    /// Refused: a target that is a link or not a directory; a non-empty directory without
    /// endline's marker, or with the marker of another kind or plan; a target holding an
    /// input; a target another endline process is writing ([`OutputError::Busy`]).
    pub fn claim(target: &Path, kind: Kind, id: Option<&str>, inputs: &[&Path]) -> Result<OutDir, OutputError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| {
                OutputError::Refused(format!("{} names no directory of its own; give a folder name", target.display()))
            })?;
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(OutputError::io(format!("cannot create {}", parent.display())))?;
        let lock = Lock::take(&parent.join(format!(".{name}.lock")), target)?;
        check_target(target, kind, id)?;
        let resolved_target = resolved(target);
        for input in inputs {
            if resolved(input).starts_with(&resolved_target) {
                return Err(OutputError::Refused(format!(
                    "{} holds {}, an input of this run: endline will not replace its own inputs; give another directory",
                    target.display(),
                    input.display()
                )));
            }
        }
        remove_stale_staging(parent, &name);
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        registry::register(&staging, registry::Held::Staged);
        let made = std::fs::create_dir(&staging)
            .map_err(OutputError::io(format!("cannot create {}", staging.display())))
            .and_then(|()| write_marker(&staging, kind, id));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&staging);
            registry::unregister(&staging);
            return Err(e);
        }
        Ok(OutDir { target: target.to_path_buf(), staging, committed: false, _lock: lock })
    }

    /// Where outputs are assembled (holds the marker).
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The directory the outputs go to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Empties the staging folder (all but the marker), to start the output again.
    pub fn clear(&self) -> Result<(), OutputError> {
        let entries = std::fs::read_dir(&self.staging)
            .map_err(OutputError::io(format!("cannot read {}", self.staging.display())))?;
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name() == MARKER {
                continue;
            }
            let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            gone.map_err(OutputError::io(format!("cannot remove {}", p.display())))?;
        }
        Ok(())
    }

    /// Moves the staged outputs into place, replacing the target's previous content (the
    /// old directory is moved aside first and put back if the move fails, so the target
    /// always holds either the old output or the new one, whole).
    pub fn commit(mut self) -> Result<(), OutputError> {
        let (staging, target) = (self.staging.clone(), self.target.clone());
        let moved = registry::commit(&staging, || replace_dir(&staging, &target));
        match moved {
            None => Err(OutputError::Refused(format!("interrupted: {} was not written", target.display()))),
            Some(Err(e)) => {
                registry::register(&staging, registry::Held::Staged);
                Err(e)
            }
            Some(Ok(())) => {
                self.committed = true;
                Ok(())
            }
        }
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            registry::unregister(&self.staging);
        }
    }
}

/// Refuses a target that endline may not replace with an output of `kind`.
fn check_target(target: &Path, kind: Kind, id: Option<&str>) -> Result<(), OutputError> {
    let shown = target.display();
    let meta = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(OutputError::Io { what: format!("cannot read {shown}"), source: e }),
    };
    if meta.file_type().is_symlink() {
        return Err(OutputError::Refused(format!(
            "{shown} is a symbolic link: endline does not replace links; give the directory itself or a new one"
        )));
    }
    if !meta.is_dir() {
        return Err(OutputError::Refused(format!(
            "{shown} exists and is not a directory: endline will not replace it; give a new or empty directory"
        )));
    }
    let mut entries: Vec<String> = std::fs::read_dir(target)
        .map_err(OutputError::io(format!("cannot read {shown}")))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    entries.sort();
    match read_marker(target) {
        Some(m) if m.kind == kind && (id.is_none() || m.id.as_deref() == id) => Ok(()),
        Some(m) if m.kind == kind => Err(OutputError::Refused(format!(
            "{shown} holds the output of study `{}`, not `{}`: endline will not replace it; give another --out",
            m.id.unwrap_or_default(),
            id.unwrap_or_default()
        ))),
        Some(m) => Err(OutputError::Refused(format!(
            "{shown} holds endline's {}, not a {}: endline will not replace it; give another directory",
            m.kind.noun(),
            kind.noun()
        ))),
        None => {
            let more = entries.len().saturating_sub(SHOWN);
            let mut list = entries.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            Err(OutputError::Refused(format!(
                "{shown} holds files endline did not write ({list}); endline replaces only its own output \
                 (a directory with {MARKER}): give a new or empty directory"
            )))
        }
    }
}

fn read_marker(dir: &Path) -> Option<Marker> {
    let meta = std::fs::symlink_metadata(dir.join(MARKER)).ok()?;
    if !meta.is_file() || meta.len() > 4096 {
        return None;
    }
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    serde_json::from_str::<Marker>(&text).ok().filter(|m| m.written_by == "endline")
}

fn write_marker(dir: &Path, kind: Kind, id: Option<&str>) -> Result<(), OutputError> {
    let m = Marker { written_by: "endline".into(), kind, id: id.map(str::to_string) };
    let text = serde_json::to_string(&m).unwrap_or_default() + "\n";
    let path = dir.join(MARKER);
    std::fs::write(&path, text).map_err(OutputError::io(format!("cannot write {}", path.display())))
}

/// Staging folders of `name` left by endline processes that ended without cleaning up
/// (killed): the caller holds the target's lock, so none is in use. Only folders carrying
/// endline's marker are removed.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.staging-"), format!(".{name}.previous-")];
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let p = e.path();
        if prefixes.iter().any(|pre| n.starts_with(pre.as_str()))
            && e.file_type().is_ok_and(|t| t.is_dir())
            && read_marker(&p).is_some()
        {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// Moves `staged` to `out`, replacing what `out` held: the old directory is moved aside
/// first and put back if the move fails.
fn replace_dir(staged: &Path, out: &Path) -> Result<(), OutputError> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let old = out.with_file_name(format!(".{name}.previous-{}", std::process::id()));
    let existed = std::fs::symlink_metadata(out).is_ok();
    if existed {
        std::fs::rename(out, &old).map_err(OutputError::io(format!("cannot replace {}", out.display())))?;
    }
    if let Err(e) = std::fs::rename(staged, out) {
        if existed {
            let _ = std::fs::rename(&old, out);
        }
        return Err(OutputError::Io {
            what: format!("cannot move {} to {}", staged.display(), out.display()),
            source: e,
        });
    }
    if existed {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}
