//! Test support (feature `test-support`): a stateful fake of Cloud Functions v2, Cloud Run
//! Admin v2, IAM Credentials and the OAuth token endpoint, written from the APIs' discovery
//! documents, a `gcp-storage-emulator` launcher and a proxy in front of it that enforces the
//! `ifGenerationMatch` preconditions the emulator ignores ([`GcsPreconditions`]). Used by
//! this crate's tests and the
//! examples'; not for production use: it panics on failure, as test helpers do.
//!
//! What the fake does as the real services do: resource shapes and names, operations that
//! finish after a delay (so they take several polls), `updateMask` semantics, `409 ABORTED`
//! while an operation runs on the function, `ALREADY_EXISTS`, etag-guarded `services.patch`,
//! traffic validation (whole percents summing to 100, known revisions, unique tags),
//! `trafficStatuses` with tag URLs, revisions that cannot be deleted while they serve or are
//! tagged, failed builds (`metadata.stages` and `state: FAILED`), signed upload URLs that
//! refuse an `Authorization` header, service-account JWT grants at `token_uri`, and ID tokens
//! whose audience the function URLs check; Cloud Monitoring `timeSeries.list` and Cloud
//! Logging `entries:list` over seeded data ([`FakeGcp::seed_time_series`],
//! [`FakeGcp::seed_log_entries`]), refusing with `400 INVALID_ARGUMENT` what they do not
//! implement.
//!
//! Every request to the Google APIs is first checked against Google's own definitions, the
//! discovery documents google-api-python-client ships (`discovery.rs`: methods, paths, query
//! parameters, `updateMask` paths, body fields and enums); what they do not allow is answered
//! `400 INVALID_ARGUMENT` and recorded, and the fake panics on drop while such a violation is
//! unread. A path no document covers and not listed as undefined is a violation too, so an
//! endpoint added to the fake is checked from its first request. What each endpoint is
//! checked against:
//!
//! | endpoint | official definition |
//! |---|---|
//! | `/functions/v2/…` | `cloudfunctions.v2` discovery document (functions create/get/list/patch/delete/generateUploadUrl, operations.get) |
//! | `/run/v2/…` | `run.v2` (services get/patch, revisions get/list/delete, operations.get) |
//! | `/iam/v1/…` | `iamcredentials.v1` (`serviceAccounts.generateIdToken`) |
//! | `/monitoring/v3/…` | `monitoring.v3` (`timeSeries.list`) |
//! | `/logging/v2/…` | `logging.v2` (`entries.list`) |
//! | `/token` | none on a registry: OAuth 2.0 JWT bearer grant (RFC 7523), prose docs only |
//! | `/computeMetadata/…` | none: the metadata server is documented in prose only |
//! | `/upload/…` | none: a V4-signed Cloud Storage URL (XML API), not a discovery method |
//! | `/invoke/…` | none: the user's function |
//!
//! Injected faults ([`FakeGcp::faults`]): the shared `faas_core::conformance::faults` layer
//! stands in front of every route, so a test can throttle, fail, stall or drop any request,
//! before or after the fake carries it out; errors are rendered as Google's APIs render them
//! (AIP-193's `{"error": {"code", "message", "status"}}` with the `google.rpc.Code` of the HTTP
//! status: `RESOURCE_EXHAUSTED`, `INTERNAL`, `UNAVAILABLE`). Which requests qualify is the
//! plan's choice; the fleet tests let every request qualify, the OAuth token endpoint
//! included: `gcp_auth`, which fetches the access token there, retries a failed token request
//! itself (5 attempts, 50 ms doubling — gcp_auth 0.12 `HttpClient::token`), as it does against
//! Google's. The signed upload URL (`/upload/…`) is Cloud Storage's XML API, whose errors are
//! XML; the fake answers it in the same JSON, which is all the same to the provider: it reads
//! only the status (and `Retry-After`) of a failed upload. [`FakeGcp::fail_next`] still works
//! beside it, one fault for the next matching request.
//!
//! What the fake serves is read by Google's clients in `tests/official_clients.rs`
//! (google-auth, google-cloud-functions, google-cloud-run).
#![allow(clippy::unwrap_used, missing_docs)]

mod auth;
mod discovery;
mod federation;
mod filter;
mod functions;
mod gcs;
mod invoke;
mod observe;
mod routes;
mod services;
mod state;
mod wire;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use faas_core::conformance::faults::Faults;
use faas_core::{PollPolicy, RetryConfig};

use crate::{GcpBuilder, GcpProvider};
pub use federation::{EXTERNAL_TOKEN, STS_TOKEN_PATH, WORKLOAD_IDENTITY_PROVIDER};
pub use gcs::{GcsEmulator, GcsPreconditions};
pub use state::Fault;
use state::State;

pub const PROJECT: &str = "faas-test";
pub const REGION: &str = "europe-west1";
pub const CLIENT_EMAIL: &str = "deployer@faas-test.iam.gserviceaccount.com";

/// The fake, serving on a free loopback port until dropped.
pub struct FakeGcp {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    key_dir: tempfile::TempDir,
    faults: Faults,
}

impl Drop for FakeGcp {
    /// Stops the fake; panics when requests broke the discovery documents and no test read
    /// the violations ([`FakeGcp::take_violations`]), so a wrong field fails the test that sent it.
    fn drop(&mut self) {
        self.task.abort();
        if std::thread::panicking() {
            return;
        }
        let violations = self.take_violations();
        if !violations.is_empty() {
            panic!(
                "requests the discovery documents do not allow:\n{}",
                violations.join("\n")
            );
        }
    }
}

/// One RSA key per test process (generating one takes a while).
fn private_key_pem() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let out = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .stderr(Stdio::null())
            .output()
            .expect("openssl generates the test service-account key");
        assert!(out.status.success(), "openssl genpkey failed");
        String::from_utf8(out.stdout).unwrap()
    })
}

impl FakeGcp {
    pub async fn start() -> FakeGcp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::new(&url)));
        let faults = Faults::new();
        let task = tokio::spawn(routes::serve(listener, state.clone(), faults.clone()));
        let fake = FakeGcp {
            url,
            state,
            task,
            key_dir: tempfile::tempdir().unwrap(),
            faults,
        };
        std::fs::write(fake.key_path(), fake.key_json()).unwrap();
        fake
    }

    /// A service-account key whose `token_uri` is the fake's token endpoint.
    pub fn key_json(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "fake-key-1",
            "private_key": private_key_pem(),
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": format!("{}/token", self.url),
        })
        .to_string()
    }

    /// Where [`FakeGcp::key_json`] is written.
    pub fn key_path(&self) -> PathBuf {
        self.key_dir.path().join("service-account.json")
    }

    pub fn functions_url(&self) -> String {
        format!("{}/functions/v2/", self.url)
    }

    pub fn run_url(&self) -> String {
        format!("{}/run/v2/", self.url)
    }

    pub fn iam_url(&self) -> String {
        format!("{}/iam/v1/", self.url)
    }

    pub fn monitoring_url(&self) -> String {
        format!("{}/monitoring/v3/", self.url)
    }

    pub fn logging_url(&self) -> String {
        format!("{}/logging/v2/", self.url)
    }

    /// Adds raw Cloud Monitoring `TimeSeries` (JSON as the API writes them: `metric`,
    /// `resource`, `metricKind`, `valueType`, DELTA `points`) for `timeSeries.list` to read.
    pub fn seed_time_series(&self, series: Vec<serde_json::Value>) {
        let typed: Vec<crate::resources::TimeSeries> =
            series.into_iter().map(|v| observe::typed(v, "TimeSeries")).collect();
        self.with(|s| s.series.extend(typed));
    }

    /// How many time series one `timeSeries.list` page holds (default 1000).
    pub fn set_series_page_size(&self, n: usize) {
        self.with(|s| s.series_page_size = n.max(1));
    }

    /// Adds Cloud Logging `LogEntry`s (JSON as the API writes them) for `entries:list`.
    pub fn seed_log_entries(&self, entries: Vec<serde_json::Value>) {
        let typed: Vec<crate::resources::LogEntry> =
            entries.into_iter().map(|v| observe::typed(v, "LogEntry")).collect();
        self.with(|s| s.log_entries.extend(typed));
    }

    /// The environment the example binaries read to run against the fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GOOGLE_APPLICATION_CREDENTIALS", self.key_path().display().to_string()),
            ("FAAS_GCP_FUNCTIONS_URL", self.functions_url()),
            ("FAAS_GCP_RUN_URL", self.run_url()),
            ("FAAS_GCP_IAM_CREDENTIALS_URL", self.iam_url()),
            ("FAAS_GCP_MONITORING_URL", self.monitoring_url()),
            ("FAAS_GCP_LOGGING_URL", self.logging_url()),
            ("FAAS_GCP_INVOKER", CLIENT_EMAIL.to_string()),
        ]
    }

    /// A builder pointed at the fake, with fast polling and quick retries.
    pub fn builder(&self) -> GcpBuilder {
        GcpBuilder::default()
            .project(PROJECT)
            .region(REGION)
            .key_file(self.key_path())
            .functions_url(self.functions_url())
            .run_url(self.run_url())
            .iam_credentials_url(self.iam_url())
            .monitoring_url(self.monitoring_url())
            .logging_url(self.logging_url())
            .poll(PollPolicy::fast())
            .retry(RetryConfig {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                ..RetryConfig::default()
            })
    }

    pub async fn provider(&self) -> GcpProvider {
        self.builder().build().await.unwrap()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }

    /// The requests so far that the discovery documents do not allow (each answered
    /// `400 INVALID_ARGUMENT`), as `METHOD /path: why`; taking them clears them.
    pub fn take_violations(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.violations))
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear())
    }

    /// Calls that change something (not `GET`, not token grants).
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET ") && !r.contains("/token") && !r.contains(":generateIdToken"))
            .filter(|r| !r.contains("/invoke/"))
            .collect()
    }

    /// The names (`projects/…/operations/…`) of every operation started so far.
    pub fn operation_names(&self) -> Vec<String> {
        self.with(|s| s.operation_names())
    }

    /// How many times operations were polled.
    pub fn operation_polls(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("GET ") && r.contains("/operations/"))
            .count()
    }

    /// The fault layer in front of every route of the fake (see the module docs): start a
    /// [`FaultPlan`](faas_core::conformance::faults::FaultPlan) on it, read back what it
    /// injected. It sees a request before [`FakeGcp::fail_next`]'s faults and the discovery
    /// check: a request it answers or drops before carrying it out is not in
    /// [`FakeGcp::requests`].
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The next request whose method is `method` and whose path contains `path` meets `fault`.
    pub fn fail_next(&self, method: &str, path: &str, fault: Fault) {
        self.with(|s| s.faults.push((method.to_string(), path.to_string(), fault)));
    }

    /// The next build of `function` fails with `message`.
    pub fn fail_next_build(&self, function: &str, message: &str) {
        self.with(|s| s.failing_builds.insert(function.to_string(), message.to_string()));
    }

    /// How long operations run before they are done (default 120 ms).
    pub fn set_operation_time(&self, d: Duration) {
        self.with(|s| s.op_time = d);
    }

    /// Check GCS `storageSource`s against this storage emulator.
    pub fn set_storage(&self, url: &str) {
        self.with(|s| s.storage_url = Some(url.trim_end_matches('/').to_string()));
    }

    /// The raw Cloud Functions function JSON, as `GET` returns it.
    pub fn function_json(&self, function: &str) -> serde_json::Value {
        self.with(|s| s.render_function(function)).unwrap()
    }

    /// The raw Cloud Run service JSON, as `GET` returns it.
    pub fn service_json(&self, function: &str) -> serde_json::Value {
        self.with(|s| s.render_service(function)).unwrap()
    }

    /// A Cloud Run service named `name` with one revision and no Cloud Functions resource: a
    /// function deployed through the Cloud Run Admin API (`gcloud run deploy --function`).
    pub fn seed_run_only_service(&self, name: &str) {
        self.with(|s| s.new_revision(name));
    }

    /// The names of the revisions of `function`'s service, oldest first (none: no service).
    pub fn revision_names(&self, function: &str) -> Vec<String> {
        self.with(|s| {
            s.services
                .get(function)
                .map(|svc| svc.revisions.iter().map(|(r, _)| r.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// The sha256 of the bytes uploaded to the signed URL that `function`'s
    /// `buildConfig.source.storageSource` names: the code it was built from, as the fake
    /// received it (`None`: no such function, or its source is not a signed upload).
    pub fn deployed_code_sha256(&self, function: &str) -> Option<String> {
        self.with(|s| {
            let f = s.functions.get(function)?;
            let object = f.resource["buildConfig"]["source"]["storageSource"]["object"].as_str()?;
            s.uploads.get(object).map(|(sha, _)| sha.clone())
        })
    }

    /// Moves the service's traffic behind the provider's back (another deployer).
    pub fn set_traffic(&self, function: &str, traffic: serde_json::Value) {
        self.with(|s| s.force_traffic(function, traffic));
    }
}

/// A Python 3.12 HTTP function package answering `marker`, built under `dir`.
pub fn package(dir: &Path, marker: &str) -> faas_core::Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("main.py"),
        format!("def main(request):\n    return {marker:?}\n"),
    )
    .unwrap();
    std::fs::write(src.join("requirements.txt"), "functions-framework==3.*\n").unwrap();
    faas_core::PackageBuilder::new(&src)
        .runtime("python312".parse().unwrap())
        .handler("main.main")
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

/// The spec [`package`]'s function deploys with.
pub fn spec(name: &str) -> faas_core::FunctionSpec {
    faas_core::FunctionSpec::new(name, "python312".parse().unwrap(), "main.main").memory_mb(256)
}

fn write_main(dir: &Path, marker: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join("main.py"),
        format!(
            "import os\n\nMARKER = {marker:?}\n\n\ndef main(request):\n    return {{\"marker\": MARKER, \"event\": request.get_json(silent=True), \"version\": os.environ.get(\"K_REVISION\")}}\n"
        ),
    )
}

/// The conformance fixture for GCP: a Python 3.12 HTTP function in `main.py`. `runs_code`
/// is for live runs; the fake answers with the revision and the event instead of running it.
pub fn fixture(runs_code: bool) -> faas_core::conformance::Fixture {
    faas_core::conformance::Fixture {
        runtime: "python312".parse().unwrap(),
        handler: "main.main".into(),
        write_source: write_main,
        runs_code,
        // Cloud Run does not say which revision served a request on the service URL.
        reports_executed_version: false,
        invoke_rejects_missing: true,
        role: None,
        prefix: "conf".into(),
        split_samples: 0,
        memory_mb: 128,
        // Live Cloud Monitoring lags by minutes; the fake records nothing.
        observes_invocations: false,
    }
}
