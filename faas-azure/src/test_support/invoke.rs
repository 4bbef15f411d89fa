//! The function hosts (`/hosts/{app}[-{slot}]/api/{function}`): the function key is checked,
//! production's `rampUpRules` may send the call to a slot, and the answer names the site and the
//! code it runs, and echoes the event. The handler "takes" the event's `duration_ms` (default 1),
//! logs each line of its `log` and answers 500 when its `fail` is true; every invocation is
//! counted in Azure Monitor's `Requests`, `Http5xx` and `HttpResponseTime`, and reported to
//! Application Insights when the app is connected to the fake's component.

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
    // Production may send a share of its traffic to slots (rampUpRules): to the rule's
    // `actionHostName`, a slot's `defaultHostName` (`…/hosts/{app}-{slot}` here).
    let mut serving = host.to_string();
    let roll = s.rng.f64() * 100.0;
    let mut acc = 0.0;
    for r in &site.rules {
        acc += r["reroutePercentage"].as_f64().unwrap_or(0.0);
        if roll < acc {
            let action = r["actionHostName"].as_str().unwrap_or_default();
            serving = action.rsplit_once("/hosts/").map_or(action, |(_, h)| h).to_string();
            break;
        }
    }
    let Some(site) = s.sites.get(&serving) else {
        return (StatusCode::BAD_GATEWAY, "").into_response();
    };
    let Some(code) = site.code.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "Function host is not running.").into_response();
    };
    // The handler: it takes `duration_ms`, logs each of `log` and fails when `fail` is true.
    let duration_ms = event["duration_ms"].as_f64().unwrap_or(1.0).max(0.0);
    let lines: Vec<String> = event["log"]
        .as_array()
        .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let status: u16 = if event["fail"].as_bool() == Some(true) {
        500
    } else {
        200
    };
    // The platform counts the request (Azure Monitor), and the host reports it to
    // Application Insights when the app's connection string names the fake's component.
    let now = faas_core::observe::now_ms();
    for (metric, value) in [
        ("Requests", Some(1.0)),
        ("Http5xx", (status >= 500).then_some(1.0)),
        ("HttpResponseTime", Some(duration_ms / 1000.0)),
    ] {
        if let Some(v) = value {
            s.metrics
                .entry((serving.clone(), metric.to_string()))
                .or_default()
                .push((now, v));
        }
    }
    super::app_insights::record(s, &serving, function, status, duration_ms, &lines);
    let answer = json!({"host": serving, "function": function, "code": code, "event": event});
    if status >= 500 {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(answer)).into_response();
    }
    ok(answer)
}
