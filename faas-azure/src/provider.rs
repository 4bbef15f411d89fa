//! [`AzureProvider`]: faas-core's `Provider` on Function Apps, their slots, Kudu and Blob
//! storage.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use azure_core::credentials::TokenCredential;
use base64::Engine;
use faas_core::{
    ArtifactRef, Capability, Change, DeployOutcome, Deployment, Error, FunctionError, FunctionSpec, Invocation,
    InvokeMode, InvokeRequest, Label, LabelModel, Limits, Plan, PlannedAction, Provider, ProviderInfo, PublishRequest,
    ResourceKind, Result, Routing, Version,
};
use faas_package::Package;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::AzureBuilder;
use crate::arm::{Arm, Target};
use crate::blob::{Blobs, Metadata};
use crate::builder::{DeployMethod, Hosting};
use crate::site::{
    AZURE_RESERVED_ENV, CODE_SHA, Settings, Sites, Where, deployment, desired_settings, differences, linux_fx,
    observed_spec,
};

/// What Azure Functions can do on Premium and Dedicated plans: immutable package versions,
/// deployment slots as labels (promote by swap, `AzureProvider::swap`), no weighted labels
/// (production's traffic is split to slots with `AzureProvider::ramp_up`), no async invoke,
/// no log tail with the response (logs go to Application Insights).
pub const CAPABILITY: Capability = Capability {
    immutable_versions: true,
    label_model: LabelModel::Slot,
    weighted_versions: 0,
    slot_swap: true,
    async_invoke: false,
    log_tail: false,
    delete_versions: true,
    inline_package_limit: 0,
    unzipped_limit: 1024 * 1024 * 1024,
};

/// Flex Consumption has no deployment slots, hence no labels and no swap.
pub const FLEX_CAPABILITY: Capability = Capability {
    slot_swap: false,
    ..CAPABILITY
};

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
};

const STORAGE_API: &str = "api-version=2023-05-01";

/// One published version, stored as `{function}/versions/{id:010}.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRecord {
    id: u64,
    sha256: String,
    package: String,
    description: String,
    spec: FunctionSpec,
}

/// The Azure Functions provider. Build it with [`AzureBuilder`].
pub struct AzureProvider {
    sites: Sites,
    arm: Arm,
    storage_id: String,
    endpoint: String,
    account: String,
    container: String,
    app: Option<String>,
    sas_validity: std::time::Duration,
    blobs: OnceCell<(Blobs, String)>,
    keys: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider")
            .field("sites", &self.sites)
            .field("account", &self.account)
            .field("container", &self.container)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

fn unsupported(operation: &str, hint: &str) -> Error {
    Error::Unsupported {
        provider: "azure".into(),
        operation: operation.into(),
        hint: Some(hint.into()),
    }
}

fn check_resource_name(field: &str, name: &str) -> Result<()> {
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

fn version_blob(function: &str, id: u64) -> String {
    format!("{function}/versions/{id:010}.json")
}

impl AzureProvider {
    pub(crate) fn new(
        b: AzureBuilder,
        subscription: String,
        group: String,
        account: String,
        http: reqwest::Client,
        credential: Arc<dyn TokenCredential>,
    ) -> AzureProvider {
        let arm_url = crate::arm_root(&b.arm_url);
        let arm = Arm {
            http: http.clone(),
            credential,
            retry: b.retry,
            poll: b.poll,
        };
        let method = b.method.unwrap_or(match b.hosting {
            Hosting::Flex => DeployMethod::OneDeploy,
            _ => DeployMethod::RunFromPackage,
        });
        AzureProvider {
            sites: Sites {
                arm: arm.clone(),
                base: format!(
                    "{arm_url}subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Web/sites/"
                ),
                location: b.location,
                plan: b.plan,
                hosting: b.hosting,
                method,
                kudu_url: b.kudu_url,
            },
            arm,
            storage_id: format!(
                "{arm_url}subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{account}"
            ),
            endpoint: b
                .blob_endpoint
                .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"))
                .trim_end_matches('/')
                .to_string(),
            account,
            container: b.container,
            app: b.app,
            sas_validity: b.sas_validity,
            blobs: OnceCell::new(),
            keys: Mutex::new(HashMap::new()),
            http,
        }
    }

    fn capability(&self) -> Capability {
        if self.sites.hosting == Hosting::Flex {
            FLEX_CAPABILITY
        } else {
            CAPABILITY
        }
    }

    /// The app a function lives in: the configured app, else an app of its own name.
    fn app_of<'a>(&'a self, function: &'a str) -> &'a str {
        self.app.as_deref().unwrap_or(function)
    }

    /// Blob access (the key comes from ARM `listKeys`, once) and the connection string the
    /// apps use for `AzureWebJobsStorage`.
    async fn storage(&self) -> Result<&(Blobs, String)> {
        self.blobs
            .get_or_try_init(|| async {
                let url = format!("{}/listKeys?{STORAGE_API}", self.storage_id);
                let answer = self
                    .arm
                    .call(
                        Method::POST,
                        &url,
                        None,
                        Target {
                            kind: ResourceKind::Artifact,
                            name: &self.account,
                        },
                    )
                    .await?;
                let key = answer.body["keys"][0]["value"].as_str().unwrap_or_default().to_string();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&key)
                    .map_err(|_| Error::Provider {
                        provider: "azure".into(),
                        code: "InvalidKey".into(),
                        message: format!("listKeys of {} returned no usable key", self.account),
                        retryable: false,
                    })?;
                let blobs = Blobs {
                    http: self.http.clone(),
                    endpoint: self.endpoint.clone(),
                    account: self.account.clone(),
                    key: bytes,
                    container: self.container.clone(),
                };
                blobs.ensure_container().await?;
                let scheme = self.endpoint.split("://").next().unwrap_or("https");
                let conn = format!(
                    "DefaultEndpointsProtocol={scheme};AccountName={};AccountKey={key};BlobEndpoint={};",
                    self.account, self.endpoint
                );
                Ok::<_, Error>((blobs, conn))
            })
            .await
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

    fn package_blob(function: &str, sha: &str) -> String {
        format!("{function}/{sha}.zip")
    }

    async fn records(&self, function: &str) -> Result<Vec<(u64, Metadata)>> {
        let (blobs, _) = self.storage().await?;
        let prefix = format!("{function}/versions/");
        Ok(blobs
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|(name, meta)| {
                let id = name.strip_prefix(&prefix)?.strip_suffix(".json")?.parse().ok()?;
                Some((id, meta))
            })
            .collect())
    }

    async fn record(&self, function: &str, id: &str) -> Result<VersionRecord> {
        let missing = || Error::not_found(ResourceKind::Version, format!("{function}:{id}"), None);
        let n: u64 = id.parse().map_err(|_| missing())?;
        let (blobs, _) = self.storage().await?;
        let bytes = blobs.get(&version_blob(function, n)).await?.ok_or_else(missing)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Provider {
            provider: "azure".into(),
            code: "InvalidVersionRecord".into(),
            message: format!("{}: {e}", version_blob(function, n)),
            retryable: false,
        })
    }

    /// The newest version whose code is `sha`.
    async fn version_of_sha(&self, function: &str, sha: &str) -> Result<Option<String>> {
        Ok(self
            .records(function)
            .await?
            .into_iter()
            .rev()
            .find(|(_, m)| m.get("sha256").map(String::as_str) == Some(sha))
            .map(|(id, _)| id.to_string()))
    }

    async fn require_site(&self, at: Where<'_>) -> Result<Value> {
        self.sites.get(at).await?.ok_or_else(|| match at.slot {
            Some(s) => Error::not_found(ResourceKind::Label, format!("{}@{s}", at.app), None),
            None => Error::not_found(ResourceKind::Function, at.app, None),
        })
    }

    /// Writes settings, waiting out `409` (a deployment in progress).
    async fn put_settings(&self, at: Where<'_>, settings: &Settings) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sites.put_settings(at, settings).await {
                Err(Error::Conflict { message, .. }) if attempt < self.arm.retry.max_attempts => {
                    tracing::info!(app = %at.name(), attempt, %message, "conflict writing settings; waiting");
                    tokio::time::sleep(self.arm.poll.interval * attempt).await;
                }
                other => return other,
            }
        }
    }

    /// Sends a share of production's traffic to a slot (`experiments.rampUpRules`, 0–100;
    /// 0 removes the rule). This is how Azure splits traffic: between production and slots.
    pub async fn ramp_up(&self, function: &str, slot: &str, percent: f64) -> Result<()> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::invalid("percent", percent, "a share of traffic is 0–100"));
        }
        let app = self.app_of(function);
        let s = self.require_site(Where { app, slot: Some(slot) }).await?;
        let host = s["properties"]["defaultHostName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.sites.ramp_up(app, slot, &host, percent).await
    }

    /// Swaps a slot with production: production then runs what the slot ran, and the slot
    /// what production ran. Swapping again is the rollback.
    pub async fn swap(&self, function: &str, slot: &str) -> Result<()> {
        if !self.capability().slot_swap {
            return Err(unsupported(
                "slot swap",
                "Flex Consumption apps have no deployment slots",
            ));
        }
        let app = self.app_of(function);
        self.require_site(Where { app, slot: Some(slot) }).await?;
        self.sites.swap(app, slot).await
    }

    /// The slot to call for a qualifier (`None`: production) and the version it runs.
    async fn invoke_target(&self, function: &str, qualifier: Option<&str>) -> Result<(Option<String>, Option<String>)> {
        let app = self.app_of(function);
        let Some(q) = qualifier.filter(|q| !matches!(*q, "latest" | "$LATEST")) else {
            return Ok((None, None));
        };
        if q.parse::<u64>().is_err() {
            let label = self.get_label(function, q).await?;
            return Ok((Some(q.to_string()), Some(label.routing.primary)));
        }
        let record = self.record(function, q).await?;
        for slot in self.sites.slots(app).await? {
            let settings = self.sites.settings(Where { app, slot: Some(&slot) }).await?;
            if settings.get(CODE_SHA) == Some(&record.sha256) {
                return Ok((Some(slot), Some(q.to_string())));
            }
        }
        Err(Error::not_found(
            ResourceKind::Version,
            format!("{function}:{q}"),
            Some("no slot runs this version: point a label at it first".into()),
        ))
    }
}

#[async_trait::async_trait]
impl Provider for AzureProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "azure".into(),
            capability: self.capability(),
            limits: LIMITS,
        }
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
            uri: format!("{}/{}/{name}", self.endpoint, self.container),
            sha256: package.sha256.clone(),
            size: package.size,
            local_path: Some(package.path.clone()),
        })
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        self.check_spec(spec)?;
        let at = Where {
            app: self.app_of(&spec.name),
            slot: None,
        };
        let mut plan = Plan {
            function: spec.name.clone(),
            actions: Vec::new(),
        };
        let Some(site) = self.sites.get(at).await? else {
            plan.actions.push(PlannedAction::Create {
                function: spec.name.clone(),
            });
            return Ok(plan);
        };
        let (_, conn) = self.storage().await?;
        let settings = self.sites.settings(at).await?;
        let d = differences(&site, &settings, spec, self.sites.hosting, conn, &artifact.sha256)?;
        if let Some((from, to)) = d.code {
            plan.actions.push(PlannedAction::UpdateCode { from, to });
        }
        if !d.diffs.is_empty() {
            plan.actions.push(PlannedAction::UpdateConfig { diffs: d.diffs });
        }
        Ok(plan)
    }

    async fn deploy(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        self.check_spec(spec)?;
        let at = Where {
            app: self.app_of(&spec.name),
            slot: None,
        };
        let (blobs, conn) = self.storage().await?;
        let hosting = self.sites.hosting;
        let run_from_package = self.sites.method == DeployMethod::RunFromPackage;
        let package_url = || blobs.sas_url(&Self::package_blob(&spec.name, &artifact.sha256), self.sas_validity);
        let kudu_zip = || {
            artifact.local_path.clone().ok_or_else(|| {
                Error::invalid(
                    "artifact",
                    &artifact.uri,
                    "Kudu deployments push the local zip: keep local_path",
                )
            })
        };
        let container_url = format!("{}/{}", self.endpoint, self.container);
        let mut change = Change::default();
        match self.sites.get(at).await? {
            None => {
                let code = run_from_package.then(package_url).transpose()?;
                let settings = desired_settings(
                    &Settings::new(),
                    spec,
                    hosting,
                    conn,
                    code.map(|u| (artifact.sha256.as_str(), Some(u))),
                );
                let site = self.sites.create(at, spec, &settings, &container_url).await?;
                if !run_from_package {
                    self.sites.kudu_deploy(at, &site, &kudu_zip()?, artifact.size).await?;
                    let with_code = desired_settings(&settings, spec, hosting, conn, Some((&artifact.sha256, None)));
                    self.put_settings(at, &with_code).await?;
                }
                self.sites.sync_triggers(at).await?;
                change.created = true;
            }
            Some(site) => {
                let current = self.sites.settings(at).await?;
                let d = differences(&site, &current, spec, hosting, conn, &artifact.sha256)?;
                if d.is_empty() {
                    return Ok(DeployOutcome {
                        deployment: deployment(&spec.name, &spec.name, &site, &current, hosting, Some(spec)),
                        change,
                    });
                }
                change.code_updated = d.code.is_some();
                change.config_updated = d.runtime || d.memory || d.tags || d.settings;
                if d.runtime || d.memory || d.tags {
                    self.sites.patch(at, spec, &d).await?;
                }
                let code = match (d.code.is_some(), run_from_package) {
                    (false, _) => None,
                    (true, true) => Some((artifact.sha256.as_str(), Some(package_url()?))),
                    (true, false) => {
                        self.sites.kudu_deploy(at, &site, &kudu_zip()?, artifact.size).await?;
                        Some((artifact.sha256.as_str(), None))
                    }
                };
                let next = desired_settings(&current, spec, hosting, conn, code);
                if next != current {
                    self.put_settings(at, &next).await?;
                }
                if d.code.is_some() || d.settings {
                    self.sites.sync_triggers(at).await?;
                }
            }
        }
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
        Ok(deployment(
            function,
            function,
            &site,
            &settings,
            self.sites.hosting,
            None,
        ))
    }

    async fn get_qualified(&self, function: &str, qualifier: &str) -> Result<Deployment> {
        if matches!(qualifier, "latest" | "$LATEST") {
            return self.get(function).await;
        }
        let id = if qualifier.parse::<u64>().is_ok() {
            qualifier.to_string()
        } else {
            self.get_label(function, qualifier).await?.routing.primary
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
        self.sites.delete(at).await?;
        let (blobs, _) = self.storage().await?;
        for (name, _) in blobs.list(&format!("{function}/")).await? {
            blobs.delete(&name).await?;
        }
        Ok(())
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let at = Where {
            app: self.app_of(function),
            slot: None,
        };
        let site = self.require_site(at).await?;
        let settings = self.sites.settings(at).await?;
        let sha = settings.get(CODE_SHA).cloned().unwrap_or_default();
        if let Some(expected) = request.expected_code_sha256.as_deref().filter(|e| *e != sha) {
            return Err(Error::Conflict {
                resource: function.to_string(),
                message: format!("the app runs code {sha}, not the expected {expected}: another deployer changed it"),
            });
        }
        let (blobs, _) = self.storage().await?;
        let package = Self::package_blob(function, &sha);
        if sha.is_empty() || blobs.size(&package).await?.is_none() {
            return Err(Error::Conflict {
                resource: function.to_string(),
                message: "the app's code was not deployed through this provider (no package blob): deploy it first"
                    .into(),
            });
        }
        let spec = observed_spec(function, &site, &settings, self.sites.hosting, None);
        let records = self.records(function).await?;
        if let Some((id, meta)) = records.last()
            && meta.get("sha256") == Some(&sha)
        {
            let last = self.record(function, &id.to_string()).await?;
            if faas_core::diff_config(&last.spec, &spec).is_empty() {
                return Ok(Version {
                    id: id.to_string(),
                    code_sha256: sha,
                    description: last.description,
                });
            }
        }
        let mut id = records.last().map_or(1, |(id, _)| id + 1);
        loop {
            let record = VersionRecord {
                id,
                sha256: sha.clone(),
                package: package.clone(),
                description: request.description.clone(),
                spec: spec.clone(),
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| Error::Provider {
                provider: "azure".into(),
                code: "serialize".into(),
                message: e.to_string(),
                retryable: false,
            })?;
            let meta: Metadata = BTreeMap::from([("sha256".to_string(), sha.clone())]);
            if blobs.create(&version_blob(function, id), bytes, &meta).await? {
                tracing::info!(function, version = id, "published");
                return Ok(Version {
                    id: id.to_string(),
                    code_sha256: sha,
                    description: request.description.clone(),
                });
            }
            // Another publisher took this number: take the next.
            id += 1;
        }
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        self.require_site(Where {
            app: self.app_of(function),
            slot: None,
        })
        .await?;
        Ok(self
            .records(function)
            .await?
            .into_iter()
            .map(|(id, meta)| Version {
                id: id.to_string(),
                code_sha256: meta.get("sha256").cloned().unwrap_or_default(),
                description: String::new(),
            })
            .collect())
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        let record = self.record(function, version).await?;
        let app = self.app_of(function);
        for label in self.list_labels(function).await? {
            if label.routing.primary == version {
                return Err(Error::Conflict {
                    resource: format!("{function}:{version}"),
                    message: format!("label {} (a slot) runs this version: move it first", label.name),
                });
            }
        }
        let (blobs, _) = self.storage().await?;
        blobs.delete(&version_blob(function, record.id)).await?;
        let still_used = self
            .records(function)
            .await?
            .iter()
            .any(|(_, m)| m.get("sha256") == Some(&record.sha256))
            || self.sites.settings(Where { app, slot: None }).await?.get(CODE_SHA) == Some(&record.sha256);
        if !still_used {
            blobs.delete(&record.package).await?;
        }
        Ok(())
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        if !self.capability().slot_swap {
            return Err(unsupported("labels", "Flex Consumption apps have no deployment slots"));
        }
        if !routing.weights.is_empty() {
            return Err(unsupported(
                "weighted labels",
                "Azure splits production's traffic to slots: AzureProvider::ramp_up(function, slot, percent)",
            ));
        }
        check_resource_name("label", label)?;
        let record = self.record(function, &routing.primary).await?;
        let app = self.app_of(function);
        let at = Where { app, slot: Some(label) };
        let (blobs, conn) = self.storage().await?;
        let url = || blobs.sas_url(&record.package, self.sas_validity);
        let hosting = self.sites.hosting;
        match self.sites.get(at).await? {
            None => {
                let settings = desired_settings(
                    &Settings::new(),
                    &record.spec,
                    hosting,
                    conn,
                    Some((&record.sha256, Some(url()?))),
                );
                self.sites
                    .create(
                        at,
                        &record.spec,
                        &settings,
                        &format!("{}/{}", self.endpoint, self.container),
                    )
                    .await?;
                self.sites.sync_triggers(at).await?;
            }
            Some(site) => {
                let current = self.sites.settings(at).await?;
                let d = differences(&site, &current, &record.spec, hosting, conn, &record.sha256)?;
                if d.runtime || d.tags {
                    self.sites.patch(at, &record.spec, &d).await?;
                }
                let code = d.code.is_some().then(url).transpose()?;
                let next = desired_settings(
                    &current,
                    &record.spec,
                    hosting,
                    conn,
                    code.map(|u| (record.sha256.as_str(), Some(u))),
                );
                if next != current {
                    self.put_settings(at, &next).await?;
                    self.sites.sync_triggers(at).await?;
                }
            }
        }
        tracing::info!(function, label, version = %routing.primary, "label (slot) set");
        Ok(Label {
            name: label.to_string(),
            routing: Routing::to(record.id.to_string()),
        })
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

    async fn invoke(&self, function: &str, request: &InvokeRequest) -> Result<Invocation> {
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
        let (slot, executed_version) = self.invoke_target(function, request.qualifier.as_deref()).await?;
        let at = Where {
            app: self.app_of(function),
            slot: slot.as_deref(),
        };
        let site = self.require_site(at).await?;
        let host = site["properties"]["defaultHostName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
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
                return Err(Error::PermissionDenied {
                    action: Some("a function key (host/default/listkeys)".into()),
                    message: format!("{function} refused the call ({status}): {}", text()),
                });
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
            429 => {
                return Err(Error::Throttled {
                    retry_after: None,
                    message: format!("{function}: too many requests"),
                });
            }
            _ => {}
        }
        let function_error =
            (status >= 500).then(|| FunctionError::from_body(Some(&format!("HTTP {status}")), &payload));
        Ok(Invocation {
            status,
            payload: payload.to_vec(),
            function_error,
            executed_version,
            log_tail: None,
            report: None,
            elapsed,
            headers,
        })
    }
}
