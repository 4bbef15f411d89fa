//! Cloud Functions v2, the control plane: read a function, get an upload URL, and the deploy
//! flow — create or patch, wait for the operation, and live with `409 ABORTED`.

use faas_core::{ArtifactRef, Change, DeployState, Error, FunctionSpec, PollStatus, ResourceKind, Result};
use reqwest::Method;

use crate::differences::{Differences, differences};
use crate::resources::{
    Environment, Function, GenerateUploadUrlRequest, GenerateUploadUrlResponse, Operation, StorageSource,
};
use crate::rest::{Api, Target, body};
use crate::spec_mapping::{function_body, state_of};

/// Cloud Functions v2 for one project and region.
#[derive(Debug, Clone)]
pub(crate) struct Functions {
    /// The authenticated client.
    pub api: Api,
    /// API root, ending in `/v2/`.
    pub base: String,
    /// `projects/{project}/locations/{region}`.
    pub parent: String,
    /// The Cloud Run Admin v2 root (ending in `/v2/`): where a function made without Cloud
    /// Functions would be.
    pub run_base: String,
}

/// What a plan read and decided: applying it starts from this instead of reading again.
pub(crate) struct Planned {
    /// The function as the plan read it.
    pub function: Function,
    /// What the plan found different.
    pub differences: Differences,
}

impl Functions {
    /// The function resource, or `None`.
    pub async fn observe(&self, function: &str) -> Result<Option<Function>> {
        self.api.get_opt(&self.url(function), Self::target(function)).await
    }

    /// The function resource, or `NotFound` — or `Unsupported` when Cloud Run holds a
    /// service of that name ([`Functions::run_only`]).
    pub async fn require(&self, function: &str) -> Result<Function> {
        match self.observe(function).await? {
            Some(f) => Ok(f),
            None => Err(self
                .run_only(function)
                .await?
                .unwrap_or_else(|| Error::not_found(ResourceKind::Function, function, None))),
        }
    }

    /// With no Cloud Functions resource named `function`: the `Unsupported` error to give when
    /// Cloud Run holds a service of that name — a function deployed through the Cloud Run Admin
    /// API (as Google now recommends), which faas, deploying through Cloud Functions v2, can
    /// neither read as a function nor create over. One `GET` of the service; when that fails,
    /// `None` (the probe never turns an answer into an error of its own).
    pub async fn run_only(&self, function: &str) -> Result<Option<Error>> {
        let name = format!("{}/services/{}", self.parent, function.to_ascii_lowercase());
        let target = Target {
            kind: ResourceKind::Function,
            name: &name,
        };
        // Only a diagnosis: a probe that fails leaves the answer as it was (NotFound, or a create).
        let service: Option<serde_json::Value> =
            match self.api.get_opt(&format!("{}{name}", self.run_base), target).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(function, error = %e, "could not look for a Cloud Run service of that name");
                    None
                }
            };
        Ok(service.map(|_| {
            Error::unsupported(
                "Cloud Run functions",
                Some(format!(
                    "{function} is a Cloud Run service ({name}) with no Cloud Functions resource: it was deployed through the Cloud Run Admin API, which faas does not manage yet; deploy it with gcloud run, or give faas a function name of its own"
                )),
            )
        }))
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
                    let created = body(&function_body(&name, spec, artifact, false)?)?;
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
                    let patched = body(&function_body(&name, spec, artifact, keep_traffic)?)?;
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

    /// `projects/{project}/locations/{region}/functions/{function}`.
    pub fn name(&self, function: &str) -> String {
        format!("{}/functions/{function}", self.parent)
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

    fn url(&self, function: &str) -> String {
        format!("{}{}", self.base, self.name(function))
    }

    fn target(function: &str) -> Target<'_> {
        Target {
            kind: ResourceKind::Function,
            name: function,
        }
    }
}

/// The error of a deploy that left the function `FAILED`.
fn failed(function: &str, why: &str) -> Error {
    Error::other(
        "FUNCTION_FAILED",
        format!("{function} is in state FAILED: {why}; fix the cause and deploy again"),
        false,
    )
}
