//! Delivering many functions to many targets: functions × targets, throttling-aware,
//! converging when run again.
//!
//! A [`Target`] is a provider with its region and credentials (another AWS account through
//! an assumed role, another GCP project, another Azure subscription), a name, and its
//! [`Limits`]. [`deliver`] delivers every job to every target: targets in parallel, within a
//! target at most [`Limits::ceiling`] functions at once, each API's calls paced by the
//! target's [`RateLimiter`] (additive increase, multiplicative decrease on throttles,
//! `Retry-After` honoured, shared with the retry policy — see [`rate`]).
//!
//! **Convergence.** Each function is planned first (read calls only). A function whose code
//! and configuration are deployed, and whose label (when the job moves one) already serves
//! that code, is left alone: [`Outcome::Unchanged`], no write. Anything else is deployed with
//! [`ProviderExt::deploy_package`], whose writes are idempotent under retries. So a delivery
//! that was interrupted — killed — and run again does only what was not done, and ends as an
//! uninterrupted run would. One function's or target's failure does not stop the others
//! unless [`FleetOptions::fail_fast`] asks.
//!
//! Everything is checked before anything is delivered: target names unique, limits valid,
//! function names unique, every spec valid for every target's provider.
//!
//! ```no_run
//! # async fn t(aws_us: std::sync::Arc<dyn faas_core::Provider>, aws_eu: std::sync::Arc<dyn faas_core::Provider>, jobs: Vec<faas_core::DeployJob>) -> faas_core::Result<()> {
//! use faas_core::fleet::{FleetOptions, Limits, Target, deliver};
//! let targets = vec![
//!     Target::new("prod-us", aws_us).limits(Limits::ceiling(16)),
//!     Target::new("prod-eu", aws_eu),
//! ];
//! let quiet = std::sync::Arc::new(|_: &faas_core::fleet::FleetEvent<'_>| {});
//! let report = deliver(targets, jobs, &FleetOptions::default(), quiet).await?;
//! println!("{report}");
//! assert!(report.converged());
//! # Ok(()) }
//! ```

pub mod rate;
mod report;
#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
pub mod targets;

pub use rate::{ApiRate, Limits, RateLimiter, report_throttle};
pub use report::{FleetEvent, FleetObserver, FleetReport, FunctionResult, Outcome, Tally, TargetReport};

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::{DeployJob, Error, Provider, ProviderExt, Result};

/// Where to deliver: a provider, its name in reports, and how hard it may be driven.
#[derive(Debug, Clone)]
pub struct Target {
    /// The target's name (unique in a delivery): `prod-us`, `staging-eu`.
    pub name: String,
    /// The provider, built with the target's region and credentials.
    pub provider: Arc<dyn Provider>,
    /// Concurrency ceiling and rates.
    pub limits: Limits,
    /// AWS: the execution role every function delivered here gets (each account has its
    /// own: Lambda refuses to pass another account's role). `None`: the spec's.
    pub execution_role: Option<String>,
}

impl Target {
    /// A target with the default [`Limits`].
    pub fn new(name: impl Into<String>, provider: Arc<dyn Provider>) -> Target {
        Target {
            name: name.into(),
            provider,
            limits: Limits::default(),
            execution_role: None,
        }
    }

    /// With this execution role for every function (AWS).
    pub fn execution_role(mut self, role_arn: impl Into<String>) -> Target {
        self.execution_role = Some(role_arn.into());
        self
    }

    /// `spec` as this target delivers it (its execution role, if it sets one).
    fn spec_for(&self, spec: &crate::FunctionSpec) -> Option<crate::FunctionSpec> {
        let role = self.execution_role.as_ref()?;
        let mut spec = spec.clone();
        spec.aws.role_arn = Some(role.clone());
        Some(spec)
    }

    /// With these limits.
    pub fn limits(mut self, limits: Limits) -> Target {
        self.limits = limits;
        self
    }
}

/// How a delivery goes on when something fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetOptions {
    /// Stop starting deliveries (on every target) after the first failure; what is running
    /// finishes, the rest is [`Outcome::Skipped`].
    pub fail_fast: bool,
}

/// Checks everything a delivery needs before anything is delivered (see the module docs).
pub fn validate(targets: &[Target], jobs: &[DeployJob]) -> Result<()> {
    if targets.is_empty() {
        return Err(Error::invalid("targets", "[]", "a delivery needs at least one target"));
    }
    let mut names = BTreeSet::new();
    for t in targets {
        if t.name.trim().is_empty() {
            return Err(Error::invalid("targets.name", "\"\"", "every target needs a name"));
        }
        if !names.insert(t.name.as_str()) {
            return Err(Error::invalid(
                "targets.name",
                &t.name,
                "two targets have this name: give each target its own",
            ));
        }
        t.limits.validate(&t.name)?;
    }
    let mut functions = BTreeSet::new();
    for j in jobs {
        if !functions.insert(j.spec.name.as_str()) {
            return Err(Error::invalid(
                "jobs.spec.name",
                &j.spec.name,
                "two jobs deliver this function: one job per function",
            ));
        }
        for t in targets {
            let spec = t.spec_for(&j.spec);
            t.provider
                .validate(spec.as_ref().unwrap_or(&j.spec))
                .map_err(|e| match e {
                    Error::InvalidInput {
                        provider,
                        field,
                        value,
                        reason,
                    } => Error::InvalidInput {
                        provider,
                        field: format!("targets.{}.{}.{field}", t.name, j.spec.name),
                        value,
                        reason,
                    },
                    other => other,
                })?;
        }
    }
    Ok(())
}

/// Delivers every job to every target (see the [module docs](self)). Returns an error only
/// when [`validate`] refuses the input — then nothing was delivered; every other failure is
/// in the report, per function and target. The future is `Send` and `'static`-friendly: it
/// can be spawned, and dropping it (or killing the process) leaves nothing a second run
/// cannot finish.
pub async fn deliver(
    targets: Vec<Target>,
    jobs: Vec<DeployJob>,
    options: &FleetOptions,
    observer: Arc<dyn FleetObserver>,
) -> Result<FleetReport> {
    validate(&targets, &jobs)?;
    let started = Instant::now();
    let run = Arc::new(Run {
        jobs,
        options: *options,
        stop: AtomicBool::new(false),
        observer,
    });
    let reports = futures::future::join_all(targets.into_iter().map(|t| deliver_to(Arc::new(t), run.clone()))).await;
    Ok(FleetReport::new(reports, started.elapsed()))
}

/// What every target's delivery shares.
struct Run {
    jobs: Vec<DeployJob>,
    options: FleetOptions,
    stop: AtomicBool,
    observer: Arc<dyn FleetObserver>,
}

async fn deliver_to(target: Arc<Target>, run: Arc<Run>) -> TargetReport {
    let started = Instant::now();
    run.observer.event(&FleetEvent::TargetStarted {
        target: &target.name,
        functions: run.jobs.len(),
    });
    let limiter = RateLimiter::new(target.limits);
    // At most `ceiling` at once, started in the jobs' order (a permit is taken before its
    // task is spawned).
    let permits = Arc::new(Semaphore::new(target.limits.ceiling));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..run.jobs.len() {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (target, limiter, run) = (target.clone(), limiter.clone(), run.clone());
        set.spawn(async move {
            let _permit = permit;
            (i, one(&target, &limiter, &run, i).await)
        });
    }
    let mut results: Vec<Option<FunctionResult>> = (0..run.jobs.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => tracing::error!(error = %e, "a delivery task panicked"),
        }
    }
    let functions = results
        .into_iter()
        .zip(run.jobs.iter())
        .map(|(r, job)| {
            r.unwrap_or_else(|| FunctionResult {
                function: job.spec.name.clone(),
                outcome: Outcome::failed(&Error::other("TaskFailed", "the delivery task panicked", false)),
                seconds: 0.0,
            })
        })
        .collect();
    let provider = target.provider.info().name.to_string();
    let report = TargetReport::new(
        target.name.clone(),
        provider,
        functions,
        limiter.snapshot(),
        started.elapsed(),
    );
    run.observer.event(&FleetEvent::TargetFinished { report: &report });
    report
}

async fn one(target: &Target, limiter: &RateLimiter, run: &Run, i: usize) -> FunctionResult {
    let job = &run.jobs[i];
    let name = job.spec.name.as_str();
    let observer = run.observer.as_ref();
    if run.stop.load(Ordering::SeqCst) {
        let reason = "not started: fail_fast stopped the delivery after a failure".to_string();
        return finished(
            observer,
            &target.name,
            name,
            Outcome::Skipped { reason },
            Instant::now(),
        );
    }
    let at = Instant::now();
    observer.event(&FleetEvent::Started {
        target: &target.name,
        function: name,
    });
    let adjusted = target.spec_for(&job.spec).map(|spec| DeployJob { spec, ..job.clone() });
    let job = adjusted.as_ref().unwrap_or(job);
    let outcome = limiter
        .scope_function(name, deliver_one(target.provider.as_ref(), job))
        .await;
    if run.options.fail_fast && matches!(outcome, Outcome::Failed { .. }) {
        run.stop.store(true, Ordering::SeqCst);
    }
    finished(observer, &target.name, name, outcome, at)
}

fn finished(
    observer: &dyn FleetObserver,
    target: &str,
    function: &str,
    outcome: Outcome,
    at: Instant,
) -> FunctionResult {
    observer.event(&FleetEvent::Finished {
        target,
        function,
        outcome: &outcome,
    });
    FunctionResult {
        function: function.to_string(),
        outcome,
        seconds: at.elapsed().as_secs_f64(),
    }
}

/// Plans one job; leaves it alone when nothing is to do, deploys it otherwise.
async fn deliver_one(provider: &dyn Provider, job: &DeployJob) -> Outcome {
    match job.plan(provider).await {
        Ok(plan) if plan.is_noop() && !job.options.dry_run => match label_serves(provider, job).await {
            Ok(true) => {
                return Outcome::Unchanged {
                    code_sha256: job.package.sha256.clone(),
                };
            }
            Ok(false) => {}
            Err(e) => tracing::debug!(function = %job.spec.name, error = %e, "label unreadable: deploying"),
        },
        Ok(_) => {}
        // Cannot tell: deploying plans again and says why if it fails.
        Err(e) => tracing::debug!(function = %job.spec.name, error = %e, "plan failed: deploying"),
    }
    match provider.deploy_package(&job.spec, &job.package, &job.options).await {
        Ok(report) => Outcome::delivered(&report),
        Err(e) => Outcome::failed(&e),
    }
}

/// Whether the label the job moves (if any) already serves the job's code and
/// configuration: one read, the rule the deploy itself uses before it publishes.
async fn label_serves(provider: &dyn Provider, job: &DeployJob) -> Result<bool> {
    let Some(label) = &job.options.label else {
        return Ok(true);
    };
    Ok(
        crate::ext::label_serving(provider, &job.spec, &job.package.sha256, label)
            .await?
            .is_some(),
    )
}
