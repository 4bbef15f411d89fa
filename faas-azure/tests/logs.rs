//! Secrets in no log line: a whole delivery (create, code, settings, publish, slot, invoke)
//! with every `trace`-level event captured, then searched for the keys, SAS signatures,
//! connection strings, tokens and secret values it handled.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use faas_azure::test_support::{ACCOUNT_KEY, Azurite, CLIENT_SECRET, FakeAzure};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, PackageBuilder, Provider, ProviderExt};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let Some(azurite) = Azurite::start().await else { return };
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("function_app.py"),
        "import azure.functions as func\napp = func.FunctionApp()\n",
    )
    .unwrap();
    let pkg = PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("function_app.app")
        .output(dir.path().join("out.zip"))
        .build()
        .unwrap();
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
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("logged-app"), "the capture works: {logs}");
    for secret in [
        ACCOUNT_KEY,
        CLIENT_SECRET,
        "correct-horse-battery-staple",
        "fake-arm-token",
        "fake-function-key",
        &sas,
    ] {
        assert!(!logs.contains(secret), "{secret} appeared in the logs");
    }
    let sig_prefix = &sas[..8.min(sas.len())];
    assert!(
        !logs.contains(sig_prefix),
        "part of a SAS signature appeared in the logs"
    );
}
