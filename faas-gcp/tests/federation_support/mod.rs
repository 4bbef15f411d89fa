//! What the federation tests share: the provider on an `external_account` file, and the
//! Cloud Functions call that proves the token it got is accepted.
#![allow(clippy::unwrap_used, dead_code)]

use faas_core::Provider;
use faas_gcp::GcpProvider;
use faas_gcp::test_support::FakeGcp;

pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Cloud Functions answers `GET …/functions/{name}` for a missing function with 404 to a bearer
/// it accepts (401 to anyone else).
pub async fn functions_call_is_authorized(fake: &FakeGcp, gcp: &GcpProvider) {
    let e = gcp.get("federated-fn").await.unwrap_err();
    assert_eq!(
        e.kind(),
        "not_found",
        "Cloud Functions accepted the token: {e} {:?}",
        fake.requests()
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with("GET /functions/v2/") && r.contains("/functions/federated-fn")),
        "{:?}",
        fake.requests()
    );
}

pub fn count(fake: &FakeGcp, prefix: &str) -> usize {
    fake.requests().iter().filter(|r| r.starts_with(prefix)).count()
}

pub async fn provider(fake: &FakeGcp, file: &std::path::Path) -> faas_core::Result<GcpProvider> {
    fake.builder()
        .with_config("external_account_file", file.to_str().unwrap())?
        .build()
        .await
}
