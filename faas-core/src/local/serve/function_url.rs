//! Function URLs: `/url/{function}[:{alias}]/{path…}` in payload format 2.0.
//!
//! The request becomes the event Lambda's function URLs (and API Gateway HTTP APIs) send —
//! `version` `2.0`, `routeKey` `$default`, `rawPath`, `rawQueryString`, `cookies`, `headers`,
//! `queryStringParameters`, `requestContext` (`http.method`, `http.path`, `http.protocol`,
//! `http.sourceIp`, `http.userAgent`, `requestId`, `time`, `timeEpoch` …), `body` and
//! `isBase64Encoded` — and the handler's answer becomes the response by the documented rules:
//! an object with `statusCode` gives the status, `headers`, `cookies` (one `Set-Cookie`
//! each) and `body` (decoded when `isBase64Encoded`); any other JSON is a 200
//! `application/json` response whose body is that JSON. A function error is a 502.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State as Shared};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::invoke_api::{FunctionName, refusal};
use super::{Refused, SYNC_PAYLOAD_MAX, State, read_body};
use crate::{InvokeMode, InvokeRequest};

/// Where function URLs are served.
pub(crate) const PREFIX: &str = "/url/";

pub(super) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/url/{function}", any(handle))
        .route("/url/{function}/", any(handle))
        .route("/url/{function}/{*path}", any(handle))
}

fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        json!({ "Message": message }).to_string(),
    )
        .into_response()
}

async fn handle(
    Shared(state): Shared<Arc<State>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some((target, raw_path)) = split_path(parts.uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "no function in the URL: /url/{function}/{path}");
    };
    let target = match FunctionName::parse(target) {
        Ok(t) if !target.contains("function:") => t,
        _ => {
            return plain(
                StatusCode::NOT_FOUND,
                "not a function name: /url/{function}[:{alias}]/{path}",
            );
        }
    };
    let body = match read_body(&parts.headers, body, SYNC_PAYLOAD_MAX, state.body_timeout).await {
        Ok(Some(b)) => b,
        Ok(None) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        Err(m) => return plain(StatusCode::BAD_REQUEST, &m),
    };
    let request = HttpRequest {
        method: parts.method.as_str(),
        uri: &parts.uri,
        raw_path,
        version: parts.version,
        headers: &parts.headers,
        body: &body,
        peer,
        port: state.port,
    };
    // One id end to end: the event's `requestContext.requestId`, the handler's
    // `aws_request_id` and the `x-amzn-requestid` header.
    let request_id = super::new_request_id();
    let event = match request.event(&request_id, now_ms()) {
        Ok(e) => e.to_string().into_bytes(),
        Err(m) => return plain(StatusCode::BAD_REQUEST, &m),
    };
    if event.len() > SYNC_PAYLOAD_MAX {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let invoke = InvokeRequest {
        qualifier: target.qualifier.clone(),
        payload: event,
        mode: InvokeMode::Sync,
        log_tail: true,
        client_context: None,
    };
    let region = state.provider.inner.region.clone();
    match state.invoke(&target.name, invoke, Some(request_id.clone())).await {
        Ok(inv) => {
            let mut response = if inv.function_error.is_some() {
                plain_text(StatusCode::BAD_GATEWAY, "Internal Server Error")
            } else {
                to_response(&inv.payload).unwrap_or_else(|why| {
                    tracing::warn!(function = %target.name, %why, "function URL answer is not a response");
                    plain_text(StatusCode::BAD_GATEWAY, "Internal Server Error")
                })
            };
            response
                .headers_mut()
                .insert("x-amzn-requestid", super::request_id_header(&request_id));
            response
        }
        Err(Refused::Throttled) => plain(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded."),
        Err(refused) => {
            let e = refusal(refused, &target, &region);
            plain(e.status, &e.message)
        }
    }
}

fn plain_text(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        text,
    )
        .into_response()
}

/// `/url/{function}/{rest}` → (`{function}`, `/{rest}`), with `/` for no rest.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(PREFIX)?;
    let (target, raw) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!target.is_empty()).then_some((target, raw))
}

/// What the event is made of.
struct HttpRequest<'a> {
    method: &'a str,
    uri: &'a Uri,
    raw_path: &'a str,
    version: Version,
    headers: &'a HeaderMap,
    body: &'a [u8],
    peer: SocketAddr,
    port: u16,
}

/// Whether a body of this content type goes into the event as text (else base64).
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript" | "application/x-www-form-urlencoded"
        )
}

impl HttpRequest<'_> {
    /// The payload format 2.0 event.
    fn event(&self, request_id: &str, epoch_ms: u64) -> std::result::Result<Value, String> {
        let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        let mut headers = Map::new();
        let mut cookies = Vec::new();
        for name in self.headers.keys() {
            let values: Vec<String> = self.headers.get_all(name).iter().map(text).collect();
            if name == header::COOKIE {
                cookies.extend(
                    values
                        .iter()
                        .flat_map(|v| v.split(';'))
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            } else {
                headers.insert(name.as_str().to_string(), values.join(",").into());
            }
        }
        let source_ip = self.peer.ip().to_string();
        headers
            .entry("x-forwarded-for")
            .or_insert_with(|| source_ip.clone().into());
        headers.entry("x-forwarded-proto").or_insert_with(|| "http".into());
        headers
            .entry("x-forwarded-port")
            .or_insert_with(|| self.port.to_string().into());
        let host = self
            .headers
            .get(header::HOST)
            .map(text)
            .unwrap_or_else(|| format!("127.0.0.1:{}", self.port));
        let user_agent = self.headers.get(header::USER_AGENT).map(text).unwrap_or_default();
        let raw_query = self.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = Query::try_from_uri(self.uri)
            .map(|Query(q)| q)
            .map_err(|e| format!("the query string cannot be read: {}", e.body_text()))?;
        let mut params = Map::new();
        for (k, v) in pairs {
            match params.get_mut(&k) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                _ => {
                    params.insert(k, v.into());
                }
            }
        }
        let protocol = match self.version {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        let domain_prefix = host.split(['.', ':']).next().unwrap_or("").to_string();
        let mut event = Map::new();
        event.insert("version".into(), "2.0".into());
        event.insert("routeKey".into(), "$default".into());
        event.insert("rawPath".into(), self.raw_path.into());
        event.insert("rawQueryString".into(), raw_query.into());
        if !cookies.is_empty() {
            event.insert("cookies".into(), cookies.into());
        }
        event.insert("headers".into(), Value::Object(headers));
        if !params.is_empty() {
            event.insert("queryStringParameters".into(), Value::Object(params));
        }
        event.insert(
            "requestContext".into(),
            json!({
                "accountId": "anonymous",
                "apiId": "local",
                "domainName": host,
                "domainPrefix": domain_prefix,
                "http": {
                    "method": self.method,
                    "path": self.raw_path,
                    "protocol": protocol,
                    "sourceIp": source_ip,
                    "userAgent": user_agent,
                },
                "requestId": request_id,
                "routeKey": "$default",
                "stage": "$default",
                "time": clf_time(epoch_ms),
                "timeEpoch": epoch_ms,
            }),
        );
        let content_type = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let base64 = if self.body.is_empty() {
            false
        } else {
            match std::str::from_utf8(self.body) {
                Ok(s) if is_text(content_type) => {
                    event.insert("body".into(), s.into());
                    false
                }
                _ => {
                    event.insert(
                        "body".into(),
                        base64::engine::general_purpose::STANDARD.encode(self.body).into(),
                    );
                    true
                }
            }
        };
        event.insert("isBase64Encoded".into(), base64.into());
        Ok(Value::Object(event))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `12/Mar/2020:19:03:58 +0000`: the request time as function URLs write it.
fn clf_time(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::observe::civil_from_days(days as i64);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The handler's answer as an HTTP response; the error says why it is not one.
fn to_response(payload: &[u8]) -> std::result::Result<Response, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let Some(fields) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        // Any other JSON: 200, application/json, the JSON itself as the body.
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            payload.to_vec(),
        )
            .into_response());
    };
    let code = match &fields["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let status = code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| format!("statusCode {} is not an HTTP status", fields["statusCode"]))?;
    let mut headers = HeaderMap::new();
    if let Some(map) = fields.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("header name {k:?} is not valid"))?;
            let value = HeaderValue::from_str(&v).map_err(|_| format!("header {k:?} has an invalid value"))?;
            headers.insert(name, value);
        }
    }
    if let Some(cookies) = fields.get("cookies").and_then(Value::as_array) {
        for c in cookies.iter().filter_map(Value::as_str) {
            let value = HeaderValue::from_str(c).map_err(|_| "a cookie has an invalid value".to_string())?;
            headers.append(header::SET_COOKIE, value);
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let body = match fields.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if fields.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| format!("body is not base64: {e}"))?
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_in_common_log_format() {
        assert_eq!(clf_time(1_583_348_638_390), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn paths_split_into_function_and_raw_path() {
        assert_eq!(split_path("/url/hello"), Some(("hello", "/")));
        assert_eq!(split_path("/url/hello/"), Some(("hello", "/")));
        assert_eq!(split_path("/url/hello:live/a/b%20c"), Some(("hello:live", "/a/b%20c")));
        assert_eq!(split_path("/url/"), None);
    }

    #[test]
    fn requests_become_payload_2_events() {
        let uri: Uri = "/url/hello/items/7?a=1&a=2&b=x%20y".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9001"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("test/1"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2"));
        let req = HttpRequest {
            method: "POST",
            uri: &uri,
            raw_path: "/items/7",
            version: Version::HTTP_11,
            headers: &headers,
            body: &[0, 159, 146, 150],
            peer: "127.0.0.1:50000".parse().unwrap(),
            port: 9001,
        };
        let e = req.event("id-1", 1_583_348_638_390).unwrap();
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/items/7");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%20y");
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["headers"]["x-multi"], "1,2");
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        let ctx = &e["requestContext"];
        assert_eq!(ctx["http"]["method"], "POST");
        assert_eq!(ctx["http"]["path"], "/items/7");
        assert_eq!(ctx["http"]["protocol"], "HTTP/1.1");
        assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(ctx["http"]["userAgent"], "test/1");
        assert_eq!(ctx["requestId"], "id-1");
        assert_eq!(ctx["time"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(ctx["timeEpoch"], 1_583_348_638_390u64);
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ+Slg==");
    }

    #[test]
    fn text_bodies_stay_text() {
        assert!(is_text(Some("application/json; charset=utf-8")));
        assert!(is_text(Some("text/plain")));
        assert!(is_text(Some("application/vnd.api+json")));
        assert!(!is_text(Some("image/png")));
        assert!(!is_text(None));
    }

    fn parts(r: Response) -> (StatusCode, HeaderMap) {
        (r.status(), r.headers().clone())
    }

    #[test]
    fn answers_become_responses() {
        let (status, headers) = parts(to_response(br#"{"message":"hi"}"#).unwrap());
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let (status, _) = parts(to_response(br#""Hello, world!""#).unwrap());
        assert_eq!(status, StatusCode::OK);
        let custom = br#"{"statusCode": 201, "headers": {"X-Custom": "v", "Content-Type": "text/plain"},
            "cookies": ["a=1; Max-Age=60", "b=2"], "body": "aGk=", "isBase64Encoded": true}"#;
        let (status, headers) = parts(to_response(custom).unwrap());
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers["x-custom"], "v");
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; Max-Age=60", "b=2"]);
        assert!(to_response(br#"{"statusCode": 42}"#).is_err());
        assert!(to_response(b"not json").is_err());
        assert!(to_response(br#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#).is_err());
    }
}
