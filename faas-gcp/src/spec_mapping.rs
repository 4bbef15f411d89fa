//! Spec ⇄ function resource: the Cloud Functions `Function` a [`FunctionSpec`] describes, and
//! the spec (and [`Deployment`]) a `Function` read back describes — with the spellings GCP
//! keeps (entry point, runtime names, memory units) and the variables and labels it adds.

use std::collections::BTreeMap;

use faas_core::{ArtifactRef, DeployState, Deployment, Error, FunctionSpec, Result};

use crate::resources::{BuildConfig, Environment, Function, ServiceConfig, Severity, Source, State, StorageSource};

/// The build-time variable that records the deployed package's sha256 (Cloud Functions keeps
/// no hash of its own that matches ours); build variables do not reach the running function.
pub(crate) const CODE_SHA_VAR: &str = "FAAS_CODE_SHA256";
/// Variables Cloud Functions adds to every 2nd gen function by itself.
const PLATFORM_ENV: &[&str] = &["LOG_EXECUTION_ID"];

/// The function resource `spec` describes: the body of a create or a patch (with
/// `keep_traffic`, the new revision takes no traffic).
pub(crate) fn function_body(
    name: &str,
    spec: &FunctionSpec,
    artifact: &ArtifactRef,
    keep_traffic: bool,
) -> Result<Function> {
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

/// The function's state in faas-core's terms (a failure with its messages).
pub(crate) fn state_of(f: &Function) -> DeployState {
    match &f.output.state {
        Some(State::Active) => DeployState::Active,
        Some(State::Deploying | State::Deleting | State::Detaching) => DeployState::Pending,
        Some(State::Failed | State::Unknown | State::DetachFailed) => DeployState::Failed(state_messages(f)),
        _ => DeployState::Inactive,
    }
}

/// The sha256 (hex) of the code a function runs, as we recorded it.
pub(crate) fn code_sha(f: &Function) -> String {
    f.build_config
        .environment_variables
        .get(CODE_SHA_VAR)
        .cloned()
        .unwrap_or_default()
}

/// The URL that calls the function: its own, else its service's.
pub(crate) fn function_url(f: &Function) -> Option<&str> {
    f.output.url.as_deref().or(f.service_config.output.uri.as_deref())
}

/// `gs://bucket/object[#generation]` ⇄ `storageSource`.
pub(crate) fn storage_uri(source: &StorageSource) -> String {
    let mut uri = format!("gs://{}/{}", source.bucket, source.object);
    if let Some(g) = source.generation.as_deref().filter(|g| !g.is_empty() && *g != "0") {
        uri.push_str(&format!("#{g}"));
    }
    uri
}

/// The run-time variables the user set (without those Cloud Functions adds).
pub(crate) fn user_env(f: &Function) -> BTreeMap<String, String> {
    f.service_config
        .environment_variables
        .iter()
        .filter(|(k, _)| !PLATFORM_ENV.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The labels the user set (without the platform's `goog-…` and `deployment-tool`).
pub(crate) fn user_labels(f: &Function) -> BTreeMap<String, String> {
    f.labels
        .iter()
        .filter(|(k, _)| !(k.starts_with("goog-") || k.as_str() == "deployment-tool"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The entry point Cloud Functions calls: the handler's last dotted part (`main.handle` →
/// `handle`); a handler without a dot is the entry point itself.
pub(crate) fn entry_point(handler: &str) -> &str {
    handler.rsplit_once('.').map_or(handler, |(_, f)| f)
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

/// Memory as Cloud Functions spells it; we always send MiB.
fn memory_text(mb: u32) -> String {
    format!("{mb}Mi")
}

/// The `storageSource` of a `gs://bucket/object[#generation]` artifact.
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

/// The function's state messages as one line (`ERROR BuildFailed: …; …`).
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

/// The runtime of a spec whose runtime name GCP reports and we cannot parse.
fn fallback_runtime() -> faas_package::Runtime {
    // Only reached for a runtime name we cannot parse; `provided` always parses.
    "provided".parse().unwrap_or_else(|_| unreachable_runtime())
}

fn unreachable_runtime() -> faas_package::Runtime {
    panic!("`provided` is a known runtime")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rest::body;

    /// A spec with memory, a variable and a secret.
    pub(crate) fn spec() -> FunctionSpec {
        FunctionSpec::new("hello", "python312".parse().unwrap(), "main.handle")
            .memory_mb(256)
            .env("A", "1")
            .secret_env("TOKEN", "s3cr3t")
    }

    /// A package at `uri` whose sha256 is `byte` 32 times.
    pub(crate) fn artifact(uri: &str, byte: &str) -> ArtifactRef {
        ArtifactRef {
            uri: uri.into(),
            sha256: byte.repeat(32),
            size: 1,
            local_path: None,
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("256M"), Some(244));
        assert_eq!(parse_memory("256Mi"), Some(256));
        assert_eq!(parse_memory("1Gi"), Some(1024));
        assert_eq!(parse_memory("268435456"), Some(256));
        assert_eq!(parse_memory("12Q"), None);
        assert_eq!(memory_text(512), "512Mi");
    }

    #[test]
    fn the_body_sent_is_the_function_the_spec_describes() {
        let artifact = artifact("gs://b/o.zip#17", "ab");
        let spec = spec();
        let sent =
            body(&function_body("projects/p/locations/r/functions/hello", &spec, &artifact, true).unwrap()).unwrap();
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
        let local = artifact("file:///tmp/x.zip", "00");
        assert!(storage_source(&local).is_err());
        let custom = FunctionSpec::new("hello", "provided.al2023".parse().unwrap(), "bootstrap");
        assert!(matches!(
            function_body("n", &custom, &local, false),
            Err(Error::InvalidInput { .. })
        ));
    }
}
