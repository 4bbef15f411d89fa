//! The embedded local provider: Lambda's semantics in a directory, running the real handlers.
//!
//! * State lives under one directory (default `.faas/` in the working directory, or
//!   `FAAS_STATE_DIR`); see the layout in the `store` module docs. Every change takes an
//!   exclusive file lock and is written atomically, so several tasks or processes can share
//!   it.
//! * Deploys are create-or-update and rewrite nothing when code and configuration are
//!   unchanged. Versions are immutable snapshots numbered 1, 2, 3 …; publishing unchanged
//!   code and configuration returns the last version, as Lambda does.
//! * Labels are aliases with weighted routing; the weighted pick uses a seedable generator
//!   ([`LocalBuilder::seed`]) and the [`Invocation`] says which version ran.
//! * Invocations run the handler in a child process behind the Lambda Runtime API: Python
//!   and Node through bundled bootstraps, custom runtimes through their own `bootstrap` (a
//!   `lambda_runtime` binary or `awslambdaric` runs unchanged). Timeouts kill the process;
//!   the log tail, durations and peak memory come back like Lambda's `REPORT` line.
//! * The process is an execution environment kept warm between invocations of one version
//!   (init once; globals and `/tmp` persist), one per concurrent invocation, within the
//!   function's reserved concurrency, evicted when idle; see the `pool` module.
//!
//! Unix only (Linux and macOS): handlers run in process groups, and code trees are sealed
//! with file modes and owners. The rest of faas-core builds everywhere.

mod builder;
mod code;
mod env;
mod history;
mod limits;
mod observe;
mod pool;
mod records;
mod runner;
mod runtime_api;
mod sandbox;
mod serve;
mod store;
mod views;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use faas_package::Package;

use self::store::{FunctionRecord, Store, VersionRecord};
use self::views::{Revision, check_routing, deployment, missing_function, plan_for, to_version};
use crate::observe::{LogPage, LogQuery, Metrics, MetricsQuery};
use crate::records::{RecordTag, StoredRecord, WriteCondition};
use crate::{
    ArtifactRef, Capability, DeployOutcome, DeployState, Deployment, Error, FunctionSpec, Invocation, InvokeMode,
    InvokeRequest, Label, Limits, Plan, ProviderBackend, ProviderInfo, PublishRequest, Qualifier, ResourceKind, Result,
    Routing, Version, names,
};

pub use builder::{CONFIG_KEYS, LocalBuilder};
pub use limits::{Enforcement, MB_PER_VCPU, ResourceControls};
pub use pool::IdleEnvironment;
pub use serve::{ServeConfig, Server};

/// The latest, unpublished version.
pub const LATEST: &str = names::LATEST;

#[derive(Debug)]
struct Inner {
    store: Store,
    /// Every invocation, for metrics and logs.
    history: history::History,
    /// Asynchronous invocations still running (see [`LocalProvider::wait_for_async`]).
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    rng: Mutex<fastrand::Rng>,
    /// Warm execution environments.
    pool: Arc<pool::Pool>,
    python: Option<String>,
    node: String,
    region: String,
}

/// The embedded local provider. Cheap to clone; clones share state and the routing generator.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

/// The local provider's capability: Lambda's model, everything supported.
pub const CAPABILITY: Capability = Capability::LAMBDA.metrics(true).logs(true).records(true);

/// The local provider's name, in its [`ProviderInfo`] and in every error it returns.
pub const NAME: crate::ProviderName = crate::ProviderName::new("local");

impl LocalProvider {
    /// The provider over an opened store (what [`LocalBuilder::build`] makes).
    fn open(
        store: Store,
        rng: fastrand::Rng,
        python: Option<String>,
        node: String,
        region: String,
        pool: Arc<pool::Pool>,
    ) -> LocalProvider {
        LocalProvider {
            inner: Arc::new(Inner {
                history: history::History::new(store.root()),
                store,
                background: Mutex::new(Vec::new()),
                rng: Mutex::new(rng),
                pool,
                python,
                node,
                region,
            }),
        }
    }

    /// A builder.
    pub fn builder() -> LocalBuilder {
        LocalBuilder::default()
    }

    /// A provider configured from the environment (see [`LocalBuilder::from_env`]).
    pub fn from_env() -> Result<LocalProvider> {
        LocalBuilder::from_env().build()
    }

    /// Waits until every asynchronous invocation started so far has run. An asynchronous
    /// invocation runs inside this process: a program that exits right after one (a one-shot
    /// CLI) calls this first, or the event never runs.
    ///
    /// ```no_run
    /// # async fn t(p: faas_core::local::LocalProvider) {
    /// p.wait_for_async().await;
    /// # }
    /// ```
    pub async fn wait_for_async(&self) {
        loop {
            let pending: Vec<_> =
                std::mem::take(&mut *self.inner.background.lock().unwrap_or_else(PoisonError::into_inner));
            if pending.is_empty() {
                return;
            }
            for task in pending {
                let _ = task.await;
            }
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.inner.store.root().to_path_buf()
    }

    /// Runs `f` on a blocking thread with the store locked.
    async fn locked<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = inner.store.lock()?;
            f(&inner.store)
        })
        .await
        .map_err(|e| Error::io("local state", std::io::Error::other(e)))?
    }

    /// Runs a read on a blocking thread with the store locked — or, when the state directory
    /// does not exist yet, unlocked and without creating it (there is nothing to read).
    async fn reading<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = if inner.store.exists() {
                Some(inner.store.lock()?)
            } else {
                None
            };
            f(&inner.store)
        })
        .await
        .map_err(|e| Error::io("local state", std::io::Error::other(e)))?
    }

    async fn record(&self, function: &str) -> Result<FunctionRecord> {
        names::check_function(function)?;
        let name = function.to_string();
        self.reading(move |s| s.read(&name)?.ok_or_else(|| missing_function(&name)))
            .await
    }

    fn pick(&self, routing: &Routing) -> String {
        let draw = self.inner.rng.lock().unwrap_or_else(PoisonError::into_inner).f64();
        let mut acc = 0.0;
        for (v, w) in &routing.weights {
            acc += w;
            if draw < acc {
                return v.clone();
            }
        }
        routing.primary.clone()
    }

    /// The version, spec and code a qualifier resolves to.
    fn resolve(&self, rec: &FunctionRecord, qualifier: &Qualifier) -> Result<(String, FunctionSpec, String)> {
        let name = &rec.spec.name;
        let version = match qualifier {
            Qualifier::Latest => {
                return Ok((LATEST.into(), rec.spec.clone(), rec.code_sha256.clone()));
            }
            Qualifier::Version(v) => v.clone(),
            Qualifier::Label(label) => {
                let routing = rec.labels.get(label).ok_or_else(|| {
                    Error::not_found(
                        ResourceKind::Label,
                        format!("{name}@{label}"),
                        Some("create it with set_label".into()),
                    )
                })?;
                self.pick(routing)
            }
        };
        if version == LATEST {
            return Ok((LATEST.into(), rec.spec.clone(), rec.code_sha256.clone()));
        }
        let v = rec
            .versions
            .iter()
            .find(|v| v.id == version)
            .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{name}:{version}"), None))?;
        Ok((v.id.clone(), v.spec.clone(), v.code_sha256.clone()))
    }
}

#[async_trait]
impl ProviderBackend for LocalProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(NAME, CAPABILITY, Limits::LAMBDA)
    }

    async fn upload(&self, _function: &str, package: &Package) -> Result<ArtifactRef> {
        let (path, sha) = (package.path.clone(), package.sha256.clone());
        let inner = self.inner.clone();
        let stored = tokio::task::spawn_blocking(move || -> Result<PathBuf> {
            let actual = store::file_sha256(&path).map_err(|e| Error::io(path.display(), e))?;
            if actual != sha {
                return Err(Error::conflict(
                    path.display().to_string(),
                    format!("the file's sha256 is {actual} but the package says {sha}: it changed after packaging"),
                ));
            }
            let copied = inner.store.put_artifact(&path, &sha)?;
            // Unpacked now, within the unzipped limit: a package that cannot be is not kept.
            if let Err(e) = inner.store.code_dir(&sha) {
                if copied {
                    let _ = std::fs::remove_file(inner.store.artifact_path(&sha)?);
                }
                return Err(e);
            }
            inner.store.artifact_path(&sha)
        })
        .await
        .map_err(|e| Error::io("local upload", std::io::Error::other(e)))??;
        Ok(ArtifactRef {
            uri: format!("file://{}", stored.display()),
            sha256: package.sha256.clone(),
            size: package.size,
            local_path: Some(stored),
        })
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        let name = spec.name.clone();
        let rec = self.reading(move |s| s.read(&name)).await?;
        Ok(plan_for(rec.as_ref(), spec, &artifact.sha256))
    }

    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        if !self.inner.store.artifact_path(&artifact.sha256)?.is_file() {
            return Err(Error::not_found(
                ResourceKind::Artifact,
                &artifact.uri,
                Some("upload the package to this provider first".into()),
            ));
        }
        let planned = plan.observed::<Revision>().map(|r| r.0);
        let change = plan.change();
        let (spec, sha) = (spec.clone(), artifact.sha256.clone());
        self.locked(move |s| {
            // Under the lock: the record is still the one planned against, or someone else
            // deployed in between and this plan is stale.
            let current = s.read(&spec.name)?;
            if current.as_ref().map(|r| r.revision) != planned {
                return Err(Error::conflict(
                    &spec.name,
                    format!(
                        "planned against revision {} but the function is now at {}: another deploy ran; plan again",
                        planned.map_or("(none)".into(), |r| r.to_string()),
                        current.as_ref().map_or("(none)".into(), |r| r.revision.to_string()),
                    ),
                ));
            }
            let rec = match current {
                Some(rec) if change.is_noop() => rec,
                Some(mut rec) => {
                    rec.spec = spec;
                    rec.code_sha256 = sha;
                    rec.revision += 1;
                    s.write(&rec)?;
                    rec
                }
                None => {
                    let rec = FunctionRecord {
                        spec,
                        code_sha256: sha,
                        revision: 1,
                        next_version: 1,
                        versions: Vec::new(),
                        labels: Default::default(),
                    };
                    s.write(&rec)?;
                    rec
                }
            };
            tracing::info!(function = %rec.spec.name, %change, "deployed");
            Ok(DeployOutcome {
                deployment: deployment(&rec),
                change,
            })
        })
        .await
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        Ok(deployment(&self.record(function).await?))
    }

    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment> {
        let rec = self.record(function).await?;
        let qualifier = match qualifier {
            Qualifier::Label(l) => match rec.labels.get(l) {
                Some(routing) => Qualifier::parse(&routing.primary)?,
                None => qualifier.clone(),
            },
            _ => qualifier.clone(),
        };
        let (version, spec, code_sha256) = self.resolve(&rec, &qualifier)?;
        Ok(Deployment {
            spec,
            code_sha256,
            state: DeployState::Active,
            revision: None,
            url: None,
            version,
        })
    }

    async fn delete(&self, function: &str) -> Result<()> {
        let name = function.to_string();
        let history = self.inner.history.clone();
        self.inner.pool.retire(function);
        self.locked(move |s| {
            if s.remove(&name)? {
                history.remove(&name).map_err(|e| Error::io("invocation history", e))
            } else {
                Err(missing_function(&name))
            }
        })
        .await
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let (name, request) = (function.to_string(), request.clone());
        self.locked(move |s| {
            let mut rec = s.read(&name)?.ok_or_else(|| missing_function(&name))?;
            if let Some(expected) = request.expected_code_sha256.as_ref().filter(|e| **e != rec.code_sha256) {
                return Err(Error::conflict(
                    name.clone(),
                    format!(
                        "the latest code is {} but {expected} was expected: another deploy changed it",
                        rec.code_sha256
                    ),
                ));
            }
            if let Some(last) = rec
                .versions
                .last()
                .filter(|v| v.code_sha256 == rec.code_sha256 && v.spec == rec.spec)
            {
                return Ok(to_version(last, s));
            }
            let v = VersionRecord {
                id: rec.next_version.to_string(),
                spec: rec.spec.clone(),
                code_sha256: rec.code_sha256.clone(),
                description: request.description.clone(),
            };
            rec.next_version += 1;
            rec.versions.push(v.clone());
            s.write(&rec)?;
            tracing::info!(function = %name, version = %v.id, "published");
            Ok(to_version(&v, s))
        })
        .await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        names::check_function(function)?;
        let name = function.to_string();
        self.reading(move |s| {
            let rec = s.read(&name)?.ok_or_else(|| missing_function(&name))?;
            Ok(rec.versions.iter().map(|v| to_version(v, s)).collect())
        })
        .await
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        let (name, version) = (function.to_string(), version.to_string());
        self.locked(move |s| {
            let mut rec = s.read(&name)?.ok_or_else(|| missing_function(&name))?;
            if let Some((label, _)) = rec.labels.iter().find(|(_, r)| r.versions().any(|v| v == version)) {
                return Err(Error::conflict(
                    format!("{name}:{version}"),
                    format!("label {label:?} routes to this version: move the label first"),
                ));
            }
            let before = rec.versions.len();
            rec.versions.retain(|v| v.id != version);
            if rec.versions.len() == before {
                return Err(Error::not_found(
                    ResourceKind::Version,
                    format!("{name}:{version}"),
                    None,
                ));
            }
            s.write(&rec)
        })
        .await
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        let (name, label, routing) = (function.to_string(), label.to_string(), routing.clone());
        self.locked(move |s| {
            let mut rec = s.read(&name)?.ok_or_else(|| missing_function(&name))?;
            check_routing(&rec, &routing)?;
            if rec.labels.get(&label) != Some(&routing) {
                rec.labels.insert(label.clone(), routing.clone());
                s.write(&rec)?;
            }
            Ok(Label { name: label, routing })
        })
        .await
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        let rec = self.record(function).await?;
        let routing = rec
            .labels
            .get(label)
            .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{label}"), None))?;
        Ok(Label {
            name: label.to_string(),
            routing: routing.clone(),
        })
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        let rec = self.record(function).await?;
        Ok(rec
            .labels
            .into_iter()
            .map(|(name, routing)| Label { name, routing })
            .collect())
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let (name, label) = (function.to_string(), label.to_string());
        self.locked(move |s| {
            let mut rec = s.read(&name)?.ok_or_else(|| missing_function(&name))?;
            if rec.labels.remove(&label).is_none() {
                return Err(Error::not_found(ResourceKind::Label, format!("{name}@{label}"), None));
            }
            s.write(&rec)
        })
        .await
    }

    async fn invoke(&self, function: &str, qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation> {
        let payload = request.event_bytes()?;
        let rec = self.record(function).await?;
        let (version, spec, sha) = self.resolve(&rec, qualifier)?;
        let via = match qualifier {
            Qualifier::Label(l) => Some(l.clone()),
            _ => None,
        };
        let mut recorder = observe::Recorder {
            history: self.inner.history.clone(),
            spec: spec.clone(),
            via,
            start_ms: observe::started_ms(),
        };
        let inner = self.inner.clone();
        let code = sha.clone();
        let (code_dir, bootstrap_dir) = tokio::task::spawn_blocking(move || -> Result<(PathBuf, PathBuf)> {
            Ok((inner.store.code_dir(&code)?, inner.store.install_bootstraps()?))
        })
        .await
        .map_err(|e| Error::io("local invoke", std::io::Error::other(e)))??;
        let run = runner::EnvRequest {
            version,
            spec,
            code_dir,
            state_dir: self.inner.store.root().to_path_buf(),
            bootstrap_dir,
            python: self.inner.python.clone(),
            node: self.inner.node.clone(),
            region: self.inner.region.clone(),
        };
        let key = pool::EnvKey::of(&run, &sha, rec.revision);
        // Reserved concurrency is the function's, whichever version runs (as on Lambda).
        let reserved = rec.spec.aws.reserved_concurrency;
        let pool = self.inner.pool.clone();
        let executed = run.version.clone();
        let call = env::Call::of(request, payload);
        match request.mode {
            InvokeMode::Sync => {
                let ran = pool.invoke(key, run, call, reserved, pool::Wait::No).await;
                if let Err(Error::Throttled { .. }) = &ran {
                    recorder.throttled(&executed);
                }
                let (mut inv, began_ms) = ran?;
                recorder.start_ms = began_ms;
                recorder.record(&inv);
                if !request.log_tail {
                    inv.log_tail = None;
                }
                Ok(inv)
            }
            InvokeMode::Async => {
                let started = tokio::time::Instant::now();
                let version = executed.clone();
                let task = tokio::spawn(async move {
                    match pool.invoke(key, run, call, reserved, pool::Wait::Queue).await {
                        Ok((inv, began_ms)) => {
                            // It ran once it had its turn.
                            recorder.start_ms = began_ms;
                            recorder.record(&inv);
                        }
                        Err(e) => {
                            if let Error::Throttled { .. } = e {
                                recorder.throttled(&version);
                            }
                            tracing::warn!(error = %e, "asynchronous invocation failed");
                        }
                    }
                });
                let mut background = self.inner.background.lock().unwrap_or_else(PoisonError::into_inner);
                background.retain(|t| !t.is_finished());
                background.push(task);
                Ok(accepted(202, executed, started))
            }
            InvokeMode::DryRun => Ok(accepted(204, executed, tokio::time::Instant::now())),
        }
    }

    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let rec = self.record(&query.function).await?;
        let (history, query) = (self.inner.history.clone(), query.clone());
        tokio::task::spawn_blocking(move || observe::metrics(&history, &rec, &query))
            .await
            .map_err(|e| Error::io("invocation history", std::io::Error::other(e)))?
    }

    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let key = key.to_string();
        self.reading(move |s| records::read(s, &key)).await
    }

    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let (key, body, condition) = (key.to_string(), body.to_vec(), condition.clone());
        self.locked(move |s| records::write(s, &key, &body, &condition)).await
    }

    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let (key, tag) = (key.to_string(), tag.clone());
        self.locked(move |s| records::delete(s, &key, &tag)).await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        let rec = self.record(&query.function).await?;
        let (history, query) = (self.inner.history.clone(), query.clone());
        tokio::task::spawn_blocking(move || observe::logs(&history, &rec, &query))
            .await
            .map_err(|e| Error::io("invocation history", std::io::Error::other(e)))?
    }
}

fn accepted(status: u16, version: String, started: tokio::time::Instant) -> Invocation {
    Invocation {
        status,
        payload: Vec::new(),
        function_error: None,
        executed_version: Some(version),
        log_tail: None,
        report: None,
        elapsed: started.elapsed(),
        headers: Default::default(),
    }
}
