//! How tuning marks what it makes, and [`clean_up`], which finds and removes it — after a
//! run, or after a run that was killed half-way.

use serde::{Deserialize, Serialize};

use crate::{ArtifactRef, Deployment, Error, FunctionSpec, LabelModel, Provider, Result};

/// The start of the description of every version tuning publishes.
pub const MARKER: &str = "faas-tune";

/// The start of the name of every label tuning makes.
pub const LABEL_PREFIX: &str = "faas-tune-";

/// Set on the function while tuning has changed its configuration: the memory, in MB, to put
/// back. Its presence is what tells [`clean_up`] the function needs restoring.
pub const ORIGINAL_MEMORY_VAR: &str = "FAAS_TUNE_ORIGINAL_MEMORY_MB";

/// Set to a new value for each cold-start-only invocation, so each gets a fresh version.
pub const NONCE_VAR: &str = "FAAS_TUNE_NONCE";

/// What [`clean_up`] removed.
///
/// ```
/// let r = faas_core::cost::tune::CleanupReport::default();
/// assert!(r.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    /// The labels deleted.
    pub labels: Vec<String>,
    /// The versions deleted.
    pub versions: Vec<String>,
    /// Marked versions kept because a label that is not tuning's routes to them.
    pub kept_versions: Vec<String>,
    /// The memory the function was put back to, when a run had left it changed.
    pub restored_memory_mb: Option<u32>,
}

impl CleanupReport {
    /// Nothing was left behind.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.versions.is_empty() && self.restored_memory_mb.is_none()
    }
}

/// Removes everything an earlier tuning run of `function` left: its labels, its versions
/// (except those a label of someone else's routes to) and its change to the function's
/// configuration. Does nothing, with one read or three, when nothing was left.
///
/// ```no_run
/// # async fn f(p: &dyn faas_core::Provider) -> faas_core::Result<()> {
/// let report = faas_core::cost::tune::clean_up(p, "hello").await?;
/// println!("removed {} versions", report.versions.len());
/// # Ok(()) }
/// ```
pub async fn clean_up(provider: &dyn Provider, function: &str) -> Result<CleanupReport> {
    let capability = provider.info().capability;
    let mut report = CleanupReport::default();
    let mut routed = std::collections::BTreeSet::new();
    if capability.label_model != LabelModel::None {
        for label in provider.list_labels(function).await? {
            if label.name.starts_with(LABEL_PREFIX) {
                delete_label(provider, function, &label.name).await?;
                report.labels.push(label.name);
            } else {
                routed.insert(label.routing.primary.clone());
                routed.extend(label.routing.weights.keys().cloned());
            }
        }
    }
    if capability.delete_versions {
        for version in provider.list_versions(function).await? {
            if !version.description.starts_with(MARKER) {
                continue;
            }
            if routed.contains(&version.id) {
                report.kept_versions.push(version.id);
                continue;
            }
            delete_version(provider, function, &version.id).await?;
            report.versions.push(version.id);
        }
    }
    let current = provider.get(function).await?;
    if let Some(original) = untuned(&current.spec)? {
        report.restored_memory_mb = Some(original.memory_mb);
        provider.deploy(&original, &ArtifactRef::deployed(&current)).await?;
        tracing::info!(
            function,
            memory_mb = original.memory_mb,
            "restored the configuration a tuning run had changed"
        );
    }
    Ok(report)
}

/// The function's configuration before tuning changed it, when tuning has (its variables
/// removed and its memory put back); `None` when it is untouched.
pub(crate) fn untuned(spec: &FunctionSpec) -> Result<Option<FunctionSpec>> {
    let Some(text) = spec.environment.get(ORIGINAL_MEMORY_VAR) else {
        return Ok(None);
    };
    let memory: u32 = text.parse().map_err(|_| {
        Error::invalid(
            ORIGINAL_MEMORY_VAR,
            text,
            "not a memory size in MB: set the function's memory by hand and remove the variable",
        )
    })?;
    let mut original = spec.clone().memory_mb(memory);
    for var in [ORIGINAL_MEMORY_VAR, NONCE_VAR] {
        original.environment.remove(var);
        original.secret_env.remove(var);
    }
    Ok(Some(original))
}

/// `spec` as tuning deploys it: at `memory_mb`, marked with the memory to restore, and with
/// `nonce` when each invocation needs a fresh version.
pub(crate) fn tuned(original: &Deployment, memory_mb: u32, nonce: Option<&str>) -> FunctionSpec {
    let mut spec = original
        .spec
        .clone()
        .memory_mb(memory_mb)
        .env(ORIGINAL_MEMORY_VAR, original.spec.memory_mb.to_string());
    if let Some(nonce) = nonce {
        spec = spec.env(NONCE_VAR, nonce);
    }
    spec
}

/// Deletes a label; one already gone is fine.
pub(crate) async fn delete_label(provider: &dyn Provider, function: &str, label: &str) -> Result<()> {
    match provider.delete_label(function, label).await {
        Err(Error::NotFound { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes a version; one already gone is fine.
pub(crate) async fn delete_version(provider: &dyn Provider, function: &str, version: &str) -> Result<()> {
    match provider.delete_version(function, version).await {
        Err(Error::NotFound { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}
