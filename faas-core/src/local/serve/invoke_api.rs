//! Lambda's Invoke API: `POST /2015-03-31/functions/{FunctionName}/invocations`.
//!
//! Shapes as in botocore's `lambda/2015-03-31/service-2.json` (`Invoke`, `InvocationRequest`,
//! `InvocationResponse` and the error shapes): the errors carry `x-amzn-ErrorType` (what
//! botocore's `RestJSONParser` and aws-sdk-lambda's `json_errors::parse_error_metadata` read
//! the code from) and a `{"Type": "User", "message": …}` body (`Message` for
//! `ResourceNotFoundException`, as its shape spells it).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;

use super::{ACCOUNT, ASYNC_PAYLOAD_MAX, LambdaError, Refused, SYNC_PAYLOAD_MAX, State, read_body};
use crate::{CLIENT_CONTEXT_MAX, Error, Invocation, InvokeMode, InvokeRequest, names};

/// The function name pattern of botocore's `NamespacedFunctionName` (quoted in validation errors).
const NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";
/// The longest `FunctionName` (a full ARN with a qualifier).
const NAME_MAX: usize = 140;
/// The log tail Lambda returns: the last 4 KB.
const LOG_RESULT_MAX: usize = 4 * 1024;

pub(super) fn routes() -> Router<Arc<State>> {
    Router::new().route("/2015-03-31/functions/{function}/invocations", post(invoke))
}

/// A function named as Lambda accepts it: `name`, `name:qualifier`, a partial ARN
/// (`123456789012:function:name[:qualifier]`) or a full ARN
/// (`arn:aws:lambda:region:123456789012:function:name[:qualifier]`). The region and account
/// are not checked: the local provider has one of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionName {
    pub(crate) name: String,
    pub(crate) qualifier: Option<String>,
}

impl FunctionName {
    /// Parses a `FunctionName`; the error is the validation message.
    pub(crate) fn parse(s: &str) -> std::result::Result<FunctionName, String> {
        let invalid = || {
            format!(
                "1 validation error detected: Value '{}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}",
                s.chars().take(NAME_MAX + 20).collect::<String>()
            )
        };
        if s.is_empty() || s.len() > NAME_MAX {
            return Err(invalid());
        }
        let parts: Vec<&str> = s.split(':').collect();
        let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
        let (name, qualifier) = match parts.as_slice() {
            ["arn", partition, "lambda", region, acct, "function", rest @ ..]
                if partition.starts_with("aws") && !region.is_empty() && account(acct) =>
            {
                match rest {
                    [name] => (*name, None),
                    [name, q] => (*name, Some(*q)),
                    _ => return Err(invalid()),
                }
            }
            [acct, "function", name] if account(acct) => (*name, None),
            [acct, "function", name, q] if account(acct) => (*name, Some(*q)),
            [name] => (*name, None),
            [name, q] => (*name, Some(*q)),
            _ => return Err(invalid()),
        };
        if names::check_function(name).is_err() {
            return Err(invalid());
        }
        let qualifier_ok = |q: &str| {
            q == names::LATEST
                || (!q.is_empty() && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        };
        if qualifier.is_some_and(|q| !qualifier_ok(q)) {
            return Err(invalid());
        }
        Ok(FunctionName {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        })
    }

    /// The ARN Lambda names in its messages.
    pub(crate) fn arn(&self, region: &str) -> String {
        let mut arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{}", self.name);
        if let Some(q) = &self.qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        arn
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> std::result::Result<Option<&'a str>, LambdaError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            LambdaError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                format!("the {name} header is not ASCII"),
            )
        }),
    }
}

fn enum_error(value: &str, field: &str, allowed: &str) -> LambdaError {
    LambdaError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        format!(
            "1 validation error detected: Value '{}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]",
            value.chars().take(64).collect::<String>()
        ),
    )
}

/// What the request asks, checked.
struct Call {
    target: FunctionName,
    mode: InvokeMode,
    tail: bool,
    /// The decoded client context (JSON object text).
    client_context: Option<String>,
}

/// The `X-Amz-Client-Context` header decoded: base64 of a JSON object, at most
/// [`CLIENT_CONTEXT_MAX`] bytes of base64, else Lambda's `InvalidRequestContentException`.
fn client_context(headers: &HeaderMap) -> std::result::Result<Option<String>, LambdaError> {
    let Some(encoded) = header_str(headers, "x-amz-client-context")? else {
        return Ok(None);
    };
    let invalid = |m: String| LambdaError::new(StatusCode::BAD_REQUEST, "InvalidRequestContentException", m);
    if encoded.len() > CLIENT_CONTEXT_MAX {
        return Err(invalid(format!(
            "X-Amz-Client-Context is {} bytes of base64: the client context must be at most {CLIENT_CONTEXT_MAX} bytes",
            encoded.len()
        )));
    }
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|t| {
            matches!(
                serde_json::from_str::<serde_json::Value>(t),
                Ok(serde_json::Value::Object(_))
            )
        });
    match text {
        Some(t) => Ok(Some(t)),
        None => Err(invalid(
            "Client context must be a valid Base64-encoded JSON object. (X-Amz-Client-Context)".into(),
        )),
    }
}

fn read_call(
    function: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> std::result::Result<Call, LambdaError> {
    let mode = match header_str(headers, "x-amz-invocation-type")? {
        None | Some("RequestResponse") => InvokeMode::Sync,
        Some("Event") => InvokeMode::Async,
        Some("DryRun") => InvokeMode::DryRun,
        Some(other) => return Err(enum_error(other, "invocationType", "Event, RequestResponse, DryRun")),
    };
    let tail = match header_str(headers, "x-amz-log-type")? {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => return Err(enum_error(other, "logType", "None, Tail")),
    };
    let mut target = FunctionName::parse(function)
        .map_err(|m| LambdaError::new(StatusCode::BAD_REQUEST, "ValidationException", m))?;
    // An empty `Qualifier` (the pattern `(|[a-zA-Z0-9$_-]+)` allows it) is none.
    if let Some((_, q)) = query.iter().find(|(k, v)| k == "Qualifier" && !v.is_empty()) {
        let ok = q == names::LATEST
            || (q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !ok {
            return Err(LambdaError::new(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
                    q.chars().take(140).collect::<String>()
                ),
            ));
        }
        match &target.qualifier {
            Some(derived) if derived != q => {
                return Err(LambdaError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    "The derived qualifier from the function name does not match the specified qualifier.",
                ));
            }
            _ => target.qualifier = Some(q.clone()),
        }
    }
    let client_context = client_context(headers)?;
    Ok(Call {
        target,
        mode,
        tail,
        client_context,
    })
}

async fn invoke(
    Shared(state): Shared<Arc<State>>,
    Path(function): Path<String>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let region = state.provider.inner.region.clone();
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return LambdaError::new(StatusCode::BAD_REQUEST, "InvalidParameterValueException", e.body_text())
                .into_response();
        }
    };
    let call = match read_call(&function, &query, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let limit = if call.mode == InvokeMode::Async {
        ASYNC_PAYLOAD_MAX
    } else {
        SYNC_PAYLOAD_MAX
    };
    let payload = match read_body(&headers, body, limit, state.body_timeout).await {
        Ok(Some(b)) => b.to_vec(),
        Ok(None) => {
            return LambdaError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
            )
            .into_response();
        }
        Err(m) => {
            return LambdaError::new(StatusCode::BAD_REQUEST, "InvalidRequestContentException", m).into_response();
        }
    };
    let request = InvokeRequest {
        qualifier: call.target.qualifier.clone(),
        payload,
        mode: call.mode,
        // Always: the REPORT line gives the request id; dropped below unless asked.
        log_tail: true,
        client_context: call.client_context,
    };
    match state.invoke(&call.target.name, request, None).await {
        Ok(inv) => answer(inv, call.tail),
        Err(refused) => refusal(refused, &call.target, &region).into_response(),
    }
}

/// A Lambda error for why an invocation did not run.
pub(super) fn refusal(refused: Refused, target: &FunctionName, region: &str) -> LambdaError {
    match refused {
        Refused::Throttled => throttled(),
        Refused::Stuck(limit) => LambdaError {
            capital: true,
            ..LambdaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                format!(
                    "the invocation did not end within {} s (the function's timeout and a grace)",
                    limit.as_secs()
                ),
            )
        },
        Refused::Error(e) => from_error(e, target, region),
    }
}

fn throttled() -> LambdaError {
    LambdaError {
        reason: Some("ConcurrentInvocationLimitExceeded"),
        ..LambdaError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded.",
        )
    }
}

fn from_error(e: Error, target: &FunctionName, region: &str) -> LambdaError {
    match &e {
        Error::NotFound { .. } => LambdaError {
            capital: true,
            ..LambdaError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("Function not found: {}", target.arn(region)),
            )
        },
        Error::InvalidInput { field, reason, .. } if field == "payload" || field == "client_context" => {
            LambdaError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                reason.clone(),
            )
        }
        Error::InvalidInput { field, .. } if matches!(field.as_str(), "function" | "qualifier" | "label") => {
            LambdaError::new(StatusCode::BAD_REQUEST, "ValidationException", e.to_string())
        }
        Error::InvalidInput { .. } | Error::Unsupported { .. } => {
            LambdaError::new(StatusCode::BAD_REQUEST, "InvalidParameterValueException", e.to_string())
        }
        Error::Throttled { .. } => throttled(),
        Error::Conflict { .. } => LambdaError::new(StatusCode::CONFLICT, "ResourceConflictException", e.to_string()),
        _ => LambdaError {
            capital: true,
            ..LambdaError::new(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", e.to_string())
        },
    }
}

/// The last [`LOG_RESULT_MAX`] bytes of `log`, cut at a character boundary.
fn log_result(log: &str) -> String {
    let mut cut = log.len().saturating_sub(LOG_RESULT_MAX);
    while !log.is_char_boundary(cut) {
        cut += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&log[cut..])
}

/// The HTTP answer of an invocation that ran (or was accepted).
fn answer(mut inv: Invocation, tail: bool) -> Response {
    let request_id = super::request_id_of(&inv);
    let status = StatusCode::from_u16(inv.status).unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    headers.insert("x-amzn-requestid", super::request_id_header(&request_id));
    if status != StatusCode::OK {
        // 202 (Event) and 204 (DryRun): no body.
        return (status, headers).into_response();
    }
    if inv.function_error.is_none() && inv.payload.len() > SYNC_PAYLOAD_MAX {
        inv.payload = serde_json::json!({
            "errorMessage": format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({SYNC_PAYLOAD_MAX} bytes).",
                inv.payload.len()
            ),
            "errorType": "Function.ResponseSizeTooLarge",
        })
        .to_string()
        .into_bytes();
        inv.function_error = Some(crate::FunctionError::from_body(None, &inv.payload));
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(v) = inv
        .executed_version
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert("x-amz-executed-version", v);
    }
    if inv.function_error.is_some() {
        headers.insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
    }
    if tail
        && let Some(log) = inv.log_tail.as_deref()
        && let Ok(v) = HeaderValue::from_str(&log_result(log))
    {
        headers.insert("x-amz-log-result", v);
    }
    (status, headers, inv.payload).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> (String, Option<String>) {
        let f = FunctionName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (f.name, f.qualifier)
    }

    #[test]
    fn names_partial_and_full_arns() {
        let plain = ("hello".to_string(), None);
        let live = ("hello".to_string(), Some("live".to_string()));
        assert_eq!(parsed("hello"), plain);
        assert_eq!(parsed("hello:live"), live);
        assert_eq!(parsed("123456789012:function:hello"), plain);
        assert_eq!(parsed("123456789012:function:hello:live"), live);
        assert_eq!(parsed("arn:aws:lambda:us-east-1:123456789012:function:hello"), plain);
        assert_eq!(
            parsed("arn:aws:lambda:eu-west-1:000000000000:function:hello:live"),
            live
        );
        assert_eq!(
            parsed("arn:aws-cn:lambda:cn-north-1:123456789012:function:hello:$LATEST")
                .1
                .as_deref(),
            Some("$LATEST")
        );
        for bad in [
            "",
            "hello world",
            "a:b:c",
            "arn:aws:s3:us-east-1:123456789012:function:hello",
            "arn:aws:lambda:us-east-1:12345:function:hello",
            "arn:aws:lambda:us-east-1:123456789012:function:hello:live:extra",
            "hello:bad!",
            &"x".repeat(65),
        ] {
            let e = FunctionName::parse(bad).unwrap_err();
            assert!(
                e.contains("at 'functionName' failed to satisfy constraint"),
                "{bad}: {e}"
            );
        }
        let f = FunctionName::parse("hello:live").unwrap();
        assert_eq!(
            f.arn("us-east-1"),
            "arn:aws:lambda:us-east-1:000000000000:function:hello:live"
        );
    }

    #[test]
    fn the_qualifier_query_must_agree_with_the_name() {
        let headers = HeaderMap::new();
        let q = |v: &str| vec![("Qualifier".to_string(), v.to_string())];
        let call = read_call("hello", &q("3"), &headers).unwrap();
        assert_eq!(call.target.qualifier.as_deref(), Some("3"));
        assert!(read_call("hello:3", &q("3"), &headers).is_ok());
        assert_eq!(read_call("hello", &q(""), &headers).unwrap().target.qualifier, None);
        let e = read_call("hello:live", &q("3"), &headers).err().unwrap();
        assert_eq!(e.code, "InvalidParameterValueException");
        let e = read_call("hello", &q("bad qualifier"), &headers).err().unwrap();
        assert_eq!(e.code, "ValidationException");
    }

    #[test]
    fn invocation_and_log_types_are_checked() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-invocation-type", HeaderValue::from_static("Later"));
        let e = read_call("hello", &[], &headers).err().unwrap();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "InvalidParameterValueException")
        );
        headers.insert("x-amz-invocation-type", HeaderValue::from_static("DryRun"));
        headers.insert("x-amz-log-type", HeaderValue::from_static("Tail"));
        let call = read_call("hello", &[], &headers).unwrap();
        assert_eq!((call.mode, call.tail), (InvokeMode::DryRun, true));
    }

    #[test]
    fn the_client_context_is_base64_of_a_json_object_within_the_limit() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let with = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-client-context", HeaderValue::from_str(v).unwrap());
            read_call("hello", &[], &headers)
        };
        let call = with(&b64(r#"{"custom":{"a":1}}"#)).ok().unwrap();
        assert_eq!(call.client_context.as_deref(), Some(r#"{"custom":{"a":1}}"#));
        assert_eq!(
            read_call("hello", &[], &HeaderMap::new()).ok().unwrap().client_context,
            None
        );
        for bad in ["not base64!".to_string(), b64("not json"), b64("[1, 2]")] {
            let e = with(&bad).err().unwrap();
            assert_eq!(
                (e.status, e.code),
                (StatusCode::BAD_REQUEST, "InvalidRequestContentException")
            );
            assert!(
                e.message
                    .contains("Client context must be a valid Base64-encoded JSON object"),
                "{}",
                e.message
            );
        }
        let at_limit = format!(
            r#"{{"custom":{{"k":"{}"}}}}"#,
            "x".repeat(CLIENT_CONTEXT_MAX / 4 * 3 - 20)
        );
        assert!(b64(&at_limit).len() <= CLIENT_CONTEXT_MAX);
        assert!(with(&b64(&at_limit)).is_ok());
        let over = format!(r#"{{"custom":{{"k":"{}"}}}}"#, "x".repeat(CLIENT_CONTEXT_MAX));
        let e = with(&b64(&over)).err().unwrap();
        assert_eq!(e.code, "InvalidRequestContentException");
        assert!(
            e.message.contains("X-Amz-Client-Context") && e.message.contains("3583"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_log_result_is_the_last_4_kb() {
        let log = format!("{}é{}", "a".repeat(5000), "b".repeat(4095));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(log_result(&log))
            .unwrap();
        assert!(decoded.len() <= LOG_RESULT_MAX);
        assert!(String::from_utf8(decoded).unwrap().ends_with('b'));
    }
}
