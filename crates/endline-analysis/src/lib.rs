//! Regression with absorbed fixed effects, and the difference-in-differences estimators
//! built on it.
//!
//! The crate takes a polars `DataFrame` and a specification and returns results; it does
//! no I/O and knows nothing of surveys.
//!
//! - [`FeolsSpec`]: a model in fixest syntax (`y ~ x + i(t, ref=-1) | unit + year`), its
//!   variance ([`Vcov`]: iid, HC1, one- or two-way CR1), weights, and an optional
//!   [`WildBootstrap`]. [`FeolsSpec::fit`] returns a [`FeolsFit`] whose numbers follow
//!   fixest's defaults, small-sample corrections included.
//! - [`demean::Absorber`]: weighted alternating projections with Irons-Tuck acceleration.
//! - [`did`]: difference-in-differences; [`aggregate`], [`balance`]: panel helpers;
//!   [`multiple`]: multiple-outcome corrections.
//! - [`inference`]: Wald tests and their χ² and F p-values.
//! - [`AnalysisError`]: every way an estimation can fail, as a value.

pub mod aggregate;
pub mod attrition;
pub mod balance;
pub mod data;
pub mod demean;
mod design;
pub mod did;
mod error;
mod feols;
pub mod feols_stream;
pub mod formula;
pub mod honest;
pub mod inference;
mod linalg;
pub mod linkage;
pub mod multiple;
pub mod power;
pub mod pretrends;
pub mod sampling;
pub mod stream;
mod wild;

pub use endline_rng::Rng;
pub use error::{AnalysisError, Result};
pub use feols::{Coefficient, FTest, FeolsFit, FeolsSpec, FixedEffectInfo, Vcov};
pub use wild::{WildBootstrap, WildResult, WildWeights};
