//! CI and platform authentication without client secrets, against the fake's Entra token
//! endpoint and identity endpoints: workload identity (a federated token file, through the
//! builder's `auth = workload_identity` keys), the GitHub Actions job's ID token as the client
//! assertion, and managed identity (IMDS, and App Service's `IDENTITY_ENDPOINT` in a child
//! process that has it). Each token is then used for a real ARM call the fake only answers
//! with a bearer it issued — and no token, assertion or identity header reaches a trace log.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{
    APP_SERVICE_IDENTITY_PATH, CLIENT_ID, FEDERATED_TOKEN, FakeAzure, IDENTITY_HEADER, IMDS_PATH, MANAGED_CLIENT_ID,
    RESOURCE_GROUP, SUBSCRIPTION, TENANT,
};
use faas_azure::{AzureBuilder, AzureProvider, Credentials};
use faas_core::Provider;
use faas_core::ci_token::GithubOidc;
use faas_core::ci_token::fake::{GithubTokenService, run_in_child};

/// No Blob call is made: ARM's `GET sites/{app}` is the call the token is used for.
const NO_BLOB: &str = "http://127.0.0.1:9";

/// ARM answers `GET …/sites/{app}` for a missing app with 404 to a bearer it accepts (and 401
/// to anyone else); returns the request the fake saw for it.
async fn arm_call_is_authorized(fake: &FakeAzure, azure: &AzureProvider) -> String {
    let e = azure.get("federated-app").await.unwrap_err();
    assert_eq!(e.kind(), "not_found", "ARM accepted the token: {e}");
    fake.requests()
        .into_iter()
        .find(|r| r.starts_with("GET /subscriptions/") && r.contains("/sites/federated-app"))
        .unwrap_or_else(|| panic!("no ARM call in {:?}", fake.requests()))
}

fn token_grants(fake: &FakeAzure) -> usize {
    let path = format!("POST /{TENANT}/oauth2/v2.0/token");
    fake.requests().iter().filter(|r| r.starts_with(&path)).count()
}

#[tokio::test]
async fn auth_workload_identity_exchanges_the_token_file_for_an_arm_token() {
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    std::fs::write(&file, FEDERATED_TOKEN).unwrap();
    let mut b = fake.builder(NO_BLOB);
    for (k, v) in [
        ("auth", "workload_identity"),
        ("tenant_id", TENANT),
        ("client_id", CLIENT_ID),
        ("federated_token_file", file.to_str().unwrap()),
    ] {
        b = b.with_config(k, v).unwrap();
    }
    let azure = b.build().await.unwrap();
    arm_call_is_authorized(&fake, &azure).await;
    assert_eq!(token_grants(&fake), 1);
    // A token the federated credential does not trust is refused, and not repeated.
    std::fs::write(&file, "eyJhbGciOiJSUzI1NiJ9.canary-untrusted.sig").unwrap();
    let b = fake.builder(NO_BLOB).credentials(Credentials::WorkloadIdentity {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        token_file: Some(file.clone()),
    });
    let e = b.build().await.unwrap().get("federated-app").await.unwrap_err();
    assert_eq!(e.kind(), "unauthenticated", "{e}");
    let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
    assert!(!shown.contains("canary"), "{shown}");
}

const REQUEST_TOKEN: &str = "canary-actions-request-token";

#[tokio::test(flavor = "current_thread")]
async fn the_github_oidc_token_is_the_client_assertion_and_nothing_secret_is_logged() {
    let fake = FakeAzure::start().await;
    let service = GithubTokenService::start(REQUEST_TOKEN, |_| FEDERATED_TOKEN.to_string()).await;
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let credentials = Credentials::GithubOidc {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        oidc: GithubOidc::new(&service.url, REQUEST_TOKEN).unwrap(),
        audience: faas_azure::AZURE_AUDIENCE.into(),
    };
    assert!(!format!("{credentials:?}").contains("canary"));
    let azure = fake.builder(NO_BLOB).credentials(credentials).build().await.unwrap();
    arm_call_is_authorized(&fake, &azure).await;
    assert_eq!(service.seen().audiences, ["api://AzureADTokenExchange"]);
    assert_eq!(token_grants(&fake), 1);
    assert!(logs.text().contains("federated-app"), "the capture works");
    logs.assert_free_of(&[REQUEST_TOKEN, FEDERATED_TOKEN, "canary", "fake-arm-token"]);
    assert!(!format!("{azure:?}").contains("canary"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_managed_identity_from_imds_gets_an_arm_token() {
    let fake = FakeAzure::start().await;
    let (logs, _guard) = faas_core::conformance::capture_logs();
    // IMDS lives at http://169.254.169.254; this client reaches it through the fake, as a
    // proxy (https requests, ARM's, go to the fake directly).
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap())
        .proxy(reqwest::Proxy::http(&fake.url).unwrap())
        .build()
        .unwrap();
    let azure = fake
        .builder(NO_BLOB)
        .with_config("auth", "managed_identity")
        .unwrap()
        .with_config("client_id", MANAGED_CLIENT_ID)
        .unwrap()
        .http_client(http)
        .build()
        .await
        .unwrap();
    arm_call_is_authorized(&fake, &azure).await;
    let imds: Vec<String> = fake.requests().into_iter().filter(|r| r.contains(IMDS_PATH)).collect();
    assert_eq!(imds.len(), 1, "{:?}", fake.requests());
    assert!(imds[0].contains(&format!("client_id={MANAGED_CLIENT_ID}")), "{imds:?}");
    assert!(
        imds[0].contains("resource=https%3A%2F%2Fmanagement.azure.com"),
        "{imds:?}"
    );
    assert_eq!(token_grants(&fake), 0, "no Entra grant: the token came from IMDS");
    logs.assert_free_of(&["fake-arm-token"]);
}

#[tokio::test]
async fn a_managed_identity_from_the_app_service_identity_endpoint_gets_an_arm_token() {
    let fake = FakeAzure::start().await;
    // azure_identity reads IDENTITY_ENDPOINT / IDENTITY_HEADER itself: a child process gets them.
    let endpoint = format!("{}{APP_SERVICE_IDENTITY_PATH}", fake.url);
    let ca = fake.ca_path();
    let stdout = run_in_child(
        "app_service_child",
        &[
            ("IDENTITY_ENDPOINT", endpoint.as_ref()),
            ("IDENTITY_HEADER", IDENTITY_HEADER.as_ref()),
            ("FAAS_TEST_FAKE_AZURE", fake.url.as_ref()),
            ("FAAS_AZURE_CA_FILE", ca.as_os_str()),
        ],
    )
    .await;
    let msi: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with(&format!("GET {APP_SERVICE_IDENTITY_PATH}?")))
        .collect();
    assert_eq!(msi.len(), 1, "{:?}", fake.requests());
    assert!(msi[0].contains("api-version=2019-08-01"), "{msi:?}");
    assert!(
        fake.requests().iter().any(|r| r.contains("/sites/federated-app")),
        "the child's ARM call"
    );
    assert_eq!(token_grants(&fake), 0);
    assert!(!stdout.contains(IDENTITY_HEADER) && !stdout.contains("fake-arm-token"));
}

/// Run by `a_managed_identity_from_the_app_service_identity_endpoint_gets_an_arm_token` in a
/// child process whose environment has App Service's identity variables.
#[tokio::test]
#[ignore = "run in a child process by a_managed_identity_from_the_app_service_identity_endpoint_gets_an_arm_token"]
async fn app_service_child() {
    let url = std::env::var("FAAS_TEST_FAKE_AZURE").expect("run by its parent test");
    let mut b = AzureBuilder::new()
        .subscription(SUBSCRIPTION)
        .resource_group(RESOURCE_GROUP)
        .storage_account("devstoreaccount1")
        .blob_endpoint(NO_BLOB)
        .arm_url(&url);
    for (k, v) in [
        ("auth", "managed_identity"),
        ("ca_file", &std::env::var("FAAS_AZURE_CA_FILE").unwrap()),
    ] {
        b = b.with_config(k, v).unwrap();
    }
    let azure = b.build().await.unwrap();
    let e = azure.get("federated-app").await.unwrap_err();
    assert_eq!(e.kind(), "not_found", "ARM accepted the token: {e}");
}

#[tokio::test]
async fn auth_settings_are_checked_before_any_call() {
    let e = AzureBuilder::new().with_config("auth", "password").unwrap_err();
    assert_eq!(e.kind(), "invalid_config");
    assert!(e.to_string().contains("workload_identity"), "{e}");
    let fake = FakeAzure::start().await;
    let build = |auth: &str| {
        let mut b = fake.builder(NO_BLOB);
        for (k, v) in [("auth", auth), ("tenant_id", TENANT), ("client_id", CLIENT_ID)] {
            b = b.with_config(k, v).unwrap();
        }
        b.build()
    };
    if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_none() {
        let e = build("workload_identity").await.unwrap_err();
        assert!(e.to_string().contains("federated_token_file"), "{e}");
    }
    if std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_none() {
        let e = build("github_oidc").await.unwrap_err();
        assert!(e.to_string().contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{e}");
    }
    assert!(fake.requests().is_empty(), "no request was made");
}
