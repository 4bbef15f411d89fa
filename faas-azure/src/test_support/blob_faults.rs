//! [`BlobFaults`]: a proxy in front of Azurite that passes every request on as it came (Shared
//! Key signs the path and headers, not the host, so signatures still hold) and can make the
//! next calls fail the ways the Blob service does: answered `503 ServerBusy` without reaching
//! Azurite, or carried out and then answered `500`, as if the answer was lost on the way.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::Azurite;

/// Azurite behind a fault-injecting proxy, serving on a free loopback port until dropped.
pub struct BlobFaults {
    /// The account's blob endpoint through the proxy (`http://127.0.0.1:{port}/devstoreaccount1`).
    pub blob_endpoint: String,
    proxy: Arc<Proxy>,
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
}

impl Azurite {
    /// A [`BlobFaults`] proxy in front of this Azurite.
    pub async fn with_faults(&self) -> BlobFaults {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (upstream, account) = self.blob_endpoint.rsplit_once('/').unwrap();
        let proxy = Arc::new(Proxy {
            upstream: upstream.to_string(),
            http: reqwest::Client::new(),
            busy: AtomicUsize::new(0),
            lose_next_answer: AtomicBool::new(false),
            faulted: AtomicUsize::new(0),
        });
        let app = axum::Router::new().fallback(handle).with_state(proxy.clone());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        BlobFaults {
            blob_endpoint: format!("http://{addr}/{account}"),
            proxy,
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

    /// How many requests got an injected fault so far.
    pub fn faulted(&self) -> usize {
        self.proxy.faulted.load(Ordering::SeqCst)
    }
}

fn blob_error(status: StatusCode, code: &str, message: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("content-type", "application/xml")], xml).into_response()
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
