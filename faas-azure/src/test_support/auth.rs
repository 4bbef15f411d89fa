//! Credentials: the Entra token endpoint (client-secret grants for the fake's app registration,
//! answered with ARM or Application Insights access tokens) and the apps' publishing credentials (Kudu's basic auth).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::State;
use super::wire::{form, ok};

pub(super) fn token(s: &mut State, path: &str, body: &Bytes) -> Response {
    let f = form(body);
    let tenant_ok = path.trim_start_matches('/').starts_with(super::TENANT);
    let valid = tenant_ok
        && f.get("grant_type").map(String::as_str) == Some("client_credentials")
        && f.get("client_id").map(String::as_str) == Some(super::CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(super::CLIENT_SECRET)
        && [Some(crate::ARM_SCOPE), Some(crate::APP_INSIGHTS_SCOPE)].contains(&f.get("scope").map(String::as_str));
    if !valid {
        let body =
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let token = if f.get("scope").map(String::as_str) == Some(crate::APP_INSIGHTS_SCOPE) {
        let t = format!("eyJ0eXAiOiJKV1QifQ.fake-appinsights-token-{}", s.next());
        s.ai_tokens.push(t.clone());
        t
    } else {
        let t = format!("eyJ0eXAiOiJKV1QifQ.fake-arm-token-{}", s.next());
        s.tokens.push(t.clone());
        t
    };
    ok(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
}

/// The publishing credentials of an app: `$app` and a fixed password.
pub(super) fn publishing_password(app: &str) -> String {
    format!("fake-publishing-password-{app}")
}

pub(super) fn publishing_basic(app: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("${app}:{}", publishing_password(app)))
}
