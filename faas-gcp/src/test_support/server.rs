//! The fake's state and its one request handler, dispatching on the path as Google's front
//! ends do: `/functions/v2/…` (Cloud Functions), `/run/v2/…` (Cloud Run Admin),
//! `/iam/v1/…` (IAM Credentials), `/token` (OAuth), `/upload/…` (signed upload URLs) and
//! `/invoke/…` (the functions themselves).

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";
const UPDATABLE: &[&str] = &["description", "labels", "buildConfig", "serviceConfig", "eventTrigger"];

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status and Google status, changing nothing.
    Status(u16, &'static str),
    /// Carry the request out, then answer 503 as if the response was lost on the way.
    UnavailableAfterApply,
}

#[derive(Debug)]
struct Function {
    resource: Value,
    state: &'static str,
    messages: Vec<Value>,
    create_time: String,
    update_time: String,
    busy: Option<String>,
}

#[derive(Debug)]
struct Service {
    generation: u64,
    annotations: BTreeMap<String, String>,
    traffic: Vec<Value>,
    revisions: Vec<(String, String)>,
    next_revision: u32,
    busy: Option<String>,
}

#[derive(Debug)]
enum Pending {
    Create {
        function: String,
    },
    Update {
        function: String,
        resource: Value,
        all_latest: Option<bool>,
    },
    Delete {
        function: String,
    },
    Patch {
        service: String,
        traffic: Vec<Value>,
        annotations: BTreeMap<String, String>,
    },
    DeleteRevision {
        service: String,
        revision: String,
    },
}

#[derive(Debug)]
struct Operation {
    name: String,
    ready_at: Instant,
    pending: Option<Pending>,
    done: bool,
    error: Option<Value>,
    response: Value,
    stages_failed: Option<String>,
}

pub(crate) struct State {
    base: String,
    functions: BTreeMap<String, Function>,
    services: BTreeMap<String, Service>,
    ops: BTreeMap<String, Operation>,
    uploads: BTreeMap<String, (String, usize)>,
    access_tokens: Vec<String>,
    seq: u64,
    rng: fastrand::Rng,
    pub requests: Vec<String>,
    pub faults: Vec<(String, String, Fault)>,
    pub failing_builds: BTreeMap<String, String>,
    pub op_time: Duration,
    pub storage_url: Option<String>,
}

fn parent() -> String {
    format!("projects/{}/locations/{}", super::PROJECT, super::REGION)
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("2026-01-01T00:00:00.{secs:020}Z")
}

fn error(http: u16, status: &str, message: &str) -> Response {
    let body = json!({"error": {"code": http, "message": message, "status": status}});
    (StatusCode::from_u16(http).unwrap(), axum::Json(body)).into_response()
}

fn bad_field(field: &str, message: &str) -> Response {
    let body = json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": message}]}]}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn b64url(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(jwt: &str) -> Value {
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

fn percent_decode(s: &str) -> String {
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
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

fn runtime_config(resource: &Value) -> Value {
    let mut service = resource["serviceConfig"].clone();
    if let Some(o) = service.as_object_mut() {
        o.remove("allTrafficOnLatestRevision");
    }
    json!([resource["buildConfig"], service])
}

impl State {
    pub fn new(base: &str) -> State {
        State {
            base: base.to_string(),
            functions: BTreeMap::new(),
            services: BTreeMap::new(),
            ops: BTreeMap::new(),
            uploads: BTreeMap::new(),
            access_tokens: Vec::new(),
            seq: 0,
            rng: fastrand::Rng::with_seed(7),
            requests: Vec::new(),
            faults: Vec::new(),
            failing_builds: BTreeMap::new(),
            op_time: Duration::from_millis(120),
            storage_url: None,
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn start_op(&mut self, pending: Pending, stages: bool) -> Value {
        let id = format!("operation-{}-{:04}", unix_now(), self.next());
        let name = format!("{}/operations/{id}", parent());
        self.ops.insert(
            id.clone(),
            Operation {
                name: name.clone(),
                ready_at: Instant::now() + self.op_time,
                pending: Some(pending),
                done: false,
                error: None,
                response: Value::Null,
                stages_failed: stages.then(String::new),
            },
        );
        self.render_op(&id)
    }

    fn render_op(&self, id: &str) -> Value {
        let op = &self.ops[id];
        let mut v = json!({"name": op.name, "done": op.done});
        if let Some(failed) = &op.stages_failed {
            let (build, service) = match (op.done, failed.is_empty()) {
                (false, _) => (
                    json!({"name": "BUILD", "state": "IN_PROGRESS"}),
                    json!({"name": "SERVICE", "state": "NOT_STARTED"}),
                ),
                (true, true) => (
                    json!({"name": "BUILD", "state": "COMPLETE"}),
                    json!({"name": "SERVICE", "state": "COMPLETE"}),
                ),
                (true, false) => (
                    json!({"name": "BUILD", "state": "COMPLETE", "message": "Build failed with status: FAILURE",
                        "resourceUri": "https://console.cloud.google.com/cloud-build/builds/fake",
                        "stateMessages": [{"severity": "ERROR", "type": "BuildFailed", "message": failed}]}),
                    json!({"name": "SERVICE", "state": "NOT_STARTED"}),
                ),
            };
            v["metadata"] = json!({"@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata", "stages": [build, service]});
        }
        if let Some(e) = &op.error {
            v["error"] = e.clone();
        } else if op.done {
            v["response"] = op.response.clone();
        }
        v
    }

    /// Finishes every operation whose time has come.
    fn settle(&mut self) {
        let due: Vec<String> = self
            .ops
            .iter()
            .filter(|(_, o)| !o.done && o.ready_at <= Instant::now())
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let pending = self.ops.get_mut(&id).and_then(|o| o.pending.take());
            let result = pending.map(|p| self.apply(p)).unwrap_or(Ok(Value::Null));
            let op = self.ops.get_mut(&id).unwrap();
            op.done = true;
            match result {
                Ok(v) => op.response = v,
                Err((code, message)) => {
                    if op.stages_failed.is_some() {
                        op.stages_failed = Some(message.clone());
                    }
                    op.error = Some(json!({"code": code, "message": message}));
                }
            }
        }
    }

    fn build_fails(&mut self, function: &str) -> Option<String> {
        self.failing_builds.remove(function)
    }

    fn new_revision(&mut self, function: &str) {
        let suffix: String = (0..3).map(|_| self.rng.lowercase()).collect();
        let svc = self.services.entry(function.to_string()).or_insert_with(|| Service {
            generation: 1,
            annotations: BTreeMap::new(),
            traffic: vec![json!({"type": LATEST, "percent": 100})],
            revisions: Vec::new(),
            next_revision: 1,
            busy: None,
        });
        let name = format!("{function}-{:05}-{suffix}", svc.next_revision);
        svc.next_revision += 1;
        svc.revisions.push((name, now()));
        svc.generation += 1;
    }

    fn apply(&mut self, p: Pending) -> Result<Value, (i32, String)> {
        match p {
            Pending::Create { function } => {
                if let Some(msg) = self.build_fails(&function) {
                    let f = self.functions.get_mut(&function).unwrap();
                    f.state = "FAILED";
                    f.busy = None;
                    f.messages = vec![json!({"severity": "ERROR", "type": "BuildFailed", "message": msg})];
                    return Err((3, format!("Build failed: {msg}")));
                }
                self.new_revision(&function);
                let f = self.functions.get_mut(&function).unwrap();
                f.state = "ACTIVE";
                f.busy = None;
                f.messages.clear();
                Ok(self.render_function(&function).unwrap_or(Value::Null))
            }
            Pending::Update {
                function,
                resource,
                all_latest,
            } => {
                if let Some(msg) = self.build_fails(&function) {
                    let f = self.functions.get_mut(&function).unwrap();
                    f.busy = None;
                    f.state = "ACTIVE";
                    f.messages = vec![json!({"severity": "WARNING", "type": "BuildFailed", "message": msg})];
                    return Err((3, format!("Build failed: {msg}")));
                }
                let changed = {
                    let f = &self.functions[&function];
                    runtime_config(&f.resource) != runtime_config(&resource)
                };
                if changed {
                    self.new_revision(&function);
                    if all_latest != Some(false) {
                        // "the revision being deployed will serve 100% of traffic, ignoring any
                        // traffic split settings": tags stay, percents go to LATEST.
                        let svc = self.services.get_mut(&function).unwrap();
                        svc.traffic.retain(|t| t["tag"].as_str().is_some_and(|t| !t.is_empty()));
                        for t in &mut svc.traffic {
                            t["percent"] = json!(0);
                        }
                        svc.traffic.push(json!({"type": LATEST, "percent": 100}));
                    }
                }
                let f = self.functions.get_mut(&function).unwrap();
                f.resource = resource;
                f.state = "ACTIVE";
                f.busy = None;
                f.messages.clear();
                f.update_time = now();
                Ok(self.render_function(&function).unwrap_or(Value::Null))
            }
            Pending::Delete { function } => {
                self.functions.remove(&function);
                self.services.remove(&function);
                Ok(json!({}))
            }
            Pending::Patch {
                service,
                traffic,
                annotations,
            } => {
                let svc = self.services.get_mut(&service).ok_or((5, "service gone".to_string()))?;
                svc.traffic = traffic;
                svc.annotations = annotations;
                svc.generation += 1;
                svc.busy = None;
                Ok(self.render_service(&service).unwrap_or(Value::Null))
            }
            Pending::DeleteRevision { service, revision } => {
                if let Some(svc) = self.services.get_mut(&service) {
                    svc.revisions.retain(|(r, _)| *r != revision);
                    svc.busy = None;
                }
                Ok(json!({}))
            }
        }
    }

    fn latest_revision(&self, function: &str) -> Option<String> {
        self.services.get(function)?.revisions.last().map(|(r, _)| r.clone())
    }

    fn invoke_url(&self, function: &str, tag: Option<&str>) -> String {
        match tag {
            Some(t) => format!("{}/invoke/{function}/{t}", self.base),
            None => format!("{}/invoke/{function}", self.base),
        }
    }

    fn render_function(&self, function: &str) -> Option<Value> {
        let f = self.functions.get(function)?;
        let mut v = f.resource.clone();
        v["name"] = json!(format!("{}/functions/{function}", parent()));
        v["state"] = json!(f.state);
        v["environment"] = json!("GEN_2");
        v["createTime"] = json!(f.create_time);
        v["updateTime"] = json!(f.update_time);
        if !f.messages.is_empty() {
            v["stateMessages"] = json!(f.messages);
        }
        v["serviceConfig"]["environmentVariables"]["LOG_EXECUTION_ID"] = json!("true");
        if let (Some(svc), Some(rev)) = (self.services.get(function), self.latest_revision(function)) {
            let url = self.invoke_url(function, None);
            v["url"] = json!(url);
            v["serviceConfig"]["uri"] = json!(url);
            v["serviceConfig"]["service"] = json!(format!("{}/services/{function}", parent()));
            v["serviceConfig"]["revision"] = json!(rev);
            let all_latest = svc.traffic.iter().any(|t| t["type"] == LATEST && t["percent"] == 100);
            v["serviceConfig"]["allTrafficOnLatestRevision"] = json!(all_latest);
        }
        Some(v)
    }

    pub fn render_service(&self, function: &str) -> Option<Value> {
        let svc = self.services.get(function)?;
        let latest = self.latest_revision(function).unwrap_or_default();
        let name = format!("{}/services/{function}", parent());
        let statuses: Vec<Value> = svc
            .traffic
            .iter()
            .map(|t| {
                let mut s = t.clone();
                if t["type"] == LATEST {
                    s["revision"] = json!(latest);
                }
                if let Some(tag) = t["tag"].as_str().filter(|t| !t.is_empty()) {
                    s["uri"] = json!(self.invoke_url(function, Some(tag)));
                }
                s
            })
            .collect();
        Some(json!({
            "name": name,
            "uid": format!("uid-{function}"),
            "generation": svc.generation.to_string(),
            "observedGeneration": svc.generation.to_string(),
            "etag": format!("\"{}\"", svc.generation),
            "annotations": svc.annotations,
            "traffic": svc.traffic,
            "trafficStatuses": statuses,
            "latestReadyRevision": format!("{name}/revisions/{latest}"),
            "latestCreatedRevision": format!("{name}/revisions/{latest}"),
            "uri": self.invoke_url(function, None),
            "reconciling": svc.busy.is_some(),
            "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
        }))
    }

    pub fn force_traffic(&mut self, function: &str, traffic: Value) {
        let svc = self.services.get_mut(function).unwrap();
        svc.traffic = traffic.as_array().cloned().unwrap();
        svc.generation += 1;
    }

    fn check_traffic(&self, function: &str, traffic: &[Value]) -> Result<(), Response> {
        let svc = &self.services[function];
        let mut sum = 0;
        let mut tags = Vec::new();
        for t in traffic {
            let percent = t["percent"].as_u64().unwrap_or(0);
            sum += percent;
            match t["type"].as_str() {
                Some(LATEST) => {}
                Some(REVISION) => {
                    let rev = t["revision"].as_str().unwrap_or_default();
                    if !svc.revisions.iter().any(|(r, _)| r == rev) {
                        return Err(bad_field(
                            "traffic.revision",
                            &format!("Revision {rev} does not exist."),
                        ));
                    }
                }
                other => return Err(bad_field("traffic.type", &format!("unknown traffic type {other:?}"))),
            }
            if let Some(tag) = t["tag"].as_str().filter(|t| !t.is_empty()) {
                if tags.contains(&tag) {
                    return Err(bad_field("traffic.tag", &format!("tag {tag} is used twice")));
                }
                tags.push(tag);
            }
        }
        if sum != 100 {
            return Err(bad_field("traffic", &format!("traffic percents sum to {sum}, not 100")));
        }
        Ok(())
    }
}

pub(crate) async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    let app = axum::Router::new().fallback(handle).with_state(state);
    axum::serve(listener, app).await.unwrap();
}

async fn source_exists(storage: Option<String>, source: &Value) -> bool {
    let (Some(bucket), Some(object)) = (source["bucket"].as_str(), source["object"].as_str()) else {
        return false;
    };
    let Some(storage) = storage else {
        return true;
    };
    let mut url = reqwest::Url::parse(&storage).unwrap();
    url.path_segments_mut()
        .unwrap()
        .extend(["storage", "v1", "b", bucket, "o", object]);
    reqwest::get(url).await.is_ok_and(|r| r.status().is_success())
}

async fn handle(
    AxumState(state): AxumState<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push(format!("{method} {uri}"));
        s.settle();
        let pos = s
            .faults
            .iter()
            .position(|(m, p, _)| *m == method.as_str() && path.contains(p.as_str()));
        pos.map(|i| s.faults.remove(i).2)
    };
    if let Some(Fault::Status(code, status)) = &fault {
        return error(*code, status, "injected fault");
    }
    // Sources in another bucket are checked against the storage emulator (without the lock).
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let source = &body_json["buildConfig"]["source"]["storageSource"];
    if !source.is_null() {
        let (storage, upload_bucket) = {
            let s = state.lock().unwrap();
            (
                s.storage_url.clone(),
                source["bucket"].as_str() == Some(&upload_bucket()),
            )
        };
        let found = if upload_bucket {
            let s = state.lock().unwrap();
            s.uploads.contains_key(source["object"].as_str().unwrap_or_default())
        } else {
            source_exists(storage, source).await
        };
        if !found {
            return bad_field(
                "build_config.source.storage_source",
                "Storage source not found: upload the archive before deploying",
            );
        }
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut s = state.lock().unwrap();
    let needs_token = path.starts_with("/functions/") || path.starts_with("/run/") || path.starts_with("/iam/");
    if needs_token && !bearer.as_ref().is_some_and(|b| s.access_tokens.contains(b)) {
        return error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let response = route(&mut s, &method, &path, &query, &headers, &body, body_json, bearer);
    match fault {
        Some(Fault::UnavailableAfterApply) => error(503, "UNAVAILABLE", "The service is currently unavailable."),
        _ => response,
    }
}

fn upload_bucket() -> String {
    format!("gcf-v2-uploads-fake-{}", super::REGION)
}

#[allow(clippy::too_many_arguments)]
fn route(
    s: &mut State,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    json_body: Value,
    bearer: Option<String>,
) -> Response {
    let functions_root = format!("/functions/v2/{}/functions", parent());
    let run_root = format!("/run/v2/{}/services/", parent());
    if path == "/token" {
        return token(s, body);
    }
    if let Some(object) = path.strip_prefix("/upload/") {
        if headers.contains_key("authorization") {
            return error(403, "PERMISSION_DENIED", "signed URLs must be used without credentials");
        }
        if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/zip") {
            return error(
                403,
                "PERMISSION_DENIED",
                "SignatureDoesNotMatch: content-type must be application/zip",
            );
        }
        let sha: String = sha2::Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        s.uploads.insert(object.to_string(), (sha, body.len()));
        return ok(Value::Null);
    }
    if let Some(rest) = path.strip_prefix("/invoke/") {
        return invoke(s, rest, bearer, &json_body, body);
    }
    if path == "/computeMetadata/v1/instance/service-accounts/default/identity" {
        if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
            return (StatusCode::FORBIDDEN, "Missing Metadata-Flavor:Google header.").into_response();
        }
        let audience = query.get("audience").cloned().unwrap_or_default();
        let header = b64url(&json!({"alg": "RS256", "typ": "JWT"}));
        let claims = b64url(&json!({"aud": audience, "email": "default", "exp": unix_now() + 3600}));
        return format!("{header}.{claims}.fake-signature").into_response();
    }
    if path.starts_with("/iam/v1/projects/-/serviceAccounts/") && path.ends_with(":generateIdToken") {
        let audience = json_body["audience"].as_str().unwrap_or_default();
        let email = path
            .trim_start_matches("/iam/v1/projects/-/serviceAccounts/")
            .trim_end_matches(":generateIdToken");
        let header = b64url(&json!({"alg": "RS256", "typ": "JWT"}));
        let claims = b64url(
            &json!({"aud": audience, "email": email, "iss": "https://accounts.google.com", "exp": unix_now() + 3600}),
        );
        return ok(json!({"token": format!("{header}.{claims}.fake-signature")}));
    }
    if let Some(id) = path
        .strip_prefix(&format!("/functions/v2/{}/operations/", parent()))
        .or_else(|| path.strip_prefix(&format!("/run/v2/{}/operations/", parent())))
    {
        return match s.ops.contains_key(id) {
            true => ok(s.render_op(id)),
            false => error(404, "NOT_FOUND", "operation not found"),
        };
    }
    if path == format!("{functions_root}:generateUploadUrl") && method == Method::POST {
        let object = format!("{:016x}.zip", s.rng.u64(..));
        return ok(json!({
            "uploadUrl": format!("{}/upload/{object}?GoogleAccessId=fake&Expires=9999999999&Signature=c2VjcmV0LXNpZ25hdHVyZQ", s.base),
            "storageSource": {"bucket": upload_bucket(), "object": object},
        }));
    }
    if path == functions_root && method == Method::POST {
        return create_function(s, query, json_body);
    }
    if let Some(name) = path.strip_prefix(&format!("{functions_root}/")) {
        return function(s, method, name, query, json_body);
    }
    if let Some(rest) = path.strip_prefix(&run_root) {
        return service(s, method, rest, query, json_body);
    }
    error(404, "NOT_FOUND", &format!("no such endpoint: {method} {path}"))
}

fn token(s: &mut State, body: &Bytes) -> Response {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type"})),
        )
            .into_response();
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let c = claims(&assertion);
    let signed = assertion.split('.').nth(2).is_some_and(|sig| sig.len() >= 300);
    let valid = c["iss"] == super::CLIENT_EMAIL
        && c["aud"] == format!("{}/token", s.base)
        && c["scope"].as_str().is_some_and(|sc| sc.contains("cloud-platform"))
        && c["exp"].as_u64().is_some_and(|e| e > unix_now())
        && signed;
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT"})),
        )
            .into_response();
    }
    let token = format!("ya29.fake-{}", s.next());
    s.access_tokens.push(token.clone());
    ok(json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}))
}

fn validate_function(resource: &Value) -> Result<(), Response> {
    if resource["buildConfig"]["runtime"].as_str().is_none_or(str::is_empty) {
        return Err(bad_field(
            "build_config.runtime",
            "Runtime is required when creating a function.",
        ));
    }
    if let Some(m) = resource["serviceConfig"]["availableMemory"].as_str()
        && crate::functions::parse_memory(m).is_none_or(|mb| !(128..=32_768).contains(&mb))
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

fn create_function(s: &mut State, query: &BTreeMap<String, String>, body: Value) -> Response {
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

fn function(s: &mut State, method: &Method, name: &str, query: &BTreeMap<String, String>, body: Value) -> Response {
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

fn service(s: &mut State, method: &Method, rest: &str, query: &BTreeMap<String, String>, body: Value) -> Response {
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

fn invoke(s: &mut State, rest: &str, bearer: Option<String>, event: &Value, raw: &Bytes) -> Response {
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
