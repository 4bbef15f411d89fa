//! Advice from what a function did: [`advise`] reads observed [`Metrics`] (and, when given, a
//! [`TuningReport`]) and says what the timeout and memory should be, what cold starts cost
//! and what would remove them, and how much code storage the versions no label routes to
//! take — every figure recomputable from the inputs and the [`Pricing`] file.
//!
//! Where the window holds too few invocations to judge ([`AdviceOptions::min_invocations`],
//! 20 by default), the advice says "not enough data" instead of inventing a figure; where a
//! provider cannot give a figure (Azure records no cold starts, GCP and Azure no code size),
//! it says "unknown".
//!
//! ```
//! use faas_core::cost::advice::{advise, AdviceInput};
//! use faas_core::cost::Pricing;
//! use faas_core::observe::{InvocationSample, Metrics, TimeWindow};
//! use faas_core::{FunctionSpec, Limits};
//! let spec = FunctionSpec::new("f", "python3.12".parse()?, "app.handler").memory_mb(512).timeout_s(1);
//! let run = |i: u64| InvocationSample { start_ms: i * 1_000, version: "1".into(), duration_ms: 1_400.0,
//!     init_ms: (i == 0).then_some(300.0), max_memory_mb: Some(90), error: false, throttled: false };
//! let samples: Vec<_> = (0..30).map(run).collect();
//! let metrics = Metrics::from_samples("f", None, TimeWindow::between_ms(0, 3_600_000)?, &samples, "test");
//! let pricing = Pricing::aws_default();
//! let advice = advise(&AdviceInput::new("local", &spec, &Limits::LAMBDA, &metrics, &pricing, "us-east-1"))?;
//! assert_eq!(advice.timeout.recommended_s, Some(3)); // 1.4 s × 1.5, rounded up
//! assert!(!advice.warnings.is_empty());              // 1 s is below the 1.4 s observed
//! assert_eq!(advice.memory.recommended_mb, Some(128)); // 90 MB × 1.25, at least 128
//! println!("{advice}");
//! # Ok::<(), faas_core::Error>(())
//! ```

mod cold;
mod show;
mod sizing;
#[cfg(test)]
mod tests;
mod versions;

use serde::{Deserialize, Serialize};

pub use cold::{ColdStartAdvice, ColdStartOption, ColdStartOptionKind, SNAPSTART_SOURCE, snapstart_support};
pub use sizing::{MemoryAdvice, MemoryBasis, TimeoutAdvice};
pub use versions::{StorageModel, UnroutedVersion, VersionAdvice};

use super::estimate::{CostEstimate, EstimateOptions, Usage, estimate};
use super::pricing::{Cloud, Pricing};
use super::tune::TuningReport;
use crate::observe::{Metrics, TimeWindow};
use crate::{Error, FunctionSpec, Label, Limits, Result, Version};

/// The hours of the month that monthly figures are computed over: AWS's pricing examples
/// count 730 (a 365-day year's average month); a month of provisioned concurrency is
/// `730 × 3600` seconds of it, and a window's invocations are extrapolated to that month.
///
/// ```
/// assert_eq!(faas_core::cost::advice::MONTH_HOURS * 12.0, 8760.0);
/// ```
pub const MONTH_HOURS: f64 = 730.0;

/// The seconds of [`MONTH_HOURS`].
pub(crate) const MONTH_S: f64 = MONTH_HOURS * 3600.0;

/// Which observed duration the timeout recommendation starts from.
///
/// ```
/// use faas_core::cost::advice::TimeoutBasis;
/// assert_eq!(TimeoutBasis::default(), TimeoutBasis::Max);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutBasis {
    /// The longest invocation (the default: no observed invocation would have been cut).
    #[default]
    Max,
    /// The 99th percentile (tighter; the slowest 1 % may time out).
    P99,
}

/// How to advise.
///
/// ```
/// use faas_core::cost::advice::AdviceOptions;
/// let o = AdviceOptions::default();
/// assert_eq!((o.timeout_headroom, o.memory_headroom, o.min_invocations), (1.5, 1.25, 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdviceOptions {
    /// The recommended timeout is the observed figure times this (at least 1).
    pub timeout_headroom: f64,
    /// Which observed figure.
    pub timeout_basis: TimeoutBasis,
    /// The recommended memory is the most used times this (at least 1).
    pub memory_headroom: f64,
    /// Fewer invocations in the window than this: not enough data to recommend.
    pub min_invocations: u64,
    /// How the estimates are made (free grants, unpriced components).
    pub estimate: EstimateOptions,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        AdviceOptions {
            timeout_headroom: 1.5,
            timeout_basis: TimeoutBasis::Max,
            memory_headroom: 1.25,
            min_invocations: 20,
            estimate: EstimateOptions::default(),
        }
    }
}

impl AdviceOptions {
    /// Refuses headrooms outside 1–100 and a zero `min_invocations` ([`advise`] checks too;
    /// call it to check user input before any call).
    ///
    /// ```
    /// use faas_core::cost::advice::AdviceOptions;
    /// assert!(AdviceOptions { memory_headroom: 0.9, ..Default::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        for (field, v) in [
            ("timeout_headroom", self.timeout_headroom),
            ("memory_headroom", self.memory_headroom),
        ] {
            if !(v.is_finite() && (1.0..=100.0).contains(&v)) {
                return Err(Error::invalid(
                    field,
                    v,
                    "must be a number from 1 to 100 (1.5 = 50 % above the observed figure)",
                ));
            }
        }
        if self.min_invocations == 0 {
            return Err(Error::invalid("min_invocations", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// What [`advise`] reads. Build it with [`AdviceInput::new`] and the `with`-style setters.
///
/// ```
/// use faas_core::cost::advice::{AdviceInput, AdviceOptions};
/// use faas_core::cost::Pricing;
/// use faas_core::observe::{Metrics, TimeWindow};
/// use faas_core::{FunctionSpec, Limits};
/// let spec = FunctionSpec::new("f", "python3.12".parse()?, "app.handler");
/// let m = Metrics::from_samples("f", None, TimeWindow::between_ms(0, 1_000)?, &[], "test");
/// let p = Pricing::aws_default();
/// let input = AdviceInput::new("aws", &spec, &Limits::LAMBDA, &m, &p, "us-east-1").monthly(1_000_000);
/// assert_eq!(input.monthly_invocations, Some(1_000_000));
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdviceInput<'a> {
    /// The provider (`local`, `aws`, `gcp`, `azure`): which cold-start options apply and how
    /// code storage is counted.
    pub provider: &'a str,
    /// The function's configuration (timeout, memory, runtime, architecture).
    pub spec: &'a FunctionSpec,
    /// The provider's limits (timeout and memory ranges, memory step).
    pub limits: &'a Limits,
    /// What the function did over the window (all versions).
    pub metrics: &'a Metrics,
    /// Its published versions.
    pub versions: &'a [Version],
    /// Its labels (what routes to which version).
    pub labels: &'a [Label],
    /// The sha256 of the code the function itself (`$LATEST`) runs: code it shares with an
    /// unrouted version is not freed by pruning in a content-addressed store.
    pub latest_code_sha256: Option<&'a str>,
    /// A tuning run's result, when there is one.
    pub tuning: Option<&'a TuningReport>,
    /// The prices.
    pub pricing: &'a Pricing,
    /// The pricing region.
    pub region: &'a str,
    /// Invocations a month; `None`: the window's invocations extrapolated to a month.
    pub monthly_invocations: Option<u64>,
    /// Headrooms and thresholds.
    pub options: AdviceOptions,
}

impl<'a> AdviceInput<'a> {
    /// The required inputs; no versions, labels or tuning report, the volume extrapolated,
    /// default options.
    pub fn new(
        provider: &'a str,
        spec: &'a FunctionSpec,
        limits: &'a Limits,
        metrics: &'a Metrics,
        pricing: &'a Pricing,
        region: &'a str,
    ) -> AdviceInput<'a> {
        AdviceInput {
            provider,
            spec,
            limits,
            metrics,
            versions: &[],
            labels: &[],
            latest_code_sha256: None,
            tuning: None,
            pricing,
            region,
            monthly_invocations: None,
            options: AdviceOptions::default(),
        }
    }

    /// With the function's versions and labels.
    pub fn versions(mut self, versions: &'a [Version], labels: &'a [Label]) -> Self {
        self.versions = versions;
        self.labels = labels;
        self
    }

    /// With the sha256 of the code `$LATEST` runs.
    pub fn latest_code(mut self, sha256: &'a str) -> Self {
        self.latest_code_sha256 = Some(sha256);
        self
    }

    /// With a tuning report.
    pub fn tuning(mut self, report: &'a TuningReport) -> Self {
        self.tuning = Some(report);
        self
    }

    /// With `n` invocations a month instead of the extrapolation.
    pub fn monthly(mut self, n: u64) -> Self {
        self.monthly_invocations = Some(n);
        self
    }

    /// With `options`.
    pub fn options(mut self, options: AdviceOptions) -> Self {
        self.options = options;
        self
    }
}

/// Whether a recommendation could be made.
///
/// ```
/// use faas_core::cost::advice::Judgement;
/// assert!(Judgement::Recommended.is_recommended());
/// assert!(!Judgement::NotEnoughData { invocations: 3, needed: 20 }.is_recommended());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Judgement {
    /// There is a recommendation.
    Recommended,
    /// Too few invocations in the window to judge.
    NotEnoughData {
        /// Invocations seen.
        invocations: u64,
        /// Invocations needed ([`AdviceOptions::min_invocations`]).
        needed: u64,
    },
    /// The provider does not give the figure needed.
    Unavailable {
        /// Why.
        why: String,
    },
}

impl Judgement {
    /// Whether it is [`Judgement::Recommended`].
    pub fn is_recommended(&self) -> bool {
        matches!(self, Judgement::Recommended)
    }
}

/// Where the monthly volume comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum MonthlyVolume {
    /// Given by the caller.
    Given {
        /// Invocations a month.
        invocations: u64,
    },
    /// The window's invocations × [`MONTH_HOURS`] hours / the window's length.
    Extrapolated {
        /// Invocations a month (rounded).
        invocations: u64,
        /// Invocations in the window.
        window_invocations: u64,
        /// The window's length, s.
        window_s: f64,
    },
}

impl MonthlyVolume {
    /// Invocations a month.
    ///
    /// ```
    /// assert_eq!(faas_core::cost::advice::MonthlyVolume::Given { invocations: 7 }.invocations(), 7);
    /// ```
    pub fn invocations(&self) -> u64 {
        match *self {
            MonthlyVolume::Given { invocations } | MonthlyVolume::Extrapolated { invocations, .. } => invocations,
        }
    }

    fn of(input: &AdviceInput<'_>) -> Result<MonthlyVolume> {
        if let Some(n) = input.monthly_invocations {
            if n == 0 {
                return Err(Error::invalid(
                    "monthly_invocations",
                    0,
                    "give at least one invocation a month (or none, to extrapolate the window's)",
                ));
            }
            return Ok(MonthlyVolume::Given { invocations: n });
        }
        let seen = input.metrics.invocations.unwrap_or(0);
        let window_s = input.metrics.window.span().as_secs_f64();
        let invocations = if window_s > 0.0 {
            (seen as f64 * MONTH_S / window_s).round() as u64
        } else {
            0
        };
        Ok(MonthlyVolume::Extrapolated {
            invocations,
            window_invocations: seen,
            window_s,
        })
    }
}

/// What [`advise`] found. `Display` is a readable summary; serde gives JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Advice {
    /// The function.
    pub function: String,
    /// The provider.
    pub provider: String,
    /// The window observed.
    pub window: TimeWindow,
    /// Invocations in the window.
    pub invocations: Option<u64>,
    /// The monthly volume the costs are for.
    pub monthly: MonthlyVolume,
    /// The pricing file.
    pub pricing: String,
    /// The pricing region.
    pub region: String,
    /// The currency.
    pub currency: String,
    /// What the function costs at the measured usage (`None`: nothing measured, see
    /// `estimate_note`).
    pub estimate: Option<CostEstimate>,
    /// Why there is no estimate.
    pub estimate_note: Option<String>,
    /// Timeout.
    pub timeout: TimeoutAdvice,
    /// Memory.
    pub memory: MemoryAdvice,
    /// Cold starts.
    pub cold_starts: ColdStartAdvice,
    /// Version clean-up.
    pub versions: VersionAdvice,
    /// Every warning of the sections above (a timeout below the observed max...).
    pub warnings: Vec<String>,
}

/// Advises on `input` (see the module docs). Errors only on bad input — headrooms outside
/// 1–100, a zero monthly volume, a region the pricing file lacks, a pricing file of another
/// cloud than the provider's — never for lack of data.
pub fn advise(input: &AdviceInput<'_>) -> Result<Advice> {
    input.options.check()?;
    let cloud = Cloud::of_provider(input.provider)?;
    if cloud != input.pricing.file().cloud {
        return Err(Error::invalid(
            "pricing",
            input.pricing.name(),
            format!(
                "prices {} but the provider {} is priced as {cloud}: load a {cloud} pricing file",
                input.pricing.file().cloud,
                input.provider
            ),
        ));
    }
    input.pricing.region(input.region)?;
    let monthly = MonthlyVolume::of(input)?;
    let m = input.metrics;
    let (estimate, estimate_note) = measured_estimate(input, monthly.invocations())?;
    let timeout = sizing::timeout_advice(input);
    let memory = sizing::memory_advice(input);
    let cold_starts = cold::advice(input, estimate.as_ref(), monthly.invocations())?;
    let versions = versions::advice(input);
    let warnings = [&timeout.warning, &memory.warning]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    tracing::debug!(function = %m.function, provider = input.provider, "advised");
    Ok(Advice {
        function: m.function.clone(),
        provider: input.provider.to_string(),
        window: m.window,
        invocations: m.invocations,
        monthly,
        pricing: input.pricing.name().to_string(),
        region: input.region.to_string(),
        currency: input.pricing.file().currency.clone(),
        estimate,
        estimate_note,
        timeout,
        memory,
        cold_starts,
        versions,
        warnings,
    })
}

/// The usage the estimate prices: the spec's size, the measured durations and cold starts.
pub(crate) fn measured_usage(input: &AdviceInput<'_>, monthly: u64) -> Result<Usage> {
    Usage::for_spec(input.spec, input.region, monthly).measured(input.metrics)
}

fn measured_estimate(input: &AdviceInput<'_>, monthly: u64) -> Result<(Option<CostEstimate>, Option<String>)> {
    if monthly == 0 {
        return Ok((
            None,
            Some("no invocation in the window: give the monthly volume to estimate".into()),
        ));
    }
    let usage = match measured_usage(input, monthly) {
        Ok(u) => u,
        Err(Error::InvalidInput { reason, .. }) => return Ok((None, Some(reason))),
        Err(e) => return Err(e),
    };
    Ok((Some(estimate(input.pricing, &usage, &input.options.estimate)?), None))
}
