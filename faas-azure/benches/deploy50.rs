//! Deploys 50 function apps to the fake ARM + Kudu with Azurite one at a time and with
//! bounded concurrency (upload the package blob, create the app with its run-from-package
//! SAS URL, sync triggers, check the sha256, publish a version record, point the `staging`
//! slot at it), then redeploys them unchanged, counting the calls the fake saw. Run with
//! `benches/azure_deploy.sh` (it installs Azurite like the tests do).
//!
//! ARM operations take `FAAS_BENCH_OPERATION_MS` (default 300 ms) in the fake.
//!
//! Then the faults phase: 50 more apps delivered the same way through the shared fault layer
//! in front of ARM, Kudu and Blob storage (`FaultPlan::mixed(FAAS_BENCH_FAULTS)`, default
//! 0.10, seed `FAAS_BENCH_SEED`, default 7): how many converged on the first run, duplicate
//! versions, the requests the layer saw, the faults it injected by kind, and the retries — the
//! requests beyond those of a fault-free run of the same work on a fresh provider (they
//! include the extra polls waiting out stalls and `Retry-After` take).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_azure::test_support::{Azurite, FakeAzure, delivery_request};
use faas_core::conformance::faults::FaultPlan;
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Package, Provider, deploy_many};
use faas_package::PackageBuilder;

const FUNCTIONS: usize = 50;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn jobs(dir: &std::path::Path, prefix: &str) -> Vec<DeployJob> {
    (0..FUNCTIONS)
        .map(|i| {
            let name = format!("{prefix}-app-{i}");
            let src = dir.join(&name);
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(
                src.join("function_app.py"),
                format!("# app {i}\nimport azure.functions as func\napp = func.FunctionApp()\n"),
            )
            .unwrap();
            let package: Package = PackageBuilder::new(&src)
                .runtime("python3.12".parse().unwrap())
                .handler("function_app.app")
                .output(dir.join(format!("{name}.zip")))
                .build()
                .unwrap();
            DeployJob {
                spec: FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app"),
                package,
                options: DeployOptions {
                    publish: true,
                    label: Some("staging".into()),
                    ..DeployOptions::default()
                },
            }
        })
        .collect()
}

async fn timed(provider: Arc<dyn Provider>, work: Vec<DeployJob>, limit: usize) -> Duration {
    let t = Instant::now();
    for (name, result) in deploy_many(provider, work, limit).await {
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    t.elapsed()
}

fn counted(fake: &FakeAzure) -> (usize, usize) {
    let all = fake.requests().into_iter().filter(|r| !r.contains("/oauth2/")).count();
    let writes = fake.writes().len();
    (all - writes, writes)
}

/// What a run through the fault layer did: converged apps, duplicate versions, requests the
/// layer saw, faults by kind, wall time.
struct FaultRun {
    converged: usize,
    duplicates: usize,
    requests: usize,
    injected: BTreeMap<String, usize>,
    took: Duration,
}

async fn through_faults(
    azurite: &Azurite,
    op_ms: u64,
    limit: usize,
    poll: faas_core::PollPolicy,
    work: Vec<DeployJob>,
    plan: FaultPlan,
) -> FaultRun {
    let fake = FakeAzure::start().await;
    fake.set_operation_time(Duration::from_millis(op_ms));
    let blobs = azurite.with_faults_of(fake.faults()).await;
    let provider: Arc<dyn Provider> = Arc::new(fake.builder(&blobs.blob_endpoint).poll(poll).build().await.unwrap());
    fake.faults().start(plan);
    let t = Instant::now();
    let results = deploy_many(provider.clone(), work, limit).await;
    let took = t.elapsed();
    fake.faults().stop();
    let mut converged = 0;
    let mut duplicates = 0;
    for (name, result) in &results {
        match result {
            Ok(_) => converged += 1,
            Err(e) => println!("  {name} did not converge: {e}"),
        }
        duplicates += provider
            .list_versions(name)
            .await
            .map_or(0, |v| v.len().saturating_sub(1));
    }
    let mut injected = BTreeMap::new();
    for i in fake.faults().injected() {
        *injected.entry(format!("{:?}", i.kind)).or_insert(0) += 1;
    }
    assert_eq!(fake.take_violations(), Vec::<String>::new());
    FaultRun {
        converged,
        duplicates,
        requests: fake.faults().requests(),
        injected,
        took,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let azurite = Azurite::start()
        .await
        .expect("Azurite is needed: run benches/azure_deploy.sh");
    let op_ms = setting("FAAS_BENCH_OPERATION_MS", 300);
    let limit = setting("FAAS_BENCH_CONCURRENCY", 8) as usize;
    let fake = FakeAzure::start().await;
    fake.set_operation_time(Duration::from_millis(op_ms));
    let poll = faas_core::PollPolicy {
        interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(1),
        ..faas_core::PollPolicy::default()
    };
    let provider: Arc<dyn Provider> = Arc::new(fake.builder(&azurite.blob_endpoint).poll(poll).build().await.unwrap());
    let dir = tempfile::tempdir().unwrap();

    fake.clear_requests();
    let seq = timed(provider.clone(), jobs(dir.path(), "seq"), 1).await;
    let (seq_reads, seq_writes) = counted(&fake);

    let work = jobs(dir.path(), "con");
    fake.clear_requests();
    let con = timed(provider.clone(), work.clone(), limit).await;
    let (con_reads, con_writes) = counted(&fake);

    fake.clear_requests();
    let again = timed(provider.clone(), work.clone(), limit).await;
    let (re_reads, re_writes) = counted(&fake);
    let mut versions = 0;
    for job in &work {
        versions += provider.list_versions(&job.spec.name).await.unwrap().len();
    }

    println!(
        "first deploy of {FUNCTIONS} apps (blob, create, sync, check, publish, staging slot; operations take {op_ms} ms):"
    );
    println!(
        "  one at a time   {:>7.2} s  {seq_reads} ARM reads, {seq_writes} writes",
        seq.as_secs_f64()
    );
    println!(
        "  {limit} at a time     {:>7.2} s  {con_reads} ARM reads, {con_writes} writes",
        con.as_secs_f64()
    );
    println!("  speedup         {:>7.2}x", seq.as_secs_f64() / con.as_secs_f64());
    println!("unchanged redeploy, {limit} at a time:");
    println!(
        "  {:>7.2} s  {re_reads} ARM reads ({:.1} per app; blob calls go to Azurite and are not counted), {re_writes} writes, {versions} versions for {FUNCTIONS} apps",
        again.as_secs_f64(),
        re_reads as f64 / FUNCTIONS as f64,
    );

    let rate: f64 = std::env::var("FAAS_BENCH_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.10);
    let seed = setting("FAAS_BENCH_SEED", 7);
    let clean = through_faults(
        &azurite,
        op_ms,
        limit,
        poll,
        jobs(dir.path(), "ok"),
        FaultPlan::mixed(0.0).qualifying(delivery_request),
    )
    .await;
    let faulty = through_faults(
        &azurite,
        op_ms,
        limit,
        poll,
        jobs(dir.path(), "flt"),
        FaultPlan::mixed(rate).qualifying(delivery_request).seed(seed),
    )
    .await;
    println!(
        "through {:.0} % injected faults (mixed, seed {seed}; ARM, Kudu and Blob), {limit} at a time:",
        rate * 100.0
    );
    println!(
        "  converged on the first run  {}/{FUNCTIONS}   duplicate versions {}   {:.2} s (fault-free {:.2} s)",
        faulty.converged,
        faulty.duplicates,
        faulty.took.as_secs_f64(),
        clean.took.as_secs_f64()
    );
    println!(
        "  requests {} (fault-free run of the same work: {}; converged {}/{FUNCTIONS})   retries {}",
        faulty.requests,
        clean.requests,
        clean.converged,
        faulty.requests as i64 - clean.requests as i64
    );
    let total: usize = faulty.injected.values().sum();
    println!("  faults injected {total}:");
    for (kind, n) in &faulty.injected {
        println!("    {n:>4}  {kind}");
    }
}
