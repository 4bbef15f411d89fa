//! The local provider and the runtime lifecycle table: it warns but never refuses (it runs
//! whatever runtime it has an interpreter for, so old pipeline files still run offline).

#![allow(clippy::unwrap_used)]

use faas_core::{DeployOptions, FunctionSpec, Provider, ProviderExt};
use faas_package::PackageBuilder;

#[tokio::test]
async fn a_retired_runtime_deploys_locally_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let p = faas_core::local::LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        "def lambda_handler(e, c):\n    return 1\n",
    )
    .unwrap();
    let pkg = PackageBuilder::new(&src)
        .output(dir.path().join("f.zip"))
        .build()
        .unwrap();
    let spec = FunctionSpec::new("old", "python2.7".parse().unwrap(), "lambda_function.lambda_handler");
    p.validate(&spec).unwrap();
    let report = p.deploy_package(&spec, &pkg, &DeployOptions::default()).await.unwrap();
    assert!(report.change.created);
    let warning = report.plan.warnings.join("\n");
    assert!(
        warning.contains("python2.7") && warning.contains("runs it anyway"),
        "{warning}"
    );
    assert!(report.plan.to_string().contains("warning:"), "{}", report.plan);
    // A supported runtime has none.
    let spec = FunctionSpec::new("new", "python3.13".parse().unwrap(), "lambda_function.lambda_handler");
    let report = p.deploy_package(&spec, &pkg, &DeployOptions::default()).await.unwrap();
    assert!(report.plan.warnings.is_empty(), "{:?}", report.plan.warnings);
}
