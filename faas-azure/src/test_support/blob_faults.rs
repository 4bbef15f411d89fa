//! [`BlobFaults`]: a proxy in front of Azurite that passes every request on as it came (Shared
//! Key signs the path and headers, not the host, so signatures still hold) and can make the
//! next calls fail the ways the Blob service does: answered `503 ServerBusy` without reaching
//! Azurite, or carried out and then answered `500`, as if the answer was lost on the way.
//!
//! In front of it sits the shared fault layer (`faas_core::conformance::faults`,
//! [`BlobFaults::faults`]), answering in Azure Storage's XML error shape (Common REST API error
//! codes): a throttle is `503 ServerBusy` ("Operations per second is over the account
//! limit."), as Storage throttles with 503 rather than 429; a 503 is `ServerBusy` ("The server
//! is currently unable to receive requests."), a 500 `InternalError`. Every request qualifies
//! unless the plan says otherwise: they are all the provider's (or the fake host's package
//! reads, which retry as the Functions host does).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use faas_core::conformance::faults::{FaultKind, Faults};

use super::Azurite;

/// Azurite behind a fault-injecting proxy, serving on a free loopback port until dropped.
pub struct BlobFaults {
    /// The account's blob endpoint through the proxy (`http://127.0.0.1:{port}/devstoreaccount1`).
    pub blob_endpoint: String,
    proxy: Arc<Proxy>,
    faults: Faults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BlobFaults {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Proxy {
    /// Azurite's `http://127.0.0.1:{port}`.
    upstream: String,
    http: reqwest::Client,
    /// The next this many requests are answered `503 ServerBusy` and not passed on.
    busy: AtomicUsize,
    /// The next write is carried out, then answered `500` (its answer lost).
    lose_next_answer: AtomicBool,
    /// Requests answered with an injected fault so far.
    faulted: AtomicUsize,
    /// Every request that reached the proxy (past the fault layer), as `METHOD /path`.
    requests: Mutex<Vec<String>>,
    /// One-shot faults: (method, a part of the path, what happens).
    next: Mutex<Vec<(String, String, FaultKind)>>,
}

impl Azurite {
    /// A [`BlobFaults`] proxy in front of this Azurite, with a fault layer of its own.
    pub async fn with_faults(&self) -> BlobFaults {
        self.with_faults_of(&Faults::new()).await
    }

    /// A [`BlobFaults`] proxy whose fault layer draws from `faults` (say, the ARM fake's, so
    /// that one plan and one record cover the whole delivery).
    pub async fn with_faults_of(&self, faults: &Faults) -> BlobFaults {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (upstream, account) = self.blob_endpoint.rsplit_once('/').unwrap();
        let proxy = Arc::new(Proxy {
            upstream: upstream.to_string(),
            // Azurite (Node) closes idle keep-alive connections after 5 s; a request sent on
            // one as it closes meets a reset the proxy would pass on as a fault of its own.
            // Idle connections are dropped before that.
            http: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .unwrap(),
            busy: AtomicUsize::new(0),
            lose_next_answer: AtomicBool::new(false),
            faulted: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            next: Mutex::new(Vec::new()),
        });
        let app = faults.wrap(
            axum::Router::new().fallback(handle).with_state(proxy.clone()),
            storage_fault,
        );
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        BlobFaults {
            blob_endpoint: format!("http://{addr}/{account}"),
            proxy,
            faults: faults.clone(),
            task,
        }
    }
}

impl BlobFaults {
    /// The next `n` requests are answered `503 ServerBusy` without reaching Azurite.
    pub fn busy_next(&self, n: usize) {
        self.proxy.busy.store(n, Ordering::SeqCst);
    }

    /// The next write (any request but `GET` and `HEAD`) reaches Azurite and is carried out,
    /// and its answer is then replaced by `500 InternalError`, as if it was lost on the way.
    pub fn lose_next_answer(&self) {
        self.proxy.lose_next_answer.store(true, Ordering::SeqCst);
    }

    /// The next request whose method is `method` and whose path contains `path` meets `kind`
    /// (answered in Storage's shape; `ResetAfter`: carried out by Azurite, then the connection
    /// dropped).
    pub fn fail_next(&self, method: &str, path: &str, kind: FaultKind) {
        self.proxy
            .next
            .lock()
            .unwrap()
            .push((method.to_string(), path.to_string(), kind));
    }

    /// How many requests got a fault of [`BlobFaults::busy_next`] or
    /// [`BlobFaults::lose_next_answer`] so far (the shared layer's are in [`BlobFaults::faults`]).
    pub fn faulted(&self) -> usize {
        self.proxy.faulted.load(Ordering::SeqCst)
    }

    /// The shared fault layer in front of the proxy.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every request that got past the fault layer, as `METHOD /path` (no query: SAS
    /// signatures stay out).
    pub fn requests(&self) -> Vec<String> {
        self.proxy.requests.lock().unwrap().clone()
    }

    /// The requests that got past the fault layer and write (not `GET` nor `HEAD`).
    pub fn writes(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.proxy.requests.lock().unwrap().clear();
    }
}

/// An injected fault in Azure Storage's shape (Common REST API error codes): Storage throttles
/// with `503 ServerBusy`, not 429.
fn storage_fault(status: u16, kind: &FaultKind) -> Response {
    match (status, kind) {
        (_, FaultKind::Throttle { .. }) => blob_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerBusy",
            "Operations per second is over the account limit.",
        ),
        (503, _) => blob_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerBusy",
            "The server is currently unable to receive requests. Please retry your request.",
        ),
        _ => blob_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        ),
    }
}

fn blob_error(status: StatusCode, code: &str, message: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (
        status,
        [("content-type", "application/xml"), ("x-ms-error-code", code)],
        xml,
    )
        .into_response()
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = {
        let mut next = proxy.next.lock().unwrap();
        next.iter()
            .position(|(m, p, _)| *m == method.as_str() && uri.path().contains(p.as_str()))
            .map(|i| next.remove(i).2)
    };
    let reset = |when: &str| -> ! {
        // resume_unwind: no panic message for an injected fault; hyper closes the socket.
        std::panic::resume_unwind(Box::new(format!(
            "injected connection reset {when} {method} {}",
            uri.path()
        )))
    };
    match kind {
        None => forward(proxy, method, uri, headers, body).await,
        Some(k @ FaultKind::Status(code)) => storage_fault(code, &k),
        Some(k @ FaultKind::Throttle { retry_after_s }) => {
            let mut answer = storage_fault(429, &k);
            if let Some(s) = retry_after_s {
                answer.headers_mut().insert("retry-after", s.into());
            }
            answer
        }
        Some(FaultKind::ResetBefore) => reset("before"),
        Some(FaultKind::ResetAfter) => {
            drop(forward(proxy, method.clone(), uri.clone(), headers, body).await);
            reset("after")
        }
        Some(FaultKind::Stall(d)) => {
            tokio::time::sleep(d).await;
            forward(proxy, method, uri, headers, body).await
        }
    }
}

/// Passes a request on to Azurite (unless a `busy_next` or `lose_next_answer` fault says
/// otherwise) and its answer back.
async fn forward(proxy: Arc<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    proxy.requests.lock().unwrap().push(format!("{method} {}", uri.path()));
    let busy = proxy
        .busy
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if busy {
        proxy.faulted.fetch_add(1, Ordering::SeqCst);
        return blob_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerBusy",
            "The server is currently unable to receive requests. Please retry your request.",
        );
    }
    let write = method != Method::GET && method != Method::HEAD;
    let url = format!("{}{}", proxy.upstream, uri.path_and_query().map_or("", |p| p.as_str()));
    let mut request = proxy.http.request(method, url).body(body);
    for (name, value) in &headers {
        // reqwest sets the length from the body.
        if name != "host" && name != "content-length" {
            request = request.header(name.clone(), value.clone());
        }
    }
    let resp = request.send().await.unwrap();
    if write && proxy.lose_next_answer.swap(false, Ordering::SeqCst) {
        proxy.faulted.fetch_add(1, Ordering::SeqCst);
        return blob_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        );
    }
    let mut out = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if !matches!(name.as_str(), "transfer-encoding" | "connection" | "content-length") {
            out = out.header(name.clone(), value.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap();
    out.body(Body::from(bytes)).unwrap()
}
