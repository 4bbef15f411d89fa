//! Application Insights: one component (application id [`APP_ID`](super::APP_ID), connection
//! string [`connection_string`](super::connection_string)) holding `requests` and `traces`
//! rows, recorded by the function hosts for apps whose `APPLICATIONINSIGHTS_CONNECTION_STRING`
//! names it (as the Functions host does: `cloud_RoleName` is the app, or `{app}-{slot}`,
//! lowercased; `customDimensions.InvocationId`), or seeded by tests; and `Query_Execute`
//! (`POST /v1/apps/{appId}/query`, body `{query, timespan}`) answering `queryResults`.
//!
//! Queries are evaluated over the stored rows, in the KQL subset the provider sends: a table
//! (`requests`, `traces`), then `| where` (predicates joined by `and`: `==`, `=~`, `!=`, `<`,
//! `<=`, `>`, `>=` against `datetime(…)`, `'string'` or number literals, `in~ (…)`,
//! `contains`, `contains_cs`), `| project` of columns, `| order by` / `sort by` columns `asc`/`desc`, and
//! `| take` / `limit`, and `| extend {name} = ingestion_time()` (each row reaches the store when
//! it was recorded plus the fake's ingestion delay, and is invisible before). Anything else is refused as the service refuses a query:
//! `400` with `error{code: BadArgumentError, innererror{code: SyntaxError | SemanticError}}`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Value, json};

use super::kql::{Op, Refusal, holds, order, parse};
use super::state::State;
use crate::metrics::{iso8601, parse_iso8601};

/// The columns both tables have (names and types of `examples/query-schema.json`).
const COMMON: &[(&str, &str)] = &[
    ("timestamp", "datetime"),
    ("customDimensions", "dynamic"),
    ("operation_Name", "string"),
    ("operation_Id", "string"),
    ("cloud_RoleName", "string"),
    ("appId", "string"),
    ("itemId", "string"),
    ("itemCount", "int"),
];
/// The columns only `requests` has.
const REQUESTS: &[(&str, &str)] = &[
    ("id", "string"),
    ("name", "string"),
    ("success", "bool"),
    ("resultCode", "string"),
    ("duration", "real"),
];
/// The columns only `traces` has.
const TRACES: &[(&str, &str)] = &[("message", "string"), ("severityLevel", "int")];

pub(crate) type Row = BTreeMap<String, Value>;

/// A row's hidden member: when it reaches the store (ms), what `ingestion_time()` gives.
pub(crate) const INGESTED: &str = "_ingested";

/// The component's telemetry.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    pub requests: Vec<Row>,
    pub traces: Vec<Row>,
}

pub(super) fn schema(table: &str) -> Option<Vec<(&'static str, &'static str)>> {
    let own = match table {
        "requests" => REQUESTS,
        "traces" => TRACES,
        _ => return None,
    };
    Some(COMMON.iter().chain(own).copied().collect())
}

fn refused(kind: &str, message: &str) -> Response {
    let body = json!({"error": {"message": "The request had some invalid properties", "code": "BadArgumentError",
        "innererror": {"code": kind, "message": message}}});
    (axum::http::StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

use axum::response::IntoResponse;

/// `Query_Execute` on application `app_id`.
pub(super) fn query(s: &State, app_id: &str, body: &Value) -> Response {
    if app_id != super::APP_ID {
        let body = json!({"error": {"message": "The requested path does not exist", "code": "PathNotFoundError"}});
        return (axum::http::StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let Some(q) = body["query"].as_str() else {
        return refused("SyntaxError", "the body needs a query");
    };
    let span = match body["timespan"].as_str() {
        None => None,
        Some(t) => match t
            .split_once('/')
            .and_then(|(a, b)| Some((parse_iso8601(a)?, parse_iso8601(b)?)))
        {
            Some(span) => Some(span),
            None => return refused("SyntaxError", &format!("the fake reads start/end timespans, not {t:?}")),
        },
    };
    let (table, ops, columns) = match parse(q) {
        Ok(parsed) => parsed,
        Err(Refusal::Syntax(m)) => return refused("SyntaxError", &m),
        Err(Refusal::Semantic(m)) => return refused("SemanticError", &m),
    };
    let stored = if table == "requests" {
        &s.telemetry.requests
    } else {
        &s.telemetry.traces
    };
    let now = faas_core::observe::now_ms();
    let mut rows: Vec<Row> = stored
        .iter()
        // Not yet ingested: not to be seen.
        .filter(|r| r.get(INGESTED).and_then(Value::as_u64).is_none_or(|t| t <= now))
        .filter(|r| {
            span.is_none_or(|(from, to)| {
                r.get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_iso8601)
                    .is_some_and(|t| (from..to).contains(&t))
            })
        })
        .cloned()
        .collect();
    let mut shown: Vec<String> = columns
        .iter()
        .filter(|(n, _)| schema(&table).is_some_and(|own| own.iter().any(|(o, _)| o == n)))
        .map(|(n, _)| n.clone())
        .collect();
    for op in ops {
        match op {
            Op::Where(preds) => rows.retain(|r| preds.iter().all(|p| holds(r, p))),
            Op::Project(cols) => shown = cols,
            Op::Order(keys) => rows.sort_by(|a, b| {
                keys.iter()
                    .map(|(k, asc)| {
                        let o = order(a.get(k), b.get(k));
                        if *asc { o } else { o.reverse() }
                    })
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            }),
            Op::Take(n) => rows.truncate(n),
            Op::Extend(name) => {
                for r in &mut rows {
                    let at = r.get(INGESTED).and_then(Value::as_u64).map(|t| json!(iso8601(t)));
                    let at = at.or_else(|| r.get("timestamp").cloned()).unwrap_or(Value::Null);
                    r.insert(name.clone(), at);
                }
                shown.push(name);
            }
        }
    }
    let kind = |c: &str| columns.iter().find(|(n, _)| n == c).map_or("string", |(_, t)| *t);
    super::wire::ok(json!({"tables": [{
        "name": "PrimaryResult",
        "columns": shown.iter().map(|c| json!({"name": c, "type": kind(c)})).collect::<Vec<_>>(),
        "rows": rows.iter().map(|r| shown.iter().map(|c| r.get(c).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>()).collect::<Vec<_>>(),
    }]}))
}

/// One invocation as the Functions host reports it to Application Insights: a `requests`
/// row and `traces` rows (`Executing …`, the handler's `lines`, `Executed …`), when `host`'s
/// connection string names the fake's component.
pub(super) fn record(s: &mut State, host: &str, function: &str, status: u16, duration_ms: f64, lines: &[String]) {
    let connected = s
        .sites
        .get(host)
        .and_then(|site| site.settings.get(crate::app_insights::CONNECTION_STRING))
        .is_some_and(|cs| cs.contains(super::INSTRUMENTATION_KEY));
    if !connected {
        return;
    }
    let end = faas_core::observe::now_ms();
    let start = end.saturating_sub(duration_ms as u64);
    let ingested = end + s.ingestion_delay.as_millis() as u64;
    let mut guid = || {
        let (a, b) = (s.rng.u64(..), s.rng.u64(..));
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    };
    let invocation = guid();
    let operation = guid().replace('-', "");
    let role = host.to_ascii_lowercase();
    let ok = status < 400;
    let common = |at: u64, item: String, category: &str, level: &str| -> Row {
        [
            ("timestamp", json!(iso8601(at))),
            ("operation_Name", json!(function)),
            ("operation_Id", json!(operation)),
            ("cloud_RoleName", json!(role)),
            ("appId", json!(super::APP_ID)),
            ("itemId", json!(item)),
            ("itemCount", json!(1)),
            (INGESTED, json!(ingested)),
            (
                "customDimensions",
                json!({"InvocationId": invocation, "Category": category, "LogLevel": level}),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };
    let mut request = common(start, guid(), &format!("Function.{function}"), "Information");
    request.insert("id".into(), json!(guid()));
    request.insert("name".into(), json!(function));
    request.insert("success".into(), json!(ok));
    request.insert("resultCode".into(), json!(status.to_string()));
    request.insert("duration".into(), json!(duration_ms));
    s.telemetry.requests.push(request);
    let mut trace = |at: u64, message: String, category: String, level: &str, severity: u8| {
        let mut row = common(at, guid(), &category, level);
        row.insert("message".into(), json!(message));
        row.insert("severityLevel".into(), json!(severity));
        row
    };
    let mut rows = vec![trace(
        start,
        format!(
            "Executing 'Functions.{function}' (Reason='This function was programmatically called via the host APIs.', Id={invocation})"
        ),
        format!("Function.{function}"),
        "Information",
        1,
    )];
    for line in lines {
        rows.push(trace(
            start,
            line.clone(),
            format!("Function.{function}.User"),
            "Information",
            1,
        ));
    }
    rows.push(trace(
        end,
        format!(
            "Executed 'Functions.{function}' ({}, Id={invocation}, Duration={}ms)",
            if ok { "Succeeded" } else { "Failed" },
            duration_ms as u64
        ),
        format!("Function.{function}"),
        if ok { "Information" } else { "Error" },
        if ok { 1 } else { 3 },
    ));
    s.telemetry.traces.extend(rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(s: &State, q: &str) -> (u16, Value) {
        let resp = query(s, super::super::APP_ID, &json!({"query": q}));
        let status = resp.status().as_u16();
        let bytes = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)).unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn state() -> State {
        let mut s = State::new("https://127.0.0.1:1");
        for (i, (role, d)) in [("app", 30.0), ("app", 10.0), ("app-staging", 20.0)].iter().enumerate() {
            let row: Row = [
                ("timestamp", json!(iso8601(1_764_594_000_000 + i as u64 * 1000))),
                ("cloud_RoleName", json!(role)),
                ("duration", json!(d)),
                ("itemId", json!(format!("i{i}"))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            s.telemetry.requests.push(row);
        }
        s
    }

    #[test]
    fn evaluates_the_subset_and_refuses_the_rest() {
        let s = state();
        let (status, v) = ask(
            &s,
            "requests | where timestamp >= datetime(2025-12-01T13:00:00Z) and cloud_RoleName =~ 'APP' | project duration, itemId | order by duration asc | take 5",
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["tables"][0]["rows"], json!([[10.0, "i1"], [30.0, "i0"]]));
        assert_eq!(
            v["tables"][0]["columns"][0],
            json!({"name": "duration", "type": "real"})
        );
        let (_, v) = ask(&s, "requests | where cloud_RoleName contains_cs 'APP'");
        assert_eq!(v["tables"][0]["rows"], json!([]));
        let (_, v) = ask(&s, "requests | where cloud_RoleName contains 'APP-'");
        assert_eq!(v["tables"][0]["rows"].as_array().unwrap().len(), 1);
        let (_, v) = ask(&s, "requests | where cloud_RoleName in~ ('app-staging', 'x') | take 1");
        assert_eq!(v["tables"][0]["rows"].as_array().unwrap().len(), 1);
        for (bad, kind) in [
            ("requests | summarize count()", "SyntaxError"),
            ("requests | where duration > 1 or duration < 1", "SyntaxError"),
            ("pageViews | take 1", "SemanticError"),
            ("requests | project nope", "SemanticError"),
            ("requests | where x == 'it", "SyntaxError"),
        ] {
            let (status, v) = ask(&s, bad);
            assert_eq!(
                (status, v["error"]["innererror"]["code"].as_str()),
                (400, Some(kind)),
                "{bad}: {v}"
            );
            assert_eq!(v["error"]["code"], "BadArgumentError");
        }
        // ingestion_time(): when a row reached the store; rows not there yet are not seen.
        let mut s = s;
        s.telemetry.requests[0].insert(INGESTED.into(), json!(1_764_594_100_000u64));
        s.telemetry.requests[1].insert(INGESTED.into(), json!(u64::MAX));
        let (status, v) = ask(
            &s,
            "requests | extend got = ingestion_time() | where got >= datetime(2025-12-01T13:01:40Z) | project itemId, got",
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["tables"][0]["rows"], json!([["i0", "2025-12-01T13:01:40Z"]]));
        assert_eq!(v["tables"][0]["columns"][1]["type"], "datetime");
        let (status, _) = ask(&s, "requests | project got | extend got = ingestion_time()");
        assert_eq!(status, 400, "a column used before it is made");
        let resp = query(
            &s,
            "00000000-0000-0000-0000-000000000000",
            &json!({"query": "requests"}),
        );
        assert_eq!(resp.status().as_u16(), 404);
    }
}
