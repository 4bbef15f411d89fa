//! A local invoke of the hello-python example against `python3 -c 'import json'`, same run.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use faas_core::local::LocalProvider;
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let provider = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/functions/hello-python");
    let spec = FunctionSpec::new(
        "hello-python",
        "python3.12".parse().unwrap(),
        "lambda_function.lambda_handler",
    );
    let package = PackageBuilder::new(&src)
        .output(dir.path().join("hello.zip"))
        .build()
        .unwrap();
    rt.block_on(provider.deploy_package(&spec, &package, &DeployOptions::default()))
        .unwrap();
    let request = InvokeRequest::json(&serde_json::json!({"name": "bench"}));
    let mut group = c.benchmark_group("local-invoke");
    group.sample_size(30);
    group.bench_function("faas local invoke hello-python", |b| {
        b.iter(|| {
            let inv = rt.block_on(provider.invoke("hello-python", &request)).unwrap();
            assert!(inv.function_error.is_none());
        })
    });
    // The interpreter itself, not a version-manager shim in front of it (the provider resolves it too).
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    group.bench_function("python3 -c 'import json'", |b| {
        b.iter(|| {
            assert!(
                Command::new(&python)
                    .args(["-c", "import json"])
                    .status()
                    .unwrap()
                    .success()
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
