//! What an app describes: the spec its site and settings stand for, and the deployment
//! `get` reports.

use faas_core::{DeployState, Deployment, FunctionSpec};

use crate::hosting::Hosting;
use crate::resources::Site;
use crate::runtime::site_runtime;
use crate::settings::{CODE_SHA, DESCRIPTION, ENV_KEYS, EXTENSION, SECRET_KEYS, Settings, TIMEOUT, parse_hhmmss};

/// The spec an app's settings describe; `desired` supplies what Azure does not keep (the
/// handler, the architecture).
pub(crate) fn observed_spec(
    name: &str,
    site: &Site,
    settings: &Settings,
    hosting: Hosting,
    desired: Option<&FunctionSpec>,
) -> FunctionSpec {
    let runtime = site_runtime(site, hosting, desired);
    let handler = desired
        .map(|d| d.handler.clone())
        .unwrap_or_else(|| "function_app.app".into());
    let mut spec = FunctionSpec::new(name, runtime, handler);
    for k in settings.get(ENV_KEYS).map(|k| k.split(',')).into_iter().flatten() {
        if let Some(v) = settings.get(k) {
            spec.environment.insert(k.to_string(), v.clone());
        }
    }
    for k in settings.get(SECRET_KEYS).map(|k| k.split(',')).into_iter().flatten() {
        if !k.is_empty() {
            spec.secret_env.insert(k.to_string());
        }
    }
    if let Some(t) = settings.get(TIMEOUT).and_then(|t| parse_hhmmss(t)) {
        spec.timeout_s = t;
    }
    if let Some(m) = site.instance_memory_mb() {
        spec.memory_mb = m;
    }
    spec.description = settings.get(DESCRIPTION).cloned().unwrap_or_default();
    spec.tags = site.tags.clone().unwrap_or_default();
    if let Some(d) = desired {
        spec.azure = d.azure.clone();
        spec.architecture = d.architecture;
    } else {
        spec.azure.extension_version = settings.get(EXTENSION).cloned();
    }
    spec
}

/// The deployment `site` and its settings describe, as `get` reports it (`route`: the
/// function's HTTP route).
pub(crate) fn deployment(
    name: &str,
    route: &str,
    site: &Site,
    settings: &Settings,
    hosting: Hosting,
    desired: Option<&FunctionSpec>,
) -> Deployment {
    let props = site.properties.clone().unwrap_or_default();
    Deployment {
        spec: observed_spec(name, site, settings, hosting, desired),
        code_sha256: settings.get(CODE_SHA).cloned().unwrap_or_default(),
        state: match props.state.as_deref() {
            Some("Running") => DeployState::Active,
            Some("Stopped") => DeployState::Inactive,
            other => DeployState::Failed(format!("state {}", other.unwrap_or("unknown"))),
        },
        revision: props.last_modified_time_utc,
        url: props.default_host_name.map(|h| format!("https://{h}/api/{route}")),
        version: "latest".into(),
    }
}
