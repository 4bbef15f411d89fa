//! Test support (feature `test-support`): moto_server on a free loopback port, and a
//! recording, fault-injecting proxy in front of it (moto never reports `InProgress`,
//! conflicts or throttling by itself). Used by this crate's tests and the examples' tests;
//! not for production use: it panics on failure, as test helpers do.
//!
//! The proxy also makes moto's S3 conditional writes atomic, as S3's are: moto checks
//! `If-Match` / `If-None-Match` and then writes, with no lock between the two
//! (`S3Response.put_object` and `delete_object` in moto/s3/responses.py) while moto_server
//! serves requests on threads, so two conditional writes of one key could both pass their
//! check. The proxy forwards conditional `PUT`s and `DELETE`s one at a time; moto still
//! evaluates every condition itself.
//!
//! Two kinds of faults: the deterministic list ([`Fault`]: the n-th matching request fails
//! this way) and the shared random layer of every cloud's fakes ([`Proxy::faults`],
//! `faas_core::conformance::faults`) in front of the whole proxy, whose errors are rendered
//! as each AWS service answers them (see [`aws_dialect`] and [`s3_dialect`]).
#![allow(clippy::unwrap_used, missing_docs)]

mod canned;
mod cbor;
mod faults;

pub use canned::{account_settings, provisioned_item};
pub use faults::{Fault, FaultKind, aws_dialect, lambda_and_s3, s3_dialect};
use faults::{drop_connection, fault_layers, take_fault};

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{AwsBuilder, AwsProvider, StaticKeys};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use faas_core::conformance::faults::Faults;
use faas_core::{PollPolicy, RetryConfig};

pub const ROLE: &str = "arn:aws:iam::123456789012:role/faas-test";
pub const BUCKET: &str = "faas-artifacts";

/// A moto_server child process, killed on drop.
pub struct Moto {
    pub url: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_auth(service: &str) -> String {
    auth_as("testing", service)
}

/// An `Authorization` header moto reads as `access_key`'s (it maps a key to its account, an
/// assumed role's session key to the role's account; the signature is not checked).
pub fn auth_as(access_key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// In `access_key`'s account on moto at `url`: the IAM role `role` and the S3 bucket `bucket`.
pub async fn create_role_and_bucket(http: &reqwest::Client, url: &str, access_key: &str, role: &str, bucket: &str) {
    let r = http
        .post(url)
        .header("authorization", auth_as(access_key, "iam"))
        .form(&[
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", role),
            ("AssumeRolePolicyDocument", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "CreateRole {role} as {access_key}: {}",
        r.text().await.unwrap_or_default()
    );
    let r = http
        .put(format!("{url}/{bucket}"))
        .header("authorization", auth_as(access_key, "s3"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "CreateBucket {bucket}: {}", r.status());
}

impl Moto {
    /// Starts moto, or returns `None` outside CI when it is not installed (in CI that panics).
    pub async fn start() -> Option<Moto> {
        Moto::start_with_env(&[]).await
    }

    /// [`Moto::start`] with these environment variables set for moto (for example
    /// `MOTO_LAMBDA_STUB_ECR=false`: Lambda then looks image references up in moto's ECR and
    /// reports the pushed image's digest, as Lambda does).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Option<Moto> {
        let bin = faas_core::conformance::test_tool("FAAS_MOTO_SERVER", "target/test-venv/bin/moto_server")?;
        let port = faas_core::conformance::free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if http
                .get(format!("{}/moto-api/", moto.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start on {}",
                moto.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // No Docker here: Invoke echoes the event instead of running it.
        let r = http
            .post(format!("{}/moto-api/config", moto.url))
            .json(&serde_json::json!({"lambda": {"use_docker": false}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        create_role_and_bucket(&http, &moto.url, "testing", "faas-test", BUCKET).await;
        Some(moto)
    }
}

/// A Python package in `dir` whose handler returns `{"marker": marker}` (different markers,
/// different code).
pub fn python_package(dir: &std::path::Path, marker: &str) -> faas_package::Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        format!("def lambda_handler(event, context):\n    return {{'marker': '{marker}'}}\n"),
    )
    .unwrap();
    faas_package::PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

impl Moto {
    /// Creates ECR repository `repository` in moto and pushes an image manifest (Docker
    /// schema 2, one layer) tagged `tag` with ECR's `CreateRepository` and `PutImage` (JSON
    /// protocol, `AmazonEC2ContainerRegistry_V20150921`); returns the pushed image's
    /// reference pinned by digest, `123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}@sha256:…`.
    pub async fn push_image(&self, repository: &str, tag: &str) -> String {
        let http = reqwest::Client::new();
        let call = |target: &'static str, body: serde_json::Value| {
            http.post(format!("{}/", self.url))
                .header("authorization", fake_auth("ecr"))
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", format!("AmazonEC2ContainerRegistry_V20150921.{target}"))
                .body(body.to_string())
                .send()
        };
        let r = call("CreateRepository", serde_json::json!({ "repositoryName": repository }))
            .await
            .unwrap();
        assert!(r.status().is_success(), "CreateRepository: {}", r.text().await.unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": format!("sha256:{}", "c".repeat(64)),
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2048,
                "digest": format!("sha256:{}", "d".repeat(64)),
            }],
        });
        let r = call(
            "PutImage",
            serde_json::json!({ "repositoryName": repository, "imageManifest": manifest.to_string(), "imageTag": tag }),
        )
        .await
        .unwrap();
        let answer: serde_json::Value = r.json().await.unwrap();
        let digest = answer["image"]["imageId"]["imageDigest"].as_str().unwrap().to_string();
        format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}")
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    /// When the proxy received it.
    pub at: std::time::Instant,
    /// The status it was answered with, once answered (by moto, a canned answer or an
    /// injected error; never set for a dropped connection).
    answered: Arc<std::sync::OnceLock<u16>>,
}

impl Seen {
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }

    /// The status the request was answered with (`None`: not yet, or its connection was
    /// dropped before an answer — by a fault before forwarding, or the shared layer's
    /// `ResetAfter` after moto answered, in which case this is moto's status).
    pub fn status(&self) -> Option<u16> {
        self.answered.get().copied()
    }
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    faults: Arc<Mutex<Vec<Fault>>>,
    pending: Arc<Mutex<Pending>>,
    canned: Arc<Mutex<canned::Canned>>,
    /// Held while a conditional write is forwarded (see the module docs).
    conditional: Arc<tokio::sync::Mutex<()>>,
}

/// Lambda's asynchronous creates and updates, which moto finishes at once: for `window`
/// after a create (update) of a function, reads of it report `State=Pending`
/// (`LastUpdateStatus=InProgress`).
#[derive(Debug, Default)]
struct Pending {
    window: Duration,
    until: std::collections::HashMap<String, (std::time::Instant, bool)>,
}

fn function_of(path: &str) -> Option<&str> {
    let rest = path.split("/functions/").nth(1)?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// A recording, fault-injecting HTTP proxy on a free loopback port.
pub struct Proxy {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub faults: Arc<Mutex<Vec<Fault>>>,
    pending: Arc<Mutex<Pending>>,
    canned: Arc<Mutex<canned::Canned>>,
    shared: Faults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let state = ProxyState {
            upstream: upstream.to_string(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            seen: Arc::default(),
            faults: Arc::default(),
            pending: Arc::default(),
            canned: Arc::default(),
            conditional: Arc::default(),
        };
        let (seen, faults, pending) = (state.seen.clone(), state.faults.clone(), state.pending.clone());
        let canned = state.canned.clone();
        let shared = Faults::new();
        let app = fault_layers(&shared, Router::new().fallback(forward).with_state(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url,
            seen,
            faults,
            pending,
            canned,
            shared,
            task,
        }
    }

    /// The shared fault layer in front of every request the proxy gets (inactive until
    /// `start`ed with a plan): its injected errors reach the SDK the way each service
    /// answers them ([`aws_dialect`], [`s3_dialect`]); its resets drop the connection
    /// before forwarding or after moto answered.
    ///
    /// ```no_run
    /// # async fn t(proxy: faas_aws::test_support::Proxy) {
    /// use faas_core::conformance::faults::FaultPlan;
    /// proxy.faults().start(FaultPlan::mixed(0.10).seed(1));
    /// // ... deploy ...
    /// assert!(!proxy.faults().injected().is_empty());
    /// # }
    /// ```
    pub fn faults(&self) -> &Faults {
        &self.shared
    }

    /// Makes `ListProvisionedConcurrencyConfigs` of `function` answer these items
    /// ([`provisioned_item`]); moto does not implement it (see `test_support/canned.rs`).
    pub fn provisioned_concurrency(&self, function: &str, items: Vec<serde_json::Value>) {
        self.canned
            .lock()
            .unwrap()
            .provisioned
            .insert(function.to_string(), items);
    }

    /// The JSON body of the first `CreateFunction` the proxy saw (since the last [`clear`](Proxy::clear)).
    pub fn create_function_body(&self) -> serde_json::Value {
        let seen = self.seen();
        let create = seen
            .iter()
            .find(|s| s.method == "POST" && s.path == "/2015-03-31/functions")
            .expect("a CreateFunction");
        serde_json::from_str(&create.body).unwrap()
    }

    /// Makes `function`'s configurations report SnapStart the way Lambda does: on for
    /// published versions, each version `Pending` for `pending_reads` reads of it while its
    /// snapshot is taken (see `test_support/canned.rs`).
    pub fn simulate_snap_start(&self, function: &str, pending_reads: usize) {
        self.canned.lock().unwrap().snap = Some(canned::SnapView {
            function: function.to_string(),
            pending_reads,
            version_reads: 0,
        });
    }

    /// Makes `GetAccountSettings` answer `settings` ([`account_settings`]); moto does not
    /// implement it.
    pub fn account_settings(&self, settings: serde_json::Value) {
        self.canned.lock().unwrap().account = Some(settings);
    }

    /// Makes functions look `Pending` / `InProgress` for `window` after each create / update.
    pub fn simulate_pending(&self, window: Duration) {
        self.pending.lock().unwrap().window = window;
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// An SDK configuration for raw clients (seeding CloudWatch and its logs the way Lambda
    /// would) talking to moto through this proxy.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "faas-test",
            ))
            .load()
            .await
    }

    /// A provider talking to moto through this proxy, with fast polls and retries.
    pub async fn provider(&self, configure: impl FnOnce(AwsBuilder) -> AwsBuilder) -> AwsProvider {
        let builder = AwsBuilder::default()
            .region("us-east-1")
            .endpoint_url(&self.url)
            .static_keys(StaticKeys {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
                session_token: None,
            })
            .bucket(BUCKET)
            .prefix("functions/")
            .poll(PollPolicy::fast())
            .retry(RetryConfig {
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(200),
                ..RetryConfig::default()
            });
        configure(builder).build().await.unwrap()
    }
}

/// Records creates and updates, and rewrites reads inside their pending window.
fn pending_view(pending: &Mutex<Pending>, method: &str, path: &str, bytes: Bytes) -> Bytes {
    let mut p = pending.lock().unwrap();
    if p.window.is_zero() {
        return bytes;
    }
    let now = std::time::Instant::now();
    let created = method == "POST" && path.ends_with("/functions");
    let updated = method == "PUT" && (path.ends_with("/code") || path.ends_with("/configuration"));
    if created || updated {
        let name = if created {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["FunctionName"].as_str().map(str::to_string))
        } else {
            function_of(path).map(str::to_string)
        };
        if let Some(name) = name {
            let window = p.window;
            p.until.insert(name, (now + window, created));
        }
        return bytes;
    }
    let Some(name) = function_of(path).filter(|_| method == "GET") else {
        return bytes;
    };
    let Some(&(until, created)) = p.until.get(name).filter(|(until, _)| now < *until) else {
        return bytes;
    };
    let _ = until;
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    let config = if v.get("Configuration").is_some() {
        &mut v["Configuration"]
    } else {
        &mut v
    };
    if created {
        config["State"] = "Pending".into();
        config["StateReasonCode"] = "Creating".into();
    } else {
        config["LastUpdateStatus"] = "InProgress".into();
    }
    Bytes::from(v.to_string())
}

async fn forward(State(st): State<ProxyState>, req: Request) -> Response {
    let answered = Arc::new(std::sync::OnceLock::new());
    let response = answer(st, req, &answered).await;
    let _ = answered.set(response.status().as_u16());
    response
}

async fn answer(st: ProxyState, req: Request, answered: &Arc<std::sync::OnceLock<u16>>) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 256 * 1024 * 1024).await.unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    // CloudWatch's SDK speaks RPC v2 CBOR, moto only its JSON protocol: translate both ways.
    let cbor_operation = parts
        .headers
        .get("smithy-protocol")
        .is_some_and(|v| v == "rpc-v2-cbor")
        .then(|| cbor::operation(&path))
        .flatten()
        .map(|(service, operation)| format!("{service}.{operation}"));
    let gzipped = parts
        .headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = match &cbor_operation {
        Some(_) => match cbor::gunzip_if(gzipped, &body).and_then(|raw| cbor::request_to_json(&raw)) {
            Ok(json) => Bytes::from(json),
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("the test proxy could not read CBOR: {e}"),
                )
                    .into_response();
            }
        },
        None => body,
    };
    st.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        body: String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned(),
        at: std::time::Instant::now(),
        answered: answered.clone(),
    });
    let fault = take_fault(&st.faults, &method, &path);
    if let Some(FaultKind::Error {
        status,
        error_type,
        retry_after,
    }) = &fault
    {
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(s) = retry_after {
            headers.insert("retry-after", HeaderValue::from_str(&s.to_string()).unwrap());
        }
        let body = serde_json::json!({"Type": "User", "message": format!("injected {error_type}"), "Message": format!("injected {error_type}")});
        return (StatusCode::from_u16(*status).unwrap(), headers, body.to_string()).into_response();
    }
    let canned = st.canned.lock().unwrap().answer(&method, &path);
    if let Some(answer) = canned {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    if let Some(FaultKind::Reset) = fault {
        drop_connection("before", &method, &path);
    }
    let conditional_write = matches!(method.as_str(), "PUT" | "DELETE")
        && (parts.headers.contains_key("if-match") || parts.headers.contains_key("if-none-match"));
    let _one_at_a_time = if conditional_write {
        Some(st.conditional.lock().await)
    } else {
        None
    };
    let url = match &cbor_operation {
        Some(_) => format!("{}/", st.upstream),
        None => format!(
            "{}{}",
            st.upstream,
            parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
        ),
    };
    let mut upstream = st.http.request(parts.method.clone(), url).body(body);
    for (k, v) in &parts.headers {
        let replaced = cbor_operation.is_some()
            && matches!(
                k.as_str(),
                "content-type" | "accept" | "smithy-protocol" | "content-encoding"
            );
        if k != "host" && k != "content-length" && !replaced {
            upstream = upstream.header(k, v);
        }
    }
    if let Some(target) = &cbor_operation {
        upstream = upstream
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target);
    }
    let resp = upstream.send().await.unwrap();
    let status = resp.status();
    let mut headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "connection" && k != "content-length" {
            headers.insert(k.clone(), v.clone());
        }
    }
    let mut bytes = resp.bytes().await.unwrap();
    if status.is_success() && path.contains("/functions") {
        bytes = pending_view(&st.pending, &method, &path, bytes);
        if let Some(snap) = st.canned.lock().unwrap().snap.as_mut()
            && let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            snap.rewrite(method == "GET", &mut v);
            bytes = Bytes::from(v.to_string());
        }
    }
    if cbor_operation.is_some() {
        bytes = match cbor::answer_to_cbor(&bytes) {
            Ok(cbor) => Bytes::from(cbor),
            Err(e) => {
                return (
                    StatusCode::BAD_GATEWAY,
                    format!("the test proxy could not translate: {e}"),
                )
                    .into_response();
            }
        };
        headers.insert("content-type", HeaderValue::from_static("application/cbor"));
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    if let Some(FaultKind::ResetAfterForward) = fault {
        let _ = answered.set(status.as_u16());
        drop_connection("after", &method, &path);
    }
    (status, headers, Body::from(bytes)).into_response()
}
