//! What to tune and how: [`TuneOptions`], the [`Strategy`] that picks the winner, weighted
//! payloads, and the checks made before anything is created.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Pricing;
use crate::cost::Cloud;
use crate::{Error, FunctionSpec, LabelModel, Provider, ProviderInfo, Result};

/// The share of the slowest and of the fastest invocations each size discards before
/// averaging (Power Tuning's `discardTopBottom` default).
pub const DEFAULT_TRIM: f64 = 0.2;

/// How the winner is chosen.
///
/// ```
/// use faas_core::cost::tune::Strategy;
/// assert_eq!("balanced:0.3".parse::<Strategy>()?, Strategy::Balanced(0.3));
/// assert_eq!("speed".parse::<Strategy>()?.to_string(), "speed");
/// assert!("balanced:1.5".parse::<Strategy>().is_err());
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The cheapest per invocation (ties: the faster).
    #[default]
    Cost,
    /// The fastest (ties: the cheaper).
    Speed,
    /// The lowest `w·cost/max_cost + (1−w)·duration/max_duration` (Power Tuning's balanced
    /// formula), `w` in 0–1.
    Balanced(f64),
}

impl Strategy {
    /// Refuses a balanced weight outside 0–1.
    pub fn check(&self) -> Result<()> {
        match *self {
            Strategy::Balanced(w) if !(0.0..=1.0).contains(&w) || !w.is_finite() => Err(Error::invalid(
                "strategy",
                format!("balanced:{w}"),
                "the balanced weight must be between 0 (speed only) and 1 (cost only), e.g. balanced:0.5",
            )),
            _ => Ok(()),
        }
    }
}

impl FromStr for Strategy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Strategy> {
        let strategy = match s.trim() {
            "cost" => Strategy::Cost,
            "speed" => Strategy::Speed,
            "balanced" => Strategy::Balanced(0.5),
            other => {
                let weight = other.strip_prefix("balanced:").ok_or_else(|| {
                    Error::invalid(
                        "strategy",
                        s,
                        "expected cost, speed, balanced or balanced:W with W between 0 and 1",
                    )
                })?;
                Strategy::Balanced(weight.parse().map_err(|_| {
                    Error::invalid("strategy", s, "the balanced weight must be a number between 0 and 1")
                })?)
            }
        };
        strategy.check()?;
        Ok(strategy)
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Cost => f.write_str("cost"),
            Strategy::Speed => f.write_str("speed"),
            Strategy::Balanced(w) => write!(f, "balanced:{w}"),
        }
    }
}

/// One payload and its share of the invocations (Power Tuning's `[{payload, weight}]`).
///
/// ```
/// let p = faas_core::cost::tune::WeightedPayload::new(serde_json::json!({"n": 1}), 3.0);
/// assert_eq!(p.weight, 3.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedPayload {
    /// The event.
    pub payload: serde_json::Value,
    /// Its weight (> 0); the shares are the weights over their sum.
    pub weight: f64,
}

impl WeightedPayload {
    /// `payload` with `weight`.
    pub fn new(payload: serde_json::Value, weight: f64) -> WeightedPayload {
        WeightedPayload { payload, weight }
    }
}

/// What to do with the winner.
///
/// ```
/// let a = faas_core::cost::tune::ApplyTo::Label("live".into());
/// assert_ne!(a, faas_core::cost::tune::ApplyTo::Latest);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// Leave the function at the winning memory (`$LATEST`, or the app itself).
    Latest,
    /// Leave it there, publish a version of it and point this label at the version.
    Label(String),
}

/// How to tune. `TuneOptions::new()` tries the provider's [`default_memory`] sizes, 10
/// invocations each of `{}`, 4 at a time, and picks the cheapest.
///
/// ```
/// use faas_core::cost::tune::{Strategy, TuneOptions};
/// let o = TuneOptions::new().memory([256, 512]).invocations(5).strategy(Strategy::Speed);
/// assert_eq!((o.memory_mb.len(), o.invocations, o.parallel), (2, 5, 4));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TuneOptions {
    /// The sizes to try, MB; empty: [`default_memory`].
    pub memory_mb: Vec<u32>,
    /// Invocations per size (≥ 1).
    pub invocations: u32,
    /// The payloads; empty: one `{}`.
    pub payloads: Vec<WeightedPayload>,
    /// At most this many invocations at once (≥ 1), over all sizes.
    pub parallel: usize,
    /// Make every invocation a cold start: a fresh version per invocation (slow; what it
    /// measures is init plus the first run).
    pub cold_starts_only: bool,
    /// How the winner is chosen.
    pub strategy: Strategy,
    /// The share discarded at each end before averaging, 0 ≤ trim < 0.5.
    pub trim: f64,
    /// The pricing region; `None`: the cloud's default ([`Cloud::default_region`]).
    pub region: Option<String>,
    /// The prices; `None`: the cloud's default file (the local provider uses AWS's).
    pub pricing: Option<Pricing>,
    /// The monthly volume the price tiers are applied at (≥ 1).
    pub monthly_invocations: u64,
    /// Apply the winner ([`ApplyTo`]); `None`: leave the function as it was.
    pub apply: Option<ApplyTo>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions::new()
    }
}

impl TuneOptions {
    /// The defaults (see the type).
    pub fn new() -> TuneOptions {
        TuneOptions {
            memory_mb: Vec::new(),
            invocations: 10,
            payloads: Vec::new(),
            parallel: 4,
            cold_starts_only: false,
            strategy: Strategy::Cost,
            trim: DEFAULT_TRIM,
            region: None,
            pricing: None,
            monthly_invocations: 1_000_000,
            apply: None,
        }
    }

    /// Tries these sizes.
    pub fn memory(mut self, mb: impl IntoIterator<Item = u32>) -> Self {
        self.memory_mb = mb.into_iter().collect();
        self
    }

    /// Invokes each size `n` times.
    pub fn invocations(mut self, n: u32) -> Self {
        self.invocations = n;
        self
    }

    /// Invokes with this one payload.
    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payloads = vec![WeightedPayload::new(payload, 1.0)];
        self
    }

    /// Invokes with these payloads, each on its weight's share of the invocations.
    pub fn weighted_payloads(mut self, payloads: Vec<WeightedPayload>) -> Self {
        self.payloads = payloads;
        self
    }

    /// Runs at most `n` invocations at once.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n;
        self
    }

    /// Makes every invocation a cold start.
    pub fn cold_starts_only(mut self, yes: bool) -> Self {
        self.cold_starts_only = yes;
        self
    }

    /// Chooses by `strategy`.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Discards this share at each end.
    pub fn trim(mut self, share: f64) -> Self {
        self.trim = share;
        self
    }

    /// Prices in `region`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Prices with `pricing`.
    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = Some(pricing);
        self
    }

    /// Applies the price tiers at this monthly volume.
    pub fn monthly_invocations(mut self, n: u64) -> Self {
        self.monthly_invocations = n;
        self
    }

    /// Applies the winner.
    pub fn apply(mut self, to: ApplyTo) -> Self {
        self.apply = Some(to);
        self
    }

    /// The pricing file and region used for `info`'s provider.
    pub(crate) fn prices(&self, info: &ProviderInfo) -> Result<(Pricing, String)> {
        let pricing = match &self.pricing {
            Some(p) => p.clone(),
            None => Pricing::default_for(Cloud::of_provider(info.name.as_str())?),
        };
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| pricing.file().cloud.default_region().to_string());
        pricing.region(&region)?;
        Ok((pricing, region))
    }

    /// The payloads with how many invocations each gets: shares by weight, the remainder
    /// to the largest fractions (earlier payloads first on ties).
    pub(crate) fn payload_counts(&self) -> Vec<(serde_json::Value, u32)> {
        if self.payloads.is_empty() {
            return vec![(serde_json::json!({}), self.invocations)];
        }
        let total: f64 = self.payloads.iter().map(|p| p.weight).sum();
        let exact: Vec<f64> = self
            .payloads
            .iter()
            .map(|p| p.weight / total * f64::from(self.invocations))
            .collect();
        let mut counts: Vec<u32> = exact.iter().map(|e| e.floor() as u32).collect();
        let mut order: Vec<usize> = (0..exact.len()).collect();
        order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
        let mut left = self.invocations - counts.iter().sum::<u32>();
        for i in order {
            if left == 0 {
                break;
            }
            counts[i] += 1;
            left -= 1;
        }
        self.payloads.iter().map(|p| p.payload.clone()).zip(counts).collect()
    }

    /// Refuses what the provider cannot do (memory fixed by the plan; a label where there
    /// are none), before any call.
    pub(crate) fn check_capability(&self, info: &ProviderInfo) -> Result<()> {
        if !info.capability.memory_tuning {
            return Err(Error::unsupported(
                "memory tuning",
                Some(
                    "the hosting plan fixes the memory (Azure Premium and Dedicated): tune on Flex Consumption".into(),
                ),
            )
            .with_provider(info.name));
        }
        if matches!(self.apply, Some(ApplyTo::Label(_))) && info.capability.label_model == LabelModel::None {
            return Err(Error::unsupported(
                "applying the tuned memory to a label",
                Some("this provider has no labels: apply to the function itself (ApplyTo::Latest)".into()),
            )
            .with_provider(info.name));
        }
        Ok(())
    }

    /// Every check that can be made before anything is created: the numbers, the strategy,
    /// the payloads, the pricing region, and each size against the provider's rules (its
    /// [`Provider::validate`] of the function's own spec at that size). Returns the sizes,
    /// ascending and without repeats.
    pub(crate) fn check(&self, provider: &dyn Provider, spec: &FunctionSpec, pricing: &Pricing) -> Result<Vec<u32>> {
        if self.invocations == 0 {
            return Err(Error::invalid(
                "invocations",
                0,
                "invoke each memory size at least once",
            ));
        }
        if self.parallel == 0 {
            return Err(Error::invalid("parallel", 0, "run at least one invocation at a time"));
        }
        if self.monthly_invocations == 0 {
            return Err(Error::invalid(
                "monthly_invocations",
                0,
                "the price tiers need a monthly volume of at least 1",
            ));
        }
        if !(0.0..0.5).contains(&self.trim) {
            return Err(Error::invalid(
                "trim",
                self.trim,
                "discard a share from 0 up to (not including) 0.5 at each end; 0.2 is the default",
            ));
        }
        self.strategy.check()?;
        if let Some(p) = self.payloads.iter().find(|p| !(p.weight.is_finite() && p.weight > 0.0)) {
            return Err(Error::invalid(
                "payloads.weight",
                p.weight,
                "every weight must be above 0",
            ));
        }
        if self.payloads.len() > self.invocations as usize {
            return Err(Error::invalid(
                "invocations",
                self.invocations,
                format!(
                    "{} payloads need at least as many invocations per size",
                    self.payloads.len()
                ),
            ));
        }
        let mut sizes = match self.memory_mb.is_empty() {
            true => default_memory(provider.info().name.as_str(), pricing),
            false => self.memory_mb.clone(),
        };
        sizes.sort_unstable();
        sizes.dedup();
        if let Some(allowed) = &pricing.file().allowed_memory_mb
            && let Some(bad) = sizes.iter().find(|m| !allowed.values.contains(m))
        {
            return Err(Error::invalid(
                "memory_mb",
                bad,
                format!("the plan allows only {:?} MB", allowed.values),
            ));
        }
        for &mb in &sizes {
            provider.validate(&spec.clone().memory_mb(mb))?;
        }
        if let Some(ApplyTo::Label(label)) = &self.apply
            && label.starts_with(super::LABEL_PREFIX)
        {
            return Err(Error::invalid(
                "apply",
                label,
                format!(
                    "labels starting with {} are tuning's own and removed afterwards",
                    super::LABEL_PREFIX
                ),
            ));
        }
        Ok(sizes)
    }
}

/// The sizes tried when none are given: Power Tuning's defaults for Lambda (and the local
/// provider), memory steps of Cloud Run functions' default vCPU table for GCP, the plan's
/// instance sizes for Azure Flex (from the pricing file).
///
/// ```
/// use faas_core::cost::{Pricing, tune::default_memory};
/// assert_eq!(default_memory("aws", &Pricing::aws_default()), [128, 256, 512, 1024, 1536, 3008]);
/// assert_eq!(default_memory("azure", &Pricing::azure_default()), [512, 2048, 4096]);
/// ```
pub fn default_memory(provider: &str, pricing: &Pricing) -> Vec<u32> {
    match provider {
        "gcp" => vec![256, 512, 1024, 2048, 4096],
        "azure" => pricing
            .file()
            .allowed_memory_mb
            .as_ref()
            .map(|a| a.values.clone())
            .unwrap_or_default(),
        _ => vec![128, 256, 512, 1024, 1536, 3008],
    }
}
