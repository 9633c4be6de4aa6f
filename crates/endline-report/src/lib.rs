//! Reproducible evaluation reports.
//!
//! - [`render`]: templates (`reports/*.tera`) rendered by tera against `results.json`,
//!   with every user-supplied text escaped (HTML or Markdown) and numbers printed only as
//!   stored, so the same results give the same bytes.
//! - [`svg`]: self-contained plots (no fonts fetched, no scripts, fixed precision, escaped
//!   text) for the report's trend and event-study figures.

pub mod render;
pub mod svg;
