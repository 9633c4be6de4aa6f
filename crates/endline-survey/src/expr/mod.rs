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
pub use parser::{MAX_TOKENS, SyntaxError, parse, parse_filter};
pub use sat::{RefComparisons, SelfComparisons, self_bounds};

/// The stack that checking or evaluating the deepest expression the parser accepts needs
/// (in a debug build; far less in release): the parser caps nesting at 200 levels and an
/// expression at 2,000 tokens, but a chain of binary operators (`${a} + ${b} + ...`)
/// nests one level per operator, and the checker, the evaluator and the validator's
/// passes recurse over it. A process's main thread has this much; endline's own threads
/// that check or evaluate expressions are given it (a spawned thread's default is 2 MiB).
pub const STACK_BYTES: usize = 8 << 20;
