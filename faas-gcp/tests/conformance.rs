//! The whole conformance suite against the fake Cloud Functions v2 + Cloud Run v2 + IAM
//! Credentials + OAuth token endpoint (`faas_gcp::test_support`), and — ignored unless asked
//! for with `--ignored` — against a real project (never in CI here: no network to Google).

#![allow(clippy::unwrap_used)]

use faas_core::Provider;
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
        vec![
            "slot_swap_promotes_and_swaps_back",
            "metrics_and_logs_see_invocations",
            "records_are_conditional"
        ],
        "{report}"
    );
    assert!(!provider.info().capability.records, "records need the artifact bucket");
    assert!(fake.operation_polls() > 10, "operations took several polls each");
}

/// With an artifact bucket (the Cloud Storage emulator, behind the test support's
/// precondition proxy) the provider has records, and the suite checks them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_with_a_bucket_passes_the_conformance_suite_with_records() {
    let Some(gcs) = faas_gcp::test_support::GcsEmulator::start("conformance-artifacts").await else {
        return;
    };
    let proxy = gcs.with_preconditions().await;
    let fake = FakeGcp::start().await;
    fake.set_storage(&gcs.url);
    let provider = fake
        .builder()
        .bucket("conformance-artifacts")
        .storage_url(&proxy.url)
        .build()
        .await
        .unwrap();
    let report = conformance::run_all(&provider, &fixture(false)).await;
    eprintln!("{report}");
    assert!(report.ran.contains(&"records_are_conditional"), "{report}");
}

/// `GOOGLE_CLOUD_PROJECT=… GOOGLE_CLOUD_REGION=… cargo test -p faas-gcp --all-features --test conformance live -- --ignored`
/// with application default credentials allowed to deploy functions and mint ID tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a GCP project: application default credentials and network access to Google"]
async fn live_gcp_passes_the_conformance_suite() {
    let provider = faas_gcp::GcpBuilder::from_env().build().await.unwrap();
    eprintln!("{}", conformance::run_all(&provider, &fixture(true)).await);
}
