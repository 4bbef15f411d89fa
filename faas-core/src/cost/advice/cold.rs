//! Cold starts: their share, what their billed init costs a month, and what would remove
//! them on the provider at hand, priced from the pricing file where it has the rates.

use serde::{Deserialize, Serialize};

use super::{AdviceInput, Judgement, MONTH_S, measured_usage};
use crate::cost::estimate::{CostEstimate, estimate};
use crate::cost::pricing::{BillingRule, RateKind};
use crate::{Architecture, FunctionSpec, Result, RuntimeFamily};

/// Where the SnapStart runtimes and limits were read (2026-12-01): Java 11 and later,
/// Python 3.12 and later, .NET 8 and later; not other managed runtimes (Node.js, Ruby),
/// OS-only runtimes or container images; not with provisioned concurrency, EFS or more than
/// 512 MB of ephemeral storage; published versions only.
pub const SNAPSTART_SOURCE: &str = "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html";

/// What would remove cold starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdStartOptionKind {
    /// Lambda provisioned concurrency: environments kept initialised, billed per GB-s.
    ProvisionedConcurrency,
    /// Lambda SnapStart: environments resumed from a snapshot taken at publish.
    SnapStart,
    /// Cloud Run minimum instances (`min_instance_count`), kept idle between requests.
    MinInstances,
    /// Azure Flex Consumption always-ready instances.
    AlwaysReady,
}

impl std::fmt::Display for ColdStartOptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColdStartOptionKind::ProvisionedConcurrency => "provisioned concurrency",
            ColdStartOptionKind::SnapStart => "SnapStart",
            ColdStartOptionKind::MinInstances => "minimum instances",
            ColdStartOptionKind::AlwaysReady => "always-ready instances",
        })
    }
}

/// One way to remove cold starts, and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartOption {
    /// Which.
    pub kind: ColdStartOptionKind,
    /// Whether it applies to this function (runtime, provider, settings).
    pub applies: bool,
    /// Instances kept ready (the peak concurrency observed), where that is how it bills.
    pub instances: Option<u64>,
    /// What it costs a month; `None`: unpriced (see `detail`) or not applicable.
    pub monthly_cost: Option<f64>,
    /// The monthly change against on demand: its cost minus the on-demand compute and init
    /// (and executions, where it bills them itself) it replaces. Negative: it saves.
    pub net_monthly: Option<f64>,
    /// Why it does not apply, why it is unpriced, how it bills.
    pub detail: String,
}

/// Cold starts and what they cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartAdvice {
    /// Cold starts in the window (`None`: the provider records none).
    pub cold_starts: Option<u64>,
    /// Cold starts per invocation, 0–1.
    pub share: Option<f64>,
    /// The mean init duration, ms.
    pub avg_init_ms: Option<f64>,
    /// Whether the pricing file bills init like the invocation.
    pub init_billed: bool,
    /// What cold starts cost a month: the estimate with init minus the same without.
    pub monthly_cost: Option<f64>,
    /// The most invocations at once in the window.
    pub peak_concurrency: Option<u64>,
    /// What would remove them.
    pub options: Vec<ColdStartOption>,
    /// Why there is nothing to price, when there is not.
    pub note: Option<String>,
    /// Whether the window holds enough invocations for the share to mean much (the costs
    /// are computed either way, from what was seen).
    pub judgement: Judgement,
}

/// Whether SnapStart supports `spec` (`Err`: why not), as [`SNAPSTART_SOURCE`] says. Of the
/// runtimes this library deploys, Python 3.12 and later.
///
/// ```
/// use faas_core::FunctionSpec;
/// use faas_core::cost::advice::snapstart_support;
/// let f = |rt: &str| FunctionSpec::new("f", rt.parse().unwrap(), "app.handler");
/// assert!(snapstart_support(&f("python3.13")).is_ok());
/// assert!(snapstart_support(&f("python3.11")).unwrap_err().contains("3.12"));
/// assert!(snapstart_support(&f("nodejs20.x")).is_err());
/// ```
pub fn snapstart_support(spec: &FunctionSpec) -> std::result::Result<(), String> {
    let rt = spec.runtime.lambda_name();
    let supported = "SnapStart supports Java 11+, Python 3.12+ and .NET 8+";
    match spec.runtime.family() {
        RuntimeFamily::Python => {
            let minor = spec
                .runtime
                .version()
                .and_then(|v| v.strip_prefix("3."))
                .and_then(|m| m.parse::<u32>().ok());
            if minor.is_none_or(|m| m < 12) {
                return Err(format!("{rt}: {supported}; move to python3.12 or later"));
            }
        }
        RuntimeFamily::Custom => return Err(format!("{rt}: OS-only runtimes are not supported ({supported})")),
        _ => return Err(format!("{rt} is not supported ({supported})")),
    }
    if let Some(mb) = spec.aws.ephemeral_storage_mb.filter(|mb| *mb > 512) {
        return Err(format!("{mb} MB of ephemeral storage: SnapStart allows at most 512 MB"));
    }
    Ok(())
}

pub(super) fn advice(input: &AdviceInput<'_>, est: Option<&CostEstimate>, monthly: u64) -> Result<ColdStartAdvice> {
    let m = input.metrics;
    let mut out = ColdStartAdvice {
        cold_starts: m.cold_starts,
        share: m.cold_start_rate(),
        avg_init_ms: m.init_duration.map(|d| d.avg_ms),
        init_billed: input.pricing.billing(BillingRule::InitBilled) == Some(1.0),
        monthly_cost: None,
        peak_concurrency: m.peak_concurrency,
        options: Vec::new(),
        note: None,
        judgement: super::sizing::enough(input),
    };
    let Some(est) = est else {
        out.note = Some("no estimate to price them against".into());
        return Ok(out);
    };
    if out.cold_starts == Some(0) {
        out.monthly_cost = Some(0.0);
        out.note = Some("no cold start in the window: nothing to remove".into());
        return Ok(out);
    }
    if out.cold_starts.is_some() {
        let warm = measured_usage(input, monthly)?.init(0.0, 0.0);
        let without = estimate(input.pricing, &warm, &input.options.estimate)?;
        out.monthly_cost = Some(est.per_month.total() - without.per_month.total());
    } else {
        out.note = Some(
            m.unavailable
                .get("cold_starts")
                .cloned()
                .unwrap_or_else(|| "the provider records no cold starts".into()),
        );
    }
    let n = m.peak_concurrency.filter(|n| *n > 0);
    let arm = input.spec.architecture == Architecture::Arm64;
    let priced = |kind, base, exec, execs| option(input, est, monthly, n, kind, (base, exec, execs));
    match input.provider {
        "aws" | "local" => {
            let (base, exec) = if arm {
                (RateKind::ProvisionedConcurrencyArm, RateKind::ProvisionedDurationArm)
            } else {
                (RateKind::ProvisionedConcurrencyX86, RateKind::ProvisionedDurationX86)
            };
            out.options
                .push(priced(ColdStartOptionKind::ProvisionedConcurrency, base, exec, None));
            out.options.push(snapstart(input.spec));
        }
        "azure" => out.options.push(priced(
            ColdStartOptionKind::AlwaysReady,
            RateKind::AlwaysReadyBaseline,
            RateKind::AlwaysReadyExecution,
            Some(RateKind::AlwaysReadyExecutions),
        )),
        _ => out.options.push(ColdStartOption {
            kind: ColdStartOptionKind::MinInstances,
            applies: true,
            instances: n,
            monthly_cost: None,
            net_monthly: None,
            detail: format!(
                "min_instance_count = {}: unpriced ({} has no rate for idle minimum instances)",
                n.map_or("the peak concurrency".into(), |n| n.to_string()),
                input.pricing.name()
            ),
        }),
    }
    Ok(out)
}

fn snapstart(spec: &FunctionSpec) -> ColdStartOption {
    let (applies, detail) = match snapstart_support(spec) {
        Ok(()) => (
            true,
            format!(
                "publish versions with SnapStart on (not with provisioned concurrency; $LATEST never resumes from a snapshot); unpriced: Python and .NET snapshots bill caching and restores, which the pricing file has no rate for ({SNAPSTART_SOURCE})"
            ),
        ),
        Err(why) => (false, format!("does not apply: {why} ({SNAPSTART_SOURCE})")),
    };
    ColdStartOption {
        kind: ColdStartOptionKind::SnapStart,
        applies,
        instances: None,
        monthly_cost: None,
        net_monthly: None,
        detail,
    }
}

/// `n` instances kept ready a whole month at `rates.0` per GB-s, their invocations' billed
/// duration at `rates.1`, and — where it bills them itself — their executions at `rates.2`.
fn option(
    input: &AdviceInput<'_>,
    est: &CostEstimate,
    monthly: u64,
    n: Option<u64>,
    kind: ColdStartOptionKind,
    rates: (RateKind, RateKind, Option<RateKind>),
) -> ColdStartOption {
    let (monthly_cost, net_monthly, detail) = match keep_warm(input, est, monthly, n, rates) {
        Ok((cost, replaced)) => (
            Some(cost),
            Some(cost - replaced),
            format!(
                "{} kept ready all month ({} h) at {} and {}: {cost:.6} {cur} a month, replacing {replaced:.6} {cur} of on-demand charges",
                n.unwrap_or(0),
                super::MONTH_HOURS,
                rates.0.name(),
                rates.1.name(),
                cur = est.currency
            ),
        ),
        Err(why) => (None, None, format!("unpriced: {why}")),
    };
    ColdStartOption {
        kind,
        applies: true,
        instances: n,
        monthly_cost,
        net_monthly,
        detail,
    }
}

/// The option's monthly cost and the on-demand charges it replaces.
fn keep_warm(
    input: &AdviceInput<'_>,
    est: &CostEstimate,
    monthly: u64,
    n: Option<u64>,
    (base, exec, execs): (RateKind, RateKind, Option<RateKind>),
) -> std::result::Result<(f64, f64), String> {
    let n = n.ok_or("the peak concurrency is unknown")?;
    let file = input.pricing.name();
    let region = input.pricing.region(input.region).map_err(|e| e.to_string())?;
    let mb_per_gb = input
        .pricing
        .billing(BillingRule::MbPerGb)
        .filter(|v| *v > 0.0)
        .ok_or_else(|| format!("{file} has no mb_per_gb"))?;
    let gb = f64::from(input.spec.memory_mb) / mb_per_gb;
    let cost = |kind: RateKind, volume: f64| {
        let rate = region
            .rate(kind)
            .ok_or_else(|| format!("{file} has no {} rate in {}", kind.name(), input.region))?;
        rate.cost_of(volume)
            .ok_or_else(|| format!("{file} prices {} only up to its last tier", kind.name()))
    };
    let n_month = monthly as f64;
    let mut total = cost(base, n as f64 * gb * MONTH_S)? + cost(exec, gb * est.billed_duration_ms / 1000.0 * n_month)?;
    let mut replaced = est.per_month.compute + est.per_month.init;
    if let Some(kind) = execs {
        total += cost(kind, n_month / 1e6)?;
        replaced += est.per_month.requests;
    }
    Ok((total, replaced))
}
