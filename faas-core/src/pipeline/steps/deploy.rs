//! Steps that change a provider: `deploy`, `publish`, `route`, `prune`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use faas_package::Runtime;
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::pipeline::context::RunContext;
use crate::{
    DeployOptions, Error, FunctionSpec, Plan, PlannedAction, Provider, ProviderExt, PublishRequest, Result, Routing,
};

/// `deploy` / `lambda-deploy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    function_name: String,
    #[serde(default)]
    artifact: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
    /// The code at `s3://{s3_bucket}/{s3_key}`: what an earlier upload step of the run stored
    /// there, or a prebuilt object from another run (read back and checked against the
    /// sha256 its metadata records).
    #[serde(default)]
    s3_bucket: Option<String>,
    #[serde(default)]
    s3_key: Option<String>,
    /// A container image to deploy by reference (`PackageType=Image` on Lambda), pinned by
    /// digest; instead of a package.
    #[serde(default)]
    image_uri: Option<String>,
    #[serde(default)]
    runtime: Option<Runtime>,
    #[serde(default)]
    handler: Option<String>,
    #[serde(default)]
    role_arn: Option<String>,
    #[serde(default)]
    environment_variables: BTreeMap<String, String>,
    /// Variables whose values are secret: redacted in every log line, plan and report.
    #[serde(default)]
    secret_environment_variables: BTreeMap<String, String>,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    memory_size: Option<u32>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    publish: Option<bool>,
    #[serde(default)]
    keep_versions: Option<usize>,
}

#[async_trait]
impl Step for DeployConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        if let Some(uri) = &self.image_uri {
            return self.deploy_image(ctx, provider.as_ref(), uri).await;
        }
        // Kept until the deploy is done: a prebuilt object is read into it.
        let scratch = tempfile::tempdir().map_err(|e| Error::io("a temporary directory", e))?;
        let (package, stored, runtime, handler) = match (&self.s3_bucket, &self.s3_key) {
            (Some(bucket), Some(key)) => {
                stored_code(ctx, provider.as_ref(), &format!("s3://{bucket}/{key}"), scratch.path()).await?
            }
            (None, None) => {
                let (p, r, h) = ctx.package_with_runtime(self.artifact.as_deref(), self.file.as_deref())?;
                (p, None, r, h)
            }
            _ => {
                return Err(Error::invalid(
                    "config.s3_key",
                    self.s3_key.as_deref().unwrap_or("(none)"),
                    "s3_bucket and s3_key go together: give both, or neither",
                ));
            }
        };
        let runtime = self.runtime.clone().or(runtime).ok_or_else(|| {
            Error::invalid(
                "config.runtime",
                &self.function_name,
                "no runtime: set it here or package with a package step",
            )
        })?;
        // Lambda's conventions when neither step names one: the files those pipelines rely on.
        let handler = self
            .handler
            .clone()
            .or(handler)
            .or_else(|| default_handler(&runtime))
            .ok_or_else(|| {
                Error::invalid(
                    "config.handler",
                    &self.function_name,
                    "no handler: set it here or in the package step",
                )
            })?;
        let spec = self.spec(runtime, handler);
        let opts = self.options(ctx);
        let report = match &stored {
            Some(stored) => provider.deploy_stored(&spec, &package, stored, &opts).await?,
            None => provider.deploy_package(&spec, &package, &opts).await?,
        };
        Ok(self.outcome(ctx, report))
    }
}

impl DeployConfig {
    /// The spec this step deploys.
    fn spec(&self, runtime: Runtime, handler: String) -> FunctionSpec {
        let mut spec = FunctionSpec::new(&self.function_name, runtime, handler);
        spec.environment = self.environment_variables.clone();
        for (k, v) in &self.secret_environment_variables {
            spec = spec.secret_env(k, v);
        }
        spec.memory_mb = self.memory_size.unwrap_or(spec.memory_mb);
        spec.timeout_s = self.timeout.unwrap_or(spec.timeout_s);
        spec.description = self.description.clone().unwrap_or_default();
        spec.aws.role_arn = self.role_arn.clone();
        spec
    }

    fn options(&self, ctx: &RunContext<'_>) -> DeployOptions {
        DeployOptions {
            publish: self.publish.unwrap_or(self.alias.is_some()),
            label: self.alias.clone(),
            keep_versions: self.keep_versions,
            dry_run: ctx.dry_run(),
            description: String::new(),
        }
    }

    /// `image_uri`: the image deployed by reference, nothing packaged or uploaded. An image
    /// brings its own runtime and entry point (Lambda takes neither with it); the spec still
    /// names one, `runtime`/`handler` when given, else python3.12 and `image.cmd`.
    async fn deploy_image(&self, ctx: &mut RunContext<'_>, provider: &dyn Provider, uri: &str) -> Result<StepOutcome> {
        if self.artifact.is_some() || self.file.is_some() || self.s3_bucket.is_some() || self.s3_key.is_some() {
            return Err(Error::invalid(
                "config.image_uri",
                uri,
                "image_uri deploys a container image: leave artifact, file, s3_bucket and s3_key out",
            ));
        }
        let image = crate::ArtifactRef::image(uri).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid("config.image_uri", uri, reason),
            other => other,
        })?;
        let runtime = match &self.runtime {
            Some(r) => r.clone(),
            None => "python3.12"
                .parse()
                .map_err(|e| Error::invalid("config.runtime", "python3.12", format!("{e}")))?,
        };
        let spec = self.spec(runtime, self.handler.clone().unwrap_or_else(|| "image.cmd".into()));
        let report = provider.deploy_image(&spec, &image, &self.options(ctx)).await?;
        Ok(self.outcome(ctx, report))
    }

    /// What a deploy did, for the report: the change (or the plan of a dry run), the version
    /// and label, the plan's warnings.
    fn outcome(&self, ctx: &mut RunContext<'_>, report: crate::ext::DeployReport) -> StepOutcome {
        ctx.remember_deployed(&self.function_name);
        let mut summary = if report.dry_run {
            format!(
                "would: {}",
                ctx.redact(report.plan.to_string().trim_end()).replace('\n', "; ")
            )
        } else {
            format!("{}", report.change)
        };
        if let Some(v) = &report.version {
            summary.push_str(&format!(", version {}", v.id));
            ctx.remember_version(&self.function_name, v.id.clone());
        }
        if let (Some(alias), Some(v)) = (&self.alias, &report.version) {
            summary.push_str(&format!(", {alias} -> {}", v.id));
        }
        for warning in &report.plan.warnings {
            summary.push_str(&format!("; warning: {}", ctx.redact(warning)));
        }
        StepOutcome {
            summary,
            plans: vec![report.plan],
            ..StepOutcome::default()
        }
    }
}

/// The code a deploy step names by `uri`: what an upload step of this run stored there (with
/// the package step's runtime and handler), or else a prebuilt object read into `scratch`.
async fn stored_code(
    ctx: &RunContext<'_>,
    provider: &dyn Provider,
    uri: &str,
    scratch: &std::path::Path,
) -> Result<(
    faas_package::Package,
    Option<crate::ArtifactRef>,
    Option<Runtime>,
    Option<String>,
)> {
    if let Some((package, stored)) = ctx.uploaded(uri) {
        let (_, runtime, handler) = ctx.package_with_runtime(None, Some(&package.path))?;
        return Ok((package.clone(), stored.clone(), runtime, handler));
    }
    let info = provider.info();
    if !info.capability.named_artifacts {
        return Err(Error::not_found(
            crate::ResourceKind::Artifact,
            uri,
            Some(format!(
                "no earlier upload step of this run stored it, and {} has no named store to read it from",
                info.name
            )),
        ));
    }
    let file = scratch.join("prebuilt.zip");
    let stored = match provider.download_artifact(uri, &file).await {
        Err(Error::NotFound { provider, .. }) => {
            return Err(Error::not_found(
                crate::ResourceKind::Artifact,
                uri,
                Some("neither an earlier upload step of this run stored it, nor is it in the bucket".into()),
            )
            .with_provider(provider));
        }
        other => other?,
    };
    let package = faas_package::Package::from_zip_limited(&file, Some(info.limits.unzipped_bytes))?;
    Ok((package, Some(stored), None, None))
}

/// The handler Lambda's own templates use: `lambda_function.lambda_handler` (Python, Ruby),
/// `index.handler` (Node.js); none for custom runtimes (their `bootstrap` is the handler).
fn default_handler(runtime: &Runtime) -> Option<String> {
    match runtime.family() {
        faas_package::RuntimeFamily::Python | faas_package::RuntimeFamily::Ruby => {
            Some("lambda_function.lambda_handler".into())
        }
        faas_package::RuntimeFamily::Node => Some("index.handler".into()),
        _ => None,
    }
}

/// `publish`: publishes the latest code as a version.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    function_name: String,
    #[serde(default)]
    description: String,
}

#[async_trait]
impl Step for PublishConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!("would publish {}", self.function_name),
                plans: vec![Plan::new(&self.function_name, vec![PlannedAction::Publish])],
                ..StepOutcome::default()
            });
        }
        let request = PublishRequest {
            description: self.description.clone(),
            expected_code_sha256: None,
        };
        let v = provider.publish(&self.function_name, &request).await?;
        ctx.remember_version(&self.function_name, v.id.clone());
        Ok(StepOutcome {
            summary: format!("version {}", v.id),
            ..StepOutcome::default()
        })
    }
}

/// `route`: points a label at a version, optionally with weighted extra versions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    function_name: String,
    #[serde(alias = "label")]
    alias: String,
    /// The primary version; default: the version published earlier in this run.
    #[serde(default)]
    version: Option<String>,
    /// Extra versions and their share of traffic (0 < w < 1).
    #[serde(default)]
    weights: BTreeMap<String, f64>,
}

#[async_trait]
impl Step for RouteConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        let version = self
            .version
            .clone()
            .or_else(|| ctx.version_of(&self.function_name))
            .ok_or_else(|| {
                Error::invalid(
                    "config.version",
                    &self.function_name,
                    "no version to route to: set `version` or publish in an earlier step",
                )
            })?;
        let routing = Routing {
            primary: version,
            weights: self.weights.clone(),
        };
        if ctx.dry_run() {
            let from = provider
                .get_label(&self.function_name, &self.alias)
                .await
                .ok()
                .map(|l| l.routing);
            return Ok(StepOutcome {
                summary: format!("would route {} to {}", self.alias, routing.primary),
                plans: vec![Plan::new(
                    &self.function_name,
                    vec![PlannedAction::Route {
                        label: self.alias.clone(),
                        from,
                        to: routing,
                    }],
                )],
                ..StepOutcome::default()
            });
        }
        let label = provider.set_label(&self.function_name, &self.alias, &routing).await?;
        Ok(StepOutcome {
            summary: format!(
                "{} -> {} {:?}",
                label.name, label.routing.primary, label.routing.weights
            ),
            ..StepOutcome::default()
        })
    }
}

/// `prune`: deletes old versions, keeping the newest N and every routed one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    function_name: String,
    keep: usize,
}

#[async_trait]
impl Step for PruneConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!("would prune {} to {} versions", self.function_name, self.keep),
                ..StepOutcome::default()
            });
        }
        let deleted = provider.prune_versions(&self.function_name, self.keep).await?;
        Ok(StepOutcome {
            summary: format!("deleted versions [{}]", deleted.join(", ")),
            ..StepOutcome::default()
        })
    }
}
