//! Flex Consumption after a OneDeploy: ARM's deployment status is followed to its end and the
//! app must list the functions the package holds — "deployment succeeded" with zero functions
//! is a failure that says so. Against the fake ARM (which indexes functions as the host does)
//! and Azurite.

#![allow(clippy::unwrap_used)]

use faas_azure::Hosting;
use faas_azure::test_support::{Azurite, FakeAzure, python_package};
use faas_core::{DeployOptions, Error, FunctionSpec, ProviderExt};

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app").memory_mb(2048)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flex_deploy_follows_the_deployment_status_and_needs_functions() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .hosting(Hosting::Flex)
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    azure
        .deploy_package(&spec("flex-ok"), &python_package(dir.path()), &DeployOptions::default())
        .await
        .unwrap();
    let requests = fake.requests();
    let status = requests
        .iter()
        .position(|r| r.contains("/sites/flex-ok/deploymentStatus/"));
    let listed = requests.iter().position(|r| r.contains("/sites/flex-ok/functions"));
    assert!(
        matches!((status, listed), (Some(s), Some(l)) if s < l),
        "the status, then the functions: {requests:?}"
    );

    // A package whose entry file declares no function: Kudu and ARM say it deployed, the host
    // found nothing to run.
    let empty = tempfile::tempdir().unwrap();
    let src = empty.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("function_app.py"),
        "import azure.functions as func\napp = func.FunctionApp()\n",
    )
    .unwrap();
    let pkg = faas_package::PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("function_app.app")
        .output(empty.path().join("empty.zip"))
        .build()
        .unwrap();
    let e = azure
        .deploy_package(&spec("flex-empty"), &pkg, &DeployOptions::default())
        .await
        .unwrap_err();
    match &e {
        Error::Provider { code, message, .. } => {
            assert_eq!(code, "NoFunctions");
            assert!(
                message.contains("flex-empty") && message.contains("no functions"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
}
