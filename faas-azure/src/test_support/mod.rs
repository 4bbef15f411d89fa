//! Test support (feature `test-support`): a stateful fake of ARM `Microsoft.Web` (sites,
//! slots, app settings, site config, swap, host keys), `Microsoft.Storage` `listKeys`, Kudu
//! (zipdeploy, OneDeploy, deployments and their logs) and the Entra token endpoint, served
//! over TLS (azure_identity only talks to an `https` authority) with a certificate made by
//! `openssl`; and an Azurite launcher for Blob storage, with a fault-injecting proxy in front
//! of it ([`BlobFaults`]). Used by this crate's tests and the examples'; not for production
//! use: it panics on failure, as test helpers do.
//!
//! Azure Monitor `Metrics_List` (`{site}/providers/Microsoft.Insights/metrics`) aggregates the
//! samples a test seeds ([`FakeAzure::seed_metric`]) by `timespan`, `interval` and
//! `aggregation`, refusing what the service refuses (`400` for an unknown metric, interval or
//! aggregation, or a bad timespan).
//!
//! Application Insights `Query_Execute` (`POST /appinsights/v1/apps/{appId}/query`) evaluates the
//! KQL subset the provider sends over the `requests` and `traces` rows the function hosts record
//! for connected apps (or tests seed), refusing anything else with the service's error shape.
//!
//! What the fake does as the real services do, from the Microsoft.Web specification: ARM
//! long-running operations (site and slot creation `202` + `Azure-AsyncOperation`, as
//! `WebApps_CreateOrUpdate` / `_CreateOrUpdateSlot` define `200` or `202`; swaps `202` +
//! `Location`) that take several polls, slot ids `…/sites/{app}/slots/{slot}`, `PUT sites/{name}` updating an existing site (its tags and properties, not
//! its settings), `PATCH sites/{name}` refusing members `SitePatchResource` does not have
//! (`tags`, `functionAppConfig`, … with `400 InvalidRequestContent`), the replace-all semantics
//! of `PUT config/appsettings`, `409` while a Kudu deployment runs, failed deployments with a
//! log, slot swaps that exchange settings, keys checked on invocation, and run-from-package URLs
//! that must be readable (it fetches them from Azurite, which checks the SAS signature).
//!
//! Every ARM request to `Microsoft.Web/sites` and `Microsoft.Storage` is first checked against
//! the operations of azure-rest-api-specs as the official SDKs define them (`arm_specs.rs`:
//! method, URL template, query parameters and api-version, body members and types); what they
//! do not allow is answered `400 InvalidRequestContent` and recorded, and the fake panics on
//! drop while such a violation is unread. A path neither vendored nor listed as unchecked is a
//! violation too, so an endpoint added to the fake is checked from its first request. What
//! each endpoint is checked against:
//!
//! | endpoint | official definition |
//! |---|---|
//! | `…/Microsoft.Web/sites/{name}[/slots/{slot}]` and their `config/appsettings`, `config/web`, `config/publishingcredentials/list`, `host/default/listkeys`, `syncfunctiontriggers`, `slotsswap` | azure-mgmt-web 7.3, api-version 2023-12-01 (WebApps.json) |
//! | `…/Microsoft.Storage/storageAccounts/{account}/listKeys` | azure-mgmt-storage 21.2, api-version 2023-05-01 |
//! | `…/providers/Microsoft.Insights/metrics` | not checked (azure-mgmt-monitor is not installed) |
//! | `/subscriptions/…/locations/…/operations…` (status URLs) | not checked: the URLs ARM hands out |
//! | `/{tenant}/oauth2/v2.0/token` | none on a registry: OAuth 2.0 client credentials, prose docs only |
//! | `/scm/{app}/…` (Kudu) | none on a registry: Kudu's REST API is documented in prose only |
//! | `/appinsights/v1/…` | not checked (no definition vendored) |
//! | `/hosts/…` | none: the user's functions |
//!
//! What the fake serves is read by azure-mgmt-web and azure-mgmt-storage in
//! `tests/official_clients.rs`.
//!
//! Faults: the shared layer of `faas_core::conformance::faults` sits in front of every route
//! ([`FakeAzure::faults`], answering in ARM's error shape) and, through the same handle, in
//! front of Azurite ([`Azurite::with_faults_of`], in Storage's XML shape); [`delivery_request`]
//! picks what a delivery's plan may fail. One fault on one request: [`FakeAzure::fail_next`]
//! with [`Fault::Kind`], [`BlobFaults::fail_next`].
#![allow(clippy::unwrap_used, missing_docs)]

mod app_insights;
mod arm_specs;
mod auth;
mod blob_faults;
mod identity;
mod invoke;
mod kql;
mod kudu;
mod monitor;
mod routes;
mod sites;
mod state;
mod wire;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use faas_core::conformance::faults::Faults;
use faas_core::{PollPolicy, RetryConfig};

use crate::{AzureBuilder, AzureProvider, Credentials};
pub use blob_faults::BlobFaults;
pub use identity::{
    APP_SERVICE_IDENTITY_PATH, FEDERATED_TOKEN, IDENTITY_HEADER, IMDS_PATH, JWT_BEARER, MANAGED_CLIENT_ID,
};
pub use state::Fault;
use state::State;

pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000fa45";
pub const RESOURCE_GROUP: &str = "faas-test";
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
pub const CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
pub const CLIENT_SECRET: &str = "fake-client-secret-value";
pub const PLAN: &str = "/subscriptions/00000000-0000-0000-0000-00000000fa45/resourceGroups/faas-test/providers/Microsoft.Web/serverfarms/ep1";
/// A Linux Consumption plan (sku `Y1`, tier `Dynamic`), which Azure retires in 2028.
pub const CONSUMPTION_PLAN: &str = "/subscriptions/00000000-0000-0000-0000-00000000fa45/resourceGroups/faas-test/providers/Microsoft.Web/serverfarms/y1";
/// Azurite's well-known development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The fake Application Insights component's application id.
pub const APP_ID: &str = "a1b2c3d4-aaaa-4bbb-8ccc-0123456789ab";
/// Its instrumentation key.
pub const INSTRUMENTATION_KEY: &str = "f00dfeed-1111-4222-8333-444455556666";

/// The component's connection string, as the portal shows it (with `ApplicationId=`).
pub fn connection_string() -> String {
    format!(
        "InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId={APP_ID}"
    )
}
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A test CA and a server certificate for 127.0.0.1 it signed (webpki refuses a CA
/// certificate as a server's), made once per test process: (CA, server cert, server key).
fn certificate() -> &'static (String, String, String) {
    static CERT: OnceLock<(String, String, String)> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let run = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl makes the fake's TLS certificates");
            assert!(status.success(), "openssl {args:?} failed");
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=faas test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
        ]);
        std::fs::write(
            p("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ]);
        let read = |n: &str| std::fs::read_to_string(p(n)).unwrap();
        (read("ca.pem"), read("leaf.pem"), read("leaf.key"))
    })
}

/// The fake, serving HTTPS on a free loopback port until dropped.
pub struct FakeAzure {
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: axum_server::Handle<std::net::SocketAddr>,
    ca_dir: tempfile::TempDir,
    faults: Faults,
}

impl Drop for FakeAzure {
    /// Stops the fake; panics when requests broke the ARM definitions and no test read the
    /// violations ([`FakeAzure::take_violations`]), so a wrong member fails the test that sent it.
    fn drop(&mut self) {
        self.handle.shutdown();
        if std::thread::panicking() {
            return;
        }
        let violations = self.take_violations();
        if !violations.is_empty() {
            panic!("requests the ARM definitions do not allow:\n{}", violations.join("\n"));
        }
    }
}

impl FakeAzure {
    /// Starts the fake.
    pub async fn start() -> FakeAzure {
        let (ca, cert, key) = certificate();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::new(&url)));
        let config = axum_server::tls_rustls::RustlsConfig::from_pem(cert.as_bytes().to_vec(), key.as_bytes().to_vec())
            .await
            .unwrap();
        let handle = axum_server::Handle::new();
        let faults = Faults::new();
        let app = faults.wrap(routes::router(state.clone()), wire::arm_fault);
        let server = axum_server::from_tcp_rustls(listener, config)
            .unwrap()
            .handle(handle.clone());
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        let ca_dir = tempfile::tempdir().unwrap();
        std::fs::write(ca_dir.path().join("ca.pem"), ca).unwrap();
        FakeAzure {
            url,
            state,
            handle,
            ca_dir,
            faults,
        }
    }

    /// The fault layer in front of every route (ARM, Kudu, the token endpoints, the function
    /// hosts, Application Insights): idle until a test starts a plan
    /// (`faults().start(FaultPlan::mixed(0.10).qualifying(delivery_request))`). Its error answers are
    /// ARM's (`429 TooManyRequests`, `503 ServiceUnavailable`, `500 InternalServerError`);
    /// faulted requests that were not carried out never reach the fake, so
    /// [`FakeAzure::requests`] lists only what it acted on. Which requests a test lets fail is
    /// its plan's choice: [`delivery_request`] is the delivery's (not the token endpoints).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The CA of the fake's certificate (PEM), to trust.
    pub fn ca_pem(&self) -> &'static str {
        &certificate().0
    }

    /// Where [`FakeAzure::ca_pem`] is written (for `FAAS_AZURE_CA_FILE`).
    pub fn ca_path(&self) -> PathBuf {
        self.ca_dir.path().join("ca.pem")
    }

    pub fn kudu_template(&self) -> String {
        format!("{}/scm/{{app}}", self.url)
    }

    /// The environment the example binaries read to run against the fake.
    pub fn env(&self, blob_endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_TENANT_ID", TENANT.into()),
            ("AZURE_CLIENT_ID", CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("AZURE_AUTHORITY_HOST", self.url.clone()),
            ("FAAS_AZURE_ARM_URL", self.url.clone()),
            ("FAAS_AZURE_KUDU_URL", self.kudu_template()),
            ("FAAS_AZURE_CA_FILE", self.ca_path().display().to_string()),
            ("FAAS_AZURE_PLAN", PLAN.into()),
            ("FAAS_AZURE_STORAGE_ACCOUNT", ACCOUNT.into()),
            ("FAAS_AZURE_BLOB_ENDPOINT", blob_endpoint.into()),
        ]
    }

    /// A builder pointed at the fake and Azurite, with fast polling and quick retries.
    pub fn builder(&self, blob_endpoint: &str) -> AzureBuilder {
        AzureBuilder::default()
            .subscription(SUBSCRIPTION)
            .resource_group(RESOURCE_GROUP)
            .plan(PLAN)
            .storage_account(ACCOUNT)
            .blob_endpoint(blob_endpoint)
            .credentials(Credentials::ClientSecret {
                tenant_id: TENANT.into(),
                client_id: CLIENT_ID.into(),
                secret: CLIENT_SECRET.into(),
            })
            .authority_host(&self.url)
            .arm_url(&self.url)
            .kudu_url(self.kudu_template())
            .root_certificate_pem(self.ca_pem().as_bytes().to_vec())
            .poll(PollPolicy::fast())
            .retry(RetryConfig {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(200),
                ..RetryConfig::default()
            })
    }

    /// [`FakeAzure::builder`] reading durations and logs from the fake's Application Insights
    /// component ([`APP_ID`]).
    pub fn builder_with_app_insights(&self, blob_endpoint: &str) -> AzureBuilder {
        self.builder(blob_endpoint)
            .application_insights(APP_ID)
            .application_insights_url(format!("{}/appinsights", self.url))
    }

    /// Apps and slots created from now on get [`connection_string`] as their
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` app setting (as the portal adds it when a function
    /// app is created with Application Insights on).
    pub fn connect_new_apps_to_app_insights(&self) {
        self.with(|s| s.connect_new_apps = true);
    }

    /// Records a `requests` row in the fake's Application Insights component: `cloud_RoleName`
    /// `role` (`app` or `app-slot`), starting at `at_ms`, `duration_ms` long, `itemCount`
    /// `count` (more than 1: a sampled record).
    pub fn seed_request(&self, role: &str, at_ms: u64, duration_ms: f64, success: bool, count: u32) {
        let row = [
            ("timestamp", serde_json::json!(crate::metrics::iso8601(at_ms))),
            ("cloud_RoleName", serde_json::json!(role)),
            ("duration", serde_json::json!(duration_ms)),
            ("success", serde_json::json!(success)),
            ("resultCode", serde_json::json!(if success { "200" } else { "500" })),
            ("itemCount", serde_json::json!(count)),
            ("itemId", serde_json::json!(format!("seed-{at_ms}-{duration_ms}"))),
            (app_insights::INGESTED, serde_json::json!(faas_core::observe::now_ms())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.with(|s| s.telemetry.requests.push(row));
    }

    /// The telemetry of invocations from now on reaches Application Insights `delay` after
    /// they end (and is invisible to queries until then), as the real pipeline's latency of
    /// seconds to minutes makes records arrive late and out of order.
    pub fn set_ingestion_delay(&self, delay: Duration) {
        self.with(|s| s.ingestion_delay = delay);
    }

    /// How many `requests` and `traces` rows the fake's component holds.
    pub fn telemetry_rows(&self) -> (usize, usize) {
        self.with(|s| (s.telemetry.requests.len(), s.telemetry.traces.len()))
    }

    pub async fn provider(&self, blob_endpoint: &str) -> AzureProvider {
        self.builder(blob_endpoint).build().await.unwrap()
    }

    /// A provider on Flex Consumption against the fake and `blob_endpoint`.
    pub async fn flex_provider(&self, blob_endpoint: &str) -> AzureProvider {
        self.builder(blob_endpoint)
            .hosting(crate::Hosting::Flex)
            .build()
            .await
            .unwrap()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }

    /// The requests so far that the ARM definitions do not allow (each answered `400`), as
    /// `METHOD /path: why`; taking them clears them.
    pub fn take_violations(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.violations))
    }

    pub fn clear_requests(&self) {
        self.with(|s| s.requests.clear())
    }

    /// Calls that change something: not reads, not token grants, not invocations, not the
    /// POSTs that only read (`list`, `listkeys`, `listKeys`).
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET "))
            .filter(|r| !r.contains("/oauth2/") && !r.contains("/hosts/"))
            .filter(|r| !r.contains("/list?") && !r.contains("/listkeys?") && !r.contains("/listKeys?"))
            .collect()
    }

    /// How many times operations and deployments were polled.
    pub fn polls(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.starts_with("GET ")
                    && (r.contains("/operations/") || r.contains("/operationResults/") || r.contains("/deployments/"))
            })
            .count()
    }

    /// The next request whose method is `method` and whose path contains `path` meets `fault`.
    pub fn fail_next(&self, method: &str, path: &str, fault: Fault) {
        self.with(|s| s.faults.push((method.to_string(), path.to_string(), fault)));
    }

    /// How many [`FakeAzure::fail_next`] faults no request has met yet.
    pub fn unmet_faults(&self) -> usize {
        self.with(|s| s.faults.len())
    }

    /// Kudu of `app` refuses bearer tokens from now on (basic auth only).
    pub fn require_basic_auth(&self, app: &str) {
        self.with(|s| s.require_basic_auth(app));
    }

    /// The next Kudu deployment to `app` fails with this log line.
    pub fn fail_next_deployment(&self, app: &str, log: &str) {
        self.with(|s| s.failing_deployments.insert(app.to_string(), log.to_string()));
    }

    /// How long operations and deployments run (default 120 ms).
    pub fn set_operation_time(&self, d: Duration) {
        self.with(|s| s.op_time = d);
    }

    /// An app's (or `app-slot`'s) settings as the fake holds them.
    pub fn settings(&self, app: &str) -> std::collections::BTreeMap<String, String> {
        self.with(|s| s.settings_of(app))
    }

    /// Sets an app setting behind the provider's back (the portal, another tool).
    pub fn set_setting(&self, app: &str, key: &str, value: &str) {
        self.with(|s| s.set_setting(app, key, value));
    }

    /// An app (or `app-slot`) as `GET sites/{name}` returns it.
    pub fn site(&self, app: &str) -> Option<serde_json::Value> {
        self.with(|s| s.site_of(app))
    }

    /// Sets `properties.{path}` (dot-separated member names) of an app (or `app-slot`) behind
    /// the provider's back, as a newer api-version's member or another tool would.
    pub fn set_site_property(&self, app: &str, path: &str, value: serde_json::Value) {
        self.with(|s| s.set_site_property(app, path, value));
    }

    /// Records one sample of an Azure Monitor metric (`Requests`, `Http5xx`, `HttpResponseTime`
    /// in seconds, …) of an app (or `app-slot`) at `at_ms`, for `Metrics_List` to aggregate.
    pub fn seed_metric(&self, app: &str, metric: &str, at_ms: u64, value: f64) {
        self.with(|s| {
            s.metrics
                .entry((app.to_string(), metric.to_string()))
                .or_default()
                .push((at_ms, value))
        });
    }

    /// The sha256 of the code the host of an app (or `app-slot`) loaded: the package its
    /// run-from-package URL served when it was set, or the zip Kudu deployed (`None`: it has
    /// none it can load).
    pub fn loaded_code(&self, app: &str) -> Option<String> {
        self.with(|s| s.sites.get(app).and_then(|site| site.code.clone()))
    }

    /// An app's site config (`config/web`) as the fake holds it.
    pub fn ramp_up_rules(&self, app: &str) -> serde_json::Value {
        self.with(|s| s.rules_of(app))
    }
}

/// The requests a delivery's fault plan lets fail ([`FakeAzure::faults`], and the same
/// handle in front of Azurite, [`Azurite::with_faults_of`]): ARM (`/subscriptions/…`), Kudu
/// (`/scm/…`) and the package store's Blob calls (`/devstoreaccount1/…`). Not the Entra and
/// managed-identity token endpoints (azure_identity asks for one token per credential and
/// caches it; how it retries is its own), nor the function hosts and Application Insights,
/// which no delivery calls.
pub fn delivery_request(_method: &axum::http::Method, path: &str) -> bool {
    path.starts_with("/subscriptions/")
        || path.starts_with("/scm/")
        || path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(ACCOUNT))
            .is_some_and(|p| p.starts_with('/'))
}

/// One HTTP function in the Python v2 model, which the fake's host indexes.
const HELLO: &str = "\n@app.route(route=\"hello\")\ndef hello(req: func.HttpRequest) -> func.HttpResponse:\n    return func.HttpResponse(\"hello\")\n";

/// A minimal Python function app (`function_app.py` with one HTTP function, `hello`) packaged
/// into `dir/out.zip` from `dir/src`.
pub fn python_package(dir: &std::path::Path) -> faas_package::Package {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("function_app.py"),
        format!("import azure.functions as func\napp = func.FunctionApp()\n{HELLO}"),
    )
    .unwrap();
    faas_package::PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("function_app.app")
        .output(dir.join("out.zip"))
        .build()
        .unwrap()
}

/// A Python function app packaged into `dir/{marker}.zip` from `dir/src-{marker}`, its code
/// marked with `marker` (so each marker has its own sha256).
pub fn marked_package(dir: &std::path::Path, marker: &str) -> faas_package::Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("function_app.py"),
        format!("import azure.functions as func\n\napp = func.FunctionApp()\nMARKER = {marker:?}\n{HELLO}"),
    )
    .unwrap();
    std::fs::write(src.join("host.json"), "{\"version\": \"2.0\"}\n").unwrap();
    faas_package::PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("function_app.app")
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

/// Azurite's blob service on a free loopback port, killed on drop.
pub struct Azurite {
    /// The account's blob endpoint (`http://127.0.0.1:{port}/devstoreaccount1`).
    pub blob_endpoint: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Starts `azurite-blob`, or returns `None` outside CI when it is not installed (in CI that
    /// panics: a missing emulator is a failure, not a skip).
    pub async fn start() -> Option<Azurite> {
        let bin =
            faas_core::conformance::test_tool("FAAS_AZURITE_BLOB", "target/test-npm/node_modules/.bin/azurite-blob")?;
        let port = faas_core::conformance::free_port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent"])
            // Azurite writes its debug and extent files to the working directory.
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let azurite = Azurite {
            blob_endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
            child,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "Azurite did not come up on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(azurite)
    }
}
