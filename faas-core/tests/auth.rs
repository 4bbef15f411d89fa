//! The GitHub Actions OIDC helper against a local fake of the job's token service: the
//! request GitHub documents (`GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=…`, the request
//! token as a bearer), the `{"count", "value"}` answer, refusals — and neither token in an
//! error, `Debug` or a trace-level log line.

#![allow(clippy::unwrap_used)]

use faas_core::ci_token::fake::GithubTokenService;
use faas_core::ci_token::{CiTokenError, GithubOidc};

const REQUEST_TOKEN: &str = "canary-request-token-ghs_abc123";

/// The token GitHub would issue for `audience` (a JWT-shaped string that names it).
fn issued(audience: &str) -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.canary-id-token-for-{audience}.sig")
}

async fn start() -> GithubTokenService {
    GithubTokenService::start(REQUEST_TOKEN, issued).await
}

#[tokio::test(flavor = "current_thread")]
async fn the_id_token_is_requested_with_the_bearer_and_the_audience_and_never_logged() {
    let fake = start().await;
    let url = fake.url.clone();
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let oidc = GithubOidc::new(&url, REQUEST_TOKEN).unwrap();
    let token = oidc.id_token("api://AzureADTokenExchange").await.unwrap();
    assert_eq!(token.secret(), issued("api://AzureADTokenExchange"));
    let aws = oidc.id_token("sts.amazonaws.com").await.unwrap();
    assert_eq!(aws.secret(), issued("sts.amazonaws.com"));
    {
        let f = fake.seen();
        // The audience is URL-encoded on the way and decoded by the server, and GitHub's own
        // query (api-version) is kept.
        assert_eq!(f.audiences, ["api://AzureADTokenExchange", "sts.amazonaws.com"]);
        assert_eq!(f.api_versions, ["2.0", "2.0"]);
    }
    let shown = format!("{token:?} {oidc:?}");
    assert!(!shown.contains("canary"), "{shown}");
    assert!(logs.text().contains("GitHub Actions ID token"), "the capture works");
    logs.assert_free_of(&[REQUEST_TOKEN, token.secret(), aws.secret(), "canary"]);
}

#[tokio::test]
async fn a_wrong_request_token_is_a_refusal_that_names_neither_token() {
    let fake = start().await;
    let url = fake.url.clone();
    let oidc = GithubOidc::new(&url, "canary-wrong-request-token").unwrap();
    let e = oidc.id_token("sts.amazonaws.com").await.unwrap_err();
    assert!(matches!(e, CiTokenError::Refused { status: 401, .. }), "{e}");
    assert!(e.to_string().contains("request token is not valid"), "{e}");
    let core: faas_core::Error = e.into();
    assert_eq!(core.kind(), "unauthenticated");
    let shown = format!("{core} {core:?} {:?}", std::error::Error::source(&core));
    assert!(!shown.contains("canary"), "{shown}");
    assert!(fake.seen().audiences.is_empty());
}

#[tokio::test]
async fn a_bad_audience_is_refused_before_any_request() {
    let fake = start().await;
    let url = fake.url.clone();
    let oidc = GithubOidc::new(&url, REQUEST_TOKEN).unwrap();
    let e = oidc.id_token("").await.unwrap_err();
    assert!(matches!(e, CiTokenError::InvalidAudience { .. }), "{e}");
    let e: faas_core::Error = oidc.id_token("two words").await.unwrap_err().into();
    assert_eq!(e.kind(), "invalid_config");
    assert!(e.to_string().contains("audience"), "{e}");
    assert!(fake.seen().api_versions.is_empty(), "no request was made");
}

#[tokio::test]
async fn an_answer_without_a_value_is_a_typed_error() {
    let app = axum::Router::new().route(
        "/idtoken",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"count": 0})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/idtoken?api-version=2.0", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let e = GithubOidc::new(&url, REQUEST_TOKEN)
        .unwrap()
        .id_token("sts.amazonaws.com")
        .await
        .unwrap_err();
    assert!(matches!(e, CiTokenError::InvalidResponse { .. }), "{e}");
}

#[tokio::test]
async fn an_unreachable_service_is_a_request_error_naming_the_host() {
    let port = faas_core::conformance::free_port();
    let oidc = GithubOidc::new(&format!("http://127.0.0.1:{port}/idtoken?sig=canary"), REQUEST_TOKEN).unwrap();
    let e = oidc.id_token("sts.amazonaws.com").await.unwrap_err();
    assert!(matches!(e, CiTokenError::Request { .. }), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(shown.contains(&format!("127.0.0.1:{port}")), "{shown}");
    assert!(!shown.contains("canary"), "{shown}");
}
