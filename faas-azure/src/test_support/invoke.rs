//! The function hosts (`/hosts/{app}[-{slot}]/api/{function}`): the function key is checked,
//! production's `rampUpRules` may send the call to a slot, and the answer names the site and the
//! code it runs, and echoes the event.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::State;
use super::wire::ok;

pub(super) fn invoke(s: &mut State, rest: &str, headers: &HeaderMap, event: &Value) -> Response {
    let Some((host, function)) = rest.split_once("/api/") else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    let Some(site) = s.sites.get(host) else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    if headers.get("x-functions-key").and_then(|v| v.to_str().ok()) != Some(site.key.as_str()) {
        return (StatusCode::UNAUTHORIZED, "").into_response();
    }
    // Production may send a share of its traffic to slots (rampUpRules).
    let mut serving = host.to_string();
    let roll = s.rng.f64() * 100.0;
    let mut acc = 0.0;
    for r in &site.rules {
        acc += r["reroutePercentage"].as_f64().unwrap_or(0.0);
        if roll < acc {
            serving = format!("{host}-{}", r["name"].as_str().unwrap_or_default());
            break;
        }
    }
    let Some(site) = s.sites.get(&serving) else {
        return (StatusCode::BAD_GATEWAY, "").into_response();
    };
    let Some(code) = &site.code else {
        return (StatusCode::SERVICE_UNAVAILABLE, "Function host is not running.").into_response();
    };
    ok(json!({"host": serving, "function": function, "code": code, "event": event}))
}
