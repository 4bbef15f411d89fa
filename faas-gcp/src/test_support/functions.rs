//! Cloud Functions v2: `functions.create`, `get`, `list` (`pageSize`, `pageToken`), `patch`
//! (with `updateMask`) and `delete`.
//! Each change starts an operation, and a function refuses another while one runs on it.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{Function, Pending, State};
use super::wire::{bad_field, error, now, ok, parent};

const UPDATABLE: &[&str] = &["description", "labels", "buildConfig", "serviceConfig", "eventTrigger"];

pub(super) fn create_function(s: &mut State, query: &BTreeMap<String, String>, body: Value) -> Response {
    let Some(id) = query.get("functionId").cloned() else {
        return bad_field("function_id", "functionId is required");
    };
    if s.functions.contains_key(&id) {
        return error(409, "ALREADY_EXISTS", &format!("Function {id} already exists"));
    }
    if let Err(r) = validate_function(&body) {
        return r;
    }
    if body["buildConfig"]["source"]["storageSource"].is_null() {
        return bad_field("build_config.source", "A source is required when creating a function.");
    }
    let mut resource = json!({});
    for key in UPDATABLE {
        if let Some(v) = body.get(*key) {
            resource[*key] = v.clone();
        }
    }
    if let Some(sc) = resource["serviceConfig"].as_object_mut() {
        sc.remove("allTrafficOnLatestRevision");
    }
    let t = now();
    let op = s.start_op(Pending::Create { function: id.clone() }, true);
    s.functions.insert(
        id,
        Function {
            resource,
            state: "DEPLOYING",
            messages: Vec::new(),
            create_time: t.clone(),
            update_time: t,
            busy: op["name"].as_str().map(str::to_string),
        },
    );
    ok(op)
}

/// `functions.list`: the functions in name order, `pageSize` at a time ("The largest allowed
/// page_size is 1,000, if the page_size is omitted or specified as greater than 1,000 then it
/// will be replaced as 1,000"); `nextPageToken` is where the next page starts. `filter` and
/// `orderBy` are refused: the fake does not implement them.
/// The largest `functions.list` page.
const MAX_PAGE_SIZE: usize = 1000;

pub(super) fn list_functions(s: &State, query: &BTreeMap<String, String>) -> Response {
    for unsupported in ["filter", "orderBy"] {
        if query.get(unsupported).is_some_and(|v| !v.is_empty()) {
            return bad_field(unsupported, &format!("the fake does not implement {unsupported}"));
        }
    }
    let size = match query.get("pageSize").map(|v| v.parse::<usize>()) {
        None => MAX_PAGE_SIZE,
        Some(Ok(n)) if n == 0 || n > MAX_PAGE_SIZE => MAX_PAGE_SIZE,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_field("page_size", "pageSize must be a non-negative integer"),
    };
    let start = match query.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match t.strip_prefix("after-").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return bad_field("page_token", "Invalid page token"),
        },
    };
    let names: Vec<&String> = s.functions.keys().collect();
    let page: Vec<Value> = names
        .iter()
        .skip(start)
        .take(size)
        .filter_map(|n| s.render_function(n))
        .collect();
    let mut v = json!({"functions": page});
    let end = start.saturating_add(size);
    if end < names.len() {
        v["nextPageToken"] = json!(format!("after-{end}"));
    }
    ok(v)
}

pub(super) fn function(
    s: &mut State,
    method: &Method,
    name: &str,
    query: &BTreeMap<String, String>,
    body: Value,
) -> Response {
    let Some(f) = s.functions.get(name) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("Resource '{}/functions/{name}' was not found", parent()),
        );
    };
    match *method {
        Method::GET => ok(s.render_function(name).unwrap()),
        Method::PATCH | Method::DELETE if f.busy.is_some() => error(
            409,
            "ABORTED",
            "Unable to queue the operation: another operation is in progress on this function.",
        ),
        Method::PATCH => {
            let mask = query.get("updateMask").cloned().unwrap_or_default();
            let mut resource = f.resource.clone();
            let mut all_latest = None;
            if mask.is_empty() {
                for key in UPDATABLE {
                    copy_path(&mut resource, &body, key);
                }
            }
            for path in mask.split(',').filter(|p| !p.is_empty()) {
                if !UPDATABLE
                    .iter()
                    .any(|u| path == *u || path.starts_with(&format!("{u}.")))
                {
                    return bad_field("update_mask", &format!("Invalid field mask path: {path}"));
                }
                if path == "serviceConfig.allTrafficOnLatestRevision" {
                    all_latest = body["serviceConfig"]["allTrafficOnLatestRevision"].as_bool();
                    continue;
                }
                copy_path(&mut resource, &body, path);
            }
            if let Err(r) = validate_function(&resource) {
                return r;
            }
            let op = s.start_op(
                Pending::Update {
                    function: name.to_string(),
                    resource,
                    all_latest,
                },
                true,
            );
            let f = s.functions.get_mut(name).unwrap();
            f.state = "DEPLOYING";
            f.busy = op["name"].as_str().map(str::to_string);
            ok(op)
        }
        Method::DELETE => {
            let op = s.start_op(
                Pending::Delete {
                    function: name.to_string(),
                },
                false,
            );
            let f = s.functions.get_mut(name).unwrap();
            f.state = "DELETING";
            f.busy = op["name"].as_str().map(str::to_string);
            ok(op)
        }
        _ => error(405, "UNIMPLEMENTED", "method not allowed"),
    }
}

fn validate_function(resource: &Value) -> Result<(), Response> {
    if resource["buildConfig"]["runtime"].as_str().is_none_or(str::is_empty) {
        return Err(bad_field(
            "build_config.runtime",
            "Runtime is required when creating a function.",
        ));
    }
    if let Some(m) = resource["serviceConfig"]["availableMemory"].as_str()
        && crate::spec_mapping::parse_memory(m).is_none_or(|mb| !(128..=32_768).contains(&mb))
    {
        return Err(bad_field(
            "service_config.available_memory",
            &format!("Invalid memory {m}"),
        ));
    }
    if resource["serviceConfig"]["timeoutSeconds"]
        .as_u64()
        .is_some_and(|t| t > 3600)
    {
        return Err(bad_field(
            "service_config.timeout_seconds",
            "The timeout must be at most 3600 seconds.",
        ));
    }
    Ok(())
}

/// Sets `path` (dotted) in `target` to its value in `source`, or removes it when absent.
fn copy_path(target: &mut Value, source: &Value, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut src = Some(source);
    for p in &parts {
        src = src.and_then(|s| s.get(p));
    }
    let mut t = target;
    for p in &parts[..parts.len() - 1] {
        if !t[*p].is_object() {
            t[*p] = json!({});
        }
        t = &mut t[*p];
    }
    let last = parts[parts.len() - 1];
    match src {
        Some(v) => t[last] = v.clone(),
        None => {
            if let Some(o) = t.as_object_mut() {
                o.remove(last);
            }
        }
    }
}
