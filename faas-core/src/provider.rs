//! The two faces of a provider: [`ProviderBackend`], what each cloud implements, and
//! [`Provider`], what callers use — every backend is a `Provider`, with its input checked in
//! front of it in one place.
//!
//! The checks, before any call reaches a backend: function names, labels, versions and
//! qualifiers follow [`names`](crate::names); routing weights are within the capability's
//! [`weighted_versions`](Capability::weighted_versions); and an operation the
//! [`Capability`] rules out (labels on [`LabelModel::None`](crate::LabelModel::None), deleting versions, async
//! invoke, slot swaps) is [`Error::Unsupported`] without a call. A backend therefore sees
//! only checked input, and no backend can skip the checks: `Provider` is implemented for
//! every `ProviderBackend` and for nothing else.

use std::fmt::Debug;

use async_trait::async_trait;
use faas_package::Package;
use serde::{Deserialize, Serialize};

use crate::observe::{AlarmState, LogPage, LogQuery, Metrics, MetricsQuery, TimeWindow};
use crate::records::{RecordTag, StoredRecord, WriteCondition};
use crate::{
    ArtifactRef, Capability, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeRequest, Label, Limits,
    Plan, ProviderName, Qualifier, Result, Routing, Version,
};

/// A provider's name, capability and limits.
///
/// ```
/// use faas_core::{Capability, Limits, ProviderInfo};
/// let info = ProviderInfo::new("mine", Capability::LAMBDA, Limits::LAMBDA).weighted_label("live");
/// assert_eq!(info.weighted_label.as_deref(), Some("live"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// `local`, `aws`, `gcp`, `azure`.
    pub name: ProviderName,
    /// What it can do.
    pub capability: Capability,
    /// What it accepts.
    pub limits: Limits,
    /// The one label that can carry weighted traffic, where only one can (GCP's serving
    /// label: Cloud Run splits only the function URL's traffic); `None`: any label can.
    pub weighted_label: Option<String>,
}

impl ProviderInfo {
    /// A provider's info; any label may carry weights.
    pub fn new(name: impl Into<ProviderName>, capability: Capability, limits: Limits) -> ProviderInfo {
        ProviderInfo {
            name: name.into(),
            capability,
            limits,
            weighted_label: None,
        }
    }

    /// Only `label` can carry weighted traffic.
    pub fn weighted_label(mut self, label: impl Into<String>) -> ProviderInfo {
        self.weighted_label = Some(label.into());
        self
    }
}

/// Guards for [`Provider::publish`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The version's description.
    pub description: String,
    /// Publish only if the latest code still has this sha256 (hex): another deployer's code
    /// is never published by mistake.
    pub expected_code_sha256: Option<String>,
}

/// What a cloud implements. Callers do not call these methods: they call [`Provider`]'s,
/// which check the input first (see the module docs), so an implementation can rely on
/// valid names, a parsed qualifier and an operation its capability allows.
///
/// Every method is idempotent where the cloud allows it; deploys wait until the function is
/// ready. Names are function names; `version` is a version id; `label` a label name.
#[async_trait]
pub trait ProviderBackend: Send + Sync + Debug {
    /// The provider's name, capability and limits.
    fn info(&self) -> ProviderInfo;

    /// See [`Provider::validate`]. The default checks the spec against the provider's
    /// [`Limits`]; a provider with rules of its own (runtimes, memory steps) adds them.
    fn validate(&self, spec: &FunctionSpec) -> Result<()> {
        spec.validate(&self.info().limits)
    }

    /// See [`Provider::upload`].
    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef>;

    /// See [`Provider::plan`]: one read, then [`Plan::to_create`], or [`Plan::to_update`]
    /// with what was read and the differences [`push`](Plan::push)ed. `spec` is valid.
    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan>;

    /// Carries out `plan` — one this backend made — without reading or comparing again:
    /// what to change is in its actions, what was read is [`Plan::observed`]. `spec` is the
    /// plan's spec and `artifact` holds the plan's code. A no-op plan returns the observed
    /// deployment without a call. Waits until the function is ready.
    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome>;

    /// See [`Provider::get`].
    async fn get(&self, function: &str) -> Result<Deployment>;

    /// See [`Provider::get_qualified`]; never called with [`Qualifier::Latest`] (that is
    /// [`ProviderBackend::get`]).
    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment>;

    /// See [`Provider::delete`].
    async fn delete(&self, function: &str) -> Result<()>;

    /// See [`Provider::publish`].
    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version>;

    /// See [`Provider::list_versions`].
    async fn list_versions(&self, function: &str) -> Result<Vec<Version>>;

    /// See [`Provider::delete_version`].
    async fn delete_version(&self, function: &str, version: &str) -> Result<()>;

    /// See [`Provider::set_label`].
    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label>;

    /// See [`Provider::get_label`].
    async fn get_label(&self, function: &str, label: &str) -> Result<Label>;

    /// See [`Provider::list_labels`].
    async fn list_labels(&self, function: &str) -> Result<Vec<Label>>;

    /// See [`Provider::delete_label`].
    async fn delete_label(&self, function: &str, label: &str) -> Result<()>;

    /// See [`Provider::invoke`]; `qualifier` is `request.qualifier`, parsed.
    async fn invoke(&self, function: &str, qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation>;

    /// See [`Provider::swap`]. Called only when the capability has
    /// [`slot_swap`](Capability::slot_swap); the default says it is unsupported.
    async fn swap(&self, function: &str, label: &str) -> Result<()> {
        let _ = (function, label);
        Err(unsupported(&self.info(), "swapping a label with production", None))
    }

    /// See [`Provider::ramp_up`]. Called only on [`LabelModel::Slot`](crate::LabelModel::Slot) providers.
    async fn ramp_up(&self, function: &str, label: &str, percent: f64) -> Result<()> {
        let _ = (function, label, percent);
        Err(unsupported(&self.info(), "ramping traffic up to a slot", None))
    }

    /// See [`Provider::ramp_up_percent`]. Called only on [`LabelModel::Slot`](crate::LabelModel::Slot) providers.
    async fn ramp_up_percent(&self, function: &str, label: &str) -> Result<f64> {
        let _ = (function, label);
        Err(unsupported(&self.info(), "reading ramp-up rules", None))
    }

    /// See [`Provider::restore`]. The default says it is unsupported.
    async fn restore(&self, function: &str, version: &str) -> Result<Deployment> {
        let _ = (function, version);
        Err(unsupported(&self.info(), "restoring production to a version", None))
    }

    /// What to do about an operation the capability rules out here (`"logs"`, `"metrics"`),
    /// when the provider knows (e.g. which setting turns it on); shown in the
    /// [`Error::Unsupported`] the front returns. The default knows nothing.
    fn unsupported_hint(&self, operation: &str) -> Option<String> {
        let _ = operation;
        None
    }

    /// See [`Provider::metrics`]. Called only when the capability has
    /// [`metrics`](Capability::metrics), with a checked window and qualifier.
    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let _ = query;
        Err(unsupported(&self.info(), "metrics", None))
    }

    /// See [`Provider::metric_series`]: one [`Metrics`] per period of `periods` (checked, in
    /// order). The default asks [`ProviderBackend::metrics`] once per period; a cloud that
    /// answers a series in one call does that instead.
    async fn metric_series(&self, query: &MetricsQuery, periods: &[TimeWindow]) -> Result<Vec<Metrics>> {
        let mut out = Vec::with_capacity(periods.len());
        for w in periods {
            let q = MetricsQuery {
                window: *w,
                period: None,
                ..query.clone()
            };
            out.push(ProviderBackend::metrics(self, &q).await?);
        }
        Ok(out)
    }

    /// See [`Provider::logs`]. Called only when the capability has
    /// [`logs`](Capability::logs), with a checked query.
    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        let _ = query;
        Err(unsupported(&self.info(), "logs", None))
    }

    /// See [`Provider::alarm_states`]. Called only when the capability has
    /// [`alarms`](Capability::alarms), with at least one name.
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>> {
        let _ = names;
        Err(unsupported(&self.info(), "cloud alarms", None))
    }

    /// See [`Provider::upload_named`]. Called only when the capability has
    /// [`named_artifacts`](Capability::named_artifacts), with a checked `uri`.
    async fn upload_named(&self, package: &Package, uri: &str) -> Result<ArtifactRef> {
        let _ = (package, uri);
        Err(unsupported(&self.info(), "named artifacts", None))
    }

    /// See [`Provider::download_artifact`]. Called only when the capability has
    /// [`named_artifacts`](Capability::named_artifacts), with a checked `uri`.
    async fn download_artifact(&self, uri: &str, to: &std::path::Path) -> Result<ArtifactRef> {
        let _ = (uri, to);
        Err(unsupported(&self.info(), "named artifacts", None))
    }

    /// See [`Provider::read_record`]. Called only when the capability has
    /// [`records`](Capability::records), with a checked key.
    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let _ = key;
        Err(unsupported(&self.info(), "records", None))
    }

    /// See [`Provider::write_record`]: a lost condition is
    /// [`records::precondition_failed`](crate::records::precondition_failed).
    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let _ = (key, body, condition);
        Err(unsupported(&self.info(), "records", None))
    }

    /// See [`Provider::delete_record`].
    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let _ = (key, tag);
        Err(unsupported(&self.info(), "records", None))
    }
}

/// [`Error::Unsupported`] naming the provider.
pub(crate) fn unsupported(info: &ProviderInfo, operation: &str, hint: Option<&str>) -> Error {
    Error::unsupported(operation, hint.map(str::to_string)).with_provider(info.name)
}

/// The operations callers use, on any provider: `Arc<dyn Provider>` chosen at run time.
/// Implemented for every [`ProviderBackend`]; each method checks its input (names,
/// qualifier, labels, routing) and the capability, then calls the backend.
///
/// Every method is idempotent where the cloud allows it; deploys wait until the function is
/// ready. Names are function names; `version` is a version id; `label` a label name.
#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// The provider's name, capability and limits.
    fn info(&self) -> ProviderInfo;

    /// Checks a spec against everything this provider accepts, calling nothing: the name,
    /// the limits, and the provider's own rules (runtimes it runs, memory it offers).
    fn validate(&self, spec: &FunctionSpec) -> Result<()>;

    /// Stores a package where the provider can deploy it from (skipped when already there).
    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef>;

    /// What [`Provider::deploy`] would change, calling only read APIs (one read). The spec
    /// is validated first ([`Provider::validate`]); only `artifact`'s sha256 is used, so a
    /// package not uploaded yet can be planned with
    /// [`local_artifact`](crate::local_artifact).
    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan>;

    /// Carries out a plan this provider made, without reading or comparing again, and waits
    /// until the function is ready. `artifact` is where the plan's code was uploaded (its
    /// sha256 must be the plan's). Fails with [`Error::Conflict`] where the cloud reports
    /// the function changed since it was planned, and when the deployed code is not the
    /// plan's; with [`Error::InvalidInput`] for a plan that cannot be applied (read back from
    /// JSON, made by another provider).
    async fn apply(&self, plan: &Plan, artifact: &ArtifactRef) -> Result<DeployOutcome>;

    /// [`Provider::plan`] then [`Provider::apply`]: creates or updates the function's latest
    /// code and configuration and waits until it is ready. Changes only what differs; an
    /// unchanged function costs one read. Where another deployer changes the function
    /// between the two, it plans again (ten attempts in all) — the last writer wins; call
    /// `plan` and `apply` yourself to fail instead.
    async fn deploy(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome>;

    /// The function's current state (its latest code and configuration).
    async fn get(&self, function: &str) -> Result<Deployment>;

    /// The code and configuration a version or label serves (for a weighted label, its
    /// primary version); `$LATEST` is [`Provider::get`]. One read: this is what makes an
    /// unchanged redeploy cheap.
    async fn get_qualified(&self, function: &str, qualifier: &str) -> Result<Deployment>;

    /// Deletes the function with its versions and labels.
    async fn delete(&self, function: &str) -> Result<()>;

    /// Publishes the latest code and configuration as an immutable version. Publishing when
    /// nothing changed since the last version returns that version.
    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version>;

    /// Published versions, oldest first.
    async fn list_versions(&self, function: &str) -> Result<Vec<Version>>;

    /// Deletes a version; refused with [`Error::Conflict`] while a label routes to it, and
    /// [`Error::Unsupported`] where versions cannot be deleted.
    async fn delete_version(&self, function: &str, version: &str) -> Result<()>;

    /// Creates or updates a label.
    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label>;

    /// Reads a label.
    async fn get_label(&self, function: &str, label: &str) -> Result<Label>;

    /// All labels of a function.
    async fn list_labels(&self, function: &str) -> Result<Vec<Label>>;

    /// Deletes a label.
    async fn delete_label(&self, function: &str, label: &str) -> Result<()>;

    /// Invokes the function. A function error is returned inside the [`Invocation`].
    async fn invoke(&self, function: &str, request: &InvokeRequest) -> Result<Invocation>;

    /// Promotes a label by swapping it with production (Azure slots): production then runs
    /// what the label ran, the label what production ran; swapping again rolls back.
    /// [`Error::Unsupported`] unless the capability has [`slot_swap`](Capability::slot_swap).
    async fn swap(&self, function: &str, label: &str) -> Result<()>;

    /// Sends `percent` (0–100) of production's traffic to a slot label; 0 removes the split.
    /// [`Error::Unsupported`] unless labels are [`LabelModel::Slot`](crate::LabelModel::Slot) (elsewhere a label's
    /// [`Routing`] carries the weights).
    async fn ramp_up(&self, function: &str, label: &str, percent: f64) -> Result<()>;

    /// The share (0–100) of production's traffic a slot label gets now (0: none).
    /// [`Error::Unsupported`] unless labels are [`LabelModel::Slot`](crate::LabelModel::Slot).
    async fn ramp_up_percent(&self, function: &str, label: &str) -> Result<f64>;

    /// Puts production back on a published version (its code and configuration), where
    /// production is not itself a version (Azure). [`Error::Unsupported`] elsewhere: there
    /// production is `$LATEST` and a label is rolled back with `ProviderExt::rollback`.
    async fn restore(&self, function: &str, version: &str) -> Result<Deployment>;

    /// What the function (or one version or label) did over the query's window: counts,
    /// durations, cold starts, and per version where a label split traffic. A window that
    /// starts after it ends or lies in the future is [`Error::InvalidInput`]; an unknown
    /// function or qualifier [`Error::NotFound`]; [`Error::Unsupported`] unless the
    /// capability has [`metrics`](Capability::metrics).
    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics>;

    /// The same figures per period of `query.period` (required; at most
    /// [`MAX_SERIES_POINTS`](crate::observe::MAX_SERIES_POINTS) periods), oldest first.
    async fn metric_series(&self, query: &MetricsQuery) -> Result<Vec<Metrics>>;

    /// One page of log records, oldest first, secret values of the spec shown as `***`.
    /// [`Error::Unsupported`] unless the capability has [`logs`](Capability::logs).
    async fn logs(&self, query: &LogQuery) -> Result<LogPage>;

    /// The states of the cloud's alarms `names`, in that order; an alarm that does not exist
    /// is [`Error::NotFound`]. [`Error::Unsupported`] unless the capability has
    /// [`alarms`](Capability::alarms).
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>>;

    /// Stores `package` at a place of the provider's artifact store that the caller names
    /// (`s3://bucket/key` on AWS) — a pipeline's upload step — with its sha256 in the
    /// object's metadata, instead of the content-addressed key [`upload`](Provider::upload)
    /// picks. [`Error::Unsupported`] unless the capability has
    /// [`named_artifacts`](Capability::named_artifacts).
    async fn upload_named(&self, package: &Package, uri: &str) -> Result<ArtifactRef>;

    /// Copies the artifact at `uri` into the file `to` and returns it, after checking its
    /// bytes against the sha256 its metadata records (an object whose metadata records none
    /// is refused: nothing could prove what it holds). [`Error::NotFound`] when nothing is
    /// there; [`Error::Unsupported`] unless the capability has
    /// [`named_artifacts`](Capability::named_artifacts).
    async fn download_artifact(&self, uri: &str, to: &std::path::Path) -> Result<ArtifactRef>;

    /// The record under `key` (see [`records`](crate::records)), if there is one.
    /// [`Error::Unsupported`] unless the capability has [`records`](Capability::records).
    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>>;

    /// Writes the record under `key` if `condition` still holds, atomically (a reader sees
    /// the old bytes or the new, never a mix); a lost condition is [`Error::Conflict`].
    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag>;

    /// Deletes the record under `key` if it is still the one with `tag` ([`Error::Conflict`]
    /// otherwise); deleting a missing record is not an error.
    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()>;
}
