//! Fifty function apps delivered (package blob, app created with its run-from-package URL,
//! triggers synced, code checked, a version published, the `live` label's slot pointed at it)
//! through 10 % injected faults on ARM and Blob storage — throttles with and without
//! `Retry-After`, 503s and 500s, connections dropped before and after the request was carried
//! out, one-second stalls — converge on the first run with one version each; an unchanged
//! redeploy through the same faults changes nothing. Then one fault on one request, for the
//! writes a lost answer could make twice: the create, the publish, the label's slot.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_azure::test_support::{Azurite, BlobFaults, FakeAzure, Fault, delivery_request, marked_package};
use faas_azure::{AzureProvider, DeployMethod, Hosting};
use faas_core::conformance::faults::{FaultKind, FaultPlan, Faults, Injected};
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Provider, ProviderExt, deploy_many};

const FUNCTIONS: usize = 50;

/// The fake (ARM, Kudu), Azurite behind the fault proxy, one fault handle for both, and a
/// provider through them.
struct Rig {
    fake: FakeAzure,
    blobs: BlobFaults,
    faults: Faults,
    provider: Arc<AzureProvider>,
    _azurite: Azurite,
}

/// How the apps are hosted and their code deployed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Setup {
    /// Premium, run from package (the default).
    RunFromPackage,
    /// Premium, Kudu zipdeploy.
    ZipDeploy,
    /// Flex Consumption: OneDeploy, no slots (so no label).
    Flex,
}

async fn rig() -> Option<Rig> {
    rig_deploying(Setup::RunFromPackage).await
}

async fn rig_deploying(setup: Setup) -> Option<Rig> {
    let azurite = Azurite::start().await?;
    let fake = FakeAzure::start().await;
    fake.set_operation_time(Duration::from_millis(40));
    let faults = fake.faults().clone();
    let blobs = azurite.with_faults_of(&faults).await;
    // 8 attempts a call: at 10 % faults one call of a 50-app run's ~1,500 fails 5 times
    // running about once in a hundred runs with the default 5; 8 make it one in 1e8.
    let patient = faas_core::RetryConfig {
        max_attempts: 8,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..faas_core::RetryConfig::default()
    };
    let provider = Arc::new(
        match setup {
            Setup::RunFromPackage => fake.builder(&blobs.blob_endpoint),
            Setup::ZipDeploy => fake
                .builder(&blobs.blob_endpoint)
                .deploy_method(DeployMethod::ZipDeploy),
            Setup::Flex => fake.builder(&blobs.blob_endpoint).hosting(Hosting::Flex),
        }
        .retry(patient)
        .build()
        .await
        .unwrap(),
    );
    Some(Rig {
        fake,
        blobs,
        faults,
        provider,
        _azurite: azurite,
    })
}

fn job(dir: &std::path::Path, name: &str) -> DeployJob {
    job_for(dir, name, Setup::RunFromPackage)
}

/// Deliver `name`: publish a version and point `live` at it (Flex: 2 GB instances, no label).
fn job_for(dir: &std::path::Path, name: &str, setup: Setup) -> DeployJob {
    let spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app");
    let flex = setup == Setup::Flex;
    DeployJob {
        spec: if flex { spec.memory_mb(2048) } else { spec },
        package: marked_package(dir, name),
        options: DeployOptions {
            publish: true,
            label: (!flex).then(|| "live".into()),
            ..DeployOptions::default()
        },
    }
}

fn write(i: &Injected) -> bool {
    i.method != "GET" && i.method != "HEAD"
}

/// Each function runs its package in production and in its `live` slot (if it has a label),
/// has exactly one version, of that package, and `live` routes to it.
async fn converged(rig: &Rig, jobs: &[DeployJob]) {
    for job in jobs {
        let name = &job.spec.name;
        let versions = rig.provider.list_versions(name).await.unwrap();
        assert_eq!(versions.len(), 1, "{name}: {versions:?}");
        assert_eq!(versions[0].code_sha256, job.package.sha256, "{name}");
        let mut hosts = vec![name.clone()];
        if job.options.label.is_some() {
            let live = rig.provider.get_label(name, "live").await.unwrap();
            assert_eq!(live.routing.primary, versions[0].id, "{name}");
            hosts.push(format!("{name}-live"));
        }
        assert_eq!(rig.provider.get(name).await.unwrap().code_sha256, job.package.sha256);
        for host in hosts {
            let loaded = rig.fake.loaded_code(&host);
            assert_eq!(
                loaded.as_ref(),
                Some(&job.package.sha256),
                "{host}: {}",
                trail(rig, name)
            );
        }
    }
}

/// What the fake served `app` and the faults it met, for a failure's message.
fn trail(rig: &Rig, app: &str) -> String {
    let ours = |path: &str| {
        path.contains(&format!("/{app}/")) || path.contains(&format!("/{app}?")) || path.ends_with(&format!("/{app}"))
    };
    let served: Vec<String> = rig.fake.requests().into_iter().filter(|r| ours(r)).collect();
    let met: Vec<Injected> = rig.faults.injected().into_iter().filter(|i| ours(&i.path)).collect();
    format!("served {served:#?}\nfaults {met:#?}")
}

async fn fifty_through_mixed_faults(seed: u64, setup: Setup) {
    let Some(rig) = rig_deploying(setup).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<DeployJob> = (0..FUNCTIONS)
        .map(|i| job_for(dir.path(), &format!("f{seed}-app-{i}"), setup))
        .collect();
    let started = Instant::now();
    rig.faults
        .start(FaultPlan::mixed(0.10).qualifying(delivery_request).seed(seed));
    let results = deploy_many(rig.provider.clone(), jobs.clone(), 8).await;
    rig.faults.stop();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {FUNCTIONS} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    for (name, r) in &results {
        let report = r.as_ref().unwrap();
        assert!(report.change.created, "{name}: {report:?}");
        assert_eq!(report.version.as_ref().map(|v| v.id.as_str()), Some("1"), "{name}");
    }
    // The faults happened: every kind, and a lost answer to a write.
    let injected = rig.faults.injected();
    let has = |f: fn(&FaultKind) -> bool| injected.iter().any(|i| f(&i.kind));
    assert!(has(|k| matches!(k, FaultKind::Throttle { retry_after_s: Some(_) })));
    assert!(has(|k| matches!(k, FaultKind::Throttle { retry_after_s: None })));
    assert!(has(|k| matches!(k, FaultKind::Status(503))));
    assert!(has(|k| matches!(k, FaultKind::Status(500))));
    assert!(has(|k| matches!(k, FaultKind::ResetBefore)));
    assert!(has(|k| matches!(k, FaultKind::Stall(_))));
    assert!(
        injected.iter().any(|i| i.kind == FaultKind::ResetAfter && write(i)),
        "no lost answer to a write: {injected:?}"
    );
    assert!(
        injected.iter().any(|i| i.path.starts_with("/subscriptions/"))
            && injected.iter().any(|i| i.path.starts_with("/devstoreaccount1/")),
        "faults on ARM and on Blob storage"
    );
    if setup != Setup::RunFromPackage {
        assert!(injected.iter().any(|i| i.path.starts_with("/scm/")), "faults on Kudu");
    }
    eprintln!(
        "seed {seed}: {} requests, {} faults ({} lost answers to writes) in {:.1} s",
        rig.faults.requests(),
        injected.len(),
        injected
            .iter()
            .filter(|i| i.kind == FaultKind::ResetAfter && write(i))
            .count(),
        started.elapsed().as_secs_f64()
    );
    converged(&rig, &jobs).await;
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());

    // An unchanged redeploy through the same faults: no write reaches ARM or Blob storage.
    rig.fake.clear_requests();
    rig.blobs.clear_requests();
    rig.faults
        .start(FaultPlan::mixed(0.10).qualifying(delivery_request).seed(seed + 1000));
    let again = deploy_many(rig.provider.clone(), jobs.clone(), 8).await;
    rig.faults.stop();
    for (name, r) in &again {
        let report = r.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.change.is_noop(), "{name}: {report:?}");
        assert_eq!(report.version.as_ref().map(|v| v.id.as_str()), Some("1"), "{name}");
    }
    assert!(!rig.faults.injected().is_empty(), "the redeploy met faults too");
    assert_eq!(rig.fake.writes(), Vec::<String>::new());
    assert_eq!(rig.blobs.writes(), Vec::<String>::new());
    converged(&rig, &jobs).await;
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_apps_converge_through_mixed_faults_seed_7() {
    fifty_through_mixed_faults(7, Setup::RunFromPackage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_apps_converge_through_mixed_faults_seed_2024() {
    fifty_through_mixed_faults(2024, Setup::RunFromPackage).await;
}

/// Kudu zipdeploy pushes (and their deployment polls) through the same faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_zip_deployed_apps_converge_through_mixed_faults() {
    fifty_through_mixed_faults(99, Setup::ZipDeploy).await;
}

/// Flex Consumption: OneDeploy pushes and ARM's deployment status through the same faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_flex_apps_converge_through_mixed_faults() {
    fifty_through_mixed_faults(31, Setup::Flex).await;
}

/// Delivers one function after `arrange` queued its fault, and checks it converged: one
/// version, `live` on it, the code loaded.
/// (`None` outside CI without Azurite.) Returns the rig and how long the delivery took.
async fn one_fault(name: &str, arrange: impl FnOnce(&Rig)) -> Option<(Rig, Duration)> {
    let rig = rig().await?;
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), name);
    arrange(&rig);
    let started = Instant::now();
    let report = rig
        .provider
        .deploy_package(&job.spec, &job.package, &job.options)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(report.version.as_ref().map(|v| v.id.as_str()), Some("1"));
    converged(&rig, std::slice::from_ref(&job)).await;
    Some((rig, took))
}

fn count(requests: &[String], prefix: &str) -> usize {
    requests.iter().filter(|r| r.starts_with(prefix)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_makes_one_app() {
    let site = "/Microsoft.Web/sites/lost-create?";
    let Some((rig, _)) = one_fault("lost-create", |rig| {
        // The creation outlasts the retry, which meets it running (409).
        rig.fake.set_operation_time(Duration::from_millis(600));
        rig.fake
            .fail_next("PUT", "/sites/lost-create", Fault::Kind(FaultKind::ResetAfter))
    })
    .await
    else {
        return;
    };
    let puts: Vec<String> = rig
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT ") && r.contains(site))
        .collect();
    assert_eq!(
        puts.len(),
        3,
        "the create was carried out, sent again (409: it runs), then sent once it was done: {puts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_answer_is_lost_makes_one_version() {
    let Some((rig, _)) = one_fault("lost-publish", |rig| {
        rig.blobs
            .fail_next("PUT", "/lost-publish/versions/", FaultKind::ResetAfter)
    })
    .await
    else {
        return;
    };
    let puts = count(
        &rig.blobs.writes(),
        "PUT /devstoreaccount1/faas-packages/lost-publish/versions/",
    );
    assert!(
        puts >= 2,
        "the version record was written, then its create sent again: {:?}",
        rig.blobs.writes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_write_whose_answer_is_lost_makes_one_slot() {
    let Some((rig, _)) = one_fault("lost-label", |rig| {
        // The slot's creation outlasts the retry, which meets it running (409).
        rig.fake.set_operation_time(Duration::from_millis(600));
        rig.fake.fail_next(
            "PUT",
            "/sites/lost-label/slots/live",
            Fault::Kind(FaultKind::ResetAfter),
        )
    })
    .await
    else {
        return;
    };
    let puts = rig
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/sites/lost-label/slots/live?"))
        .count();
    assert_eq!(
        puts, 3,
        "the slot's create was carried out, sent again (409: it runs), then sent once it was done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_answer_is_lost_is_sent_again() {
    let Some((rig, _)) = one_fault("lost-upload", |rig| {
        rig.blobs.fail_next("PUT", "/lost-upload/", FaultKind::ResetAfter)
    })
    .await
    else {
        return;
    };
    assert!(count(&rig.blobs.writes(), "PUT /devstoreaccount1/faas-packages/lost-upload/") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_dropped_before_an_answer_are_sent_again() {
    let Some((rig, _)) = one_fault("dropped-read", |rig| {
        rig.fake
            .fail_next("GET", "/sites/dropped-read", Fault::Kind(FaultKind::ResetBefore));
        rig.blobs.fail_next("HEAD", "/dropped-read/", FaultKind::ResetBefore);
        rig.blobs
            .fail_next("GET", "/dropped-read/versions/", FaultKind::Status(500));
    })
    .await
    else {
        return;
    };
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());
}

/// A throttle's `Retry-After` is waited (real time: one second), on ARM and on Blob storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_wait_their_retry_after() {
    let Some((rig, took)) = one_fault("throttled-app", |rig| {
        rig.fake.fail_next(
            "GET",
            "/sites/throttled-app",
            Fault::Kind(FaultKind::Throttle { retry_after_s: Some(1) }),
        );
        rig.blobs.fail_next(
            "HEAD",
            "/throttled-app/",
            FaultKind::Throttle { retry_after_s: Some(1) },
        );
    })
    .await
    else {
        return;
    };
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());
}

/// Entra's token endpoint is outside [`delivery_request`] (azure_identity's retries are its
/// own); one 503 there is still ridden out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_that_fails_is_asked_again() {
    // The provider's first ARM call asks Entra for a token: answered 503, then asked again
    // (azure_identity retries it).
    let Some((rig, _)) = one_fault("token-app", |rig| {
        rig.fake
            .fail_next("POST", "/oauth2/v2.0/token", Fault::Kind(FaultKind::Status(503)));
    })
    .await
    else {
        return;
    };
    assert_eq!(rig.fake.unmet_faults(), 0, "the token request met its fault");
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());
}

/// The fleet API itself (`fleet::deliver`: plan first, the target's limiter pacing every
/// retry) through the same faults on ARM, Kudu and Blob storage: fifty apps converge on the
/// first run, the throttles reached the limiter under API names without the app's, and a
/// second delivery through faults leaves every app `unchanged`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_delivery_converges_through_ten_percent_faults_and_its_limiter_sees_the_throttles() {
    use faas_core::fleet::{FleetEvent, FleetObserver, FleetOptions, Limits, Target, deliver};
    let Some(rig) = rig().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<DeployJob> = (0..FUNCTIONS)
        .map(|i| job(dir.path(), &format!("fleet-app-{i}")))
        .collect();
    let provider: Arc<dyn Provider> = rig.provider.clone();
    let targets = vec![Target::new("azure-fake", provider).limits(Limits::ceiling(8))];
    let quiet = || -> Arc<dyn FleetObserver> { Arc::new(|_: &FleetEvent<'_>| {}) };
    rig.faults
        .start(FaultPlan::mixed(0.10).qualifying(delivery_request).seed(17));
    let report = deliver(targets.clone(), jobs.clone(), &FleetOptions::default(), quiet())
        .await
        .unwrap();
    rig.faults.stop();
    assert!(report.converged(), "{report}");
    assert_eq!(report.tally.delivered, FUNCTIONS);
    let arm_throttles = rig
        .faults
        .injected()
        .iter()
        .filter(|i| matches!(i.kind, FaultKind::Throttle { .. }) && i.path.starts_with("/subscriptions/"))
        .count();
    assert!(arm_throttles > 0, "the plan throttled ARM calls");
    let rates = &report.targets[0].rates;
    assert!(report.targets[0].throttles() > 0, "{rates:?}");
    let named: Vec<&str> = rates
        .iter()
        .map(|r| r.api.as_str())
        .filter(|a| a.contains("fleet-app-"))
        .collect();
    assert!(named.is_empty(), "API keys leave the app out: {named:?}");
    assert!(
        rates.len() < 40,
        "{} APIs: {:?}",
        rates.len(),
        rates.iter().map(|r| &r.api).collect::<Vec<_>>()
    );
    converged(&rig, &jobs).await;
    assert_eq!(rig.fake.take_violations(), Vec::<String>::new());

    rig.faults
        .start(FaultPlan::mixed(0.10).qualifying(delivery_request).seed(18));
    let again = deliver(targets, jobs, &FleetOptions::default(), quiet()).await.unwrap();
    rig.faults.stop();
    assert_eq!(again.tally.unchanged, FUNCTIONS, "{again}");
}
