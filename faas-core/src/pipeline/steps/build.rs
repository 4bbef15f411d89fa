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

/// `upload` / `s3-upload`: stores a package with the provider's artifact store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadConfig {
    /// A zip path; default: the package an earlier step built (`artifact`, else the latest).
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    artifact: Option<String>,
    /// The function the artifact is for (the key's folder); default: the key prefix or the package name.
    #[serde(default)]
    function_name: Option<String>,
    /// Informational: the provider's configured bucket is used (`aws_lambda_integration.deployment.bucket`).
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    key_prefix: Option<String>,
}

#[async_trait]
impl Step for UploadConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        let package = ctx.package(self.artifact.as_deref(), self.file.as_deref())?;
        let function = self
            .function_name
            .clone()
            .or_else(|| self.key_prefix.as_ref().map(|p| p.trim_end_matches('/').to_string()))
            .unwrap_or_else(|| "artifacts".into());
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!(
                    "would upload {} ({} bytes) for {function}",
                    package.path.display(),
                    package.size
                ),
                ..StepOutcome::default()
            });
        }
        if let Some(bucket) = &self.bucket {
            tracing::debug!(bucket, "the provider's configured artifact store is used");
        }
        ctx.observe(Event::Upload {
            step: ctx.step_name().to_string(),
            bytes: package.size,
        });
        let artifact = provider.upload(&function, &package).await?;
        let summary = format!("{} ({} bytes)", artifact.uri, artifact.size);
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
