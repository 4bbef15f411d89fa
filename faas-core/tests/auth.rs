//! The GitHub Actions OIDC helper against a local fake of the job's token service: the
//! request GitHub documents (`GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience=…`, the request
//! token as a bearer), the `{"count", "value"}` answer, refusals — and neither token in an
//! error, `Debug` or a trace-level log line.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faas_core::ci_token::{CiTokenError, GithubOidc};

const REQUEST_TOKEN: &str = "canary-request-token-ghs_abc123";

#[derive(Default)]
struct Fake {
    /// The audiences of the requests that carried the right bearer.
    audiences: Vec<String>,
    /// Every request's `api-version`, bearer or not.
    api_versions: Vec<String>,
}

/// The token GitHub would issue for `audience` (a JWT-shaped string that names it).
fn issued(audience: &str) -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.canary-id-token-for-{audience}.sig")
}

async fn idtoken(
    State(fake): State<Arc<Mutex<Fake>>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut f = fake.lock().unwrap();
    f.api_versions.push(q.get("api-version").cloned().unwrap_or_default());
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.to_string());
    if bearer.as_deref() != Some(REQUEST_TOKEN) {
        let body = serde_json::json!({"message": "Unauthorized: the request token is not valid"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let audience = q.get("audience").cloned().unwrap_or_default();
    f.audiences.push(audience.clone());
    axum::Json(serde_json::json!({"count": 1, "value": issued(&audience)})).into_response()
}

/// The fake at a loopback URL shaped like GitHub's (`…/idtoken?api-version=2.0`).
async fn start() -> (String, Arc<Mutex<Fake>>) {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let app = axum::Router::new()
        .route(
            "/_apis/distributedtask/hubs/build/plans/p1/jobs/j1/idtoken",
            axum::routing::get(idtoken),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/_apis/distributedtask/hubs/build/plans/p1/jobs/j1/idtoken?api-version=2.0",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

#[tokio::test(flavor = "current_thread")]
async fn the_id_token_is_requested_with_the_bearer_and_the_audience_and_never_logged() {
    let (url, fake) = start().await;
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let oidc = GithubOidc::new(&url, REQUEST_TOKEN).unwrap();
    let token = oidc.id_token("api://AzureADTokenExchange").await.unwrap();
    assert_eq!(token.secret(), issued("api://AzureADTokenExchange"));
    let aws = oidc.id_token("sts.amazonaws.com").await.unwrap();
    assert_eq!(aws.secret(), issued("sts.amazonaws.com"));
    {
        let f = fake.lock().unwrap();
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
    let (url, fake) = start().await;
    let oidc = GithubOidc::new(&url, "canary-wrong-request-token").unwrap();
    let e = oidc.id_token("sts.amazonaws.com").await.unwrap_err();
    assert!(matches!(e, CiTokenError::Refused { status: 401, .. }), "{e}");
    assert!(e.to_string().contains("request token is not valid"), "{e}");
    let core: faas_core::Error = e.into();
    assert_eq!(core.kind(), "unauthenticated");
    let shown = format!("{core} {core:?} {:?}", std::error::Error::source(&core));
    assert!(!shown.contains("canary"), "{shown}");
    assert!(fake.lock().unwrap().audiences.is_empty());
}

#[tokio::test]
async fn a_bad_audience_is_refused_before_any_request() {
    let (url, fake) = start().await;
    let oidc = GithubOidc::new(&url, REQUEST_TOKEN).unwrap();
    let e = oidc.id_token("").await.unwrap_err();
    assert!(matches!(e, CiTokenError::InvalidAudience { .. }), "{e}");
    let e: faas_core::Error = oidc.id_token("two words").await.unwrap_err().into();
    assert_eq!(e.kind(), "invalid_config");
    assert!(e.to_string().contains("audience"), "{e}");
    assert!(fake.lock().unwrap().api_versions.is_empty(), "no request was made");
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
