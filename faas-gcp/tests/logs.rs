//! Secrets in no log line: a whole delivery (signed-URL upload, create, publish, label,
//! invoke with an ID token) with every `trace`-level event captured, then searched for the
//! access and ID tokens, the upload URL's signature, the key and secret values it handled.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, PackageBuilder, Provider, ProviderExt};
use faas_gcp::test_support::FakeGcp;

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
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("main.py"), "def main(request):\n    return 'ok'\n").unwrap();
    let pkg = PackageBuilder::new(&src)
        .runtime("python312".parse().unwrap())
        .handler("main.main")
        .output(dir.path().join("out.zip"))
        .build()
        .unwrap();
    let spec = FunctionSpec::new("logged-fn", "python312".parse().unwrap(), "main.main")
        .secret_env("DB_PASSWORD", "correct-horse-battery-staple");
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    gcp.deploy_package(&spec, &pkg, &opts).await.unwrap();
    gcp.invoke(
        "logged-fn",
        &InvokeRequest::json(&serde_json::json!({})).qualifier("live"),
    )
    .await
    .unwrap();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("logged-fn"), "the capture works: {logs}");
    for secret in [
        "correct-horse-battery-staple",
        "ya29.fake",
        "fake-signature",
        "Signature=",
        "c2VjcmV0LXNpZ25hdHVyZQ",
        "PRIVATE KEY",
    ] {
        assert!(!logs.contains(secret), "{secret} appeared in the logs");
    }
}
