//! The fake read by Google's own clients: `tests/official/gcp_clients.py` drives
//! google-auth, google-cloud-functions and google-cloud-run (REST transports) against a
//! running [`FakeGcp`] after the provider has deployed, updated, published and deleted
//! through it, and fails on anything they cannot parse (timestamps, operations' `response`,
//! the service's `template`, list pages); and the request checker in front of the fake
//! refusing, recording and failing on what the discovery documents lack.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use faas_core::conformance::test_tool;
use faas_core::{DeployOptions, Provider, ProviderExt};
use faas_gcp::test_support::{FakeGcp, package, spec};

/// The test venv's Python (where `scripts/test.sh` installs the official clients).
fn python() -> Option<std::path::PathBuf> {
    test_tool("FAAS_TEST_RIC_PYTHON", "target/test-venv/bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_clients_read_functions_operations_services_and_revisions() {
    let Some(python) = python() else { return };
    let fake = FakeGcp::start().await;
    let gcp = fake.provider().await;
    let dir = tempfile::tempdir().unwrap();
    let publish = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    gcp.deploy_package(&spec("read-a"), &package(dir.path(), "a1"), &publish)
        .await
        .unwrap();
    gcp.deploy_package(&spec("read-a").memory_mb(512), &package(dir.path(), "a2"), &publish)
        .await
        .unwrap();
    gcp.deploy_package(&spec("read-b"), &package(dir.path(), "b1"), &DeployOptions::default())
        .await
        .unwrap();
    gcp.deploy_package(&spec("read-c"), &package(dir.path(), "c1"), &DeployOptions::default())
        .await
        .unwrap();
    gcp.delete("read-c").await.unwrap();
    let ops = fake.operation_names();
    assert!(
        ops.len() >= 5,
        "creates, an update, a traffic patch and a delete: {ops:?}"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official/gcp_clients.py");
    let mut args = vec![fake.url.clone(), fake.key_path().display().to_string()];
    args.extend(["read-a", "read-b", "--"].map(String::from));
    args.extend(ops);
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args(&args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the official clients failed on what the fake serves:\n{stdout}\n{stderr}"
    );
    assert!(stdout.starts_with("ok: 2 functions"), "{stdout}");
}

#[tokio::test]
async fn the_request_checker_refuses_and_records_what_the_discovery_document_lacks() {
    let fake = FakeGcp::start().await;
    let function = format!(
        "{}projects/faas-test/locations/europe-west1/functions/f",
        fake.functions_url()
    );
    let client = reqwest::Client::new();
    // `memoryMb` is not a `ServiceConfig` field (`availableMemory` is), neither as a body field
    // nor as an `updateMask` path.
    let answer = client
        .patch(format!("{function}?updateMask=serviceConfig.memoryMb"))
        .json(&serde_json::json!({"serviceConfig": {"memoryMb": 256}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{body}");
    let enum_value = client
        .patch(&function)
        .json(&serde_json::json!({"serviceConfig": {"ingressSettings": "EVERYONE"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(enum_value.status(), 400);
    let verb = client.put(&function).body("{}").send().await.unwrap();
    assert_eq!(verb.status(), 400);
    let violations = fake.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(violations[0].contains("serviceConfig.memoryMb"), "{violations:?}");
    assert!(
        violations[1].contains("ingressSettings") && violations[1].contains("ALLOW_ALL"),
        "{violations:?}"
    );
    assert!(violations[2].contains("takes no PUT"), "{violations:?}");
    assert!(fake.take_violations().is_empty(), "taking them clears them");
}

#[tokio::test]
#[should_panic(expected = "requests the discovery documents do not allow")]
async fn a_violation_nobody_read_fails_the_test_when_the_fake_drops() {
    let fake = FakeGcp::start().await;
    let url = format!(
        "{}projects/faas-test/locations/europe-west1/functions?pageSize=many",
        fake.functions_url()
    );
    let answer = reqwest::get(url).await.unwrap();
    assert_eq!(answer.status(), 400);
    drop(fake);
}
