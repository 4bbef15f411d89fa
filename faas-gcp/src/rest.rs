//! The REST client both control planes share: bearer tokens, Google's error format mapped to
//! `faas_core::Error`, retries of throttling and transient failures, and long-running
//! operations polled with a `PollPolicy`.

use std::sync::Arc;
use std::time::Duration;

use faas_core::{Error, PollPolicy, PollStatus, ResourceKind, Result, RetryConfig};
use gcp_auth::TokenProvider;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::access_token;
use crate::resources::{Operation, Severity, Stage, StageState, Status};

/// What a call is about, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub kind: ResourceKind,
    pub name: &'a str,
}

/// An authenticated JSON client with retries.
#[derive(Clone)]
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub tokens: Arc<dyn TokenProvider>,
    pub retry: RetryConfig,
    pub poll: PollPolicy,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Sends one request, retrying throttling, 5xx and transport failures under the
    /// `RetryConfig`; a conflict is returned to the caller, which knows what to re-read.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>, target: Target<'_>) -> Result<Value> {
        let what = format!("{method} {url}");
        self.retry
            .retry_if(&what, Error::is_transient, || {
                self.once(method.clone(), url, body, target)
            })
            .await
    }

    /// [`Api::call`], with the answer read as a `T`.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        target: Target<'_>,
    ) -> Result<T> {
        let v = self.call(method, url, body, target).await?;
        serde_json::from_value(v).map_err(|e| invalid_response(target.name, e))
    }

    /// A `GET` read as a `T`, with `NotFound` as `None`.
    pub async fn get_opt<T: DeserializeOwned>(&self, url: &str, target: Target<'_>) -> Result<Option<T>> {
        match self.send(Method::GET, url, None, target).await {
            Ok(v) => Ok(Some(v)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn once(&self, method: Method, url: &str, body: Option<&Value>, target: Target<'_>) -> Result<Value> {
        let token = access_token(self.tokens.as_ref()).await?;
        let mut req = self.http.request(method.clone(), url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        tracing::debug!(%method, url, "gcp call");
        let resp = req.send().await.map_err(|e| transport(&method, url, e))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| transport(&method, url, e))?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| Error::other("invalid_response", format!("{method} {url}: not JSON: {e}"), false));
        }
        Err(map_error(status.as_u16(), retry_after, &bytes, target))
    }

    /// Waits for a long-running operation; `base` is the API root its name is relative to.
    /// A failed operation becomes an error naming the failed stage (Cloud Functions'
    /// `metadata.stages`) and its messages.
    pub async fn wait(&self, base: &str, op: Operation, what: &str) -> Result<Value> {
        let name = op.name.clone();
        let url = format!("{base}{name}");
        let first = std::sync::Mutex::new(Some(op));
        let done = self
            .poll
            .poll(what, || async {
                let taken = first.lock().ok().and_then(|mut f| f.take());
                let op = match taken {
                    Some(op) => op,
                    None => {
                        self.send(
                            Method::GET,
                            &url,
                            None,
                            Target {
                                kind: ResourceKind::Function,
                                name: &name,
                            },
                        )
                        .await?
                    }
                };
                Ok(if op.done {
                    PollStatus::Done(op)
                } else {
                    PollStatus::Pending(progress(&op))
                })
            })
            .await?;
        if let Some(status) = &done.error {
            return Err(operation_error(what, &done, status));
        }
        Ok(done.response)
    }
}

/// The `Retry-After` of an answer, in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn transport(method: &Method, url: &str, e: reqwest::Error) -> Error {
    // Without the URL: signed upload URLs carry credentials in their query.
    let shown = url.split('?').next().unwrap_or(url);
    if e.is_timeout() {
        return crate::http::timed_out(format!("{method} {shown}"));
    }
    Error::other("transport", format!("{method} {shown}"), true).with_source(e.without_url())
}

pub(crate) fn invalid_response(url: &str, e: serde_json::Error) -> Error {
    Error::other(
        "invalid_response",
        format!("{url}: unexpected response shape: {e}"),
        false,
    )
}

/// A typed request body as JSON.
pub(crate) fn body<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::other("serialize", e.to_string(), false))
}

/// What an unfinished operation is doing, for `Timeout` messages and logs.
fn progress(op: &Operation) -> String {
    let stages: Vec<String> = op
        .stages()
        .iter()
        .filter(|s| s.state != Some(StageState::NotStarted))
        .map(|s| format!("{} {}", s.name_text(), s.state.as_ref().map_or("?", StageState::as_str)))
        .collect();
    if stages.is_empty() {
        format!("operation {} running", op.name)
    } else {
        format!("operation {}: {}", op.name, stages.join(", "))
    }
}

/// The stage a failed deploy failed in: the one with an error message, else the one running.
fn failed_stage(stages: &[Stage]) -> Option<&Stage> {
    stages
        .iter()
        .find(|s| s.state_messages.iter().any(|m| m.severity == Some(Severity::Error)))
        .or_else(|| stages.iter().find(|s| s.state == Some(StageState::InProgress)))
}

fn operation_error(what: &str, op: &Operation, status: &Status) -> Error {
    let stages = op.stages();
    let stage = failed_stage(&stages);
    let mut message = format!("{what} failed: {}", status.message);
    if let Some(s) = stage {
        message.push_str(&format!(" [stage {}", s.name_text()));
        if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
            message.push_str(&format!(": {m}"));
        }
        for m in &s.state_messages {
            message.push_str(&format!(
                "; {}: {}",
                m.kind.as_deref().unwrap_or(""),
                m.message.as_deref().unwrap_or("")
            ));
        }
        if let Some(uri) = s.resource_uri.as_deref().filter(|u| !u.is_empty()) {
            message.push_str(&format!(" (logs: {uri})"));
        }
        message.push(']');
    }
    match status.code {
        6 => Error::conflict(op.name.clone(), message),
        7 => Error::permission_denied(None, message),
        10 => Error::conflict(op.name.clone(), message),
        _ => Error::other(
            match stage {
                Some(s) => format!("{}_FAILED", s.name.as_ref().map_or("STAGE", |n| n.as_str())),
                None => format!("OPERATION_FAILED_{}", status.code),
            },
            message,
            false,
        ),
    }
}

/// Maps Google's JSON error (`{"error": {"code", "message", "status", "details"}}`).
pub(crate) fn map_error(http: u16, retry_after: Option<Duration>, body: &[u8], target: Target<'_>) -> Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let status = e["status"].as_str().unwrap_or("");
    let message = e["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    let details = e["details"].as_array().cloned().unwrap_or_default();
    let detail = |ty: &str| {
        details
            .iter()
            .find(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(ty)))
            .cloned()
    };
    match (http, status) {
        (404, _) | (_, "NOT_FOUND") => Error::not_found(target.kind, target.name, None),
        (_, "ALREADY_EXISTS") => Error::already_exists(target.kind, target.name.to_string()),
        (409, _) | (412, _) | (_, "ABORTED") | (_, "FAILED_PRECONDITION") => {
            Error::conflict(target.name.to_string(), format!("{status}: {message}"))
        }
        (429, _) | (_, "RESOURCE_EXHAUSTED") => Error::throttled(retry_after, message),
        (401, _) | (_, "UNAUTHENTICATED") => Error::unauthenticated(message),
        (403, _) | (_, "PERMISSION_DENIED") => Error::permission_denied(
            detail("ErrorInfo").and_then(|d| d["metadata"]["permission"].as_str().map(str::to_string)),
            message,
        ),
        (400, _) | (_, "INVALID_ARGUMENT") => {
            let violation = detail("BadRequest").and_then(|d| d["fieldViolations"].get(0).cloned());
            Error::invalid(
                violation
                    .as_ref()
                    .and_then(|f| f["field"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "request".into()),
                target.name.to_string(),
                violation
                    .as_ref()
                    .and_then(|f| f["description"].as_str().map(str::to_string))
                    .unwrap_or(message),
            )
        }
        _ => Error::other(
            if status.is_empty() {
                http.to_string()
            } else {
                status.to_string()
            },
            message,
            http >= 500,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Target<'static> {
        Target {
            kind: ResourceKind::Function,
            name: "f",
        }
    }

    #[test]
    fn google_errors_map_to_typed_errors() {
        let body = |code: u16, status: &str| {
            serde_json::json!({"error": {"code": code, "message": "m", "status": status}}).to_string()
        };
        assert!(matches!(
            map_error(404, None, body(404, "NOT_FOUND").as_bytes(), t()),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            map_error(409, None, body(409, "ABORTED").as_bytes(), t()),
            Error::Conflict { .. }
        ));
        assert!(matches!(
            map_error(409, None, body(409, "ALREADY_EXISTS").as_bytes(), t()),
            Error::AlreadyExists { .. }
        ));
        let e = map_error(
            429,
            Some(Duration::from_secs(3)),
            body(429, "RESOURCE_EXHAUSTED").as_bytes(),
            t(),
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(map_error(503, None, b"<html>", t()).is_retryable());
        let denied = serde_json::json!({"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"permission": "cloudfunctions.functions.update"}}]}});
        match map_error(403, None, denied.to_string().as_bytes(), t()) {
            Error::PermissionDenied { action, .. } => {
                assert_eq!(action.as_deref(), Some("cloudfunctions.functions.update"))
            }
            e => panic!("{e}"),
        }
        let bad = serde_json::json!({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "service_config.available_memory", "description": "too big"}]}]}});
        match map_error(400, None, bad.to_string().as_bytes(), t()) {
            Error::InvalidInput { field, reason, .. } => {
                assert_eq!(field, "service_config.available_memory");
                assert_eq!(reason, "too big");
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_failed_operation_names_its_stage() {
        let op: Operation = serde_json::from_value(serde_json::json!({
            "name": "projects/p/locations/r/operations/o", "done": true,
            "error": {"code": 3, "message": "Build failed"},
            "metadata": {"stages": [
                {"name": "BUILD", "state": "COMPLETE", "message": "Build failed with status: FAILURE",
                 "resourceUri": "https://console.cloud.google.com/cloud-build/builds/1",
                 "stateMessages": [{"severity": "ERROR", "type": "BuildFailed", "message": "pip install failed"}]},
                {"name": "SERVICE", "state": "NOT_STARTED"}]}
        }))
        .unwrap();
        let e = operation_error("deploy f", &op, op.error.as_ref().unwrap());
        let text = e.to_string();
        assert!(
            text.contains("stage BUILD") && text.contains("pip install failed"),
            "{text}"
        );
        assert!(
            matches!(e, Error::Provider { ref code, .. } if code == "BUILD_FAILED"),
            "{e:?}"
        );
    }
}
