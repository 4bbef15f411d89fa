//! The built-in step types, and the [`Step`] trait users implement for their own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use faas_package::{DependencyOptions, PackageBuilder, Runtime};
use serde::Deserialize;

use super::run::{Event, RunContext};
use crate::testcase::{TestCase, TestResult, evaluate};
use crate::{
    DeployOptions, Error, FunctionSpec, InvokeRequest, Plan, PlannedAction, Provider, ProviderExt, PublishRequest,
    Result, Routing,
};

/// What a step did.
#[derive(Debug, Clone, Default)]
pub struct StepOutcome {
    /// One line for the person watching.
    pub summary: String,
    /// Test case verdicts (test steps).
    pub tests: Vec<TestResult>,
    /// Plans (deploy steps; in a dry run, what would have happened).
    pub plans: Vec<Plan>,
}

/// A step type's behaviour. Register your own with [`StepRegistry::register`].
#[async_trait]
pub trait Step: Send + Sync + std::fmt::Debug {
    /// Whether the step changes something beyond this machine: in a dry run such a step
    /// must only report what it would do.
    fn mutates(&self) -> bool;

    /// Runs the step. `provider` is the one the step names, or the run's default.
    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome>;
}

/// A step's `config` block as its [`StepFactory`] receives it: the environment's overrides
/// merged in and every `${VAR}` replaced. It holds a JSON tree, whatever the file's syntax,
/// so that no parser's type is part of this API; read it whole with
/// [`StepConfig::deserialize`] or look at single keys with [`StepConfig::get`].
///
/// A step type of your own, registered by name:
///
/// ```
/// use std::sync::Arc;
/// use faas_core::pipeline::{Pipeline, RunContext, Step, StepConfig, StepOutcome, StepRegistry};
/// use faas_core::{Provider, Result};
///
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Notify {
///     channel: String,
///     #[serde(default)]
///     retries: u32,
/// }
///
/// #[async_trait::async_trait]
/// impl Step for Notify {
///     fn mutates(&self) -> bool {
///         true
///     }
///
///     async fn run(&self, _: &mut RunContext<'_>, _: Arc<dyn Provider>) -> Result<StepOutcome> {
///         Ok(StepOutcome { summary: format!("notified {}", self.channel), ..Default::default() })
///     }
/// }
///
/// let mut registry = StepRegistry::default();
/// registry.register(
///     "notify",
///     Arc::new(|config: &StepConfig| Ok(Box::new(config.deserialize::<Notify>()?) as Box<dyn Step>)),
/// );
/// let yaml = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: tell, type: notify, config: { channel: '#releases', retries: many } }\n";
/// let pipeline = Pipeline::from_yaml_named("custom.yaml", yaml, ".".into(), registry)?;
/// // A config of the wrong shape is an error naming the step's place and the field.
/// let err = pipeline.resolve(None).unwrap_err().to_string();
/// assert!(err.contains("custom.yaml:5:") && err.contains("config.retries"), "{err}");
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepConfig {
    value: serde_json::Value,
}

impl StepConfig {
    /// A config holding `value` (to test a step factory of your own without a file).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "channel": "#deploys" }));
    /// assert_eq!(config.get("channel"), Some(&serde_json::json!("#deploys")));
    /// ```
    pub fn new(value: serde_json::Value) -> StepConfig {
        StepConfig { value }
    }

    /// The config read as `T` (any `serde::Deserialize` type, typically a struct with
    /// `#[serde(deny_unknown_fields)]`). A mismatch is [`Error::InvalidInput`] whose `field`
    /// is the path of the key at fault (`config.memory_size`, `config.test_cases[0].name`;
    /// `config` for the block itself) and whose `reason` says what was expected; the
    /// pipeline adds the step's `file:line:column`.
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Deploy {
    ///     function_name: String,
    ///     #[serde(default)]
    ///     memory_size: Option<u32>,
    /// }
    ///
    /// let ok = StepConfig::new(serde_json::json!({ "function_name": "f", "memory_size": 256 }));
    /// assert_eq!(ok.deserialize::<Deploy>()?.memory_size, Some(256));
    ///
    /// let bad = StepConfig::new(serde_json::json!({ "function_name": "f", "memory_size": "lots" }));
    /// match bad.deserialize::<Deploy>() {
    ///     Err(faas_core::Error::InvalidInput { field, reason, .. }) => {
    ///         assert_eq!(field, "config.memory_size");
    ///         assert!(reason.contains("expected u32"), "{reason}");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_path_to_error::deserialize(&self.value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path.is_empty() || path == "." {
                "config".to_string()
            } else {
                format!("config.{path}")
            };
            Error::invalid(field, "", e.into_inner().to_string())
        })
    }

    /// The value under `key` when the config is a map that has it (`None` for a missing
    /// key, and for a config that is not a map, such as an absent `config:`).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "channel": "#releases", "quiet": true }));
    /// assert_eq!(config.get("channel").and_then(|v| v.as_str()), Some("#releases"));
    /// assert_eq!(config.get("quiet").and_then(|v| v.as_bool()), Some(true));
    /// assert!(config.get("missing").is_none());
    /// assert!(StepConfig::default().get("channel").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.value.get(key)
    }

    /// Whether the step has no config (`config:` absent, empty or `null`).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// assert!(StepConfig::default().is_empty());
    /// assert!(StepConfig::new(serde_json::json!({})).is_empty());
    /// assert!(!StepConfig::new(serde_json::json!({ "a": 1 })).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        match &self.value {
            serde_json::Value::Null => true,
            serde_json::Value::Object(map) => map.is_empty(),
            _ => false,
        }
    }

    /// The whole config as a JSON tree (`null` when the step has none).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "retries": 3 }));
    /// assert_eq!(config.as_json()["retries"], 3);
    /// assert!(StepConfig::default().as_json().is_null());
    /// ```
    pub fn as_json(&self) -> &serde_json::Value {
        &self.value
    }

    /// The config as its JSON tree, taken out.
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let tree = StepConfig::new(serde_json::json!([1, 2])).into_json();
    /// assert_eq!(tree, serde_json::json!([1, 2]));
    /// ```
    pub fn into_json(self) -> serde_json::Value {
        self.value
    }
}

impl From<serde_json::Value> for StepConfig {
    /// The same as [`StepConfig::new`].
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::from(serde_json::json!({ "a": 1 }));
    /// assert_eq!(config, StepConfig::new(serde_json::json!({ "a": 1 })));
    /// ```
    fn from(value: serde_json::Value) -> StepConfig {
        StepConfig::new(value)
    }
}

/// Builds a step from its [`StepConfig`]; register one with [`StepRegistry::register`].
/// An error (such as the one [`StepConfig::deserialize`] returns) stops the pipeline before
/// anything runs, with the step's `file:line:column`.
///
/// ```
/// use std::sync::Arc;
/// use faas_core::pipeline::{Step, StepConfig, StepFactory};
///
/// let refuse: StepFactory = Arc::new(|config: &StepConfig| -> faas_core::Result<Box<dyn Step>> {
///     Err(faas_core::Error::invalid("config", config.as_json(), "this step type is not built yet"))
/// });
/// assert!(refuse(&StepConfig::default()).is_err());
/// ```
pub type StepFactory = Arc<dyn Fn(&StepConfig) -> Result<Box<dyn Step>> + Send + Sync>;

/// The step types a pipeline accepts.
#[derive(Clone)]
pub struct StepRegistry {
    factories: BTreeMap<String, StepFactory>,
}

impl std::fmt::Debug for StepRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

fn factory<T, S>(make: fn(T) -> S) -> StepFactory
where
    T: serde::de::DeserializeOwned + 'static,
    S: Step + 'static,
{
    Arc::new(move |config: &StepConfig| Ok(Box::new(make(config.deserialize::<T>()?)) as Box<dyn Step>))
}

impl Default for StepRegistry {
    fn default() -> Self {
        let mut r = StepRegistry {
            factories: BTreeMap::new(),
        };
        for (names, f) in [
            (&["package", "lambda-package"][..], factory(|c: PackageConfig| c)),
            (&["upload", "s3-upload"][..], factory(|c: UploadConfig| c)),
            (&["script"][..], factory(|c: ScriptConfig| c)),
            (&["deploy", "lambda-deploy"][..], factory(|c: DeployConfig| c)),
            (&["test", "lambda-test"][..], factory(|c: TestConfig| c)),
            (&["publish", "lambda-publish"][..], factory(|c: PublishConfig| c)),
            (&["route", "lambda-route"][..], factory(|c: RouteConfig| c)),
            (&["prune", "lambda-prune"][..], factory(|c: PruneConfig| c)),
        ] {
            for n in names {
                r.factories.insert((*n).to_string(), f.clone());
            }
        }
        r
    }
}

impl StepRegistry {
    /// Adds (or replaces) a step type (see [`StepConfig`] for a whole example).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use faas_core::pipeline::{StepConfig, StepRegistry};
    ///
    /// let mut registry = StepRegistry::default();
    /// registry.register(
    ///     "approve",
    ///     Arc::new(|_: &StepConfig| Err(faas_core::Error::invalid("config", "", "approvals are not built yet"))),
    /// );
    /// assert!(registry.names().contains("approve"));
    /// ```
    pub fn register(&mut self, name: impl Into<String>, factory: StepFactory) {
        self.factories.insert(name.into(), factory);
    }

    /// The accepted type names, comma separated.
    pub fn names(&self) -> String {
        self.factories.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    pub(crate) fn build(&self, kind: &str, config: &StepConfig) -> Option<Result<Box<dyn Step>>> {
        self.factories.get(kind).map(|f| f(config))
    }

    /// Whether `kind` is a registered step type.
    pub(crate) fn knows(&self, kind: &str) -> bool {
        self.factories.contains_key(kind)
    }
}

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
            .process_group(0)
            .kill_on_drop(true);
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

/// `deploy` / `lambda-deploy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    function_name: String,
    #[serde(default)]
    artifact: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
    /// Where an earlier upload put the code; the content-addressed upload of the latest
    /// package is what is deployed.
    #[serde(default)]
    s3_bucket: Option<String>,
    #[serde(default)]
    s3_key: Option<String>,
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
        let (package, runtime, handler) = ctx.package_with_runtime(self.artifact.as_deref(), self.file.as_deref())?;
        let runtime = self.runtime.clone().or(runtime).ok_or_else(|| {
            Error::invalid(
                "config.runtime",
                &self.function_name,
                "no runtime: set it here or package with a package step",
            )
        })?;
        let handler = self.handler.clone().or(handler).ok_or_else(|| {
            Error::invalid(
                "config.handler",
                &self.function_name,
                "no handler: set it here or in the package step",
            )
        })?;
        let mut spec = FunctionSpec::new(&self.function_name, runtime, handler);
        spec.environment = self.environment_variables.clone();
        for (k, v) in &self.secret_environment_variables {
            spec = spec.secret_env(k, v);
        }
        spec.memory_mb = self.memory_size.unwrap_or(spec.memory_mb);
        spec.timeout_s = self.timeout.unwrap_or(spec.timeout_s);
        spec.description = self.description.clone().unwrap_or_default();
        spec.aws.role_arn = self.role_arn.clone();
        let opts = DeployOptions {
            publish: self.publish.unwrap_or(self.alias.is_some()),
            label: self.alias.clone(),
            keep_versions: self.keep_versions,
            dry_run: ctx.dry_run(),
            description: String::new(),
        };
        if let (Some(b), Some(k)) = (&self.s3_bucket, &self.s3_key) {
            tracing::debug!(bucket = %b, key = %k, "deploying the content-addressed upload of the package");
        }
        let report = provider.deploy_package(&spec, &package, &opts).await?;
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
        Ok(StepOutcome {
            summary,
            plans: vec![report.plan],
            ..StepOutcome::default()
        })
    }
}

/// `test` / `lambda-test`: invokes the function with each case and checks the answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestConfig {
    function_name: String,
    #[serde(default)]
    qualifier: Option<String>,
    test_cases: Vec<TestCase>,
}

#[async_trait]
impl Step for TestConfig {
    fn mutates(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        if ctx.dry_run() {
            return Ok(StepOutcome {
                summary: format!(
                    "would run {} test cases against {}",
                    self.test_cases.len(),
                    self.function_name
                ),
                ..StepOutcome::default()
            });
        }
        let mut results = Vec::new();
        for case in &self.test_cases {
            let mut req = InvokeRequest::json(&case.payload);
            req.qualifier = self.qualifier.clone();
            let call = provider.invoke(&self.function_name, &req);
            let inv = match case.timeout_s {
                Some(t) => tokio::time::timeout(std::time::Duration::from_secs_f64(t), call)
                    .await
                    .map_err(|_| {
                        Error::timeout(
                            format!("test case {}", case.name),
                            std::time::Duration::from_secs_f64(t),
                            "no answer",
                        )
                    })?,
                None => call.await,
            }?;
            // What a failing case shows (expected and actual) goes through the redactor like
            // everything else a pipeline prints or writes.
            let mut result = evaluate(case, &inv);
            result.failures = result.failures.iter().map(|f| ctx.redact(f)).collect();
            result.response = ctx.redactor().redact_json(&result.response);
            ctx.observe(Event::TestCase {
                step: ctx.step_name().to_string(),
                result: result.clone(),
            });
            results.push(result);
        }
        let passed = results.iter().filter(|r| r.passed).count();
        Ok(StepOutcome {
            summary: format!("{passed}/{} passed", results.len()),
            tests: results,
            ..StepOutcome::default()
        })
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
