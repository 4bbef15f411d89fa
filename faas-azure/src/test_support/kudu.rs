//! Kudu (`/scm/{app}/…`): zipdeploy and OneDeploy start a deployment (`409` while one runs),
//! and deployments report their status and log.

use std::time::Instant;

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{Deployment, State};
use super::wire::{ok, sha};

pub(super) fn kudu(s: &mut State, method: &Method, rest: &str, body: &Bytes) -> Response {
    let (app, api) = rest.split_once('/').unwrap_or((rest, ""));
    let app = app.to_string();
    if !s.sites.contains_key(&app) {
        return (StatusCode::NOT_FOUND, "site not found").into_response();
    }
    match (method.clone(), api) {
        (Method::POST, "api/zipdeploy" | "api/publish") => {
            if s.sites[&app].deploying.is_some() {
                return (
                    StatusCode::CONFLICT,
                    "There is a deployment currently in progress. Please try again when it completes.",
                )
                    .into_response();
            }
            if body.len() < 22 || &body[..2] != b"PK" {
                return (StatusCode::BAD_REQUEST, "the body is not a zip").into_response();
            }
            let id = format!("{:032x}", s.next());
            let fail = s.failing_deployments.remove(&app);
            s.deployments.insert(
                id.clone(),
                Deployment {
                    app: app.clone(),
                    ready_at: Instant::now() + s.op_time,
                    sha: sha(body),
                    fail,
                    functions: indexed_functions(body),
                },
            );
            s.sites.get_mut(&app).unwrap().deploying = Some(id.clone());
            let loc = format!("{}/scm/{app}/api/deployments/{id}", s.base);
            (StatusCode::ACCEPTED, [("location", loc)]).into_response()
        }
        (Method::GET, path) if path.starts_with("api/deployments/") => {
            let rest = path.trim_start_matches("api/deployments/");
            let (id, log) = match rest.strip_suffix("/log") {
                Some(id) => (id, true),
                None => (rest, false),
            };
            let Some(d) = s.deployments.get(id) else {
                return (StatusCode::NOT_FOUND, "no such deployment").into_response();
            };
            if log {
                let mut lines = vec![
                    json!({"message": "Fetching changes."}),
                    json!({"message": "Running oryx build..."}),
                ];
                if let Some(f) = &d.fail {
                    lines.push(json!({"message": f}));
                }
                return ok(json!(lines));
            }
            let done = d.ready_at <= Instant::now();
            let status = match (done, &d.fail) {
                (false, _) => 1,
                (true, None) => 4,
                (true, Some(_)) => 3,
            };
            ok(json!({
                "id": id, "status": status, "complete": done,
                "status_text": if status == 3 { "Deployment failed." } else { "" },
                "log_url": format!("{}/scm/{app}/api/deployments/{id}/log", s.base),
            }))
        }
        _ => (StatusCode::NOT_FOUND, "no such Kudu endpoint").into_response(),
    }
}

/// The functions a package holds, found the way the Functions host indexes them: a folder per
/// function with a `function.json` (v1 model), or the decorated functions of
/// `function_app.py` (Python v2 model: a `def` right after `@app.` decorators).
pub(super) fn indexed_functions(zip: &[u8]) -> Vec<String> {
    use std::io::Read;
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(zip)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else { continue };
        let Ok(name) = entry.name().map(|n| n.to_string()) else {
            continue;
        };
        if let Some(dir) = name.strip_suffix("/function.json").filter(|d| !d.contains('/')) {
            out.push(dir.to_string());
        } else if name == "function_app.py" {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                let mut decorated = false;
                for line in text.lines().map(str::trim) {
                    if line.starts_with("@app.") {
                        decorated = true;
                    } else if let Some(def) = line.strip_prefix("def ").filter(|_| decorated) {
                        out.extend(def.split('(').next().map(str::to_string));
                        decorated = false;
                    } else if !line.starts_with('@') {
                        decorated = false;
                    }
                }
            }
        }
    }
    out
}
