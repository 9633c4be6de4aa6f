//! The endline survey definition language.
//!
//! A survey is one YAML file with XLSForm's semantics. [`validate`] reads its text (no
//! I/O: the caller reads the file) and returns a [`Validation`]: every problem as an
//! [`endline_diag::Diagnostic`] with a stable code from [`codes`], and the validated
//! [`Survey`] when there are no errors.
//!
//! - [`Survey`], [`Item`], [`ChoiceList`], [`Label`]: the validated model; later stages
//!   (ingest, simulate, codebook) accept only this type.
//! - [`expr`]: the expression language: [`expr::parse`] to a span-carrying [`expr::Expr`],
//!   a static type checker, and [`expr::eval`] with XLSForm's semantics for empty values.
//! - [`codebook`]: the codebook in Markdown, CSV or JSON.
//! - [`yaml`]: YAML with byte spans on every key and value, shared with analysis plans.

pub mod codebook;
pub mod codes;
pub mod diff;
pub mod expr;
mod model;
mod raw;
mod validate;
pub mod yaml;

pub use model::{
    Choice, ChoiceList, ChoiceValue, Expression, Item, Label, MissingCode, Placed, QuestionType, Required, Survey,
    Table,
};
pub use validate::{Validation, is_identifier, is_language_tag, validate};
