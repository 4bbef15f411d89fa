//! The AWS Lambda Runtime API, served on a loopback port for one execution environment.
//!
//! Routes (all under `/2018-06-01/runtime`): `GET /invocation/next`,
//! `POST /invocation/{id}/response`, `POST /invocation/{id}/error`, `POST /init/error`, as
//! documented for custom runtimes, with the `Lambda-Runtime-*` headers. A runtime built with
//! the `lambda_runtime` crate or Python's `awslambdaric` talks to it unchanged; so do our own
//! Python and Node bootstraps.
//!
//! One server lives as long as its environment: each event handed to [`RuntimeApi::submit`]
//! is given to the runtime's next `GET /next`, which is held open until there is one (a warm
//! runtime waits there between invocations). Answers are accepted for the event handed out
//! last only.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Lambda's limit on a synchronous response.
pub(crate) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// One event for the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub function_arn: String,
    pub timeout_ms: u64,
    /// The client context, JSON text (`Lambda-Runtime-Client-Context`).
    pub client_context: Option<String>,
}

/// What the runtime did.
#[derive(Debug)]
pub(crate) enum RuntimeSignal {
    /// It asked for the event (init is over), at this instant; the deadline starts now.
    Next(Instant),
    /// It answered.
    Response(Bytes, Instant),
    /// The handler failed: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error(Option<String>, Bytes, Instant),
    /// Initialisation failed.
    InitError(Option<String>, Bytes),
    /// The runtime answered for a request it was not given.
    Protocol(String),
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    /// The request id of the event handed out last.
    request_id: Mutex<String>,
    signals: mpsc::UnboundedSender<RuntimeSignal>,
}

/// A running Runtime API server.
pub(crate) struct RuntimeApi {
    /// `127.0.0.1:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    /// What the runtime did, in order.
    pub signals: mpsc::UnboundedReceiver<RuntimeSignal>,
    events: mpsc::UnboundedSender<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Serves the Runtime API on a free loopback port, with no event yet.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?.to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, queued) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            request_id: Mutex::new(String::new()),
            events: tokio::sync::Mutex::new(queued),
            signals: tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Bodies are read with their own limits (see `response`), so that an oversized
            // response is reported as Lambda does instead of being dropped unanswered.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "runtime API server stopped");
            }
        });
        Ok(RuntimeApi {
            address,
            signals: rx,
            events,
            task,
        })
    }

    /// Hands `event` to the runtime's next `GET /next`. Signals left from an earlier event
    /// are dropped first, so that what follows is about this one.
    pub fn submit(&mut self, event: Event) {
        while self.signals.try_recv().is_ok() {}
        // The server (which holds the receiver) lives as long as `self`.
        let _ = self.events.send(event);
    }
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    // No work yet: the runtime waits here (a warm environment between invocations).
    let event = s.events.lock().await.recv().await;
    let Some(event) = event else {
        std::future::pending::<()>().await;
        return StatusCode::NO_CONTENT.into_response();
    };
    event
        .request_id
        .clone_into(&mut s.request_id.lock().unwrap_or_else(PoisonError::into_inner));
    let _ = s.signals.send(RuntimeSignal::Next(Instant::now()));
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", event.request_id.clone());
    put(
        "lambda-runtime-deadline-ms",
        (epoch_ms() + event.timeout_ms).to_string(),
    );
    put("lambda-runtime-invoked-function-arn", event.function_arn.clone());
    put(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{};Parent=0000000000000000;Sampled=0",
            epoch_ms() / 1000,
            &event.request_id.replace('-', "")[..24]
        ),
    );
    if let Some(context) = event.client_context {
        put("lambda-runtime-client-context", context);
    }
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, event.payload).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn wrong_id(s: &Shared, id: &str) -> Option<Response> {
    if *s.request_id.lock().unwrap_or_else(PoisonError::into_inner) == id {
        return None;
    }
    let _ = s.signals.send(RuntimeSignal::Protocol(format!(
        "runtime answered unknown request id {id:?}"
    )));
    Some(
        (
            StatusCode::BAD_REQUEST,
            r#"{"errorType":"InvalidRequestID","errorMessage":"unknown request id"}"#,
        )
            .into_response(),
    )
}

/// A body read up to `limit` bytes; `None` when it is longer (or unreadable).
async fn read_limited(body: Body, limit: usize) -> Option<Bytes> {
    axum::body::to_bytes(body, limit).await.ok()
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Body) -> Response {
    if let Some(r) = wrong_id(&s, &id) {
        return r;
    }
    let Some(body) = read_limited(body, MAX_RESPONSE_BYTES).await else {
        let message = format!(
            r#"{{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."}}"#
        );
        let _ = s.signals.send(RuntimeSignal::Error(
            Some("Function.ResponseSizeTooLarge".into()),
            Bytes::from(message.clone()),
            Instant::now(),
        ));
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    };
    let _ = s.signals.send(RuntimeSignal::Response(body, Instant::now()));
    accepted()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Response {
    if let Some(r) = wrong_id(&s, &id) {
        return r;
    }
    let body = read_limited(body, MAX_RESPONSE_BYTES).await.unwrap_or_else(|| {
        Bytes::from_static(br#"{"errorType":"Function.ResponseSizeTooLarge","errorMessage":"the error payload exceeded the maximum allowed payload size"}"#)
    });
    let _ = s
        .signals
        .send(RuntimeSignal::Error(error_type(&headers), body, Instant::now()));
    accepted()
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let body = read_limited(body, MAX_RESPONSE_BYTES).await.unwrap_or_else(|| {
        Bytes::from_static(br#"{"errorType":"Runtime.InitError","errorMessage":"the init error payload exceeded the maximum allowed payload size"}"#)
    });
    let _ = s.signals.send(RuntimeSignal::InitError(error_type(&headers), body));
    accepted()
}
