//! Cloud Run Admin v2: `services.get`, the etag-guarded `services.patch` of traffic and
//! annotations, and listing and deleting revisions.

use std::collections::BTreeMap;

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{Pending, State};
use super::wire::{bad_field, error, ok, parent};

pub(super) fn service(
    s: &mut State,
    method: &Method,
    rest: &str,
    query: &BTreeMap<String, String>,
    body: Value,
) -> Response {
    let (function, sub) = rest.split_once('/').map_or((rest, None), |(a, b)| (a, Some(b)));
    if !s.services.contains_key(function) {
        return error(
            404,
            "NOT_FOUND",
            &format!("Resource '{}/services/{function}' was not found", parent()),
        );
    }
    match (method.clone(), sub) {
        (Method::GET, None) => ok(s.render_service(function).unwrap()),
        (Method::PATCH, None) => {
            let svc = &s.services[function];
            let etag = format!("\"{}\"", svc.generation);
            if body["etag"].as_str().is_some_and(|e| !e.is_empty() && *e != etag) {
                return error(
                    409,
                    "ABORTED",
                    "The etag does not match: the service was changed concurrently.",
                );
            }
            if svc.busy.is_some() {
                return error(409, "ABORTED", "Another operation is in progress on this service.");
            }
            let mask = query.get("updateMask").cloned().unwrap_or_default();
            let mut traffic = svc.traffic.clone();
            let mut annotations = svc.annotations.clone();
            for path in mask.split(',') {
                match path {
                    "traffic" => traffic = body["traffic"].as_array().cloned().unwrap_or_default(),
                    "annotations" => {
                        annotations = serde_json::from_value(body["annotations"].clone()).unwrap_or_default();
                    }
                    other => return bad_field("update_mask", &format!("unsupported path {other}")),
                }
            }
            if let Err(r) = s.check_traffic(function, &traffic) {
                return r;
            }
            let op = s.start_op(
                Pending::Patch {
                    service: function.to_string(),
                    traffic,
                    annotations,
                },
                false,
            );
            s.services.get_mut(function).unwrap().busy = op["name"].as_str().map(str::to_string);
            ok(op)
        }
        (Method::GET, Some("revisions")) => {
            let revisions: Vec<Value> = s.services[function]
                .revisions
                .iter()
                .map(|(r, t)| json!({"name": format!("{}/services/{function}/revisions/{r}", parent()), "createTime": t}))
                .collect();
            ok(json!({"revisions": revisions}))
        }
        (Method::DELETE, Some(sub)) if sub.starts_with("revisions/") => {
            let revision = sub.trim_start_matches("revisions/").to_string();
            let svc = &s.services[function];
            if !svc.revisions.iter().any(|(r, _)| *r == revision) {
                return error(404, "NOT_FOUND", &format!("Revision {revision} not found"));
            }
            let latest = s.latest_revision(function);
            let referenced = svc.traffic.iter().any(|t| t["revision"] == revision.as_str());
            if referenced || latest.as_deref() == Some(revision.as_str()) {
                return error(
                    400,
                    "FAILED_PRECONDITION",
                    &format!("Revision {revision} is referenced by traffic or is the latest and cannot be deleted."),
                );
            }
            let op = s.start_op(
                Pending::DeleteRevision {
                    service: function.to_string(),
                    revision,
                },
                false,
            );
            ok(op)
        }
        _ => error(404, "NOT_FOUND", "no such endpoint"),
    }
}
