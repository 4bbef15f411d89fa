//! The REST client for ARM and Kudu: bearer tokens from an azure_identity credential, ARM's
//! error format mapped to `faas_core::Error`, retries of throttling and transient failures,
//! and ARM long-running operations (`Azure-AsyncOperation`, then `Location`, honouring
//! `Retry-After`).

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use faas_core::{Error, PollPolicy, PollStatus, ResourceKind, Result, RetryConfig};
use reqwest::Method;
use serde_json::Value;

/// The scope of ARM tokens (Kudu accepts them too).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The ARM root with one trailing slash.
pub(crate) fn arm_root(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

/// What a call is about, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub kind: ResourceKind,
    pub name: &'a str,
}

/// One answer: status, the headers that matter, and the JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub async_operation: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Value,
}

/// An authenticated JSON client with retries.
#[derive(Clone)]
pub(crate) struct Arm {
    pub http: reqwest::Client,
    pub credential: Arc<dyn TokenCredential>,
    pub retry: RetryConfig,
    pub poll: PollPolicy,
}

impl std::fmt::Debug for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arm")
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

pub(crate) fn transport(what: &str, e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::timeout(
            what.to_string(),
            Duration::ZERO,
            "no answer within the HTTP client's connect/read/request limits (AzureBuilder::timeouts)",
        );
    }
    Error::other("transport", what.to_string(), true).with_source(e.without_url())
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An answer's `Retry-After` in whole seconds, if it gave one.
pub(crate) fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    header(resp, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl Arm {
    /// A bearer token for ARM (and Kudu).
    pub async fn token(&self) -> Result<String> {
        self.credential
            .get_token(&[ARM_SCOPE], None)
            .await
            .map(|t| t.token.secret().to_string())
            .map_err(|e| Error::unauthenticated(format!(
                    "no Azure access token: {e}; set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, use workload identity (AZURE_FEDERATED_TOKEN_FILE), a managed identity, or `az login`"
                )))
    }

    /// Sends one request, retrying throttling, 5xx and transport failures; conflicts go back
    /// to the caller, which knows what to wait for.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>, target: Target<'_>) -> Result<Answer> {
        let what = format!("{method} {}", shown(url));
        self.retry
            .retry_if(&what, Error::is_transient, || {
                self.once(method.clone(), url, body, target)
            })
            .await
    }

    /// Like [`Arm::call`], with `NotFound` as `None`.
    pub async fn get_opt(&self, url: &str, target: Target<'_>) -> Result<Option<Value>> {
        match self.call(Method::GET, url, None, target).await {
            Ok(a) => Ok(Some(a.body)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn once(&self, method: Method, url: &str, body: Option<&Value>, target: Target<'_>) -> Result<Answer> {
        let token = self.token().await?;
        let mut req = self.http.request(method.clone(), url).bearer_auth(token);
        req = match body {
            Some(b) => req.json(b),
            None if method == Method::POST || method == Method::PUT => req.header("content-length", 0),
            None => req,
        };
        tracing::debug!(%method, url = %shown(url), "azure call");
        let resp = req
            .send()
            .await
            .map_err(|e| transport(&format!("{method} {}", shown(url)), e))?;
        let status = resp.status().as_u16();
        let answer = Answer {
            status,
            async_operation: header(&resp, "azure-asyncoperation"),
            location: header(&resp, "location"),
            retry_after: retry_after(&resp),
            body: Value::Null,
        };
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(&format!("{method} {}", shown(url)), e))?;
        if (200..300).contains(&status) {
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
            };
            return Ok(Answer { body, ..answer });
        }
        Err(map_error(status, answer.retry_after, &bytes, target))
    }

    /// Sends a mutating ARM call and, when it answers 201/202 with an operation to follow,
    /// waits for it: `Azure-AsyncOperation` first (its `status`), else `Location` (until it
    /// stops answering 202), honouring `Retry-After`. Returns the final resource body.
    pub async fn mutate(&self, method: Method, url: &str, body: Option<&Value>, target: Target<'_>) -> Result<Value> {
        let first = self.call(method.clone(), url, body, target).await?;
        if !matches!(first.status, 201 | 202) || (first.async_operation.is_none() && first.location.is_none()) {
            return Ok(first.body);
        }
        let what = format!("{method} {}", shown(url));
        let hint = std::sync::Mutex::new(first.retry_after);
        let result = self
            .poll
            .poll(&what, || async {
                if let Some(wait) = hint.lock().ok().and_then(|mut h| h.take()) {
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                }
                if let Some(op) = &first.async_operation {
                    let a = self.call(Method::GET, op, None, target).await?;
                    if let Ok(mut h) = hint.lock() {
                        *h = a.retry_after;
                    }
                    return Ok(match a.body["status"].as_str().unwrap_or("InProgress") {
                        "Succeeded" => PollStatus::Done(Ok(())),
                        "Failed" | "Canceled" => PollStatus::Done(Err(a.body["error"].clone())),
                        other => PollStatus::Pending(format!("status {other}")),
                    });
                }
                let loc = first.location.as_deref().unwrap_or_default();
                let a = self.call(Method::GET, loc, None, target).await?;
                if let Ok(mut h) = hint.lock() {
                    *h = a.retry_after;
                }
                Ok(if a.status == 202 {
                    PollStatus::Pending("202 Accepted".into())
                } else {
                    PollStatus::Done(Ok(()))
                })
            })
            .await?;
        if let Err(e) = result {
            return Err(Error::other(
                e["code"].as_str().unwrap_or("OperationFailed").to_string(),
                format!("{what} failed: {}", e["message"].as_str().unwrap_or("no message")),
                false,
            ));
        }
        // The resource as it now is (a DELETE or action has none).
        if method == Method::PUT || method == Method::PATCH {
            return Ok(self.call(Method::GET, url, None, target).await?.body);
        }
        Ok(Value::Null)
    }
}

/// A URL without its query (SAS signatures, function keys).
pub(crate) fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Maps ARM's error JSON (`{"error": {"code", "message"}}`, or Kudu's plain text).
pub(crate) fn map_error(status: u16, retry_after: Option<Duration>, body: &[u8], target: Target<'_>) -> Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = if v["error"].is_object() { &v["error"] } else { &v };
    let code = e["code"].as_str().or(e["Code"].as_str()).unwrap_or("").to_string();
    let message = e["message"]
        .as_str()
        .or(e["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    match status {
        404 => Error::not_found(target.kind, target.name, None),
        409 | 412 => Error::conflict(target.name.to_string(), format!("{code}: {message}")),
        429 => Error::throttled(retry_after, message),
        401 => Error::unauthenticated(message),
        403 => Error::permission_denied(
            (code == "AuthorizationFailed").then(|| {
                message
                    .split('\'')
                    .nth(5)
                    .map(str::to_string)
                    .unwrap_or_else(|| "the Website Contributor role".into())
            }),
            message,
        ),
        400 => Error::invalid(
            e["target"].as_str().unwrap_or("request").to_string(),
            target.name.to_string(),
            if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            },
        ),
        _ => Error::other(
            if code.is_empty() { status.to_string() } else { code },
            message,
            status >= 500,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_errors_map_to_typed_errors() {
        let t = Target {
            kind: ResourceKind::Function,
            name: "app",
        };
        let body = |code: &str| serde_json::json!({"error": {"code": code, "message": "m"}}).to_string();
        assert!(matches!(
            map_error(404, None, body("ResourceNotFound").as_bytes(), t),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            map_error(409, None, body("Conflict").as_bytes(), t),
            Error::Conflict { .. }
        ));
        assert!(map_error(503, None, b"busy", t).is_retryable());
        let denied = serde_json::json!({"error": {"code": "AuthorizationFailed", "message": "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Web/sites/write' over scope 's'"}});
        match map_error(403, None, denied.to_string().as_bytes(), t) {
            Error::PermissionDenied { action, .. } => assert_eq!(action.as_deref(), Some("Microsoft.Web/sites/write")),
            e => panic!("{e}"),
        }
        assert_eq!(shown("https://x/y?sig=secret"), "https://x/y");
    }
}
