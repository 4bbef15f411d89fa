//! The fake's one request handler, dispatching on the path as Google's front ends do:
//! `/functions/v2/…` (Cloud Functions), `/run/v2/…` (Cloud Run Admin), `/iam/v1/…` (IAM
//! Credentials), `/monitoring/v3/…` (Cloud Monitoring), `/logging/v2/…` (Cloud Logging), `/token` (OAuth), `/upload/…` (signed upload URLs) and `/invoke/…` (the
//! functions themselves).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

use super::auth::token;
use super::discovery;
use super::federation;
use super::functions::{create_function, function, list_functions};
use super::invoke::invoke;
use super::observe::{entries_list, time_series};
use super::services::service;
use super::state::{Fault, State};
use super::wire::{b64url, bad_field, error, injected_error, ok, parent, percent_decode, unix_now};
use faas_core::conformance::faults::Faults;

/// Serves the fake's routes with `faults` in front of every one of them (see
/// [`super::FakeGcp::faults`]), errors rendered as Google's APIs render them.
pub(crate) async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>, faults: Faults) {
    let app = axum::Router::new().fallback(handle).with_state(state);
    let app = faults.wrap(app, injected_error);
    axum::serve(listener, app).await.unwrap();
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {uri}"));
        if let Err(violation) = discovery::check(method.as_str(), &path, uri.query().unwrap_or_default(), &body) {
            s.violations.push(format!("{method} {path}: {violation}"));
            return bad_field(
                "request",
                &format!("not what the discovery document defines: {violation}"),
            );
        }
        s.settle();
        let pos = s
            .faults
            .iter()
            .position(|(m, p, _)| *m == method.as_str() && path.contains(p.as_str()));
        pos.map(|i| s.faults.remove(i).2)
    };
    if let Some(Fault::Status(code, status)) = &fault {
        return error(*code, status, "injected fault");
    }
    // Sources in another bucket are checked against the storage emulator (without the lock).
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let source = &body_json["buildConfig"]["source"]["storageSource"];
    if !source.is_null() {
        let (storage, upload_bucket) = {
            let s = state.lock().unwrap();
            (
                s.storage_url.clone(),
                source["bucket"].as_str() == Some(&upload_bucket()),
            )
        };
        let found = if upload_bucket {
            let s = state.lock().unwrap();
            s.uploads.contains_key(source["object"].as_str().unwrap_or_default())
        } else {
            source_exists(storage, source).await
        };
        if !found {
            return bad_field(
                "build_config.source.storage_source",
                "Storage source not found: upload the archive before deploying",
            );
        }
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut s = state.lock().unwrap();
    let needs_token = ["/functions/", "/run/", "/iam/", "/monitoring/", "/logging/"]
        .iter()
        .any(|p| path.starts_with(p));
    if needs_token && !bearer.as_ref().is_some_and(|b| s.access_tokens.contains(b)) {
        return error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    if path == format!("/monitoring/v3/projects/{}/timeSeries", super::PROJECT) && method == Method::GET {
        return time_series(&mut s, uri.query().unwrap_or_default());
    }
    if path == "/logging/v2/entries:list" && method == Method::POST {
        return entries_list(&mut s, body_json);
    }
    let response = route(&mut s, &method, &path, &query, &headers, &body, body_json, bearer);
    match fault {
        Some(Fault::UnavailableAfterApply) => error(503, "UNAVAILABLE", "The service is currently unavailable."),
        _ => response,
    }
}

#[allow(clippy::too_many_arguments)]
fn route(
    s: &mut State,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    json_body: Value,
    bearer: Option<String>,
) -> Response {
    let functions_root = format!("/functions/v2/{}/functions", parent());
    let run_root = format!("/run/v2/{}/services/", parent());
    if path == "/token" {
        return token(s, body);
    }
    if path == federation::STS_TOKEN_PATH && method == Method::POST {
        return federation::sts_token(s, headers, body);
    }
    if path.starts_with("/iam/v1/projects/-/serviceAccounts/") && path.ends_with(":generateAccessToken") {
        return federation::generate_access_token(s, path, &json_body);
    }
    if let Some(object) = path.strip_prefix("/upload/") {
        if headers.contains_key("authorization") {
            return error(403, "PERMISSION_DENIED", "signed URLs must be used without credentials");
        }
        if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/zip") {
            return error(
                403,
                "PERMISSION_DENIED",
                "SignatureDoesNotMatch: content-type must be application/zip",
            );
        }
        let sha: String = sha2::Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        s.uploads.insert(object.to_string(), (sha, body.len()));
        return ok(Value::Null);
    }
    if let Some(rest) = path.strip_prefix("/invoke/") {
        return invoke(s, rest, bearer, &json_body, body);
    }
    if path == "/computeMetadata/v1/instance/service-accounts/default/identity" {
        if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
            return (StatusCode::FORBIDDEN, "Missing Metadata-Flavor:Google header.").into_response();
        }
        let audience = query.get("audience").cloned().unwrap_or_default();
        let header = b64url(&json!({"alg": "RS256", "typ": "JWT"}));
        let claims = b64url(&json!({"aud": audience, "email": "default", "exp": unix_now() + 3600}));
        return format!("{header}.{claims}.fake-signature").into_response();
    }
    if path.starts_with("/iam/v1/projects/-/serviceAccounts/") && path.ends_with(":generateIdToken") {
        let audience = json_body["audience"].as_str().unwrap_or_default();
        let email = path
            .trim_start_matches("/iam/v1/projects/-/serviceAccounts/")
            .trim_end_matches(":generateIdToken");
        let header = b64url(&json!({"alg": "RS256", "typ": "JWT"}));
        let claims = b64url(
            &json!({"aud": audience, "email": email, "iss": "https://accounts.google.com", "exp": unix_now() + 3600}),
        );
        return ok(json!({"token": format!("{header}.{claims}.fake-signature")}));
    }
    if let Some(id) = path
        .strip_prefix(&format!("/functions/v2/{}/operations/", parent()))
        .or_else(|| path.strip_prefix(&format!("/run/v2/{}/operations/", parent())))
    {
        return match s.ops.contains_key(id) {
            true => ok(s.render_op(id)),
            false => error(404, "NOT_FOUND", "operation not found"),
        };
    }
    if path == format!("{functions_root}:generateUploadUrl") && method == Method::POST {
        let object = format!("{:016x}.zip", s.rng.u64(..));
        return ok(json!({
            "uploadUrl": format!("{}/upload/{object}?GoogleAccessId=fake&Expires=9999999999&Signature=c2VjcmV0LXNpZ25hdHVyZQ", s.base),
            "storageSource": {"bucket": upload_bucket(), "object": object},
        }));
    }
    if path == functions_root && method == Method::POST {
        return create_function(s, query, json_body);
    }
    if path == functions_root && method == Method::GET {
        return list_functions(s, query);
    }
    if let Some(name) = path.strip_prefix(&format!("{functions_root}/")) {
        return function(s, method, name, query, json_body);
    }
    if let Some(rest) = path.strip_prefix(&run_root) {
        return service(s, method, rest, query, json_body);
    }
    error(404, "NOT_FOUND", &format!("no such endpoint: {method} {path}"))
}

async fn source_exists(storage: Option<String>, source: &Value) -> bool {
    let (Some(bucket), Some(object)) = (source["bucket"].as_str(), source["object"].as_str()) else {
        return false;
    };
    let Some(storage) = storage else {
        return true;
    };
    let mut url = reqwest::Url::parse(&storage).unwrap();
    url.path_segments_mut()
        .unwrap()
        .extend(["storage", "v1", "b", bucket, "o", object]);
    reqwest::get(url).await.is_ok_and(|r| r.status().is_success())
}

fn upload_bucket() -> String {
    format!("gcf-v2-uploads-fake-{}", super::REGION)
}
