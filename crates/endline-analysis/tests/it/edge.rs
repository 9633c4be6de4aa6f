//! Edge cases.
