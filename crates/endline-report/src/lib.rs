//! Reproducible evaluation reports.
//!
//! Built so far: [`svg`], self-contained plots (no fonts fetched, no scripts, fixed
//! precision, escaped text) for the report's event-study and trend figures. To come with
//! `endline run`: rendering the templates of `reports/` with tera into a self-contained
//! HTML file and Markdown, byte-identical for the same inputs.

pub mod svg;
