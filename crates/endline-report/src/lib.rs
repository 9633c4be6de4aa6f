//! Reproducible evaluation reports (not built yet: this crate marks the boundary).
//!
//! The report stage will take the results of an analysis (plain serialisable values, no
//! DataFrames) and render the templates of `reports/` with tera into a self-contained HTML
//! file (inline CSS and SVG plots, no network) and Markdown, byte-identical for the same
//! inputs. Until then it has no public API and nothing depends on it.
