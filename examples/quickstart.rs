//! The main job on the local default provider, end to end:
//! package → deploy → publish → point `live` at the new version → run the function's tests →
//! show what the function did (its metrics from the local invocation history).
//!
//! ```text
//! cargo run -p examples --example quickstart [-- --state-dir .faas]
//! ```
//! Needs only Rust and Python 3; the Node function runs too when `node` is on the PATH.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use faas_core::local::LocalProvider;
use faas_core::observe::{MetricsQuery, TimeWindow};
use faas_core::testcase::{TestCase, evaluate};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;

/// Package, deploy, publish, route and test the example functions on the local provider.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where the local provider keeps its state.
    #[arg(long, default_value = ".faas")]
    state_dir: PathBuf,
    /// Where the zips are written.
    #[arg(long, default_value = "dist/quickstart")]
    out_dir: PathBuf,
    /// Versions to keep per function (older unrouted ones are pruned).
    #[arg(long, default_value_t = 5)]
    keep_versions: usize,
}

struct Example {
    name: &'static str,
    dir: &'static str,
    runtime: &'static str,
    handler: &'static str,
}

const EXAMPLES: [Example; 2] = [
    Example {
        name: "hello-python",
        dir: "hello-python",
        runtime: "python3.12",
        handler: "lambda_function.lambda_handler",
    },
    Example {
        name: "hello-node",
        dir: "hello-node",
        runtime: "nodejs22.x",
        handler: "index.handler",
    },
];

fn on_path(cmd: &str) -> bool {
    std::process::Command::new(cmd)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    examples::init_tracing();
    let args = Args::parse();
    let provider = LocalProvider::builder().state_dir(&args.state_dir).build()?;
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions");
    let mut failed = 0;
    for ex in &EXAMPLES {
        if ex.runtime.starts_with("nodejs") && !on_path("node") {
            examples::say(&format!(
                "skipping {}: `node` is not on the PATH (install Node.js 20 to run it)",
                ex.name
            ));
            continue;
        }
        failed += run_example(&provider, &functions, ex, &args).await?;
    }
    examples::say(&format!("state: {}", provider.state_dir().display()));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_example(provider: &LocalProvider, functions: &Path, ex: &Example, args: &Args) -> anyhow::Result<usize> {
    let src = functions.join(ex.dir);
    let spec = FunctionSpec::new(ex.name, ex.runtime.parse()?, ex.handler)
        .memory_mb(256)
        .timeout_s(10)
        .env("LOG_LEVEL", "INFO");
    let package = PackageBuilder::new(&src)
        .runtime(spec.runtime.clone())
        .handler(&spec.handler)
        .limits(faas_core::Limits::LAMBDA.package_limits())
        .output(args.out_dir.join(format!("{}.zip", ex.name)))
        .build()
        .with_context(|| format!("packaging {}", src.display()))?;
    examples::say(&format!(
        "{}: packaged {} files, {} bytes, sha256 {}",
        ex.name,
        package.files,
        package.size,
        &package.sha256[..16]
    ));
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        keep_versions: Some(args.keep_versions),
        description: format!("quickstart {}", &package.sha256[..12]),
        dry_run: false,
    };
    let report = provider.deploy_package(&spec, &package, &opts).await?;
    let version = report.version.as_ref().map(|v| v.id.clone()).unwrap_or_default();
    examples::say(&format!(
        "{}: deploy {}; version {version}; live -> {version}",
        ex.name, report.change
    ));

    let cases: Vec<TestCase> = serde_json::from_slice(&std::fs::read(src.join("tests.json"))?)
        .with_context(|| format!("reading {}", src.join("tests.json").display()))?;
    let mut failed = 0;
    for case in &cases {
        let req = InvokeRequest::json(&case.payload).qualifier("live");
        let inv = provider.invoke(ex.name, &req).await?;
        let result = evaluate(case, &inv);
        let figures = inv
            .report
            .map(|r| {
                format!(
                    "{:.1} ms (billed {} ms, init {:.0} ms), {} of {} MB",
                    r.duration_ms,
                    r.billed_duration_ms,
                    r.init_duration_ms.unwrap_or(0.0),
                    r.max_memory_used_mb,
                    r.memory_size_mb
                )
            })
            .unwrap_or_default();
        let mark = if result.passed { "PASS" } else { "FAIL" };
        examples::say(&format!(
            "  {mark} {:<28} status {} v{} {figures}",
            case.name,
            result.status.unwrap_or(0),
            inv.executed_version.as_deref().unwrap_or("?")
        ));
        for f in &result.failures {
            examples::say(&format!("       {f}"));
        }
        failed += usize::from(!result.passed);
    }
    examples::say(&format!(
        "{}: {} passed, {} failed",
        ex.name,
        cases.len() - failed,
        failed
    ));
    // What the function did, from the local invocation history: this run's calls and the
    // earlier ones of the last hour.
    let window = TimeWindow::last(std::time::Duration::from_secs(3600));
    let m = provider
        .metrics(&MetricsQuery::new(ex.name, window).qualifier("live"))
        .await?;
    let d = m.duration.map_or(String::new(), |d| {
        format!(", p50 {:.1} ms, p99 {:.1} ms", d.p50_ms, d.p99_ms)
    });
    examples::say(&format!(
        "{}: last hour through live: {} invocations, {} errors, {} cold starts{d}",
        ex.name,
        m.invocations.unwrap_or(0),
        m.errors.unwrap_or(0),
        m.cold_starts.unwrap_or(0)
    ));
    Ok(failed)
}
