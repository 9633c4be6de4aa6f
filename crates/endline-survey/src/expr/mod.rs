//! The expression language: XLSForm syntax, parsed into a span-carrying syntax tree,
//! type-checked against the survey, and evaluated with XLSForm's empty-value semantics.

mod ast;
pub(crate) mod check;
mod eval;
mod parser;
pub(crate) mod sat;

pub use ast::{BinOp, Expr, ExprKind};
pub use check::{FUNCTIONS, Ty};
pub use eval::{Context, Value, eval, parse_date, parse_datetime};
pub use parser::{MAX_TOKENS, SyntaxError, parse};
pub use sat::{RefComparisons, SelfComparisons, self_bounds};
