//! CloudWatch Logs: a function's log records (`FilterLogEvents` on its log group), a page at a
//! time behind a cursor, and its `REPORT` lines, which carry the figures CloudWatch metrics
//! lack (cold starts, init durations, memory, every duration for exact percentiles).

use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
use base64::Engine;
use faas_core::observe::{LogLevel, LogPage, LogQuery, LogRecord, TimeWindow};
use faas_core::{Error, ExecutionReport, REDACTED, ResourceKind, Result};
use serde_json::{Value, json};

use crate::error::{Target, map};

/// The log group Lambda writes to unless the function's `LoggingConfig` names another.
pub(crate) fn default_log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// The version in a Lambda log stream's name, `2026/12/01/[$LATEST]3f2a…` → `$LATEST`.
pub(crate) fn stream_version(stream: &str) -> Option<&str> {
    let open = stream.find('[')? + 1;
    let close = open + stream[open..].find(']')?;
    Some(&stream[open..close]).filter(|v| !v.is_empty())
}

/// Words that make an environment variable's value secret in log messages (its name, compared
/// without case, contains one). Lambda keeps no record of which variables a spec marked
/// secret, so the name is all there is to go by.
const SECRET_NAME_WORDS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"];

/// Whether a variable named `name` holds a secret, by [`SECRET_NAME_WORDS`].
pub(crate) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_WORDS.iter().any(|w| upper.contains(w))
}

/// Replaces the values of secret-looking environment variables with `***` in log messages.
#[derive(Debug, Default)]
pub(crate) struct Masker {
    /// Longest first, so that a value containing another is replaced whole.
    values: Vec<String>,
}

impl Masker {
    /// Shorter values are not masked: replacing every one- or two-character match would
    /// garble every line (such a value is no secret).
    const MIN_LEN: usize = 3;

    /// The masker for a configuration's environment.
    pub(crate) fn of_env<'a>(env: impl IntoIterator<Item = (&'a String, &'a String)>) -> Masker {
        let mut values: Vec<String> = env
            .into_iter()
            .filter(|(k, v)| looks_secret(k) && v.len() >= Self::MIN_LEN)
            .map(|(_, v)| v.clone())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Masker { values }
    }

    fn mask(&self, line: &str) -> String {
        self.values.iter().fold(line.to_string(), |acc, v| {
            if acc.contains(v.as_str()) {
                acc.replace(v.as_str(), REDACTED)
            } else {
                acc
            }
        })
    }
}

/// Whether `s` looks like a request id (a UUID, or another hex-and-dash id).
fn is_request_id(s: &str) -> bool {
    s.len() >= 8 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Whether `s` starts like an ISO 8601 timestamp (`2026-12-01T…`).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && s.contains('T')
}

/// The request id and level of one line, in the formats Lambda writes: its own
/// `START`/`END`/`REPORT RequestId: …` lines, the runtimes' text format
/// (`timestamp\trequestId\tLEVEL\tmessage`, Python's `[LEVEL]\ttimestamp\trequestId\tmessage`)
/// and the JSON log format (`{"level": …, "requestId": …}`).
fn parse_line(line: &str) -> (Option<String>, Option<LogLevel>) {
    for prefix in ["START RequestId: ", "END RequestId: ", "REPORT RequestId: "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let id = rest.split_whitespace().next().map(str::to_string);
            return (id, LogLevel::sniff(line).or(Some(LogLevel::Info)));
        }
    }
    if line.starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(line)
    {
        let id = v["requestId"]
            .as_str()
            .or_else(|| v["record"]["requestId"].as_str())
            .map(str::to_string);
        let level = v["level"].as_str().and_then(LogLevel::sniff);
        return (id, level);
    }
    let parts: Vec<&str> = line.splitn(4, '\t').collect();
    if let [a, b, c, rest] = parts.as_slice() {
        if is_timestamp(a) && is_request_id(b) {
            return (
                Some(b.to_string()),
                LogLevel::sniff(c).or_else(|| LogLevel::sniff(rest)),
            );
        }
        if a.starts_with('[') && is_timestamp(b) && is_request_id(c) {
            return (
                Some(c.to_string()),
                LogLevel::sniff(a).or_else(|| LogLevel::sniff(rest)),
            );
        }
    }
    (None, LogLevel::sniff(line))
}

/// One event as a [`LogRecord`]: request id and level from the line, version from the
/// stream's name, secret values masked.
fn record(time_ms: u64, stream: Option<&str>, message: &str, masker: &Masker) -> LogRecord {
    let line = message.trim_end_matches(['\n', '\r']);
    let (request_id, level) = parse_line(line);
    LogRecord {
        time_ms,
        request_id,
        version: stream.and_then(stream_version).map(str::to_string),
        level,
        message: masker.mask(line),
    }
}

/// The filter as a CloudWatch Logs filter pattern: its longest run without quotes or
/// backslashes, quoted (an exact-phrase term). The whole filter is then checked on each
/// message, so the pattern only narrows what is read.
fn pattern(filter: &str) -> Option<String> {
    filter
        .split(['"', '\\'])
        .filter(|p| !p.trim().is_empty())
        .max_by_key(|p| p.len())
        .map(|p| format!("\"{p}\""))
}

/// Where a page ended: the last event's timestamp and the ids of the events seen at that
/// timestamp (so that a later page returns only newer events, even once CloudWatch Logs has
/// no `nextToken` left), and the `nextToken` with the time range it belongs to.
#[derive(Debug, Default, Clone, PartialEq)]
struct Cursor {
    after_ms: Option<u64>,
    seen: Vec<String>,
    token: Option<(String, u64, u64)>,
}

const CURSOR_PREFIX: &str = "aws1.";

impl Cursor {
    fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::invalid(
                "cursor",
                text,
                "not a cursor this provider returned: pass LogPage::cursor as it came",
            )
        };
        let bytes = text
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|b| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b).ok())
            .ok_or_else(bad)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let seen = match &v["seen"] {
            Value::Array(ids) => ids
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<Result<_>>()?,
            Value::Null => Vec::new(),
            _ => return Err(bad()),
        };
        let token = match (&v["next"], v["from"].as_u64(), v["to"].as_u64()) {
            (Value::String(t), Some(from), Some(to)) => Some((t.clone(), from, to)),
            (Value::Null, _, _) => None,
            _ => return Err(bad()),
        };
        Ok(Cursor {
            after_ms: v["after"].as_u64(),
            seen,
            token,
        })
    }

    fn encode(&self) -> String {
        let (next, from, to) = match &self.token {
            Some((t, f, u)) => (Some(t.as_str()), Some(*f), Some(*u)),
            None => (None, None, None),
        };
        let v = json!({"after": self.after_ms, "seen": self.seen, "next": next, "from": from, "to": to});
        format!(
            "{CURSOR_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        )
    }

    /// Notes an event as read.
    fn advance(&mut self, time_ms: u64, id: &str) {
        if self.after_ms != Some(time_ms) {
            self.after_ms = Some(time_ms);
            self.seen.clear();
        }
        self.seen.push(id.to_string());
    }

    /// Whether an earlier page returned this event.
    fn already_read(&self, time_ms: u64, id: &str) -> bool {
        self.after_ms
            .is_some_and(|a| time_ms < a || (time_ms == a && self.seen.iter().any(|s| s == id)))
    }
}

/// A `REPORT` line and where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// When it was written (the end of the invocation).
    pub time_ms: u64,
    /// The version, from the stream's name.
    pub version: Option<String>,
    /// What it says.
    pub report: ExecutionReport,
}

/// The CloudWatch Logs side of the provider.
#[derive(Debug, Clone)]
pub(crate) struct Logs {
    pub client: aws_sdk_cloudwatchlogs::Client,
}

/// The largest page FilterLogEvents returns.
const MAX_PAGE: i32 = 10_000;

impl Logs {
    /// One `FilterLogEvents` call (`None`: the log group does not exist).
    async fn filter(
        &self,
        group: &str,
        from_ms: u64,
        to_ms: u64,
        pattern: Option<String>,
        limit: i32,
        token: Option<String>,
    ) -> Result<Option<FilterLogEventsOutput>> {
        // `interleaved` is deprecated: CloudWatch Logs always interleaves the streams and ignores
        // it. moto interleaves only when asked (moto/logs/models.py, LogGroup.filter_log_events),
        // so it is sent, for pages in time order there as well.
        #[allow(deprecated)]
        let req = self.client.filter_log_events().interleaved(true);
        match req
            .log_group_name(group)
            .start_time(from_ms as i64)
            .end_time(to_ms as i64)
            .set_filter_pattern(pattern)
            .limit(limit)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e) => match map(e, target(group)) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// One page of `query`'s records from `group`: after the query's cursor, only messages
    /// containing its filter, only streams of `versions` when given. A missing log group is
    /// an empty page (nothing was logged yet; the caller checked the function exists).
    /// Reads on while a page comes back empty with more to read, so an empty page means
    /// there is nothing more yet.
    pub(crate) async fn page(
        &self,
        group: &str,
        query: &LogQuery,
        versions: Option<&[String]>,
        masker: &Masker,
    ) -> Result<LogPage> {
        let mut cursor = match &query.cursor {
            Some(text) => Cursor::parse(text)?,
            None => Cursor::default(),
        };
        let wanted = |stream: Option<&str>, message: &str| {
            versions.is_none_or(|vs| {
                stream
                    .and_then(stream_version)
                    .is_some_and(|v| vs.iter().any(|x| x == v))
            }) && query.filter.as_deref().is_none_or(|f| message.contains(f))
        };
        let mut page = LogPage::default();
        loop {
            let (from_ms, to_ms, token) = match cursor.token.take() {
                Some((t, from, to)) => (from, to, Some(t)),
                None => (
                    query.window.start_ms.max(cursor.after_ms.unwrap_or(0)),
                    query.window.end_ms - 1,
                    None,
                ),
            };
            if from_ms > to_ms {
                break;
            }
            let limit = query.limit.min(MAX_PAGE as usize) as i32;
            let filter = query.filter.as_deref().and_then(pattern);
            let Some(out) = self.filter(group, from_ms, to_ms, filter, limit, token).await? else {
                break;
            };
            for e in out.events() {
                let (Some(ts), Some(message)) = (e.timestamp(), e.message()) else {
                    continue;
                };
                let ts = ts.max(0) as u64;
                let id = e.event_id().unwrap_or_default();
                if cursor.already_read(ts, id) {
                    continue;
                }
                cursor.advance(ts, id);
                if wanted(e.log_stream_name(), message) && query.window.contains(ts) {
                    page.records.push(record(ts, e.log_stream_name(), message, masker));
                }
            }
            cursor.token = out.next_token().map(|t| (t.to_string(), from_ms, to_ms));
            if !page.records.is_empty() || cursor.token.is_none() {
                break;
            }
        }
        page.cursor = Some(cursor.encode());
        Ok(page)
    }

    /// Every `REPORT` line in `group` within `window` (`None`: the log group does not exist),
    /// in time order.
    pub(crate) async fn reports(&self, group: &str, window: &TimeWindow) -> Result<Option<Vec<Report>>> {
        let mut reports = Vec::new();
        let mut token = None;
        loop {
            let pattern = Some("\"REPORT RequestId\"".to_string());
            let found = self.filter(group, window.start_ms, window.end_ms - 1, pattern, MAX_PAGE, token);
            let Some(out) = found.await? else {
                return Ok(None);
            };
            for e in out.events() {
                if let (Some(ts), Some(report)) = (e.timestamp(), e.message().and_then(ExecutionReport::parse_line)) {
                    reports.push(Report {
                        time_ms: ts.max(0) as u64,
                        version: e.log_stream_name().and_then(stream_version).map(str::to_string),
                        report,
                    });
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(Some(reports))
    }
}

impl crate::AwsProvider {
    /// One page of `query`'s records. Calls: `GetAlias` for a label; `GetFunction` of the
    /// qualified configuration (an unknown function, version or alias is `NotFound`; its
    /// log group; its environment, whose secret-looking values are masked) — for a label,
    /// of each version it routes to; then `FilterLogEvents` (more only while pages come back
    /// empty with more to read).
    pub(crate) async fn read_logs(&self, query: &LogQuery) -> Result<LogPage> {
        use crate::metrics::Scope;
        let function = query.function.as_str();
        let scope = self.scope(function, query.qualifier.as_deref()).await?;
        let qualifiers: Vec<Option<String>> = match &scope {
            Scope::Function => vec![None],
            Scope::Latest => vec![Some("$LATEST".into())],
            Scope::Version(v) => vec![Some(v.clone())],
            Scope::Label { versions, .. } => versions.iter().cloned().map(Some).collect(),
        };
        let mut group = None;
        let mut env: Vec<(String, String)> = Vec::new();
        for q in &qualifiers {
            let observed = self
                .functions
                .observe_qualified(function, q.as_deref())
                .await?
                .ok_or_else(|| match q {
                    Some(v) if matches!(scope, Scope::Version(_)) => {
                        Error::not_found(ResourceKind::Version, format!("{function}:{v}"), None)
                    }
                    _ => Error::not_found(ResourceKind::Function, function, Some("deploy it first".into())),
                })?;
            let config = &observed.config;
            group.get_or_insert_with(|| {
                config
                    .logging_config()
                    .and_then(|l| l.log_group())
                    .map_or_else(|| default_log_group(function), str::to_string)
            });
            if let Some(vars) = config.environment().and_then(|e| e.variables()) {
                env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let group = group.unwrap_or_else(|| default_log_group(function));
        let masker = Masker::of_env(env.iter().map(|(k, v)| (k, v)));
        let versions = match scope {
            Scope::Function => None,
            _ => scope.versions(),
        };
        self.logs.page(&group, query, versions.as_deref(), &masker).await
    }
}

fn target(group: &str) -> Target<'_> {
    Target {
        kind: ResourceKind::Function,
        name: group,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_their_request_and_level() {
        let id = "8f5c3b1e-1d2a-4c8b-9f00-0123456789ab";
        let cases = [
            (format!("START RequestId: {id} Version: 3"), Some(LogLevel::Info)),
            (
                format!("REPORT RequestId: {id}\tDuration: 2.00 ms\tBilled Duration: 2 ms"),
                Some(LogLevel::Info),
            ),
            (
                format!("2026-12-01T10:00:00.000Z\t{id}\tERROR\tInvoke Error {{\"x\":1}}"),
                Some(LogLevel::Error),
            ),
            (
                format!("[WARNING]\t2026-12-01T10:00:00.000Z\t{id}\tlow on memory"),
                Some(LogLevel::Warn),
            ),
            (
                format!(r#"{{"timestamp":"2026-12-01T10:00:00Z","level":"DEBUG","requestId":"{id}","message":"hi"}}"#),
                Some(LogLevel::Debug),
            ),
        ];
        for (line, level) in cases {
            assert_eq!(parse_line(&line), (Some(id.to_string()), level), "{line}");
        }
        assert_eq!(parse_line("plain print output"), (None, None));
        assert_eq!(stream_version("2026/12/01/[$LATEST]abc123"), Some("$LATEST"));
        assert_eq!(stream_version("2026/12/01/[12]abc123"), Some("12"));
        assert_eq!(stream_version("no-version"), None);
    }

    #[test]
    fn secret_looking_values_are_masked() {
        let env: Vec<(String, String)> = [
            ("API_TOKEN", "tok-123456"),
            ("db_password", "hunter22"),
            ("STAGE", "production"),
            ("SHORT_KEY", "ab"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = Masker::of_env(env.iter().map(|(k, v)| (k, v)));
        assert_eq!(
            m.mask("using tok-123456 and hunter22 in production, ab"),
            "using *** and *** in production, ab"
        );
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let mut c = Cursor::default();
        c.advance(10, "a");
        c.advance(10, "b");
        c.token = Some(("group@s@1".into(), 5, 20));
        let back = Cursor::parse(&c.encode()).unwrap();
        assert_eq!(back, c);
        assert!(back.already_read(10, "a") && back.already_read(9, "z") && !back.already_read(10, "c"));
        for bad in ["nope", "aws1.!!", "aws1.e30"] {
            let ok = Cursor::parse(bad);
            // `e30` is `{}`: an empty cursor is a valid start.
            assert_eq!(ok.is_ok(), bad == "aws1.e30", "{bad}");
        }
        assert_eq!(pattern(r#"say "hi" there"#).as_deref(), Some("\" there\""));
        assert_eq!(pattern("  "), None);
    }
}
