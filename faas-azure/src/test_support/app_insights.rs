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

fn schema(table: &str) -> Option<Vec<(&'static str, &'static str)>> {
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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Time(u64),
    Sym(String),
}

fn lex(q: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if word == "datetime" && c.get(i) == Some(&'(') {
                let end = c[i..].iter().position(|x| *x == ')').ok_or("unclosed datetime(")? + i;
                let text: String = c[i + 1..end].iter().collect();
                out.push(Tok::Time(
                    parse_iso8601(&text).ok_or(format!("bad datetime literal {text:?}"))?,
                ));
                i = end + 1;
            } else if word == "in" && c.get(i) == Some(&'~') {
                out.push(Tok::Sym("in~".into()));
                i += 1;
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            let start = i;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let n: String = c[start..i].iter().collect();
            out.push(Tok::Num(n.parse().map_err(|_| format!("bad number {n}"))?));
        } else if ch == '\'' || ch == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        s.push(match c.get(i + 1) {
                            Some('n') => '\n',
                            Some('r') => '\r',
                            Some('t') => '\t',
                            Some(x) => *x,
                            None => return Err("unterminated string literal".into()),
                        });
                        i += 2;
                    }
                    Some(x) if *x == ch => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        s.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if [">=", "<=", "==", "=~", "!="].contains(&two.as_str()) {
                out.push(Tok::Sym(two));
                i += 2;
            } else if "|,()<>=".contains(ch) {
                out.push(Tok::Sym(ch.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {ch:?}"));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Pred {
    Cmp(String, String, Tok),
    In(String, Vec<Tok>),
    /// The column, the text, whether case counts (`contains_cs`).
    Contains(String, String, bool),
}

#[derive(Debug, Clone)]
enum Op {
    Where(Vec<Pred>),
    Project(Vec<String>),
    Order(Vec<(String, bool)>),
    Take(usize),
    /// `extend {name} = ingestion_time()`.
    Extend(String),
}

/// A parse error is a `SyntaxError`, an unknown name a `SemanticError`.
enum Refusal {
    Syntax(String),
    Semantic(String),
}

/// `c` if it is one of `columns`.
fn known(columns: &[(String, &'static str)], c: &str) -> Result<String, Refusal> {
    if columns.iter().any(|(n, _)| n == c) {
        Ok(c.to_string())
    } else {
        Err(Refusal::Semantic(format!(
            "Failed to resolve scalar expression named '{c}'"
        )))
    }
}

/// The table, the operators, and the columns (with the extended ones) and their types.
type Parsed = (String, Vec<Op>, Vec<(String, &'static str)>);

fn parse(q: &str) -> Result<Parsed, Refusal> {
    let toks = lex(q).map_err(Refusal::Syntax)?;
    let mut parts = toks.split(|t| *t == Tok::Sym("|".into()));
    let table = match parts.next() {
        Some([Tok::Ident(t)]) => t.clone(),
        _ => return Err(Refusal::Syntax("a query starts with a table name".into())),
    };
    let mut columns: Vec<(String, &'static str)> = schema(&table)
        .ok_or_else(|| Refusal::Semantic(format!("Failed to resolve table or column expression named '{table}'")))?
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect();
    let mut ops = Vec::new();
    for part in parts {
        let syntax = || Refusal::Syntax(format!("Query could not be parsed at {part:?}"));
        let op = match part {
            [Tok::Ident(w), rest @ ..] if w == "where" => {
                let mut preds = Vec::new();
                for clause in rest.split(|t| *t == Tok::Ident("and".into())) {
                    preds.push(match clause {
                        [
                            Tok::Ident(c),
                            Tok::Sym(op),
                            lit @ (Tok::Str(_) | Tok::Num(_) | Tok::Time(_)),
                        ] if op != "in~" => Pred::Cmp(known(&columns, c)?, op.clone(), lit.clone()),
                        [Tok::Ident(c), Tok::Ident(k), Tok::Str(s)] if k == "contains" || k == "contains_cs" => {
                            Pred::Contains(known(&columns, c)?, s.clone(), k == "contains_cs")
                        }
                        [Tok::Ident(c), Tok::Sym(k), Tok::Sym(open), list @ .., Tok::Sym(close)]
                            if k == "in~" && open == "(" && close == ")" =>
                        {
                            let values: Vec<Tok> =
                                list.iter().filter(|t| **t != Tok::Sym(",".into())).cloned().collect();
                            if values.iter().any(|v| !matches!(v, Tok::Str(_))) {
                                return Err(syntax());
                            }
                            Pred::In(known(&columns, c)?, values)
                        }
                        _ => return Err(syntax()),
                    });
                }
                Op::Where(preds)
            }
            [Tok::Ident(w), rest @ ..] if w == "project" => {
                let mut cols = Vec::new();
                for item in rest.split(|t| *t == Tok::Sym(",".into())) {
                    match item {
                        [Tok::Ident(c)] => cols.push(known(&columns, c)?),
                        _ => return Err(syntax()),
                    }
                }
                Op::Project(cols)
            }
            [Tok::Ident(w), Tok::Ident(by), rest @ ..] if (w == "order" || w == "sort") && by == "by" => {
                let mut keys = Vec::new();
                for item in rest.split(|t| *t == Tok::Sym(",".into())) {
                    match item {
                        [Tok::Ident(c)] => keys.push((known(&columns, c)?, false)),
                        [Tok::Ident(c), Tok::Ident(d)] if d == "asc" || d == "desc" => {
                            keys.push((known(&columns, c)?, d == "asc"))
                        }
                        _ => return Err(syntax()),
                    }
                }
                Op::Order(keys)
            }
            [Tok::Ident(w), Tok::Num(n)] if (w == "take" || w == "limit") && n.fract() == 0.0 => Op::Take(*n as usize),
            [
                Tok::Ident(w),
                Tok::Ident(name),
                Tok::Sym(eq),
                Tok::Ident(f),
                Tok::Sym(open),
                Tok::Sym(close),
            ] if w == "extend" && eq == "=" && f == "ingestion_time" && open == "(" && close == ")" => {
                columns.push((name.clone(), "datetime"));
                Op::Extend(name.clone())
            }
            _ => return Err(syntax()),
        };
        ops.push(op);
    }
    Ok((table, ops, columns))
}

/// A comparable view of a cell: times as ms, numbers, text.
fn cmp_cell(v: Option<&Value>, lit: &Tok) -> Option<Ordering> {
    match (v?, lit) {
        (Value::String(s), Tok::Time(ms)) => parse_iso8601(s).map(|t| t.cmp(ms)),
        (Value::Number(n), Tok::Num(x)) => n.as_f64()?.partial_cmp(x),
        (Value::String(s), Tok::Str(x)) => Some(s.as_str().cmp(x.as_str())),
        (Value::Bool(b), Tok::Ident(x)) => Some(b.to_string().cmp(x)),
        _ => None,
    }
}

fn holds(row: &Row, p: &Pred) -> bool {
    match p {
        Pred::Cmp(c, op, lit) => {
            let v = row.get(c);
            if op == "=~" {
                return matches!((v, lit), (Some(Value::String(s)), Tok::Str(x)) if s.eq_ignore_ascii_case(x));
            }
            let Some(o) = cmp_cell(v, lit) else { return false };
            match op.as_str() {
                "==" => o == Ordering::Equal,
                "!=" => o != Ordering::Equal,
                "<" => o == Ordering::Less,
                "<=" => o != Ordering::Greater,
                ">" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }
        }
        Pred::In(c, values) => row.get(c).and_then(Value::as_str).is_some_and(|s| {
            values
                .iter()
                .any(|v| matches!(v, Tok::Str(x) if x.eq_ignore_ascii_case(s)))
        }),
        Pred::Contains(c, text, case) => row.get(c).and_then(Value::as_str).is_some_and(|s| {
            if *case {
                s.contains(text.as_str())
            } else {
                s.to_lowercase().contains(&text.to_lowercase())
            }
        }),
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => match (parse_iso8601(x), parse_iso8601(y)) {
            (Some(p), Some(q)) => p.cmp(&q).then(x.cmp(y)),
            _ => x.cmp(y),
        },
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

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
