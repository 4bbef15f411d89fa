//! Functions written for real Lambda runtimes run unchanged on the local provider, through
//! the Runtime API: a `lambda_runtime` (Rust) binary and Python's `awslambdaric`.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use faas_core::local::LocalProvider;
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;

async fn deploy(provider: &LocalProvider, dir: &Path, name: &str, src: &Path, runtime: &str, handler: &str) {
    let spec = FunctionSpec::new(name, runtime.parse().unwrap(), handler).timeout_s(10);
    let package = PackageBuilder::new(src)
        .runtime(spec.runtime.clone())
        .handler(handler)
        .dependencies(faas_package::DependencyOptions {
            enabled: false,
            ..Default::default()
        })
        .output(dir.join(format!("{name}.zip")))
        .build()
        .unwrap();
    provider
        .deploy_package(&spec, &package, &DeployOptions::default())
        .await
        .unwrap();
}

/// Invokes `function`, insists it did not fail, and returns its JSON answer.
async fn invoke_ok(
    provider: &LocalProvider,
    function: &str,
    event: serde_json::Value,
) -> (serde_json::Value, faas_core::Invocation) {
    let inv = provider.invoke(function, &InvokeRequest::json(&event)).await.unwrap();
    assert!(
        inv.function_error.is_none(),
        "{:?}\n{}",
        inv.function_error,
        inv.log_tail.clone().unwrap_or_default()
    );
    (serde_json::from_slice(&inv.payload).unwrap(), inv)
}

#[tokio::test]
async fn lambda_runtime_crate_function_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::copy(example("hello-rust"), src.join("bootstrap")).unwrap();
    fs::set_permissions(src.join("bootstrap"), fs::Permissions::from_mode(0o755)).unwrap();
    let provider = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    deploy(&provider, dir.path(), "rust-fn", &src, "provided.al2023", "bootstrap").await;

    let (body, inv) = invoke_ok(&provider, "rust-fn", serde_json::json!({"name": "crab"})).await;
    assert_eq!(body["message"], "Hello, crab!");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 36);
    assert!(
        body["deadline_ms"].as_u64().unwrap() > 1_600_000_000_000,
        "the deadline header reached the function"
    );
    assert!(inv.report.unwrap().init_duration_ms.is_some());

    let inv = provider
        .invoke("rust-fn", &InvokeRequest::json(&serde_json::json!({"fail": true})))
        .await
        .unwrap();
    let fe = inv
        .function_error
        .expect("the handler's error comes back as a function error");
    assert!(fe.message.contains("asked to fail"), "{fe:?}");
}

#[tokio::test]
async fn awslambdaric_function_runs_unchanged() {
    let Some(python) = common::ric_python("awslambdaric") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("app.py"),
        "def handler(event, context):\n    return {'ric': True, 'got': event, 'fn': context.function_name}\n",
    )
    .unwrap();
    // The documented way to run awslambdaric as a custom runtime: python -m awslambdaric <handler>.
    fs::write(
        src.join("bootstrap"),
        format!("#!/bin/sh\nexec {python} -m awslambdaric \"$_HANDLER\"\n"),
    )
    .unwrap();
    fs::set_permissions(src.join("bootstrap"), fs::Permissions::from_mode(0o755)).unwrap();
    let provider = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    deploy(&provider, dir.path(), "ric-fn", &src, "provided.al2023", "app.handler").await;
    let (body, _) = invoke_ok(&provider, "ric-fn", serde_json::json!({"a": 1})).await;
    assert_eq!(body, serde_json::json!({"ric": true, "got": {"a": 1}, "fn": "ric-fn"}));
}
