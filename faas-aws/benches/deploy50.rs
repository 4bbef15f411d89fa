//! Deploys 50 functions to moto one at a time and with bounded concurrency (same waits and
//! checks: upload, deploy, CodeSha256 check, publish, alias), then redeploys them unchanged,
//! counting the requests the server saw; then delivers 50 more through injected faults
//! (`FAAS_BENCH_FAULTS`, default 0.10 of the Lambda and S3 requests, the fleet tests' mix;
//! `0` skips it; `FAAS_BENCH_SEED`, default 1). Run with `benches/aws_deploy.sh` or
//! `cargo bench -p faas-aws --bench deploy50` (needs moto_server; see scripts/test.sh).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use faas_aws::test_support::{Moto, Proxy, ROLE, lambda_and_s3};
use faas_core::conformance::faults::{FaultKind, FaultPlan};
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Package, Provider, ProviderExt, deploy_many};
use faas_package::PackageBuilder;

const FUNCTIONS: usize = 50;

fn packages(dir: &std::path::Path, prefix: &str) -> Vec<(FunctionSpec, Package)> {
    (0..FUNCTIONS)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            let src = dir.join(&name);
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(
                src.join("lambda_function.py"),
                format!("def lambda_handler(event, context):\n    return {{'fn': {i}}}\n"),
            )
            .unwrap();
            let pkg = PackageBuilder::new(&src)
                .runtime("python3.12".parse().unwrap())
                .handler("lambda_function.lambda_handler")
                .output(dir.join(format!("{name}.zip")))
                .build()
                .unwrap();
            let spec =
                FunctionSpec::new(name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler").role(ROLE);
            (spec, pkg)
        })
        .collect()
}

fn opts() -> DeployOptions {
    DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    }
}

fn jobs(work: Vec<(FunctionSpec, Package)>) -> Vec<DeployJob> {
    work.into_iter()
        .map(|(spec, package)| DeployJob {
            spec,
            package,
            options: opts(),
        })
        .collect()
}

async fn concurrently(provider: Arc<dyn Provider>, work: Vec<(FunctionSpec, Package)>, limit: usize) {
    for (name, result) in deploy_many(provider, jobs(work), limit).await {
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 50 functions through `rate` of mixed faults, `limit` at a time: what converged, the
/// versions beyond one per function, and the requests and faults the proxy saw.
/// `fault_free` is the requests of the same work without faults (the second phase).
async fn through_faults(
    proxy: &Proxy,
    provider: Arc<dyn Provider>,
    dir: &std::path::Path,
    limit: usize,
    fault_free: usize,
) {
    let rate: f64 = env_or("FAAS_BENCH_FAULTS", 0.10);
    if rate <= 0.0 {
        return;
    }
    let seed: u64 = env_or("FAAS_BENCH_SEED", 1);
    let work = packages(dir, "flt");
    proxy.clear();
    proxy
        .faults()
        .start(FaultPlan::mixed(rate).seed(seed).qualifying(lambda_and_s3));
    let t = Instant::now();
    let results = deploy_many(provider.clone(), jobs(work.clone()), limit).await;
    let time = t.elapsed();
    proxy.faults().stop();
    let requests = proxy.faults().requests();
    let injected = proxy.faults().injected();
    let converged = results.iter().filter(|(_, r)| r.is_ok()).count();
    let mut duplicates = 0;
    for (spec, _) in &work {
        duplicates += provider
            .list_versions(&spec.name)
            .await
            .map_or(0, |v| v.len().saturating_sub(1));
    }
    let mut by_kind = std::collections::BTreeMap::<String, usize>::new();
    for i in &injected {
        let kind = match &i.kind {
            FaultKind::Throttle { retry_after_s: Some(s) } => format!("429 Retry-After {s}"),
            FaultKind::Throttle { retry_after_s: None } => "429".into(),
            FaultKind::Status(s) => s.to_string(),
            FaultKind::ResetBefore => "reset before".into(),
            FaultKind::ResetAfter => "reset after".into(),
            FaultKind::Stall(d) => format!("stall {} s", d.as_secs_f64()),
        };
        *by_kind.entry(kind).or_default() += 1;
    }
    let stalls = injected
        .iter()
        .filter(|i| matches!(i.kind, FaultKind::Stall(_)))
        .count();
    println!(
        "through {:.0} % injected faults (seed {seed}, Lambda and S3 requests), {limit} at a time:",
        rate * 100.0
    );
    println!(
        "  {:>7.2} s  converged {converged}/{FUNCTIONS} on the first run, {duplicates} duplicate versions",
        time.as_secs_f64()
    );
    println!("  {requests} requests, {} faults injected: {by_kind:?}", injected.len());
    println!(
        "  retries: {} (every fault but a stall fails one attempt, which the SDK retries); {:+} requests against the fault-free run ({fault_free}; the waits' polls vary)",
        injected.len() - stalls,
        requests as i64 - fault_free as i64
    );
    for (name, r) in &results {
        if let Err(e) = r {
            println!("  failed {name}: {e}");
        }
    }
}

fn counts(proxy: &Proxy) -> (usize, usize) {
    let seen = proxy.seen();
    let writes = seen.iter().filter(|s| s.is_write()).count();
    (seen.len() - writes, writes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let moto = Moto::start()
        .await
        .expect("moto_server is needed: run scripts/test.sh once to install it");
    let proxy = Proxy::start(&moto.url).await;
    // Lambda creates and updates asynchronously (State=Pending, LastUpdateStatus=InProgress);
    // moto does not, so the proxy simulates it: both flows make the same waits.
    let pending_ms: u64 = std::env::var("FAAS_BENCH_PENDING_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    proxy.simulate_pending(std::time::Duration::from_millis(pending_ms));
    let provider: Arc<dyn Provider> = Arc::new(proxy.provider(|b| b).await);
    let dir = tempfile::tempdir().unwrap();
    let limit: usize = std::env::var("FAAS_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);

    let sequential = packages(dir.path(), "seq");
    proxy.clear();
    let t = Instant::now();
    for (spec, pkg) in &sequential {
        provider.deploy_package(spec, pkg, &opts()).await.unwrap();
    }
    let seq_time = t.elapsed();
    let (seq_reads, seq_writes) = counts(&proxy);

    let parallel = packages(dir.path(), "con");
    proxy.clear();
    let t = Instant::now();
    concurrently(provider.clone(), parallel.clone(), limit).await;
    let con_time = t.elapsed();
    let (con_reads, con_writes) = counts(&proxy);

    proxy.clear();
    let t = Instant::now();
    concurrently(provider.clone(), parallel.clone(), limit).await;
    let re_time = t.elapsed();
    let (re_reads, re_writes) = counts(&proxy);
    let mut versions = 0;
    for (spec, _) in &parallel {
        versions += provider.list_versions(&spec.name).await.unwrap().len();
    }

    println!(
        "first deploy of {FUNCTIONS} functions (upload, deploy, check, publish, alias; {pending_ms} ms simulated Pending):"
    );
    println!(
        "  one at a time        {:>7.2} s  {seq_reads} reads, {seq_writes} writes",
        seq_time.as_secs_f64()
    );
    println!(
        "  {limit} at a time          {:>7.2} s  {con_reads} reads, {con_writes} writes",
        con_time.as_secs_f64()
    );
    println!(
        "  speedup              {:>7.2}x",
        seq_time.as_secs_f64() / con_time.as_secs_f64()
    );
    println!("unchanged redeploy, {limit} at a time:");
    println!(
        "  {:>7.2} s  {re_reads} reads ({:.1} per function), {re_writes} writes, {} versions for {FUNCTIONS} functions",
        re_time.as_secs_f64(),
        re_reads as f64 / FUNCTIONS as f64,
        versions
    );
    through_faults(&proxy, provider.clone(), dir.path(), limit, con_reads + con_writes).await;
}
