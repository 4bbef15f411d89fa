//! Federated and managed identities: the Entra token endpoint's client-assertion grant
//! (workload identity federation: `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! with the federated token as `client_assertion`), App Service's identity endpoint
//! (`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`) and
//! the Instance Metadata Service (`GET /metadata/identity/oauth2/token?api-version=…&resource=…`
//! with `Metadata: true`), each answering as Microsoft documents it. The ARM tokens they issue
//! are the ones the fake's ARM accepts.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::State;
use super::wire::{form, ok};

/// The assertion type of a federated (or certificate) client credential (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The one federated token the fake app registration's federated identity credential
/// trusts (a JWT-shaped string; the fake checks it byte for byte instead of its signature).
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.canary-federated-token.sig";
/// The secret App Service puts in `IDENTITY_HEADER`.
pub const IDENTITY_HEADER: &str = "canary-identity-header-secret";
/// App Service's identity endpoint path on the fake (`IDENTITY_ENDPOINT` = `{url}{path}`).
pub const APP_SERVICE_IDENTITY_PATH: &str = "/msi/token";
/// IMDS's token path (at `http://169.254.169.254`, reached through a proxy in tests).
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The client id of the fake's user-assigned managed identity.
pub const MANAGED_CLIENT_ID: &str = "33333333-3333-3333-3333-333333333333";

/// Whether a token request is a client-assertion grant (else the client-secret one).
pub(super) fn is_assertion_grant(body: &Bytes) -> bool {
    form(body).contains_key("client_assertion_type")
}

/// `POST /{tenant}/oauth2/v2.0/token` with a client assertion.
pub(super) fn assertion_token(s: &mut State, path: &str, body: &Bytes) -> Response {
    let f = form(body);
    let field = |k: &str| f.get(k).map(String::as_str);
    if !path.trim_start_matches('/').starts_with(super::TENANT) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    if field("grant_type") != Some("client_credentials") || field("scope") != Some(crate::ARM_SCOPE) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'grant_type' (client_credentials) and a scope of a resource.",
        );
    }
    if field("client_id") != Some(super::CLIENT_ID) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if field("client_assertion_type") != Some(JWT_BEARER) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS50027: Invalid client_assertion_type.",
        );
    }
    if field("client_assertion") != Some(FEDERATED_TOKEN) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS70021: No matching federated identity record found for presented assertion.",
        );
    }
    let token = format!("eyJ0eXAiOiJKV1QifQ.fake-arm-token-federated-{}", s.next());
    s.tokens.push(token.clone());
    ok(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
}

/// App Service's identity endpoint or IMDS, by path.
pub(super) fn managed_identity(
    s: &mut State,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    let app_service = path == APP_SERVICE_IDENTITY_PATH;
    if app_service && header("x-identity-header") != Some(IDENTITY_HEADER) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "The X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.",
        );
    }
    if !app_service && header("metadata") != Some("true") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    let api_version_ok = match query.get("api-version").map(String::as_str) {
        Some(v) if app_service => v == "2019-08-01",
        Some(v) => !v.is_empty(),
        None => false,
    };
    if !api_version_ok {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'api-version' is missing or not supported",
        );
    }
    let arm = crate::ARM_SCOPE.trim_end_matches("/.default");
    let resource = query.get("resource").map(String::as_str);
    if resource.map(|r| r.trim_end_matches('/')) != Some(arm) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            "AADSTS500011: The resource principal was not found.",
        );
    }
    if let Some(id) = query.get("client_id")
        && id != MANAGED_CLIENT_ID
    {
        // IMDS answers 400 for an identity not assigned to the resource.
        return entra_error(StatusCode::BAD_REQUEST, "invalid_request", "Identity not found");
    }
    let token = format!("eyJ0eXAiOiJKV1QifQ.fake-arm-token-managed-{}", s.next());
    s.tokens.push(token.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires_on = (now + 3599).to_string();
    if app_service {
        let client_id = query
            .get("client_id")
            .map_or("44444444-4444-4444-4444-444444444444", String::as_str);
        ok(json!({
            "access_token": token,
            "expires_on": expires_on,
            "resource": arm,
            "token_type": "Bearer",
            "client_id": client_id,
        }))
    } else {
        ok(json!({
            "access_token": token,
            "refresh_token": "",
            "expires_in": "3599",
            "expires_on": expires_on,
            "not_before": now.to_string(),
            "resource": arm,
            "token_type": "Bearer",
        }))
    }
}

fn entra_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}
