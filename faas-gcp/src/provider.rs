//! [`GcpProvider`]: faas-core's `Provider` on Cloud Functions v2 and the Cloud Run service
//! behind each function: deploys go through [`Functions`]; versions and labels change the
//! service's traffic layout through [`Traffic`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use faas_core::observe::{LogPage, LogQuery, Metrics, MetricsQuery, TimeWindow};
use faas_core::records::{RecordTag, StoredRecord, WriteCondition};
use faas_core::{
    ArtifactRef, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeRequest, Label, Plan, PlannedAction,
    ProviderBackend, ProviderInfo, PublishRequest, Qualifier, ResourceKind, Result, Routing, Version,
};
use faas_package::Package;

use crate::NAME;
use crate::artifacts::{Bucket, upload_signed};
use crate::auth::IdTokenCache;
use crate::differences::differences;
use crate::functions::{Functions, Planned};
use crate::invoke;
use crate::layout::{VersionRecord, percents, short};
use crate::logging::Logging;
use crate::monitoring::Monitoring;
use crate::observe::{check_period, scope};
use crate::resources::State;
use crate::rules::{CAPABILITY, LIMITS, check_label, check_name, check_spec};
use crate::run::Run;
use crate::spec_mapping::{code_sha, deployment, observed_spec};
use crate::traffic::Traffic;

/// The Google Cloud Functions (2nd gen) provider. Build it with [`GcpBuilder`](crate::GcpBuilder).
#[derive(Debug, Clone)]
pub struct GcpProvider {
    functions: Functions,
    traffic: Traffic,
    bucket: Option<Bucket>,
    id_tokens: Arc<IdTokenCache>,
    http: reqwest::Client,
    observers: Observers,
}

/// Where metrics and logs are read.
#[derive(Debug, Clone)]
pub(crate) struct Observers {
    /// Cloud Monitoring v3.
    pub monitoring: Monitoring,
    /// Cloud Logging v2.
    pub logging: Logging,
}

impl GcpProvider {
    /// The provider over these clients (the builder makes them).
    pub(crate) fn new(
        functions: Functions,
        run: Run,
        bucket: Option<Bucket>,
        id_tokens: IdTokenCache,
        http: reqwest::Client,
        serving_label: String,
        observers: Observers,
    ) -> GcpProvider {
        GcpProvider {
            traffic: Traffic {
                functions: functions.clone(),
                run,
                serving_label,
            },
            functions,
            bucket,
            id_tokens: Arc::new(id_tokens),
            http,
            observers,
        }
    }

    /// The label whose routing is the function URL's traffic split.
    pub fn serving_label(&self) -> &str {
        &self.traffic.serving_label
    }

    /// The bucket records live in: the artifact bucket, which rollouts need.
    fn records(&self) -> Result<&Bucket> {
        self.bucket.as_ref().ok_or_else(|| {
            Error::config(
                "bucket",
                "(not set)",
                "rollouts keep their state and lease as records in the artifact bucket: set bucket (FAAS_GCP_BUCKET)",
            )
        })
    }
}

#[async_trait]
impl ProviderBackend for GcpProvider {
    fn info(&self) -> ProviderInfo {
        // Records live in the artifact bucket: without one there are none.
        let capability = CAPABILITY.records(self.bucket.is_some());
        ProviderInfo::new(NAME, capability, LIMITS).weighted_label(self.serving_label())
    }

    fn unsupported_hint(&self, operation: &str) -> Option<String> {
        (operation == "records" && self.bucket.is_none())
            .then(|| "records (and so rollouts) live in the artifact bucket: set bucket (FAAS_GCP_BUCKET)".to_string())
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<()> {
        check_spec(spec)
    }

    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef> {
        check_name(function)?;
        match &self.bucket {
            Some(bucket) => bucket.upload(function, package).await,
            None => upload_signed(&self.functions, package).await,
        }
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        let Some(f) = self.functions.observe(&spec.name).await? else {
            // Creating over a Cloud Run service of the same name would fail late and obscurely.
            if let Some(e) = self.functions.run_only(&spec.name).await? {
                return Err(e);
            }
            return Ok(Plan::to_create(spec, &artifact.sha256));
        };
        let d = differences(&f, spec, &artifact.sha256);
        let revision = deployment(&f, &spec.name, Some(spec)).revision;
        let mut actions = Vec::new();
        if let Some((from, to)) = d.code.clone() {
            actions.push(PlannedAction::UpdateCode { from, to });
        }
        if !d.config.is_empty() {
            actions.push(PlannedAction::UpdateConfig {
                diffs: d.config.iter().map(|(c, _)| c.clone()).collect(),
            });
        }
        let mut plan = Plan::to_update(
            spec,
            &artifact.sha256,
            revision,
            Planned {
                function: f,
                differences: d,
            },
        );
        for a in actions {
            plan.push(a);
        }
        Ok(plan)
    }

    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        let planned = plan.observed::<Planned>();
        // Read the service's traffic only when a change is coming: pinned traffic (a serving
        // label) must stay where it is, so the new revision is deployed without traffic.
        let before = match planned {
            Some(p) if plan.is_noop() => {
                return Ok(DeployOutcome {
                    deployment: deployment(&p.function, &spec.name, Some(spec)),
                    change: faas_core::Change::default(),
                });
            }
            Some(p) => self.traffic.pinned(&spec.name, &p.function).await?,
            None => None,
        };
        let (f, change) = self.functions.deploy(spec, artifact, before.is_some(), planned).await?;
        if let Some(layout) = &before {
            self.traffic.check_unmoved(&spec.name, layout).await?;
        }
        Ok(DeployOutcome {
            deployment: deployment(&f, &spec.name, Some(spec)),
            change,
        })
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        let f = self.functions.require(function).await?;
        Ok(deployment(&f, function, None))
    }

    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment> {
        let (_, service, layout) = self.traffic.layout(function).await?;
        let id = match qualifier {
            Qualifier::Latest => return self.get(function).await,
            Qualifier::Version(v) => v.clone(),
            Qualifier::Label(l) => self.traffic.label_of(&layout, function, l)?.routing.primary,
        };
        let record = layout.version(&id).ok_or_else(|| {
            Error::not_found(
                ResourceKind::Version,
                format!("{function}:{id}"),
                Some("only published versions (and labels routing to them) can be read".into()),
            )
        })?;
        Ok(self.traffic.record_deployment(&service, record))
    }

    async fn delete(&self, function: &str) -> Result<()> {
        self.functions.delete(function).await
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let mut published: Option<VersionRecord> = None;
        self.traffic
            .update_layout(function, |f, layout| {
                if f.output.state != Some(State::Active) {
                    return Err(Error::conflict(
                        function.to_string(),
                        format!(
                            "the function is {}, not ACTIVE: publish after a successful deploy",
                            f.state_text()
                        ),
                    ));
                }
                let sha = code_sha(f);
                if let Some(expected) = request.expected_code_sha256.as_deref().filter(|e| *e != sha) {
                    return Err(Error::conflict(
                        function.to_string(),
                        format!(
                            "the latest code has sha256 {sha}, not the expected {expected}: another deployer changed it"
                        ),
                    ));
                }
                let revision = short(f.service_config.output.revision.as_deref().unwrap_or_default()).to_string();
                if revision.is_empty() {
                    return Err(Error::conflict(
                        function.to_string(),
                        "the function reports no revision yet",
                    ));
                }
                if let Some(existing) = layout.versions.iter().find(|v| v.revision == revision) {
                    published = Some(existing.clone());
                    return Ok(());
                }
                let mut spec = observed_spec(f, function, None);
                spec.environment = spec.redacted_env();
                let record = VersionRecord {
                    id: layout.versions.iter().map(|v| v.id).max().unwrap_or(0) + 1,
                    revision,
                    sha256: sha,
                    description: request.description.clone(),
                    spec,
                };
                layout.versions.push(record.clone());
                published = Some(record);
                Ok(())
            })
            .await?;
        let record = published.ok_or_else(|| Error::conflict(function.to_string(), "nothing was published"))?;
        tracing::info!(function, version = record.id, revision = %record.revision, "published");
        Ok(Version {
            id: record.id.to_string(),
            code_sha256: record.sha256,
            description: record.description,
            // A Cloud Run revision's image size is not in the API's answer.
            code_size: None,
        })
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        let (_, _, layout) = self.traffic.layout(function).await?;
        let mut versions: Vec<&VersionRecord> = layout.versions.iter().collect();
        versions.sort_by_key(|v| v.id);
        Ok(versions
            .into_iter()
            .map(|v| Version {
                id: v.id.to_string(),
                code_sha256: v.sha256.clone(),
                description: v.description.clone(),
                code_size: None,
            })
            .collect())
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        let mut removed: Option<VersionRecord> = None;
        let mut service_name = String::new();
        self.traffic
            .update_layout(function, |f, layout| {
                service_name = f.service_config.output.service.clone().unwrap_or_default();
                let record = layout
                    .version(version)
                    .cloned()
                    .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{function}:{version}"), None))?;
                if layout.routed_revisions().contains(&record.revision.as_str()) {
                    return Err(Error::conflict(
                        format!("{function}:{version}"),
                        "a label routes to this version: move the label first",
                    ));
                }
                layout.versions.retain(|v| v.id != record.id);
                removed = Some(record);
                Ok(())
            })
            .await?;
        let Some(record) = removed else {
            return Ok(());
        };
        let (f, service, _) = self.traffic.layout(function).await?;
        let current = short(f.service_config.output.revision.as_deref().unwrap_or_default());
        let latest = short(service.output.latest_ready_revision.as_deref().unwrap_or_default());
        if record.revision != current && record.revision != latest {
            self.traffic
                .run
                .delete_revision(&service_name, &record.revision)
                .await?;
        }
        Ok(())
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        check_label(label)?;
        let serving = label == self.traffic.serving_label;
        if !serving && !routing.weights.is_empty() {
            return Err(Error::invalid(
                "routing.weights",
                format!("label {label}"),
                format!(
                    "on GCP only the serving label `{}` splits traffic (the function URL's split); other labels are tags that pin one revision",
                    self.traffic.serving_label
                ),
            ));
        }
        routing.validate(usize::from(CAPABILITY.weighted_versions))?;
        let weights = percents(routing)?;
        let layout = self
            .traffic
            .update_layout(function, |_, layout| {
                let primary = layout.revision_of(function, &routing.primary)?;
                if serving {
                    let mut revs = BTreeMap::new();
                    for (v, p) in &weights {
                        revs.insert(layout.revision_of(function, v)?, *p);
                    }
                    layout.serving = Some((primary, revs));
                    layout.foreign.clear();
                } else {
                    layout.tags.insert(label.to_string(), primary);
                }
                Ok(())
            })
            .await?;
        tracing::info!(function, label, primary = %routing.primary, "label set");
        self.traffic.label_of(&layout, function, label)
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        let (_, _, layout) = self.traffic.layout(function).await?;
        self.traffic.label_of(&layout, function, label)
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        let (_, _, layout) = self.traffic.layout(function).await?;
        let mut names: Vec<String> = layout.tags.keys().cloned().collect();
        if layout.serving.is_some() {
            names.push(self.traffic.serving_label.clone());
        }
        names.sort();
        names
            .iter()
            .map(|n| self.traffic.label_of(&layout, function, n))
            .collect()
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let serving = label == self.traffic.serving_label;
        self.traffic
            .update_layout(function, |_, layout| {
                let existed = if serving {
                    layout.serving.take().is_some()
                } else {
                    layout.tags.remove(label).is_some()
                };
                if existed {
                    Ok(())
                } else {
                    Err(Error::not_found(
                        ResourceKind::Label,
                        format!("{function}@{label}"),
                        None,
                    ))
                }
            })
            .await?;
        Ok(())
    }

    async fn invoke(&self, function: &str, qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation> {
        invoke::check_mode(&request.mode)?;
        let body = request.event_bytes()?;
        let (url, executed_version) = self.traffic.invoke_target(function, qualifier).await?;
        invoke::post(&self.http, &self.id_tokens, function, &url, body, executed_version).await
    }

    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let (scope, _) = scope(&self.traffic, &query.function, query.qualifier.as_deref()).await?;
        self.observers.monitoring.metrics(&scope, query).await
    }

    async fn metric_series(&self, query: &MetricsQuery, periods: &[TimeWindow]) -> Result<Vec<Metrics>> {
        if let Some(p) = query.period {
            check_period(p)?;
        }
        let (scope, _) = scope(&self.traffic, &query.function, query.qualifier.as_deref()).await?;
        self.observers.monitoring.series(&scope, query, periods).await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        let (scope, secrets) = scope(&self.traffic, &query.function, query.qualifier.as_deref()).await?;
        self.observers.logging.logs(&scope, query, &secrets).await
    }

    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        self.records()?.read_record(key).await
    }

    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        self.records()?.write_record(key, body, condition).await
    }

    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        self.records()?.delete_record(key, tag).await
    }
}
