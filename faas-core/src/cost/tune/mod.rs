//! Memory power tuning, as a library call: [`tune`] tries a function at several memory
//! sizes, invokes each the same way, and reports what each size costs and how fast it runs
//! ([`TuningReport`]), choosing one by a [`Strategy`].
//!
//! It works like AWS Lambda Power Tuning without its Step Functions deployment, and differs
//! where that tool is weak: the request fee and the price tiers are in the cost (from a
//! [`Pricing`] file, never from literals), invocations run with a parallelism cap instead of
//! all at once, billed durations are rounded per invocation, and a size at which every
//! invocation failed is reported as failed, not averaged in.
//!
//! For each size [`tune`] changes the function's memory (a configuration-only deploy of the
//! code it already runs), publishes a version and points a temporary label at it (where the
//! provider has labels; Azure Flex has none, so there each size is invoked on the function
//! itself, one size after the other), puts the function back as it was, invokes, and then
//! removes every version and label it made. Everything it makes is marked — versions by a
//! description starting with [`MARKER`], labels by a name starting with [`LABEL_PREFIX`],
//! the function's changed configuration by the variable [`ORIGINAL_MEMORY_VAR`] holding the
//! memory to restore — so [`clean_up`] (which every run calls first) finds what a run killed
//! half-way left behind and removes it. Nothing else is touched: no other version or label,
//! and the function's own configuration is restored field for field.
//!
//! The figures of each invocation are its `REPORT` (duration, init, memory); a provider that
//! returns none (GCP, Azure) is measured by the client's round trip, and the report says so
//! ([`ValueResult::duration_source`]).
//!
//! ```no_run
//! # async fn f(p: &dyn faas_core::Provider) -> faas_core::Result<()> {
//! use faas_core::cost::tune::{tune, TuneOptions};
//! let options = TuneOptions::new()
//!     .memory([128, 256, 512, 1024, 1769, 3008])
//!     .invocations(20)
//!     .strategy("balanced:0.5".parse()?)
//!     .parallel(4);
//! let report = tune(p, "hello", &options).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

mod engine;
mod marker;
mod options;
mod report;
#[cfg(test)]
mod tests;
mod url;

pub use engine::{TuneEvent, TuneObserver, tune, tune_observed};
pub use marker::{CleanupReport, LABEL_PREFIX, MARKER, NONCE_VAR, ORIGINAL_MEMORY_VAR, clean_up};
pub use options::{ApplyTo, DEFAULT_TRIM, Strategy, TuneOptions, WeightedPayload, default_memory};
pub use report::{Sample, Summary, TuningReport, ValueResult, choose, summarize};
pub use url::{POWER_TUNING_SHOW, PowerTuningData, power_tuning_url};

use super::pricing::Pricing;
