//! The fake's stored resources (functions, Cloud Run services and their revisions, operations,
//! signed uploads, access tokens) and the [`State`] that holds them: it starts operations, and
//! carries out what they do when their time has come.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::{Value, json};

use super::wire::{bad_field, now, parent, unix_now};

pub(super) const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
const REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status and Google status, changing nothing.
    Status(u16, &'static str),
    /// Carry the request out, then answer 503 as if the response was lost on the way.
    UnavailableAfterApply,
}

pub(crate) struct State {
    pub(super) base: String,
    pub(super) functions: BTreeMap<String, Function>,
    pub(super) services: BTreeMap<String, Service>,
    pub(super) ops: BTreeMap<String, Operation>,
    pub(super) uploads: BTreeMap<String, (String, usize)>,
    pub(super) access_tokens: Vec<String>,
    seq: u64,
    pub(super) rng: fastrand::Rng,
    pub requests: Vec<String>,
    /// What the discovery documents do not allow, as `METHOD /path: why`.
    pub violations: Vec<String>,
    pub faults: Vec<(String, String, Fault)>,
    pub failing_builds: BTreeMap<String, String>,
    pub op_time: Duration,
    pub storage_url: Option<String>,
    /// Raw time series `timeSeries.list` reads (seeded by tests).
    pub(super) series: Vec<crate::resources::TimeSeries>,
    /// How many time series one `timeSeries.list` page holds.
    pub(super) series_page_size: usize,
    /// Log entries `entries:list` reads (seeded by tests).
    pub(super) log_entries: Vec<crate::resources::LogEntry>,
    /// Page tokens handed out: the filter they belong to and where the next page starts.
    pub(super) log_pages: BTreeMap<String, (String, usize)>,
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
            violations: Vec::new(),
            faults: Vec::new(),
            failing_builds: BTreeMap::new(),
            op_time: Duration::from_millis(120),
            storage_url: None,
            series: Vec::new(),
            series_page_size: 1000,
            log_entries: Vec::new(),
            log_pages: BTreeMap::new(),
        }
    }

    pub(super) fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn start_op(&mut self, pending: Pending, stages: bool) -> Value {
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

    pub(super) fn operation_names(&self) -> Vec<String> {
        self.ops.values().map(|o| o.name.clone()).collect()
    }

    pub(super) fn render_op(&self, id: &str) -> Value {
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
    pub(super) fn settle(&mut self) {
        let due: Vec<String> = self
            .ops
            .iter()
            .filter(|(_, o)| !o.done && o.ready_at <= Instant::now())
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            let pending = self.ops.get_mut(&id).and_then(|o| o.pending.take());
            let type_url = pending.as_ref().map(Pending::response_type);
            let result = pending.map(|p| self.apply(p)).unwrap_or(Ok(Value::Null));
            let op = self.ops.get_mut(&id).unwrap();
            op.done = true;
            match result {
                Ok(mut v) => {
                    // An `Any`: the message's fields beside its `@type`.
                    if let (Some(t), Some(o)) = (type_url, v.as_object_mut()) {
                        o.insert("@type".into(), json!(t));
                    }
                    op.response = v;
                }
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

    pub(super) fn new_revision(&mut self, function: &str) {
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
                Ok(json!({"name": format!("{}/services/{service}/revisions/{revision}", parent())}))
            }
        }
    }

    pub(super) fn latest_revision(&self, function: &str) -> Option<String> {
        self.services.get(function)?.revisions.last().map(|(r, _)| r.clone())
    }

    pub(super) fn invoke_url(&self, function: &str, tag: Option<&str>) -> String {
        match tag {
            Some(t) => format!("{}/invoke/{function}/{t}", self.base),
            None => format!("{}/invoke/{function}", self.base),
        }
    }

    pub(super) fn render_function(&self, function: &str) -> Option<Value> {
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
            "template": self.render_template(function),
        }))
    }

    /// The service's `template` (`GoogleCloudRunV2RevisionTemplate`, which the API marks
    /// required), as Cloud Functions derives it from the function's `serviceConfig`: the built
    /// image, its memory and CPU limits and environment, the timeout, the service account and
    /// the scaling.
    fn render_template(&self, function: &str) -> Value {
        let sc = self
            .functions
            .get(function)
            .map(|f| f.resource["serviceConfig"].clone())
            .unwrap_or(Value::Null);
        let generation = self.services.get(function).map_or(0, |s| s.next_revision - 1);
        let mut limits = serde_json::Map::new();
        if let Some(m) = sc["availableMemory"].as_str() {
            limits.insert("memory".into(), json!(m));
        }
        if let Some(c) = sc["availableCpu"].as_str() {
            limits.insert("cpu".into(), json!(c));
        }
        let env: Vec<Value> = sc["environmentVariables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let mut container = json!({
            "name": "worker",
            "image": format!("{}-docker.pkg.dev/{}/gcf-artifacts/{function}:version_{generation}", super::REGION, super::PROJECT),
            "resources": {"limits": limits},
        });
        if !env.is_empty() {
            container["env"] = json!(env);
        }
        let mut template = json!({"containers": [container]});
        if let Some(t) = sc["timeoutSeconds"].as_u64() {
            template["timeout"] = json!(format!("{t}s"));
        }
        if let Some(a) = sc["serviceAccountEmail"].as_str() {
            template["serviceAccount"] = json!(a);
        }
        if let Some(c) = sc["maxInstanceRequestConcurrency"].as_u64() {
            template["maxInstanceRequestConcurrency"] = json!(c);
        }
        let mut scaling = serde_json::Map::new();
        for key in ["minInstanceCount", "maxInstanceCount"] {
            if let Some(n) = sc[key].as_u64() {
                scaling.insert(key.into(), json!(n));
            }
        }
        if !scaling.is_empty() {
            template["scaling"] = json!(scaling);
        }
        template
    }

    pub fn force_traffic(&mut self, function: &str, traffic: Value) {
        let svc = self.services.get_mut(function).unwrap();
        svc.traffic = traffic.as_array().cloned().unwrap();
        svc.generation += 1;
    }

    pub(super) fn check_traffic(&self, function: &str, traffic: &[Value]) -> Result<(), Response> {
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

#[derive(Debug)]
pub(super) struct Function {
    pub(super) resource: Value,
    pub(super) state: &'static str,
    pub(super) messages: Vec<Value>,
    pub(super) create_time: String,
    pub(super) update_time: String,
    pub(super) busy: Option<String>,
}

#[derive(Debug)]
pub(super) struct Service {
    pub(super) generation: u64,
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) traffic: Vec<Value>,
    pub(super) revisions: Vec<(String, String)>,
    next_revision: u32,
    pub(super) busy: Option<String>,
}

#[derive(Debug)]
pub(super) enum Pending {
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

impl Pending {
    /// The type URL of the operation's `response` (an `Any`): what the RPC's
    /// `google.longrunning.operation_info.response_type` names (`CreateFunction` and
    /// `UpdateFunction`: `Function`; `DeleteFunction`: `google.protobuf.Empty`; Cloud Run's
    /// `UpdateService`: `Service`; `DeleteRevision`: `Revision`).
    fn response_type(&self) -> &'static str {
        match self {
            Pending::Create { .. } | Pending::Update { .. } => "type.googleapis.com/google.cloud.functions.v2.Function",
            Pending::Delete { .. } => "type.googleapis.com/google.protobuf.Empty",
            Pending::Patch { .. } => "type.googleapis.com/google.cloud.run.v2.Service",
            Pending::DeleteRevision { .. } => "type.googleapis.com/google.cloud.run.v2.Revision",
        }
    }
}

#[derive(Debug)]
pub(super) struct Operation {
    name: String,
    ready_at: Instant,
    pending: Option<Pending>,
    done: bool,
    error: Option<Value>,
    response: Value,
    stages_failed: Option<String>,
}

fn runtime_config(resource: &Value) -> Value {
    let mut service = resource["serviceConfig"].clone();
    if let Some(o) = service.as_object_mut() {
        o.remove("allTrafficOnLatestRevision");
    }
    json!([resource["buildConfig"], service])
}
