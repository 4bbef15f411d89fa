//! Local invoke overhead: warm invocations of the hello-python example, cold ones (a provider
//! that keeps no environment warm), and the bare interpreter (`python3 -c pass`), measured in
//! the same run. Prints p50 / p99 / max wall time of each (`Invocation::elapsed` for faas:
//! from the call to the answer, a cold start's spawn and init included) and, for faas, the
//! REPORT `Duration` p50 (the handler alone), so that what faas adds shows.
//!
//! `FAAS_BENCH_WARM` (default 500), `FAAS_BENCH_COLD` and `FAAS_BENCH_PYTHON` (default 50)
//! set the numbers of runs, `FAAS_BENCH_MEMORY` the function's memory (default 128 MB, where
//! cgroups give it 128/1769 of a CPU, as Lambda does: expect throttled cold starts and a
//! throttled warm call whenever a 100 ms period's quota runs out).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use faas_core::local::LocalProvider;
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

fn line(name: &str, mut ms: Vec<f64>, handler: Option<Vec<f64>>) {
    ms.sort_by(f64::total_cmp);
    let handler = handler
        .map(|mut h| {
            h.sort_by(f64::total_cmp);
            format!("{:>10.2}", pct(&h, 50))
        })
        .unwrap_or_else(|| format!("{:>10}", "-"));
    println!(
        "{name:<34} {:>6} {:>10.2} {:>10.2} {:>10.2} {handler}",
        ms.len(),
        pct(&ms, 50),
        pct(&ms, 99),
        ms[ms.len() - 1]
    );
}

fn provider(dir: &Path, name: &str, idle: Duration) -> LocalProvider {
    LocalProvider::builder()
        .state_dir(dir.join(name))
        .idle_timeout(idle)
        .build()
        .unwrap()
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
    let package = PackageBuilder::new(&src)
        .output(dir.path().join("hello.zip"))
        .build()
        .unwrap();
    let warm = provider(dir.path(), "warm", Duration::from_secs(600));
    let cold = provider(dir.path(), "cold", Duration::ZERO);
    for p in [&warm, &cold] {
        rt.block_on(p.deploy_package(&spec, &package, &DeployOptions::default()))
            .unwrap();
    }
    let request = InvokeRequest::json(&serde_json::json!({"name": "bench"}));
    let measure = |p: &LocalProvider, n: usize| -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .map(|_| {
                let inv = rt.block_on(p.invoke("hello-python", &request)).unwrap();
                assert!(inv.function_error.is_none(), "{:?}", inv.log_tail);
                (inv.elapsed.as_secs_f64() * 1000.0, inv.report.unwrap().duration_ms)
            })
            .unzip()
    };
    println!(
        "{:<34} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "ms", "runs", "p50", "p99", "max", "handler"
    );
    measure(&warm, 5); // the cold start, and settling
    let (w, wh) = measure(&warm, runs("FAAS_BENCH_WARM", 500));
    line("faas local invoke, warm", w, Some(wh));
    let (c, ch) = measure(&cold, runs("FAAS_BENCH_COLD", 50));
    line("faas local invoke, cold", c, Some(ch));
    // The interpreter itself, not a version-manager shim in front of it (the provider resolves it too).
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let bare: Vec<f64> = (0..runs("FAAS_BENCH_PYTHON", 50))
        .map(|_| {
            let t = Instant::now();
            assert!(Command::new(&python).args(["-c", "pass"]).status().unwrap().success());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    line("python3 -c pass", bare, None);
    println!(
        "memory {} MB; environments started: warm provider {}, cold provider {}; limits: memory {}, cpu {}",
        spec.memory_mb,
        warm.environments_started(),
        cold.environments_started(),
        warm.resource_controls().memory,
        warm.resource_controls().cpu
    );
}
