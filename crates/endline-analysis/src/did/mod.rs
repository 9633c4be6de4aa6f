//! Difference-in-differences for staggered programmes.
//!
//! - [`panel::build`] turns a long table into a [`panel::Panel`] (units × periods).
//! - [`cs::estimate`]: Callaway & Sant'Anna (2021) ATT(g,t) with never- or not-yet-treated
//!   comparisons, outcome-regression, IPW or doubly-robust adjustment ([`drdid`]),
//!   the simple, dynamic, group and calendar aggregations, influence-function standard
//!   errors (clustered on request), the multiplier bootstrap with uniform bands, and the
//!   pre-test of parallel trends.

pub mod bacon;
pub mod cs;
pub mod drdid;
pub mod panel;
pub mod sa;
pub mod twfe;
