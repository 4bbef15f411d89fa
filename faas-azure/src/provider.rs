//! [`AzureProvider`]: faas-core's `Provider` on Function Apps, their slots, Kudu and Blob
//! storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use faas_core::observe::{LogPage, LogQuery, Metrics, MetricsQuery, TimeWindow};
use faas_core::records::{RecordTag, StoredRecord, WriteCondition};
use faas_core::{
    ArtifactRef, Capability, Change, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeMode,
    InvokeRequest, Label, LabelModel, Limits, Plan, PlannedAction, ProviderBackend, ProviderInfo, PublishRequest,
    Qualifier, ResourceKind, Result, Routing, Version,
};
use faas_package::Package;

use crate::NAME;
use crate::app_insights::AppInsights;
use crate::blob::Blobs;
use crate::hosting::{DeployMethod, Hosting};
use crate::observed::deployment;
use crate::reconcile::{Planned, Source};
use crate::resources::Site;
use crate::runtime::linux_fx;
use crate::settings::{AZURE_RESERVED_ENV, CODE_SHA, Settings, check_owner, desired_settings};
use crate::site::{Sites, Where};
use crate::store::PackageStore;

/// What Azure Functions can do on Premium and Dedicated plans: immutable package versions,
/// deployment slots as labels (promote by swap, `AzureProvider::swap`), no weighted labels
/// (production's traffic is split to slots with `AzureProvider::ramp_up`), no async invoke,
/// no log tail with the response. Metrics come from Azure Monitor (`Requests`, `Http5xx`,
/// `HttpResponseTime` of the app or the label's slot); with Application Insights configured
/// (`AzureBuilder::application_insights`) durations come from its `requests` and the
/// provider has `logs` (its `traces`) as well. Records (a rollout's state and lease) are
/// conditional blobs under `records/` in the package container, so `faas_core::rollout`
/// works here: a slot's ramp-up share, then a swap. Memory comes from the plan's instance
/// size, not from the app, so it cannot be tuned per function (`memory_tuning: false`).
pub const CAPABILITY: Capability = Capability::new(LabelModel::Slot)
    .slot_swap(true)
    .metrics(true)
    .records(true)
    .memory_tuning(false);

/// Flex Consumption has no deployment slots, hence no labels, no swap and no rollouts (the
/// rollout engine refuses them before any call); its metrics count
/// executions as `OnDemandFunctionExecutionCount` plus `AlwaysReadyFunctionExecutionCount`.
pub const FLEX_CAPABILITY: Capability = Capability::new(LabelModel::None).metrics(true);

/// Azure Functions limits checked before any call: app names of 2–60 characters, timeouts up
/// to an hour, memory from the plan (Flex: 512, 2048 or 4096 MB).
pub const LIMITS: Limits = Limits {
    memory_mb: (128, 4096),
    memory_step_mb: None,
    timeout_s: (1, 3600),
    env_total_bytes: 64 * 1024,
    reserved_env: AZURE_RESERVED_ENV,
    name_max: 60,
    description_max: 512,
    ephemeral_storage_mb: None,
    inline_zip_bytes: 0,
    unzipped_bytes: 1024 * 1024 * 1024,
    // The Functions host's HTTP request limit (maxRequestBodySize, 100 MB).
    payload_bytes: 100 * 1024 * 1024,
};

/// The Azure Functions provider. Build it with [`AzureBuilder`](crate::AzureBuilder).
pub struct AzureProvider {
    pub(crate) sites: Sites,
    pub(crate) store: PackageStore,
    /// The one app every function deploys to, if configured.
    app: Option<String>,
    /// Function keys by host name (never printed).
    keys: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
    /// Application Insights, when configured: durations and logs.
    pub(crate) app_insights: Option<AppInsights>,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider")
            .field("sites", &self.sites)
            .field("store", &self.store)
            .field("app", &self.app)
            .field("app_insights", &self.app_insights)
            .finish_non_exhaustive()
    }
}

pub(crate) fn unsupported(operation: &str, hint: &str) -> Error {
    Error::unsupported(operation, Some(hint.into()))
}

pub(crate) fn check_resource_name(field: &str, name: &str) -> Result<()> {
    let ok = (2..=60).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("{name:?}"),
        "Azure app and slot names are 2–60 letters, digits and hyphens, not starting or ending with a hyphen",
    ))
}

impl AzureProvider {
    /// The provider over these apps and this package store (`AzureBuilder::build` makes them).
    pub(crate) fn new(
        sites: Sites,
        store: PackageStore,
        app: Option<String>,
        http: reqwest::Client,
        app_insights: Option<AppInsights>,
    ) -> AzureProvider {
        AzureProvider {
            sites,
            store,
            app,
            keys: Mutex::new(HashMap::new()),
            http,
            app_insights,
        }
    }

    /// [`CAPABILITY`] or [`FLEX_CAPABILITY`], with `logs` when Application Insights is
    /// configured.
    pub(crate) fn capability(&self) -> Capability {
        let c = if self.sites.hosting == Hosting::Flex {
            FLEX_CAPABILITY
        } else {
            CAPABILITY
        };
        c.logs(self.app_insights.is_some())
    }

    /// The app a function lives in: the configured app, else an app of its own name.
    pub(crate) fn app_of<'a>(&'a self, function: &'a str) -> &'a str {
        self.app.as_deref().unwrap_or(function)
    }

    /// Blob access (the key comes from ARM `listKeys`, once) and the connection string the
    /// apps use for `AzureWebJobsStorage`.
    pub(crate) async fn storage(&self) -> Result<&(Blobs, String)> {
        self.store.open().await
    }

    fn check_spec(&self, spec: &FunctionSpec) -> Result<()> {
        spec.validate(&LIMITS)?;
        check_resource_name("name", self.app_of(&spec.name))?;
        linux_fx(spec)?;
        match self.sites.hosting {
            Hosting::Flex if ![512, 2048, 4096].contains(&spec.memory_mb) => Err(Error::invalid(
                "memory_mb",
                spec.memory_mb,
                "Flex Consumption instances have 512, 2048 or 4096 MB",
            )),
            Hosting::Premium | Hosting::Dedicated
                if spec.memory_mb != FunctionSpec::new("x", spec.runtime.clone(), "x").memory_mb =>
            {
                Err(Error::invalid(
                    "memory_mb",
                    spec.memory_mb,
                    "on Premium and Dedicated plans memory comes from the plan's size: leave memory_mb at its default (or use Flex Consumption)",
                ))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn package_blob(function: &str, sha: &str) -> String {
        format!("{function}/{sha}.zip")
    }

    pub(crate) async fn require_site(&self, at: Where<'_>) -> Result<Site> {
        self.sites.get(at).await?.ok_or_else(|| at.missing())
    }

    /// The storage connection string (`AzureWebJobsStorage`), once the site is known to exist.
    pub(crate) async fn connection(&self) -> Result<&str> {
        Ok(self.storage().await?.1.as_str())
    }
}

#[async_trait::async_trait]
impl ProviderBackend for AzureProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(NAME, self.capability(), LIMITS)
    }

    fn unsupported_hint(&self, operation: &str) -> Option<String> {
        (operation == "logs" && self.app_insights.is_none()).then(|| {
            "logs come from Application Insights: configure it with AzureBuilder::application_insights \
             (or FAAS_AZURE_APPLICATION_INSIGHTS), or application_insights_from_app_settings"
                .to_string()
        })
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<()> {
        self.check_spec(spec)
    }

    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef> {
        check_resource_name("name", self.app_of(function))?;
        let (blobs, _) = self.storage().await?;
        let name = Self::package_blob(function, &package.sha256);
        if blobs.size(&name).await? == Some(package.size) {
            tracing::info!(blob = %name, "package already uploaded");
        } else {
            blobs.put_file(&name, &package.path, package.size).await?;
            tracing::info!(blob = %name, bytes = package.size, "package uploaded");
        }
        Ok(ArtifactRef {
            uri: format!("{}/{name}", self.store.container_url()),
            sha256: package.sha256.clone(),
            size: package.size,
            local_path: Some(package.path.clone()),
        })
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        let at = Where {
            app: self.app_of(&spec.name),
            slot: None,
        };
        let Some(now) = self
            .sites
            .observe(at, spec, &artifact.sha256, self.connection())
            .await?
        else {
            let mut plan = Plan::to_create(spec, &artifact.sha256);
            if self.sites.hosting != Hosting::Flex
                && let Some(id) = spec.azure.plan_id.as_deref().or(self.sites.plan.as_deref())
                && let Some(w) = self.sites.plan_warning(id).await
            {
                plan.warnings.push(w);
            }
            return Ok(plan);
        };
        check_owner(at.app, &now.settings, &spec.name)?;
        let linux_consumption = match now.site.properties.as_ref().and_then(|p| p.server_farm_id.as_deref()) {
            Some(id) if self.sites.hosting != Hosting::Flex => self.sites.plan_warning(id).await,
            _ => None,
        };
        let d = &now.differences;
        let revision = deployment(
            &spec.name,
            &spec.name,
            &now.site,
            &now.settings,
            self.sites.hosting,
            Some(spec),
        )
        .revision;
        let mut actions = Vec::new();
        if let Some((from, to)) = d.code.clone() {
            actions.push(PlannedAction::UpdateCode { from, to });
        }
        if !d.diffs.is_empty() {
            actions.push(PlannedAction::UpdateConfig { diffs: d.diffs.clone() });
        }
        let mut plan = Plan::to_update(spec, &artifact.sha256, revision, now);
        for a in actions {
            plan.push(a);
        }
        plan.warnings.extend(linux_consumption);
        Ok(plan)
    }

    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        let at = Where {
            app: self.app_of(&spec.name),
            slot: None,
        };
        let (blobs, conn) = self.storage().await?;
        let hosting = self.sites.hosting;
        let run_from_package = self.sites.method == DeployMethod::RunFromPackage;
        let package_url = || {
            blobs.sas_url(
                &Self::package_blob(&spec.name, &artifact.sha256),
                self.store.sas_validity(),
            )
        };
        let kudu_zip = || {
            artifact.local_path.clone().ok_or_else(|| {
                Error::invalid(
                    "artifact",
                    &artifact.uri,
                    "Kudu deployments push the local zip: keep local_path",
                )
            })
        };
        let container_url = self.store.container_url();
        let change = match plan.observed::<Planned>() {
            None => {
                let code = run_from_package.then(package_url).transpose()?;
                let settings = desired_settings(
                    &Settings::new(),
                    spec,
                    hosting,
                    conn,
                    code.map(|u| (artifact.sha256.as_str(), Some(u))),
                    &at.name(),
                );
                let site = self.sites.create(at, spec, &settings, &container_url).await?;
                if !run_from_package {
                    self.sites.kudu_deploy(at, &site, &kudu_zip()?, artifact.size).await?;
                    let with_code = desired_settings(
                        &settings,
                        spec,
                        hosting,
                        conn,
                        Some((&artifact.sha256, None)),
                        &at.name(),
                    );
                    self.sites.put_settings(at, &with_code).await?;
                }
                self.sites.sync_triggers(at).await?;
                Change {
                    created: true,
                    ..Change::default()
                }
            }
            Some(now) if now.differences.is_empty() => {
                return Ok(DeployOutcome {
                    deployment: deployment(&spec.name, &spec.name, &now.site, &now.settings, hosting, Some(spec)),
                    change: Change::default(),
                });
            }
            Some(now) => {
                let source = || {
                    if run_from_package {
                        Ok(Source::PackageUrl(package_url()?))
                    } else {
                        Ok(Source::Zip {
                            path: kudu_zip()?,
                            size: artifact.size,
                        })
                    }
                };
                self.sites.reconcile(at, now, spec, conn, source).await?
            }
        };
        let site = self.require_site(at).await?;
        let settings = self.sites.settings(at).await?;
        Ok(DeployOutcome {
            deployment: deployment(&spec.name, &spec.name, &site, &settings, hosting, Some(spec)),
            change,
        })
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        let at = Where {
            app: self.app_of(function),
            slot: None,
        };
        let site = self.require_site(at).await?;
        let settings = self.sites.settings(at).await?;
        check_owner(at.app, &settings, function)?;
        Ok(deployment(
            function,
            function,
            &site,
            &settings,
            self.sites.hosting,
            None,
        ))
    }

    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment> {
        let id = match qualifier {
            Qualifier::Latest => return self.get(function).await,
            Qualifier::Version(v) => v.clone(),
            Qualifier::Label(l) => self.get_label(function, l).await?.routing.primary,
        };
        let record = self.record(function, &id).await?;
        Ok(Deployment {
            spec: record.spec,
            code_sha256: record.sha256,
            state: faas_core::DeployState::Active,
            revision: Some(record.package),
            url: None,
            version: record.id.to_string(),
        })
    }

    async fn delete(&self, function: &str) -> Result<()> {
        let at = Where {
            app: self.app_of(function),
            slot: None,
        };
        self.require_site(at).await?;
        if self.app.is_some() {
            // A shared app is deleted only by the function it holds.
            check_owner(at.app, &self.sites.settings(at).await?, function)?;
        }
        self.sites.delete(at).await?;
        let (blobs, _) = self.storage().await?;
        let prefix = format!("{function}/");
        // Only the function's own blobs: its packages and `versions/` (a function named
        // `records` shares its prefix with the rollout records, which stay).
        let own = |name: &str| {
            name.strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with("versions/") || !rest.contains('/'))
        };
        for (name, _) in blobs.list(&prefix).await? {
            if own(&name) {
                blobs.delete(&name).await?;
            }
        }
        Ok(())
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        self.publish_version(function, request).await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        self.versions(function).await
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        self.remove_version(function, version).await
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        self.point_slot(function, label, routing).await
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        let at = Where {
            app: self.app_of(function),
            slot: Some(label),
        };
        self.require_site(at).await?;
        let sha = self
            .sites
            .settings(at)
            .await?
            .get(CODE_SHA)
            .cloned()
            .unwrap_or_default();
        let primary = match self.version_of_sha(function, &sha).await? {
            Some(id) => id,
            // After a swap a slot can run code that was never published.
            None => format!("unpublished:{}", sha.get(..12).unwrap_or(&sha)),
        };
        Ok(Label {
            name: label.to_string(),
            routing: Routing::to(primary),
        })
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        if !self.capability().slot_swap {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for slot in self.sites.slots(self.app_of(function)).await? {
            out.push(self.get_label(function, &slot).await?);
        }
        Ok(out)
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let at = Where {
            app: self.app_of(function),
            slot: Some(label),
        };
        self.require_site(at).await?;
        self.sites.delete(at).await
    }

    async fn invoke(&self, function: &str, qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation> {
        match request.mode {
            InvokeMode::Sync => {}
            InvokeMode::Async => {
                return Err(unsupported(
                    "asynchronous invocation",
                    "HTTP functions answer synchronously; use a queue trigger for fire-and-forget",
                ));
            }
            InvokeMode::DryRun => return Err(unsupported("dry-run invocation", "call the function instead")),
        }
        let body = request.event_bytes()?;
        let (slot, executed_version) = self.invoke_target(function, qualifier).await?;
        let at = Where {
            app: self.app_of(function),
            slot: slot.as_deref(),
        };
        let site = self.require_site(at).await?;
        let host = site.default_host_name().to_string();
        let cached = self.keys.lock().ok().and_then(|k| k.get(&host).cloned());
        let key = match cached {
            Some(k) => k,
            None => {
                let k = self.sites.function_key(at).await?;
                if let Ok(mut keys) = self.keys.lock() {
                    keys.insert(host.clone(), k.clone());
                }
                k
            }
        };
        let url = format!("https://{host}/api/{function}");
        let started = Instant::now();
        let resp = self
            .http
            .post(&url)
            .header("x-functions-key", key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| crate::arm::transport(&format!("invoking {function}"), e))?;
        let status = resp.status().as_u16();
        let headers: BTreeMap<String, String> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let payload = resp
            .bytes()
            .await
            .map_err(|e| crate::arm::transport(&format!("reading {function}'s answer"), e))?;
        let elapsed = started.elapsed();
        let text = || String::from_utf8_lossy(&payload).chars().take(300).collect::<String>();
        match status {
            401 | 403 => {
                return Err(Error::permission_denied(
                    Some("a function key (host/default/listkeys)".into()),
                    format!("{function} refused the call ({status}): {}", text()),
                ));
            }
            404 => {
                return Err(Error::not_found(
                    ResourceKind::Function,
                    function,
                    Some(format!(
                        "the app answered 404 for /api/{function}: is the HTTP route named {function}?"
                    )),
                ));
            }
            _ => {}
        }
        Invocation::from_http(function, status, headers, payload.to_vec(), elapsed, executed_version)
    }

    async fn swap(&self, function: &str, label: &str) -> Result<()> {
        AzureProvider::swap(self, function, label).await
    }

    async fn ramp_up(&self, function: &str, label: &str, percent: f64) -> Result<()> {
        AzureProvider::ramp_up(self, function, label, percent).await
    }

    async fn ramp_up_percent(&self, function: &str, label: &str) -> Result<f64> {
        AzureProvider::ramp_up_percent(self, function, label).await
    }

    async fn restore(&self, function: &str, version: &str) -> Result<Deployment> {
        AzureProvider::restore(self, function, version).await
    }

    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let mut one = self.observed_metrics(query, None).await?;
        one.pop()
            .ok_or_else(|| Error::other("InvalidResponse", "Azure Monitor gave no figures", false))
    }

    async fn metric_series(&self, query: &MetricsQuery, periods: &[TimeWindow]) -> Result<Vec<Metrics>> {
        self.observed_metrics(query, Some(periods)).await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        self.insights_logs(query).await
    }

    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        self.stored_record(key).await
    }

    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        self.store_record(key, body, condition).await
    }

    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        self.remove_record(key, tag).await
    }
}
