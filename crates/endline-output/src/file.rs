//! One output file, written whole: [`write_file`].

use std::io::Write as _;
use std::path::Path;

use crate::{OutputError, registry, resolved};

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename), so a
/// reader never sees a half-written file.
///
/// Refused: `path` is a symbolic link, a directory, a FIFO, a device or anything else
/// that is not a regular file; `path` is one of `inputs` (the run's input files, compared
/// by what they name, through links).
pub fn write_file(path: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<(), OutputError> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let t = meta.file_type();
        if t.is_symlink() {
            return Err(OutputError::Refused(format!(
                "{shown} is a symbolic link: endline does not write through links; give the file itself or a new name"
            )));
        }
        if !t.is_file() {
            let what = if t.is_dir() { "a directory" } else { "not a regular file (a device, FIFO or socket)" };
            return Err(OutputError::Refused(format!("{shown} is {what}: endline will not replace it")));
        }
    }
    let target = resolved(path);
    if let Some(input) = inputs.iter().find(|i| resolved(i) == target) {
        return Err(OutputError::Refused(format!(
            "{shown} is {}, an input of this command: endline will not overwrite its own input",
            input.display()
        )));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(OutputError::io(format!("cannot create directory {}", dir.display())))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    // A temporary file left by a killed process that had our id (never a link).
    if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::remove_file(&tmp);
    }
    registry::register(&tmp, registry::Held::Staged);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    let written = write().map_err(OutputError::io(format!("cannot write {shown}")));
    let moved = written.and_then(|()| {
        registry::commit(&tmp, || std::fs::rename(&tmp, path))
            .ok_or_else(|| OutputError::Refused(format!("interrupted: {shown} was not written")))?
            .map_err(OutputError::io(format!("cannot write {shown}")))
    });
    if moved.is_err() {
        let _ = std::fs::remove_file(&tmp);
        registry::unregister(&tmp);
    }
    moved
}
