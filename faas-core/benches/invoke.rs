//! Local invoke overhead, all measured in the same run (see `benches/invoke.sh`):
//!
//! 1. sequential warm invocations of the hello-python example (one environment kept) against
//!    as many cold ones (a provider that keeps no environment warm) and the bare interpreter
//!    (`python3 -c pass`): p50 / p99 / max wall time per call (`Invocation::elapsed`: from
//!    the call to the answer, a cold start's spawn and init included), the total wall time,
//!    and the REPORT `Duration` p50 (the handler alone), so that what faas adds shows;
//! 2. the same function through [`LocalProvider::serve`]'s Invoke API over HTTP (reqwest):
//!    one client, then concurrent clients (each its own connection, the pool one environment
//!    per client): per-call p50 / p99 and the throughput;
//! 3. when `benches/invoke.sh` started `cargo lambda watch` (`FAAS_BENCH_CARGO_LAMBDA=1`),
//!    the round trip of the same Rust function (examples/functions/hello-rust) through its
//!    emulator and through ours.
//!
//! Then the ratios of each against its baseline.
//!
//! `FAAS_BENCH_WARM` and `FAAS_BENCH_COLD` (default 1000 each), `FAAS_BENCH_PYTHON` (50),
//! `FAAS_BENCH_SERVE` (calls through serve for each client count, default 1000),
//! `FAAS_BENCH_CLIENTS` (default 8), `FAAS_BENCH_ANCHOR` (round trips of each emulator, default
//! 500) set the numbers; `FAAS_BENCH_MEMORY` the Python function's memory (default 128 MB,
//! where cgroups give it 128/1769 of a CPU, as Lambda does: expect throttled cold starts and a
//! throttled warm call whenever a 100 ms period's quota runs out). `FAAS_BENCH_CARGO_LAMBDA_URL`
//! (cargo lambda watch's address) and `FAAS_BENCH_RUST_BOOTSTRAP` (the hello-rust binary) turn
//! part 3 on; `FAAS_BENCH_ANCHOR_MEMORY` is the Rust function's memory on our side (default
//! 1,769 MB, one vCPU: watch limits no CPU).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faas_core::local::{LocalProvider, ServeConfig};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;

fn runs(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Nearest-rank percentile of sorted milliseconds.
fn pct(sorted: &[f64], p: usize) -> f64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// One measured series: milliseconds per call and the wall time of all of them.
struct Series {
    ms: Vec<f64>,
    total: Duration,
}

impl Series {
    fn new(mut ms: Vec<f64>, total: Duration) -> Series {
        ms.sort_by(f64::total_cmp);
        Series { ms, total }
    }

    fn p(&self, p: usize) -> f64 {
        pct(&self.ms, p)
    }

    /// Calls per second.
    fn rate(&self) -> f64 {
        self.ms.len() as f64 / self.total.as_secs_f64()
    }

    fn print(&self, name: &str, handler: Option<&[f64]>) {
        let handler = handler
            .map(|h| format!("{:>9.2}", pct_of(h, 50)))
            .unwrap_or_else(|| format!("{:>9}", "-"));
        println!(
            "{name:<40} {:>6} {:>9.2} {:>9.2} {:>9.2} {handler} {:>9.2} {:>9.0}",
            self.ms.len(),
            self.p(50),
            self.p(99),
            self.ms[self.ms.len() - 1],
            self.total.as_secs_f64(),
            self.rate()
        );
    }
}

fn provider(dir: &Path, name: &str, idle: Duration) -> LocalProvider {
    LocalProvider::builder()
        .state_dir(dir.join(name))
        .idle_timeout(idle)
        .build()
        .unwrap()
}

/// `n` sequential invocations: the series, the handlers' REPORT durations and what faas
/// added to each (its wall time less the handler's).
fn sequential(
    rt: &tokio::runtime::Runtime,
    p: &LocalProvider,
    function: &str,
    n: usize,
) -> (Series, Vec<f64>, Vec<f64>) {
    let request = InvokeRequest::json(&serde_json::json!({"name": "bench"}));
    let t = Instant::now();
    let (ms, handler): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|_| {
            let inv = rt.block_on(p.invoke(function, &request)).unwrap();
            assert!(inv.function_error.is_none(), "{:?}", inv.log_tail);
            (inv.elapsed.as_secs_f64() * 1000.0, inv.report.unwrap().duration_ms)
        })
        .unzip();
    let added = ms.iter().zip(&handler).map(|(m, h)| m - h).collect();
    (Series::new(ms, t.elapsed()), handler, added)
}

/// `calls` Invoke API round trips to `url` (`…/invocations`) from `clients` concurrent
/// clients, each with its own connection.
async fn over_http(url: &str, clients: usize, calls: usize) -> Series {
    let url: Arc<str> = url.into();
    let t = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = url.clone();
            let share = calls / clients + usize::from(i < calls % clients);
            tokio::spawn(async move {
                let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                let mut ms = Vec::with_capacity(share);
                for _ in 0..share {
                    let t = Instant::now();
                    let r = http.post(&*url).body(r#"{"name":"bench"}"#).send().await.unwrap();
                    let failed = r.headers().contains_key("x-amz-function-error");
                    let (status, body) = (r.status(), r.bytes().await.unwrap());
                    assert!(
                        status.is_success() && !failed,
                        "{status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                ms
            })
        })
        .collect();
    let mut ms = Vec::with_capacity(calls);
    for task in tasks {
        ms.extend(task.await.unwrap());
    }
    Series::new(ms, t.elapsed())
}

fn deploy(rt: &tokio::runtime::Runtime, p: &LocalProvider, spec: &FunctionSpec, src: &Path, out: &Path) {
    let package = PackageBuilder::new(src).output(out).build().unwrap();
    rt.block_on(p.deploy_package(spec, &package, &DeployOptions::default()))
        .unwrap();
}

fn ratio(what: &str, x: f64, y: f64) {
    println!("  {what:<48} {:>8.2}x", x / y);
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/functions/hello-python");
    let spec = FunctionSpec::new(
        "hello-python",
        "python3.12".parse().unwrap(),
        "lambda_function.lambda_handler",
    )
    .memory_mb(runs("FAAS_BENCH_MEMORY", 128) as u32);
    let warm = provider(dir.path(), "warm", Duration::from_secs(600));
    let cold = provider(dir.path(), "cold", Duration::ZERO);
    for p in [&warm, &cold] {
        deploy(&rt, p, &spec, &src, &dir.path().join("hello.zip"));
    }
    println!(
        "{:<40} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ms per call", "runs", "p50", "p99", "max", "handler", "total s", "calls/s"
    );
    sequential(&rt, &warm, "hello-python", 5); // the cold start, and settling
    let (w, wh, added) = sequential(&rt, &warm, "hello-python", runs("FAAS_BENCH_WARM", 1000));
    w.print("faas local invoke, warm (sequential)", Some(&wh));
    let (c, ch, _) = sequential(&rt, &cold, "hello-python", runs("FAAS_BENCH_COLD", 1000));
    c.print("faas local invoke, cold (sequential)", Some(&ch));
    // The interpreter itself, not a version-manager shim in front of it (the provider resolves it too).
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let t = Instant::now();
    let bare: Vec<f64> = (0..runs("FAAS_BENCH_PYTHON", 50))
        .map(|_| {
            let t = Instant::now();
            assert!(Command::new(&python).args(["-c", "pass"]).status().unwrap().success());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let bare = Series::new(bare, t.elapsed());
    bare.print("python3 -c pass", None);

    // Through serve: the Invoke API over HTTP, one client and then many.
    let clients = runs("FAAS_BENCH_CLIENTS", 8).max(1);
    let calls = runs("FAAS_BENCH_SERVE", 1000).max(clients);
    let server = rt
        .block_on(warm.serve_with("127.0.0.1:0", ServeConfig::default().concurrency(clients.max(64))))
        .unwrap();
    let url = format!("{}/2015-03-31/functions/hello-python/invocations", server.url());
    // One warm environment per client first: the pool starts them on demand.
    rt.block_on(over_http(&url, clients, clients * 3));
    let one = rt.block_on(over_http(&url, 1, calls));
    one.print("serve, 1 client (HTTP round trip)", None);
    let many = rt.block_on(over_http(&url, clients, calls));
    many.print(&format!("serve, {clients} concurrent clients"), None);

    // The anchor: the same Rust function through cargo lambda watch and through serve.
    let anchor = match (
        std::env::var("FAAS_BENCH_CARGO_LAMBDA_URL"),
        std::env::var("FAAS_BENCH_RUST_BOOTSTRAP"),
    ) {
        (Ok(cargo_lambda), Ok(bootstrap)) => {
            let rust_src = dir.path().join("hello-rust");
            std::fs::create_dir_all(&rust_src).unwrap();
            std::fs::copy(bootstrap, rust_src.join("bootstrap")).unwrap();
            // One vCPU: watch does not limit CPU at all.
            let rust = FunctionSpec::new("hello-rust", "provided.al2023".parse().unwrap(), "bootstrap")
                .memory_mb(runs("FAAS_BENCH_ANCHOR_MEMORY", 1769) as u32);
            deploy(&rt, &warm, &rust, &rust_src, &dir.path().join("hello-rust.zip"));
            let n = runs("FAAS_BENCH_ANCHOR", 500);
            let theirs = format!("{cargo_lambda}/2015-03-31/functions/hello-rust/invocations");
            let ours = format!("{}/2015-03-31/functions/hello-rust/invocations", server.url());
            rt.block_on(over_http(&theirs, 1, 20));
            rt.block_on(over_http(&ours, 1, 20));
            let theirs = rt.block_on(over_http(&theirs, 1, n));
            theirs.print("hello-rust, cargo lambda watch", None);
            let ours = rt.block_on(over_http(&ours, 1, n));
            ours.print("hello-rust, faas serve", None);
            Some((theirs, ours))
        }
        _ => None,
    };
    rt.block_on(server.shutdown());

    println!("ratios (same run):");
    println!(
        "  warm call less its handler's Duration           p50 {:.3} ms, p99 {:.3} ms (goal p50 <= 1 ms, p99 <= 3 ms)",
        pct_of(&added, 50),
        pct_of(&added, 99)
    );
    ratio("cold / warm, p50", c.p(50), w.p(50));
    ratio("cold / warm, p99", c.p(99), w.p(99));
    ratio(
        "cold / warm, total wall time",
        c.total.as_secs_f64(),
        w.total.as_secs_f64(),
    );
    ratio("python3 -c pass / warm, p50", bare.p(50), w.p(50));
    ratio("serve 1 client / in-process warm, p50", one.p(50), w.p(50));
    ratio(
        &format!("serve {clients} clients / 1 client, p50"),
        many.p(50),
        one.p(50),
    );
    ratio(
        &format!("serve {clients} clients / 1 client, p99"),
        many.p(99),
        one.p(99),
    );
    ratio(
        &format!("serve {clients} clients / 1 client, calls/s"),
        many.rate(),
        one.rate(),
    );
    ratio(
        &format!("serve {clients} clients / in-process warm, calls/s"),
        many.rate(),
        w.rate(),
    );
    match &anchor {
        Some((theirs, ours)) => {
            ratio("faas serve / cargo lambda watch, p50", ours.p(50), theirs.p(50));
            ratio("faas serve / cargo lambda watch, p99", ours.p(99), theirs.p(99));
        }
        None => println!("  (no cargo lambda anchor: run benches/invoke.sh with FAAS_BENCH_CARGO_LAMBDA=1)"),
    }
    println!(
        "memory {} MB; environments started: warm provider {}, cold provider {}; limits: memory {}, cpu {}",
        spec.memory_mb,
        warm.environments_started(),
        cold.environments_started(),
        warm.resource_controls().memory,
        warm.resource_controls().cpu
    );
}

/// The percentile of unsorted milliseconds.
fn pct_of(ms: &[f64], p: usize) -> f64 {
    let mut ms = ms.to_vec();
    ms.sort_by(f64::total_cmp);
    pct(&ms, p)
}
