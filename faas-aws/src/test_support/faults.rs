//! The proxy's faults: the deterministic list ([`Fault`]) and the shared random layer's
//! AWS dialects ([`aws_dialect`], [`s3_dialect`]).

use std::sync::Mutex;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faas_core::conformance::faults::{self as shared, Faults};

/// What to do instead of (or after) forwarding.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this status and AWS error type, without forwarding.
    Error {
        status: u16,
        error_type: &'static str,
        retry_after: Option<u32>,
    },
    /// Drop the connection without forwarding.
    Reset,
    /// Forward (the server acts on it), then drop the connection before answering.
    ResetAfterForward,
}

/// A fault for requests whose method matches and whose path contains `path`: the first
/// `skip` matches pass, then `times` matches get the fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub skip: usize,
    pub times: usize,
    pub kind: FaultKind,
}

/// The shared fault layer in front of `inner`, twice (one [`Faults`] handle, one draw per
/// request): S3's requests get [`s3_dialect`]'s XML errors, every other service's
/// [`aws_dialect`]'s JSON ones. Which service a request is for is read from its SigV4
/// credential scope (`Credential=…/{date}/{region}/{service}/aws4_request`), as AWS routes it
/// by host — the proxy has one host for all.
pub(super) fn fault_layers(faults: &Faults, inner: Router) -> Router {
    use tower::ServiceExt;
    let json = faults.wrap(inner.clone(), aws_dialect);
    let xml = faults.wrap(inner, s3_dialect);
    Router::new().fallback(move |req: Request| {
        let to = if signed_service(req.headers()) == Some("s3") {
            xml.clone()
        } else {
            json.clone()
        };
        async move { to.oneshot(req).await.unwrap_or_else(|never| match never {}) }
    })
}

/// The service of a SigV4-signed request's credential scope.
fn signed_service(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3)
}

/// Only requests to Lambda and S3 (REST paths), not those to the JSON, query and CBOR
/// protocols' `POST /` (STS, CloudWatch, CloudWatch Logs): a plan's
/// [`qualifying`](shared::FaultPlan::qualifying) filter for faults on the delivery path.
pub fn lambda_and_s3(_: &axum::http::Method, path: &str) -> bool {
    path != "/"
}

/// An injected error as Lambda answers it (REST-JSON: the `x-amzn-errortype` header and a
/// `{"Type", "message"}` body). The codes are Lambda API reference's: 429
/// `TooManyRequestsException` (`Type: User`, `Reason: CallerRateLimitExceeded`; the layer
/// adds its `Retry-After`, the exception's `retryAfterSeconds`), 500 `ServiceException`
/// (`Type: Service`). Lambda's error list has no 503; AWS's common errors (every service)
/// give it as `ServiceUnavailable`, "a temporary failure of the server". Other 5xx are
/// `ServiceException`. (Requests to CloudWatch, which speaks CBOR, get this JSON too: plans
/// that fault them should use [`lambda_and_s3`] to leave them out.)
pub fn aws_dialect(status: u16, _kind: &shared::FaultKind) -> Response {
    let (code, kind, message) = match status {
        429 => ("TooManyRequestsException", "User", "Rate exceeded"),
        503 => ("ServiceUnavailable", "Service", "Service unavailable: try again"),
        _ => (
            "ServiceException",
            "Service",
            "The Lambda service encountered an internal error.",
        ),
    };
    let mut body = serde_json::json!({ "Type": kind, "message": message });
    if status == 429 {
        body["Reason"] = "CallerRateLimitExceeded".into();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("x-amzn-errortype", code), ("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An injected error as S3 answers it (REST-XML `<Error><Code>…`, S3's error codes): a
/// throttle is `503 SlowDown` (S3 sends no 429), 500 `InternalError`, 503
/// `ServiceUnavailable`. A `HEAD`'s answer carries no body: the SDK reads the status.
pub fn s3_dialect(status: u16, _kind: &shared::FaultKind) -> Response {
    let (status, code, message) = match status {
        429 => (503, "SlowDown", "Please reduce your request rate."),
        503 => (503, "ServiceUnavailable", "Service is unable to handle request."),
        s => (
            s,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>faas-injected</RequestId><HostId>faas-injected</HostId></Error>"
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/xml")], body).into_response()
}

/// Drops the client's connection without an answer: hyper closes the socket of a connection
/// whose task panics (`resume_unwind`, as the shared layer does: no panic message for an
/// injected fault).
pub(super) fn drop_connection(when: &str, method: &str, path: &str) -> ! {
    std::panic::resume_unwind(Box::new(format!("injected connection reset {when} {method} {path}")))
}

pub(super) fn take_fault(faults: &Mutex<Vec<Fault>>, method: &str, path: &str) -> Option<FaultKind> {
    let mut faults = faults.lock().unwrap();
    for f in faults.iter_mut() {
        if f.method == method && path.contains(f.path) && f.times > 0 {
            if f.skip > 0 {
                f.skip -= 1;
                return None;
            }
            f.times -= 1;
            return Some(f.kind.clone());
        }
    }
    None
}
