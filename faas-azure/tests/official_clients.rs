//! The fake read by Microsoft's own clients: `tests/official/azure_clients.py` drives
//! azure-mgmt-web (api-version 2023-12-01) and azure-mgmt-storage (2023-05-01) against a
//! running [`FakeAzure`] (over its TLS, trusting its CA): creates a site and a slot (long-running
//! operations), gets the site, lists app settings and slots, lists storage keys, reads the
//! Premium (with a slot) and Flex sites the provider deployed, and fails on
//! anything their models cannot deserialize or a status the operation does not define; and the
//! request checker in front of the fake refusing, recording and failing on what the ARM
//! definitions lack.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use faas_azure::test_support::{
    ACCOUNT, Azurite, CLIENT_ID, CLIENT_SECRET, FakeAzure, PLAN, RESOURCE_GROUP, SUBSCRIPTION, TENANT, python_package,
};
use faas_core::conformance::test_tool;
use faas_core::{DeployOptions, FunctionSpec, ProviderExt};

/// Runs `tests/official/azure_clients.py` against `fake` (reading `apps` only, when given)
/// and returns what it printed; fails the test when it fails.
async fn run_clients(python: &Path, fake: &FakeAzure, apps: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/official/azure_clients.py");
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&fake.url)
        .arg(fake.ca_path())
        .args([
            TENANT,
            CLIENT_ID,
            CLIENT_SECRET,
            SUBSCRIPTION,
            RESOURCE_GROUP,
            PLAN,
            ACCOUNT,
        ])
        .args(apps)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the official clients failed on what the fake serves:\n{stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_clients_create_and_read_sites_slots_and_settings() {
    let Some(python) = test_tool("FAAS_TEST_RIC_PYTHON", "target/test-venv/bin/python") else {
        return;
    };
    let fake = FakeAzure::start().await;
    let stdout = run_clients(&python, &fake, &[]).await;
    assert!(stdout.starts_with("ok: site /subscriptions/"), "{stdout}");
    let writes = fake.writes();
    assert!(
        writes
            .iter()
            .any(|w| w.starts_with("PUT ") && w.contains("/sites/official-app/slots/staging?")),
        "{writes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_clients_read_the_sites_and_slots_faas_deployed() {
    let Some(python) = test_tool("FAAS_TEST_RIC_PYTHON", "target/test-venv/bin/python") else {
        return;
    };
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path());
    let spec = |name: &str| FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app");
    let premium = fake.provider(&azurite.blob_endpoint).await;
    let publish = DeployOptions {
        publish: true,
        ..DeployOptions::default()
    };
    premium
        .deploy_package(&spec("read-premium"), &pkg, &publish)
        .await
        .unwrap();
    let staging = DeployOptions {
        label: Some("staging".into()),
        ..publish.clone()
    };
    premium
        .deploy_package(&spec("read-premium"), &pkg, &staging)
        .await
        .unwrap();
    let flex = fake.flex_provider(&azurite.blob_endpoint).await;
    flex.deploy_package(&spec("read-flex").memory_mb(2048), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let stdout = run_clients(&python, &fake, &["read-premium", "read-flex"]).await;
    assert!(stdout.starts_with("ok: read 2 deployed sites, 1 slots"), "{stdout}");
}

fn client(fake: &FakeAzure) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder().add_root_certificate(ca).build().unwrap()
}

#[tokio::test]
async fn the_request_checker_refuses_and_records_what_the_arm_definitions_lack() {
    let fake = FakeAzure::start().await;
    let site = format!(
        "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/app",
        fake.url
    );
    let http = client(&fake);
    // `functionAppConfig` is a member of `Site` (PUT), not of `SitePatchResource` (PATCH).
    let patch = http
        .patch(format!("{site}?api-version=2023-12-01"))
        .json(&serde_json::json!({"properties": {"functionAppConfig": {"runtime": {"name": "python"}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 400);
    let body: serde_json::Value = patch.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestContent", "{body}");
    let typed = http
        .put(format!("{site}?api-version=2023-12-01"))
        .json(&serde_json::json!({"location": "westeurope", "properties": {"httpsOnly": "yes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), 400);
    let version = http.get(format!("{site}?api-version=2022-03-01")).send().await.unwrap();
    assert_eq!(version.status(), 400);
    let violations = fake.take_violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    assert!(
        violations[0].contains("`properties.functionAppConfig` is not a member of SitePatchResource"),
        "{violations:?}"
    );
    assert!(
        violations[1].contains("httpsOnly") && violations[1].contains("a boolean"),
        "{violations:?}"
    );
    assert!(violations[2].contains("api-version"), "{violations:?}");
    assert!(fake.take_violations().is_empty(), "taking them clears them");
}

#[tokio::test]
#[should_panic(expected = "requests the ARM definitions do not allow")]
async fn a_violation_nobody_read_fails_the_test_when_the_fake_drops() {
    let fake = FakeAzure::start().await;
    let slots = format!(
        "{}/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Web/sites/app/slots?api-version=2023-12-01&top=5",
        fake.url
    );
    let answer = client(&fake).get(slots).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    drop(fake);
}
