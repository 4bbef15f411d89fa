//! A local fake of the GitHub Actions job's token service (feature `ci-token-fake`), for the
//! federation tests of every provider crate: `GET {path}?api-version=2.0&audience=…` with the
//! request token as bearer, answered `{"count": 1, "value": <token>}` as GitHub does, `401`
//! to any other bearer. Not for production use: it panics on failure, as test helpers do.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the service saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The audience of each request that carried the right bearer.
    pub audiences: Vec<String>,
    /// The `api-version` of every request, authorized or not.
    pub api_versions: Vec<String>,
}

type Issue = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Clone)]
struct Service {
    request_token: String,
    issue: Issue,
    seen: Arc<Mutex<Seen>>,
}

/// The fake, serving on a loopback port until the runtime ends.
pub struct GithubTokenService {
    /// The request URL, shaped like GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL` (with its
    /// `api-version` query).
    pub url: String,
    seen: Arc<Mutex<Seen>>,
}

impl GithubTokenService {
    /// Starts a service that accepts `request_token` and issues `issue(audience)`.
    pub async fn start(
        request_token: &str,
        issue: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> GithubTokenService {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let service = Service {
            request_token: request_token.to_string(),
            issue: Arc::new(issue),
            seen: seen.clone(),
        };
        let path = "/_apis/distributedtask/hubs/build/plans/p1/jobs/j1/idtoken";
        let app = axum::Router::new()
            .route(path, axum::routing::get(idtoken))
            .with_state(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}?api-version=2.0", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GithubTokenService { url, seen }
    }

    /// What it saw so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

async fn idtoken(
    State(service): State<Service>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut seen = service.seen.lock().unwrap();
    seen.api_versions
        .push(q.get("api-version").cloned().unwrap_or_default());
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.to_string());
    if bearer.as_deref() != Some(service.request_token.as_str()) {
        let body = serde_json::json!({"message": "Unauthorized: the request token is not valid"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let audience = q.get("audience").cloned().unwrap_or_default();
    seen.audiences.push(audience.clone());
    axum::Json(serde_json::json!({"count": 1, "value": (service.issue)(&audience)})).into_response()
}

/// Runs the `#[ignore]`d test `test` of the current test binary in a child process whose
/// environment is only `env` — for credential chains that read variables themselves
/// (`AWS_WEB_IDENTITY_TOKEN_FILE`, `IDENTITY_ENDPOINT`, `GOOGLE_APPLICATION_CREDENTIALS`),
/// which a test cannot set in its own process. Panics, with the child's output, unless that
/// one test ran and passed; returns its standard output.
pub async fn run_in_child(test: &str, env: &[(&str, &std::ffi::OsStr)]) -> String {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", test, "--ignored", "--nocapture"]).env_clear();
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in a child process: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
