//! Function apps (`Microsoft.Web/sites`) and their slots through ARM, and Kudu deployments:
//! what a spec means as app settings, what differs, and how code gets there.

use std::collections::BTreeMap;

use faas_core::{ConfigDiff, DeployState, Deployment, Error, FunctionSpec, ResourceKind, Result};
use faas_package::RuntimeFamily;
use reqwest::Method;
use serde_json::Value;

use crate::arm::{Arm, Target};
use crate::builder::{DeployMethod, Hosting};
use crate::resources::{
    CsmSlotEntity, Experiments, FunctionAppConfig, FunctionsDeployment, FunctionsDeploymentAuthentication,
    FunctionsDeploymentStorage, FunctionsRuntime, FunctionsScaleAndConcurrency, HostKeys, NameValuePair, RampUpRule,
    Site, SiteConfig, SiteConfigResource, SiteProperties, StringDictionary, WebAppCollection, body, parse,
};

const API: &str = "api-version=2023-12-01";
/// The package's sha256 (hex): the code identity, whatever the deploy method.
pub(crate) const CODE_SHA: &str = "FAAS_CODE_SHA256";
/// The spec's environment variable names (to remove the ones a spec drops).
const ENV_KEYS: &str = "FAAS_ENV_KEYS";
/// Which of them are secret (their values are never printed).
const SECRET_KEYS: &str = "FAAS_SECRET_KEYS";
/// The function the app holds: an app holds one package, so one function.
pub(crate) const FUNCTION: &str = "FAAS_FUNCTION";
/// The description (app settings are the one place that travels with a slot swap).
const DESCRIPTION: &str = "FAAS_DESCRIPTION";
pub(crate) const RUN_FROM_PACKAGE: &str = "WEBSITE_RUN_FROM_PACKAGE";
const TIMEOUT: &str = "AzureFunctionsJobHost__functionTimeout";
const STORAGE: &str = "AzureWebJobsStorage";
const DEPLOYMENT_STORAGE: &str = "DEPLOYMENT_STORAGE_CONNECTION_STRING";
const WORKER: &str = "FUNCTIONS_WORKER_RUNTIME";
const EXTENSION: &str = "FUNCTIONS_EXTENSION_VERSION";

/// App settings this provider manages; a spec cannot set them.
pub const AZURE_RESERVED_ENV: &[&str] = &[
    CODE_SHA,
    FUNCTION,
    ENV_KEYS,
    SECRET_KEYS,
    DESCRIPTION,
    RUN_FROM_PACKAGE,
    TIMEOUT,
    STORAGE,
    DEPLOYMENT_STORAGE,
    WORKER,
    EXTENSION,
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
];

/// Settings whose values are credentials.
const SECRET_SETTINGS: &[&str] = &[STORAGE, DEPLOYMENT_STORAGE, RUN_FROM_PACKAGE];

pub(crate) type Settings = BTreeMap<String, String>;

/// An app or one of its slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Where<'a> {
    pub app: &'a str,
    pub slot: Option<&'a str>,
}

impl Where<'_> {
    pub fn name(&self) -> String {
        match self.slot {
            Some(s) => format!("{}/{s}", self.app),
            None => self.app.to_string(),
        }
    }

    /// `NotFound` for this app (a `Function`) or slot (a `Label`).
    pub fn missing(&self) -> Error {
        match self.slot {
            Some(s) => Error::not_found(ResourceKind::Label, format!("{}@{s}", self.app), None),
            None => Error::not_found(ResourceKind::Function, self.app, None),
        }
    }
}

/// Function apps of one resource group.
#[derive(Debug, Clone)]
pub(crate) struct Sites {
    pub arm: Arm,
    /// `{arm}subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/`.
    pub base: String,
    pub location: String,
    pub plan: Option<String>,
    pub hosting: Hosting,
    pub method: DeployMethod,
    pub kudu_url: Option<String>,
}

fn hhmmss(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn parse_hhmmss(s: &str) -> Option<u32> {
    let mut parts = s.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    Some(h * 3600 + m * 60 + sec)
}

/// `PYTHON|3.12`, `NODE|20`.
pub(crate) fn linux_fx(spec: &FunctionSpec) -> Result<String> {
    let version = spec.runtime.version().unwrap_or_default();
    match spec.runtime.family() {
        RuntimeFamily::Python => Ok(format!("PYTHON|{version}")),
        RuntimeFamily::Node => Ok(format!("NODE|{}", version.trim_end_matches(".x"))),
        _ => Err(Error::invalid(
            "runtime",
            &spec.runtime,
            "this provider deploys Python and Node.js function apps",
        )),
    }
}

/// Flex Consumption's `functionAppConfig.runtime` for a spec (`python` / `3.12`).
fn flex_runtime(spec: &FunctionSpec) -> Result<FunctionsRuntime> {
    let fx = linux_fx(spec)?;
    let (family, version) = fx.split_once('|').unwrap_or_default();
    Ok(FunctionsRuntime {
        name: Some(family.to_lowercase()),
        version: Some(version.to_string()),
    })
}

fn worker(spec: &FunctionSpec) -> &'static str {
    match spec.runtime.family() {
        RuntimeFamily::Node => "node",
        _ => "python",
    }
}

fn shown_value(spec: &FunctionSpec, settings: &Settings, key: &str, value: Option<&String>) -> Option<String> {
    let secret = SECRET_SETTINGS.contains(&key)
        || spec.is_secret(key)
        || settings
            .get(SECRET_KEYS)
            .is_some_and(|s| s.split(',').any(|k| k == key));
    value.map(|v| {
        if secret {
            faas_core::REDACTED.to_string()
        } else {
            v.clone()
        }
    })
}

/// The app settings `spec` means on top of `current`: variables the spec no longer has are
/// removed, everything else not ours is kept (the PUT replaces them all).
pub(crate) fn desired_settings(
    current: &Settings,
    spec: &FunctionSpec,
    hosting: Hosting,
    storage: &str,
    code: Option<(&str, Option<String>)>,
) -> Settings {
    let mut s = current.clone();
    s.insert(FUNCTION.into(), spec.name.clone());
    for old in current.get(ENV_KEYS).map(|k| k.split(',')).into_iter().flatten() {
        s.remove(old);
    }
    for (k, v) in &spec.environment {
        s.insert(k.clone(), v.clone());
    }
    let keys: Vec<&str> = spec.environment.keys().map(String::as_str).collect();
    s.insert(ENV_KEYS.into(), keys.join(","));
    let secret: Vec<&str> = spec.secret_env.iter().map(String::as_str).collect();
    s.insert(SECRET_KEYS.into(), secret.join(","));
    s.insert(TIMEOUT.into(), hhmmss(spec.timeout_s));
    s.insert(
        EXTENSION.into(),
        spec.azure.extension_version.clone().unwrap_or_else(|| "~4".into()),
    );
    s.insert(STORAGE.into(), storage.to_string());
    if hosting == Hosting::Flex {
        s.insert(DEPLOYMENT_STORAGE.into(), storage.to_string());
        s.remove(WORKER);
    } else {
        s.insert(WORKER.into(), worker(spec).into());
    }
    if spec.description.is_empty() {
        s.remove(DESCRIPTION);
    } else {
        s.insert(DESCRIPTION.into(), spec.description.clone());
    }
    if let Some((sha, url)) = code {
        s.insert(CODE_SHA.into(), sha.to_string());
        match url {
            Some(u) => s.insert(RUN_FROM_PACKAGE.into(), u),
            None => s.remove(RUN_FROM_PACKAGE),
        };
    }
    s
}

/// Refuses to treat `app` as `function`'s when it holds another function: an app holds one
/// package (and one code marker), so a second function would replace the first one's code,
/// and deleting one would delete both.
pub(crate) fn check_owner(app: &str, settings: &Settings, function: &str) -> Result<()> {
    match settings.get(FUNCTION) {
        Some(holder) if holder != function => Err(Error::conflict(
            format!("function app {app}"),
            format!(
                "it holds function {holder:?}, and an app holds one function's package: give {function:?} an app of its own (AzureBuilder without app() names each app after its function)"
            ),
        )),
        _ => Ok(()),
    }
}

/// What differs between an app and a spec: code, and configuration as field-level diffs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Differences {
    pub code: Option<(String, String)>,
    pub runtime: bool,
    pub memory: bool,
    pub tags: bool,
    pub settings: bool,
    pub diffs: Vec<ConfigDiff>,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.code.is_none() && !self.runtime && !self.memory && !self.tags && !self.settings
    }
}

fn flex_memory(site: &Site) -> Option<u32> {
    site.instance_memory_mb()
}

/// The runtime a site runs, as `FAMILY|version` (`linuxFxVersion`, or Flex's
/// `functionAppConfig.runtime` with its name as `upper` makes it).
fn site_fx(site: &Site, hosting: Hosting, upper: bool) -> String {
    match hosting {
        Hosting::Flex => {
            let r = site.flex_runtime();
            let name = r.and_then(|r| r.name.as_deref()).unwrap_or_default();
            format!(
                "{}|{}",
                if upper { name.to_uppercase() } else { name.to_string() },
                r.and_then(|r| r.version.as_deref()).unwrap_or_default()
            )
        }
        _ => site.linux_fx_version().unwrap_or_default().to_string(),
    }
}

pub(crate) fn differences(
    site: &Site,
    current: &Settings,
    spec: &FunctionSpec,
    hosting: Hosting,
    storage: &str,
    sha256: &str,
) -> Result<Differences> {
    let mut d = Differences::default();
    let now = current.get(CODE_SHA).cloned().unwrap_or_default();
    if now != sha256 {
        d.code = Some((now, sha256.to_string()));
    }
    let mut diff = |field: &str, from: Option<String>, to: Option<String>| {
        d.diffs.push(ConfigDiff {
            field: field.to_string(),
            from,
            to,
        })
    };
    let fx = linux_fx(spec)?;
    let have_fx = site_fx(site, hosting, true);
    if !have_fx.eq_ignore_ascii_case(&fx) {
        d.runtime = true;
        diff("runtime", Some(have_fx), Some(fx));
    }
    if hosting == Hosting::Flex && flex_memory(site) != Some(spec.memory_mb) {
        d.memory = true;
        diff(
            "memory_mb",
            flex_memory(site).map(|m| m.to_string()),
            Some(spec.memory_mb.to_string()),
        );
    }
    let tags: BTreeMap<String, String> = site.tags.clone().unwrap_or_default();
    if tags != spec.tags {
        d.tags = true;
        diff("tags", Some(format!("{tags:?}")), Some(format!("{:?}", spec.tags)));
    }
    let want = desired_settings(current, spec, hosting, storage, None);
    let keys: std::collections::BTreeSet<&String> = want.keys().chain(current.keys()).collect();
    for k in keys {
        let (from, to) = (current.get(k), want.get(k));
        if from != to {
            d.settings = true;
            let field = if spec.environment.contains_key(k) || !want.contains_key(k) {
                format!("environment.{k}")
            } else if k == TIMEOUT {
                "timeout_s".to_string()
            } else {
                format!("settings.{k}")
            };
            let mut to_shown = shown_value(spec, &want, k, to);
            if from.is_some() && to.is_some() && to_shown == shown_value(spec, current, k, from) {
                to_shown = to_shown.map(|t| format!("{t} (a secret value changed)"));
            }
            // An app without our record of secret keys cannot say which old values were secret.
            let from_shown =
                if from.is_some() && field.starts_with("environment.") && !current.contains_key(SECRET_KEYS) {
                    Some(faas_core::REDACTED.to_string())
                } else {
                    shown_value(spec, current, k, from)
                };
            diff(&field, from_shown, to_shown);
        }
    }
    Ok(d)
}

/// The spec an app's settings describe; `desired` supplies what Azure does not keep (the
/// handler, the architecture).
pub(crate) fn observed_spec(
    name: &str,
    site: &Site,
    settings: &Settings,
    hosting: Hosting,
    desired: Option<&FunctionSpec>,
) -> FunctionSpec {
    let fx = site_fx(site, hosting, false);
    let (family, version) = fx.split_once('|').unwrap_or(("", ""));
    let runtime_name = match family.to_lowercase().as_str() {
        "node" => format!("nodejs{version}.x"),
        _ => format!("python{version}"),
    };
    let runtime = match desired {
        Some(d) if linux_fx(d).is_ok_and(|f| f.eq_ignore_ascii_case(&fx)) => d.runtime.clone(),
        _ => runtime_name
            .parse()
            .unwrap_or_else(|_| desired.map(|d| d.runtime.clone()).unwrap_or_else(fallback_runtime)),
    };
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
    if let Some(m) = flex_memory(site) {
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

fn fallback_runtime() -> faas_package::Runtime {
    "python3.12"
        .parse()
        .unwrap_or_else(|_| panic!("python3.12 is a known runtime"))
}

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

impl Sites {
    fn url(&self, at: Where<'_>, suffix: &str) -> String {
        let mut u = format!("{}{}", self.base, at.app);
        if let Some(s) = at.slot {
            u.push_str(&format!("/slots/{s}"));
        }
        format!("{u}{suffix}?{API}")
    }

    fn target(at: Where<'_>) -> (ResourceKind, String) {
        match at.slot {
            Some(_) => (ResourceKind::Label, at.name()),
            None => (ResourceKind::Function, at.app.to_string()),
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        at: Where<'_>,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let (kind, name) = Self::target(at);
        let t = Target { kind, name: &name };
        Ok(self.arm.call(method, &self.url(at, suffix), body, t).await?.body)
    }

    async fn mutate(&self, method: Method, at: Where<'_>, suffix: &str, body: Option<&Value>) -> Result<Value> {
        let (kind, name) = Self::target(at);
        let t = Target { kind, name: &name };
        self.arm.mutate(method, &self.url(at, suffix), body, t).await
    }

    /// The app or slot, or `None`.
    pub async fn get(&self, at: Where<'_>) -> Result<Option<Site>> {
        let (kind, name) = Self::target(at);
        let found = self
            .arm
            .get_opt(&self.url(at, ""), Target { kind, name: &name })
            .await?;
        found.map(|v| parse(&format!("GET site {}", at.name()), v)).transpose()
    }

    /// All app settings (`config/appsettings/list`, a `StringDictionary`).
    pub async fn settings(&self, at: Where<'_>) -> Result<Settings> {
        let v = self.call(Method::POST, at, "/config/appsettings/list", None).await?;
        let dictionary: StringDictionary = parse(&format!("the app settings of {}", at.name()), v)?;
        Ok(dictionary.properties.unwrap_or_default())
    }

    /// Replaces all app settings, waiting out `409` (a deployment in progress).
    pub async fn put_settings(&self, at: Where<'_>, settings: &Settings) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.put_settings_once(at, settings).await {
                Err(Error::Conflict { message, .. }) if attempt < self.arm.retry.max_attempts => {
                    tracing::info!(app = %at.name(), attempt, %message, "conflict writing settings; waiting");
                    tokio::time::sleep(self.arm.poll.interval * attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn put_settings_once(&self, at: Where<'_>, settings: &Settings) -> Result<()> {
        let dictionary = StringDictionary {
            properties: Some(settings.clone()),
        };
        self.call(Method::PUT, at, "/config/appsettings", Some(&body(&dictionary)))
            .await?;
        Ok(())
    }

    /// Makes the host reread its functions (needed after run-from-package changes).
    pub async fn sync_triggers(&self, at: Where<'_>) -> Result<()> {
        self.call(Method::POST, at, "/syncfunctiontriggers", None).await?;
        Ok(())
    }

    fn site_body(&self, spec: &FunctionSpec, settings: &Settings, blob_container_url: &str) -> Result<Site> {
        let plan = spec
            .azure
            .plan_id
            .clone()
            .or_else(|| self.plan.clone())
            .ok_or_else(|| {
                Error::invalid(
                    "azure.plan_id",
                    "(unset)",
                    "creating a function app needs its App Service plan: set spec.azure.plan_id or AzureBuilder::plan",
                )
            })?;
        let app_settings = settings
            .iter()
            .map(|(k, v)| NameValuePair {
                name: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect();
        let mut props = SiteProperties {
            server_farm_id: Some(plan),
            https_only: Some(true),
            reserved: Some(true),
            site_config: Some(SiteConfig {
                app_settings: Some(app_settings),
                ..SiteConfig::default()
            }),
            ..SiteProperties::default()
        };
        match self.hosting {
            Hosting::Flex => {
                props.function_app_config = Some(FunctionAppConfig {
                    deployment: Some(FunctionsDeployment {
                        storage: Some(FunctionsDeploymentStorage {
                            kind: Some("blobContainer".into()),
                            value: Some(blob_container_url.to_string()),
                            authentication: Some(FunctionsDeploymentAuthentication {
                                kind: Some("StorageAccountConnectionString".into()),
                                storage_account_connection_string_name: Some(DEPLOYMENT_STORAGE.into()),
                            }),
                        }),
                    }),
                    runtime: Some(flex_runtime(spec)?),
                    scale_and_concurrency: Some(FunctionsScaleAndConcurrency {
                        instance_memory_mb: Some(spec.memory_mb),
                        maximum_instance_count: Some(100),
                    }),
                });
            }
            _ => {
                if let Some(config) = props.site_config.as_mut() {
                    config.linux_fx_version = Some(linux_fx(spec)?);
                }
            }
        }
        Ok(Site {
            location: Some(self.location.clone()),
            kind: Some("functionapp,linux".into()),
            tags: Some(spec.tags.clone()),
            properties: Some(props),
            ..Site::default()
        })
    }

    /// Creates the app or slot with its settings (an ARM long-running operation).
    pub async fn create(
        &self,
        at: Where<'_>,
        spec: &FunctionSpec,
        settings: &Settings,
        container_url: &str,
    ) -> Result<Site> {
        let site = self.site_body(spec, settings, container_url)?;
        let created = self.mutate(Method::PUT, at, "", Some(&body(&site))).await?;
        parse(&format!("PUT site {}", at.name()), created)
    }

    /// Updates the runtime, memory (Flex) and tags in place (`PATCH sites/{name}`, a partial
    /// `Site`). The spec's body for this call, `SitePatchResource` (WebApps.json,
    /// `WebApps_Update`), has neither `tags` nor `properties.functionAppConfig`: this sends them
    /// as `Site` names them, as the provider always has.
    pub async fn patch(&self, at: Where<'_>, spec: &FunctionSpec, d: &Differences) -> Result<()> {
        let mut site = Site::default();
        if d.tags {
            site.tags = Some(spec.tags.clone());
        }
        if d.runtime || d.memory {
            let props = match self.hosting {
                Hosting::Flex => SiteProperties {
                    function_app_config: Some(FunctionAppConfig {
                        runtime: Some(flex_runtime(spec)?),
                        scale_and_concurrency: Some(FunctionsScaleAndConcurrency {
                            instance_memory_mb: Some(spec.memory_mb),
                            ..FunctionsScaleAndConcurrency::default()
                        }),
                        ..FunctionAppConfig::default()
                    }),
                    ..SiteProperties::default()
                },
                _ => SiteProperties {
                    site_config: Some(SiteConfig {
                        linux_fx_version: Some(linux_fx(spec)?),
                        ..SiteConfig::default()
                    }),
                    ..SiteProperties::default()
                },
            };
            site.properties = Some(props);
        }
        self.mutate(Method::PATCH, at, "", Some(&body(&site))).await?;
        Ok(())
    }

    pub async fn delete(&self, at: Where<'_>) -> Result<()> {
        self.mutate(Method::DELETE, at, "", None).await?;
        Ok(())
    }

    /// The slot names of an app.
    pub async fn slots(&self, app: &str) -> Result<Vec<String>> {
        let v = self
            .call(Method::GET, Where { app, slot: None }, "/slots", None)
            .await?;
        let slots: WebAppCollection = parse(&format!("the slots of {app}"), v)?;
        Ok(slots
            .value
            .into_iter()
            .filter_map(|s| s.name.map(|n| n.rsplit('/').next().unwrap_or(&n).to_string()))
            .collect())
    }

    /// Swaps a slot with production (an ARM long-running operation).
    pub async fn swap(&self, app: &str, slot: &str) -> Result<()> {
        let swap = CsmSlotEntity {
            target_slot: "production".into(),
            preserve_vnet: true,
        };
        self.mutate(
            Method::POST,
            Where { app, slot: Some(slot) },
            "/slotsswap",
            Some(&body(&swap)),
        )
        .await?;
        Ok(())
    }

    /// Sends `percent` of production's traffic to a slot (`experiments.rampUpRules`); 0 removes
    /// the rule.
    pub async fn ramp_up(&self, app: &str, slot: &str, host: &str, percent: f64) -> Result<()> {
        let at = Where { app, slot: None };
        let config = self.call(Method::GET, at, "/config/web", None).await?;
        let config: SiteConfigResource = parse(&format!("the site config of {app}"), config)?;
        let mut rules: Vec<RampUpRule> = config
            .properties
            .and_then(|p| p.experiments)
            .and_then(|e| e.ramp_up_rules)
            .unwrap_or_default();
        rules.retain(|r| r.name.as_deref() != Some(slot));
        if percent > 0.0 {
            rules.push(RampUpRule {
                action_host_name: Some(host.to_string()),
                reroute_percentage: Some(percent),
                name: Some(slot.to_string()),
                ..RampUpRule::default()
            });
        }
        let change = SiteConfigResource {
            properties: Some(SiteConfig {
                experiments: Some(Experiments {
                    ramp_up_rules: Some(rules),
                }),
                ..SiteConfig::default()
            }),
        };
        self.call(Method::PATCH, at, "/config/web", Some(&body(&change)))
            .await?;
        Ok(())
    }

    /// The default function key of the app or slot (`host/default/listkeys`).
    pub async fn function_key(&self, at: Where<'_>) -> Result<String> {
        let v = self.call(Method::POST, at, "/host/default/listkeys", None).await?;
        let keys: HostKeys = parse(&format!("the host keys of {}", at.name()), v)?;
        keys.function_keys
            .and_then(|mut k| k.remove("default"))
            .or(keys.master_key)
            .ok_or_else(|| {
                Error::permission_denied(
                    Some("Microsoft.Web/sites/host/listkeys/action".into()),
                    format!("{} returned no function key", at.name()),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec::new("app-1", "python3.12".parse().unwrap(), "function_app.app")
            .env("A", "1")
            .secret_env("TOKEN", "s3cr3t")
    }

    #[test]
    fn settings_merge_keeps_foreign_and_drops_removed_variables() {
        let mut current = Settings::new();
        current.insert("APPLICATIONINSIGHTS_CONNECTION_STRING".into(), "keep".into());
        let first = desired_settings(
            &current,
            &spec(),
            Hosting::Premium,
            "conn",
            Some(("ab", Some("url".into()))),
        );
        assert_eq!(first["A"], "1");
        assert_eq!(first["APPLICATIONINSIGHTS_CONNECTION_STRING"], "keep");
        assert_eq!(first[TIMEOUT], "00:00:03");
        let mut smaller = spec();
        smaller.environment.remove("A");
        let second = desired_settings(&first, &smaller, Hosting::Premium, "conn", None);
        assert!(!second.contains_key("A"));
        assert_eq!(
            second[RUN_FROM_PACKAGE], "url",
            "code settings stay unless the code changes"
        );
        let site: Site = serde_json::from_value(
            serde_json::json!({"properties": {"siteConfig": {"linuxFxVersion": "PYTHON|3.12"}}}),
        )
        .unwrap();
        let d = differences(&site, &first, &spec(), Hosting::Premium, "conn", "ab").unwrap();
        assert!(d.is_empty(), "{:?}", d.diffs);
        let changed = spec().secret_env("TOKEN", "other");
        let d = differences(&site, &first, &changed, Hosting::Premium, "conn", "ab").unwrap();
        let shown = format!("{:?}", d.diffs);
        assert!(
            d.settings && shown.contains("secret value changed") && !shown.contains("other"),
            "{shown}"
        );
        let seen = observed_spec("app-1", &site, &first, Hosting::Premium, Some(&spec()));
        assert!(faas_core::diff_config(&seen, &spec()).is_empty());
        assert_eq!(parse_hhmmss("01:02:03"), Some(3723));
    }
}
