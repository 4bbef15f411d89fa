//! Memory tuning on the fake Cloud Functions / Cloud Run: each size is a revision reached
//! through its own traffic tag; afterwards the Cloud Run service (as the fake stores it, not
//! as faas reads it) has no tuning tag, the function its memory and variables back, and the
//! serving label's traffic is where it was. GCP's memory steps are checked before any call.

#![allow(clippy::unwrap_used)]

use faas_core::cost::tune::{TuneOptions, tune};
use faas_core::{DeployOptions, Error, Provider, ProviderExt};
use faas_gcp::test_support::{FakeGcp, package, spec};

/// The service's traffic tags and the memory limit of its latest revision template.
fn service_view(fake: &FakeGcp, function: &str) -> (Vec<String>, serde_json::Value, serde_json::Value) {
    let service = fake.service_json(function);
    let mut tags: Vec<String> = service["traffic"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["tag"].as_str().map(str::to_string))
        .collect();
    tags.sort();
    (
        tags,
        service["traffic"].clone(),
        service["template"]["containers"][0]["env"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuning_on_gcp_removes_its_revisions_tags_and_changes() {
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    let base = spec("tuned").env("LOG_LEVEL", "INFO");
    gcp.deploy_package(&base, &package(dir.path(), "one"), &opts)
        .await
        .unwrap();
    let before = service_view(&fake, "tuned");
    let versions_before = gcp.list_versions("tuned").await.unwrap();

    // A memory Cloud Run functions does not take is refused before any write.
    fake.clear_requests();
    let e = tune(&gcp, "tuned", &TuneOptions::new().memory([256, 100_000]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "memory_mb"),
        "{e}"
    );
    assert_eq!(fake.writes(), Vec::<String>::new());

    let options = TuneOptions::new()
        .memory([256, 1024, 2048])
        .invocations(2)
        .payload(serde_json::json!({"n": 1}));
    let report = tune(&gcp, "tuned", &options).await.unwrap();
    eprintln!("{report}");
    assert!(
        report.values.iter().all(|v| v.errors == 0 && v.invocations == 2),
        "{report}"
    );
    assert!(
        report
            .values
            .iter()
            .all(|v| v.duration_source == "client" && v.vcpu.is_some())
    );
    assert_eq!((report.versions_removed.len(), report.labels_removed.len()), (3, 3));
    assert_eq!(
        service_view(&fake, "tuned"),
        before,
        "tags, traffic and variables as they were"
    );
    assert_eq!(gcp.list_versions("tuned").await.unwrap(), versions_before);
    let now = gcp.get("tuned").await.unwrap().spec;
    assert_eq!(
        (now.memory_mb, now.environment.get("LOG_LEVEL").map(String::as_str)),
        (base.memory_mb, Some("INFO"))
    );
}
