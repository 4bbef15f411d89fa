//! Steps that build on this machine: `package`, `upload` (to a provider), `script`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use faas_package::{DependencyOptions, PackageBuilder, Runtime};
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::pipeline::context::{Event, RunContext};
use crate::{Error, Provider, Result};

/// `package` / `lambda-package`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    source_path: PathBuf,
    #[serde(default)]
    output_path: Option<PathBuf>,
    runtime: Runtime,
    #[serde(default)]
    handler: Option<String>,
    /// Dependency files to install (`requirements.txt`, `package-lock.json`); empty: none.
    #[serde(default)]
    dependencies: Vec<String>,
}

#[async_trait]
impl Step for PackageConfig {
    fn mutates(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &mut RunContext<'_>, _: Arc<dyn Provider>) -> Result<StepOutcome> {
        let src = ctx.path(&self.source_path);
        let out = ctx.path(
            &self
                .output_path
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("dist/{}.zip", ctx.step_name()))),
        );
        let mut builder = PackageBuilder::new(&src).runtime(self.runtime.clone()).output(&out);
        if let Some(h) = &self.handler {
            builder = builder.handler(h);
        }
        let mut deps = DependencyOptions {
            enabled: !self.dependencies.is_empty(),
            ..DependencyOptions::default()
        };
        if let Some(req) = self.dependencies.iter().find(|d| d.ends_with(".txt")) {
            deps.requirements = PathBuf::from(req);
        }
        let package = tokio::task::spawn_blocking(move || builder.dependencies(deps).build())
            .await
            .map_err(|e| Error::io("package step", std::io::Error::other(e)))??;
        let summary = format!(
            "{} files, {} bytes, sha256 {}",
            package.files,
            package.size,
            &package.sha256[..12]
        );
        ctx.remember_package(package, self.runtime.clone(), self.handler.clone());
        Ok(StepOutcome {
            summary,
            ..StepOutcome::default()
        })
    }
}

/// `upload` / `s3-upload`: stores a package with the provider's artifact store. With a
/// `bucket`, under the names the file gives: the content-addressed `{key_prefix}{sha256}.zip`
/// and `{key_prefix}latest.zip` (or `{key_prefix}{key}`), which later deploy steps name with
/// `s3_bucket`/`s3_key`. A provider without a named store (the local one has no S3) keeps the
/// package in its own store and those names resolve, within the run, to this package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// A zip path; default: the package an earlier step built (`artifact`, else the latest).
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    artifact: Option<String>,
    /// The function the artifact is for (the key's folder in the provider's own store);
    /// default: the key prefix or `artifacts`.
    #[serde(default)]
    function_name: Option<String>,
    /// The bucket to store the package in, under `key_prefix`.
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    key_prefix: Option<String>,
    /// The second name, after the content-addressed one (default `latest.zip`).
    #[serde(default)]
    key: Option<String>,
}

#[async_trait]
impl Step for UploadConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        let package = ctx.package(self.artifact.as_deref(), self.file.as_deref())?;
        let prefix = self.key_prefix.clone().unwrap_or_default();
        let names: Vec<String> = match &self.bucket {
            Some(bucket) => vec![
                format!("s3://{bucket}/{prefix}{}.zip", package.sha256),
                format!("s3://{bucket}/{prefix}{}", self.key.as_deref().unwrap_or("latest.zip")),
            ],
            None => Vec::new(),
        };
        let function = self
            .function_name
            .clone()
            .or_else(|| self.key_prefix.as_ref().map(|p| p.trim_end_matches('/').to_string()))
            .unwrap_or_else(|| "artifacts".into());
        if ctx.dry_run() {
            let to = match names.is_empty() {
                true => format!("for {function}"),
                false => format!("to {}", names.join(" and ")),
            };
            // Later steps plan with the package these names would hold.
            for uri in &names {
                ctx.remember_upload(uri.clone(), package.clone(), None);
            }
            return Ok(StepOutcome {
                summary: format!("would upload {} ({} bytes) {to}", package.path.display(), package.size),
                ..StepOutcome::default()
            });
        }
        ctx.observe(Event::Upload {
            step: ctx.step_name().to_string(),
            bytes: package.size,
        });
        let info = provider.info();
        let summary = if !names.is_empty() && info.capability.named_artifacts {
            let mut stored = Vec::new();
            for uri in names {
                let artifact = provider.upload_named(&package, &uri).await?;
                stored.push(artifact.uri.clone());
                ctx.remember_upload(uri, package.clone(), Some(artifact));
            }
            format!("{} ({} bytes)", stored.join(", "), package.size)
        } else {
            let artifact = provider.upload(&function, &package).await?;
            let resolves = match names.is_empty() {
                true => String::new(),
                false => format!(
                    "; {} has no named store: {} resolve to this package within the run",
                    info.name,
                    names.join(" and ")
                ),
            };
            for uri in names {
                ctx.remember_upload(uri, package.clone(), None);
            }
            format!("{} ({} bytes){resolves}", artifact.uri, artifact.size)
        };
        Ok(StepOutcome {
            summary,
            ..StepOutcome::default()
        })
    }
}

/// `script`: a shell command; a non-zero exit fails the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptConfig {
    script: String,
    #[serde(default)]
    working_dir: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    timeout_s: Option<u64>,
}

#[async_trait]
impl Step for ScriptConfig {
    fn mutates(&self) -> bool {
        // A script can do anything: a dry run does not run it.
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, _: Arc<dyn Provider>) -> Result<StepOutcome> {
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!("would run: {}", ctx.redact(&self.script)),
                ..StepOutcome::default()
            });
        }
        let dir = ctx.path(self.working_dir.as_deref().unwrap_or(std::path::Path::new(".")));
        // Its own process group: a timed-out script is stopped with everything it started.
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&self.script)
            .current_dir(&dir)
            .envs(&self.env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let child = cmd.spawn().map_err(|e| Error::io(dir.display(), e))?;
        let group = child.id();
        let run = child.wait_with_output();
        let output = match self.timeout_s {
            Some(t) => match tokio::time::timeout(std::time::Duration::from_secs(t), run).await {
                Ok(out) => out,
                Err(_) => {
                    crate::process::kill_group(group);
                    return Err(Error::timeout(
                        format!("script {}", ctx.step_name()),
                        std::time::Duration::from_secs(t),
                        "still running (stopped with everything it started)",
                    ));
                }
            },
            None => run.await,
        }
        .map_err(|e| Error::io(dir.display(), e))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        for line in text.lines() {
            ctx.observe(Event::Log {
                step: ctx.step_name().to_string(),
                line: ctx.redact(line),
            });
        }
        if !output.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::invalid(
                format!("script step {}", ctx.step_name()),
                ctx.redact(&self.script),
                format!("exited with {}: {}", output.status, ctx.redact(&tail.join("\n"))),
            ));
        }
        Ok(StepOutcome {
            summary: format!("{} ({})", ctx.redact(&self.script), output.status),
            ..StepOutcome::default()
        })
    }
}
