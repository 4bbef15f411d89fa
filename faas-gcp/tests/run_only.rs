//! A function deployed through the Cloud Run Admin API (a Cloud Run service, no Cloud
//! Functions resource) is reported as `Unsupported` with the reason — on read, on a plan that
//! would create over it, and in a deploy — with no write made; a name neither API knows is
//! still `NotFound`.

#![allow(clippy::unwrap_used)]

use faas_core::{DeployOptions, Error, Provider, ProviderExt};
use faas_gcp::test_support::{FakeGcp, package, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_run_only_functions_are_unsupported_not_missing() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    fake.seed_run_only_service("run-made");
    fake.clear_requests();
    let e = gcp.get("run-made").await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("run-made") && text.contains("Cloud Run Admin API") && text.contains("services/run-made"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = gcp
        .deploy_package(
            &spec("run-made"),
            &package(dir.path(), "run-made"),
            &DeployOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(
        fake.writes().iter().all(|w| !w.contains("run-made")),
        "{:?}",
        fake.writes()
    );
    // Neither API has it: still NotFound.
    assert!(matches!(gcp.get("nowhere").await.unwrap_err(), Error::NotFound { .. }));
}
