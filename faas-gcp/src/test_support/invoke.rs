//! The functions themselves (`/invoke/{function}[/{tag}]`): the ID token's audience must be
//! the URL, a tag or the traffic split picks the revision, and the answer names that revision
//! and echoes the event.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{LATEST, State};
use super::wire::{claims, ok};

pub(super) fn invoke(s: &mut State, rest: &str, bearer: Option<String>, event: &Value, raw: &Bytes) -> Response {
    let (function, tag) = rest.split_once('/').map_or((rest, None), |(f, t)| (f, Some(t)));
    let Some(svc) = s.services.get(function) else {
        return (StatusCode::NOT_FOUND, "Page not found").into_response();
    };
    let url = s.invoke_url(function, tag);
    let Some(token) = bearer else {
        return (
            StatusCode::UNAUTHORIZED,
            "Your client does not have permission: no token",
        )
            .into_response();
    };
    if claims(&token)["aud"] != url.as_str() {
        return (StatusCode::UNAUTHORIZED, "The ID token's audience is not this URL").into_response();
    }
    let latest = s.latest_revision(function).unwrap_or_default();
    let resolve = |t: &Value| -> String {
        if t["type"] == LATEST {
            latest.clone()
        } else {
            t["revision"].as_str().unwrap_or_default().to_string()
        }
    };
    let revision = match tag {
        Some(tag) => match svc.traffic.iter().find(|t| t["tag"] == tag) {
            Some(t) => resolve(t),
            None => return (StatusCode::NOT_FOUND, "Page not found").into_response(),
        },
        None => {
            let total: u64 = svc.traffic.iter().map(|t| t["percent"].as_u64().unwrap_or(0)).sum();
            let mut pick = s.rng.u64(0..total.max(1));
            let mut chosen = latest.clone();
            for t in &svc.traffic {
                let p = t["percent"].as_u64().unwrap_or(0);
                if pick < p {
                    chosen = resolve(t);
                    break;
                }
                pick -= p;
            }
            chosen
        }
    };
    let event = if event.is_null() && !raw.is_empty() {
        json!(String::from_utf8_lossy(raw))
    } else {
        event.clone()
    };
    ok(json!({"revision": revision, "event": event}))
}
