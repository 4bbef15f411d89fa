//! Cloud Functions v2: the function resource, what differs from a spec (as an `updateMask`),
//! and the deploy flow — create or patch, wait for the operation, and live with `409 ABORTED`.

use std::collections::BTreeMap;

use faas_core::{
    ArtifactRef, Change, ConfigDiff, DeployState, Deployment, Error, FunctionSpec, PollStatus, ResourceKind, Result,
};
use reqwest::Method;

use crate::resources::{
    BuildConfig, Environment, Function, GenerateUploadUrlRequest, GenerateUploadUrlResponse, Operation, ServiceConfig,
    Severity, Source, State, StorageSource,
};
use crate::rest::{Api, Target, body};

/// The build-time variable that records the deployed package's sha256 (Cloud Functions keeps
/// no hash of its own that matches ours); build variables do not reach the running function.
pub(crate) const CODE_SHA_VAR: &str = "FAAS_CODE_SHA256";
/// Variables Cloud Functions adds to every 2nd gen function by itself.
const PLATFORM_ENV: &[&str] = &["LOG_EXECUTION_ID"];

/// Cloud Functions v2 for one project and region.
#[derive(Debug, Clone)]
pub(crate) struct Functions {
    pub api: Api,
    /// API root, ending in `/v2/`.
    pub base: String,
    /// `projects/{project}/locations/{region}`.
    pub parent: String,
}

/// What a plan read and decided: applying it starts from this instead of reading again.
pub(crate) struct Planned {
    /// The function as the plan read it.
    pub function: Function,
    /// What the plan found different.
    pub differences: Differences,
}

/// What a deploy would change: code, and the configuration fields with their mask paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct Differences {
    pub code: Option<(String, String)>,
    pub config: Vec<(ConfigDiff, &'static str)>,
}

impl Differences {
    pub fn is_empty(&self) -> bool {
        self.code.is_none() && self.config.is_empty()
    }

    fn mask(&self) -> String {
        let mut paths: Vec<&str> = self.config.iter().map(|(_, p)| *p).collect();
        if self.code.is_some() {
            paths.extend(["buildConfig.source", "buildConfig.environmentVariables"]);
        }
        paths.sort_unstable();
        paths.dedup();
        paths.join(",")
    }
}

/// The entry point Cloud Functions calls: the handler's last dotted part (`main.handle` →
/// `handle`); a handler without a dot is the entry point itself.
pub(crate) fn entry_point(handler: &str) -> &str {
    handler.rsplit_once('.').map_or(handler, |(_, f)| f)
}

/// Memory as Cloud Functions spells it; we always send MiB.
fn memory_text(mb: u32) -> String {
    format!("{mb}Mi")
}

/// Parses `availableMemory` (`256M`, `512Mi`, `1Gi`, `2G`, `131072k`, bytes) into MiB.
pub(crate) fn parse_memory(s: &str) -> Option<u32> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let bytes = match unit {
        "" => n,
        "k" => n * 1e3,
        "M" => n * 1e6,
        "G" => n * 1e9,
        "Ki" => n * 1024.0,
        "Mi" => n * 1024.0 * 1024.0,
        "Gi" => n * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((bytes / (1024.0 * 1024.0)).round() as u32)
}

/// The run-time variables the user set (without those Cloud Functions adds).
fn user_env(f: &Function) -> BTreeMap<String, String> {
    f.service_config
        .environment_variables
        .iter()
        .filter(|(k, _)| !PLATFORM_ENV.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The labels the user set (without the platform's `goog-…` and `deployment-tool`).
fn user_labels(f: &Function) -> BTreeMap<String, String> {
    f.labels
        .iter()
        .filter(|(k, _)| !(k.starts_with("goog-") || k.as_str() == "deployment-tool"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The sha256 (hex) of the code a function runs, as we recorded it.
pub(crate) fn code_sha(f: &Function) -> String {
    f.build_config
        .environment_variables
        .get(CODE_SHA_VAR)
        .cloned()
        .unwrap_or_default()
}

/// `K=V,…` with secret values as `***`; `None`: which values are secret is unknown, so all are.
fn env_text(spec: Option<&FunctionSpec>, env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(k, v)| {
            let secret = spec.is_none_or(|s| s.is_secret(k));
            format!("{k}={}", if secret { faas_core::REDACTED } else { v })
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// How the function's configuration differs from `spec`, and whether its code differs from `sha256`.
pub(crate) fn differences(f: &Function, spec: &FunctionSpec, sha256: &str) -> Differences {
    let mut d = Differences::default();
    let current = code_sha(f);
    if current != sha256 {
        d.code = Some((current, sha256.to_string()));
    }
    let mut diff = |field: &str, from: Option<String>, to: Option<String>, path: &'static str| {
        if from != to {
            d.config.push((
                ConfigDiff {
                    field: field.to_string(),
                    from,
                    to,
                },
                path,
            ));
        }
    };
    let build = &f.build_config;
    let service = &f.service_config;
    diff(
        "runtime",
        build.runtime.clone(),
        spec.runtime.gcp_name(),
        "buildConfig.runtime",
    );
    diff(
        "handler",
        build.entry_point.clone(),
        Some(entry_point(&spec.handler).to_string()),
        "buildConfig.entryPoint",
    );
    diff(
        "memory_mb",
        service
            .available_memory
            .as_deref()
            .and_then(parse_memory)
            .map(|m| m.to_string()),
        Some(spec.memory_mb.to_string()),
        "serviceConfig.availableMemory",
    );
    diff(
        "timeout_s",
        service.timeout_seconds.map(|t| t.to_string()),
        Some(spec.timeout_s.to_string()),
        "serviceConfig.timeoutSeconds",
    );
    let env = user_env(f);
    diff(
        "description",
        f.description.clone().filter(|d| !d.is_empty()),
        Some(spec.description.clone()).filter(|d| !d.is_empty()),
        "description",
    );
    let labels = user_labels(f);
    if labels != spec.tags {
        diff(
            "tags",
            Some(format!("{labels:?}")),
            Some(format!("{:?}", spec.tags)),
            "labels",
        );
    }
    if let Some(sa) = &spec.gcp.service_account {
        diff(
            "gcp.service_account",
            service.service_account_email.clone(),
            Some(sa.clone()),
            "serviceConfig.serviceAccountEmail",
        );
    }
    let count = |n: Option<u32>| n.map(|n| n.to_string());
    if let Some(n) = spec.gcp.max_instances {
        diff(
            "gcp.max_instances",
            count(service.max_instance_count),
            Some(n.to_string()),
            "serviceConfig.maxInstanceCount",
        );
    }
    if let Some(n) = spec.gcp.min_instances {
        diff(
            "gcp.min_instances",
            count(service.min_instance_count),
            Some(n.to_string()),
            "serviceConfig.minInstanceCount",
        );
    }
    if env != spec.environment {
        // Pushed directly: with secrets redacted, both sides can read the same.
        let mut to = env_text(Some(spec), &spec.environment);
        if spec.secret_env.iter().any(|k| env.get(k) != spec.environment.get(k)) {
            to.push_str(" (a secret value changed)");
        }
        d.config.push((
            ConfigDiff {
                field: "environment".into(),
                // Cloud Functions keeps no record of which old values were secret: mask them all.
                from: Some(env_text(None, &env)),
                to: Some(to),
            },
            "serviceConfig.environmentVariables",
        ));
    }
    d
}

/// `gs://bucket/object[#generation]` ⇄ `storageSource`.
pub(crate) fn storage_uri(source: &StorageSource) -> String {
    let mut uri = format!("gs://{}/{}", source.bucket, source.object);
    if let Some(g) = source.generation.as_deref().filter(|g| !g.is_empty() && *g != "0") {
        uri.push_str(&format!("#{g}"));
    }
    uri
}

fn storage_source(artifact: &ArtifactRef) -> Result<StorageSource> {
    let rest = artifact.uri.strip_prefix("gs://").ok_or_else(|| {
        Error::invalid(
            "artifact",
            &artifact.uri,
            "Cloud Functions deploys from Cloud Storage: upload the package first (Provider::upload)",
        )
    })?;
    let (path, generation) = rest.split_once('#').map_or((rest, None), |(p, g)| (p, Some(g)));
    let (bucket, object) = path
        .split_once('/')
        .ok_or_else(|| Error::invalid("artifact", &artifact.uri, "expected gs://bucket/object"))?;
    Ok(StorageSource {
        bucket: bucket.to_string(),
        object: object.to_string(),
        generation: generation.map(str::to_string),
    })
}

/// The function resource `spec` describes (output-only fields left out).
fn resource(name: &str, spec: &FunctionSpec, artifact: &ArtifactRef, keep_traffic: bool) -> Result<Function> {
    let runtime = spec.runtime.gcp_name().ok_or_else(|| {
        Error::invalid(
            "runtime",
            &spec.runtime,
            "Cloud Functions has no custom runtimes: use python3xx, nodejsNN, ruby3x or a container on Cloud Run",
        )
    })?;
    let source = match artifact.uri.starts_with("gs://") {
        true => Some(Source {
            storage_source: Some(storage_source(artifact)?),
        }),
        false => None,
    };
    Ok(Function {
        name: Some(name.to_string()),
        description: Some(spec.description.clone()),
        environment: Some(Environment::Gen2),
        labels: spec.tags.clone(),
        build_config: BuildConfig {
            runtime: Some(runtime),
            entry_point: Some(entry_point(&spec.handler).to_string()),
            source,
            environment_variables: BTreeMap::from([(CODE_SHA_VAR.to_string(), artifact.sha256.clone())]),
        },
        service_config: ServiceConfig {
            available_memory: Some(memory_text(spec.memory_mb)),
            timeout_seconds: Some(spec.timeout_s),
            environment_variables: spec.environment.clone(),
            service_account_email: spec.gcp.service_account.clone(),
            max_instance_count: spec.gcp.max_instances,
            min_instance_count: spec.gcp.min_instances,
            // The new revision takes no traffic: the serving label keeps what it routes.
            all_traffic_on_latest_revision: keep_traffic.then_some(false),
            ..ServiceConfig::default()
        },
        ..Function::default()
    })
}

/// The spec a function resource describes; `desired` supplies the spellings GCP does not keep
/// (the handler's module, the runtime's name) when they mean the same.
pub(crate) fn observed_spec(f: &Function, name: &str, desired: Option<&FunctionSpec>) -> FunctionSpec {
    let build = &f.build_config;
    let service = &f.service_config;
    let gcp_runtime = build.runtime.as_deref().unwrap_or_default();
    let entry = build.entry_point.as_deref().unwrap_or_default();
    let runtime = match desired {
        Some(d) if d.runtime.gcp_name().as_deref() == Some(gcp_runtime) => d.runtime.clone(),
        _ => gcp_runtime
            .parse()
            .unwrap_or_else(|_| desired.map(|d| d.runtime.clone()).unwrap_or_else(fallback_runtime)),
    };
    let handler = match desired {
        Some(d) if entry_point(&d.handler) == entry => d.handler.clone(),
        // The module Cloud Functions loads: main.py for Python, index.js by default for Node.
        _ => match runtime.family() {
            faas_package::RuntimeFamily::Python => format!("main.{entry}"),
            faas_package::RuntimeFamily::Node => format!("index.{entry}"),
            _ => entry.to_string(),
        },
    };
    let mut spec = FunctionSpec::new(name, runtime, handler);
    if let Some(mb) = service.available_memory.as_deref().and_then(parse_memory) {
        spec.memory_mb = mb;
    }
    if let Some(t) = service.timeout_seconds {
        spec.timeout_s = t;
    }
    spec.environment = user_env(f);
    if let Some(d) = desired {
        spec.secret_env = d.secret_env.clone();
    }
    spec.tags = user_labels(f);
    spec.description = f.description.clone().unwrap_or_default();
    spec.gcp.service_account = service.service_account_email.clone();
    spec.gcp.max_instances = service.max_instance_count;
    spec.gcp.min_instances = service.min_instance_count;
    if let Some(d) = desired {
        // Unset in the spec means "the platform's default": do not report the default back.
        if d.gcp.service_account.is_none() {
            spec.gcp.service_account = None;
        }
        if d.gcp.max_instances.is_none() {
            spec.gcp.max_instances = None;
        }
        if d.gcp.min_instances.is_none() {
            spec.gcp.min_instances = None;
        }
        spec.architecture = d.architecture;
    }
    spec
}

fn fallback_runtime() -> faas_package::Runtime {
    // Only reached for a runtime name we cannot parse; `provided` always parses.
    "provided".parse().unwrap_or_else(|_| unreachable_runtime())
}

fn unreachable_runtime() -> faas_package::Runtime {
    panic!("`provided` is a known runtime")
}

/// The function's state in faas-core's terms (a failure with its messages).
pub(crate) fn state_of(f: &Function) -> DeployState {
    match &f.output.state {
        Some(State::Active) => DeployState::Active,
        Some(State::Deploying | State::Deleting | State::Detaching) => DeployState::Pending,
        Some(State::Failed | State::Unknown | State::DetachFailed) => DeployState::Failed(state_messages(f)),
        _ => DeployState::Inactive,
    }
}

fn state_messages(f: &Function) -> String {
    let msgs: Vec<String> = f
        .output
        .state_messages
        .iter()
        .map(|m| {
            format!(
                "{} {}: {}",
                m.severity.as_ref().map_or("", Severity::as_str),
                m.kind.as_deref().unwrap_or(""),
                m.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    if msgs.is_empty() {
        format!("state {}", f.state_text())
    } else {
        msgs.join("; ")
    }
}

/// The URL that calls the function: its own, else its service's.
pub(crate) fn function_url(f: &Function) -> Option<&str> {
    f.output.url.as_deref().or(f.service_config.output.uri.as_deref())
}

/// A function resource as a provider-neutral [`Deployment`].
pub(crate) fn deployment(f: &Function, name: &str, desired: Option<&FunctionSpec>) -> Deployment {
    Deployment {
        spec: observed_spec(f, name, desired),
        code_sha256: code_sha(f),
        state: state_of(f),
        revision: f.output.update_time.clone(),
        url: function_url(f).map(str::to_string),
        version: "latest".into(),
    }
}

impl Functions {
    pub fn name(&self, function: &str) -> String {
        format!("{}/functions/{function}", self.parent)
    }

    fn url(&self, function: &str) -> String {
        format!("{}{}", self.base, self.name(function))
    }

    fn target(function: &str) -> Target<'_> {
        Target {
            kind: ResourceKind::Function,
            name: function,
        }
    }

    /// The function resource, or `None`.
    pub async fn observe(&self, function: &str) -> Result<Option<Function>> {
        self.api.get_opt(&self.url(function), Self::target(function)).await
    }

    /// The function resource, or `NotFound`.
    pub async fn require(&self, function: &str) -> Result<Function> {
        self.observe(function)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Function, function, None))
    }

    /// `functions:generateUploadUrl`: the signed URL and the `storageSource` it fills.
    pub async fn upload_url(&self) -> Result<(String, StorageSource)> {
        let url = format!("{}{}/functions:generateUploadUrl", self.base, self.parent);
        let request = body(&GenerateUploadUrlRequest {
            environment: Environment::Gen2,
        })?;
        let answer: GenerateUploadUrlResponse = self
            .api
            .send(
                Method::POST,
                &url,
                Some(&request),
                Target {
                    kind: ResourceKind::Artifact,
                    name: &self.parent,
                },
            )
            .await?;
        match (answer.upload_url, answer.storage_source) {
            (Some(u), Some(s)) => Ok((u, s)),
            _ => Err(Error::other(
                "invalid_response",
                "generateUploadUrl answered without uploadUrl and storageSource",
                false,
            )),
        }
    }

    /// Waits until no operation runs on the function (state not `DEPLOYING`/`DELETING`).
    async fn wait_idle(&self, function: &str) -> Result<Option<Function>> {
        self.api
            .poll
            .poll(&format!("{function} to finish its running operation"), || async {
                Ok(match self.observe(function).await? {
                    Some(f) if f.busy() => PollStatus::Pending(format!("state {}", f.state_text())),
                    other => PollStatus::Done(other),
                })
            })
            .await
    }

    /// Creates or patches the function until it matches `spec` and `artifact`, and waits.
    ///
    /// The first attempt starts from what the plan read (`planned`; `None`: the function did
    /// not exist), so it makes exactly the planned call. `409 ABORTED` (another operation
    /// runs, possibly our own earlier attempt whose answer was lost) is handled by waiting for
    /// the function to be idle, reading and diffing again: a change that already landed is a
    /// success, not a failure.
    pub async fn deploy(
        &self,
        spec: &FunctionSpec,
        artifact: &ArtifactRef,
        keep_traffic: bool,
        planned: Option<&Planned>,
    ) -> Result<(Function, Change)> {
        let name = self.name(&spec.name);
        let mut intended: Option<Change> = None;
        let attempts = self.api.retry.max_attempts.max(1) + 2;
        for attempt in 1..=attempts {
            let seen = if attempt == 1 {
                planned.map(|p| p.function.clone())
            } else {
                self.observe(&spec.name).await?
            };
            let observed = match seen {
                Some(f) if f.busy() => self.wait_idle(&spec.name).await?,
                other => other,
            };
            let result = match &observed {
                None => {
                    intended.get_or_insert(Change {
                        created: true,
                        ..Change::default()
                    });
                    let created = body(&resource(&name, spec, artifact, false)?)?;
                    let url = format!("{}{}/functions?functionId={}", self.base, self.parent, spec.name);
                    self.api
                        .send::<Operation>(Method::POST, &url, Some(&created), Self::target(&spec.name))
                        .await
                }
                Some(f) => {
                    let d = match planned {
                        Some(p) if attempt == 1 => p.differences.clone(),
                        _ => differences(f, spec, &artifact.sha256),
                    };
                    if d.is_empty() {
                        let f = f.clone();
                        return match state_of(&f) {
                            DeployState::Failed(why) => Err(failed(&spec.name, &why)),
                            _ => Ok((f, intended.unwrap_or_default())),
                        };
                    }
                    intended.get_or_insert(Change {
                        created: false,
                        code_updated: d.code.is_some(),
                        config_updated: !d.config.is_empty(),
                    });
                    let patched = body(&resource(&name, spec, artifact, keep_traffic)?)?;
                    let mut mask = d.mask();
                    if keep_traffic {
                        mask.push_str(",serviceConfig.allTrafficOnLatestRevision");
                    }
                    tracing::info!(function = %spec.name, update_mask = %mask, "patching function");
                    let url = format!("{}?updateMask={mask}", self.url(&spec.name));
                    self.api
                        .send::<Operation>(Method::PATCH, &url, Some(&patched), Self::target(&spec.name))
                        .await
                }
            };
            match result {
                Ok(op) => {
                    self.api
                        .wait(&self.base, op, &format!("deploy of {}", spec.name))
                        .await?;
                    let f = self.require(&spec.name).await?;
                    if let DeployState::Failed(why) = state_of(&f) {
                        return Err(failed(&spec.name, &why));
                    }
                    return Ok((f, intended.unwrap_or_default()));
                }
                Err(Error::Conflict { message, .. })
                | Err(Error::AlreadyExists {
                    kind: _, name: message, ..
                }) if attempt < attempts => {
                    tracing::info!(function = %spec.name, attempt, %message, "another operation runs; waiting, then diffing again");
                    self.wait_idle(&spec.name).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(
            spec.name.clone(),
            format!("other operations kept running on the function through {attempts} attempts"),
        ))
    }

    /// Deletes the function (and the Cloud Run service behind it) and waits.
    pub async fn delete(&self, function: &str) -> Result<()> {
        let op: Operation = self
            .api
            .send(Method::DELETE, &self.url(function), None, Self::target(function))
            .await?;
        self.api.wait(&self.base, op, &format!("delete of {function}")).await?;
        Ok(())
    }
}

fn failed(function: &str, why: &str) -> Error {
    Error::other(
        "FUNCTION_FAILED",
        format!("{function} is in state FAILED: {why}; fix the cause and deploy again"),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("256M"), Some(244));
        assert_eq!(parse_memory("256Mi"), Some(256));
        assert_eq!(parse_memory("1Gi"), Some(1024));
        assert_eq!(parse_memory("268435456"), Some(256));
        assert_eq!(parse_memory("12Q"), None);
        assert_eq!(memory_text(512), "512Mi");
    }

    fn spec() -> FunctionSpec {
        FunctionSpec::new("hello", "python312".parse().unwrap(), "main.handle")
            .memory_mb(256)
            .env("A", "1")
            .secret_env("TOKEN", "s3cr3t")
    }

    #[test]
    fn unchanged_function_has_no_differences_and_changes_make_a_mask() {
        let artifact = ArtifactRef {
            uri: "gs://b/o.zip".into(),
            sha256: "ab".repeat(32),
            size: 1,
            local_path: None,
        };
        let mut f = resource("projects/p/locations/r/functions/hello", &spec(), &artifact, false).unwrap();
        // What Cloud Functions adds by itself.
        f.service_config
            .environment_variables
            .insert("LOG_EXECUTION_ID".into(), "true".into());
        f.labels.insert("goog-managed".into(), "x".into());
        f.service_config.available_memory = Some("256Mi".into());
        assert!(differences(&f, &spec(), &artifact.sha256).is_empty());
        let changed = spec().memory_mb(512).secret_env("TOKEN", "other");
        let d = differences(&f, &changed, &"cd".repeat(32));
        assert_eq!(
            d.mask(),
            "buildConfig.environmentVariables,buildConfig.source,serviceConfig.availableMemory,serviceConfig.environmentVariables"
        );
        let shown = format!("{:?}", d.config);
        assert!(!shown.contains("s3cr3t") && !shown.contains("other"), "{shown}");
        let seen = observed_spec(&f, "hello", Some(&spec()));
        assert!(
            faas_core::diff_config(&seen, &spec()).is_empty(),
            "{:?}",
            faas_core::diff_config(&seen, &spec())
        );
    }

    #[test]
    fn the_body_sent_is_the_function_the_spec_describes() {
        let artifact = ArtifactRef {
            uri: "gs://b/o.zip#17".into(),
            sha256: "ab".repeat(32),
            size: 1,
            local_path: None,
        };
        let spec = spec();
        let sent = body(&resource("projects/p/locations/r/functions/hello", &spec, &artifact, true).unwrap()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({
                "name": "projects/p/locations/r/functions/hello",
                "description": "",
                "environment": "GEN_2",
                "labels": {},
                "buildConfig": {
                    "runtime": "python312",
                    "entryPoint": "handle",
                    "environmentVariables": {CODE_SHA_VAR: artifact.sha256},
                    "source": {"storageSource": {"bucket": "b", "object": "o.zip", "generation": "17"}},
                },
                "serviceConfig": {
                    "availableMemory": "256Mi",
                    "timeoutSeconds": spec.timeout_s,
                    "environmentVariables": {"A": "1", "TOKEN": "s3cr3t"},
                    "allTrafficOnLatestRevision": false,
                },
            })
        );
    }

    #[test]
    fn custom_runtimes_and_local_artifacts_are_refused() {
        let local = ArtifactRef {
            uri: "file:///tmp/x.zip".into(),
            sha256: "00".repeat(32),
            size: 1,
            local_path: None,
        };
        assert!(storage_source(&local).is_err());
        let custom = FunctionSpec::new("hello", "provided.al2023".parse().unwrap(), "bootstrap");
        assert!(matches!(
            resource("n", &custom, &local, false),
            Err(Error::InvalidInput { .. })
        ));
    }
}
