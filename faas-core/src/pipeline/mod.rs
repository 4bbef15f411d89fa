//! YAML delivery pipelines (feature `pipeline`): stages of steps that package, upload, run
//! scripts, deploy, test, publish, route and prune — on any [`Provider`](crate::Provider).
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::pipeline::{Event, Pipeline, ProviderSet};
//!
//! # async fn t() -> Result<(), faas_core::Error> {
//! let pipeline = Pipeline::load("examples/pipelines/lambda.yaml")?;
//! let local = Arc::new(faas_core::local::LocalProvider::from_env()?);
//! let providers = ProviderSet::new("local", local);
//! let report = pipeline.run(&providers, Some("dev"), &|e: &Event| println!("{e:?}")).await?;
//! faas_core::pipeline::write_reports(&report, "reports".as_ref())?;
//! assert!(report.passed);
//! # Ok(()) }
//! ```
//!
//! The file format accepts the `lambda-*` / `s3-upload` step names users already write and
//! the provider-neutral ones (`package`, `upload`, `script`, `deploy`, `test`, `publish`,
//! `route`, `prune`) with a `provider:` field. Unknown keys, unknown step types and missing
//! fields are errors naming `file:line:column` and the accepted names; `${VAR}` and
//! `${VAR:-default}` come from the environment's `variables` and the process environment;
//! secret values (auth secrets, `secret_environment_variables`) are redacted everywhere.
//! Environments (`environments.<name>`) override step configs key by key and may choose the
//! default provider. A failing step or test case stops the pipeline: nothing after it runs.
//! A dry run plans deploys and label moves and calls no mutating API. Your own step types
//! register in a [`StepRegistry`]; their factories read the step's [`StepConfig`].

pub(crate) mod blocks;
pub(crate) mod config;
mod context;
mod figures;
mod report;
mod run;
mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use blocks::{BLOCKS, ConfigKey, ProviderConfig, block_of, keys_markdown};
pub use config::{Environment, Integration, PipelineFile, Redactor};
pub use context::{Event, Observer, RunContext};
pub use figures::{FigureSink, FigureUnit, RunFigure, run_figures};
pub use report::{PipelineReport, StepReport, StepStatus, junit_xml, write_reports};
pub use run::ProviderSet;
pub use steps::{Step, StepConfig, StepFactory, StepOutcome, StepRegistry};

use crate::{Error, Result};

/// A parsed pipeline file, checked for structure; [`Pipeline::run`] resolves an environment.
#[derive(Debug, Clone)]
pub struct Pipeline {
    file: String,
    source: String,
    parsed: PipelineFile,
    base_dir: PathBuf,
    registry: StepRegistry,
    dry_run: bool,
    variables: BTreeMap<String, String>,
}

/// A pipeline with its environment applied, ready to run.
#[derive(Debug)]
pub struct Resolved {
    pub(crate) stages: Vec<ResolvedStage>,
    pub(crate) base_dir: PathBuf,
    pub(crate) dry_run: bool,
    pub(crate) environment: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) redactor: Redactor,
    /// The provider blocks after interpolation (`aws_lambda_integration`, ...), enabled ones only.
    pub integrations: BTreeMap<String, Integration>,
    /// The enabled blocks as builder config keys, by provider name (`aws`, `gcp`, `azure`):
    /// build each with its crate's builder (`from_env()`, then `with_config` per key).
    pub provider_configs: BTreeMap<String, ProviderConfig>,
    /// Where the run's own figures go (`aws_lambda_integration.monitoring.cloudwatch`).
    pub(crate) monitoring: Option<String>,
}

#[derive(Debug)]
pub(crate) struct ResolvedStage {
    pub name: String,
    pub steps: Vec<ResolvedStep>,
}

#[derive(Debug)]
pub(crate) struct ResolvedStep {
    pub name: String,
    pub kind: String,
    pub provider: Option<String>,
    pub behaviour: Box<dyn Step>,
}

impl Pipeline {
    /// Reads and checks a pipeline file; relative paths in it resolve against its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Pipeline> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Pipeline::from_yaml_named(&path.display().to_string(), &source, base, StepRegistry::default())
    }

    /// Parses and checks YAML text (paths resolve against the working directory).
    pub fn from_yaml(source: &str) -> Result<Pipeline> {
        Pipeline::from_yaml_named("pipeline.yaml", source, PathBuf::from("."), StepRegistry::default())
    }

    /// Parses with a file name for messages, a base directory and a step registry (for your own step types).
    pub fn from_yaml_named(file: &str, source: &str, base_dir: PathBuf, registry: StepRegistry) -> Result<Pipeline> {
        let parsed = config::parse(file, source)?;
        let p = Pipeline {
            file: file.to_string(),
            source: source.to_string(),
            parsed,
            base_dir,
            registry,
            dry_run: false,
            variables: BTreeMap::new(),
        };
        p.check_structure()?;
        Ok(p)
    }

    /// Only plan: mutating steps report what they would do.
    pub fn dry_run(mut self, yes: bool) -> Pipeline {
        self.dry_run = yes;
        self
    }

    /// Variables for `${VAR}` that take precedence over everything else.
    pub fn variable(mut self, key: impl Into<String>, value: impl Into<String>) -> Pipeline {
        self.variables.insert(key.into(), value.into());
        self
    }

    /// The environments the file defines.
    pub fn environments(&self) -> Vec<String> {
        self.parsed.environments.keys().cloned().collect()
    }

    fn at(&self, step: &str) -> String {
        config::step_location(&self.file, &self.source, step)
    }

    fn check_structure(&self) -> Result<()> {
        let mut stages = BTreeSet::new();
        let mut steps = BTreeSet::new();
        for stage in &self.parsed.lambda_deployment_pipeline.stages {
            if !stages.insert(stage.name.clone()) {
                return Err(Error::invalid(
                    self.at(&stage.name),
                    &stage.name,
                    "duplicate stage name: stage names must be unique",
                ));
            }
            for step in &stage.steps {
                if !steps.insert(step.name.clone()) {
                    return Err(Error::invalid(
                        self.at(&step.name),
                        &step.name,
                        "duplicate step name: step names must be unique",
                    ));
                }
                if !self.registry.knows(&step.kind) {
                    return Err(Error::invalid(
                        self.at(&step.name),
                        format!("type: {}", step.kind),
                        format!("unknown step type; accepted: {}", self.registry.names()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies an environment: overrides, interpolation, typed step configs.
    pub fn resolve(&self, environment: Option<&str>) -> Result<Resolved> {
        let env = match environment {
            Some(name) => Some(self.parsed.environments.get(name).cloned().ok_or_else(|| {
                Error::invalid(
                    "--env",
                    name,
                    format!(
                        "no such environment; the file defines: [{}]",
                        self.environments().join(", ")
                    ),
                )
            })?),
            None => None,
        };
        let env_vars = env.as_ref().map(|e| e.variables.clone()).unwrap_or_default();
        let own = self.variables.clone();
        let lookup = move |k: &str| {
            own.get(k)
                .cloned()
                .or_else(|| env_vars.get(k).cloned())
                .or_else(|| std::env::var(k).ok())
        };
        let mut secrets = BTreeSet::new();
        let mut integrations = BTreeMap::new();
        for (key, block) in [
            ("aws_lambda_integration", &self.parsed.aws_lambda_integration),
            ("azure_functions_integration", &self.parsed.azure_functions_integration),
            ("gcp_functions_integration", &self.parsed.gcp_functions_integration),
        ] {
            if let Some(block) = block.as_ref().filter(|b| !b.enabled) {
                for (k, v) in &block.settings {
                    config::collect_secrets(v, &format!("{key}.{k}"), &lookup, &mut secrets);
                }
            }
            if let Some(block) = block.as_ref().filter(|b| b.enabled) {
                let mut settings = block.settings.clone();
                for (k, v) in settings.iter_mut() {
                    config::interpolate_value(v, &format!("{key}.{k}"), &lookup, &mut secrets)?;
                }
                integrations.insert(
                    key.to_string(),
                    Integration {
                        enabled: true,
                        settings,
                    },
                );
            }
        }
        let mut stages = Vec::new();
        for (si, stage) in self.parsed.lambda_deployment_pipeline.stages.iter().enumerate() {
            let mut steps = Vec::new();
            for (ti, step) in stage.steps.iter().enumerate() {
                let mut cfg = step.config.clone();
                if let Some(over) = env.as_ref().and_then(|e| e.steps.get(&step.name)) {
                    config::merge(&mut cfg, over);
                }
                let path = format!("stages[{si}].steps[{ti}].config");
                config::interpolate_value(&mut cfg, &path, &lookup, &mut secrets)
                    .map_err(|e| self.locate(&step.name, e))?;
                let behaviour = match self.registry.build(&step.kind, &StepConfig::new(cfg)) {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        // The field at fault (`config.memory_size`), then why.
                        let reason = match e {
                            Error::InvalidInput { field, reason, .. } => format!("{field}: {reason}"),
                            other => format!("config: {other}"),
                        };
                        return Err(Error::invalid(
                            self.at(&step.name),
                            format!("step {} ({})", step.name, step.kind),
                            reason,
                        ));
                    }
                    None => {
                        return Err(Error::invalid(
                            self.at(&step.name),
                            format!("type: {}", step.kind),
                            format!("unknown step type; accepted: {}", self.registry.names()),
                        ));
                    }
                };
                steps.push(ResolvedStep {
                    name: step.name.clone(),
                    kind: step.kind.clone(),
                    provider: step.provider.clone(),
                    behaviour,
                });
            }
            stages.push(ResolvedStage {
                name: stage.name.clone(),
                steps,
            });
        }
        let locator = blocks::Locator {
            file: &self.file,
            source: &self.source,
        };
        let provider_configs = blocks::provider_configs(&integrations, &locator)?;
        let env_provider = env.as_ref().and_then(|e| e.provider.clone());
        if let Some(p) = &env_provider {
            let at = locator.at("environments", &[environment.unwrap_or_default(), "provider"]);
            self.check_provider_named(p, at, &provider_configs)?;
        }
        for stage in &stages {
            for step in &stage.steps {
                if let Some(p) = &step.provider {
                    self.check_provider_named(p, self.at(&step.name), &provider_configs)?;
                }
            }
        }
        let monitoring =
            figures::cloudwatch_namespace(integrations.get("aws_lambda_integration").map(|i| &i.settings))?;
        Ok(Resolved {
            monitoring,
            stages,
            base_dir: self.base_dir.clone(),
            dry_run: self.dry_run,
            environment: environment.map(str::to_string),
            provider: env_provider,
            redactor: Redactor::new(secrets),
            integrations,
            provider_configs,
        })
    }

    /// A builtin cloud a step (or the environment) names needs its block, enabled: an error
    /// at `at` otherwise. `local` and your own providers' names are checked against the
    /// [`ProviderSet`] before anything runs.
    fn check_provider_named(
        &self,
        provider: &str,
        at: String,
        configs: &BTreeMap<String, ProviderConfig>,
    ) -> Result<()> {
        let Some(block) = blocks::block_of(provider) else {
            return Ok(());
        };
        if configs.contains_key(provider) {
            return Ok(());
        }
        let disabled = [
            &self.parsed.aws_lambda_integration,
            &self.parsed.gcp_functions_integration,
            &self.parsed.azure_functions_integration,
        ]
        .into_iter()
        .zip(["aws", "gcp", "azure"])
        .any(|(b, p)| p == provider && b.as_ref().is_some_and(|b| !b.enabled));
        let why = if disabled {
            format!("its block `{block}` has `enabled: false`: enable it, or pick another provider")
        } else {
            format!("the file has no `{block}` block: add one (its keys are in the README), or pick another provider")
        };
        Err(Error::invalid(at, format!("provider: {provider}"), why))
    }

    fn locate(&self, step: &str, e: Error) -> Error {
        match e {
            Error::InvalidInput {
                field, value, reason, ..
            } => Error::invalid(format!("{} ({field})", self.at(step)), value, reason),
            other => other,
        }
    }

    /// Resolves `environment` and runs every stage. Errors in the file come back as `Err`
    /// before anything runs; a failing step is in the report (`passed == false`).
    pub async fn run(
        &self,
        providers: &ProviderSet,
        environment: Option<&str>,
        observer: &dyn Observer,
    ) -> Result<PipelineReport> {
        let resolved = self.resolve(environment)?;
        Ok(resolved.run(providers, observer).await)
    }
}

impl Resolved {
    /// Runs every stage.
    pub async fn run(&self, providers: &ProviderSet, observer: &dyn Observer) -> PipelineReport {
        run::run(self, providers, observer).await
    }

    /// The providers the steps act on, by name: those steps name, and `default` (the
    /// [`ProviderSet`]'s) when a step names none and the environment chooses none — the
    /// providers a run must build.
    pub fn providers_used(&self, default: &str) -> BTreeSet<String> {
        self.stages
            .iter()
            .flat_map(|s| &s.steps)
            .map(|step| {
                step.provider
                    .clone()
                    .or_else(|| self.provider.clone())
                    .unwrap_or_else(|| default.to_string())
            })
            .collect()
    }

    /// How many steps the pipeline has.
    pub fn step_count(&self) -> usize {
        self.stages.iter().map(|s| s.steps.len()).sum()
    }

    /// Redacts the secrets this pipeline knows from `text`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }
}
