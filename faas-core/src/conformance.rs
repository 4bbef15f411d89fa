//! The conformance suite every provider runs (feature `conformance`).
//!
//! Plain async functions over `&dyn Provider`, in the style of object_store's integration
//! tests: each creates uniquely named functions, asserts (panicking on failure) and deletes
//! what it made. [`run_all`] runs every check that the provider's [`Capability`] selects;
//! what the capability says is missing must fail with [`Error::Unsupported`].
//!
//! ```no_run
//! # async fn t() {
//! let provider = faas_core::local::LocalProvider::builder().state_dir("/tmp/state").seed(7).build().unwrap();
//! faas_core::conformance::run_all(&provider, &faas_core::conformance::Fixture::python()).await;
//! # }
//! ```

use std::path::{Path, PathBuf};

use faas_package::{Package, PackageBuilder, Runtime};

use crate::{
    Capability, DeployOptions, Error, FunctionSpec, InvokeMode, InvokeRequest, Provider, ProviderExt, PublishRequest,
    Routing,
};

/// What the suite deploys.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The runtime of the test function.
    pub runtime: Runtime,
    /// Its handler.
    pub handler: String,
    /// Writes a function whose JSON response contains `"marker": <marker>` into a directory.
    pub write_source: fn(&Path, &str) -> std::io::Result<()>,
    /// Whether invocations run the code (false for emulators that only echo).
    pub runs_code: bool,
    /// Whether invocations say which version ran (false for emulators that do not).
    pub reports_executed_version: bool,
    /// Whether invoking a missing function or version fails (moto answers 200 instead).
    pub invoke_rejects_missing: bool,
    /// The execution role, for providers that need one.
    pub role: Option<String>,
    /// A prefix for function names, to tell runs apart.
    pub prefix: String,
    /// How many invocations the weighted-split check makes.
    pub split_samples: usize,
}

const PYTHON_SOURCE: &str = r#"MARKER = "__MARKER__"


def lambda_handler(event, context):
    return {"statusCode": 200, "marker": MARKER, "event": event, "version": context.function_version}
"#;

fn write_python(dir: &Path, marker: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join("lambda_function.py"),
        PYTHON_SOURCE.replace("__MARKER__", marker),
    )
}

impl Fixture {
    /// A Python 3.12 function answering `{"statusCode": 200, "marker", "event", "version"}`.
    pub fn python() -> Fixture {
        Fixture {
            runtime: "python3.12".parse().unwrap_or_else(|_| unreachable_runtime()),
            handler: "lambda_function.lambda_handler".into(),
            write_source: write_python,
            runs_code: true,
            reports_executed_version: true,
            invoke_rejects_missing: true,
            role: None,
            prefix: "conf".into(),
            split_samples: 60,
        }
    }
}

fn unreachable_runtime() -> Runtime {
    panic!("python3.12 is a known runtime")
}

/// A function made for one check, deleted by [`Scratch::cleanup`].
struct Scratch<'a> {
    provider: &'a dyn Provider,
    fixture: &'a Fixture,
    name: String,
    dir: tempfile::TempDir,
}

impl<'a> Scratch<'a> {
    fn new(provider: &'a dyn Provider, fixture: &'a Fixture, check: &str) -> Scratch<'a> {
        let name = format!("{}-{check}-{:08x}", fixture.prefix, fastrand::u32(..));
        Scratch {
            provider,
            fixture,
            name,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn spec(&self) -> FunctionSpec {
        let mut spec = FunctionSpec::new(&self.name, self.fixture.runtime.clone(), &self.fixture.handler);
        spec.aws.role_arn = self.fixture.role.clone();
        spec
    }

    fn package(&self, marker: &str) -> Package {
        let src: PathBuf = self.dir.path().join(format!("src-{marker}"));
        std::fs::create_dir_all(&src).expect("source dir");
        (self.fixture.write_source)(&src, marker).expect("write source");
        PackageBuilder::new(&src)
            .runtime(self.fixture.runtime.clone())
            .handler(&self.fixture.handler)
            .output(self.dir.path().join(format!("{marker}.zip")))
            .build()
            .expect("package")
    }

    async fn deploy(&self, marker: &str, publish: bool) -> crate::DeployReport {
        let opts = DeployOptions {
            publish,
            ..DeployOptions::default()
        };
        self.provider
            .deploy_package(&self.spec(), &self.package(marker), &opts)
            .await
            .unwrap_or_else(|e| panic!("deploy of {} ({marker}) failed: {e}", self.name))
    }

    async fn invoke(&self, qualifier: Option<&str>) -> crate::Invocation {
        let mut req = InvokeRequest::json(&serde_json::json!({"probe": true}));
        req.qualifier = qualifier.map(str::to_string);
        self.provider
            .invoke(&self.name, &req)
            .await
            .unwrap_or_else(|e| panic!("invoke of {}:{qualifier:?} failed: {e}", self.name))
    }

    fn marker_of(&self, inv: &crate::Invocation) -> Option<String> {
        assert!(
            inv.function_error.is_none(),
            "function error: {:?}\nlog:\n{}",
            inv.function_error,
            inv.log_tail.as_deref().unwrap_or("")
        );
        let v: serde_json::Value = serde_json::from_slice(&inv.payload).ok()?;
        v.get("marker").and_then(|m| m.as_str()).map(str::to_string)
    }

    async fn cleanup(self) {
        if let Err(e) = self.provider.delete(&self.name).await {
            tracing::warn!(function = %self.name, error = %e, "conformance cleanup failed");
        }
    }
}

fn cap(p: &dyn Provider) -> Capability {
    p.info().capability
}

/// Deploy, then invoke the latest code and get the function's answer.
pub async fn deploy_invoke_round_trip(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "roundtrip");
    let report = s.deploy("one", false).await;
    assert!(report.change.created, "first deploy must create: {:?}", report.change);
    let got = p.get(&s.name).await.expect("get after deploy");
    assert_eq!(got.code_sha256, report.code_sha256);
    assert_eq!(got.spec.memory_mb, 128);
    assert_eq!(got.spec.timeout_s, 3);
    let inv = s.invoke(None).await;
    assert_eq!(inv.status, 200);
    if fx.runs_code {
        assert_eq!(s.marker_of(&inv).as_deref(), Some("one"));
        let v: serde_json::Value = serde_json::from_slice(&inv.payload).expect("JSON answer");
        assert_eq!(v["event"]["probe"], true, "the event reaches the handler");
    }
    if cap(p).log_tail && fx.runs_code {
        assert!(inv.report.is_some(), "a provider with log tails reports durations");
        assert!(inv.log_tail.as_deref().is_some_and(|t| t.contains("REPORT")));
    }
    s.cleanup().await;
}

/// Deploying the same package and configuration twice changes nothing the second time.
pub async fn redeploy_unchanged_is_noop(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "noop");
    let first = s.deploy("same", false).await;
    let before = p.get(&s.name).await.expect("get");
    let second = s.deploy("same", false).await;
    assert!(
        second.change.is_noop(),
        "unchanged redeploy changed {:?}",
        second.change
    );
    assert!(second.plan.is_noop(), "unchanged redeploy planned {}", second.plan);
    assert_eq!(first.code_sha256, second.code_sha256);
    assert_eq!(
        p.get(&s.name).await.expect("get").revision,
        before.revision,
        "nothing rewritten"
    );
    // A configuration change is an update, not a no-op (the timeout: every provider sets it;
    // memory is the plan's on some Azure plans).
    let mut spec = s.spec();
    spec.timeout_s = 10;
    let changed = p
        .deploy_package(&spec, &s.package("same"), &DeployOptions::default())
        .await
        .expect("config deploy");
    assert!(
        changed.change.config_updated && !changed.change.code_updated,
        "{:?}",
        changed.change
    );
    s.cleanup().await;
}

/// A published version keeps its code when the latest code changes; publishing twice without
/// a change returns the same version.
pub async fn published_version_is_immutable(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "immutable");
    let v1 = s.deploy("v1", true).await.version.expect("version");
    let again = p
        .publish(&s.name, &PublishRequest::default())
        .await
        .expect("publish unchanged");
    assert_eq!(again.id, v1.id, "publishing unchanged code must not create a version");
    let r2 = s.deploy("v2", false).await;
    assert!(r2.change.code_updated);
    if fx.runs_code {
        assert_eq!(s.marker_of(&s.invoke(Some(&v1.id)).await).as_deref(), Some("v1"));
        assert_eq!(s.marker_of(&s.invoke(None).await).as_deref(), Some("v2"));
    }
    let versions = p.list_versions(&s.name).await.expect("list");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].code_sha256, v1.code_sha256);
    assert_ne!(versions[0].code_sha256, r2.code_sha256);
    s.cleanup().await;
}

async fn two_versions(s: &Scratch<'_>) -> (String, String) {
    let a = s.deploy("a", true).await.version.expect("version a").id;
    let b = s.deploy("b", true).await.version.expect("version b").id;
    assert_ne!(a, b);
    (a, b)
}

/// A label moves from one version to another and invocations follow it; rollback returns it
/// to the previous version.
pub async fn label_move_and_rollback(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "label");
    let (a, b) = two_versions(&s).await;
    p.promote(&s.name, "live", &a).await.expect("label to a");
    let inv = s.invoke(Some("live")).await;
    if fx.reports_executed_version {
        assert_eq!(inv.executed_version.as_deref(), Some(a.as_str()));
    }
    p.promote(&s.name, "live", &b).await.expect("label to b");
    let label = p.get_label(&s.name, "live").await.expect("get label");
    assert_eq!(label.routing.primary, b);
    let serves = p.get_qualified(&s.name, "live").await.expect("what the label serves");
    assert_eq!(serves.code_sha256, s_code(p, &s.name, &b).await);
    assert_eq!(serves.version, b);
    let inv = s.invoke(Some("live")).await;
    if fx.reports_executed_version {
        assert_eq!(inv.executed_version.as_deref(), Some(b.as_str()));
    }
    if fx.runs_code {
        assert_eq!(s.marker_of(&inv).as_deref(), Some("b"));
    }
    let back = p.rollback(&s.name, "live").await.expect("rollback");
    assert_eq!(back.routing, Routing::to(&a));
    let err = p
        .rollback(&s.name, "live")
        .await
        .expect_err("nothing before the first version");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert_eq!(p.list_labels(&s.name).await.expect("labels").len(), 1);
    s.cleanup().await;
}

async fn s_code(p: &dyn Provider, function: &str, version: &str) -> String {
    let versions = p.list_versions(function).await.expect("list versions");
    versions
        .into_iter()
        .find(|v| v.id == version)
        .map(|v| v.code_sha256)
        .expect("version listed")
}

/// Weighted routing sends about the configured share of invocations to the extra version.
///
/// The label is `live`: on GCP only the serving label (the function URL's traffic) can split.
pub async fn weighted_split(p: &dyn Provider, fx: &Fixture) {
    if cap(p).weighted_versions == 0 {
        return;
    }
    let s = Scratch::new(p, fx, "split");
    let (a, b) = two_versions(&s).await;
    let routing = Routing::to(&a).with(&b, 0.3);
    p.set_label(&s.name, "live", &routing).await.expect("weighted label");
    assert_eq!(p.get_label(&s.name, "live").await.expect("get").routing, routing);
    if !fx.reports_executed_version {
        s.cleanup().await;
        return;
    }
    let n = fx.split_samples;
    let mut to_b = 0;
    for _ in 0..n {
        let inv = s.invoke(Some("live")).await;
        let v = inv.executed_version.expect("executed version");
        assert!(v == a || v == b, "ran {v}, routed to {a} and {b}");
        to_b += usize::from(v == b);
    }
    let share = to_b as f64 / n as f64;
    assert!((0.1..=0.5).contains(&share), "{to_b} of {n} went to the 30% version");
    s.cleanup().await;
}

/// Pruning keeps the newest N plus every routed version; a routed version cannot be deleted.
pub async fn prune_keeps_newest_and_routed(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "prune");
    if !cap(p).delete_versions {
        let err = p.prune_versions(&s.name, 1).await.expect_err("unsupported");
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        return;
    }
    let mut ids = Vec::new();
    for m in ["p1", "p2", "p3", "p4"] {
        ids.push(s.deploy(m, true).await.version.expect("version").id);
    }
    p.promote(&s.name, "old", &ids[0]).await.expect("label");
    let err = p.delete_version(&s.name, &ids[0]).await.expect_err("routed version");
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let deleted = p.prune_versions(&s.name, 2).await.expect("prune");
    assert_eq!(deleted, vec![ids[1].clone()]);
    let left: Vec<String> = p
        .list_versions(&s.name)
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, vec![ids[0].clone(), ids[2].clone(), ids[3].clone()]);
    s.cleanup().await;
}

/// Missing things are typed `NotFound`; a bad payload is `InvalidInput`.
pub async fn typed_errors(p: &dyn Provider, fx: &Fixture) {
    let s = Scratch::new(p, fx, "errors");
    let missing = format!("{}-missing", s.name);
    let is_not_found = |e: &Error| matches!(e, Error::NotFound { .. });
    let e = p.get(&missing).await.expect_err("get missing");
    assert!(is_not_found(&e), "{e}");
    if fx.invoke_rejects_missing {
        let e = p
            .invoke(&missing, &InvokeRequest::json(&serde_json::json!({})))
            .await
            .expect_err("invoke missing");
        assert!(is_not_found(&e), "{e}");
    }
    s.deploy("x", false).await;
    let e = p.get_label(&s.name, "nope").await.expect_err("missing label");
    assert!(is_not_found(&e), "{e}");
    let e = p.get_qualified(&s.name, "99").await.expect_err("missing version");
    assert!(is_not_found(&e), "{e}");
    if fx.invoke_rejects_missing {
        let e = p
            .invoke(&s.name, &InvokeRequest::json(&serde_json::json!({})).qualifier("99"))
            .await
            .expect_err("missing version");
        assert!(is_not_found(&e), "{e}");
    }
    let bad = InvokeRequest {
        payload: b"{not json".to_vec(),
        ..InvokeRequest::default()
    };
    let e = p.invoke(&s.name, &bad).await.expect_err("bad payload");
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
    let name = s.name.clone();
    s.cleanup().await;
    let e = p.delete(&name).await.expect_err("deleted twice");
    assert!(is_not_found(&e), "{e}");
}

/// What the capability says is missing fails with `Unsupported`; what it says is there works.
pub async fn capability_is_honest(p: &dyn Provider, fx: &Fixture) {
    let c = cap(p);
    let s = Scratch::new(p, fx, "cap");
    s.deploy("c", false).await;
    let req = InvokeRequest {
        mode: InvokeMode::Async,
        ..InvokeRequest::json(&serde_json::json!({}))
    };
    match p.invoke(&s.name, &req).await {
        Ok(inv) => assert!(
            c.async_invoke && inv.status == 202,
            "async invoke: capability {c:?}, status {}",
            inv.status
        ),
        Err(e) => assert!(!c.async_invoke && matches!(e, Error::Unsupported { .. }), "{e}"),
    }
    if c.weighted_versions == 0 {
        let (a, b) = two_versions(&s).await;
        let e = p
            .set_label(&s.name, "w", &Routing::to(a).with(b, 0.5))
            .await
            .expect_err("weights unsupported");
        assert!(
            matches!(e, Error::Unsupported { .. } | Error::InvalidInput { .. }),
            "{e}"
        );
    }
    s.cleanup().await;
}

/// An emulator or tool the tests start: the path in `env_var`, else `local` (relative to the
/// workspace root, where `scripts/test.sh` installs it) when it exists. Missing, it panics in
/// CI (`CI=true`: a missing emulator is a failure) and otherwise prints `SKIPPED` and returns
/// `None`.
pub fn test_tool(env_var: &str, local: &str) -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        return Some(std::path::PathBuf::from(p));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(local);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{local} is not installed (nor {env_var} set): run the tests with scripts/test.sh");
    }
    eprintln!("SKIPPED: {local} not found (scripts/test.sh installs it; or set {env_var})");
    None
}

/// A free loopback port for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// Every log line written while the guard of [`capture_logs`] lives, at `trace` level.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// What was logged so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Panics naming the first of `secrets` that appears in the logs.
    pub fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        for s in secrets {
            assert!(
                !text.contains(s),
                "a secret ({} characters) appeared in the logs",
                s.len()
            );
        }
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's `tracing` events at every level until the guard drops — for
/// checking that no secret reaches the logs.
pub fn capture_logs() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let capture = LogCapture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

/// Runs every check.
pub async fn run_all(p: &dyn Provider, fx: &Fixture) {
    deploy_invoke_round_trip(p, fx).await;
    redeploy_unchanged_is_noop(p, fx).await;
    published_version_is_immutable(p, fx).await;
    label_move_and_rollback(p, fx).await;
    weighted_split(p, fx).await;
    prune_keeps_newest_and_routed(p, fx).await;
    typed_errors(p, fx).await;
    capability_is_honest(p, fx).await;
}
