//! The provider-neutral model: artifacts, deployments, versions, labels, invocations, plans.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, FunctionSpec, Result};

/// Where an uploaded package landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// `s3://bucket/key`, `gs://bucket/object`, an https blob URL, or `file:///path`.
    pub uri: String,
    /// The package's sha256, lowercase hex.
    pub sha256: String,
    /// The package's size in bytes.
    pub size: u64,
    /// The package on this machine, for providers that send small zips inline.
    pub local_path: Option<PathBuf>,
}

impl ArtifactRef {
    /// The code `deployment` already runs, for a configuration-only deploy: its sha256 is
    /// the deployed one, so no provider uploads or replaces code.
    ///
    /// ```
    /// # fn f(d: &faas_core::Deployment) {
    /// let a = faas_core::ArtifactRef::deployed(d);
    /// assert_eq!(a.sha256, d.code_sha256);
    /// # }
    /// ```
    pub fn deployed(deployment: &Deployment) -> ArtifactRef {
        ArtifactRef {
            uri: format!("deployed:{}", deployment.code_sha256),
            sha256: deployment.code_sha256.clone(),
            size: 0,
            local_path: None,
        }
    }
}

/// Whether a function can serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DeployState {
    /// Ready.
    Active,
    /// Being created or updated.
    Pending,
    /// The last create or update failed, with the provider's reason.
    Failed(String),
    /// Idle and to be woken on the next call (Lambda).
    Inactive,
}

/// The observed state of a function's code and configuration: the latest, or a version's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The function's configuration as the provider reports it.
    pub spec: FunctionSpec,
    /// The sha256 of the deployed package, lowercase hex.
    pub code_sha256: String,
    /// Whether it can serve.
    pub state: DeployState,
    /// The provider's revision or etag, for optimistic concurrency.
    pub revision: Option<String>,
    /// The URL that invokes it, where there is one.
    pub url: Option<String>,
    /// The version this is: `$LATEST` (or the provider's equivalent) or a published version id.
    pub version: String,
}

/// What a deploy changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The function was created.
    pub created: bool,
    /// The code was replaced.
    pub code_updated: bool,
    /// The configuration was updated.
    pub config_updated: bool,
}

impl Change {
    /// Nothing was changed.
    pub fn is_noop(&self) -> bool {
        !self.created && !self.code_updated && !self.config_updated
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.created {
            parts.push("created");
        }
        if self.code_updated {
            parts.push("code updated");
        }
        if self.config_updated {
            parts.push("config updated");
        }
        if parts.is_empty() {
            parts.push("unchanged");
        }
        f.write_str(&parts.join(", "))
    }
}

/// The result of a deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployOutcome {
    /// The function as it now is.
    pub deployment: Deployment,
    /// What changed.
    pub change: Change,
}

/// An immutable published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The version id (`"1"`, a revision name, a package number).
    pub id: String,
    /// The sha256 of its code, lowercase hex.
    pub code_sha256: String,
    /// Its description.
    pub description: String,
    /// The bytes of code storage it takes, where the provider says: the artifact's size in
    /// the local store, Lambda's `CodeSize`; `None` where the provider does not tell
    /// (GCP revisions, Azure package records) — unknown, not zero.
    #[serde(default)]
    pub code_size: Option<u64>,
}

/// Where a label sends traffic: a primary version plus weighted extra versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// The version that gets the rest of the traffic.
    pub primary: String,
    /// Extra versions and the fraction (0 < w < 1) of traffic each gets.
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
}

/// `7`, or `6 + 7 at 10%`.
///
/// ```
/// use faas_core::Routing;
/// assert_eq!(Routing::to("6").with("7", 0.1).to_string(), "6 + 7 at 10%");
/// ```
impl std::fmt::Display for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.primary)?;
        for (v, w) in &self.weights {
            write!(f, " + {v} at {}%", (w * 1000.0).round() / 10.0)?;
        }
        Ok(())
    }
}

impl Routing {
    /// All traffic to `version`.
    pub fn to(version: impl Into<String>) -> Self {
        Routing {
            primary: version.into(),
            weights: BTreeMap::new(),
        }
    }

    /// Adds `weight` (0..1) of traffic to `version`.
    pub fn with(mut self, version: impl Into<String>, weight: f64) -> Self {
        self.weights.insert(version.into(), weight);
        self
    }

    /// Every version this routing sends traffic to.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.weights.keys().map(String::as_str))
    }

    /// Checks the weights: each in (0, 1), summing below 1, no extra entry for the primary,
    /// and at most `max_extra` extra versions.
    pub fn validate(&self, max_extra: usize) -> Result<()> {
        if self.primary.is_empty() {
            return Err(Error::invalid(
                "routing.primary",
                "\"\"",
                "name the version that gets the traffic",
            ));
        }
        if self.weights.len() > max_extra {
            return Err(Error::invalid(
                "routing.weights",
                format!("{} extra versions", self.weights.len()),
                format!("this provider routes to at most {max_extra} extra version(s) besides the primary"),
            ));
        }
        let mut sum = 0.0;
        for (v, w) in &self.weights {
            if v == &self.primary {
                return Err(Error::invalid(
                    "routing.weights",
                    v,
                    "the primary version cannot also carry a weight",
                ));
            }
            if !(w.is_finite() && *w > 0.0 && *w < 1.0) {
                return Err(Error::invalid(
                    "routing.weights",
                    format!("{v}={w}"),
                    "a weight is a fraction strictly between 0 and 1 (0.1 = 10%)",
                ));
            }
            sum += w;
        }
        if sum >= 1.0 {
            return Err(Error::invalid(
                "routing.weights",
                format!("sum {sum}"),
                "the extra versions' weights must sum below 1: the primary keeps the rest",
            ));
        }
        Ok(())
    }
}

/// A named pointer to versions: an alias (AWS), a deployment slot (Azure) or a traffic tag (GCP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The label's name (`live`, `staging`).
    pub name: String,
    /// Where it routes.
    pub routing: Routing,
}

/// How to invoke.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvokeMode {
    /// Wait for the result.
    #[default]
    Sync,
    /// Queue the event and return at once.
    Async,
    /// Check the call would be allowed, without running the function.
    DryRun,
}

/// An invocation request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokeRequest {
    /// A version or label; `None` means the latest code.
    pub qualifier: Option<String>,
    /// The event, as JSON bytes.
    pub payload: Vec<u8>,
    /// Sync, async or dry run.
    pub mode: InvokeMode,
    /// Return the tail of the function's log.
    pub log_tail: bool,
    /// The client context: the text of a JSON object (Lambda's `ClientContext`, which the
    /// handler sees as `context.client_context` in Python, `context.clientContext` in Node),
    /// at most [`CLIENT_CONTEXT_MAX`] bytes once base64-encoded. Lambda passes it to
    /// synchronous invocations only; so do the local provider and the AWS one (GCP and Azure
    /// have no client context and ignore it). `None` (the default): no client context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_context: Option<String>,
}

/// The longest client context Lambda accepts: 3,583 bytes of base64 (the Invoke API's
/// `ClientContext`, sent as the `X-Amz-Client-Context` header).
pub const CLIENT_CONTEXT_MAX: usize = 3583;

impl InvokeRequest {
    /// A synchronous invocation of `payload` with the log tail.
    pub fn json(payload: &serde_json::Value) -> Self {
        InvokeRequest {
            qualifier: None,
            payload: payload.to_string().into_bytes(),
            mode: InvokeMode::Sync,
            log_tail: true,
            client_context: None,
        }
    }

    /// Sets the qualifier (version or label).
    pub fn qualifier(mut self, q: impl Into<String>) -> Self {
        self.qualifier = Some(q.into());
        self
    }

    /// Sets the client context (see [`InvokeRequest::client_context`](InvokeRequest#structfield.client_context)),
    /// typically `{"custom": {...}}`; [`Provider::invoke`](crate::Provider::invoke) checks it
    /// is an object within [`CLIENT_CONTEXT_MAX`].
    ///
    /// ```
    /// use faas_core::InvokeRequest;
    /// let req = InvokeRequest::json(&serde_json::json!({}))
    ///     .with_client_context(&serde_json::json!({"custom": {"tenant": "a"}}));
    /// assert_eq!(req.client_context.as_deref(), Some(r#"{"custom":{"tenant":"a"}}"#));
    /// assert!(req.check_client_context().is_ok());
    /// ```
    pub fn with_client_context(mut self, context: &serde_json::Value) -> Self {
        self.client_context = Some(context.to_string());
        self
    }

    /// The client context base64-encoded, as the Invoke API carries it (`None` without one).
    pub fn client_context_base64(&self) -> Option<String> {
        use base64::Engine as _;
        self.client_context
            .as_deref()
            .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
    }

    /// Checks the client context as Lambda does: a JSON object of at most
    /// [`CLIENT_CONTEXT_MAX`] bytes once base64-encoded.
    pub fn check_client_context(&self) -> Result<()> {
        let Some(text) = self.client_context.as_deref() else {
            return Ok(());
        };
        let encoded = 4 * text.len().div_ceil(3);
        if encoded > CLIENT_CONTEXT_MAX {
            return Err(Error::invalid(
                "client_context",
                format!("{encoded} bytes of base64"),
                format!("Lambda accepts a client context of at most {CLIENT_CONTEXT_MAX} bytes of base64"),
            ));
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(_)) => Ok(()),
            _ => Err(Error::invalid(
                "client_context",
                text.chars().take(80).collect::<String>(),
                "Client context must be a valid Base64-encoded JSON object.",
            )),
        }
    }

    /// The event to send: the payload, `{}` when it is empty, and an error (as Lambda's
    /// `InvalidRequestContentException`) when it is not JSON.
    pub fn event_bytes(&self) -> Result<Vec<u8>> {
        if self.payload.iter().all(u8::is_ascii_whitespace) {
            return Ok(b"{}".to_vec());
        }
        match serde_json::from_slice::<serde_json::Value>(&self.payload) {
            Ok(_) => Ok(self.payload.clone()),
            Err(e) => Err(Error::invalid(
                "payload",
                String::from_utf8_lossy(&self.payload)
                    .chars()
                    .take(80)
                    .collect::<String>(),
                format!("Could not parse request body into json: {e}"),
            )),
        }
    }
}

/// An error raised by the function's own code, kept apart from transport errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionError {
    /// `errorType` (`ValueError`, `Runtime.ExitError`, `Sandbox.Timedout`).
    pub error_type: String,
    /// `errorMessage`.
    pub message: String,
    /// `stackTrace` lines.
    pub trace: Vec<String>,
}

impl FunctionError {
    /// Reads an error body in Lambda's shapes (`errorType`, `errorMessage`, and `stackTrace`
    /// from Python or `trace` from Node); `fallback_type` (a header) is used when the body has none.
    pub fn from_body(fallback_type: Option<&str>, body: &[u8]) -> FunctionError {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        FunctionError {
            error_type: text("errorType")
                .or_else(|| fallback_type.map(str::to_string))
                .unwrap_or_else(|| "Unhandled".into()),
            message: text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
            trace: v
                .get("stackTrace")
                .or_else(|| v.get("trace"))
                .and_then(|t| t.as_array())
                .map(|a| a.iter().filter_map(|l| l.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        }
    }
}

/// What a run cost, as Lambda's `REPORT` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// Handler duration in ms.
    pub duration_ms: f64,
    /// Billed duration in ms (rounded up to the next ms).
    pub billed_duration_ms: u64,
    /// Configured memory in MB.
    pub memory_size_mb: u32,
    /// Peak memory used in MB.
    pub max_memory_used_mb: u32,
    /// Init (cold start) duration in ms, when the run included one: present exactly on a
    /// cold start, as Lambda's `Init Duration` (see [`ExecutionReport::cold_start`]).
    pub init_duration_ms: Option<f64>,
}

impl ExecutionReport {
    /// Whether the run was a cold start: its environment was started for it and initialised
    /// (Lambda reports `Init Duration` only then). A warm invocation, served by an
    /// environment that earlier invocations started, has none.
    ///
    /// ```
    /// let r = faas_core::ExecutionReport::parse_line("REPORT RequestId: x\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 99.1 ms").unwrap();
    /// assert!(r.cold_start());
    /// ```
    pub fn cold_start(&self) -> bool {
        self.init_duration_ms.is_some()
    }

    /// Parses a line like
    /// `REPORT RequestId: 1 Duration: 2.50 ms Billed Duration: 3 ms Memory Size: 128 MB Max Memory Used: 40 MB Init Duration: 120.01 ms`.
    ///
    /// ```
    /// use faas_core::ExecutionReport;
    /// let r = ExecutionReport::parse_line("REPORT RequestId: x\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t").unwrap();
    /// assert_eq!((r.billed_duration_ms, r.max_memory_used_mb, r.init_duration_ms), (3, 40, None));
    /// ```
    pub fn parse_line(line: &str) -> Option<ExecutionReport> {
        let line = line.trim_start();
        if !line.starts_with("REPORT ") {
            return None;
        }
        let field = |name: &str| -> Option<f64> {
            let start = line.find(name)? + name.len();
            let rest = line[start..].trim_start();
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        };
        // "Duration:" also appears inside "Billed Duration:" and "Init Duration:": take the first.
        Some(ExecutionReport {
            duration_ms: field("\tDuration:").or_else(|| field(" Duration:"))?,
            billed_duration_ms: field("Billed Duration:")? as u64,
            memory_size_mb: field("Memory Size:")? as u32,
            max_memory_used_mb: field("Max Memory Used:")? as u32,
            init_duration_ms: field("Init Duration:"),
        })
    }

    /// Finds and parses the last `REPORT` line of a log.
    pub fn from_log(log: &str) -> Option<ExecutionReport> {
        log.lines().rev().find_map(ExecutionReport::parse_line)
    }

    /// Formats the line Lambda writes at the end of each run.
    pub fn to_line(&self, request_id: &str) -> String {
        let mut s = format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.duration_ms, self.billed_duration_ms, self.memory_size_mb, self.max_memory_used_mb
        );
        if let Some(init) = self.init_duration_ms {
            s.push_str(&format!("Init Duration: {init:.2} ms\t"));
        }
        s
    }
}

/// The result of an invocation. A function error is data here, not an `Err`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The transport status (200 for a synchronous Lambda call, 202 for async, 204 for a dry run;
    /// the HTTP status for HTTP functions).
    pub status: u16,
    /// The response body.
    pub payload: Vec<u8>,
    /// The function's own error, when it raised one.
    pub function_error: Option<FunctionError>,
    /// The version that ran.
    pub executed_version: Option<String>,
    /// The tail of the log, when asked for and available.
    pub log_tail: Option<String>,
    /// Duration and memory figures, when available.
    pub report: Option<ExecutionReport>,
    /// Wall-clock time of the call as the client saw it.
    pub elapsed: Duration,
    /// Response headers, lower-cased, for HTTP-invoked functions (GCP, Azure); empty otherwise.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Invocation {
    /// The payload parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Error::invalid(
                "payload",
                String::from_utf8_lossy(&self.payload)
                    .chars()
                    .take(200)
                    .collect::<String>(),
                format!("not JSON: {e}"),
            )
        })
    }

    /// The answer of a function called over HTTP (GCP, Azure): `429` is [`Error::Throttled`]
    /// (with the `Retry-After` header's wait), a 5xx status is the function's error (read from
    /// the body when it has Lambda's shape), anything else its answer. `headers` are
    /// lower-cased.
    pub fn from_http(
        function: &str,
        status: u16,
        headers: BTreeMap<String, String>,
        payload: Vec<u8>,
        elapsed: Duration,
        executed_version: Option<String>,
    ) -> Result<Invocation> {
        if status == 429 {
            return Err(Error::throttled(
                headers
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
                format!("{function}: too many requests"),
            ));
        }
        let function_error =
            (status >= 500).then(|| FunctionError::from_body(Some(&format!("HTTP {status}")), &payload));
        Ok(Invocation {
            status,
            payload,
            function_error,
            executed_version,
            log_tail: None,
            report: None,
            elapsed,
            headers,
        })
    }

    /// `Ok(self)`, or the function error as [`Error::FunctionFailed`].
    pub fn into_result(self) -> Result<Invocation> {
        match self.function_error {
            Some(fe) => Err(Error::function_failed(fe.error_type, fe.message, fe.trace)),
            None => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_become_invocations() {
        let headers = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ms = Duration::from_millis(3);
        let ok = Invocation::from_http("f", 200, headers(&[]), b"{}".to_vec(), ms, None).unwrap();
        assert!(ok.function_error.is_none());
        let failed = Invocation::from_http("f", 500, headers(&[]), b"boom".to_vec(), ms, None).unwrap();
        assert_eq!(failed.function_error.unwrap().error_type, "HTTP 500");
        let throttled = Invocation::from_http("f", 429, headers(&[("retry-after", "7")]), Vec::new(), ms, None);
        assert_eq!(throttled.unwrap_err().retry_after(), Some(Duration::from_secs(7)));
    }
}
