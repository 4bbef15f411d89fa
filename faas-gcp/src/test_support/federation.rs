//! Workload Identity Federation: the Security Token Service's `POST /v1/token` (an RFC 8693
//! token exchange of a trusted external token for a federated access token) at
//! `/sts/v1/token`, and IAM Credentials `generateAccessToken` (service-account impersonation
//! with that federated token) at `/iam/v1/projects/-/serviceAccounts/{email}:generateAccessToken`,
//! with the request and response fields Google documents. The tokens they issue are the ones
//! the fake's other endpoints accept.
//!
//! STS takes its fields form-encoded (`grant_type`, `subject_token`, … as client libraries
//! send them) or as JSON (`grantType`, `subjectToken`, … as the REST reference names them).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::State;
use super::wire::{error, ok, percent_decode, unix_now};

/// The workload identity pool provider the fake trusts (the STS `audience`).
pub const WORKLOAD_IDENTITY_PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/github";
/// The one external (OIDC) token the provider's attribute condition accepts.
pub const EXTERNAL_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.canary-external-oidc-token.sig";
/// STS's token path on the fake (`token_url` = `{url}{path}`).
pub const STS_TOKEN_PATH: &str = "/sts/v1/token";

const IAM_SCOPE: &str = "https://www.googleapis.com/auth/iam";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];

/// `POST /sts/v1/token`.
pub(super) fn sts_token(s: &mut State, headers: &HeaderMap, body: &Bytes) -> Response {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: BTreeMap<String, String> = if json {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        [
            ("grant_type", "grantType"),
            ("audience", "audience"),
            ("scope", "scope"),
            ("requested_token_type", "requestedTokenType"),
            ("subject_token", "subjectToken"),
            ("subject_token_type", "subjectTokenType"),
        ]
        .into_iter()
        .filter_map(|(k, camel)| v[camel].as_str().map(|x| (k.to_string(), x.to_string())))
        .collect()
    } else {
        String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), percent_decode(v)))
            .collect()
    };
    let field = |k: &str| fields.get(k).map(String::as_str);
    let invalid = |error: &str, description: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if field("grant_type") != Some(TOKEN_EXCHANGE) {
        return invalid(
            "unsupported_grant_type",
            "grant_type must be urn:ietf:params:oauth:grant-type:token-exchange",
        );
    }
    if field("requested_token_type") != Some(ACCESS_TOKEN_TYPE) {
        return invalid(
            "invalid_request",
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token",
        );
    }
    if !field("subject_token_type").is_some_and(|t| SUBJECT_TOKEN_TYPES.contains(&t)) {
        return invalid("invalid_request", "Invalid value for \"subject_token_type\".");
    }
    if field("audience") != Some(WORKLOAD_IDENTITY_PROVIDER) {
        return invalid(
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid.",
        );
    }
    // Required for a Google access token: cloud-platform for direct access, iam for a token
    // that then impersonates a service account (what the client libraries ask for).
    if !field("scope").is_some_and(|sc| {
        sc.split(' ')
            .any(|x| [crate::auth::CLOUD_PLATFORM, IAM_SCOPE].contains(&x))
    }) {
        return invalid("invalid_scope", "The scope is missing or not supported.");
    }
    if field("subject_token") != Some(EXTERNAL_TOKEN) {
        return invalid(
            "invalid_grant",
            "The audience in ID Token does not match the expected audience.",
        );
    }
    let token = format!("ya29.fake-federated-{}", s.next());
    s.access_tokens.push(token.clone());
    ok(json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": 3600,
    }))
}

/// `POST /iam/v1/projects/-/serviceAccounts/{email}:generateAccessToken` (its bearer was
/// checked by the router): `{"scope": [...], "lifetime": "3600s"}` →
/// `{"accessToken", "expireTime"}`.
pub(super) fn generate_access_token(s: &mut State, path: &str, body: &Value) -> Response {
    let email = path
        .trim_start_matches("/iam/v1/projects/-/serviceAccounts/")
        .trim_end_matches(":generateAccessToken");
    if email != super::CLIENT_EMAIL {
        return error(404, "NOT_FOUND", &format!("Service account {email} not found."));
    }
    let scopes: Vec<&str> = body["scope"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return error(400, "INVALID_ARGUMENT", "Scope required.");
    }
    let lifetime = match body["lifetime"].as_str() {
        None => 3600,
        Some(l) => match l.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
            Some(n) if (1..=43200).contains(&n) => n,
            _ => return error(400, "INVALID_ARGUMENT", "Invalid value for lifetime."),
        },
    };
    let token = format!("ya29.fake-impersonated-{}", s.next());
    s.access_tokens.push(token.clone());
    let expire = crate::timestamp::format_ms((unix_now() + lifetime) * 1000);
    ok(json!({"accessToken": token, "expireTime": expire}))
}
