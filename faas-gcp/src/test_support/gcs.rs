//! Cloud Storage for tests: [`GcsEmulator`] (`gcp-storage-emulator` on a free loopback port)
//! and [`GcsPreconditions`], a proxy in front of it that adds the JSON API's
//! `ifGenerationMatch` preconditions, which the emulator does not implement: it ignores the
//! parameter on `objects.get`, `objects.insert` and `objects.delete` alike.
//!
//! The proxy forwards every request to the emulator as it came — the objects, their bytes and
//! their generations are the emulator's. A request carrying `ifGenerationMatch` on one object
//! (`GET`/`DELETE storage/v1/b/{bucket}/o/{object}`, `POST upload/storage/v1/b/{bucket}/o`
//! with `name`) is first checked against the object's live generation, read from the
//! emulator, as storage v1's discovery document defines the parameter: "Makes the operation
//! conditional on whether the object's current generation matches the given value. Setting
//! to 0 makes the operation succeed only if there are no live versions of the object." A
//! precondition that does not hold is `412 Precondition Failed` with Google's error body
//! (reason `conditionNotMet`), and nothing reaches the emulator; a `GET` or `DELETE` of a
//! missing object is left to the emulator's `404`. Writes and conditional requests run one at
//! a time, so a check and the write it guards are atomic for every client of the proxy.
//!
//! The shared fault layer (`faas_core::conformance::faults`) stands in front of the proxy too
//! ([`GcsPreconditions::faults`]), its errors in the JSON API's shape (`{"error": {"code",
//! "message", "errors": [{"domain": "global", "reason", "message"}]}}`, the reasons Cloud
//! Storage's "HTTP status and error codes for JSON" gives: `rateLimitExceeded` for 429,
//! `backendError` for 500 and 503).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use faas_core::conformance::faults::{FaultKind, Faults};
use serde_json::json;

/// `gcp-storage-emulator` on a free loopback port, killed on drop.
pub struct GcsEmulator {
    pub url: String,
    child: Child,
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GcsEmulator {
    /// Starts the emulator with bucket `bucket`, or returns `None` outside CI when it is not
    /// installed (in CI that panics: a missing emulator is a failure, not a skip).
    pub async fn start(bucket: &str) -> Option<GcsEmulator> {
        let bin = faas_core::conformance::test_tool("FAAS_GCS_EMULATOR", "target/test-venv/bin/gcp-storage-emulator")?;
        let port = faas_core::conformance::free_port();
        let child = Command::new(&bin)
            .args([
                "start",
                "--host=127.0.0.1",
                &format!("--port={port}"),
                "--in-memory",
                &format!("--default-bucket={bucket}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let emulator = GcsEmulator {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let probe = http.get(format!("{}/storage/v1/b/{bucket}", emulator.url)).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Some(emulator);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "gcp-storage-emulator did not come up on {}",
                emulator.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The [`GcsEmulator`] behind a proxy that enforces `ifGenerationMatch` (see the module
/// docs), serving on a free loopback port until dropped.
pub struct GcsPreconditions {
    /// The storage root to give the provider (`storage_url`).
    pub url: String,
    proxy: Arc<Proxy>,
    task: tokio::task::JoinHandle<()>,
    faults: Faults,
}

impl Drop for GcsPreconditions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Proxy {
    emulator: String,
    http: reqwest::Client,
    /// Held by writes and conditional requests, from the check to the emulator's answer.
    lock: tokio::sync::Mutex<()>,
    refused: AtomicUsize,
    /// The next write is carried out and then answered `503`, as if the answer was lost.
    lose_next_answer: AtomicBool,
}

impl GcsEmulator {
    /// A proxy in front of this emulator that enforces `ifGenerationMatch`.
    pub async fn with_preconditions(&self) -> GcsPreconditions {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Arc::new(Proxy {
            emulator: self.url.clone(),
            http: reqwest::Client::new(),
            lock: tokio::sync::Mutex::new(()),
            refused: AtomicUsize::new(0),
            lose_next_answer: AtomicBool::new(false),
        });
        let faults = Faults::new();
        let app = axum::Router::new().fallback(handle).with_state(proxy.clone());
        let app = faults.wrap(app, injected_error);
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GcsPreconditions {
            url,
            proxy,
            task,
            faults,
        }
    }
}

impl GcsPreconditions {
    /// How many requests the proxy refused with `412` so far.
    pub fn refused(&self) -> usize {
        self.proxy.refused.load(Ordering::SeqCst)
    }

    /// The fault layer in front of the proxy (see the module docs): a request it answers or
    /// drops before carrying it out never reaches the emulator.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The next write (any request but a `GET`) reaches the emulator and is carried out, and
    /// its answer is then replaced by `503 Service Unavailable`, as if it was lost on the way.
    pub fn lose_next_answer(&self) {
        self.proxy.lose_next_answer.store(true, Ordering::SeqCst);
    }
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = reqwest::Url::parse(&format!("http://proxy{uri}")).unwrap();
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let param = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let expected = param("ifGenerationMatch");
    let object = object_of(&method, uri.path(), param("name"));
    let _guard = match (&method, &expected) {
        (&Method::GET, None) => None,
        _ => Some(proxy.lock.lock().await),
    };
    if let (Some(expected), Some((bucket, object))) = (expected, object) {
        let live = proxy.generation(&bucket, &object).await;
        let holds = match &live {
            Some(g) => *g == expected,
            None => expected == "0" || method != Method::POST,
        };
        if !holds {
            proxy.refused.fetch_add(1, Ordering::SeqCst);
            let message = "At least one of the pre-conditions you specified did not hold.";
            let body = json!({"error": {"code": 412, "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "conditionNotMet"}]}});
            return (StatusCode::PRECONDITION_FAILED, axum::Json(body)).into_response();
        }
    }
    let write = method != Method::GET;
    let answer = proxy.forward(method, &uri, &headers, body).await;
    if write && proxy.lose_next_answer.swap(false, Ordering::SeqCst) {
        let body = json!({"error": {"code": 503, "message": "Service Unavailable"}});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    answer
}

/// An injected fault's answer in the Cloud Storage JSON API's error shape.
fn injected_error(http: u16, _kind: &FaultKind) -> Response {
    let (reason, message) = match http {
        429 => ("rateLimitExceeded", "The rate of requests exceeds the rate limit."),
        _ => ("backendError", "Backend Error"),
    };
    let body = json!({"error": {"code": http, "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}]}});
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, axum::Json(body)).into_response()
}

/// The bucket and object a request is about: the path's for `GET`/`DELETE`
/// `storage/v1/b/{bucket}/o/{object}`, the `name` of an upload.
fn object_of(method: &Method, path: &str, name: Option<String>) -> Option<(String, String)> {
    if let Some(rest) = path.strip_prefix("/upload/storage/v1/b/") {
        let bucket = rest.strip_suffix("/o")?;
        return (*method == Method::POST).then_some((decode(bucket), name?));
    }
    let rest = path.strip_prefix("/storage/v1/b/")?;
    let (bucket, object) = rest.split_once("/o/")?;
    Some((decode(bucket), decode(object)))
}

fn decode(s: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?v={s}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.into_owned()))
        .unwrap_or_else(|| s.to_string())
}

impl Proxy {
    /// The live generation of `bucket/object` in the emulator, if there is one.
    async fn generation(&self, bucket: &str, object: &str) -> Option<String> {
        let mut url = reqwest::Url::parse(&self.emulator).unwrap();
        url.path_segments_mut()
            .unwrap()
            .extend(["storage", "v1", "b", bucket, "o", object]);
        let resp = self.http.get(url).send().await.unwrap();
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(resp.status().is_success(), "emulator metadata GET: {}", resp.status());
        let v: serde_json::Value = resp.json().await.unwrap();
        match &v["generation"] {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// The request, sent on to the emulator as it came, and the emulator's answer.
    async fn forward(&self, method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
        let url = format!("{}{}", self.emulator, uri.path_and_query().map_or("", |p| p.as_str()));
        let mut request = self.http.request(method, url).body(body);
        for name in [
            "content-type",
            "range",
            "x-upload-content-type",
            "x-upload-content-length",
        ] {
            if let Some(v) = headers.get(name) {
                request = request.header(name, v.clone());
            }
        }
        let resp = request.send().await.unwrap();
        let mut out = Response::builder().status(resp.status().as_u16());
        for (name, value) in resp.headers() {
            let n = name.as_str();
            if n == "content-type" || n == "content-range" || n.starts_with("x-goog-") || n == "location" {
                out = out.header(name.clone(), value.clone());
            }
        }
        let bytes = resp.bytes().await.unwrap();
        out.body(Body::from(bytes)).unwrap()
    }
}
