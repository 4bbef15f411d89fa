//! Workload Identity Federation with the subject token from a URL — GitHub Actions' token
//! service (a local fake), as `google-github-actions/auth` configures it — exchanged at the
//! fake's STS and used for a Cloud Functions call, with every trace-level event captured and
//! searched for the tokens. Alone in its binary: with other tests running on other threads
//! the thread-local log capture missed the provider's events.

#![allow(clippy::unwrap_used)]

use faas_core::ci_token::fake::GithubTokenService;
use faas_gcp::test_support::{EXTERNAL_TOKEN, FakeGcp, STS_TOKEN_PATH, WORKLOAD_IDENTITY_PROVIDER};
use serde_json::json;

mod federation_support;
use federation_support::{JWT, count, functions_call_is_authorized, provider};

const REQUEST_TOKEN: &str = "canary-actions-request-token";

#[tokio::test(flavor = "current_thread")]
async fn the_github_token_from_a_url_is_exchanged_and_no_token_is_logged() {
    let fake = FakeGcp::start().await;
    let service = GithubTokenService::start(REQUEST_TOKEN, |_| EXTERNAL_TOKEN.to_string()).await;
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let audience: String = url_encode(WORKLOAD_IDENTITY_PROVIDER);
    // What google-github-actions/auth writes for direct Workload Identity Federation.
    let config = json!({
        "type": "external_account",
        "audience": WORKLOAD_IDENTITY_PROVIDER,
        "subject_token_type": JWT,
        "token_url": format!("{}{STS_TOKEN_PATH}", fake.url),
        "credential_source": {
            "url": format!("{}&audience={audience}", service.url),
            "headers": {"Authorization": format!("Bearer {REQUEST_TOKEN}")},
            "format": {"type": "json", "subject_token_field_name": "value"},
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("external-account.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let gcp = provider(&fake, &file).await.unwrap();
    functions_call_is_authorized(&fake, &gcp).await;
    assert_eq!(service.seen().audiences, [WORKLOAD_IDENTITY_PROVIDER]);
    assert_eq!(count(&fake, &format!("POST {STS_TOKEN_PATH}")), 1);
    assert!(logs.text().contains("federated-fn"), "the capture works");
    logs.assert_free_of(&[REQUEST_TOKEN, EXTERNAL_TOKEN, "canary", "ya29.fake"]);
    assert!(!format!("{gcp:?}").contains("canary"));
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
