//! `fleet::deliver` on AWS against moto, counted by the recording proxy: a delivery dropped
//! half-way (what a killed process leaves: requests in flight landed or not) is run again and
//! converges, writing nothing for the functions that were done; an unchanged redeploy of the
//! whole fleet costs two reads a function and no write.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faas_aws::test_support::{Moto, Proxy, ROLE, python_package};
use faas_core::fleet::{FleetEvent, FleetObserver, FleetOptions, Limits, Outcome, Target, deliver};
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Provider};

const FUNCTIONS: usize = 12;

fn jobs(dir: &std::path::Path) -> Vec<DeployJob> {
    named_jobs(dir, "fleet", FUNCTIONS)
}

/// `n` functions `{prefix}-{i}`, each published with `live` on it.
fn named_jobs(dir: &std::path::Path, prefix: &str, n: usize) -> Vec<DeployJob> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            DeployJob {
                package: python_package(dir, &name),
                spec: FunctionSpec::new(&name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler")
                    .role(ROLE),
                options: DeployOptions {
                    publish: true,
                    label: Some("live".into()),
                    ..DeployOptions::default()
                },
            }
        })
        .collect()
}

/// The function a Lambda request is about (`/2015-03-31/functions/NAME/...`).
fn function_of(path: &str) -> Option<String> {
    let rest = path.split("/functions/").nth(1)?;
    Some(rest.split('/').next().unwrap_or(rest).to_string())
}

fn quiet() -> Arc<dyn FleetObserver> {
    Arc::new(|_: &FleetEvent<'_>| {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dropped_half_way_converges_and_writes_nothing_for_what_was_done() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    // Creates and updates stay Pending a while, as on Lambda: the drop lands mid-flight.
    proxy.simulate_pending(Duration::from_millis(400));
    let aws: Arc<dyn Provider> = Arc::new(proxy.provider(|b| b).await);
    let dir = tempfile::tempdir().unwrap();
    let jobs = jobs(dir.path());
    let targets = vec![Target::new("us-east-1", aws.clone()).limits(Limits::ceiling(3))];

    let done = Arc::new(Mutex::new(Vec::<String>::new()));
    let notify = Arc::new(tokio::sync::Notify::new());
    let run = {
        let (targets, jobs, done, notify) = (targets.clone(), jobs.clone(), done.clone(), notify.clone());
        tokio::spawn(async move {
            let observer = Arc::new(move |e: &FleetEvent<'_>| {
                if let FleetEvent::Finished { function, outcome, .. } = e {
                    assert!(outcome.converged(), "{function}: {outcome:?}");
                    let mut d = done.lock().unwrap();
                    d.push(function.to_string());
                    if d.len() == 4 {
                        notify.notify_one();
                    }
                }
            });
            deliver(targets, jobs, &FleetOptions::default(), observer).await
        })
    };
    notify.notified().await;
    run.abort();
    let _ = run.await;
    let finished: BTreeSet<String> = done.lock().unwrap().iter().cloned().collect();
    assert!(finished.len() >= 4 && finished.len() < FUNCTIONS, "{finished:?}");

    proxy.clear();
    let report = deliver(targets.clone(), jobs.clone(), &FleetOptions::default(), quiet())
        .await
        .unwrap();
    assert!(report.converged(), "{report}");
    // What was in flight (3 at most) may have landed whole before the drop.
    assert!(report.tally.unchanged >= finished.len(), "{report}");
    assert!(report.tally.delivered + 3 >= FUNCTIONS - finished.len(), "{report}");
    // Independently, from what moto received: no write names a function that was done.
    let seen = proxy.seen();
    for s in seen.iter().filter(|s| s.is_write()) {
        if let Some(f) = function_of(&s.path) {
            assert!(
                !finished.contains(&f),
                "a write for {f}, which was done: {} {}",
                s.method,
                s.path
            );
        }
    }
    for f in &report.targets[0].functions {
        if finished.contains(&f.function) {
            assert!(
                matches!(f.outcome, Outcome::Unchanged { .. }),
                "{}: {:?}",
                f.function,
                f.outcome
            );
        }
    }
    // The same end state as an uninterrupted run: one version each, `live` on it.
    for job in &jobs {
        let versions = aws.list_versions(&job.spec.name).await.unwrap();
        assert_eq!(versions.len(), 1, "{}: {versions:?}", job.spec.name);
        let live = aws.get_qualified(&job.spec.name, "live").await.unwrap();
        assert_eq!(live.code_sha256, job.package.sha256, "{}", job.spec.name);
        assert_eq!(live.version, versions[0].id);
    }

    // An unchanged redeploy of the whole fleet: two reads a function, no write.
    proxy.clear();
    let again = deliver(targets, jobs, &FleetOptions::default(), quiet()).await.unwrap();
    assert_eq!(again.tally.unchanged, FUNCTIONS, "{again}");
    let seen = proxy.seen();
    assert!(seen.iter().all(|s| !s.is_write()), "a write: {seen:?}");
    assert_eq!(seen.len(), 2 * FUNCTIONS, "reads: {seen:?}");
}

/// The SDK retries on its own; its attempts still pass the target's limiter (the paced HTTP
/// client), so Lambda's throttles cut the rate of the API they hit — and only that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_throttles_reach_the_target_limiter_through_the_sdk() {
    use faas_aws::test_support::{Fault, FaultKind};
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws: Arc<dyn Provider> = Arc::new(proxy.provider(|b| b).await);
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<DeployJob> = jobs(dir.path()).into_iter().take(4).collect();
    // Three throttles of PublishVersion, the first asking for a second's pause.
    proxy.faults.lock().unwrap().extend([
        Fault {
            method: "POST",
            path: "/versions",
            skip: 0,
            times: 1,
            kind: FaultKind::Error {
                status: 429,
                error_type: "TooManyRequestsException",
                retry_after: Some(1),
            },
        },
        Fault {
            method: "POST",
            path: "/versions",
            skip: 0,
            times: 2,
            kind: FaultKind::Error {
                status: 429,
                error_type: "TooManyRequestsException",
                retry_after: None,
            },
        },
    ]);
    let targets = vec![Target::new("us-east-1", aws.clone()).limits(Limits::ceiling(2))];
    let report = deliver(targets, jobs, &FleetOptions::default(), quiet()).await.unwrap();
    assert!(report.converged(), "{report}");
    let rates = &report.targets[0].rates;
    let publish = rates
        .iter()
        .find(|r| r.api == "POST /2015-03-31/functions/*/versions")
        .unwrap_or_else(|| panic!("no publish API in {rates:?}"));
    assert_eq!(publish.throttles, 3, "{publish:?}");
    assert!(publish.lowest_rate < Limits::default().initial_rate, "{publish:?}");
    assert_eq!(
        report.targets[0].throttles(),
        3,
        "no other API was throttled: {rates:?}"
    );
    assert!(
        rates
            .iter()
            .any(|r| r.api == "GET /2015-03-31/functions/*" && r.throttles == 0),
        "{rates:?}"
    );
}

/// The fleet API itself through the fleet tests' faults (10 % mixed, Lambda and S3 paths):
/// fifty functions converge on the first run with one version each, the SDK's throttled
/// attempts reached the target's limiter, and a second delivery is all unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_delivery_converges_through_ten_percent_faults() {
    use faas_aws::test_support::lambda_and_s3;
    use faas_core::conformance::faults::{FaultKind, FaultPlan};
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    proxy.simulate_pending(Duration::from_millis(100));
    // 8 attempts: at 10 % faults, 5 failures running of one call out of ~800 happen about once
    // in a hundred runs (throttles do not count in a delivery; resets and 5xx do).
    let aws: Arc<dyn Provider> = Arc::new(
        proxy
            .provider(|b| {
                b.retry(faas_core::RetryConfig {
                    max_attempts: 8,
                    initial_backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_millis(200),
                    ..faas_core::RetryConfig::default()
                })
            })
            .await,
    );
    let dir = tempfile::tempdir().unwrap();
    let jobs = named_jobs(dir.path(), "fleetf", 50);
    let targets = vec![Target::new("moto", aws.clone()).limits(Limits::ceiling(8))];
    proxy
        .faults()
        .start(FaultPlan::mixed(0.10).seed(5).qualifying(lambda_and_s3));
    let report = deliver(targets.clone(), jobs.clone(), &FleetOptions::default(), quiet())
        .await
        .unwrap();
    proxy.faults().stop();
    assert!(report.converged(), "{report}");
    assert_eq!(report.tally.delivered, 50);
    let lambda_throttles = proxy
        .faults()
        .injected()
        .iter()
        .filter(|i| matches!(i.kind, FaultKind::Throttle { .. }) && i.path.starts_with("/2015-03-31/"))
        .count();
    assert!(lambda_throttles > 0, "the plan throttled Lambda calls");
    assert!(
        report.targets[0].throttles() as usize >= lambda_throttles,
        "each throttled Lambda attempt reached the limiter: {} of {lambda_throttles}: {:?}",
        report.targets[0].throttles(),
        report.targets[0].rates
    );
    for job in &jobs {
        let versions = aws.list_versions(&job.spec.name).await.unwrap();
        assert_eq!(versions.len(), 1, "{}: {versions:?}", job.spec.name);
        let live = aws.get_qualified(&job.spec.name, "live").await.unwrap();
        assert_eq!(live.code_sha256, job.package.sha256);
    }
    proxy
        .faults()
        .start(FaultPlan::mixed(0.10).seed(6).qualifying(lambda_and_s3));
    let again = deliver(targets, jobs, &FleetOptions::default(), quiet()).await.unwrap();
    proxy.faults().stop();
    assert_eq!(again.tally.unchanged, 50, "{again}");
}
