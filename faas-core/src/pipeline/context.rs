//! What a running step sees: its [`RunContext`], and the [`Event`]s an [`Observer`] gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faas_package::{Package, Runtime};

use super::config::Redactor;
use super::report::StepReport;
use crate::testcase::TestResult;
use crate::{Error, Result};

/// The most a zip given to a step is unpacked to while it is read: the largest package any
/// provider accepts (Azure, 1 GiB).
const MAX_UNZIPPED: u64 = 1 << 30;
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
    /// A rollout step moved traffic, checked a gate, rolled back… (see
    /// [`RolloutEvent`](crate::rollout::RolloutEvent)).
    Rollout {
        /// The step.
        step: String,
        /// What happened.
        event: crate::rollout::RolloutEvent,
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

/// What a step sees while it runs.
pub struct RunContext<'a> {
    pub(crate) base_dir: PathBuf,
    pub(crate) dry_run: bool,
    pub(crate) step: String,
    pub(crate) observer: &'a dyn Observer,
    pub(crate) redactor: &'a Redactor,
    pub(crate) packages: BTreeMap<String, (Package, Runtime, Option<String>)>,
    pub(crate) last_package: Option<String>,
    pub(crate) versions: BTreeMap<String, String>,
    /// Functions an earlier step deployed (or, in a dry run, planned to).
    pub(crate) deployed: std::collections::BTreeSet<(String, String)>,
    /// The running step's provider, by its name in the run's set.
    pub(crate) provider: String,
    /// What earlier upload steps stored under the names they were given (`s3://b/k`): the
    /// package, and where the provider holds it (`None` where it has no named store).
    pub(crate) uploads: BTreeMap<String, (Package, Option<crate::ArtifactRef>)>,
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

    /// Records that an upload step stored `package` under the name `uri`.
    pub fn remember_upload(&mut self, uri: String, package: Package, stored: Option<crate::ArtifactRef>) {
        self.uploads.insert(uri, (package, stored));
    }

    /// What an earlier upload step stored under `uri`.
    pub fn uploaded(&self, uri: &str) -> Option<&(Package, Option<crate::ArtifactRef>)> {
        self.uploads.get(uri)
    }

    /// The name (in the run's [`ProviderSet`](crate::pipeline::ProviderSet)) of the provider
    /// the running step acts on.
    pub fn provider_name(&self) -> &str {
        &self.provider
    }

    /// Records that a step deployed `function` (or, in a dry run, planned to) on the running
    /// step's provider.
    pub fn remember_deployed(&mut self, function: &str) {
        self.deployed.insert((self.provider.clone(), function.to_string()));
    }

    /// Whether an earlier step of this run deployed (or planned to deploy) `function` on the
    /// running step's provider (a deploy to AWS does not make the function exist on GCP).
    pub fn deployed_earlier(&self, function: &str) -> bool {
        self.deployed.contains(&(self.provider.clone(), function.to_string()))
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
