//! Running a loaded pipeline: providers, the step context, events, and the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_package::{Package, Runtime};
use serde::Serialize;
use tracing::Instrument;

use super::Resolved;
use super::config::Redactor;
use super::steps::StepOutcome;

/// The most a zip given to a step is unpacked to while it is read: the largest package any
/// provider accepts (Azure, 1 GiB).
const MAX_UNZIPPED: u64 = 1 << 30;
use crate::testcase::TestResult;
use crate::{Error, Plan, Provider, Result};

/// The providers steps can name, and the one they get when they name none.
#[derive(Debug, Clone)]
pub struct ProviderSet {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    default: String,
}

impl ProviderSet {
    /// A set whose default is `name`.
    pub fn new(name: impl Into<String>, provider: Arc<dyn Provider>) -> ProviderSet {
        let name = name.into();
        ProviderSet {
            providers: BTreeMap::from([(name.clone(), provider)]),
            default: name,
        }
    }

    /// Adds a provider steps can select with `provider: <name>`.
    pub fn with(mut self, name: impl Into<String>, provider: Arc<dyn Provider>) -> ProviderSet {
        self.providers.insert(name.into(), provider);
        self
    }

    /// Makes `name` the default.
    pub fn default_to(mut self, name: impl Into<String>) -> ProviderSet {
        self.default = name.into();
        self
    }

    pub(crate) fn get(&self, name: Option<&str>) -> Result<Arc<dyn Provider>> {
        let name = name.unwrap_or(&self.default);
        self.providers.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                "provider",
                name,
                format!(
                    "no such provider in this run; available: {}",
                    self.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// Progress, as it happens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A stage began.
    StageStarted {
        /// Its name.
        stage: String,
        /// How many steps it has.
        steps: usize,
    },
    /// A step began.
    StepStarted {
        /// The stage.
        stage: String,
        /// The step.
        step: String,
        /// Its type.
        kind: String,
    },
    /// A step wrote a line (scripts); secrets are already redacted.
    Log {
        /// The step.
        step: String,
        /// The line.
        line: String,
    },
    /// An upload began.
    Upload {
        /// The step.
        step: String,
        /// Its size.
        bytes: u64,
    },
    /// A test case finished.
    TestCase {
        /// The step.
        step: String,
        /// The verdict.
        result: TestResult,
    },
    /// A step finished.
    StepFinished {
        /// The step's report.
        report: StepReport,
    },
    /// A stage finished.
    StageFinished {
        /// Its name.
        stage: String,
        /// Whether all its steps passed.
        passed: bool,
    },
}

/// Receives [`Event`]s. Implemented for closures.
pub trait Observer: Send + Sync {
    /// Called for each event, in order.
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It did its work.
    Passed,
    /// It failed; the pipeline stopped.
    Failed,
    /// It did not run, because an earlier step failed.
    Skipped,
}

/// One step's part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The stage.
    pub stage: String,
    /// The step.
    pub step: String,
    /// Its type.
    pub kind: String,
    /// How it ended.
    pub status: StepStatus,
    /// How long it took.
    pub duration: Duration,
    /// What it did, or why it failed (secrets redacted).
    pub summary: String,
    /// Test case verdicts.
    pub tests: Vec<TestResult>,
    /// Plans of deploy, publish and route steps.
    pub plans: Vec<Plan>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    /// The environment.
    pub environment: Option<String>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Every step, in order, including those skipped after a failure.
    pub steps: Vec<StepReport>,
    /// Whether every step passed.
    pub passed: bool,
    /// How long the run took.
    pub duration: Duration,
}

impl PipelineReport {
    /// Test cases run, and how many passed.
    pub fn test_counts(&self) -> (usize, usize) {
        let all: Vec<&TestResult> = self.steps.iter().flat_map(|s| s.tests.iter()).collect();
        (all.len(), all.iter().filter(|t| t.passed).count())
    }
}

/// What a step sees while it runs.
pub struct RunContext<'a> {
    pub(crate) base_dir: PathBuf,
    pub(crate) dry_run: bool,
    pub(crate) step: String,
    pub(crate) observer: &'a dyn Observer,
    pub(crate) redactor: &'a Redactor,
    packages: BTreeMap<String, (Package, Runtime, Option<String>)>,
    last_package: Option<String>,
    versions: BTreeMap<String, String>,
}

impl std::fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("step", &self.step)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl RunContext<'_> {
    /// The running step's name.
    pub fn step_name(&self) -> &str {
        &self.step
    }

    /// Whether mutating steps must only plan.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// A path from the pipeline file, resolved against the file's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// The pipeline's redactor.
    pub fn redactor(&self) -> &Redactor {
        self.redactor
    }

    /// Sends an event to the observer.
    pub fn observe(&self, event: Event) {
        self.observer.event(&event);
    }

    /// Records a package for later steps, under this step's name.
    pub fn remember_package(&mut self, package: Package, runtime: Runtime, handler: Option<String>) {
        self.packages.insert(self.step.clone(), (package, runtime, handler));
        self.last_package = Some(self.step.clone());
    }

    /// Records the version a step published.
    pub fn remember_version(&mut self, function: &str, version: String) {
        self.versions.insert(function.to_string(), version);
    }

    /// The version published for `function` earlier in this run.
    pub fn version_of(&self, function: &str) -> Option<String> {
        self.versions.get(function).cloned()
    }

    /// The package a step names (`artifact`: a package step's name), or the zip at `file`, or
    /// the latest package built in this run.
    pub fn package(&self, artifact: Option<&str>, file: Option<&Path>) -> Result<Package> {
        Ok(self.package_with_runtime(artifact, file)?.0)
    }

    /// Like [`RunContext::package`], with the runtime and handler the package step used.
    pub fn package_with_runtime(
        &self,
        artifact: Option<&str>,
        file: Option<&Path>,
    ) -> Result<(Package, Option<Runtime>, Option<String>)> {
        if let Some(name) = artifact {
            let (p, r, h) = self.packages.get(name).ok_or_else(|| {
                Error::invalid(
                    format!("step {}: config.artifact", self.step),
                    name,
                    format!(
                        "no earlier step produced this artifact; packages so far: [{}]",
                        self.packages.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            return Ok((p.clone(), Some(r.clone()), h.clone()));
        }
        if let Some(file) = file {
            let path = self.path(file);
            if let Some((p, r, h)) = self.packages.values().find(|(p, ..)| p.path == path) {
                return Ok((p.clone(), Some(r.clone()), h.clone()));
            }
            // A zip from elsewhere is read only up to the largest package any provider takes
            // (the deploy checks its provider's own limit before anything is uploaded).
            return Ok((Package::from_zip_limited(&path, Some(MAX_UNZIPPED))?, None, None));
        }
        let latest = self
            .last_package
            .as_ref()
            .and_then(|n| self.packages.get(n))
            .ok_or_else(|| {
                Error::invalid(
                    format!("step {}", self.step),
                    "(no artifact)",
                    "no package step ran before this one: add one, or set `artifact` or `file`",
                )
            })?;
        Ok((latest.0.clone(), Some(latest.1.clone()), latest.2.clone()))
    }
}

/// Runs every stage; the first failure stops the run (later steps are reported as skipped).
pub(crate) async fn run(pipeline: &Resolved, providers: &ProviderSet, observer: &dyn Observer) -> PipelineReport {
    let started = Instant::now();
    let mut ctx = RunContext {
        base_dir: pipeline.base_dir.clone(),
        dry_run: pipeline.dry_run,
        step: String::new(),
        observer,
        redactor: &pipeline.redactor,
        packages: BTreeMap::new(),
        last_package: None,
        versions: BTreeMap::new(),
    };
    let mut reports = Vec::new();
    let mut failed = false;
    for stage in &pipeline.stages {
        let stage_span = tracing::info_span!("stage", stage = %stage.name);
        observer.event(&Event::StageStarted {
            stage: stage.name.clone(),
            steps: stage.steps.len(),
        });
        let mut stage_passed = true;
        for step in &stage.steps {
            let mut report = StepReport {
                stage: stage.name.clone(),
                step: step.name.clone(),
                kind: step.kind.clone(),
                status: StepStatus::Skipped,
                duration: Duration::ZERO,
                summary: "skipped: an earlier step failed".into(),
                tests: Vec::new(),
                plans: Vec::new(),
            };
            if !failed {
                observer.event(&Event::StepStarted {
                    stage: stage.name.clone(),
                    step: step.name.clone(),
                    kind: step.kind.clone(),
                });
                ctx.step = step.name.clone();
                let t = Instant::now();
                let span = tracing::info_span!(parent: &stage_span, "step", step = %step.name, kind = %step.kind);
                let result = match providers.get(step.provider.as_deref().or(pipeline.provider.as_deref())) {
                    Ok(provider) => step.behaviour.run(&mut ctx, provider).instrument(span).await,
                    Err(e) => Err(e),
                };
                report.duration = t.elapsed();
                match result {
                    Ok(StepOutcome { summary, tests, plans }) => {
                        let tests_failed = tests.iter().any(|t| !t.passed);
                        report.status = if tests_failed {
                            StepStatus::Failed
                        } else {
                            StepStatus::Passed
                        };
                        report.summary = ctx.redact(&summary);
                        report.tests = tests;
                        report.plans = plans;
                    }
                    Err(e) => {
                        report.status = StepStatus::Failed;
                        // The whole cause chain (an SDK's or HTTP client's error is a `source`).
                        report.summary = ctx.redact(
                            &e.to_json()["message"]
                                .as_str()
                                .map_or_else(|| e.to_string(), str::to_string),
                        );
                    }
                }
                if report.status == StepStatus::Failed {
                    failed = true;
                    stage_passed = false;
                    tracing::error!(stage = %stage.name, step = %step.name, "step failed: {}", report.summary);
                }
            }
            observer.event(&Event::StepFinished { report: report.clone() });
            reports.push(report);
        }
        observer.event(&Event::StageFinished {
            stage: stage.name.clone(),
            passed: stage_passed && !failed,
        });
    }
    PipelineReport {
        environment: pipeline.environment.clone(),
        dry_run: pipeline.dry_run,
        passed: !failed,
        steps: reports,
        duration: started.elapsed(),
    }
}
