//! Cost: prices as data, [`estimate`], and memory power tuning ([`tune`]).
//!
//! The prices live in JSON files, one per cloud, shipped in `faas-core/pricing/` and embedded
//! as defaults ([`Pricing::aws_default`], [`Pricing::gcp_default`],
//! [`Pricing::azure_default`]); users load their own ([`Pricing::from_path`]) for negotiated
//! prices or other regions. No price is written in code. Every figure carries the URL it was
//! read from and the day it was read; a file failing its schema (an unknown field, a negative
//! rate, tiers out of order, a figure without source or date) is refused with an
//! [`Error::InvalidInput`](crate::Error::InvalidInput) naming the field.
//!
//! ```
//! use faas_core::Architecture;
//! use faas_core::cost::{estimate, EstimateOptions, Pricing, Usage};
//! let usage = Usage::new("us-east-1", 512, 3_000_000).architecture(Architecture::Arm64).duration_ms(180.0).init(250.0, 0.01);
//! let e = estimate(&Pricing::aws_default(), &usage, &EstimateOptions::default())?;
//! assert!(e.per_month.total() > 0.0 && e.per_month.init > 0.0);
//! let with_grants = estimate(&Pricing::aws_default(), &usage, &EstimateOptions { free_grants: true, ..Default::default() })?;
//! assert!(with_grants.per_month.total() < e.per_month.total());
//! # Ok::<(), faas_core::Error>(())
//! ```

pub mod advice;
mod estimate;
mod pricing;
#[cfg(test)]
mod tests;
pub mod tune;
mod validate;

pub(crate) use validate::is_date;

pub use advice::{Advice, AdviceInput, AdviceOptions, advise};
pub use estimate::{CostBreakdown, CostEstimate, EstimateOptions, Usage, estimate};
pub use pricing::{
    AllowedMemory, BillingRule, Cloud, CpuStep, CpuTable, Figure, Grant, Pricing, PricingFile, Rate, RateKind, Region,
    SCHEMA_VERSION, Tier,
};
