//! Function test cases: a payload, what should come back, and a readable verdict.
//!
//! `expected_status` is the HTTP status for HTTP functions and, for Lambda-style functions
//! that return the API Gateway proxy shape (`{"statusCode": .., "body": ..}`), that
//! `statusCode` — a synchronous Lambda call itself always answers 200, so comparing the
//! invoke status with 400 would be wrong. `expected_response` is compared with the response,
//! or with the proxy shape's `body` parsed as JSON when it is a JSON string; by default as a
//! subset (every expected key present with an equal value), or exactly.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, ExecutionReport, Invocation, InvokeRequest, Provider, Result};

/// How `expected_response` is compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchMode {
    /// Every expected key is present with an equal value (recursively); arrays compare whole.
    #[default]
    Subset,
    /// The whole value is equal.
    Exact,
}

/// One test case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Its name.
    pub name: String,
    /// The event sent.
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// The expected status (see the module docs).
    #[serde(default)]
    pub expected_status: Option<u16>,
    /// The expected response.
    #[serde(default)]
    pub expected_response: Option<Value>,
    /// How the response is compared.
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    /// The function must fail with this error type, or an error whose message contains it.
    #[serde(default)]
    pub expected_error: Option<String>,
    /// The longest the call may take, in seconds.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// The version or label this case invokes, instead of the step's (or the function's
    /// latest code); a version may be written as a number (`qualifier: 3`).
    #[serde(default, deserialize_with = "qualifier_text")]
    pub qualifier: Option<String>,
}

/// A qualifier written as text or as a version number.
fn qualifier_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a version number or a label name, got {other}"
        ))),
    }
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestResult {
    /// The case's name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// The status found (see the module docs).
    pub status: Option<u16>,
    /// How long the call took.
    pub duration: Duration,
    /// One line per failed expectation: what was expected, what came back.
    pub failures: Vec<String>,
    /// The response body.
    pub response: Value,
    /// The run's figures, when the provider reports them.
    pub report: Option<ExecutionReport>,
}

/// The status and the comparable response of an invocation.
pub fn status_and_body(inv: &Invocation) -> (u16, Value) {
    let payload: Value = serde_json::from_slice(&inv.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&inv.payload).into_owned()));
    match payload.get("statusCode").and_then(Value::as_u64) {
        Some(code) => {
            let body = match payload.get("body") {
                Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
                Some(other) => other.clone(),
                None => payload.clone(),
            };
            (code as u16, body)
        }
        None => (inv.status, payload),
    }
}

/// Checks an invocation against a case.
pub fn evaluate(case: &TestCase, inv: &Invocation) -> TestResult {
    let mut failures = Vec::new();
    let (status, body) = status_and_body(inv);
    match (&case.expected_error, &inv.function_error) {
        (Some(want), Some(fe)) => {
            if fe.error_type != *want && !fe.message.contains(want.as_str()) {
                failures.push(format!(
                    "error: expected {want:?}, got {}: {}",
                    fe.error_type, fe.message
                ));
            }
        }
        (Some(want), None) => failures.push(format!("error: expected {want:?}, the function succeeded")),
        (None, Some(fe)) => failures.push(format!("error: unexpected {}: {}", fe.error_type, fe.message)),
        (None, None) => {}
    }
    if let Some(want) = case.expected_status.filter(|w| *w != status) {
        failures.push(format!("status: expected {want}, got {status}"));
    }
    if let Some(want) = &case.expected_response {
        let mut diffs = Vec::new();
        match case.match_mode {
            MatchMode::Exact if want != &body => diffs.push(format!("response: expected {want}, got {body}")),
            MatchMode::Exact => {}
            MatchMode::Subset => subset_diff("response", want, &body, &mut diffs),
        }
        failures.extend(diffs);
    }
    if let Some(limit) = case.timeout_s.filter(|t| inv.elapsed.as_secs_f64() > *t) {
        failures.push(format!(
            "duration: expected at most {limit:.2} s, took {:.2} s",
            inv.elapsed.as_secs_f64()
        ));
    }
    TestResult {
        name: case.name.clone(),
        passed: failures.is_empty(),
        status: Some(status),
        duration: inv.elapsed,
        failures,
        response: body,
        report: inv.report,
    }
}

fn subset_diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => subset_diff(&p, wv, gv, out),
                    None => out.push(format!("{p}: expected {wv}, missing")),
                }
            }
        }
        _ if want != got => out.push(format!("{path}: expected {want}, got {got}")),
        _ => {}
    }
}

/// Invokes `function` (at the case's own `qualifier`, else `qualifier`) with the case's payload — within its `timeout_s`, if
/// it has one ([`Error::Timeout`] otherwise) — and judges the answer.
pub async fn run_case(
    provider: &dyn Provider,
    function: &str,
    qualifier: Option<&str>,
    case: &TestCase,
) -> Result<TestResult> {
    let mut req = InvokeRequest::json(&case.payload);
    req.qualifier = case.qualifier.as_deref().or(qualifier).map(str::to_string);
    let call = provider.invoke(function, &req);
    let inv = match case.timeout_s {
        Some(t) => {
            let limit = Duration::try_from_secs_f64(t).map_err(|_| {
                Error::invalid(
                    "timeout_s",
                    t,
                    format!("test case {}: a number of seconds, at least 0", case.name),
                )
            })?;
            tokio::time::timeout(limit, call)
                .await
                .map_err(|_| Error::timeout(format!("test case {}", case.name), limit, "no answer"))?
        }
        None => call.await,
    }?;
    Ok(evaluate(case, &inv))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(payload: Value) -> Invocation {
        Invocation {
            status: 200,
            payload: payload.to_string().into_bytes(),
            function_error: None,
            executed_version: None,
            log_tail: None,
            report: None,
            elapsed: Duration::from_millis(5),
            headers: Default::default(),
        }
    }

    fn case(json: Value) -> TestCase {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn proxy_status_and_json_body_are_compared() {
        let i = inv(serde_json::json!({"statusCode": 400, "body": "{\"error\": \"bad\", \"extra\": 1}"}));
        let ok = evaluate(
            &case(serde_json::json!({"name": "e", "expected_status": 400, "expected_response": {"error": "bad"}})),
            &i,
        );
        assert!(ok.passed, "{:?}", ok.failures);
        let bad = evaluate(
            &case(serde_json::json!({"name": "e", "expected_status": 200, "expected_response": {"error": "other"}})),
            &i,
        );
        assert_eq!(
            bad.failures,
            vec![
                "status: expected 200, got 400",
                "response.error: expected \"other\", got \"bad\""
            ]
        );
        let exact = evaluate(
            &case(serde_json::json!({"name": "e", "expected_response": {"error": "bad"}, "match": "exact"})),
            &i,
        );
        assert!(!exact.passed);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_value::<TestCase>(serde_json::json!({"name": "x", "expect_status": 200})).is_err());
    }
}
