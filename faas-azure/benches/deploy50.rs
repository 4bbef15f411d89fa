//! Deploys 50 function apps to the fake ARM + Kudu with Azurite one at a time and with
//! bounded concurrency (upload the package blob, create the app with its run-from-package
//! SAS URL, sync triggers, check the sha256, publish a version record, point the `staging`
//! slot at it), then redeploys them unchanged, counting the calls the fake saw. Run with
//! `benches/azure_deploy.sh` (it installs Azurite like the tests do).
//!
//! ARM operations take `FAAS_BENCH_OPERATION_MS` (default 300 ms) in the fake.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_azure::test_support::{Azurite, FakeAzure};
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
}
