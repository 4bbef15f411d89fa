//! Secrets in no log line: a whole delivery (signed-URL upload, create, publish, label,
//! invoke with an ID token) with every `trace`-level event captured, then searched for the
//! access and ID tokens, the upload URL's signature, the key and secret values it handled.

#![allow(clippy::unwrap_used)]

use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, PackageBuilder, Provider, ProviderExt};
use faas_gcp::test_support::FakeGcp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let (logs, _guard) = faas_core::conformance::capture_logs();

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
    assert!(logs.text().contains("logged-fn"), "the capture works");
    logs.assert_free_of(&[
        "correct-horse-battery-staple",
        "ya29.fake",
        "fake-signature",
        "Signature=",
        "c2VjcmV0LXNpZ25hdHVyZQ",
        "PRIVATE KEY",
    ]);
}
