//! Surveys to XLSForm and back: the `survey`, `choices` and `settings` sheets that ODK
//! Central, KoboToolbox, SurveyCTO and Enketo load, checked in the tests by pyxform and
//! ODK Validate; and XLSForms (`.xlsx`, `.xls`, pyxform's `.md` and `.csv`) read into
//! surveys, every problem located at its cell.
//!
//! The mapping, where XLSForm has no column of its own:
//!
//! - **Languages** become `label::English (en)`: the language's English name and its code
//!   (a one-language survey keeps plain `label`).
//! - **Missing codes** stay enterable on the device. A numeric question that accepts
//!   them gets `or . = -99` added to its constraint; a select question gets them added to
//!   a copy of its list (`<list>_missing`), labelled with the code's name. The codes a
//!   question accepts are kept in `endline::missing`.
//! - **Units, PII flags and descriptions** go into the extra columns `endline::unit`,
//!   `endline::pii` and `endline::description`, which pyxform ignores and KoboToolbox
//!   keeps, so that an import can recover them.
//! - **The survey key** names the submission: `instance_name` is `concat(${key})`.
//!
//! What XLSForm cannot express becomes a [`Warning`], never a silent loss.

mod book;
mod export;
mod import;

pub use book::{Book, Grid, GridRow, read_book};
pub use export::*;
pub use import::{Cell, Imported, Problem, import};
