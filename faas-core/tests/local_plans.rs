//! Plan, then apply, on the local provider: a plan another deploy made stale is refused, a
//! plain deploy plans again, and every error names the provider.

#![allow(clippy::unwrap_used)]

use faas_core::local::{self, LocalProvider};
use faas_core::{Error, FunctionSpec, Package, Provider};
use faas_package::PackageBuilder;

fn package(dir: &std::path::Path, marker: &str) -> Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        format!("def handler(e, c):\n    return {{'marker': '{marker}'}}\n"),
    )
    .unwrap();
    PackageBuilder::new(&src)
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

fn spec() -> FunctionSpec {
    FunctionSpec::new("planned", "python3.12".parse().unwrap(), "app.handler")
}

#[tokio::test]
async fn a_stale_plan_is_refused_and_a_deploy_plans_again() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    let one = p.upload("planned", &package(dir.path(), "one")).await.unwrap();
    p.deploy(&spec(), &one).await.unwrap();

    // Plan a memory change, then let another deploy land first.
    let stale = p.plan(&spec().memory_mb(256), &one).await.unwrap();
    assert_eq!(stale.observed_revision.as_deref(), Some("1"));
    let two = p.upload("planned", &package(dir.path(), "two")).await.unwrap();
    p.deploy(&spec(), &two).await.unwrap();
    match p.apply(&stale, &one).await {
        Err(e @ Error::Conflict { .. }) => {
            assert_eq!(e.provider(), local::NAME);
            assert!(e.to_string().contains("plan again"), "{e}");
        }
        other => panic!("a stale plan must be refused: {other:?}"),
    }
    // Nothing was written by the refused plan.
    let now = p.get("planned").await.unwrap();
    assert_eq!(
        (now.code_sha256.as_str(), now.spec.memory_mb),
        (two.sha256.as_str(), 128)
    );

    // A fresh plan applies; a plain deploy would have planned again by itself.
    let fresh = p.plan(&spec().memory_mb(256), &two).await.unwrap();
    let out = p.apply(&fresh, &two).await.unwrap();
    assert!(out.change.config_updated && !out.change.code_updated);
    assert_eq!(p.get("planned").await.unwrap().spec.memory_mb, 256);
}

#[tokio::test]
async fn errors_name_the_provider_and_builders_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::builder().state_dir(dir.path()).build().unwrap();
    let e = p.get("nobody-here").await.unwrap_err();
    assert_eq!((e.kind(), e.provider().as_str()), ("not_found", "local"));
    let e = p.get("../x").await.unwrap_err();
    assert_eq!((e.kind(), e.provider().as_str()), ("invalid_input", "local"));
    let e = LocalProvider::builder().with_config("no_such_key", "1").unwrap_err();
    assert_eq!((e.kind(), e.provider().as_str()), ("invalid_config", "local"));
    assert!(e.to_string().starts_with("local: invalid configuration"), "{e}");
}
