//! The pricing file: its schema, loading and checks.
//!
//! Every figure carries the URL it was read from (`source`) and the day it was read
//! (`as_of`); the checks refuse a file whose rates are negative or not finite, whose tiers do
//! not ascend, or whose figures lack a source or date. A field the schema does not know is
//! refused too, so a misspelt rate never silently drops out.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The one schema version this library reads.
pub const SCHEMA_VERSION: u32 = 1;

const AWS_DEFAULT: &str = include_str!("../../pricing/aws-lambda.json");
const GCP_DEFAULT: &str = include_str!("../../pricing/gcp-cloud-run-functions.json");
const AZURE_DEFAULT: &str = include_str!("../../pricing/azure-functions-flex.json");

/// The cloud a pricing file prices, which decides how [`estimate`](super::estimate) bills.
///
/// ```
/// assert_eq!(faas_core::cost::Cloud::Gcp.to_string(), "gcp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// AWS Lambda: GB-s of configured memory, tiered by monthly volume, plus a request fee.
    Aws,
    /// Cloud Run functions, request-based billing: vCPU-s, GiB-s and requests.
    Gcp,
    /// Azure Functions Flex Consumption: GB-s of instance memory plus executions.
    Azure,
}

impl Cloud {
    /// The cloud whose prices apply to a provider: the local provider is priced as Lambda,
    /// which it mirrors, so local figures compare with AWS ones.
    ///
    /// ```
    /// use faas_core::cost::Cloud;
    /// assert_eq!(Cloud::of_provider("local")?, Cloud::Aws);
    /// assert!(Cloud::of_provider("oracle").is_err());
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn of_provider(provider: &str) -> Result<Cloud> {
        match provider {
            "local" | "aws" => Ok(Cloud::Aws),
            "gcp" => Ok(Cloud::Gcp),
            "azure" => Ok(Cloud::Azure),
            other => Err(Error::invalid(
                "provider",
                other,
                "no default pricing file for this provider: pass one (TuneOptions::pricing)",
            )),
        }
    }

    /// The region priced when none is named: `us-east-1`, `us-central1`, `eastus`.
    ///
    /// ```
    /// assert_eq!(faas_core::cost::Cloud::Gcp.default_region(), "us-central1");
    /// ```
    pub fn default_region(self) -> &'static str {
        match self {
            Cloud::Aws => "us-east-1",
            Cloud::Gcp => "us-central1",
            Cloud::Azure => "eastus",
        }
    }
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
        })
    }
}

/// One figure: a value, its unit, where it was read and when.
///
/// ```
/// let p = faas_core::cost::Pricing::aws_default();
/// let f = &p.file().billing["duration_rounding_ms"];
/// assert_eq!((f.value, f.unit.as_str()), (1.0, "ms"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// The value.
    pub value: f64,
    /// Its unit (`ms`, `MB`, `requests/month`).
    pub unit: String,
    /// The URL it was read from.
    pub source: String,
    /// The day it was read (`YYYY-MM-DD`).
    pub as_of: String,
    /// What the source says about it, when that matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One price band of a [`Rate`]: `price` per unit for usage up to `up_to` units a month
/// (`None`: without limit).
///
/// ```
/// let t = faas_core::cost::Tier { up_to: None, price: 0.2 };
/// assert!(t.up_to.is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The monthly volume the band ends at; `None` for the last, open band.
    pub up_to: Option<f64>,
    /// The price per unit inside the band.
    pub price: f64,
}

/// A price: one band, or monthly volume tiers in ascending order.
///
/// ```
/// use faas_core::cost::{Pricing, RateKind};
/// let r = Pricing::aws_default().region("us-east-1")?.rate(RateKind::DurationX86).cloned().unwrap();
/// assert!(r.tiers.len() > 1 && r.as_of.len() == 10);
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The billed unit (`GB-s`, `vCPU-s`, `1M requests`).
    pub unit: String,
    /// The bands, ascending by `up_to`.
    pub tiers: Vec<Tier>,
    /// The URL it was read from.
    pub source: String,
    /// The day it was read (`YYYY-MM-DD`).
    pub as_of: String,
    /// What the source says about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Rate {
    /// What `volume` units in a month cost across the bands; `None` when the volume goes
    /// past the last band the file knows.
    ///
    /// ```
    /// use faas_core::cost::{Rate, Tier};
    /// let r = Rate { unit: "GB-s".into(), source: "https://example.com".into(), as_of: "2026-01-01".into(), note: None,
    ///     tiers: vec![Tier { up_to: Some(10.0), price: 2.0 }, Tier { up_to: None, price: 1.0 }] };
    /// assert_eq!(r.cost_of(15.0), Some(25.0));
    /// ```
    pub fn cost_of(&self, volume: f64) -> Option<f64> {
        let (mut cost, mut below) = (0.0, 0.0);
        for tier in &self.tiers {
            let top = tier.up_to.unwrap_or(f64::INFINITY);
            if volume > below {
                cost += (volume.min(top) - below) * tier.price;
            }
            if volume <= top {
                return Some(cost);
            }
            below = top;
        }
        None
    }
}

/// The named rates a region can have. A file holds only those its sources gave.
///
/// ```
/// use faas_core::cost::{Pricing, RateKind};
/// assert!(Pricing::gcp_default().region("us-central1")?.rate(RateKind::Vcpu).is_some());
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKind {
    /// Lambda on-demand duration, x86_64 (GB-s, tiered).
    #[serde(rename = "duration_x86_64")]
    DurationX86,
    /// Lambda on-demand duration, arm64 (GB-s, tiered).
    #[serde(rename = "duration_arm64")]
    DurationArm,
    /// The request (execution) fee, per million.
    Requests,
    /// Lambda ephemeral storage above the included size (GB-s).
    EphemeralStorage,
    /// Lambda provisioned concurrency, x86_64 (GB-s configured).
    #[serde(rename = "provisioned_concurrency_x86_64")]
    ProvisionedConcurrencyX86,
    /// Lambda provisioned concurrency, arm64 (GB-s configured).
    #[serde(rename = "provisioned_concurrency_arm64")]
    ProvisionedConcurrencyArm,
    /// Duration of invocations on provisioned concurrency, x86_64 (GB-s).
    #[serde(rename = "provisioned_duration_x86_64")]
    ProvisionedDurationX86,
    /// Duration of invocations on provisioned concurrency, arm64 (GB-s).
    #[serde(rename = "provisioned_duration_arm64")]
    ProvisionedDurationArm,
    /// Cloud Run vCPU-seconds.
    Vcpu,
    /// Cloud Run GiB-seconds.
    Memory,
    /// Azure Flex on-demand execution time (GB-s of instance memory).
    OnDemandExecution,
    /// Azure Flex on-demand executions, per million.
    OnDemandExecutions,
    /// Azure Flex always-ready baseline (GB-s of instance memory kept ready).
    AlwaysReadyBaseline,
    /// Azure Flex always-ready execution time (GB-s).
    AlwaysReadyExecution,
    /// Azure Flex always-ready executions, per million.
    AlwaysReadyExecutions,
}

impl RateKind {
    /// The name the file uses (`duration_x86_64`).
    ///
    /// ```
    /// assert_eq!(faas_core::cost::RateKind::DurationArm.name(), "duration_arm64");
    /// ```
    pub fn name(self) -> String {
        key(&self)
    }
}

/// Billing rules (rounding, what is billed), each with its source.
///
/// ```
/// use faas_core::cost::{BillingRule, Pricing};
/// assert_eq!(Pricing::gcp_default().billing(BillingRule::DurationRoundingMs), Some(100.0));
/// assert_eq!(BillingRule::InitBilled.name(), "init_billed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingRule {
    /// Durations are rounded up to a multiple of this many ms.
    DurationRoundingMs,
    /// No billed duration is shorter than this many ms (Azure Flex: 1,000 ms).
    MinimumBilledMs,
    /// 1 when the init (cold start) phase is billed like the invocation, 0 when not.
    InitBilled,
    /// Ephemeral storage included at no charge, in MB.
    IncludedEphemeralStorageMb,
    /// MB in the GB (or MiB in the GiB) of the memory unit.
    MbPerGb,
}

impl BillingRule {
    /// The name the file uses (`mb_per_gb`).
    pub fn name(self) -> String {
        key(&self)
    }
}

/// Monthly free grants. [`estimate`](super::estimate) uses them only when asked.
///
/// ```
/// use faas_core::cost::{Grant, Pricing};
/// assert_eq!(Grant::Requests.value_in(&Pricing::aws_default()), Some(1_000_000.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Free requests (executions).
    Requests,
    /// Free GB-s of duration (Lambda: shared by both architectures).
    Duration,
    /// Free vCPU-s.
    Vcpu,
    /// Free GiB-s.
    Memory,
}

impl Grant {
    /// The name the file uses (`requests`).
    pub fn name(self) -> String {
        key(&self)
    }

    /// The grant of `self` in `pricing`, when it has one.
    pub fn value_in(self, pricing: &Pricing) -> Option<f64> {
        pricing.file.free_grants.get(&self.name()).map(|f| f.value)
    }
}

/// The vCPU a cloud gives each memory size by default.
///
/// ```
/// let t = faas_core::cost::Pricing::gcp_default().file().cpu_by_memory.clone().unwrap();
/// assert!(t.steps.windows(2).all(|w| w[0].memory_mb < w[1].memory_mb));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuTable {
    /// The URL it was read from.
    pub source: String,
    /// The day it was read.
    pub as_of: String,
    /// What the source says about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Memory steps ascending, each with its vCPU.
    pub steps: Vec<CpuStep>,
}

/// One row of a [`CpuTable`].
///
/// ```
/// let s = faas_core::cost::CpuStep { memory_mb: 2048, vcpu: 1.0 };
/// assert_eq!(s.vcpu, 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuStep {
    /// The memory size in MB (MiB).
    pub memory_mb: u32,
    /// The vCPU it gets.
    pub vcpu: f64,
}

/// The memory sizes a plan allows (Azure Flex instance sizes).
///
/// ```
/// let a = faas_core::cost::Pricing::azure_default().file().allowed_memory_mb.clone().unwrap();
/// assert!(a.values.contains(&2048));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedMemory {
    /// The sizes in MB.
    pub values: Vec<u32>,
    /// The URL they were read from.
    pub source: String,
    /// The day they were read.
    pub as_of: String,
    /// What the source says about them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One region's prices.
///
/// ```
/// let r = faas_core::cost::Pricing::gcp_default().region("europe-west1")?.clone();
/// assert_eq!(r.price_tier.as_deref(), Some("tier1"));
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// The cloud's price tier of the region (`tier1`), where it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_tier: Option<String>,
    /// The rates, by [`RateKind`] name (`duration_x86_64`).
    pub rates: BTreeMap<String, Rate>,
}

impl Region {
    /// The rate of `kind`, when the file has it.
    pub fn rate(&self, kind: RateKind) -> Option<&Rate> {
        self.rates.get(&kind.name())
    }
}

/// A pricing file as written (see `faas-core/pricing/*.json`).
///
/// ```
/// let f = faas_core::cost::Pricing::aws_default().file().clone();
/// assert_eq!((f.schema_version, f.currency.as_str()), (faas_core::cost::SCHEMA_VERSION, "USD"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingFile {
    /// Must be [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The cloud priced.
    pub cloud: Cloud,
    /// The product and billing model (`AWS Lambda (on-demand)`).
    pub product: String,
    /// The currency of every price (`USD`).
    pub currency: String,
    /// Remarks, including what was not found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Billing rules, by [`BillingRule`] name (`duration_rounding_ms`).
    #[serde(default)]
    pub billing: BTreeMap<String, Figure>,
    /// Default vCPU per memory size (Cloud Run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_by_memory: Option<CpuTable>,
    /// Allowed memory sizes (Azure Flex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_memory_mb: Option<AllowedMemory>,
    /// Monthly free grants (off unless asked for), by [`Grant`] name (`requests`).
    #[serde(default)]
    pub free_grants: BTreeMap<String, Figure>,
    /// Prices per region.
    pub regions: BTreeMap<String, Region>,
}

/// A checked pricing file and the name it was loaded under.
///
/// ```
/// use faas_core::cost::{Cloud, Pricing, RateKind};
/// let p = Pricing::aws_default();
/// assert_eq!(p.file().cloud, Cloud::Aws);
/// let r = p.region("us-east-1")?.rate(RateKind::Requests).unwrap();
/// assert!(r.source.starts_with("https://"));
/// assert!(p.region("mars-1").is_err());
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    name: String,
    file: PricingFile,
}

impl Pricing {
    /// The AWS Lambda prices shipped with the library (`pricing/aws-lambda.json`).
    pub fn aws_default() -> Pricing {
        Self::embedded("aws-lambda.json", AWS_DEFAULT)
    }

    /// The Cloud Run functions prices shipped with the library.
    pub fn gcp_default() -> Pricing {
        Self::embedded("gcp-cloud-run-functions.json", GCP_DEFAULT)
    }

    /// The Azure Functions Flex Consumption prices shipped with the library.
    pub fn azure_default() -> Pricing {
        Self::embedded("azure-functions-flex.json", AZURE_DEFAULT)
    }

    /// The shipped prices of `cloud`.
    ///
    /// ```
    /// use faas_core::cost::{Cloud, Pricing};
    /// assert_eq!(Pricing::default_for(Cloud::Gcp).name(), "gcp-cloud-run-functions.json");
    /// ```
    pub fn default_for(cloud: Cloud) -> Pricing {
        match cloud {
            Cloud::Aws => Self::aws_default(),
            Cloud::Gcp => Self::gcp_default(),
            Cloud::Azure => Self::azure_default(),
        }
    }

    fn embedded(name: &str, text: &str) -> Pricing {
        // The shipped files are checked by the unit tests; a broken one is a build defect.
        Self::from_json(name, text).expect("the shipped pricing file passes its schema")
    }

    /// Reads and checks a user's pricing file (negotiated prices, other regions).
    ///
    /// ```no_run
    /// let p = faas_core::cost::Pricing::from_path("my-prices.json")?;
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Pricing> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        Self::from_json(&path.display().to_string(), &text)
    }

    /// Parses and checks pricing JSON; `name` says which file in errors.
    ///
    /// ```
    /// let e = faas_core::cost::Pricing::from_json("p.json", r#"{"schema_version": 1, "cloud": "aws", "oops": 1}"#).unwrap_err();
    /// assert!(matches!(e, faas_core::Error::InvalidInput { ref field, .. } if field == "oops"));
    /// ```
    pub fn from_json(name: &str, text: &str) -> Result<Pricing> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: PricingFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let message = e.inner().to_string();
            let field = super::validate::field_of(&e.path().to_string(), &message);
            Error::invalid(field, "pricing file", format!("{name}: {message}"))
        })?;
        super::validate::validate(name, &file)?;
        Ok(Pricing {
            name: name.to_string(),
            file,
        })
    }

    /// The name it was loaded under (a file name or path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked contents.
    pub fn file(&self) -> &PricingFile {
        &self.file
    }

    /// The prices of `region`, or [`Error::InvalidInput`] naming the regions the file has.
    pub fn region(&self, region: &str) -> Result<&Region> {
        self.file.regions.get(region).ok_or_else(|| {
            let known: Vec<&str> = self.file.regions.keys().map(String::as_str).collect();
            Error::invalid(
                "region",
                region,
                format!(
                    "{} has no prices for this region (it has {}); load a file that does with Pricing::from_path",
                    self.name,
                    known.join(", ")
                ),
            )
        })
    }

    /// The billing rule `rule`, when the file has it.
    pub fn billing(&self, rule: BillingRule) -> Option<f64> {
        self.file.billing.get(&rule.name()).map(|f| f.value)
    }
}

fn key(k: &impl Serialize) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
