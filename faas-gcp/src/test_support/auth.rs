//! The OAuth token endpoint (`/token`): a service-account JWT grant for the fake's account,
//! signed and unexpired, is answered with an access token the other endpoints accept. The
//! assertion's `aud` may be the key's `token_uri` (the fake's) or Google's token URI, which
//! Google's auth libraries put there whatever `token_uri` says.
//!
//! No official machine-readable definition of this endpoint ships on a registry (it is
//! OAuth 2.0, RFC 7523, documented in prose at
//! <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>), so its
//! requests are not checked against one.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::State;
use super::wire::{claims, ok, percent_decode, unix_now};

/// The audience Google's auth libraries put in service-account grants.
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

pub(super) fn token(s: &mut State, body: &Bytes) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let c = claims(&assertion);
    let signed = assertion.split('.').nth(2).is_some_and(|sig| sig.len() >= 300);
    let valid = c["iss"] == super::CLIENT_EMAIL
        && (c["aud"] == format!("{}/token", s.base) || c["aud"] == GOOGLE_TOKEN_URI)
        && c["scope"].as_str().is_some_and(|sc| sc.contains("cloud-platform"))
        && c["exp"].as_u64().is_some_and(|e| e > unix_now())
        && signed;
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT"})),
        )
            .into_response();
    }
    let token = format!("ya29.fake-{}", s.next());
    s.access_tokens.push(token.clone());
    ok(json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}))
}
