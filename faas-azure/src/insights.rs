//! Metrics and logs from Application Insights, when the provider is configured with it
//! ([`AzureBuilder::application_insights`](crate::AzureBuilder::application_insights)).
//!
//! * **Metrics**: the `requests` records of the app (no qualifier) or of the label's slot
//!   (`cloud_RoleName` `{app}-{slot}`) give each invocation's start and duration, from which
//!   the duration percentiles and the peak concurrency are computed exactly
//!   ([`Metrics::from_samples`]); invocations and errors stay Azure Monitor's (unsampled). Both
//!   calls run at once: a metrics query is one `Metrics_List` and one `Query_Execute`. Where
//!   Application Insights sampled (`itemCount` > 1) a record stands for `itemCount`
//!   invocations, the percentiles are estimates (the source says so) and the concurrency is
//!   `None`. Cold starts, init durations and memory are in neither source: `None`, with why.
//!   The host does not record which package ran a request, so there is no per-version split.
//! * **Logs**: the `traces` records (the host's `Executing`/`Executed` lines and the
//!   handler's own), with the invocation id (`customDimensions.InvocationId`, else
//!   `operation_Id`) as the request id and the level from `customDimensions.LogLevel`, else
//!   `severityLevel`. Secret values (the spec's secret variables, the storage and
//!   Application Insights connection strings, the package URL) are masked. Records are read in
//!   the order they were ingested (`ingestion_time()`: they arrive late, and not in the order
//!   they happened) and each page is shown oldest first. The cursor is
//!   `after:{ingested ms}:{itemId,…}`: the next page reads what was ingested from that
//!   millisecond on and skips the records already returned at it (as GCP's does by time), so
//!   following the logs yields each record once, late ones included.

use faas_core::observe::{InvocationSample, LogLevel, LogPage, LogQuery, LogRecord, Metrics, MetricsQuery, TimeWindow};
use faas_core::{Error, Qualifier, Result};

use crate::app_insights::{
    AppInsights, CONNECTION_STRING, Component, MAX_ROWS, Record, application_id, requests_query, traces_query,
};
use crate::metrics::iso8601;
use crate::provider::{AzureProvider, unsupported};
use crate::settings::{SECRET_KEYS, SECRET_SETTINGS, Settings, check_owner};
use crate::site::Where;

/// One `requests` record.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Request {
    start_ms: u64,
    duration_ms: f64,
    error: bool,
    /// How many invocations it stands for (`itemCount`: more than 1 when sampled).
    weight: u64,
}

/// The role name the host gives an app or a slot.
fn role(app: &str, slot: Option<&str>) -> String {
    match slot {
        Some(s) => format!("{app}-{s}").to_ascii_lowercase(),
        None => app.to_ascii_lowercase(),
    }
}

/// The values to mask in log lines: those of the settings the spec marked secret, and the
/// connection strings and package URL; longest first, so a value holding another goes whole.
fn secret_values(settings: &Settings) -> Vec<String> {
    let marked: Vec<&str> = settings
        .get(SECRET_KEYS)
        .map(|k| k.split(',').filter(|k| !k.is_empty()).collect())
        .unwrap_or_default();
    let mut values: Vec<String> = settings
        .iter()
        .filter(|(k, _)| marked.contains(&k.as_str()) || SECRET_SETTINGS.contains(&k.as_str()))
        .map(|(_, v)| v.clone())
        .filter(|v| v.len() >= 3)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    values
}

fn mask(line: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(line.to_string(), |acc, s| acc.replace(s.as_str(), faas_core::REDACTED))
}

/// The level of a trace: the host's `LogLevel` dimension, else `severityLevel` (0 Verbose,
/// 1 Information, 2 Warning, 3 Error, 4 Critical), else what the line says.
fn level(r: &Record<'_>, message: &str) -> Option<LogLevel> {
    let named = r
        .dimension("customDimensions", "LogLevel")
        .and_then(|l| match l.as_str() {
            "Trace" => Some(LogLevel::Trace),
            "Debug" => Some(LogLevel::Debug),
            "Information" => Some(LogLevel::Info),
            "Warning" => Some(LogLevel::Warn),
            "Error" => Some(LogLevel::Error),
            "Critical" => Some(LogLevel::Fatal),
            _ => None,
        });
    named.or_else(|| match r.number("severityLevel").map(|n| n as i64) {
        Some(0) => Some(LogLevel::Debug),
        Some(1) => Some(LogLevel::Info),
        Some(2) => Some(LogLevel::Warn),
        Some(3) => Some(LogLevel::Error),
        Some(4) => Some(LogLevel::Fatal),
        _ => LogLevel::sniff(message),
    })
}

/// Where a log page starts: the ingestion time (ms) from which records are read, and the
/// records already returned at it; without a cursor, the window's start (a record is ingested
/// after it happened).
fn parse_cursor(text: Option<&str>, start_ms: u64) -> Result<(u64, Vec<String>)> {
    let Some(text) = text else {
        return Ok((start_ms, Vec::new()));
    };
    let bad = || {
        Error::invalid(
            "cursor",
            text,
            "not a cursor this provider returned: pass LogPage::cursor as it came",
        )
    };
    let (ms, seen) = text
        .strip_prefix("after:")
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(bad)?;
    let ms: u64 = ms.parse().map_err(|_| bad())?;
    let seen = seen.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    Ok((ms, seen))
}

/// Application Insights' durations and concurrency of `m`'s window into `m` (or why there
/// are none).
fn merge(m: &mut Metrics, requests: &std::result::Result<Vec<Request>, String>, role: &str) {
    let requests = match requests {
        Ok(r) => r,
        Err(why) => {
            m.unavailable.insert("duration".into(), why.clone());
            return;
        }
    };
    let inside: Vec<&Request> = requests.iter().filter(|r| m.window.contains(r.start_ms)).collect();
    let sampled = inside.iter().any(|r| r.weight > 1);
    m.source.push_str(&format!(
        " + Application Insights requests (cloud_RoleName {role}{})",
        if sampled { ", sampled: durations estimated" } else { "" }
    ));
    let cold =
        "Application Insights requests carry no cold-start marker, and Azure Monitor has no per-invocation cold starts";
    m.unavailable.insert("cold_starts".into(), cold.into());
    m.unavailable.insert("init_duration".into(), cold.into());
    m.unavailable.insert(
        "max_memory_used_mb".into(),
        "per-invocation memory is neither an Azure Monitor platform metric nor part of Application Insights requests"
            .into(),
    );
    m.unavailable.insert(
        "by_version".into(),
        "the Functions host records the app or slot that ran a request (cloud_RoleName), not the package version: ask per label".into(),
    );
    if requests.len() >= MAX_ROWS {
        m.unavailable.insert(
            "duration".into(),
            format!("more than {MAX_ROWS} requests in this window: ask for a shorter one"),
        );
        return;
    }
    let samples: Vec<InvocationSample> = requests
        .iter()
        .filter(|r| m.window.contains(r.start_ms))
        .flat_map(|r| {
            let one = InvocationSample {
                start_ms: r.start_ms,
                version: String::new(),
                duration_ms: r.duration_ms,
                init_ms: None,
                max_memory_mb: None,
                error: r.error,
                throttled: false,
            };
            std::iter::repeat_n(one, r.weight.min(10_000) as usize)
        })
        .collect();
    if samples.is_empty() {
        m.unavailable.insert(
            "duration".into(),
            format!("Application Insights recorded no requests of {role} in this window"),
        );
        return;
    }
    let from = Metrics::from_samples(&m.function, m.qualifier.clone(), m.window, &samples, "");
    m.duration = from.duration;
    m.unavailable.remove("duration");
    if sampled {
        m.unavailable.insert(
            "peak_concurrency".into(),
            "Application Insights sampled these requests (itemCount > 1): concurrency cannot be read from a sample"
                .into(),
        );
    } else {
        m.peak_concurrency = from.peak_concurrency;
        m.unavailable.remove("peak_concurrency");
    }
}

impl AzureProvider {
    /// The application id of `at`'s telemetry: the configured one, or the `ApplicationId=`
    /// of its connection string (read from `settings`, or from the app when not given).
    async fn app_id(&self, ai: &AppInsights, at: Where<'_>, settings: Option<&Settings>) -> Result<String> {
        let read;
        let settings = match (&ai.component, settings) {
            (Component::AppId(id), _) => return Ok(id.clone()),
            (Component::FromAppSettings, Some(s)) => s,
            (Component::FromAppSettings, None) => {
                read = self.sites.settings(at).await?;
                &read
            }
        };
        settings
            .get(CONNECTION_STRING)
            .and_then(|cs| application_id(cs))
            .ok_or_else(|| {
                unsupported(
                    "Application Insights metrics and logs of this app",
                    "its APPLICATIONINSIGHTS_CONNECTION_STRING app setting is missing or has no ApplicationId=: set it, or name the application (AzureBuilder::application_insights)",
                )
            })
    }

    /// The `requests` records of `role` in the query's window.
    async fn requests(&self, ai: &AppInsights, query: &MetricsQuery, at: Where<'_>) -> Result<Vec<Request>> {
        let app_id = self.app_id(ai, at, None).await?;
        let w = query.window;
        let role = role(at.app, at.slot);
        let table = ai
            .query(
                &app_id,
                requests_query(&role, w.start_ms, w.end_ms),
                format!("{}/{}", iso8601(w.start_ms), iso8601(w.end_ms)),
                &query.function,
            )
            .await?;
        Ok(table
            .records()
            .iter()
            .filter_map(|r| {
                Some(Request {
                    start_ms: r.time_ms("timestamp")?,
                    duration_ms: r.number("duration")?,
                    // `success` is the host's verdict; a 5xx result code is a failure too.
                    error: !r.flag("success").unwrap_or(true)
                        || r.text("resultCode").is_some_and(|c| c.starts_with('5')),
                    weight: r.number("itemCount").map_or(1, |n| n.max(1.0) as u64),
                })
            })
            .collect())
    }

    /// Azure Monitor's figures for each period of `query`, with Application Insights'
    /// durations and concurrency when it is configured.
    pub(crate) async fn observed_metrics(
        &self,
        query: &MetricsQuery,
        periods: Option<&[TimeWindow]>,
    ) -> Result<Vec<Metrics>> {
        let Some(ai) = &self.app_insights else {
            return self.monitor_metrics(query, periods).await;
        };
        let slot = match Qualifier::parse_opt(query.qualifier.as_deref())? {
            Qualifier::Latest => None,
            Qualifier::Label(l) => Some(l),
            // Azure Monitor says why not.
            Qualifier::Version(_) => return self.monitor_metrics(query, periods).await,
        };
        let at = Where {
            app: self.app_of(&query.function),
            slot: slot.as_deref(),
        };
        let (monitor, requests) =
            futures::future::join(self.monitor_metrics(query, periods), self.requests(ai, query, at)).await;
        let mut out = monitor?;
        let requests = match requests {
            Ok(r) => Ok(r),
            Err(Error::Unsupported { hint, .. }) => Err(hint.unwrap_or_default()),
            Err(e) => return Err(e),
        };
        let role = role(at.app, at.slot);
        for m in &mut out {
            merge(m, &requests, &role);
        }
        Ok(out)
    }

    /// One page of the function's `traces`, secrets masked.
    pub(crate) async fn insights_logs(&self, query: &LogQuery) -> Result<LogPage> {
        let Some(ai) = &self.app_insights else {
            return Err(unsupported(
                "logs",
                "configure Application Insights: AzureBuilder::application_insights(app id) or FAAS_AZURE_APPLICATION_INSIGHTS",
            ));
        };
        let app = self.app_of(&query.function);
        let slot = match Qualifier::parse_opt(query.qualifier.as_deref())? {
            Qualifier::Latest => None,
            Qualifier::Label(l) => Some(l),
            Qualifier::Version(_) => {
                return Err(unsupported(
                    "logs of a version",
                    "the Functions host records apps and slots: ask for the label (slot) that runs the version",
                ));
            }
        };
        let at = Where {
            app,
            slot: slot.as_deref(),
        };
        let (from_ms, seen) = parse_cursor(query.cursor.as_deref(), query.window.start_ms)?;
        let settings = self.sites.settings(at).await?;
        check_owner(app, &settings, &query.function)?;
        let mut secrets = secret_values(&settings);
        let app_id = self.app_id(ai, at, Some(&settings)).await?;
        let roles = match &slot {
            Some(s) => vec![role(app, Some(s))],
            None => {
                let mut all = vec![role(app, None)];
                if self.capability().slot_swap {
                    // Every slot's records, masked with every slot's secrets too.
                    for s in self.sites.slots(app).await? {
                        let theirs = self.sites.settings(Where { app, slot: Some(&s) }).await?;
                        secrets.extend(secret_values(&theirs));
                        all.push(role(app, Some(&s)));
                    }
                    secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
                    secrets.dedup();
                }
                all
            }
        };
        let take = query.limit + seen.len();
        let w = query.window;
        let table = ai
            .query(
                &app_id,
                traces_query(&roles, (w.start_ms, w.end_ms), query.filter.as_deref(), from_ms, take),
                format!("{}/{}", iso8601(w.start_ms), iso8601(w.end_ms)),
                &query.function,
            )
            .await?;
        let needle = query.filter.as_deref().unwrap_or_default();
        let mut records = Vec::new();
        let mut last: (u64, Vec<String>) = (from_ms, seen.clone());
        for r in table.records() {
            let (Some(time_ms), Some(item)) = (r.time_ms("timestamp"), r.text("itemId")) else {
                continue;
            };
            let ingested = r.time_ms("ingested").unwrap_or(time_ms);
            if ingested == from_ms && seen.contains(&item) {
                continue;
            }
            if records.len() >= query.limit {
                break;
            }
            if last.0 == ingested {
                last.1.push(item);
            } else {
                last = (ingested, vec![item]);
            }
            let message = mask(&r.text("message").unwrap_or_default(), &secrets);
            if !message.contains(needle) {
                continue;
            }
            records.push(LogRecord {
                time_ms,
                request_id: r
                    .dimension("customDimensions", "InvocationId")
                    .or_else(|| r.text("operation_Id"))
                    .filter(|id| !id.is_empty()),
                version: None,
                level: level(&r, &message),
                message,
            });
        }
        // Read in ingestion order, shown oldest first.
        records.sort_by_key(|r| r.time_ms);
        Ok(LogPage {
            records,
            cursor: Some(format!("after:{}:{}", last.0, last.1.join(","))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_cursor(None, 5).unwrap(), (5, vec![]));
        assert_eq!(
            parse_cursor(Some("after:10:a,b"), 5).unwrap(),
            (10, vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(parse_cursor(Some("after:1:"), 5).unwrap(), (1, vec![]));
        for bad in ["page:x", "after:x:", "after:10"] {
            assert!(matches!(parse_cursor(Some(bad), 0), Err(Error::InvalidInput { .. })));
        }
    }

    #[test]
    fn secrets_are_the_marked_settings_and_connection_strings() {
        let s: Settings = [
            (SECRET_KEYS, "DB_PASSWORD"),
            ("DB_PASSWORD", "hunter2-long"),
            ("PLAIN", "visible"),
            (CONNECTION_STRING, "InstrumentationKey=abc;ApplicationId=def"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let v = secret_values(&s);
        assert_eq!(mask("pw hunter2-long, visible", &v), "pw ***, visible");
        assert!(v.iter().any(|x| x.starts_with("InstrumentationKey")));
        assert_eq!(role("My-App", Some("Staging")), "my-app-staging");
    }
}
