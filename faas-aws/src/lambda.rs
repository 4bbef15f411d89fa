//! Lambda functions: reading, creating, updating and waiting until ready (planning is in
//! `planning`).

use std::collections::BTreeMap;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, EphemeralStorage, FunctionCode, FunctionConfiguration, PackageType, Runtime,
};
use base64::Engine;
use faas_core::{ArtifactRef, Change, Deployment, Error, FunctionSpec, PollPolicy, ResourceKind, Result, RetryConfig};

use crate::error::{Target, map};
use crate::planning::arch_name;
pub(crate) use crate::planning::{Differences, Planned, differences, is_image, observed_spec, plan};

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our sha256 (lowercase hex) of a `CodeSha256`: base64 for a zip package; an image's digest
/// already in hex (64 hex digits, which no base64 sha256 — 44 characters — can be) is kept.
pub(crate) fn b64_to_hex(b64: &str) -> String {
    if b64.len() == 64 && b64.chars().all(|c| c.is_ascii_hexdigit()) {
        return b64.to_ascii_lowercase();
    }
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(bytes) => hex(&bytes),
        Err(_) => b64.to_string(),
    }
}

/// A function's configuration and tags as Lambda reports them.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub config: FunctionConfiguration,
    pub tags: BTreeMap<String, String>,
}

/// The Lambda side of the provider.
#[derive(Debug, Clone)]
pub(crate) struct Functions {
    pub client: aws_sdk_lambda::Client,
    pub poll: PollPolicy,
    pub retry: RetryConfig,
    pub inline_limit: u64,
}

pub(crate) fn fn_target(name: &str) -> Target<'_> {
    Target {
        kind: ResourceKind::Function,
        name,
    }
}

/// The code of a create or update: inline below the limit when the file is here, else S3.
enum Code {
    Inline(Blob),
    S3 {
        bucket: String,
        key: String,
    },
    /// A container image by reference (`ImageUri`, pinned by digest).
    Image(String),
}

impl Functions {
    async fn code(&self, artifact: &ArtifactRef) -> Result<Code> {
        if let Some(reference) = artifact.image_reference() {
            return Ok(Code::Image(reference.to_string()));
        }
        if let Some(rest) = artifact.uri.strip_prefix("s3://")
            && let Some((bucket, key)) = rest.split_once('/')
            && artifact.size >= self.inline_limit
        {
            return Ok(Code::S3 {
                bucket: bucket.into(),
                key: key.into(),
            });
        }
        let path = artifact.local_path.as_ref().ok_or_else(|| {
            Error::invalid(
                "artifact",
                &artifact.uri,
                "neither an S3 object nor a local file: upload the package first",
            )
        })?;
        if artifact.size >= self.inline_limit && !artifact.uri.starts_with("s3://") {
            return Err(Error::invalid(
                "package",
                format!("{} bytes", artifact.size),
                format!(
                    "packages of {} bytes or more go through S3: configure a bucket (FAAS_AWS_BUCKET or AwsBuilder::bucket)",
                    self.inline_limit
                ),
            ));
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(Code::Inline(Blob::new(bytes)))
    }

    /// GetFunction of `name` as the SDK answers it (a missing function is `NotFound`).
    pub(crate) async fn read(&self, name: &str) -> Result<aws_sdk_lambda::operation::get_function::GetFunctionOutput> {
        self.client
            .get_function()
            .function_name(name)
            .send()
            .await
            .map_err(|e| map(e, fn_target(name)))
    }

    /// GetFunction: configuration and tags, or `None`.
    pub async fn observe(&self, name: &str) -> Result<Option<Observed>> {
        self.observe_qualified(name, None).await
    }

    /// GetFunction of a version or alias: what it serves, or `None`.
    pub async fn observe_qualified(&self, name: &str, qualifier: Option<&str>) -> Result<Option<Observed>> {
        let req = self
            .client
            .get_function()
            .function_name(name)
            .set_qualifier(qualifier.map(str::to_string));
        match req.send().await {
            Ok(out) => Ok(out.configuration().cloned().map(|config| Observed {
                config,
                tags: out
                    .tags()
                    .map(|t| {
                        t.iter()
                            .filter(|(k, _)| !k.starts_with("aws:"))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })),
            Err(e) => match map(e, fn_target(name)) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Runs an update `call` (which answers the new `RevisionId`), retrying
    /// `ResourceConflictException` (an update in progress) after waiting for the function to
    /// be ready; other retryable errors follow the retry policy.
    ///
    /// After a conflict, the ready configuration is checked with `landed`: an update whose
    /// first attempt landed unseen (the connection dropped after Lambda applied it) is retried
    /// by the SDK with the `RevisionId` it replaced, which Lambda refuses
    /// (`PreconditionFailedException`) — and every retry would; the function already is what
    /// the update asked for, so that is success, with the revision read.
    async fn with_conflict_retry<F, Fut>(
        &self,
        name: &str,
        what: &str,
        landed: &(dyn Fn(&FunctionConfiguration) -> bool + Sync),
        mut call: F,
    ) -> Result<Option<String>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<String>>>,
    {
        self.retry
            .retry_if(what, crate::error::conflicts_only, || {
                let fut = call();
                async move {
                    match fut.await {
                        Err(Error::Conflict { resource, message, .. }) => {
                            if let Ok(config) = self.wait_ready(name).await
                                && landed(&config)
                            {
                                tracing::info!(function = name, %message, "{what} had landed: the function is as asked");
                                return Ok(config.revision_id().map(str::to_string));
                            }
                            tracing::info!(function = name, %message, "conflict: waiting for the function, then retrying");
                            Err(Error::conflict(resource, message))
                        }
                        other => other,
                    }
                }
            })
            .await
    }

    /// Carries out a plan: creates the function (`planned` is `None`) or makes exactly the
    /// planned updates against the revision that was read; returns the ready configuration,
    /// its tags, and what changed.
    pub async fn apply(
        &self,
        spec: &FunctionSpec,
        artifact: &ArtifactRef,
        planned: Option<&Planned>,
    ) -> Result<(FunctionConfiguration, BTreeMap<String, String>, Change)> {
        let name = spec.name.as_str();
        let Some(p) = planned else {
            return match self.create(spec, artifact).await {
                Ok(()) => {
                    let config = self.wait_ready(name).await?;
                    let change = Change {
                        created: true,
                        ..Change::default()
                    };
                    Ok((config, spec.tags.clone(), change))
                }
                // Our own retried request (its answer lost: the SDK's retry met the function
                // the first attempt created) or another deployer created it first: look once,
                // and update it to the spec. A function that needs no update is the one this
                // create made (or an identical one): it is reported created, as it did not
                // exist when the plan read.
                Err(Error::Conflict { .. }) => match self.observe(name).await? {
                    Some(o) => {
                        let differences = differences(&o, spec, &artifact.sha256);
                        let (config, tags, mut change) = self.update(spec, artifact, o, &differences).await?;
                        change.created = change.is_noop();
                        Ok((config, tags, change))
                    }
                    None => Err(Error::conflict(
                        name,
                        "the function was created and deleted while we deployed",
                    )),
                },
                Err(e) => Err(e),
            };
        };
        self.update(spec, artifact, p.observed.clone(), &p.differences).await
    }

    async fn create(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<()> {
        let role = spec.aws.role_arn.clone().ok_or_else(|| {
            Error::invalid(
                "aws.role_arn",
                "(none)",
                "creating a Lambda function needs an execution role ARN",
            )
        })?;
        let code = match self.code(artifact).await? {
            Code::Inline(blob) => FunctionCode::builder().zip_file(blob).build(),
            Code::S3 { bucket, key } => FunctionCode::builder().s3_bucket(bucket).s3_key(key).build(),
            Code::Image(reference) => FunctionCode::builder().image_uri(reference).build(),
        };
        let image = artifact.image_reference().is_some();
        let env = Environment::builder()
            .set_variables(Some(spec.environment.clone().into_iter().collect()))
            .build();
        let mut req = self
            .client
            .create_function()
            .function_name(&spec.name)
            // An image brings its own runtime and handler: Lambda takes neither with it.
            .set_runtime((!image).then(|| Runtime::from(spec.runtime.lambda_name().as_str())))
            .set_handler((!image).then(|| spec.handler.clone()))
            .package_type(if image { PackageType::Image } else { PackageType::Zip })
            .role(role)
            .code(code)
            .memory_size(spec.memory_mb as i32)
            .timeout(spec.timeout_s as i32)
            .description(&spec.description)
            .environment(env)
            .architectures(Architecture::from(arch_name(spec)))
            .set_layers(Some(spec.aws.layers.clone()))
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .publish(false);
        if spec.aws.snap_start {
            req = req.snap_start(crate::snapstart::setting(spec));
        }
        if let Some(mb) = spec.aws.ephemeral_storage_mb {
            req = req.ephemeral_storage(EphemeralStorage::builder().size(mb as i32).build().map_err(build_err)?);
        }
        // One call: the SDK retries throttles, 5xx and broken connections; a conflict
        // (`ResourceConflictException`: the function exists) does not go away by asking
        // again, and `apply` handles it — retrying it only multiplied the requests.
        let created = req.send().await.map_err(|e| map(e, fn_target(&spec.name)));
        if let Err(e) = created {
            return Err(self.storage_advice(e).await);
        }
        tracing::info!(function = %spec.name, "created");
        Ok(())
    }

    async fn update(
        &self,
        spec: &FunctionSpec,
        artifact: &ArtifactRef,
        o: Observed,
        d: &Differences,
    ) -> Result<(FunctionConfiguration, BTreeMap<String, String>, Change)> {
        let name = spec.name.as_str();
        let mut change = Change::default();
        let mut revision = o.config.revision_id().map(str::to_string);
        // What the plan read says whether an update may start now: no wait (and no read)
        // when the function was settled.
        let mut ready = crate::states::settled(&o.config);
        let image = is_image(&o.config);
        if d.code || d.architecture {
            if !ready {
                self.wait_ready(name).await?;
            }
            let code = self.code(artifact).await?;
            let arch = arch_name(spec);
            let code_landed = |c: &FunctionConfiguration| {
                c.code_sha256().map(b64_to_hex).as_deref() == Some(artifact.sha256.as_str())
                    && c.architectures().first().map(|a| a.as_str()).unwrap_or("x86_64") == arch
            };
            let c = self
                .with_conflict_retry(name, "UpdateFunctionCode", &code_landed, || {
                    let req = self
                        .client
                        .update_function_code()
                        .function_name(name)
                        .architectures(Architecture::from(arch_name(spec)))
                        .set_revision_id(revision.clone());
                    let req = match &code {
                        Code::Inline(blob) => req.zip_file(blob.clone()),
                        Code::S3 { bucket, key } => req.s3_bucket(bucket).s3_key(key),
                        Code::Image(reference) => req.image_uri(reference),
                    };
                    async move {
                        let c = req.send().await.map_err(|e| map(e, fn_target(name)))?;
                        Ok(c.revision_id().map(str::to_string))
                    }
                })
                .await;
            let c = match c {
                Ok(c) => c,
                Err(e) => return Err(self.storage_advice(e).await),
            };
            change.code_updated = true;
            revision = c;
            revision = self
                .wait_ready(name)
                .await?
                .revision_id()
                .map(str::to_string)
                .or(revision);
            ready = true;
        }
        if !d.config.is_empty() {
            if !ready {
                self.wait_ready(name).await?;
            }
            let env = Environment::builder()
                .set_variables(Some(spec.environment.clone().into_iter().collect()))
                .build();
            let storage = match spec.aws.ephemeral_storage_mb {
                Some(mb) => Some(EphemeralStorage::builder().size(mb as i32).build().map_err(build_err)?),
                None => None,
            };
            let snap_start = (spec.aws.snap_start || d.config.iter().any(|c| c.field == "aws.snap_start"))
                .then(|| crate::snapstart::setting(spec));
            let tags = o.tags.clone();
            let config_landed = |c: &FunctionConfiguration| {
                let now = Observed {
                    config: c.clone(),
                    tags: tags.clone(),
                };
                differences(&now, spec, &artifact.sha256).config.is_empty()
            };
            self.with_conflict_retry(name, "UpdateFunctionConfiguration", &config_landed, || {
                let req = self
                    .client
                    .update_function_configuration()
                    .function_name(name)
                    .set_runtime((!image).then(|| Runtime::from(spec.runtime.lambda_name().as_str())))
                    .set_handler((!image).then(|| spec.handler.clone()))
                    .memory_size(spec.memory_mb as i32)
                    .timeout(spec.timeout_s as i32)
                    .description(&spec.description)
                    .environment(env.clone())
                    .set_layers(Some(spec.aws.layers.clone()))
                    .set_role(spec.aws.role_arn.clone())
                    .set_ephemeral_storage(storage.clone())
                    .set_snap_start(snap_start.clone())
                    .set_revision_id(revision.clone());
                async move {
                    let c = req.send().await.map_err(|e| map(e, fn_target(name)))?;
                    Ok(c.revision_id().map(str::to_string))
                }
            })
            .await?;
            change.config_updated = true;
        }
        if !d.tags_to_set.is_empty() || !d.tags_to_remove.is_empty() {
            let arn = o.config.function_arn().unwrap_or(name).to_string();
            if !d.tags_to_set.is_empty() {
                let tags = d.tags_to_set.clone();
                self.retry
                    .retry_if("TagResource", crate::error::conflicts_only, || async {
                        self.client
                            .tag_resource()
                            .resource(&arn)
                            .set_tags(Some(tags.clone()))
                            .send()
                            .await
                            .map_err(|e| map(e, fn_target(name)))
                    })
                    .await?;
            }
            if !d.tags_to_remove.is_empty() {
                self.retry
                    .retry_if("UntagResource", crate::error::conflicts_only, || async {
                        self.client
                            .untag_resource()
                            .resource(&arn)
                            .set_tag_keys(Some(d.tags_to_remove.clone()))
                            .send()
                            .await
                            .map_err(|e| map(e, fn_target(name)))
                    })
                    .await?;
            }
            change.config_updated = true;
        }
        // Tags were brought in line with the spec, or already were.
        let tags = if d.tags_to_set.is_empty() && d.tags_to_remove.is_empty() {
            o.tags
        } else {
            spec.tags.clone()
        };
        let config = if change.is_noop() {
            o.config
        } else {
            self.wait_ready(name).await?
        };
        Ok((config, tags, change))
    }

    /// The deployment as faas-core models it.
    pub fn deployment(
        &self,
        config: &FunctionConfiguration,
        tags: BTreeMap<String, String>,
        desired: Option<&FunctionSpec>,
    ) -> Deployment {
        let o = Observed {
            config: config.clone(),
            tags,
        };
        let state = crate::states::deploy_state(config);
        Deployment {
            spec: observed_spec(&o, desired),
            code_sha256: config.code_sha256().map(b64_to_hex).unwrap_or_default(),
            state,
            revision: config.revision_id().map(str::to_string),
            url: None,
            version: config.version().unwrap_or("$LATEST").to_string(),
        }
    }
}

fn build_err(e: aws_sdk_lambda::error::BuildError) -> Error {
    Error::invalid("aws.ephemeral_storage_mb", "?", e.to_string())
}
