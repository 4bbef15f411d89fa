//! Small helpers the handlers share: resource names, timestamps, Google's error bodies, the
//! base64url of JWT parts and the percent-decoding of forms and queries.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

pub(super) fn parent() -> String {
    format!("projects/{}/locations/{}", super::PROJECT, super::REGION)
}

/// Now as RFC 3339 with nanoseconds (`2026-12-01T19:42:30.123456789Z`): Google's JSON
/// `Timestamp` takes at most 9 fractional digits.
pub(super) fn now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let secs = t.as_secs() as i64;
    let (y, mo, d) = faas_core::observe::civil_from_days(secs.div_euclid(86_400));
    let day = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        day / 3600,
        day / 60 % 60,
        day % 60,
        t.subsec_nanos()
    )
}

pub(super) fn error(http: u16, status: &str, message: &str) -> Response {
    let body = json!({"error": {"code": http, "message": message, "status": status}});
    (StatusCode::from_u16(http).unwrap(), axum::Json(body)).into_response()
}

/// An injected fault's answer, as Google's APIs answer (AIP-193: `{"error": {"code", "message",
/// "status", "details"}}`): the status is the `google.rpc.Code` that HTTP code maps to in
/// `google/rpc/code.proto` — 429 `RESOURCE_EXHAUSTED` (with the `google.rpc.ErrorInfo` of
/// reason `RATE_LIMIT_EXCEEDED`, domain `googleapis.com`, that `google.api.ErrorReason`
/// documents for rate quota), 500 `INTERNAL`, 503 `UNAVAILABLE`, 504 `DEADLINE_EXCEEDED`.
pub(super) fn injected_error(http: u16, _kind: &faas_core::conformance::faults::FaultKind) -> Response {
    let (status, message) = match http {
        429 => (
            "RESOURCE_EXHAUSTED",
            "Quota exceeded: too many requests, try again later.",
        ),
        500 => ("INTERNAL", "Internal error encountered."),
        504 => ("DEADLINE_EXCEEDED", "The request timed out."),
        _ => ("UNAVAILABLE", "The service is currently unavailable."),
    };
    let mut body = json!({"error": {"code": http, "message": message, "status": status}});
    if http == 429 {
        body["error"]["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"consumer": format!("projects/{}", super::PROJECT)},
        }]);
    }
    let code = StatusCode::from_u16(http).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (code, axum::Json(body)).into_response()
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
