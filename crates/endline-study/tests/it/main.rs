//! The study runner's contract tests.
