//! What tuning found: each invocation's [`Sample`], each size's [`ValueResult`]
//! ([`summarize`]: trimmed mean, cost with the request fee), the winner ([`choose`]) and the
//! [`TuningReport`] with its table.

use serde::{Deserialize, Serialize};

use super::{ApplyTo, CleanupReport, Strategy};
use crate::cost::{CostBreakdown, EstimateOptions, Pricing, Usage, estimate};
use crate::observe::DurationStats;
use crate::{FunctionSpec, Result};

/// One invocation's figures.
///
/// ```
/// let s = faas_core::cost::tune::Sample::ok(512, 0, 12.5, None);
/// assert_eq!(s.total_ms(), 12.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The memory size it ran at, MB.
    pub memory_mb: u32,
    /// Which payload it ran (index into the options' payloads).
    pub payload: usize,
    /// The handler's duration (`REPORT` Duration), or the client's round trip where the
    /// provider gives no report, ms.
    pub duration_ms: f64,
    /// Init duration, on a cold start with a report, ms.
    pub init_ms: Option<f64>,
    /// Peak memory used, MB, from the report.
    pub max_memory_mb: Option<u32>,
    /// Whether the figures came from a `REPORT` (else the client's round trip).
    pub from_report: bool,
    /// The function's error, or the call's, when it failed.
    pub error: Option<String>,
}

impl Sample {
    /// A successful invocation without a report's extras.
    pub fn ok(memory_mb: u32, payload: usize, duration_ms: f64, init_ms: Option<f64>) -> Sample {
        Sample {
            memory_mb,
            payload,
            duration_ms,
            init_ms,
            max_memory_mb: None,
            from_report: true,
            error: None,
        }
    }

    /// Duration plus init: what the ranking averages.
    pub fn total_ms(&self) -> f64 {
        self.duration_ms + self.init_ms.unwrap_or(0.0)
    }
}

/// What one size did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ValueResult {
    /// The memory size, MB.
    pub memory_mb: u32,
    /// The vCPU billed with it (Cloud Run).
    pub vcpu: Option<f64>,
    /// Invocations made.
    pub invocations: u32,
    /// Of those, failed.
    pub errors: u32,
    /// Every invocation failed: the first error. The size is not ranked.
    pub failed: Option<String>,
    /// Successful invocations that were cold starts.
    pub cold_starts: u32,
    /// The trimmed mean of duration + init over the successful invocations, ms.
    pub duration_ms: f64,
    /// Mean, percentiles and maximum of duration + init over every successful invocation.
    pub stats: Option<DurationStats>,
    /// The mean billed duration (init included where billed) over the trimmed set, ms.
    pub billed_ms: f64,
    /// The mean cost of an invocation over the trimmed set, request fee included.
    pub cost_per_invocation: f64,
    /// A million such invocations.
    pub cost_per_million: f64,
    /// `cost_per_invocation` by component.
    pub breakdown: CostBreakdown,
    /// The most memory an invocation used, MB (from reports).
    pub max_memory_used_mb: Option<u32>,
    /// `report` (the `REPORT` figures) or `client` (the round trip: no report here).
    pub duration_source: String,
    /// Cost components the pricing file has no rate for, counted as 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

/// How [`summarize`] prices and trims.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    /// The prices.
    pub pricing: &'a Pricing,
    /// The pricing region.
    pub region: &'a str,
    /// The function (architecture, ephemeral storage).
    pub spec: &'a FunctionSpec,
    /// The monthly volume the tiers apply at.
    pub monthly_invocations: u64,
    /// The share discarded at each end.
    pub trim: f64,
}

/// One size's result from its samples. Each successful invocation is priced on its own
/// (its duration rounded up, its init billed where the file bills init, the request fee,
/// the tiers at `monthly_invocations` a month); the invocations are ranked by duration +
/// init, `floor(n × trim)` are dropped at each end (none when that would leave nothing), and
/// durations and costs are averaged over the rest. Failed invocations are counted, not
/// averaged in; a size with no successful one is `failed`.
///
/// ```
/// use faas_core::cost::{Pricing, tune::{Sample, Summary, summarize}};
/// let spec = faas_core::FunctionSpec::new("f", "python3.12".parse()?, "app.handler");
/// let pricing = Pricing::aws_default();
/// let how = Summary { pricing: &pricing, region: "us-east-1", spec: &spec, monthly_invocations: 1_000_000, trim: 0.2 };
/// let samples: Vec<Sample> = [10.0, 11.0, 12.0, 13.0, 500.0].iter().map(|&d| Sample::ok(1024, 0, d, None)).collect();
/// let r = summarize(1024, &samples, &how)?;
/// assert_eq!(r.duration_ms, 12.0); // 10 and 500 dropped
/// # Ok::<(), faas_core::Error>(())
/// ```
pub fn summarize(memory_mb: u32, samples: &[Sample], how: &Summary<'_>) -> Result<ValueResult> {
    let errors = samples.iter().filter(|s| s.error.is_some()).count() as u32;
    let mut ok: Vec<&Sample> = samples.iter().filter(|s| s.error.is_none()).collect();
    ok.sort_by(|a, b| a.total_ms().total_cmp(&b.total_ms()));
    let mut result = ValueResult {
        memory_mb,
        vcpu: None,
        invocations: samples.len() as u32,
        errors,
        failed: None,
        cold_starts: ok.iter().filter(|s| s.init_ms.is_some()).count() as u32,
        duration_ms: 0.0,
        stats: DurationStats::of(&ok.iter().map(|s| s.total_ms()).collect::<Vec<_>>()),
        billed_ms: 0.0,
        cost_per_invocation: 0.0,
        cost_per_million: 0.0,
        breakdown: CostBreakdown::default(),
        max_memory_used_mb: ok.iter().filter_map(|s| s.max_memory_mb).max(),
        duration_source: match ok.iter().all(|s| s.from_report) {
            true => "report".into(),
            false => "client".into(),
        },
        unpriced: Vec::new(),
    };
    if ok.is_empty() {
        result.failed = Some(
            samples
                .iter()
                .find_map(|s| s.error.clone())
                .unwrap_or_else(|| "no invocation ran".into()),
        );
        return Ok(result);
    }
    let cut = (ok.len() as f64 * how.trim).floor() as usize;
    let kept = match ok.len() > 2 * cut {
        true => &ok[cut..ok.len() - cut],
        false => &ok[..],
    };
    let n = kept.len() as f64;
    let options = EstimateOptions {
        allow_unpriced: true,
        ..EstimateOptions::default()
    };
    for s in kept {
        let mut usage = Usage::for_spec(how.spec, how.region, how.monthly_invocations).duration_ms(s.duration_ms);
        usage.memory_mb = memory_mb;
        if let Some(init) = s.init_ms {
            usage = usage.init(init, 1.0);
        }
        let e = estimate(how.pricing, &usage, &options)?;
        result.vcpu = e.vcpu;
        for field in e.unpriced {
            if !result.unpriced.contains(&field) {
                result.unpriced.push(field);
            }
        }
        result.duration_ms += s.total_ms() / n;
        result.billed_ms += (e.billed_duration_ms + e.billed_init_ms) / n;
        let c = e.per_invocation;
        result.breakdown.compute += c.compute / n;
        result.breakdown.requests += c.requests / n;
        result.breakdown.init += c.init / n;
        result.breakdown.storage += c.storage / n;
    }
    result.cost_per_invocation = result.breakdown.total();
    result.cost_per_million = result.cost_per_invocation * 1e6;
    Ok(result)
}

/// The index of the winner among `values` by `strategy`; sizes that failed are never
/// chosen, and `None` means all failed. Ties go to the cheaper (speed: the faster, then
/// the cheaper), then to the smaller size.
///
/// ```
/// use faas_core::cost::tune::{Strategy, choose};
/// # let r = |mb, ms, cost| { let mut v: faas_core::cost::tune::ValueResult = serde_json::from_value(serde_json::json!({
/// #   "memory_mb": mb, "vcpu": null, "invocations": 1, "errors": 0, "failed": null, "cold_starts": 0, "duration_ms": ms,
/// #   "stats": null, "billed_ms": ms, "cost_per_invocation": cost, "cost_per_million": cost * 1e6,
/// #   "breakdown": {"compute": cost, "requests": 0.0, "init": 0.0, "storage": 0.0}, "max_memory_used_mb": null,
/// #   "duration_source": "report"})).unwrap(); v };
/// let values = [r(128, 100.0, 2.0), r(256, 40.0, 3.0)];
/// assert_eq!(choose(&values, Strategy::Cost), Some(0));
/// assert_eq!(choose(&values, Strategy::Speed), Some(1));
/// ```
pub fn choose(values: &[ValueResult], strategy: Strategy) -> Option<usize> {
    let ranked: Vec<(usize, &ValueResult)> = values.iter().enumerate().filter(|(_, v)| v.failed.is_none()).collect();
    let max_cost = ranked.iter().map(|(_, v)| v.cost_per_invocation).fold(0.0, f64::max);
    let max_duration = ranked.iter().map(|(_, v)| v.duration_ms).fold(0.0, f64::max);
    let ratio = |x: f64, max: f64| if max > 0.0 { x / max } else { 0.0 };
    let key = |v: &ValueResult| -> (f64, f64) {
        match strategy {
            Strategy::Cost => (v.cost_per_invocation, v.duration_ms),
            Strategy::Speed => (v.duration_ms, v.cost_per_invocation),
            Strategy::Balanced(w) => (
                w * ratio(v.cost_per_invocation, max_cost) + (1.0 - w) * ratio(v.duration_ms, max_duration),
                v.cost_per_invocation,
            ),
        }
    };
    ranked
        .iter()
        .min_by(|(_, a), (_, b)| {
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(a.memory_mb.cmp(&b.memory_mb))
        })
        .map(|(i, _)| *i)
}

/// What [`tune`](super::tune) found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TuningReport {
    /// The function.
    pub function: String,
    /// The provider (`local`, `aws`, `gcp`, `azure`).
    pub provider: String,
    /// The strategy that chose.
    pub strategy: Strategy,
    /// Invocations per size.
    pub invocations: u32,
    /// The parallelism cap.
    pub parallel: usize,
    /// Whether every invocation was a cold start.
    pub cold_starts_only: bool,
    /// The share trimmed at each end.
    pub trim: f64,
    /// The pricing file.
    pub pricing: String,
    /// The pricing region.
    pub region: String,
    /// The currency.
    pub currency: String,
    /// The monthly volume the tiers were applied at.
    pub monthly_invocations: u64,
    /// The memory the function had before.
    pub original_memory_mb: u32,
    /// Each size, ascending.
    pub values: Vec<ValueResult>,
    /// The winner, MB (`None`: every size failed).
    pub chosen_memory_mb: Option<u32>,
    /// Where the winner was applied, and the version published for a label.
    pub applied: Option<(ApplyTo, Option<String>)>,
    /// What an earlier, interrupted run had left and this run removed first.
    pub cleaned_before: CleanupReport,
    /// Versions this run published and removed.
    pub versions_removed: Vec<String>,
    /// Labels this run made and removed.
    pub labels_removed: Vec<String>,
    /// How long the run took, ms.
    pub elapsed_ms: u64,
    /// The lambda-power-tuning.show URL of the results.
    pub power_tuning_url: String,
}

impl TuningReport {
    /// The winner's result.
    pub fn chosen(&self) -> Option<&ValueResult> {
        self.values.iter().find(|v| Some(v.memory_mb) == self.chosen_memory_mb)
    }
}

/// A table: one row per size, the winner starred, then what was chosen, applied and removed.
impl std::fmt::Display for TuningReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} on {}: {} invocations per size, {} at a time{}, strategy {}; {} prices in {} ({}), tiers at {} a month",
            self.function,
            self.provider,
            self.invocations,
            self.parallel,
            if self.cold_starts_only {
                ", cold starts only"
            } else {
                ""
            },
            self.strategy,
            self.pricing,
            self.region,
            self.currency,
            self.monthly_invocations,
        )?;
        writeln!(
            f,
            "   {:>8} {:>6} {:>6} {:>5} {:>12} {:>10} {:>10} {:>16} {:>12}",
            "memory", "calls", "errors", "cold", "duration ms", "p99 ms", "billed ms", "per invocation", "per million"
        )?;
        for v in &self.values {
            let star = if Some(v.memory_mb) == self.chosen_memory_mb {
                "*"
            } else {
                " "
            };
            match &v.failed {
                Some(why) => writeln!(
                    f,
                    " {star} {:>5} MB {:>6} {:>6} every invocation failed: {why}",
                    v.memory_mb, v.invocations, v.errors
                )?,
                None => writeln!(
                    f,
                    " {star} {:>5} MB {:>6} {:>6} {:>5} {:>12.2} {:>10.2} {:>10.1} {:>16.10} {:>12.4}",
                    v.memory_mb,
                    v.invocations,
                    v.errors,
                    v.cold_starts,
                    v.duration_ms,
                    v.stats.map_or(0.0, |s| s.p99_ms),
                    v.billed_ms,
                    v.cost_per_invocation,
                    v.cost_per_million,
                )?,
            }
        }
        let mut unpriced: Vec<&str> = self
            .values
            .iter()
            .flat_map(|v| v.unpriced.iter().map(String::as_str))
            .collect();
        unpriced.sort_unstable();
        unpriced.dedup();
        if !unpriced.is_empty() {
            writeln!(
                f,
                "   not priced (the pricing file has no rate, counted as 0): {}",
                unpriced.join(", ")
            )?;
        }
        if self.values.iter().any(|v| v.duration_source == "client") {
            writeln!(
                f,
                "   durations are the client's round trips: the invocations returned no REPORT"
            )?;
        }
        match self.chosen() {
            Some(v) => writeln!(
                f,
                "chosen: {} MB ({:.2} ms, {:.4} {} per million; was {} MB)",
                v.memory_mb, v.duration_ms, v.cost_per_million, self.currency, self.original_memory_mb
            )?,
            None => writeln!(f, "chosen: none (every size failed)")?,
        }
        if let Some((to, version)) = &self.applied {
            match (to, version) {
                (ApplyTo::Label(label), Some(v)) => writeln!(f, "applied: {label} → version {v}")?,
                _ => writeln!(f, "applied to the function")?,
            }
        }
        if !self.cleaned_before.is_empty() {
            writeln!(
                f,
                "removed first what an interrupted run left: {} versions, {} labels",
                self.cleaned_before.versions.len(),
                self.cleaned_before.labels.len()
            )?;
        }
        writeln!(
            f,
            "removed afterwards: {} versions, {} labels; took {:.1} s",
            self.versions_removed.len(),
            self.labels_removed.len(),
            self.elapsed_ms as f64 / 1000.0
        )?;
        write!(f, "chart: {}", self.power_tuning_url)
    }
}
