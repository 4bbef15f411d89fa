//! The whole conformance suite against the fake Cloud Functions v2 + Cloud Run v2 + IAM
//! Credentials + OAuth token endpoint (`faas_gcp::test_support`).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use faas_core::conformance::{self, Fixture};
use faas_gcp::test_support::FakeGcp;

fn write_main(dir: &Path, marker: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join("main.py"),
        format!(
            "MARKER = {marker:?}\n\n\ndef main(request):\n    return {{\"marker\": MARKER, \"event\": request.get_json()}}\n"
        ),
    )
}

fn fixture() -> Fixture {
    Fixture {
        runtime: "python312".parse().unwrap(),
        handler: "main.main".into(),
        write_source: write_main,
        // The fake answers with the revision and the event; it does not run Python.
        runs_code: false,
        // Cloud Run does not say which revision served a request on the service URL.
        reports_executed_version: false,
        invoke_rejects_missing: true,
        role: None,
        prefix: "conf".into(),
        split_samples: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcp_provider_passes_the_conformance_suite() {
    let fake = FakeGcp::start().await;
    let provider = fake.provider().await;
    conformance::run_all(&provider, &fixture()).await;
    assert!(fake.operation_polls() > 10, "operations took several polls each");
}
