//! Deploying many functions at once, under a bound — all of them, or only those that changed.

use std::future::Future;
use std::sync::Arc;

use faas_package::Package;
use tokio::sync::Semaphore;

use crate::{DeployOptions, DeployReport, FunctionSpec, Plan, Provider, ProviderExt, Result, local_artifact};

/// One function to deliver.
#[derive(Debug, Clone)]
pub struct DeployJob {
    /// What it should look like.
    pub spec: FunctionSpec,
    /// Its code.
    pub package: Package,
    /// Publish, label, prune, dry run.
    pub options: DeployOptions,
}

/// Runs [`ProviderExt::deploy_package`] for every job, at most `concurrency` at a time, and
/// returns each function's result in the order of `jobs`. One failure does not stop the
/// others; throttling is handled by each provider's retry policy. To deploy only what
/// changed, and know which before anything is changed, see [`DeployJob::deploy_changed`].
///
/// ```no_run
/// # async fn t(provider: std::sync::Arc<dyn faas_core::Provider>, jobs: Vec<faas_core::DeployJob>) {
/// for (name, result) in faas_core::deploy_many(provider, jobs, 8).await {
///     match result {
///         Ok(report) => println!("{name}: {}", report.change),
///         Err(e) => eprintln!("{name}: {e}"),
///     }
/// }
/// # }
/// ```
pub async fn deploy_many(
    provider: Arc<dyn Provider>,
    jobs: Vec<DeployJob>,
    concurrency: usize,
) -> Vec<(String, Result<DeployReport>)> {
    let names: Vec<String> = jobs.iter().map(|j| j.spec.name.clone()).collect();
    let results = bounded(jobs, concurrency, move |job| {
        let provider = provider.clone();
        async move { provider.deploy_package(&job.spec, &job.package, &job.options).await }
    })
    .await;
    names.into_iter().zip(results).collect()
}

impl DeployJob {
    /// What deploying this job would change, as the provider plans it: one read, nothing
    /// uploaded or changed. [`Plan::change`] says whether the function would be created,
    /// its code replaced (the package's sha256 is not the deployed code's, as the provider
    /// reports it: Lambda's `CodeSha256`, the object behind a Cloud Function, the local
    /// store's record) or its configuration updated.
    ///
    /// ```no_run
    /// # async fn t(provider: std::sync::Arc<dyn faas_core::Provider>, job: faas_core::DeployJob) -> faas_core::Result<()> {
    /// let plan = job.plan(provider.as_ref()).await?;
    /// println!("{}: {}", job.spec.name, plan.change());
    /// # Ok(()) }
    /// ```
    pub async fn plan(&self, provider: &dyn Provider) -> Result<Plan> {
        provider.plan(&self.spec, &local_artifact(&self.package)).await
    }

    /// [`DeployJob::plan`] for every job, at most `concurrency` reads at a time, in the order
    /// of `jobs`: which functions' packages (or configurations) changed, calling only read
    /// APIs.
    pub async fn plan_all(
        provider: Arc<dyn Provider>,
        jobs: &[DeployJob],
        concurrency: usize,
    ) -> Vec<(String, Result<Plan>)> {
        let names: Vec<String> = jobs.iter().map(|j| j.spec.name.clone()).collect();
        let plans = bounded(jobs.to_vec(), concurrency, move |job| {
            let provider = provider.clone();
            async move { job.plan(provider.as_ref()).await }
        })
        .await;
        names.into_iter().zip(plans).collect()
    }

    /// The monorepo's "deploy only what changed": plans every job first (read APIs only,
    /// [`DeployJob::plan_all`]) and hands the plans to `on_plans` before any call that
    /// uploads or changes anything; then deploys ([`ProviderExt::deploy_package`], which
    /// plans once more) only the jobs whose plan changes something or could not be made.
    /// A job whose code and configuration are already deployed is skipped: its report is
    /// its plan, with nothing changed, the deployed code's sha256, and no version, label
    /// or pruning (those steps are not run for it). Results come in the order of `jobs`.
    ///
    /// ```no_run
    /// # async fn t(provider: std::sync::Arc<dyn faas_core::Provider>, jobs: Vec<faas_core::DeployJob>) {
    /// let results = faas_core::DeployJob::deploy_changed(provider, jobs, 8, |plans| {
    ///     for (name, plan) in plans {
    ///         match plan {
    ///             Ok(p) => println!("{name}: {}", p.change()),
    ///             Err(e) => println!("{name}: cannot tell ({e})"),
    ///         }
    ///     }
    /// })
    /// .await;
    /// # let _ = results;
    /// # }
    /// ```
    pub async fn deploy_changed(
        provider: Arc<dyn Provider>,
        jobs: Vec<DeployJob>,
        concurrency: usize,
        on_plans: impl FnOnce(&[(String, Result<Plan>)]) + Send,
    ) -> Vec<(String, Result<DeployReport>)> {
        let plans = DeployJob::plan_all(provider.clone(), &jobs, concurrency).await;
        on_plans(&plans);
        let names: Vec<String> = jobs.iter().map(|j| j.spec.name.clone()).collect();
        let mut results: Vec<Option<Result<DeployReport>>> = (0..jobs.len()).map(|_| None).collect();
        let mut changed = Vec::new();
        for ((i, job), (_, plan)) in jobs.into_iter().enumerate().zip(plans) {
            match plan {
                Ok(plan) if plan.is_noop() => results[i] = Some(Ok(skipped(plan, &job.package))),
                _ => changed.push((i, job)),
            }
        }
        tracing::info!(
            deploying = changed.len(),
            unchanged = results.iter().filter(|r| r.is_some()).count(),
            "deploying the functions that changed"
        );
        let (indexes, changed): (Vec<usize>, Vec<DeployJob>) = changed.into_iter().unzip();
        for (i, (_, r)) in indexes
            .into_iter()
            .zip(deploy_many(provider, changed, concurrency).await)
        {
            results[i] = Some(r);
        }
        names
            .into_iter()
            .zip(results)
            .map(|(name, r)| {
                let r = r.unwrap_or_else(|| Err(unfinished(&name)));
                (name, r)
            })
            .collect()
    }
}

/// The report of a job skipped because its plan changes nothing.
fn skipped(plan: Plan, package: &Package) -> DeployReport {
    DeployReport {
        function: plan.function.clone(),
        plan,
        change: crate::Change::default(),
        code_sha256: package.sha256.clone(),
        version: None,
        label: None,
        pruned: Vec::new(),
        dry_run: false,
    }
}

fn unfinished(name: &str) -> crate::Error {
    crate::Error::other("TaskFailed", format!("the deploy task of {name} did not finish"), false)
}

/// Runs `work` on every item, at most `concurrency` at a time; the results in the items'
/// order (a task that panicked gives an error naming its position).
async fn bounded<T, R, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> Vec<Result<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let permits = permits.clone();
        let task = work(item);
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, task.await)
        });
    }
    let mut results: Vec<Option<Result<R>>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => tracing::error!(error = %e, "a deploy task panicked"),
        }
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| Err(unfinished(&format!("job {i}")))))
        .collect()
}
