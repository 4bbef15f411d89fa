//! [`LogQuery`] and the [`LogRecord`]s it returns, a page at a time.

use serde::{Deserialize, Serialize};

use super::TimeWindow;
use crate::{Error, Result};

/// The most records one page returns.
pub const MAX_LOG_LIMIT: usize = 10_000;

/// Which log records to read: a function (optionally one version or label), a window, an
/// optional filter (records whose message contains it), at most `limit` records, and for the
/// next page the `cursor` the previous one returned.
///
/// ```
/// use std::time::Duration;
/// use faas_core::observe::{LogQuery, TimeWindow};
/// let q = LogQuery::new("hello", TimeWindow::last(Duration::from_secs(600))).filter("ERROR").limit(50);
/// assert!(q.check().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    /// The function.
    pub function: String,
    /// A version or label; `None`: all.
    pub qualifier: Option<String>,
    /// The window.
    pub window: TimeWindow,
    /// Only records whose message contains this text.
    pub filter: Option<String>,
    /// At most this many records (1–[`MAX_LOG_LIMIT`]).
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl LogQuery {
    /// The first 1,000 records of `function` in `window`.
    pub fn new(function: impl Into<String>, window: TimeWindow) -> LogQuery {
        LogQuery {
            function: function.into(),
            qualifier: None,
            window,
            filter: None,
            limit: 1000,
            cursor: None,
        }
    }

    /// Only `qualifier`'s records.
    pub fn qualifier(mut self, qualifier: impl Into<String>) -> LogQuery {
        self.qualifier = Some(qualifier.into());
        self
    }

    /// Only records containing `text`.
    pub fn filter(mut self, text: impl Into<String>) -> LogQuery {
        self.filter = Some(text.into());
        self
    }

    /// At most `n` records.
    pub fn limit(mut self, n: usize) -> LogQuery {
        self.limit = n;
        self
    }

    /// Checks the window and the limit.
    pub fn check(&self) -> Result<()> {
        self.window.check()?;
        if !(1..=MAX_LOG_LIMIT).contains(&self.limit) {
            return Err(Error::invalid(
                "limit",
                self.limit,
                format!("a page holds 1–{MAX_LOG_LIMIT} records"),
            ));
        }
        Ok(())
    }
}

/// How severe a record is, where the log says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal or critical.
    Fatal,
}

impl LogLevel {
    /// The level a line names in the usual ways (`[ERROR]`, `ERROR:`, `level=error`, a
    /// Python `Traceback`), if any.
    ///
    /// ```
    /// use faas_core::observe::LogLevel;
    /// assert_eq!(LogLevel::sniff("[ERROR] 2024-01-01 boom"), Some(LogLevel::Error));
    /// assert_eq!(LogLevel::sniff("hello"), None);
    /// ```
    pub fn sniff(line: &str) -> Option<LogLevel> {
        let head: String = line.chars().take(48).collect::<String>().to_ascii_uppercase();
        let has = |w: &str| {
            head.match_indices(w).any(|(i, _)| {
                let before = head[..i].chars().next_back();
                let after = head[i + w.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
        };
        if has("FATAL") || has("CRITICAL") {
            Some(LogLevel::Fatal)
        } else if has("ERROR") || head.starts_with("TRACEBACK") {
            Some(LogLevel::Error)
        } else if has("WARN") || has("WARNING") {
            Some(LogLevel::Warn)
        } else if has("INFO") {
            Some(LogLevel::Info)
        } else if has("DEBUG") {
            Some(LogLevel::Debug)
        } else if has("TRACE") {
            Some(LogLevel::Trace)
        } else {
            None
        }
    }
}

/// One log line of one invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When, in ms since the Unix epoch.
    pub time_ms: u64,
    /// The invocation's request id, when known.
    pub request_id: Option<String>,
    /// The version that ran, when known.
    pub version: Option<String>,
    /// The level, when the line says.
    pub level: Option<LogLevel>,
    /// The line (secret values of the function's spec shown as `***`).
    pub message: String,
}

/// One page of records, oldest first, and where the next page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// The records.
    pub records: Vec<LogRecord>,
    /// Pass it as [`LogQuery::cursor`] to read what came after (also what arrives later:
    /// that is how [`ProviderExt::follow_logs`](crate::ProviderExt::follow_logs) follows).
    pub cursor: Option<String>,
}
