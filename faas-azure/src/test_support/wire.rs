//! Small helpers the handlers share: ARM's error bodies, form and percent decoding, and the
//! sha256 that identifies a package.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

pub(super) fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

pub(super) fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

pub(super) fn form(body: &Bytes) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

pub(super) fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An injected fault in ARM's error shape (the common error response, `{"error": {"code",
/// "message"}}`): `429 TooManyRequests` for throttles (Resource Manager's throttling answer,
/// "Throttling Resource Manager requests"; the layer adds `Retry-After`), `503
/// ServiceUnavailable`, `500 InternalServerError`, and the status's reason for any other.
pub(super) fn arm_fault(status: u16, _kind: &faas_core::conformance::faults::FaultKind) -> Response {
    let (code, message) = match status {
        429 => (
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for this operation.",
        ),
        503 => (
            "ServiceUnavailable",
            "The service is currently unavailable. Please retry the request.",
        ),
        500 => (
            "InternalServerError",
            "The server encountered an internal error. Please retry the request.",
        ),
        _ => ("InternalServerError", "injected fault"),
    };
    error(status, code, message)
}
