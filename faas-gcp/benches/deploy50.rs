//! Deploys 50 functions to the fake Cloud Functions + Cloud Run one at a time and with bounded
//! concurrency (upload through a signed URL, create, wait for the operation, check the sha256,
//! publish, move `live`), then redeploys them unchanged, counting the calls the fake saw. Run
//! with `benches/gcp_deploy.sh` or `cargo bench -p faas-gcp --bench deploy50`.
//!
//! Operations take `FAAS_BENCH_OPERATION_MS` (default 300 ms) in the fake, as builds and
//! rollouts take time in Google's: both flows make the same waits.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_core::{DeployJob, DeployOptions, FunctionSpec, Package, Provider, ProviderExt, deploy_many};
use faas_gcp::test_support::FakeGcp;
use faas_package::PackageBuilder;

const FUNCTIONS: usize = 50;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn work(dir: &std::path::Path, prefix: &str) -> Vec<DeployJob> {
    (0..FUNCTIONS)
        .map(|i| {
            let name = format!("{prefix}-fn-{i}");
            let src = dir.join(&name);
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(
                src.join("main.py"),
                format!("def main(request):\n    return 'fn {i}'\n"),
            )
            .unwrap();
            let package: Package = PackageBuilder::new(&src)
                .runtime("python312".parse().unwrap())
                .handler("main.main")
                .output(dir.join(format!("{name}.zip")))
                .build()
                .unwrap();
            DeployJob {
                spec: FunctionSpec::new(name, "python312".parse().unwrap(), "main.main").memory_mb(256),
                package,
                options: DeployOptions {
                    publish: true,
                    label: Some("live".into()),
                    ..DeployOptions::default()
                },
            }
        })
        .collect()
}

async fn run(provider: Arc<dyn Provider>, jobs: Vec<DeployJob>, limit: usize) -> Duration {
    let t = Instant::now();
    if limit == 1 {
        for job in &jobs {
            provider
                .deploy_package(&job.spec, &job.package, &job.options)
                .await
                .unwrap();
        }
    } else {
        for (name, result) in deploy_many(provider, jobs, limit).await {
            result.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    t.elapsed()
}

fn calls(fake: &FakeGcp) -> (usize, usize) {
    let all: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| !r.contains("/token") && !r.contains(":generateIdToken"))
        .collect();
    let writes = fake.writes().len();
    (all.len() - writes, writes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let op_ms = env_number("FAAS_BENCH_OPERATION_MS", 300);
    let limit = env_number("FAAS_BENCH_CONCURRENCY", 8) as usize;
    let fake = FakeGcp::start().await;
    fake.set_operation_time(Duration::from_millis(op_ms));
    // Polling as a deployer would (first look after 100 ms, growing to 1 s).
    let poll = faas_core::PollPolicy {
        interval: Duration::from_millis(100),
        max_interval: Duration::from_secs(1),
        ..faas_core::PollPolicy::default()
    };
    let provider: Arc<dyn Provider> = Arc::new(fake.builder().poll(poll).build().await.unwrap());
    let dir = tempfile::tempdir().unwrap();

    fake.clear_requests();
    let seq = run(provider.clone(), work(dir.path(), "seq"), 1).await;
    let (seq_reads, seq_writes) = calls(&fake);

    let jobs = work(dir.path(), "con");
    fake.clear_requests();
    let con = run(provider.clone(), jobs.clone(), limit).await;
    let (con_reads, con_writes) = calls(&fake);

    fake.clear_requests();
    let again = run(provider.clone(), jobs.clone(), limit).await;
    let (re_reads, re_writes) = calls(&fake);
    let mut versions = 0;
    for job in &jobs {
        versions += provider.list_versions(&job.spec.name).await.unwrap().len();
    }

    println!(
        "first deploy of {FUNCTIONS} functions (upload, create, check, publish, live; operations take {op_ms} ms):"
    );
    println!(
        "  one at a time   {:>7.2} s  {seq_reads} reads, {seq_writes} writes",
        seq.as_secs_f64()
    );
    println!(
        "  {limit} at a time     {:>7.2} s  {con_reads} reads, {con_writes} writes",
        con.as_secs_f64()
    );
    println!("  speedup         {:>7.2}x", seq.as_secs_f64() / con.as_secs_f64());
    println!("unchanged redeploy, {limit} at a time:");
    println!(
        "  {:>7.2} s  {re_reads} reads ({:.1} per function), {re_writes} writes, {versions} versions for {FUNCTIONS} functions",
        again.as_secs_f64(),
        re_reads as f64 / FUNCTIONS as f64,
    );
}
