//! The whole conformance suite against the fake Cloud Functions v2 + Cloud Run v2 + IAM
//! Credentials + OAuth token endpoint (`faas_gcp::test_support`), and — ignored unless asked
//! for with `--ignored` — against a real project (never in CI here: no network to Google).

#![allow(clippy::unwrap_used)]

use faas_core::conformance;
use faas_gcp::test_support::{FakeGcp, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_provider_passes_the_conformance_suite() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider().await;
    let report = conformance::run_all(&provider, &fixture(false)).await;
    eprintln!("{report}");
    let skipped: Vec<&str> = report.skipped.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        skipped,
        vec!["slot_swap_promotes_and_swaps_back", "metrics_and_logs_see_invocations"],
        "{report}"
    );
    assert!(fake.operation_polls() > 10, "operations took several polls each");
}

/// `GOOGLE_CLOUD_PROJECT=… GOOGLE_CLOUD_REGION=… cargo test -p faas-gcp --all-features --test conformance live -- --ignored`
/// with application default credentials allowed to deploy functions and mint ID tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a GCP project: application default credentials and network access to Google"]
async fn live_gcp_passes_the_conformance_suite() {
    let provider = faas_gcp::GcpBuilder::from_env().build().await.unwrap();
    eprintln!("{}", conformance::run_all(&provider, &fixture(true)).await);
}
