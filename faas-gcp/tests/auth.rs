//! Workload Identity Federation through `external_account` credential files and the official
//! google-cloud-auth crate, against the fake's STS (`/sts/v1/token`) and IAM Credentials
//! `generateAccessToken`: a subject token from a file (then impersonating a service account)
//! (and from a URL: `auth_logs.rs`, a binary of its own so that no other test's thread
//! races its log capture). Each resulting token is then used for a real Cloud Functions call the fake only
//! answers with a bearer it issued — and no token reaches a trace-level log line.

#![allow(clippy::unwrap_used)]

use faas_core::Provider;
use faas_core::ci_token::GithubOidc;
use faas_core::ci_token::fake::{GithubTokenService, run_in_child};
use faas_gcp::Credentials;
use faas_gcp::test_support::{CLIENT_EMAIL, EXTERNAL_TOKEN, FakeGcp, STS_TOKEN_PATH, WORKLOAD_IDENTITY_PROVIDER};
use serde_json::json;

mod federation_support;
use federation_support::{JWT, count, functions_call_is_authorized, provider};

/// An `external_account` file (next to `subject`) for `fake`'s STS, impersonating its service
/// account.
fn impersonating_config(fake: &FakeGcp, subject: &std::path::Path) -> std::path::PathBuf {
    let config = json!({
        "type": "external_account",
        "audience": WORKLOAD_IDENTITY_PROVIDER,
        "subject_token_type": JWT,
        "token_url": format!("{}{STS_TOKEN_PATH}", fake.url),
        "service_account_impersonation_url": format!(
            "{}projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken",
            fake.iam_url()
        ),
        "credential_source": {"file": subject},
    });
    let file = subject.with_extension("external-account.json");
    std::fs::write(&file, config.to_string()).unwrap();
    file
}

/// One STS exchange, one `generateAccessToken` for the fake's service account with the
/// federated token, and no service-account key used.
fn exchanged_then_impersonated_once(fake: &FakeGcp) {
    assert_eq!(count(fake, &format!("POST {STS_TOKEN_PATH}")), 1);
    let impersonation = format!("POST /iam/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken");
    assert_eq!(
        count(fake, &impersonation),
        1,
        "impersonated with the federated token: {:?}",
        fake.requests()
    );
    assert_eq!(count(fake, "POST /token"), 0, "no service-account key was used");
}

#[tokio::test]
async fn a_file_sourced_token_is_exchanged_then_impersonates_the_service_account() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("oidc-token");
    std::fs::write(&subject, EXTERNAL_TOKEN).unwrap();
    let file = impersonating_config(&fake, &subject);
    let gcp = provider(&fake, &file).await.unwrap();
    functions_call_is_authorized(&fake, &gcp).await;
    exchanged_then_impersonated_once(&fake);

    // GOOGLE_APPLICATION_CREDENTIALS (the key_file key) may name the same file.
    let fake = FakeGcp::start().await;
    let file = impersonating_config(&fake, &subject);
    let gcp = fake
        .builder()
        .with_config("key_file", file.to_str().unwrap())
        .unwrap()
        .build()
        .await
        .unwrap();
    functions_call_is_authorized(&fake, &gcp).await;
    assert_eq!(count(&fake, &format!("POST {STS_TOKEN_PATH}")), 1);
}

#[tokio::test]
async fn an_untrusted_subject_token_or_a_wrong_file_is_refused_without_repeating_a_secret() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("oidc-token");
    std::fs::write(&subject, "eyJhbGciOiJSUzI1NiJ9.canary-untrusted.sig").unwrap();
    let config = json!({
        "type": "external_account",
        "audience": WORKLOAD_IDENTITY_PROVIDER,
        "subject_token_type": JWT,
        "token_url": format!("{}{STS_TOKEN_PATH}", fake.url),
        "credential_source": {"file": subject},
    });
    let file = dir.path().join("external-account.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let gcp = provider(&fake, &file).await.unwrap();
    let e = gcp.get("federated-fn").await.unwrap_err();
    assert_eq!(e.kind(), "unauthenticated", "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("canary"), "{shown}");

    // A service-account key given as an external_account file is refused before any call.
    let e = provider(&fake, &fake.key_path()).await.unwrap_err();
    assert_eq!(e.kind(), "invalid_config", "{e}");
    assert!(e.to_string().contains("external_account_file"), "{e}");
}

const REQUEST_TOKEN: &str = "canary-actions-request-token";

/// `auth = github_oidc` through `fake`'s STS with the job's token from `service`,
/// impersonating `service_account` when given; its credentials show no secret.
async fn github_provider(
    fake: &FakeGcp,
    service: &GithubTokenService,
    service_account: Option<&str>,
) -> faas_gcp::GcpProvider {
    let credentials = Credentials::GithubOidc {
        workload_identity_provider: WORKLOAD_IDENTITY_PROVIDER.into(),
        service_account: service_account.map(str::to_string),
        oidc: GithubOidc::new(&service.url, REQUEST_TOKEN).unwrap(),
    };
    assert!(!format!("{credentials:?}").contains("canary"));
    fake.builder()
        .credentials(credentials)
        .with_config("sts_url", &format!("{}{STS_TOKEN_PATH}", fake.url))
        .unwrap()
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_github_oidc_helper_token_is_exchanged_for_direct_access() {
    let fake = FakeGcp::start().await;
    let service = GithubTokenService::start(REQUEST_TOKEN, |_| EXTERNAL_TOKEN.to_string()).await;
    let gcp = github_provider(&fake, &service, None).await;
    functions_call_is_authorized(&fake, &gcp).await;
    assert_eq!(
        service.seen().audiences,
        ["https://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/github"]
    );
    assert_eq!(count(&fake, &format!("POST {STS_TOKEN_PATH}")), 1);
    assert_eq!(count(&fake, "POST /token"), 0, "no service-account key was used");
}

/// The job's token, exchanged at STS, then impersonating a service account at the IAM
/// Credentials endpoint this provider was given (the fake's): the configuration
/// google-github-actions/auth writes, built in memory.
#[tokio::test]
async fn the_github_oidc_helper_token_is_exchanged_then_impersonates_the_service_account() {
    let fake = FakeGcp::start().await;
    let service = GithubTokenService::start(REQUEST_TOKEN, |_| EXTERNAL_TOKEN.to_string()).await;
    let gcp = github_provider(&fake, &service, Some(CLIENT_EMAIL)).await;
    assert!(!format!("{gcp:?}").contains(REQUEST_TOKEN));
    functions_call_is_authorized(&fake, &gcp).await;
    assert_eq!(
        service.seen().audiences,
        ["https://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/github"]
    );
    exchanged_then_impersonated_once(&fake);
}

#[tokio::test]
async fn auth_github_oidc_settings_are_checked_before_any_call() {
    let fake = FakeGcp::start().await;
    let e = fake.builder().with_config("auth", "oidc").unwrap_err();
    assert!(e.to_string().contains("github_oidc"), "{e}");
    let e = fake
        .builder()
        .with_config("auth", "github_oidc")
        .unwrap()
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("workload_identity_provider"), "{e}");
    if std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_none() {
        let e = fake
            .builder()
            .with_config("auth", "github_oidc")
            .unwrap()
            .with_config("workload_identity_provider", WORKLOAD_IDENTITY_PROVIDER)
            .unwrap()
            .build()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{e}");
    }
    let e = fake
        .builder()
        .credentials(Credentials::GithubOidc {
            workload_identity_provider: "projects/1/serviceAccounts/x".into(),
            service_account: None,
            oidc: GithubOidc::new("http://127.0.0.1:9/idtoken?a=1", REQUEST_TOKEN).unwrap(),
        })
        .build()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("workloadIdentityPools"), "{e}");
    assert!(fake.requests().is_empty(), "no request was made: {:?}", fake.requests());
}

#[tokio::test]
async fn an_external_account_file_in_google_application_credentials_is_used_by_default() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("oidc-token");
    std::fs::write(&subject, EXTERNAL_TOKEN).unwrap();
    let file = impersonating_config(&fake, &subject);
    // gcp_auth reads the variable itself: a child process gets it.
    run_in_child(
        "adc_child",
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", file.as_os_str()),
            ("FAAS_TEST_FAKE_GCP", fake.url.as_ref()),
        ],
    )
    .await;
    assert_eq!(
        count(&fake, &format!("POST {STS_TOKEN_PATH}")),
        1,
        "{:?}",
        fake.requests()
    );
    assert!(fake.requests().iter().any(|r| r.contains("/functions/federated-fn")));
}

/// Run by `an_external_account_file_in_google_application_credentials_is_used_by_default` in
/// a child process whose `GOOGLE_APPLICATION_CREDENTIALS` names the file.
#[tokio::test]
#[ignore = "run in a child process by an_external_account_file_in_google_application_credentials_is_used_by_default"]
async fn adc_child() {
    let url = std::env::var("FAAS_TEST_FAKE_GCP").expect("run by its parent test");
    let gcp = faas_gcp::GcpBuilder::new()
        .project(faas_gcp::test_support::PROJECT)
        .region(faas_gcp::test_support::REGION)
        .with_config("functions_url", &format!("{url}/functions/v2/"))
        .unwrap()
        .with_config("iam_credentials_url", &format!("{url}/iam/v1/"))
        .unwrap()
        .with_config("invoker", "public")
        .unwrap()
        .build()
        .await
        .unwrap();
    let e = gcp.get("federated-fn").await.unwrap_err();
    assert_eq!(e.kind(), "not_found", "Cloud Functions accepted the token: {e}");
}
