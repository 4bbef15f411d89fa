//! The fake's state and its one request handler, dispatching on the path: the Entra token
//! endpoint (`/{tenant}/oauth2/v2.0/token`), ARM (`/subscriptions/…`), Kudu (`/scm/{app}/…`)
//! and the function hosts (`/hosts/{app}[-{slot}]/api/{function}`).

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::Digest;

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and ARM error code, changing nothing.
    Status(u16, &'static str),
}

#[derive(Debug, Clone, Default)]
struct Site {
    kind: String,
    tags: Value,
    props: Value,
    settings: BTreeMap<String, String>,
    rules: Vec<Value>,
    key: String,
    /// The sha256 of the code the host can load (`None`: it cannot start).
    code: Option<String>,
    deploying: Option<String>,
    modified: u64,
    /// Kudu refuses bearer tokens (basic auth with the publishing credentials only).
    basic_only: bool,
}

#[derive(Debug)]
enum Pending {
    Create { name: String, site: Site },
    Swap { app: String, slot: String },
}

#[derive(Debug)]
struct Operation {
    ready_at: Instant,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Deployment {
    app: String,
    ready_at: Instant,
    sha: String,
    fail: Option<String>,
}

pub(crate) struct State {
    base: String,
    /// `app` or `app-slot` → site.
    sites: BTreeMap<String, Site>,
    ops: BTreeMap<String, Operation>,
    deployments: BTreeMap<String, Deployment>,
    tokens: Vec<String>,
    seq: u64,
    rng: fastrand::Rng,
    pub requests: Vec<String>,
    pub faults: Vec<(String, String, Fault)>,
    pub failing_deployments: BTreeMap<String, String>,
    pub op_time: Duration,
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn form(body: &Bytes) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
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

fn sha(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl State {
    pub fn new(base: &str) -> State {
        State {
            base: base.to_string(),
            sites: BTreeMap::new(),
            ops: BTreeMap::new(),
            deployments: BTreeMap::new(),
            tokens: Vec::new(),
            seq: 0,
            rng: fastrand::Rng::with_seed(11),
            requests: Vec::new(),
            faults: Vec::new(),
            failing_deployments: BTreeMap::new(),
            op_time: Duration::from_millis(120),
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn settings_of(&self, name: &str) -> BTreeMap<String, String> {
        self.sites.get(name).map(|s| s.settings.clone()).unwrap_or_default()
    }

    pub fn set_setting(&mut self, name: &str, key: &str, value: &str) {
        if let Some(site) = self.sites.get_mut(name) {
            site.settings.insert(key.to_string(), value.to_string());
        }
    }

    pub fn require_basic_auth(&mut self, name: &str) {
        if let Some(site) = self.sites.get_mut(name) {
            site.basic_only = true;
        }
    }

    pub fn rules_of(&self, name: &str) -> Value {
        json!(self.sites.get(name).map(|s| s.rules.clone()).unwrap_or_default())
    }

    /// Finishes operations and deployments whose time has come.
    fn settle(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .ops
            .iter()
            .filter(|(_, o)| o.pending.is_some() && o.ready_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            match self.ops.get_mut(&id).and_then(|o| o.pending.take()) {
                Some(Pending::Create { name, site }) => {
                    self.sites.insert(name, site);
                }
                Some(Pending::Swap { app, slot }) => {
                    let slot_name = format!("{app}-{slot}");
                    if let (Some(mut prod), Some(mut s)) = (self.sites.remove(&app), self.sites.remove(&slot_name)) {
                        std::mem::swap(&mut prod.settings, &mut s.settings);
                        std::mem::swap(&mut prod.code, &mut s.code);
                        let fx = prod.props["siteConfig"]["linuxFxVersion"].clone();
                        prod.props["siteConfig"]["linuxFxVersion"] = s.props["siteConfig"]["linuxFxVersion"].clone();
                        s.props["siteConfig"]["linuxFxVersion"] = fx;
                        self.seq += 1;
                        prod.modified = self.seq;
                        s.modified = self.seq;
                        self.sites.insert(app, prod);
                        self.sites.insert(slot_name, s);
                    }
                }
                None => {}
            }
        }
        let done: Vec<String> = self
            .deployments
            .iter()
            .filter(|(_, d)| d.ready_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for id in done {
            let d = &self.deployments[&id];
            let (app, code, fail) = (d.app.clone(), d.sha.clone(), d.fail.is_some());
            if let Some(site) = self.sites.get_mut(&app)
                && site.deploying.as_deref() == Some(id.as_str())
            {
                site.deploying = None;
                if !fail {
                    site.code = Some(code);
                }
            }
        }
    }

    fn render(&self, name: &str, site: &Site) -> Value {
        let (app, slot) = match name.split_once('/') {
            Some((a, s)) => (a.to_string(), Some(s.to_string())),
            None => (name.to_string(), None),
        };
        let host_name = match &slot {
            Some(s) => format!("{app}-{s}"),
            None => app.clone(),
        };
        let host = format!("{}/hosts/{host_name}", self.base.trim_start_matches("https://"));
        let mut props = site.props.clone();
        props["state"] = json!("Running");
        props["defaultHostName"] = json!(host);
        props["enabledHostNames"] = json!([host, format!("{host_name}.scm.fake.invalid")]);
        props["lastModifiedTimeUtc"] = json!(format!(
            "2026-01-01T00:00:{:02}.{:06}",
            site.modified % 60,
            site.modified
        ));
        json!({
            "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{name}", super::SUBSCRIPTION, super::RESOURCE_GROUP),
            "name": name,
            "type": if slot.is_some() { "Microsoft.Web/sites/slots" } else { "Microsoft.Web/sites" },
            "kind": site.kind,
            "location": "westeurope",
            "tags": site.tags,
            "properties": props,
        })
    }
}

pub(crate) fn router(state: Arc<Mutex<State>>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// Reads a run-from-package URL the way the Functions host does (Azurite checks the SAS).
async fn readable(url: &str) -> Option<String> {
    let resp = reqwest::get(url).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    Some(sha(&resp.bytes().await.ok()?))
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
                .map(|(k, v)| (k.to_string(), decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // The package a settings write points at is read outside the lock, as the host would.
    let in_site = json_body["properties"]["siteConfig"]["appSettings"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == crate::site::RUN_FROM_PACKAGE))
        .and_then(|s| s["value"].as_str());
    let package = match json_body["properties"][crate::site::RUN_FROM_PACKAGE]
        .as_str()
        .or(in_site)
    {
        Some(url) if method == Method::PUT => Some(readable(url).await),
        _ => None,
    };
    let mut s = state.lock().unwrap();
    s.requests.push(format!("{method} {uri}"));
    s.settle();
    let fault = s
        .faults
        .iter()
        .position(|(m, p, _)| *m == method.as_str() && path.contains(p.as_str()))
        .map(|i| s.faults.remove(i).2);
    if let Some(Fault::Status(code, arm_code)) = fault {
        return error(code, arm_code, "injected fault");
    }
    if path.ends_with("/oauth2/v2.0/token") {
        return token(&mut s, &path, &body);
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if let Some(rest) = path.strip_prefix("/hosts/") {
        return invoke(&mut s, rest, &headers, &json_body);
    }
    let bearer_ok = bearer.is_some_and(|b| s.tokens.contains(&b));
    if let Some(rest) = path.strip_prefix("/scm/") {
        let app = rest.split('/').next().unwrap_or_default().to_string();
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .map(str::to_string);
        let basic_ok = basic.as_deref() == Some(publishing_basic(&app).as_str());
        let allowed = match s.sites.get(&app) {
            Some(site) if site.basic_only => basic_ok,
            _ => bearer_ok || basic_ok,
        };
        if !allowed {
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        }
        return kudu(&mut s, &method, rest, &body);
    }
    if !bearer_ok {
        return error(401, "InvalidAuthenticationToken", "The access token is invalid.");
    }
    if !query.contains_key("api-version") {
        return error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let prefix = format!("/subscriptions/{}/", super::SUBSCRIPTION);
    let Some(rest) = path.strip_prefix(&prefix) else {
        return error(404, "SubscriptionNotFound", "The subscription could not be found.");
    };
    if let Some(id) = rest.strip_prefix("providers/Microsoft.Web/locations/westeurope/operations/") {
        return match s.ops.get(id) {
            Some(o) if o.pending.is_none() => ok(json!({"status": "Succeeded"})),
            Some(_) => ok(json!({"status": "InProgress"})),
            None => error(404, "NotFound", "operation not found"),
        };
    }
    if let Some(id) = rest.strip_prefix("providers/Microsoft.Web/locations/westeurope/operationResults/") {
        return match s.ops.get(id) {
            Some(o) if o.pending.is_none() => StatusCode::OK.into_response(),
            Some(_) => (StatusCode::ACCEPTED, [("retry-after", "0")]).into_response(),
            None => error(404, "NotFound", "operation not found"),
        };
    }
    let group = format!("resourceGroups/{}/providers/", super::RESOURCE_GROUP);
    let Some(rest) = rest.strip_prefix(&group) else {
        return error(404, "ResourceGroupNotFound", "Resource group could not be found.");
    };
    if let Some(account) = rest.strip_prefix("Microsoft.Storage/storageAccounts/") {
        return match account.strip_suffix("/listKeys") {
            Some(super::ACCOUNT) if method == Method::POST => ok(json!({"keys": [
                {"keyName": "key1", "value": super::ACCOUNT_KEY, "permissions": "FULL"},
                {"keyName": "key2", "value": super::ACCOUNT_KEY, "permissions": "FULL"}]})),
            _ => error(404, "ResourceNotFound", "The storage account was not found."),
        };
    }
    let Some(rest) = rest.strip_prefix("Microsoft.Web/sites/") else {
        return error(404, "ResourceNotFound", "no such resource type");
    };
    web(&mut s, &method, rest, &json_body, package)
}

/// The publishing credentials of an app: `$app` and a fixed password.
fn publishing_password(app: &str) -> String {
    format!("fake-publishing-password-{app}")
}

fn publishing_basic(app: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("${app}:{}", publishing_password(app)))
}

fn token(s: &mut State, path: &str, body: &Bytes) -> Response {
    let f = form(body);
    let tenant_ok = path.trim_start_matches('/').starts_with(super::TENANT);
    let valid = tenant_ok
        && f.get("grant_type").map(String::as_str) == Some("client_credentials")
        && f.get("client_id").map(String::as_str) == Some(super::CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(super::CLIENT_SECRET)
        && f.get("scope").map(String::as_str) == Some(crate::ARM_SCOPE);
    if !valid {
        let body =
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let token = format!("eyJ0eXAiOiJKV1QifQ.fake-arm-token-{}", s.next());
    s.tokens.push(token.clone());
    ok(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
}

fn start_op(s: &mut State, pending: Pending) -> String {
    let id = format!("{:08x}-op", s.next());
    s.ops.insert(
        id.clone(),
        Operation {
            ready_at: Instant::now() + s.op_time,
            pending: Some(pending),
        },
    );
    id
}

fn web(s: &mut State, method: &Method, rest: &str, body: &Value, package: Option<Option<String>>) -> Response {
    // `{app}`, `{app}/slots`, `{app}/slots/{slot}`, then an optional suffix.
    let parts: Vec<&str> = rest.split('/').collect();
    let app = parts[0].to_string();
    let (slot, suffix): (Option<String>, Vec<&str>) = match parts.get(1) {
        Some(&"slots") if parts.len() >= 3 => (Some(parts[2].to_string()), parts[3..].to_vec()),
        _ => (None, parts[1..].to_vec()),
    };
    let key = match &slot {
        Some(sl) => format!("{app}-{sl}"),
        None => app.clone(),
    };
    let arm_name = match &slot {
        Some(sl) => format!("{app}/{sl}"),
        None => app.clone(),
    };
    let suffix = suffix.join("/");
    if slot.is_some() && !s.sites.contains_key(&app) {
        return error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.Web/sites/{app}' was not found."),
        );
    }
    match (method.clone(), suffix.as_str()) {
        (Method::PUT, "") => {
            if body["properties"]["serverFarmId"].as_str().is_none_or(str::is_empty) {
                return error(
                    400,
                    "BadRequest",
                    "The parameter properties.serverFarmId has an invalid value.",
                );
            }
            if !body["kind"].as_str().unwrap_or_default().contains("functionapp") {
                return error(400, "BadRequest", "kind must be functionapp");
            }
            let settings: BTreeMap<String, String> = body["properties"]["siteConfig"]["appSettings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["value"].as_str()?.to_string())))
                .collect();
            for required in ["AzureWebJobsStorage", "FUNCTIONS_EXTENSION_VERSION"] {
                if !settings.contains_key(required) {
                    return error(
                        400,
                        "BadRequest",
                        &format!("function apps need the app setting {required}"),
                    );
                }
            }
            let fx = body["properties"]["siteConfig"]["linuxFxVersion"]
                .as_str()
                .unwrap_or_default();
            if body["properties"]["functionAppConfig"].is_null()
                && !(fx.starts_with("PYTHON|") || fx.starts_with("NODE|"))
            {
                return error(
                    400,
                    "BadRequest",
                    &format!("linuxFxVersion {fx:?} is not a supported runtime"),
                );
            }
            let mut props = body["properties"].clone();
            if let Some(sc) = props["siteConfig"].as_object_mut() {
                sc.remove("appSettings");
            }
            let modified = s.next();
            let code = package.flatten();
            let site = Site {
                kind: body["kind"].as_str().unwrap_or_default().to_string(),
                tags: body["tags"].clone(),
                props,
                settings,
                rules: Vec::new(),
                key: format!("fake-function-key-{:016x}", s.rng.u64(..)),
                code,
                deploying: None,
                modified,
                basic_only: false,
            };
            if s.sites.contains_key(&key) {
                s.sites.insert(key.clone(), site);
                let v = s.render(&arm_name, &s.sites[&key]);
                return ok(v);
            }
            let id = start_op(s, Pending::Create { name: key, site });
            let op = format!(
                "{}/subscriptions/{}/providers/Microsoft.Web/locations/westeurope/operations/{id}?api-version=2023-12-01",
                s.base,
                super::SUBSCRIPTION
            );
            (
                StatusCode::CREATED,
                [("azure-asyncoperation", op), ("retry-after", "0".into())],
            )
                .into_response()
        }
        (Method::GET, "slots") => {
            let prefix = format!("{app}-");
            let value: Vec<Value> = s
                .sites
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(k, site)| s.render(&format!("{app}/{}", &k[prefix.len()..]), site))
                .collect();
            ok(json!({"value": value}))
        }
        (_, "slots") => error(405, "MethodNotAllowed", "method not allowed"),
        _ if !s.sites.contains_key(&key) => error(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.Web/sites/{arm_name}' under resource group '{}' was not found.",
                super::RESOURCE_GROUP
            ),
        ),
        (Method::GET, "") => ok(s.render(&arm_name, &s.sites[&key])),
        (Method::PATCH, "") => {
            let modified = s.next();
            let site = s.sites.get_mut(&key).unwrap();
            if !body["tags"].is_null() {
                site.tags = body["tags"].clone();
            }
            if let Some(fx) = body["properties"]["siteConfig"]["linuxFxVersion"].as_str() {
                site.props["siteConfig"]["linuxFxVersion"] = json!(fx);
            }
            if let Some(fac) = body["properties"]["functionAppConfig"].as_object() {
                for (k, v) in fac {
                    site.props["functionAppConfig"][k] = v.clone();
                }
            }
            site.modified = modified;
            let v = s.render(&arm_name, &s.sites[&key]);
            ok(v)
        }
        (Method::DELETE, "") => {
            s.sites.remove(&key);
            if slot.is_none() {
                let prefix = format!("{app}-");
                s.sites.retain(|k, _| !k.starts_with(&prefix));
            }
            StatusCode::OK.into_response()
        }
        (Method::POST, "config/appsettings/list") => {
            ok(json!({"name": "appsettings", "properties": s.sites[&key].settings}))
        }
        (Method::PUT, "config/appsettings") => {
            if s.sites[&key].deploying.is_some() {
                return error(
                    409,
                    "Conflict",
                    "There is a deployment currently in progress. Please try again when it completes.",
                );
            }
            let Ok(settings) = serde_json::from_value::<BTreeMap<String, String>>(body["properties"].clone()) else {
                return error(400, "BadRequest", "properties must map names to string values");
            };
            let modified = s.next();
            let site = s.sites.get_mut(&key).unwrap();
            // Run from package: the host loads what the URL serves, or nothing.
            if let Some(read) = package {
                site.code = read;
            }
            site.settings = settings;
            site.modified = modified;
            ok(json!({"name": "appsettings", "properties": site.settings}))
        }
        (Method::POST, "syncfunctiontriggers") => StatusCode::NO_CONTENT.into_response(),
        (Method::POST, "config/publishingcredentials/list") => ok(json!({"properties": {
            "publishingUserName": format!("${key}"), "publishingPassword": publishing_password(&key)}})),
        (Method::POST, "host/default/listkeys") => ok(
            json!({"masterKey": "fake-master-key", "functionKeys": {"default": s.sites[&key].key}, "systemKeys": {}}),
        ),
        (Method::GET, "config/web") => ok(json!({"properties": {"experiments": {"rampUpRules": s.sites[&key].rules}}})),
        (Method::PATCH, "config/web") => {
            let rules = body["properties"]["experiments"]["rampUpRules"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for r in &rules {
                let p = r["reroutePercentage"].as_f64().unwrap_or(-1.0);
                if !(0.0..=100.0).contains(&p) {
                    return error(400, "BadRequest", "reroutePercentage must be 0-100");
                }
            }
            s.sites.get_mut(&key).unwrap().rules = rules;
            ok(json!({"properties": {"experiments": {"rampUpRules": s.sites[&key].rules}}}))
        }
        (Method::POST, "slotsswap") => {
            let Some(sl) = slot.clone() else {
                return error(
                    400,
                    "BadRequest",
                    "swap a slot: POST sites/{app}/slots/{slot}/slotsswap",
                );
            };
            if body["targetSlot"] != "production" {
                return error(400, "BadRequest", "targetSlot must be production here");
            }
            let id = start_op(s, Pending::Swap { app, slot: sl });
            let loc = format!(
                "{}/subscriptions/{}/providers/Microsoft.Web/locations/westeurope/operationResults/{id}?api-version=2023-12-01",
                s.base,
                super::SUBSCRIPTION
            );
            (StatusCode::ACCEPTED, [("location", loc), ("retry-after", "0".into())]).into_response()
        }
        _ => error(404, "NotFound", &format!("no such endpoint: {method} {rest}")),
    }
}

fn kudu(s: &mut State, method: &Method, rest: &str, body: &Bytes) -> Response {
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

fn invoke(s: &mut State, rest: &str, headers: &HeaderMap, event: &Value) -> Response {
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
