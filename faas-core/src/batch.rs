//! Deploying many functions at once, under a bound.

use std::sync::Arc;

use faas_package::Package;
use tokio::sync::Semaphore;

use crate::{DeployOptions, DeployReport, FunctionSpec, Provider, ProviderExt, Result};

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
/// others; throttling is handled by each provider's retry policy.
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
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let names: Vec<String> = jobs.iter().map(|j| j.spec.name.clone()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        let (provider, permits) = (provider.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, provider.deploy_package(&job.spec, &job.package, &job.options).await)
        });
    }
    let mut results: Vec<Option<Result<DeployReport>>> = (0..names.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => results[i] = Some(r),
            Err(e) => tracing::error!(error = %e, "a deploy task panicked"),
        }
    }
    names
        .into_iter()
        .zip(results)
        .map(|(name, r)| {
            let r = r.unwrap_or_else(|| {
                Err(crate::Error::other(
                    "TaskFailed",
                    format!("the deploy task of {name} did not finish"),
                    false,
                ))
            });
            (name, r)
        })
        .collect()
}
