//! Lambda's runtime lifecycle on moto (faas-core/runtimes/aws-lambda.json): a runtime Lambda
//! no longer updates is refused with no request at all; one it no longer creates functions
//! with is refused after the one read that shows the function does not exist; a deprecated
//! one deploys with a warning in the plan.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use faas_aws::test_support::{Moto, Proxy, ROLE};
use faas_core::{DeployOptions, Error, FunctionSpec, Package, ProviderExt};
use faas_package::PackageBuilder;

/// A package of `runtime` and the spec deploying it.
fn with_runtime(dir: &Path, name: &str, runtime: &str) -> (FunctionSpec, Package) {
    let src = dir.join(format!("src-{name}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("lambda_function.py"),
        "def lambda_handler(e, c):\n    return 1\n",
    )
    .unwrap();
    let pkg = PackageBuilder::new(&src)
        .runtime(runtime.parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{name}.zip")))
        .build()
        .unwrap();
    let spec = FunctionSpec::new(name, runtime.parse().unwrap(), "lambda_function.lambda_handler").role(ROLE);
    (spec, pkg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_runtimes_are_refused_and_deprecated_ones_warn() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();

    let (spec, pkg) = with_runtime(dir.path(), "py27", "python2.7");
    proxy.clear();
    let e = aws
        .deploy_package(&spec, &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "runtime"),
        "{e}"
    );
    assert!(
        e.to_string().contains("since 2022-05-30") && e.to_string().contains("move to python3."),
        "{e}"
    );
    assert!(
        proxy.seen().is_empty(),
        "refused before any request: {:?}",
        proxy.seen()
    );

    let (spec, pkg) = with_runtime(dir.path(), "py37", "python3.7");
    proxy.clear();
    let e = aws
        .deploy_package(&spec, &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("blocks creating functions with python3.7"),
        "{e}"
    );
    let seen = proxy.seen();
    assert!(
        seen.iter().all(|s| !s.is_write()) && seen.len() == 1,
        "one read, no write: {seen:?}"
    );

    let (spec, pkg) = with_runtime(dir.path(), "py39", "python3.9");
    let report = aws
        .deploy_package(&spec, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(report.change.created);
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("deprecated python3.9 on 2025-12-15")),
        "{:?}",
        report.plan.warnings
    );
}
