//! Writing results to stdout, tolerating a closed pipe. Files are written through
//! endline-output ([`endline_output::write_file`], [`endline_output::OutDir`]).

use std::io::{self, Write};

/// Prints `error: MESSAGE` on stderr with control characters written out
/// ([`endline_diag::printable`]): messages quote names, headers and values from users'
/// files, and an escape sequence in one must not act on the terminal.
macro_rules! error {
    ($($t:tt)*) => {
        eprintln!("error: {}", endline_diag::printable(&format!($($t)*)))
    };
}
pub(crate) use error;

/// Whether an error is stdout's reader having gone away (`endline ... | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
