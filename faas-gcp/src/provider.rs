//! [`GcpProvider`]: faas-core's `Provider` on Cloud Functions v2 and the Cloud Run service
//! behind each function.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use faas_core::{
    ArtifactRef, Capability, DeployOutcome, DeployState, Deployment, Error, FunctionSpec, Invocation, InvokeMode,
    InvokeRequest, Label, LabelModel, Limits, Plan, PlannedAction, ProviderBackend, ProviderInfo, PublishRequest,
    Qualifier, ResourceKind, Result, Routing, Version,
};
use faas_package::{Package, RuntimeFamily};
use gcp_auth::TokenProvider;

use crate::GcpBuilder;
use crate::NAME;
use crate::artifacts::{Bucket, upload_signed};
use crate::auth::{IdTokenCache, IdTokenSource};
use crate::functions::{Functions, Planned, code_sha, deployment, differences, function_url, observed_spec};
use crate::resources::{Function, Service, State};
use crate::rest::Api;
use crate::run::{Layout, Run, VersionRecord, check_label, percents, short, tag_url, verify, version_tag};

/// What Cloud Functions (2nd gen) can do: immutable revisions as versions, traffic tags as
/// labels with weighted splits on the serving label, no asynchronous invoke, no log tail with
/// the response (logs go to Cloud Logging), deletable revisions, no inline packages.
pub const CAPABILITY: Capability = Capability::new(LabelModel::TrafficTag).weighted_versions(8);

/// Environment variables Cloud Functions and Cloud Run set themselves.
pub const GCP_RESERVED_ENV: &[&str] = &[
    "PORT",
    "K_SERVICE",
    "K_REVISION",
    "K_CONFIGURATION",
    "FUNCTION_TARGET",
    "FUNCTION_SIGNATURE_TYPE",
];

/// Cloud Functions (2nd gen) quotas: 128 MiB–32 GiB, 1–3600 s for HTTP functions, 32 KiB of
/// environment, 63-character names, 500 MiB unzipped source.
pub const LIMITS: Limits = Limits {
    memory_mb: (128, 32_768),
    memory_step_mb: None,
    timeout_s: (1, 3600),
    env_total_bytes: 32 * 1024,
    reserved_env: GCP_RESERVED_ENV,
    name_max: 63,
    description_max: 4096,
    ephemeral_storage_mb: None,
    inline_zip_bytes: 0,
    unzipped_bytes: 500 * 1024 * 1024,
    // Cloud Run's HTTP/1 request size limit (32 MiB).
    payload_bytes: 32 * 1024 * 1024,
};

/// The Google Cloud Functions (2nd gen) provider. Build it with [`GcpBuilder`].
#[derive(Debug, Clone)]
pub struct GcpProvider {
    functions: Functions,
    run: Run,
    bucket: Option<Bucket>,
    id_tokens: Arc<IdTokenCache>,
    http: reqwest::Client,
    serving_label: String,
}

fn check_name(name: &str) -> Result<()> {
    let ok = (4..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        "name",
        format!("{name:?}"),
        "a Cloud Functions name is 4–63 lowercase letters, digits and hyphens, starting with a letter",
    ))
}

fn check_label_map(field: &str, map: &BTreeMap<String, String>) -> Result<()> {
    let ok_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    for (k, v) in map {
        if k.is_empty() || k.len() > 63 || !k.starts_with(|c: char| c.is_ascii_lowercase()) || !ok_chars(k) {
            return Err(Error::invalid(
                field,
                k,
                "GCP label keys are 1–63 lowercase letters, digits, _ and -, starting with a letter",
            ));
        }
        if v.len() > 63 || !ok_chars(v) {
            return Err(Error::invalid(
                field,
                format!("{k}={v}"),
                "GCP label values are at most 63 lowercase letters, digits, _ and -",
            ));
        }
    }
    Ok(())
}

/// What GCP needs beyond the generic limits, checked before any call.
fn check_spec(spec: &FunctionSpec) -> Result<()> {
    spec.validate(&LIMITS)?;
    check_name(&spec.name)?;
    check_label_map("tags", &spec.tags)?;
    if spec.runtime.gcp_name().is_none() {
        return Err(Error::invalid(
            "runtime",
            &spec.runtime,
            "Cloud Functions has no custom runtimes: use python3xx, nodejsNN or ruby3x",
        ));
    }
    if spec.runtime.family() == RuntimeFamily::Python
        && let Some((module, _)) = spec.handler.rsplit_once('.')
        && module != "main"
    {
        return Err(Error::invalid(
            "handler",
            &spec.handler,
            "Cloud Functions loads Python functions from main.py: name the handler main.<function>",
        ));
    }
    Ok(())
}

fn unsupported(operation: &str, hint: &str) -> Error {
    Error::unsupported(operation, Some(hint.into()))
}

impl GcpProvider {
    pub(crate) fn new(
        b: GcpBuilder,
        project: String,
        region: String,
        tokens: Arc<dyn TokenProvider>,
        id_tokens: Arc<dyn IdTokenSource>,
    ) -> GcpProvider {
        let http = b.http.clone().unwrap_or_else(|| crate::http_client(&b.timeouts));
        let api = Api {
            http: http.clone(),
            tokens,
            retry: b.retry,
            poll: b.poll,
        };
        GcpProvider {
            functions: Functions {
                api: api.clone(),
                base: b.functions_url,
                parent: format!("projects/{project}/locations/{region}"),
            },
            run: Run {
                api: api.clone(),
                base: b.run_url,
            },
            bucket: b.bucket.map(|bucket| Bucket {
                api,
                base: b.storage_url,
                bucket,
                prefix: b.prefix,
            }),
            id_tokens: Arc::new(IdTokenCache::new(id_tokens)),
            http,
            serving_label: b.serving_label,
        }
    }

    /// The label whose routing is the function URL's traffic split.
    pub fn serving_label(&self) -> &str {
        &self.serving_label
    }

    /// The Cloud Run service behind a function, with our layout read from it.
    async fn layout(&self, function: &str) -> Result<(Function, Service, Layout)> {
        let f = self.functions.require(function).await?;
        let (service, layout) = self.layout_of(function, &f).await?;
        Ok((f, service, layout))
    }

    /// The service and traffic layout behind a function already read.
    async fn layout_of(&self, function: &str, f: &Function) -> Result<(Service, Layout)> {
        let name = f.service_config.output.service.as_deref().ok_or_else(|| {
            Error::other(
                "NO_SERVICE",
                format!("{function} has no Cloud Run service yet (its first deploy has not finished)"),
                false,
            )
        })?;
        let service = self.run.service(name).await?;
        let layout = Layout::read(&service, &self.serving_label)?;
        Ok((service, layout))
    }

    /// Read the service, change the layout with `change`, write it back guarded by the etag,
    /// and verify where traffic went; a concurrent writer (etag mismatch) means read again.
    async fn update_layout<F>(&self, function: &str, mut change: F) -> Result<Layout>
    where
        F: FnMut(&Function, &mut Layout) -> Result<()> + Send,
    {
        let attempts = self.functions.api.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (f, service, layout) = self.layout(function).await?;
            let mut next = layout.clone();
            change(&f, &mut next)?;
            if next == layout {
                return Ok(layout);
            }
            match self.run.write(&service, &next, &self.serving_label).await {
                Ok(written) => {
                    verify(&written, &next, &self.serving_label)?;
                    return Ok(next);
                }
                Err(Error::Conflict { message, .. }) if attempt < attempts => {
                    tracing::info!(function, attempt, %message, "service changed underneath; reading it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn label_of(&self, layout: &Layout, function: &str, label: &str) -> Result<Label> {
        layout
            .routing(label, &self.serving_label)
            .map(|routing| Label {
                name: label.to_string(),
                routing,
            })
            .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{label}"), None))
    }

    fn record_deployment(&self, service: &Service, record: &VersionRecord) -> Deployment {
        Deployment {
            spec: record.spec.clone(),
            code_sha256: record.sha256.clone(),
            state: DeployState::Active,
            revision: Some(record.revision.clone()),
            url: tag_url(service, &version_tag(record.id)),
            version: record.id.to_string(),
        }
    }

    /// The URL to call for a qualifier, and the version it pins (when it pins one).
    async fn invoke_target(&self, function: &str, qualifier: Option<&str>) -> Result<(String, Option<String>)> {
        let q = qualifier.filter(|q| !matches!(*q, "latest" | "$LATEST"));
        let Some(q) = q else {
            let f = self.functions.require(function).await?;
            let url = function_url(&f).ok_or_else(|| {
                Error::other(
                    "NO_URL",
                    format!("{function} has no URL (is it an event-triggered function?)"),
                    false,
                )
            })?;
            return Ok((url.to_string(), None));
        };
        let (_, service, layout) = self.layout(function).await?;
        let missing_url = || {
            Error::other(
                "NO_TAG_URL",
                format!("{function}: Cloud Run reports no URL for {q} yet"),
                true,
            )
        };
        if q == self.serving_label {
            if layout.serving.is_none() {
                return Err(Error::not_found(ResourceKind::Label, format!("{function}@{q}"), None));
            }
            return Ok((service.output.uri.clone().unwrap_or_default(), None));
        }
        if let Some(rev) = layout.tags.get(q) {
            let url = tag_url(&service, q).ok_or_else(missing_url)?;
            return Ok((url, Some(layout.id_of(rev))));
        }
        let record = layout
            .version(q)
            .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{function}:{q}"), None))?;
        let url = tag_url(&service, &version_tag(record.id)).ok_or_else(missing_url)?;
        Ok((url, Some(record.id.to_string())))
    }
}

#[async_trait]
impl ProviderBackend for GcpProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(NAME, CAPABILITY, LIMITS).weighted_label(&self.serving_label)
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
            // A function whose first deploy failed has no service (nor traffic) yet.
            Some(p) if p.function.service_config.output.service.is_none() => None,
            Some(p) => Some(self.layout_of(&spec.name, &p.function).await?.1).filter(Layout::pinned),
            None => None,
        };
        let (f, change) = self.functions.deploy(spec, artifact, before.is_some(), planned).await?;
        if let Some(layout) = &before {
            let (_, service, _) = self.layout(&spec.name).await?;
            verify(&service, layout, &self.serving_label)?;
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
        let qualifier = qualifier.to_string();
        let qualifier = qualifier.as_str();
        if matches!(qualifier, "latest" | "$LATEST") {
            return self.get(function).await;
        }
        let (_, service, layout) = self.layout(function).await?;
        let id = match layout.routing(qualifier, &self.serving_label) {
            Some(r) => r.primary,
            None => qualifier.to_string(),
        };
        let record = layout.version(&id).ok_or_else(|| {
            Error::not_found(
                ResourceKind::Version,
                format!("{function}:{qualifier}"),
                Some("only published versions (and labels routing to them) can be read".into()),
            )
        })?;
        Ok(self.record_deployment(&service, record))
    }

    async fn delete(&self, function: &str) -> Result<()> {
        self.functions.delete(function).await
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let mut published: Option<VersionRecord> = None;
        self.update_layout(function, |f, layout| {
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
        })
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        let (_, _, layout) = self.layout(function).await?;
        let mut versions: Vec<&VersionRecord> = layout.versions.iter().collect();
        versions.sort_by_key(|v| v.id);
        Ok(versions
            .into_iter()
            .map(|v| Version {
                id: v.id.to_string(),
                code_sha256: v.sha256.clone(),
                description: v.description.clone(),
            })
            .collect())
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        let mut removed: Option<VersionRecord> = None;
        let mut service_name = String::new();
        self.update_layout(function, |f, layout| {
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
        let (f, service, _) = self.layout(function).await?;
        let current = short(f.service_config.output.revision.as_deref().unwrap_or_default());
        let latest = short(service.output.latest_ready_revision.as_deref().unwrap_or_default());
        if record.revision != current && record.revision != latest {
            self.run.delete_revision(&service_name, &record.revision).await?;
        }
        Ok(())
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        check_label(label)?;
        let serving = label == self.serving_label;
        if !serving && !routing.weights.is_empty() {
            return Err(Error::invalid(
                "routing.weights",
                format!("label {label}"),
                format!(
                    "on GCP only the serving label `{}` splits traffic (the function URL's split); other labels are tags that pin one revision",
                    self.serving_label
                ),
            ));
        }
        routing.validate(usize::from(CAPABILITY.weighted_versions))?;
        let weights = percents(routing)?;
        let layout = self
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
        self.label_of(&layout, function, label)
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        let (_, _, layout) = self.layout(function).await?;
        self.label_of(&layout, function, label)
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        let (_, _, layout) = self.layout(function).await?;
        let mut names: Vec<String> = layout.tags.keys().cloned().collect();
        if layout.serving.is_some() {
            names.push(self.serving_label.clone());
        }
        names.sort();
        names.iter().map(|n| self.label_of(&layout, function, n)).collect()
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let serving = label == self.serving_label;
        self.update_layout(function, |_, layout| {
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

    async fn invoke(&self, function: &str, _qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation> {
        match request.mode {
            InvokeMode::Sync => {}
            InvokeMode::Async => {
                return Err(unsupported(
                    "asynchronous invocation",
                    "HTTP functions answer synchronously; publish to Pub/Sub or Cloud Tasks for fire-and-forget",
                ));
            }
            InvokeMode::DryRun => return Err(unsupported("dry-run invocation", "call the function instead")),
        }
        let body = request.event_bytes()?;
        let (url, executed_version) = self.invoke_target(function, request.qualifier.as_deref()).await?;
        let token = self.id_tokens.get(&url).await?;
        let started = Instant::now();
        let mut req = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = &token {
            req = req.bearer_auth(t.secret());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::other("transport", format!("invoking {function}: {}", e.without_url()), true))?;
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
        let payload = resp.bytes().await.map_err(|e| {
            Error::other(
                "transport",
                format!("reading {function}'s answer: {}", e.without_url()),
                true,
            )
        })?;
        let elapsed = started.elapsed();
        let text = || String::from_utf8_lossy(&payload).chars().take(300).collect::<String>();
        match status {
            401 => {
                return Err(Error::unauthenticated(format!(
                    "{function} refused the call (401): {}",
                    text()
                )));
            }
            403 => {
                return Err(Error::permission_denied(
                    Some(format!("run.routes.invoke on {function}'s service (roles/run.invoker)")),
                    text(),
                ));
            }
            _ => {}
        }
        Invocation::from_http(function, status, headers, payload.to_vec(), elapsed, executed_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_rules_are_checked_before_any_call() {
        let ok = FunctionSpec::new("hello-fn", "python312".parse().unwrap(), "main.handle");
        assert!(check_spec(&ok).is_ok());
        let field = |s: FunctionSpec| match check_spec(&s) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(FunctionSpec {
                name: "Hello_Fn".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(FunctionSpec {
                handler: "app.handle".into(),
                ..ok.clone()
            }),
            "handler"
        );
        assert_eq!(field(ok.clone().memory_mb(65_536)), "memory_mb");
        let mut tagged = ok.clone();
        tagged.tags.insert("Team".into(), "x".into());
        assert_eq!(field(tagged), "tags");
        assert_eq!(
            field(FunctionSpec {
                runtime: "provided.al2023".parse().unwrap(),
                ..ok
            }),
            "runtime"
        );
    }
}
