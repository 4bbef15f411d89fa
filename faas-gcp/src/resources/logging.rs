//! Cloud Logging v2 schemas (`https://logging.googleapis.com/$discovery/rest?version=v2`):
//! `entries.list` — `ListLogEntriesRequest`, `ListLogEntriesResponse`, `LogEntry` with its
//! `LogSeverity` values, `HttpRequest` and `MonitoredResource` — the parts we send and read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::monitoring::Labelled;

/// `ListLogEntriesRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListLogEntriesRequest {
    /// `projects/{project}`.
    pub resource_names: Vec<String>,
    /// A Logging query language filter.
    pub filter: String,
    /// `timestamp asc` (the default) or `timestamp desc`.
    pub order_by: String,
    /// At most this many entries (the API takes at most 1000).
    pub page_size: u32,
    /// The previous answer's `nextPageToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// `ListLogEntriesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListLogEntriesResponse {
    /// The entries, in `orderBy` order.
    pub entries: Vec<LogEntry>,
    /// Set when there may be more: the next call's `pageToken`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `LogEntry`, the parts we read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LogEntry {
    /// `projects/{p}/logs/run.googleapis.com%2Fstdout`, …
    pub log_name: String,
    /// `MonitoredResource` (`cloud_run_revision`: `service_name`, `revision_name`, `location`).
    pub resource: Labelled,
    /// When the event happened (RFC 3339).
    pub timestamp: String,
    /// `LogSeverity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<LogSeverity>,
    /// A unique id among entries with the same timestamp.
    pub insert_id: String,
    /// The request, on request logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    /// User-defined labels (Cloud Run functions put `execution_id` here).
    pub labels: BTreeMap<String, String>,
    /// A text payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_payload: Option<String>,
    /// A structured payload (`message` is the line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_payload: Option<Value>,
    /// `projects/{p}/traces/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// `HttpRequest`, the parts we read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct HttpRequest {
    /// `GET`, `POST`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_method: Option<String>,
    /// The URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_url: Option<String>,
    /// The response code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long it took (`0.123s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
}

api_enum! {
    /// `LogSeverity`.
    LogSeverity {
        Default = "DEFAULT",
        Debug = "DEBUG",
        Info = "INFO",
        Notice = "NOTICE",
        Warning = "WARNING",
        Error = "ERROR",
        Critical = "CRITICAL",
        Alert = "ALERT",
        Emergency = "EMERGENCY",
    }
}
