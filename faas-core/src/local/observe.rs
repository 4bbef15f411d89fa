//! The local provider's metrics and logs, read from its invocation [`History`], and the
//! recording of each invocation into it.

use super::history::{Cursor, History, InvocationRecord};
use super::store::FunctionRecord;
use crate::observe::{InvocationSample, LogLevel, LogPage, LogQuery, LogRecord, Metrics, MetricsQuery, now_ms};
use crate::{Error, FunctionSpec, Invocation, Qualifier, ResourceKind, Result, spec::REDACTED};

/// Where the local figures come from.
pub(super) const SOURCE: &str = "local invocation history";

/// The record of one finished invocation: its figures, and its log lines with the spec's
/// secret values masked.
pub(super) fn record_of(
    spec: &FunctionSpec,
    via: Option<String>,
    start_ms: u64,
    inv: &Invocation,
) -> Option<InvocationRecord> {
    let report = inv.report?;
    let request_id = inv
        .log_tail
        .as_deref()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("START RequestId: ")))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let secrets: Vec<&str> = spec
        .secret_env
        .iter()
        .filter_map(|k| spec.environment.get(k).map(String::as_str))
        .filter(|v| !v.is_empty())
        .collect();
    let mask = |line: &str| secrets.iter().fold(line.to_string(), |acc, s| acc.replace(s, REDACTED));
    Some(InvocationRecord {
        request_id,
        version: inv.executed_version.clone().unwrap_or_default(),
        via,
        start_ms,
        end_ms: start_ms + inv.elapsed.as_millis() as u64,
        duration_ms: report.duration_ms,
        billed_ms: report.billed_duration_ms,
        init_ms: report.init_duration_ms,
        max_memory_mb: Some(report.max_memory_used_mb),
        error_type: inv.function_error.as_ref().map(|e| e.error_type.clone()),
        logs: inv.log_tail.as_deref().unwrap_or_default().lines().map(mask).collect(),
        throttled: false,
    })
}

/// Records a finished invocation in the history; a history that cannot be written costs a
/// warning, never the invocation's answer.
pub(super) struct Recorder {
    pub history: History,
    pub spec: FunctionSpec,
    pub via: Option<String>,
    pub start_ms: u64,
}

impl Recorder {
    pub fn record(&self, inv: &Invocation) {
        if let Some(r) = record_of(&self.spec, self.via.clone(), self.start_ms, inv)
            && let Err(e) = self.history.append(&self.spec.name, &r)
        {
            tracing::warn!(function = %self.spec.name, error = %e, "could not record the invocation");
        }
    }

    /// Records an invocation refused for lack of concurrency (Lambda's `Throttles`).
    pub fn throttled(&self, version: &str) {
        let r = InvocationRecord {
            request_id: String::new(),
            version: version.to_string(),
            via: self.via.clone(),
            start_ms: self.start_ms,
            end_ms: self.start_ms,
            duration_ms: 0.0,
            billed_ms: 0,
            init_ms: None,
            max_memory_mb: None,
            error_type: None,
            logs: Vec::new(),
            throttled: true,
        };
        if let Err(e) = self.history.append(&self.spec.name, &r) {
            tracing::warn!(function = %self.spec.name, error = %e, "could not record the throttle");
        }
    }
}

/// Which records a qualifier selects; an unknown version or label is `NotFound`.
enum Selection {
    All,
    Version(String),
    Label(String),
}

impl Selection {
    fn of(rec: &FunctionRecord, qualifier: Option<&str>) -> Result<Selection> {
        let name = &rec.spec.name;
        Ok(match Qualifier::parse_opt(qualifier)? {
            _ if qualifier.is_none() => Selection::All,
            Qualifier::Latest => Selection::Version(super::LATEST.into()),
            Qualifier::Version(v) => {
                if !rec.versions.iter().any(|x| x.id == v) {
                    return Err(Error::not_found(ResourceKind::Version, format!("{name}:{v}"), None));
                }
                Selection::Version(v)
            }
            Qualifier::Label(l) => {
                if !rec.labels.contains_key(&l) {
                    return Err(Error::not_found(ResourceKind::Label, format!("{name}@{l}"), None));
                }
                Selection::Label(l)
            }
        })
    }

    fn selects(&self, r: &InvocationRecord) -> bool {
        match self {
            Selection::All => true,
            Selection::Version(v) => &r.version == v,
            Selection::Label(l) => r.via.as_deref() == Some(l),
        }
    }
}

/// The figures of `query` from the history.
pub(super) fn metrics(history: &History, rec: &FunctionRecord, query: &MetricsQuery) -> Result<Metrics> {
    let selection = Selection::of(rec, query.qualifier.as_deref())?;
    let (records, _) = history
        .read(&rec.spec.name, Cursor::default())
        .map_err(|e| Error::io("invocation history", e))?;
    let samples: Vec<InvocationSample> = records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| selection.selects(r))
        .map(|r| InvocationSample {
            start_ms: r.start_ms,
            version: r.version.clone(),
            duration_ms: r.duration_ms,
            init_ms: r.init_ms,
            max_memory_mb: r.max_memory_mb,
            error: r.error_type.is_some(),
            throttled: r.throttled,
        })
        .collect();
    Ok(Metrics::from_samples(
        &rec.spec.name,
        query.qualifier.clone(),
        query.window,
        &samples,
        SOURCE,
    ))
}

/// One page of log lines of `query` from the history.
pub(super) fn logs(history: &History, rec: &FunctionRecord, query: &LogQuery) -> Result<LogPage> {
    let selection = Selection::of(rec, query.qualifier.as_deref())?;
    let from = match &query.cursor {
        None => Cursor::default(),
        Some(text) => Cursor::parse(text).ok_or_else(|| {
            Error::invalid(
                "cursor",
                text,
                "not a cursor this provider returned: pass LogPage::cursor as it came",
            )
        })?,
    };
    let (records, end) = history
        .read(&rec.spec.name, from)
        .map_err(|e| Error::io("invocation history", e))?;
    let mut page = LogPage::default();
    for (at, r) in &records {
        for (i, line) in r.logs.iter().enumerate().skip(at.line) {
            if page.records.len() == query.limit {
                page.cursor = Some(Cursor { line: i, ..*at }.to_string());
                return Ok(page);
            }
            let closing = line.starts_with("END RequestId:") || line.starts_with("REPORT RequestId:");
            let time_ms = if closing { r.end_ms } else { r.start_ms };
            let wanted = selection.selects(r)
                && query.window.contains(time_ms)
                && query.filter.as_deref().is_none_or(|f| line.contains(f));
            if wanted {
                page.records.push(LogRecord {
                    time_ms,
                    request_id: Some(r.request_id.clone()).filter(|id| !id.is_empty()),
                    version: Some(r.version.clone()),
                    level: LogLevel::sniff(line)
                        .or_else(|| (closing || line.starts_with("START ")).then_some(LogLevel::Info)),
                    message: line.clone(),
                });
            }
        }
    }
    page.cursor = Some(end.to_string());
    Ok(page)
}

/// Now, for the start of an invocation.
pub(super) fn started_ms() -> u64 {
    now_ms()
}
