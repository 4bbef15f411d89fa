//! The local provider over HTTP: Lambda's Invoke API for any client (aws-cli, boto3, the AWS
//! SDKs) and function-URL-style HTTP endpoints.
//!
//! * `POST /2015-03-31/functions/{FunctionName}/invocations` is Lambda's
//!   [Invoke](https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): the
//!   `Qualifier` query, `X-Amz-Invocation-Type` (`RequestResponse`, `Event`, `DryRun`),
//!   `X-Amz-Log-Type: Tail`, and Lambda's answers: 200/202/204, `X-Amz-Function-Error`,
//!   `X-Amz-Log-Result`, `X-Amz-Executed-Version`, and errors as `x-amzn-ErrorType` plus a
//!   `{"Type": …, "message": …}` body (see `invoke_api`).
//! * `/url/{function}/{path…}` (and `/url/{function}:{alias}/…`) is a function URL: the
//!   request becomes a payload format 2.0 event and the handler's answer the HTTP response
//!   (see `function_url`).
//!
//! Everything goes through [`Provider::invoke`](crate::Provider::invoke), so served calls
//! are in the invocation history like any other. Requests are signed or not: the signature
//! is not checked (loopback use). `X-Amz-Client-Context` (base64 of a JSON object, at most
//! [`CLIENT_CONTEXT_MAX`](crate::CLIENT_CONTEXT_MAX) bytes) reaches a synchronous invocation's
//! handler as Lambda passes it: the Runtime API's `Lambda-Runtime-Client-Context` header, which
//! awslambdaric and our bootstraps turn into `context.client_context` (`clientContext` in Node).

mod function_url;
mod invoke_api;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tokio::sync::{Semaphore, oneshot};

use super::LocalProvider;
use crate::{Error, Invocation, InvokeRequest, Provider, Result};

/// The largest synchronous payload Lambda accepts (6 MB), request and response.
pub(crate) const SYNC_PAYLOAD_MAX: usize = 6 * 1024 * 1024;
/// The largest asynchronous (`Event`) payload Lambda accepts (1 MB).
pub(crate) const ASYNC_PAYLOAD_MAX: usize = 1024 * 1024;
/// Beyond a function's own timeout (which the runner enforces), how long a served call waits
/// before giving up on an invocation that did not end.
const INVOKE_GRACE: Duration = Duration::from_secs(10);
/// The longest a graceful shutdown waits for running invocations: Lambda's longest timeout
/// and the grace.
const DRAIN_MAX: Duration = Duration::from_secs(900 + INVOKE_GRACE.as_secs());
/// The account in every ARN the local provider shows.
pub(crate) const ACCOUNT: &str = "000000000000";

/// How [`LocalProvider::serve_with`] serves.
///
/// ```
/// use std::time::Duration;
/// let config = faas_core::local::ServeConfig::default()
///     .concurrency(8)
///     .body_timeout(Duration::from_secs(5));
/// assert_eq!((config.concurrency, config.body_timeout.as_secs()), (8, 5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Synchronous invocations running at once, and as many `Event` ones; beyond it a call
    /// is throttled (429 `TooManyRequestsException`, as Lambda answers past its
    /// concurrency). Default 64.
    pub concurrency: usize,
    /// How long a request body may take to arrive; a slower one is refused (400). Default 30 s.
    pub body_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            concurrency: 64,
            body_timeout: Duration::from_secs(30),
        }
    }
}

impl ServeConfig {
    /// Sets [`ServeConfig::concurrency`] (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets [`ServeConfig::body_timeout`].
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }
}

/// A running server (see [`LocalProvider::serve`]). Dropping it stops accepting connections
/// without waiting; [`Server::shutdown`] waits for what is running.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// The address the server listens on (with the port the system picked for port 0).
    ///
    /// ```no_run
    /// # async fn f(p: faas_core::local::LocalProvider) -> faas_core::Result<()> {
    /// let server = p.serve("127.0.0.1:0").await?;
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{local_addr}`: the endpoint URL for an SDK (`endpoint_url`) or the aws-cli
    /// (`--endpoint-url`).
    ///
    /// ```no_run
    /// # async fn f(p: faas_core::local::LocalProvider) -> faas_core::Result<()> {
    /// let server = p.serve("127.0.0.1:9001").await?;
    /// assert_eq!(server.url(), "http://127.0.0.1:9001");
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully: accepts no new connection, lets the synchronous invocations in
    /// flight finish (each within its function's timeout) and the asynchronous ones the
    /// provider runs ([`LocalProvider::wait_for_async`]), then closes the connections.
    ///
    /// ```no_run
    /// # async fn f(p: faas_core::local::LocalProvider) -> faas_core::Result<()> {
    /// let server = p.serve("127.0.0.1:0").await?;
    /// // … clients call server.url() …
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(mut self) {
        self.state.closing.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Every permit back: no synchronous invocation is running any more. Each ends within
        // its function's timeout; the bound only matters if one never does.
        let permits = u32::try_from(self.state.concurrency).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(DRAIN_MAX, async {
            let all = self.state.running.acquire_many(permits).await;
            self.state.provider.wait_for_async().await;
            all
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                addr = %self.addr,
                "invocations still running after {} s: stopping without them",
                DRAIN_MAX.as_secs()
            );
        }
        if let Some(mut task) = self.task.take() {
            // Idle connections close at once; one stalled mid-request is cut.
            if tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err() {
                task.abort();
            }
        }
        tracing::info!(addr = %self.addr, "local server stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) provider: LocalProvider,
    /// One permit per synchronous invocation that may run.
    running: Arc<Semaphore>,
    concurrency: usize,
    closing: AtomicBool,
    pub(crate) port: u16,
    pub(crate) body_timeout: Duration,
}

impl LocalProvider {
    /// Serves this provider on `addr` (`127.0.0.1:9001`; port 0 picks a free one) with
    /// [`ServeConfig::default`]: Lambda's Invoke API at `/2015-03-31/functions/{name}/invocations`
    /// and function URLs at `/url/{name}/{path}`. The server runs on the current Tokio
    /// runtime until [`Server::shutdown`].
    ///
    /// ```no_run
    /// # async fn f() -> faas_core::Result<()> {
    /// let provider = faas_core::local::LocalProvider::from_env()?;
    /// let server = provider.serve("127.0.0.1:9001").await?;
    /// // aws lambda invoke --endpoint-url http://127.0.0.1:9001 --function-name hello out.json
    /// tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve(&self, addr: impl tokio::net::ToSocketAddrs) -> Result<Server> {
        self.serve_with(addr, ServeConfig::default()).await
    }

    /// [`LocalProvider::serve`] with a [`ServeConfig`].
    ///
    /// ```no_run
    /// # async fn f(p: faas_core::local::LocalProvider) -> faas_core::Result<()> {
    /// use faas_core::local::ServeConfig;
    /// let server = p.serve_with("127.0.0.1:0", ServeConfig::default().concurrency(4)).await?;
    /// # server.shutdown().await; Ok(()) }
    /// ```
    pub async fn serve_with(&self, addr: impl tokio::net::ToSocketAddrs, config: ServeConfig) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("local server address", e))?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io("local server address", e))?;
        let concurrency = config.concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let state = Arc::new(State {
            provider: self.clone(),
            running: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            closing: AtomicBool::new(false),
            port: local.port(),
            body_timeout: config.body_timeout,
        });
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                });
            if let Err(e) = serving.await {
                tracing::warn!(error = %e, "local server failed");
            }
        });
        tracing::info!(addr = %local, "serving the Lambda Invoke API and function URLs");
        Ok(Server {
            addr: local,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .merge(invoke_api::routes())
        .merge(function_url::routes())
        .fallback(|| async {
            LambdaError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation: the local server answers POST /2015-03-31/functions/{name}/invocations and /url/{name}/…",
            )
        })
        .with_state(state)
}

tokio::task_local! {
    /// The request id a served call chose for its invocation (a function URL's event
    /// carries it before the invocation starts).
    static REQUEST_ID: String;
}

/// The request id the served call running this task chose, if any: the local provider's
/// invocation uses it instead of a new one.
pub(crate) fn chosen_request_id() -> Option<String> {
    REQUEST_ID.try_with(String::clone).ok()
}

/// Why a served invocation did not run.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Too many running, or the server is stopping.
    Throttled,
    /// The provider's own error.
    Error(Error),
    /// The invocation outlived its function's timeout and the grace.
    Stuck(Duration),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused::Error(e)
    }
}

impl State {
    /// Asynchronous invocations the provider is running.
    fn events_running(&self) -> usize {
        let background = self
            .provider
            .inner
            .background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        background.iter().filter(|t| !t.is_finished()).count()
    }

    /// Runs one invocation through [`Provider::invoke`], within the concurrency limit and
    /// the function's timeout, with `request_id` when one is chosen (else the provider makes
    /// one). The invocation runs to its end even when the client goes away (as on Lambda), so
    /// that it is recorded.
    pub(crate) async fn invoke(
        &self,
        function: &str,
        request: InvokeRequest,
        request_id: Option<String>,
    ) -> std::result::Result<Invocation, Refused> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(Refused::Throttled);
        }
        let rec = self.provider.record(function).await?;
        let timeout = std::iter::once(&rec.spec)
            .chain(rec.versions.iter().map(|v| &v.spec))
            .map(|s| s.timeout_s)
            .max()
            .unwrap_or(rec.spec.timeout_s);
        let limit = Duration::from_secs(u64::from(timeout)) + INVOKE_GRACE;
        let sync = request.mode == crate::InvokeMode::Sync;
        let permit = if sync {
            match self.running.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => return Err(Refused::Throttled),
            }
        } else {
            if request.mode == crate::InvokeMode::Async && self.events_running() >= self.concurrency {
                // Events run in this process: as many at once as synchronous calls, no more.
                return Err(Refused::Throttled);
            }
            None
        };
        let provider = self.provider.clone();
        let name = function.to_string();
        // The permit is released when the invocation ends, not when the client leaves.
        let task = tokio::spawn(async move {
            let result = match request_id {
                Some(id) => REQUEST_ID.scope(id, provider.invoke(&name, &request)).await,
                None => provider.invoke(&name, &request).await,
            };
            drop(permit);
            result
        });
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => Err(Refused::Error(Error::io("local invoke", std::io::Error::other(join)))),
            Err(_) => Err(Refused::Stuck(limit)),
        }
    }
}

/// Reads a request body of at most `limit` bytes within `deadline`: `Ok(None)` when
/// it is larger. A larger body of up to four times the limit is read to its end and dropped,
/// so that the client, still sending, reads the answer (413) instead of a broken pipe; the
/// connection of a still larger one is cut.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    deadline: Duration,
) -> std::result::Result<Option<Bytes>, String> {
    let discard_max = limit.saturating_mul(4);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > discard_max as u64) {
        return Ok(None);
    }
    let reading = async {
        let mut buf: Vec<u8> = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| format!("could not read the request body: {e}"))?;
            if let Ok(data) = frame.into_data() {
                total = total.saturating_add(data.len());
                if total > discard_max {
                    return Ok(None);
                }
                if total > limit {
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&data);
                }
            }
        }
        Ok((total <= limit).then(|| Bytes::from(buf)))
    };
    match tokio::time::timeout(deadline, reading).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the request body did not arrive within {:.1} s",
            deadline.as_secs_f64()
        )),
    }
}

/// A Lambda API error: `x-amzn-ErrorType` and a JSON body as Lambda sends them (botocore
/// and the Rust SDK read the code from the header, the message from `message` or `Message`).
#[derive(Debug, Clone)]
pub(crate) struct LambdaError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// `Message` for the shapes that spell it so (`ResourceNotFoundException`), else `message`.
    pub(crate) capital: bool,
    /// `TooManyRequestsException`'s `Reason`.
    pub(crate) reason: Option<&'static str>,
}

impl LambdaError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        LambdaError {
            status,
            code,
            message: message.into(),
            capital: false,
            reason: None,
        }
    }

    /// The body's `Type`: `Service` for the server's own faults, `User` otherwise.
    fn kind(&self) -> &'static str {
        if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        }
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, message = %self.message, "served invocation failed");
        } else {
            tracing::debug!(code = self.code, message = %self.message, "served invocation refused");
        }
        let mut body = serde_json::Map::new();
        body.insert("Type".into(), self.kind().into());
        body.insert(
            if self.capital { "Message" } else { "message" }.into(),
            self.message.clone().into(),
        );
        if let Some(reason) = self.reason {
            body.insert("Reason".into(), reason.into());
        }
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            serde_json::Value::Object(body).to_string(),
        )
            .into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
            .headers_mut()
            .insert("x-amzn-requestid", request_id_header(&new_request_id()));
        response
    }
}

/// A random UUID (version 4), as Lambda's request ids are.
pub(crate) fn new_request_id() -> String {
    let n = fastrand::u128(..);
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The request id of the run: the one in the log's `REPORT` line, else a new one.
pub(crate) fn request_id_of(inv: &Invocation) -> String {
    inv.log_tail
        .as_deref()
        .and_then(|log| {
            log.lines().rev().find_map(|l| {
                let rest = l.trim_start().strip_prefix("REPORT RequestId: ")?;
                let id = rest.split(|c: char| c.is_whitespace()).next()?;
                (!id.is_empty()).then(|| id.to_string())
            })
        })
        .unwrap_or_else(new_request_id)
}

pub(crate) fn request_id_header(id: &str) -> HeaderValue {
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuids() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }

    #[test]
    fn the_request_id_comes_from_the_report_line() {
        let inv = Invocation {
            status: 200,
            payload: Vec::new(),
            function_error: None,
            executed_version: None,
            log_tail: Some("START RequestId: abc Version: $LATEST\nEND RequestId: abc\nREPORT RequestId: abc\tDuration: 1.00 ms\t\n".into()),
            report: None,
            elapsed: Duration::ZERO,
            headers: Default::default(),
        };
        assert_eq!(request_id_of(&inv), "abc");
    }
}
