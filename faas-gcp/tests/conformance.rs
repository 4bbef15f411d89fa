//! The whole conformance suite against the fake Cloud Functions v2 + Cloud Run v2 + IAM
//! Credentials + OAuth token endpoint (`faas_gcp::test_support`), and — only when
//! `FAAS_LIVE_GCP=1` — against a real project (never in CI here: no network to Google).

#![allow(clippy::unwrap_used)]

use faas_core::conformance;
use faas_gcp::test_support::{FakeGcp, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_provider_passes_the_conformance_suite() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider().await;
    conformance::run_all(&provider, &fixture(false)).await;
    assert!(fake.operation_polls() > 10, "operations took several polls each");
}

/// `FAAS_LIVE_GCP=1 GOOGLE_CLOUD_PROJECT=… GOOGLE_CLOUD_REGION=… cargo test -p faas-gcp --all-features --test conformance live`
/// with application default credentials allowed to deploy functions and mint ID tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_gcp_passes_the_conformance_suite() {
    if std::env::var("FAAS_LIVE_GCP").as_deref() != Ok("1") {
        eprintln!("live GCP run not requested (FAAS_LIVE_GCP=1 runs the suite against a real project)");
        return;
    }
    let provider = faas_gcp::GcpBuilder::from_env().build().await.unwrap();
    conformance::run_all(&provider, &fixture(true)).await;
}
