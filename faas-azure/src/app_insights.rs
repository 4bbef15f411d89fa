//! The Application Insights data-plane REST API: `Query_Execute`,
//! `POST {api}/v1/apps/{appId}/query` with a `queryBody` (`query`, `timespan`), answered with
//! `queryResults` (`tables[{name, columns[{name, type}], rows}]`) or an `errorResponse`
//! (`error{code, message, details, innererror}`), as
//! `specification/applicationinsights/data-plane/Microsoft.Insights/preview/v1/AppInsights.json`
//! in azure-rest-api-specs describes it. The column names of the `requests` and `traces`
//! tables are those of that directory's `examples/query-schema.json` (`timestamp`, `duration`,
//! `success`, `resultCode`, `itemCount`, `operation_Id`, `cloud_RoleName`, `customDimensions`;
//! `message`, `severityLevel`, `itemId`); `ingestion_time()` is the KQL function giving when a
//! record reached the store.
//!
//! `Query_Execute` is used rather than `Events_GetByType` (`GET /v1/apps/{appId}/events/{type}`,
//! OData): KQL is the interface Application Insights documents today, and the few fixed
//! queries this crate sends ([`requests_query`], [`traces_query`]) use a small, checkable
//! subset of it. Tokens are for `https://api.applicationinsights.io/.default`.
//!
//! The Functions host names the app (`WEBSITE_SITE_NAME`) or, on a slot, `{app}-{slot}`,
//! lowercased, as each record's `cloud_RoleName` (azure-webjobs-sdk
//! `WebJobsRoleEnvironmentTelemetryInitializer`), and puts the invocation id in
//! `customDimensions.InvocationId` (`LogConstants.InvocationIdKey`).

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use faas_core::{Error, ResourceKind, Result, RetryConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arm::transport;

/// The public Application Insights API root.
pub const APP_INSIGHTS_API: &str = "https://api.applicationinsights.io";
/// The scope of Application Insights API tokens.
pub const APP_INSIGHTS_SCOPE: &str = "https://api.applicationinsights.io/.default";
/// The app setting that connects a function app to Application Insights.
pub(crate) const CONNECTION_STRING: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
/// The most rows one query returns (the service's own cap is 500,000).
pub(crate) const MAX_ROWS: usize = 500_000;

/// Which Application Insights resource holds a function app's telemetry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Component {
    /// This application id (the API Access blade's Application ID) for every app.
    AppId(String),
    /// The `ApplicationId=` part of each app's `APPLICATIONINSIGHTS_CONNECTION_STRING`.
    FromAppSettings,
}

/// `queryBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueryBody {
    /// `query`: KQL.
    pub query: String,
    /// `timespan`: an ISO 8601 interval (`start/end`), applied on top of the query's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timespan: Option<String>,
}

/// `queryResults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct QueryResults {
    /// `tables`: the first is `PrimaryResult`.
    pub tables: Vec<Table>,
}

/// `table`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Table {
    /// `name`.
    pub name: String,
    /// `columns`.
    pub columns: Vec<Column>,
    /// `rows`: one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// `column`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Column {
    /// `name`.
    pub name: String,
    /// `type` (`datetime`, `real`, `bool`, `string`, `long`, `int`, `dynamic`).
    #[serde(rename = "type")]
    pub kind: String,
}

impl Table {
    /// The rows as name → value maps.
    pub fn records(&self) -> Vec<Record<'_>> {
        self.rows.iter().map(|row| Record { table: self, row }).collect()
    }
}

/// One row, read by column name; values may come as their JSON type or as strings (the
/// spec types every cell as a string, the service sends numbers and booleans as such).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    table: &'a Table,
    row: &'a [Value],
}

impl Record<'_> {
    /// The cell of column `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.table.columns.iter().position(|c| c.name == name)?;
        self.row.get(i).filter(|v| !v.is_null())
    }

    /// A string cell.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// A number cell.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean cell (`true`, `"True"`, `"false"`…).
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A `datetime` cell as ms since the Unix epoch.
    pub fn time_ms(&self, name: &str) -> Option<u64> {
        crate::metrics::parse_iso8601(self.get(name)?.as_str()?)
    }

    /// A member of a `dynamic` cell (a JSON object, or its text).
    pub fn dimension(&self, name: &str, member: &str) -> Option<String> {
        let v = self.get(name)?;
        let parsed;
        let object = match v {
            Value::String(s) => {
                parsed = serde_json::from_str::<Value>(s).ok()?;
                &parsed
            }
            other => other,
        };
        object.get(member)?.as_str().map(str::to_string)
    }
}

/// The `ApplicationId=` part of a connection string (`Key=value;Key=value`, keys
/// case-insensitive), if it has one.
pub(crate) fn application_id(connection_string: &str) -> Option<String> {
    connection_string.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("ApplicationId") && !v.trim().is_empty()).then(|| v.trim().to_string())
    })
}

/// Whether `id` looks like an application id (a GUID).
pub(crate) fn is_app_id(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A KQL string literal.
pub(crate) fn kql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `role == one of roles` (case-insensitive: the host lowercases role names).
fn roles_clause(roles: &[String]) -> String {
    match roles {
        [one] => format!("cloud_RoleName =~ {}", kql_string(one)),
        many => format!(
            "cloud_RoleName in~ ({})",
            many.iter().map(|r| kql_string(r)).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn window_clause(from_ms: u64, to_ms: u64) -> String {
    format!(
        "timestamp >= datetime({}) and timestamp < datetime({})",
        crate::metrics::iso8601(from_ms),
        crate::metrics::iso8601(to_ms)
    )
}

/// The requests of `role` in `[from, to)`: what a metrics query needs of each invocation.
pub(crate) fn requests_query(role: &str, from_ms: u64, to_ms: u64) -> String {
    format!(
        "requests\n| where {}\n| where {}\n| project timestamp, duration, success, resultCode, itemCount, operation_Id\n| order by timestamp asc\n| take {MAX_ROWS}",
        window_clause(from_ms, to_ms),
        roles_clause(&[role.to_string()]),
    )
}

/// At most `take` trace records of `roles` stamped in `[from, to)`, containing `text`,
/// ingested at or after `ingested_from`, in the order they were ingested
/// (`ingestion_time()`): records arrive late and out of order, so a page boundary must be a
/// point in ingestion time, not in event time.
pub(crate) fn traces_query(
    roles: &[String],
    (from_ms, to_ms): (u64, u64),
    text: Option<&str>,
    ingested_from: u64,
    take: usize,
) -> String {
    let mut q = format!(
        "traces\n| where {}\n| where {}",
        window_clause(from_ms, to_ms),
        roles_clause(roles)
    );
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        q.push_str(&format!("\n| where message contains_cs {}", kql_string(t)));
    }
    q.push_str(&format!(
        "\n| extend ingested = ingestion_time()\n| where ingested >= datetime({})\n| project timestamp, ingested, itemId, message, severityLevel, operation_Id, customDimensions\n| order by ingested asc, timestamp asc, itemId asc\n| take {take}",
        crate::metrics::iso8601(ingested_from)
    ));
    q
}

/// An authenticated Application Insights API client with retries.
#[derive(Clone)]
pub(crate) struct AppInsights {
    pub http: reqwest::Client,
    pub credential: Arc<dyn TokenCredential>,
    pub retry: RetryConfig,
    /// The API root, without a trailing slash.
    pub base: String,
    pub component: Component,
}

impl std::fmt::Debug for AppInsights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppInsights")
            .field("base", &self.base)
            .field("component", &self.component)
            .finish_non_exhaustive()
    }
}

impl AppInsights {
    async fn token(&self) -> Result<String> {
        self.credential
            .get_token(&[APP_INSIGHTS_SCOPE], None)
            .await
            .map(|t| t.token.secret().to_string())
            .map_err(|e| {
                Error::unauthenticated(format!(
                    "no access token for the Application Insights API ({APP_INSIGHTS_SCOPE}): {e}"
                ))
            })
    }

    /// Runs `query` over `timespan` (`start/end`) on application `app_id`, about `function`,
    /// retrying throttling and transient failures; the first table of the answer.
    pub async fn query(&self, app_id: &str, query: String, timespan: String, function: &str) -> Result<Table> {
        let url = format!("{}/v1/apps/{app_id}/query", self.base);
        let body = QueryBody {
            query,
            timespan: Some(timespan),
        };
        let what = format!("POST {url}");
        let results: QueryResults = self
            .retry
            .retry_if(&what, Error::is_transient, || self.once(&url, &body, function))
            .await?;
        results
            .tables
            .into_iter()
            .next()
            .ok_or_else(|| Error::other("InvalidResponse", "Application Insights answered no table", false))
    }

    async fn once(&self, url: &str, body: &QueryBody, function: &str) -> Result<QueryResults> {
        let token = self.token().await?;
        tracing::debug!(%url, "application insights query");
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| transport(&format!("POST {url}"), e))?;
        let status = resp.status().as_u16();
        let retry_after = crate::arm::retry_after(&resp);
        let bytes = resp.bytes().await.map_err(|e| transport(&format!("POST {url}"), e))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::other(
                    "InvalidResponse",
                    format!("Application Insights answered a body that is not queryResults: {e}"),
                    false,
                )
            });
        }
        Err(query_error(status, retry_after, &bytes, function))
    }
}

/// Maps an `errorResponse` (`error{code, message, innererror{code, message, innererror…}}`).
pub(crate) fn query_error(status: u16, retry_after: Option<Duration>, body: &[u8], function: &str) -> Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
    let mut message = v["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    // The innermost error says what was wrong with the query.
    let mut inner = &v["error"]["innererror"];
    while inner.is_object() {
        if let Some(m) = inner["message"].as_str() {
            message.push_str(&format!(": {m}"));
        }
        inner = &inner["innererror"];
    }
    match status {
        401 => Error::unauthenticated(format!("Application Insights refused the token ({code}): {message}")),
        403 => Error::permission_denied(
            Some("the Monitoring Reader (or Reader) role on the Application Insights resource".into()),
            message,
        ),
        404 => Error::not_found(
            ResourceKind::Function,
            function,
            Some(format!(
                "Application Insights has no such application ({code}: {message}): check the application id"
            )),
        ),
        429 => Error::throttled(retry_after, message),
        _ => Error::other(
            if code.is_empty() { status.to_string() } else { code },
            format!("Application Insights query failed: {message}"),
            status >= 500,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_name_the_application() {
        let cs = "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;applicationid=a1b2c3d4-0000-0000-0000-000000000002";
        assert_eq!(
            application_id(cs).as_deref(),
            Some("a1b2c3d4-0000-0000-0000-000000000002")
        );
        assert_eq!(application_id("InstrumentationKey=x"), None);
        assert!(is_app_id("a1b2c3d4-0000-0000-0000-000000000002"));
        assert!(!is_app_id("a1b2c3d4"));
        assert_eq!(kql_string("it's \\ x"), "'it\\'s \\\\ x'");
    }

    #[test]
    fn records_read_typed_and_string_cells() {
        let t: Table = serde_json::from_value(serde_json::json!({
            "name": "PrimaryResult",
            "columns": [{"name": "timestamp", "type": "datetime"}, {"name": "duration", "type": "real"},
                        {"name": "success", "type": "bool"}, {"name": "customDimensions", "type": "dynamic"}],
            "rows": [["2025-12-01T13:00:00.5Z", 12.5, true, {"InvocationId": "i-1"}],
                     ["2025-12-01T13:00:01Z", "7", "False", "{\"InvocationId\":\"i-2\"}"]]
        }))
        .unwrap();
        let r = t.records();
        assert_eq!(r[0].time_ms("timestamp"), Some(1_764_594_000_500));
        assert_eq!(
            (r[0].number("duration"), r[1].number("duration")),
            (Some(12.5), Some(7.0))
        );
        assert_eq!((r[0].flag("success"), r[1].flag("success")), (Some(true), Some(false)));
        assert_eq!(
            r[1].dimension("customDimensions", "InvocationId").as_deref(),
            Some("i-2")
        );
        assert_eq!(r[0].get("missing"), None);
        // The service's timestamps have seven fractional digits.
        assert_eq!(
            crate::metrics::parse_iso8601("2025-12-01T13:00:00.1234567Z"),
            Some(1_764_594_000_123)
        );
    }

    #[test]
    fn errors_map_with_the_innermost_message() {
        let body = serde_json::json!({"error": {"code": "BadArgumentError", "message": "The request had some invalid properties",
            "innererror": {"code": "SyntaxError", "message": "A recognition error occurred in the query.",
                "innererror": {"code": "SYN0002", "message": "Query could not be parsed at 'x'"}}}});
        let e = query_error(400, None, body.to_string().as_bytes(), "f");
        assert!(e.to_string().contains("could not be parsed at 'x'"), "{e}");
        assert!(matches!(query_error(404, None, b"{}", "f"), Error::NotFound { .. }));
        assert!(query_error(503, None, b"busy", "f").is_retryable());
    }
}
