//! The fake's stored resources (sites and slots, ARM operations, Kudu deployments, access
//! tokens) and the [`State`] that holds them: it starts operations, finishes them and the
//! deployments when their time has come, and renders sites as ARM returns them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and ARM error code, changing nothing.
    Status(u16, &'static str),
    /// One of the shared fault layer's kinds, once (`ResetAfter`: the request is carried out,
    /// then the connection dropped), for the tests that need one fault on one request.
    Kind(faas_core::conformance::faults::FaultKind),
}

pub(crate) struct State {
    pub(super) base: String,
    /// `app` or `app-slot` → site.
    pub(super) sites: BTreeMap<String, Site>,
    pub(super) ops: BTreeMap<String, Operation>,
    pub(super) deployments: BTreeMap<String, Deployment>,
    pub(super) tokens: Vec<String>,
    seq: u64,
    pub(super) rng: fastrand::Rng,
    pub requests: Vec<String>,
    /// What the ARM definitions do not allow, as `METHOD /path: why`.
    pub violations: Vec<String>,
    pub faults: Vec<(String, String, Fault)>,
    pub failing_deployments: BTreeMap<String, String>,
    pub op_time: Duration,
    /// Seeded metric samples: (`app` or `app-slot`, metric name) → (ms since the epoch, value).
    pub(super) metrics: BTreeMap<(String, String), Vec<(u64, f64)>>,
    /// The Application Insights component's rows.
    pub(super) telemetry: super::app_insights::Telemetry,
    /// Tokens issued for the Application Insights API (not valid for ARM, nor ARM's for it).
    pub(super) ai_tokens: Vec<String>,
    /// New apps and slots get the component's connection string as an app setting.
    pub(super) connect_new_apps: bool,
    /// How long the telemetry recorded from now on takes to reach the store.
    pub(super) ingestion_delay: Duration,
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
            violations: Vec::new(),
            faults: Vec::new(),
            failing_deployments: BTreeMap::new(),
            op_time: Duration::from_millis(120),
            metrics: BTreeMap::new(),
            telemetry: Default::default(),
            ai_tokens: Vec::new(),
            connect_new_apps: false,
            ingestion_delay: Duration::ZERO,
        }
    }

    pub(super) fn next(&mut self) -> u64 {
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

    /// Sets `properties.{path}` (dot-separated member names) of a site.
    pub fn set_site_property(&mut self, name: &str, path: &str, value: Value) {
        if let Some(site) = self.sites.get_mut(name) {
            let mut at = &mut site.props;
            for member in path.split('.') {
                at = &mut at[member];
            }
            *at = value;
        }
    }

    /// A site (`app` or `app-slot`) as `GET` renders it.
    pub fn site_of(&self, name: &str) -> Option<Value> {
        let site = self.sites.get(name)?;
        let arm_name = match name.split_once('-') {
            Some((app, slot)) if self.sites.contains_key(app) => format!("{app}/{slot}"),
            _ => name.to_string(),
        };
        Some(self.render(&arm_name, site))
    }

    pub fn rules_of(&self, name: &str) -> Value {
        json!(self.sites.get(name).map(|s| s.rules.clone()).unwrap_or_default())
    }

    /// The id of the operation creating the site `name` (`app` or `app-slot`), while it runs.
    pub(super) fn creating(&self, name: &str) -> Option<String> {
        self.ops
            .iter()
            .find(|(_, o)| matches!(&o.pending, Some(Pending::Create { name: n, .. }) if n == name))
            .map(|(id, _)| id.clone())
    }

    /// Finishes operations and deployments whose time has come.
    pub(super) fn settle(&mut self) {
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
                    self.sites.insert(name, *site);
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
            let functions = d.functions.clone();
            if let Some(site) = self.sites.get_mut(&app)
                && site.deploying.as_deref() == Some(id.as_str())
            {
                site.deploying = None;
                if !fail {
                    site.code = Some(code);
                    site.functions = functions;
                }
            }
        }
    }

    pub(super) fn render(&self, name: &str, site: &Site) -> Value {
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
        // A slot's ARM name is `{app}/{slot}`, its id `…/sites/{app}/slots/{slot}`.
        let path = match &slot {
            Some(s) => format!("{app}/slots/{s}"),
            None => app.clone(),
        };
        json!({
            "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{path}", super::SUBSCRIPTION, super::RESOURCE_GROUP),
            "name": name,
            "type": if slot.is_some() { "Microsoft.Web/sites/slots" } else { "Microsoft.Web/sites" },
            "kind": site.kind,
            "location": "westeurope",
            "tags": site.tags,
            "properties": props,
        })
    }
}

pub(super) fn start_op(s: &mut State, pending: Pending) -> String {
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

#[derive(Debug, Clone, Default)]
pub(super) struct Site {
    pub(super) kind: String,
    pub(super) tags: Value,
    pub(super) props: Value,
    pub(super) settings: BTreeMap<String, String>,
    pub(super) rules: Vec<Value>,
    pub(super) key: String,
    /// The sha256 of the code the host can load (`None`: it cannot start).
    pub(super) code: Option<String>,
    pub(super) deploying: Option<String>,
    /// The functions the host found in the last package deployed through Kudu.
    pub(super) functions: Vec<String>,
    pub(super) modified: u64,
    /// Kudu refuses bearer tokens (basic auth with the publishing credentials only).
    pub(super) basic_only: bool,
}

#[derive(Debug)]
pub(super) enum Pending {
    Create { name: String, site: Box<Site> },
    Swap { app: String, slot: String },
}

#[derive(Debug)]
pub(super) struct Operation {
    ready_at: Instant,
    pub(super) pending: Option<Pending>,
}

#[derive(Debug)]
pub(super) struct Deployment {
    pub(super) app: String,
    pub(super) ready_at: Instant,
    pub(super) sha: String,
    pub(super) fail: Option<String>,
    /// The functions the package holds, as the host indexes them.
    pub(super) functions: Vec<String>,
}
