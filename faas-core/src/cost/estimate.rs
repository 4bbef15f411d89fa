//! [`estimate`]: what a function costs per invocation, per million and per month, from
//! measured or assumed [`Usage`] and a [`Pricing`] file.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::pricing::{BillingRule, Cloud, Grant, Pricing, RateKind, Region};
use crate::observe::Metrics;
use crate::{Architecture, Error, ExecutionReport, FunctionSpec, Result};

/// What a function uses: its size, how long it runs, how often it cold-starts and how many
/// times a month it runs. Build it from assumptions ([`Usage::new`]) or from a spec and
/// measured figures ([`Usage::for_spec`], [`Usage::measured`], [`Usage::reports`]).
///
/// ```
/// use faas_core::Architecture;
/// use faas_core::cost::Usage;
/// let u = Usage::new("us-east-1", 512, 3_000_000).architecture(Architecture::Arm64).duration_ms(120.4).init(300.0, 0.01);
/// assert_eq!((u.memory_mb, u.cold_start_share), (512, 0.01));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// The region, as the pricing file names it (`us-east-1`, `us-central1`, `eastus`).
    pub region: String,
    /// Configured memory (Lambda), memory limit (Cloud Run) or instance memory (Azure Flex), MB.
    pub memory_mb: u32,
    /// The architecture (Lambda prices them apart).
    pub architecture: Architecture,
    /// vCPU (Cloud Run); `None`: the file's default for the memory size.
    pub vcpu: Option<f64>,
    /// Mean handler duration per invocation, ms.
    pub avg_duration_ms: f64,
    /// Mean init (cold start) duration of the invocations that had one, ms.
    pub avg_init_ms: f64,
    /// Invocations that cold-start, 0–1.
    pub cold_start_share: f64,
    /// Configured ephemeral storage (Lambda `/tmp`), MB; 0 when none is configured.
    pub ephemeral_storage_mb: u32,
    /// Invocations a month.
    pub invocations_per_month: u64,
}

impl Usage {
    /// `invocations_per_month` of a `memory_mb` function in `region`; x86_64, no duration
    /// yet, no cold starts, no extra storage.
    pub fn new(region: impl Into<String>, memory_mb: u32, invocations_per_month: u64) -> Usage {
        Usage {
            region: region.into(),
            memory_mb,
            architecture: Architecture::X86_64,
            vcpu: None,
            avg_duration_ms: 0.0,
            avg_init_ms: 0.0,
            cold_start_share: 0.0,
            ephemeral_storage_mb: 0,
            invocations_per_month,
        }
    }

    /// The memory, architecture and ephemeral storage of `spec`.
    ///
    /// ```
    /// use faas_core::FunctionSpec;
    /// use faas_core::cost::Usage;
    /// let spec = FunctionSpec::new("f", "python3.12".parse()?, "app.handler");
    /// assert_eq!(Usage::for_spec(&spec, "us-east-1", 1000).memory_mb, spec.memory_mb);
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn for_spec(spec: &FunctionSpec, region: impl Into<String>, invocations_per_month: u64) -> Usage {
        let mut usage = Usage::new(region, spec.memory_mb, invocations_per_month).architecture(spec.architecture);
        usage.ephemeral_storage_mb = spec.aws.ephemeral_storage_mb.unwrap_or(0);
        usage
    }

    /// With `architecture`.
    pub fn architecture(mut self, architecture: Architecture) -> Usage {
        self.architecture = architecture;
        self
    }

    /// With `vcpu` instead of the memory size's default (Cloud Run).
    pub fn vcpu(mut self, vcpu: f64) -> Usage {
        self.vcpu = Some(vcpu);
        self
    }

    /// With a mean handler duration of `ms`.
    pub fn duration_ms(mut self, ms: f64) -> Usage {
        self.avg_duration_ms = ms;
        self
    }

    /// With cold starts on `share` (0–1) of the invocations, each with `avg_ms` of init.
    pub fn init(mut self, avg_ms: f64, share: f64) -> Usage {
        self.avg_init_ms = avg_ms;
        self.cold_start_share = share;
        self
    }

    /// With `mb` of configured ephemeral storage.
    pub fn ephemeral_storage_mb(mut self, mb: u32) -> Usage {
        self.ephemeral_storage_mb = mb;
        self
    }

    /// Durations and cold starts measured over a window ([`Metrics`]); the monthly volume
    /// stays what it was, and so do the init figures when the provider could not give them
    /// (Azure records no cold starts): they are never replaced by a made-up zero.
    ///
    /// ```
    /// use faas_core::observe::{InvocationSample, Metrics, TimeWindow};
    /// use faas_core::cost::Usage;
    /// let s = |ms, init: Option<f64>| InvocationSample { start_ms: 0, version: "1".into(), duration_ms: ms,
    ///     init_ms: init, max_memory_mb: None, error: false, throttled: false };
    /// let m = Metrics::from_samples("f", None, TimeWindow::between_ms(0, 10)?, &[s(10.0, Some(100.0)), s(30.0, None)], "test");
    /// let u = Usage::new("us-east-1", 128, 1_000).measured(&m)?;
    /// assert_eq!((u.avg_duration_ms, u.avg_init_ms, u.cold_start_share), (20.0, 100.0, 0.5));
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn measured(mut self, metrics: &Metrics) -> Result<Usage> {
        let duration = metrics.duration.ok_or_else(|| {
            let why = metrics
                .unavailable
                .get("duration")
                .cloned()
                .unwrap_or_else(|| "no invocation in the window".into());
            Error::invalid(
                "metrics.duration",
                "none",
                format!("{why}; widen the window or assume a duration"),
            )
        })?;
        self.avg_duration_ms = duration.avg_ms;
        if let Some(init) = metrics.init_duration {
            self.avg_init_ms = init.avg_ms;
        }
        if let Some(share) = metrics.cold_start_rate() {
            self.cold_start_share = share;
        }
        Ok(self)
    }

    /// Durations and cold starts from per-invocation reports (Lambda's `REPORT` lines or
    /// the local provider's). The estimate rounds the mean once, where the bill rounds each
    /// invocation: with Lambda's 1 ms rounding that is less than 1 ms apart.
    ///
    /// ```
    /// use faas_core::ExecutionReport;
    /// use faas_core::cost::Usage;
    /// let r = |ms, init| ExecutionReport { duration_ms: ms, billed_duration_ms: ms.ceil() as u64, memory_size_mb: 128,
    ///     max_memory_used_mb: 40, init_duration_ms: init };
    /// let u = Usage::new("us-east-1", 128, 1_000).reports(&[r(2.5, Some(100.0)), r(3.5, None)])?;
    /// assert_eq!((u.avg_duration_ms, u.avg_init_ms, u.cold_start_share), (3.0, 100.0, 0.5));
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn reports(mut self, reports: &[ExecutionReport]) -> Result<Usage> {
        if reports.is_empty() {
            return Err(Error::invalid("reports", "[]", "give at least one execution report"));
        }
        let n = reports.len() as f64;
        self.avg_duration_ms = reports.iter().map(|r| r.duration_ms).sum::<f64>() / n;
        let inits: Vec<f64> = reports.iter().filter_map(|r| r.init_duration_ms).collect();
        self.avg_init_ms = if inits.is_empty() {
            0.0
        } else {
            inits.iter().sum::<f64>() / inits.len() as f64
        };
        self.cold_start_share = inits.len() as f64 / n;
        Ok(self)
    }

    fn check(&self) -> Result<()> {
        if self.memory_mb == 0 {
            return Err(Error::invalid("memory_mb", 0, "memory must be at least 1 MB"));
        }
        if self.invocations_per_month == 0 {
            return Err(Error::invalid(
                "invocations_per_month",
                0,
                "estimate at least one invocation a month",
            ));
        }
        for (field, v) in [
            ("avg_duration_ms", self.avg_duration_ms),
            ("avg_init_ms", self.avg_init_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(field, v, "must be a finite number of ms, 0 or more"));
            }
        }
        if !(0.0..=1.0).contains(&self.cold_start_share) {
            return Err(Error::invalid("cold_start_share", self.cold_start_share, "must be 0–1"));
        }
        if let Some(v) = self.vcpu
            && !(v.is_finite() && v > 0.0)
        {
            return Err(Error::invalid("vcpu", v, "must be more than 0"));
        }
        Ok(())
    }
}

/// How to estimate.
///
/// ```
/// let o = faas_core::cost::EstimateOptions { free_grants: true, ..Default::default() };
/// assert!(!o.allow_unpriced && !faas_core::cost::EstimateOptions::default().free_grants);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimateOptions {
    /// Subtract the file's monthly free grants (off by default: an account shares them
    /// between all its functions).
    pub free_grants: bool,
    /// Count a component the file has no rate for as 0 and list it in
    /// [`CostEstimate::unpriced`], instead of failing.
    pub allow_unpriced: bool,
}

/// Costs by component, in the file's currency.
///
/// ```
/// assert_eq!(faas_core::cost::CostBreakdown::default().total(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Handler duration (GB-s, or vCPU-s and GiB-s).
    pub compute: f64,
    /// The request (execution) fee.
    pub requests: f64,
    /// Billed init (cold start) duration.
    pub init: f64,
    /// Ephemeral storage above the included size.
    pub storage: f64,
}

impl CostBreakdown {
    /// The sum of the components.
    ///
    /// ```
    /// let b = faas_core::cost::CostBreakdown { compute: 1.0, requests: 0.5, init: 0.25, storage: 0.25 };
    /// assert_eq!(b.total(), 2.0);
    /// ```
    pub fn total(&self) -> f64 {
        self.compute + self.requests + self.init + self.storage
    }

    fn scaled(&self, by: f64) -> CostBreakdown {
        CostBreakdown {
            compute: self.compute * by,
            requests: self.requests * by,
            init: self.init * by,
            storage: self.storage * by,
        }
    }
}

/// What [`estimate`] found.
///
/// ```
/// use faas_core::cost::{estimate, EstimateOptions, Pricing, Usage};
/// let e = estimate(&Pricing::gcp_default(), &Usage::new("us-central1", 256, 10).duration_ms(1.0), &EstimateOptions::default())?;
/// assert_eq!((e.billed_duration_ms, e.vcpu), (100.0, Some(0.167)));
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CostEstimate {
    /// The cloud.
    pub cloud: Cloud,
    /// The pricing file used.
    pub pricing: String,
    /// The region.
    pub region: String,
    /// The currency of every cost.
    pub currency: String,
    /// The vCPU billed (Cloud Run).
    pub vcpu: Option<f64>,
    /// The handler duration billed per invocation, after rounding, ms.
    pub billed_duration_ms: f64,
    /// The init duration billed per cold start, after rounding (0 when init is not billed), ms.
    pub billed_init_ms: f64,
    /// The month's cost divided by its invocations.
    pub per_invocation: CostBreakdown,
    /// A million invocations at that cost.
    pub per_million: CostBreakdown,
    /// The month.
    pub per_month: CostBreakdown,
    /// The month's billed units before free grants (`GB-s`, `vCPU-s`, `requests`).
    pub monthly_units: BTreeMap<String, f64>,
    /// Whether the file's free grants were subtracted.
    pub free_grants: bool,
    /// Rates the file lacks, counted as 0 ([`EstimateOptions::allow_unpriced`]).
    pub unpriced: Vec<String>,
    /// The sources of the rates used.
    pub sources: Vec<String>,
}

/// Estimates what `usage` costs under `pricing`.
///
/// Lambda: durations rounded up to the file's rounding, GB-s = memory GB × seconds, the
/// duration tiers applied to this function's monthly GB-s (init included when billed), the
/// request fee per million, ephemeral storage above the included size on the billed duration.
/// Cloud Run: vCPU-s and GiB-s of the rounded duration (init included when billed) plus the
/// request fee. Azure Flex: instance memory GB × execution seconds (rounded up, with the
/// file's minimum) plus executions. Tiered
/// and free-granted totals are split between compute and init in proportion to their units.
///
/// ```
/// use faas_core::cost::{estimate, EstimateOptions, Pricing, Usage};
/// let e = estimate(&Pricing::aws_default(), &Usage::new("us-east-1", 1024, 1_000_000).duration_ms(99.2), &EstimateOptions::default())?;
/// assert_eq!(e.billed_duration_ms, 100.0);
/// assert!(e.per_month.requests > 0.0 && e.per_million.total() > e.per_million.requests);
/// assert!(estimate(&Pricing::aws_default(), &Usage::new("mars-1", 128, 1), &EstimateOptions::default()).is_err());
/// # Ok::<(), faas_core::Error>(())
/// ```
pub fn estimate(pricing: &Pricing, usage: &Usage, options: &EstimateOptions) -> Result<CostEstimate> {
    usage.check()?;
    let region = pricing.region(&usage.region)?;
    let mut ctx = Ctx {
        pricing,
        region,
        usage,
        options,
        unpriced: Vec::new(),
        sources: BTreeSet::new(),
        units: BTreeMap::new(),
    };
    let (month, billed, init, vcpu) = match pricing.file().cloud {
        Cloud::Aws => ctx.lambda()?,
        Cloud::Gcp => ctx.cloud_run()?,
        Cloud::Azure => ctx.flex()?,
    };
    let per_invocation = month.scaled(1.0 / usage.invocations_per_month as f64);
    Ok(CostEstimate {
        cloud: pricing.file().cloud,
        pricing: pricing.name().to_string(),
        region: usage.region.clone(),
        currency: pricing.file().currency.clone(),
        vcpu,
        billed_duration_ms: billed,
        billed_init_ms: init,
        per_invocation,
        per_million: per_invocation.scaled(1e6),
        per_month: month,
        monthly_units: ctx.units,
        free_grants: options.free_grants,
        unpriced: ctx.unpriced,
        sources: ctx.sources.into_iter().collect(),
    })
}

struct Ctx<'a> {
    pricing: &'a Pricing,
    region: &'a Region,
    usage: &'a Usage,
    options: &'a EstimateOptions,
    unpriced: Vec<String>,
    sources: BTreeSet<String>,
    units: BTreeMap<String, f64>,
}

/// The month's breakdown, the billed duration and init ms, and the vCPU.
type Billed = (CostBreakdown, f64, f64, Option<f64>);

impl Ctx<'_> {
    /// What `volume` units of `kind` cost this month.
    fn cost(&mut self, kind: RateKind, volume: f64) -> Result<f64> {
        let field = format!("regions.{}.rates.{}", self.usage.region, kind.name());
        match self.region.rate(kind) {
            Some(rate) => {
                self.sources.insert(rate.source.clone());
                rate.cost_of(volume).ok_or_else(|| {
                    let top = rate.tiers.last().and_then(|t| t.up_to).unwrap_or_default();
                    Error::invalid(
                        format!("{field}.tiers"),
                        volume,
                        format!(
                            "{} prices this only up to {top} {} a month; load a file with the higher tiers",
                            self.pricing.name(),
                            rate.unit
                        ),
                    )
                })
            }
            None if volume == 0.0 => Ok(0.0),
            None if self.options.allow_unpriced => {
                self.unpriced.push(field);
                Ok(0.0)
            }
            None => Err(Error::invalid(
                field,
                "missing",
                format!(
                    "{} has no such rate (it was not found in the official sources); load a file with it (Pricing::from_path) or set allow_unpriced",
                    self.pricing.name()
                ),
            )),
        }
    }

    /// The free grant of `grant`, when asked for and the file has one.
    fn grant(&self, grant: Grant) -> f64 {
        if !self.options.free_grants {
            return 0.0;
        }
        grant.value_in(self.pricing).unwrap_or(0.0)
    }

    fn rule(&self, rule: BillingRule) -> Option<f64> {
        self.pricing.billing(rule)
    }

    fn mb_per_gb(&self) -> Result<f64> {
        match self.rule(BillingRule::MbPerGb) {
            Some(v) if v > 0.0 => Ok(v),
            _ => Err(Error::invalid(
                "billing.mb_per_gb",
                "missing",
                format!("{} must say how many MB its GB has", self.pricing.name()),
            )),
        }
    }

    /// Billed handler ms (rounded, at least the minimum) and billed init ms per cold start.
    fn billed_ms(&self) -> (f64, f64) {
        let round = |ms: f64| match self.rule(BillingRule::DurationRoundingMs) {
            Some(r) if r > 0.0 => (ms / r).ceil() * r,
            _ => ms,
        };
        let init = if self.rule(BillingRule::InitBilled) == Some(1.0) {
            round(self.usage.avg_init_ms)
        } else {
            0.0
        };
        let minimum = self.rule(BillingRule::MinimumBilledMs).unwrap_or(0.0);
        (round(self.usage.avg_duration_ms).max(minimum), init)
    }

    /// Splits a total cost over handler and init units.
    fn split(total: f64, handler: f64, init: f64) -> (f64, f64) {
        if handler + init == 0.0 {
            return (0.0, 0.0);
        }
        let compute = total * handler / (handler + init);
        (compute, total - compute)
    }

    fn requests(&mut self, kind: RateKind) -> Result<f64> {
        let n = self.usage.invocations_per_month as f64;
        self.units.insert("requests".into(), n);
        let billable = (n - self.grant(Grant::Requests)).max(0.0);
        self.cost(kind, billable / 1e6)
    }

    /// GB-s of memory × billed seconds (init included when billed) priced at `kind`, after
    /// the duration grant: billed ms, billed init ms, and the handler's and init's costs.
    fn memory_seconds(&mut self, kind: RateKind) -> Result<(f64, f64, f64, f64)> {
        let (u, n) = (self.usage, self.usage.invocations_per_month as f64);
        let gb = f64::from(u.memory_mb) / self.mb_per_gb()?;
        let (billed, init) = self.billed_ms();
        let handler_gbs = gb * billed / 1000.0 * n;
        let init_gbs = gb * init / 1000.0 * n * u.cold_start_share;
        self.units.insert("GB-s".into(), handler_gbs + init_gbs);
        let billable = (handler_gbs + init_gbs - self.grant(Grant::Duration)).max(0.0);
        let total = self.cost(kind, billable)?;
        let (compute, init_cost) = Self::split(total, handler_gbs, init_gbs);
        Ok((billed, init, compute, init_cost))
    }

    fn lambda(&mut self) -> Result<Billed> {
        let (u, n) = (self.usage, self.usage.invocations_per_month as f64);
        let duration = match u.architecture {
            Architecture::X86_64 => RateKind::DurationX86,
            Architecture::Arm64 => RateKind::DurationArm,
        };
        if self.region.rate(duration).is_none() && !self.options.allow_unpriced {
            return Err(Error::invalid(
                "architecture",
                u.architecture.lambda_name(),
                format!(
                    "{} has no {} rate in {}",
                    self.pricing.name(),
                    duration.name(),
                    u.region
                ),
            ));
        }
        let (billed, init, compute, init_cost) = self.memory_seconds(duration)?;
        let requests = self.requests(RateKind::Requests)?;
        let included = self.rule(BillingRule::IncludedEphemeralStorageMb).unwrap_or(0.0);
        let extra_gb = (f64::from(u.ephemeral_storage_mb) - included).max(0.0) / self.mb_per_gb()?;
        let storage_gbs = extra_gb * (billed + init * u.cold_start_share) / 1000.0 * n;
        self.units.insert("storage GB-s".into(), storage_gbs);
        let storage = self.cost(RateKind::EphemeralStorage, storage_gbs)?;
        let month = CostBreakdown {
            compute,
            requests,
            init: init_cost,
            storage,
        };
        Ok((month, billed, init, None))
    }

    fn cloud_run(&mut self) -> Result<Billed> {
        let (u, n) = (self.usage, self.usage.invocations_per_month as f64);
        let vcpu = match u.vcpu {
            Some(v) => v,
            None => self.default_vcpu()?,
        };
        let gib = f64::from(u.memory_mb) / self.mb_per_gb()?;
        let (billed, init) = self.billed_ms();
        let (handler_s, init_s) = (billed / 1000.0 * n, init / 1000.0 * n * u.cold_start_share);
        let (vcpu_s, gib_s) = (vcpu * (handler_s + init_s), gib * (handler_s + init_s));
        self.units.insert("vCPU-s".into(), vcpu_s);
        self.units.insert("GiB-s".into(), gib_s);
        let cpu = self.cost(RateKind::Vcpu, (vcpu_s - self.grant(Grant::Vcpu)).max(0.0))?;
        let memory = self.cost(RateKind::Memory, (gib_s - self.grant(Grant::Memory)).max(0.0))?;
        let (compute, init_cost) = Self::split(cpu + memory, handler_s, init_s);
        let requests = self.requests(RateKind::Requests)?;
        let month = CostBreakdown {
            compute,
            requests,
            init: init_cost,
            storage: 0.0,
        };
        Ok((month, billed, init, Some(vcpu)))
    }

    fn default_vcpu(&self) -> Result<f64> {
        let mb = self.usage.memory_mb;
        let table = self.pricing.file().cpu_by_memory.as_ref().ok_or_else(|| {
            Error::invalid(
                "vcpu",
                "none",
                format!("{} has no cpu_by_memory table; give the vCPU", self.pricing.name()),
            )
        })?;
        table
            .steps
            .iter()
            .find(|s| s.memory_mb >= mb)
            .map(|s| s.vcpu)
            .ok_or_else(|| {
                let top = table.steps.last().map_or(0, |s| s.memory_mb);
                Error::invalid(
                    "memory_mb",
                    mb,
                    format!("{} gives vCPU only up to {top} MB; give the vCPU", self.pricing.name()),
                )
            })
    }

    fn flex(&mut self) -> Result<Billed> {
        let u = self.usage;
        if let Some(allowed) = &self.pricing.file().allowed_memory_mb
            && !allowed.values.contains(&u.memory_mb)
        {
            let sizes: Vec<String> = allowed.values.iter().map(u32::to_string).collect();
            return Err(Error::invalid(
                "memory_mb",
                u.memory_mb,
                format!("instance memory must be one of {} MB", sizes.join(", ")),
            ));
        }
        let (billed, init, compute, init_cost) = self.memory_seconds(RateKind::OnDemandExecution)?;
        let requests = self.requests(RateKind::OnDemandExecutions)?;
        let month = CostBreakdown {
            compute,
            requests,
            init: init_cost,
            storage: 0.0,
        };
        Ok((month, billed, init, None))
    }
}
