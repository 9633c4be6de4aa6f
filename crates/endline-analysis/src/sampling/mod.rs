//! Design-based inference for sampled households: a [`Design`] (strata, PSUs and SSUs,
//! finite-population corrections, weights, or replicate weights) and the descriptive
//! [`estimate`]s a statistics office publishes, verified against R's survey package.

mod columns;
mod design;
mod estimate;

pub use columns::{DESIGN_WEIGHT, DesignSpec, ReplicateSpec};
pub use design::{Design, DesignColumns, Factor, LonelyPsu, RepType, Replicates};
pub use estimate::{Domain, Estimate, Statistic, Target, estimate};
