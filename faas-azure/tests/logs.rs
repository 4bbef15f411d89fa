//! Secrets in no log line: a whole delivery (create, code, settings, publish, slot, invoke)
//! with every `trace`-level event captured, then searched for the keys, SAS signatures,
//! connection strings, tokens and secret values it handled.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{ACCOUNT_KEY, Azurite, CLIENT_SECRET, FakeAzure, python_package};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let Some(azurite) = Azurite::start().await else { return };
    let (logs, _guard) = faas_core::conformance::capture_logs();

    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path());
    let spec = FunctionSpec::new("logged-app", "python3.12".parse().unwrap(), "function_app.app")
        .secret_env("DB_PASSWORD", "correct-horse-battery-staple");
    let opts = DeployOptions {
        publish: true,
        label: Some("staging".into()),
        ..DeployOptions::default()
    };
    azure.deploy_package(&spec, &pkg, &opts).await.unwrap();
    azure
        .invoke(
            "logged-app",
            &InvokeRequest::json(&serde_json::json!({})).qualifier("staging"),
        )
        .await
        .unwrap();
    let settings = fake.settings("logged-app");
    let sas = settings["WEBSITE_RUN_FROM_PACKAGE"]
        .split("sig=")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(logs.text().contains("logged-app"), "the capture works");
    let sig_prefix = &sas[..8.min(sas.len())];
    logs.assert_free_of(&[
        ACCOUNT_KEY,
        CLIENT_SECRET,
        "correct-horse-battery-staple",
        "fake-arm-token",
        "fake-function-key",
        &sas,
        sig_prefix,
    ]);
}
