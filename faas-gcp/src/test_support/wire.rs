//! Small helpers the handlers share: resource names, timestamps, Google's error bodies, the
//! base64url of JWT parts and the percent-decoding of forms and queries.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

pub(super) fn parent() -> String {
    format!("projects/{}/locations/{}", super::PROJECT, super::REGION)
}

pub(super) fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("2026-01-01T00:00:00.{secs:020}Z")
}

pub(super) fn error(http: u16, status: &str, message: &str) -> Response {
    let body = json!({"error": {"code": http, "message": message, "status": status}});
    (StatusCode::from_u16(http).unwrap(), axum::Json(body)).into_response()
}

pub(super) fn bad_field(field: &str, message: &str) -> Response {
    let body = json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": message}]}]}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

pub(super) fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

pub(super) fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub(super) fn claims(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
