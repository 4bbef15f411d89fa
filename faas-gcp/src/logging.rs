//! Cloud Logging v2 `entries.list` on a function's Cloud Run revisions, read as
//! [`LogRecord`]s: the time, the severity, the line (`textPayload`, else
//! `jsonPayload.message`), the request (the `execution_id` label Cloud Functions sets, else the
//! trace id) and the version (`resource.labels.revision_name`), with secret values masked.
//!
//! The cursor is `page:{nextPageToken}` while Logging has more pages, then
//! `after:{ms}:{insertId,…}`: the next call reads from that millisecond on and skips the
//! entries already returned at it, so that following the logs yields each entry once.

use faas_core::observe::{LogLevel, LogPage, LogQuery, LogRecord};
use faas_core::{Error, ResourceKind, Result};
use reqwest::Method;

use crate::observe::{Scope, quote};
use crate::resources::{ListLogEntriesRequest, ListLogEntriesResponse, LogEntry, LogSeverity};
use crate::rest::{Api, Target, body};
use crate::timestamp::{format_ms, parse_ms};

/// The most entries `entries.list` returns in one page.
const MAX_PAGE: usize = 1000;

/// Cloud Logging v2 for one project and region.
#[derive(Debug, Clone)]
pub(crate) struct Logging {
    /// The authenticated client.
    pub api: Api,
    /// API root, ending in `/v2/`.
    pub base: String,
    /// The project id.
    pub project: String,
    /// The region (the `location` label).
    pub region: String,
}

/// Where a page starts.
enum Cursor {
    Start,
    Page(String),
    After { ms: u64, seen: Vec<String> },
}

impl Cursor {
    fn parse(text: Option<&str>) -> Result<Cursor> {
        let Some(text) = text else {
            return Ok(Cursor::Start);
        };
        let bad = || Error::invalid("cursor", text, "not a cursor this provider returned");
        if let Some(token) = text.strip_prefix("page:") {
            return Ok(Cursor::Page(token.to_string()));
        }
        let rest = text.strip_prefix("after:").ok_or_else(bad)?;
        let (ms, seen) = rest.split_once(':').ok_or_else(bad)?;
        Ok(Cursor::After {
            ms: ms.parse().map_err(|_| bad())?,
            seen: seen.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        })
    }
}

impl Logging {
    /// One page of `query`'s records on `scope`'s revisions, `secrets` masked.
    pub async fn logs(&self, scope: &Scope, query: &LogQuery, secrets: &[String]) -> Result<LogPage> {
        let cursor = Cursor::parse(query.cursor.as_deref())?;
        let (from_ms, seen, token) = match &cursor {
            Cursor::Start => (query.window.start_ms, Vec::new(), None),
            Cursor::Page(t) => (query.window.start_ms, Vec::new(), Some(t.clone())),
            Cursor::After { ms, seen } => ((*ms).max(query.window.start_ms), seen.clone(), None),
        };
        let request = ListLogEntriesRequest {
            resource_names: vec![format!("projects/{}", self.project)],
            filter: self.filter(scope, query, from_ms),
            order_by: "timestamp asc".into(),
            page_size: query.limit.min(MAX_PAGE) as u32,
            page_token: token,
        };
        let answer: ListLogEntriesResponse = self
            .api
            .send(
                Method::POST,
                &format!("{}entries:list", self.base),
                Some(&body(&request)?),
                Target {
                    kind: ResourceKind::Function,
                    name: &scope.function,
                },
            )
            .await?;
        let needle = query.filter.as_deref().unwrap_or_default();
        let mut records = Vec::new();
        let mut last: Option<(u64, Vec<String>)> = match cursor {
            Cursor::After { ms, seen } => Some((ms, seen)),
            _ => None,
        };
        for e in &answer.entries {
            let Some(time_ms) = parse_ms(&e.timestamp) else {
                continue;
            };
            if time_ms == from_ms && seen.contains(&e.insert_id) {
                continue;
            }
            match &mut last {
                Some((ms, ids)) if *ms == time_ms => ids.push(e.insert_id.clone()),
                _ => last = Some((time_ms, vec![e.insert_id.clone()])),
            }
            let message = mask(&message_of(e), secrets);
            if !message.contains(needle) {
                continue;
            }
            records.push(LogRecord {
                time_ms,
                request_id: request_id(e),
                version: e.resource.labels.get("revision_name").map(|r| scope.version_of(r)),
                level: level(e.severity.as_ref(), &message),
                message,
            });
        }
        let cursor = match answer.next_page_token.filter(|t| !t.is_empty()) {
            Some(t) => format!("page:{t}"),
            None => match last {
                Some((ms, ids)) => format!("after:{ms}:{}", ids.join(",")),
                None => format!("after:{from_ms}:"),
            },
        };
        Ok(LogPage {
            records,
            cursor: Some(cursor),
        })
    }

    /// The Logging query: the service's revisions in the region, the window, the text.
    fn filter(&self, scope: &Scope, query: &LogQuery, from_ms: u64) -> String {
        let mut f = format!(
            "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = {} AND resource.labels.location = {} AND timestamp >= {} AND timestamp < {}",
            quote(&scope.service),
            quote(&self.region),
            quote(&format_ms(from_ms)),
            quote(&format_ms(query.window.end_ms)),
        );
        if let Some(revs) = &scope.revisions {
            let any: Vec<String> = revs
                .iter()
                .map(|r| format!("resource.labels.revision_name = {}", quote(r)))
                .collect();
            f.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(text) = query.filter.as_deref().filter(|t| !t.is_empty()) {
            f.push_str(&format!(
                " AND (textPayload : {q} OR jsonPayload.message : {q})",
                q = quote(text)
            ));
        }
        f
    }
}

/// The line of an entry: its text, its JSON `message` (else the JSON), else its request.
fn message_of(e: &LogEntry) -> String {
    if let Some(t) = &e.text_payload {
        return t.trim_end_matches('\n').to_string();
    }
    if let Some(j) = &e.json_payload {
        return match j.get("message").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => j.to_string(),
        };
    }
    match &e.http_request {
        Some(r) => format!(
            "{} {} {}",
            r.request_method.as_deref().unwrap_or(""),
            r.request_url.as_deref().unwrap_or(""),
            r.status.map(|s| s.to_string()).unwrap_or_default()
        ),
        None => String::new(),
    }
}

/// The request an entry belongs to: `labels.execution_id`, else the trace id.
fn request_id(e: &LogEntry) -> Option<String> {
    e.labels
        .get("execution_id")
        .cloned()
        .or_else(|| {
            e.trace
                .as_deref()
                .and_then(|t| t.rsplit('/').next())
                .map(str::to_string)
        })
        .filter(|id| !id.is_empty())
}

/// The level of a severity; `DEFAULT` (or none) is what the line says, if anything.
fn level(severity: Option<&LogSeverity>, message: &str) -> Option<LogLevel> {
    match severity {
        Some(LogSeverity::Debug) => Some(LogLevel::Debug),
        Some(LogSeverity::Info | LogSeverity::Notice) => Some(LogLevel::Info),
        Some(LogSeverity::Warning) => Some(LogLevel::Warn),
        Some(LogSeverity::Error) => Some(LogLevel::Error),
        Some(LogSeverity::Critical | LogSeverity::Alert | LogSeverity::Emergency) => Some(LogLevel::Fatal),
        Some(LogSeverity::Default | LogSeverity::Other(_)) | None => LogLevel::sniff(message),
    }
}

/// `line` with every one of `secrets` (longest first) shown as `***`.
fn mask(line: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(line.to_string(), |acc, s| acc.replace(s.as_str(), faas_core::REDACTED))
}
