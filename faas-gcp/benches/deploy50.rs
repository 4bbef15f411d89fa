//! Deploys 50 functions to the fake Cloud Functions + Cloud Run one at a time and with bounded
//! concurrency (upload through a signed URL, create, wait for the operation, check the sha256,
//! publish, move `live`), then redeploys them unchanged, counting the calls the fake saw. Run
//! with `benches/gcp_deploy.sh` or `cargo bench -p faas-gcp --bench deploy50`.
//!
//! Operations take `FAAS_BENCH_OPERATION_MS` (default 300 ms) in the fake, as builds and
//! rollouts take time in Google's: both flows make the same waits.
//!
//! Then the faults phase (issue 21): 50 more functions, 8 at a time, through
//! `FaultPlan::mixed(FAAS_BENCH_FAULTS)` (default 0.10; 0 skips it) seeded with
//! `FAAS_BENCH_FAULT_SEED` (default 21), on the fake's fault layer: how many converged on the
//! first run, duplicate versions and revisions, the requests the layer saw, the faults it
//! injected by kind, and the extra requests the faults cost — the requests of this run minus
//! those of the fault-free 8-at-a-time run of the same work above (both counted by the layer):
//! the retries, and the re-reads and waits they lead to. Then an unchanged redeploy through the
//! same faults, counting its writes.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_core::conformance::faults::{FaultKind, FaultPlan};
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
    // Rate 0: the layer only counts, for the faults phase to compare with.
    fake.faults().start(FaultPlan::mixed(0.0));
    let con = run(provider.clone(), jobs.clone(), limit).await;
    fake.faults().stop();
    let clean_requests = fake.faults().requests();
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

    let rate: f64 = std::env::var("FAAS_BENCH_FAULTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.10);
    if rate > 0.0 {
        faults(&fake, provider, dir.path(), rate, limit, clean_requests).await;
    }
}

/// The faults phase (see the module docs).
async fn faults(
    fake: &FakeGcp,
    provider: Arc<dyn Provider>,
    dir: &std::path::Path,
    rate: f64,
    limit: usize,
    clean_requests: usize,
) {
    let seed = env_number("FAAS_BENCH_FAULT_SEED", 21);
    let jobs = work(dir, "flt");
    let plan = FaultPlan::mixed(rate).seed(seed);
    fake.faults().start(plan.clone());
    let t = Instant::now();
    let results = deploy_many(provider.clone(), jobs.clone(), limit).await;
    let took = t.elapsed();
    fake.faults().stop();
    let requests = fake.faults().requests();
    let injected = fake.faults().injected();
    let converged = results.iter().filter(|(_, r)| r.is_ok()).count();
    let (mut duplicate_versions, mut duplicate_revisions) = (0, 0);
    for job in &jobs {
        let versions = provider.list_versions(&job.spec.name).await.map_or(0, |v| v.len());
        duplicate_versions += versions.saturating_sub(1);
        duplicate_revisions += fake.revision_names(&job.spec.name).len().saturating_sub(1);
    }
    let mut kinds = std::collections::BTreeMap::new();
    for i in &injected {
        let kind = match &i.kind {
            FaultKind::Status(s) => format!("status {s}"),
            FaultKind::Throttle { retry_after_s: None } => "throttle".to_string(),
            FaultKind::Throttle { retry_after_s: Some(s) } => format!("throttle, Retry-After {s}"),
            FaultKind::ResetBefore => "reset before".to_string(),
            FaultKind::ResetAfter if i.method != "GET" => "reset after (a write)".to_string(),
            FaultKind::ResetAfter => "reset after (a read)".to_string(),
            FaultKind::Stall(d) => format!("stall {} ms", d.as_millis()),
        };
        *kinds.entry(kind).or_insert(0usize) += 1;
    }

    fake.clear_requests();
    fake.faults().start(plan);
    let again = deploy_many(provider, jobs, limit).await;
    fake.faults().stop();
    let again_ok = again.iter().filter(|(_, r)| r.is_ok()).count();
    let again_writes = fake.writes().len();

    println!(
        "{FUNCTIONS} more functions through {:.0} % mixed faults (seed {seed}), {limit} at a time:",
        rate * 100.0
    );
    println!(
        "  converged on the first run  {converged}/{FUNCTIONS} in {:.2} s",
        took.as_secs_f64()
    );
    for (name, result) in &results {
        if let Err(e) = result {
            println!("    {name}: {e}");
        }
    }
    println!("  duplicate versions          {duplicate_versions} (duplicate revisions {duplicate_revisions})");
    println!("  requests seen               {requests} ({clean_requests} for the same work without faults)");
    println!(
        "  faults injected             {} ({:.1} % of requests)",
        injected.len(),
        100.0 * injected.len() as f64 / requests.max(1) as f64
    );
    for (kind, n) in &kinds {
        println!("    {kind:<24}{n:>4}");
    }
    println!(
        "  retries (extra requests)    {}",
        requests as i64 - clean_requests as i64
    );
    println!("  unchanged redeploy through the same faults: {again_ok}/{FUNCTIONS} ok, {again_writes} writes");
}
