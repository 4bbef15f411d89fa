//! Metrics: CloudWatch's `AWS/Lambda` counts (`GetMetricData`) and the `REPORT` lines in
//! CloudWatch Logs, as faas-core's [`Metrics`].
//!
//! | figure | from |
//! |---|---|
//! | invocations, errors, throttles | `Invocations`, `Errors`, `Throttles` (Sum) |
//! | peak concurrency | `ConcurrentExecutions` (Maximum) |
//! | durations (mean, p50, p90, p99, max) | every `REPORT` line's `Duration` (nearest rank) |
//! | cold starts, init durations | `REPORT` lines with `Init Duration` |
//! | max memory | `REPORT` lines' `Max Memory Used` |
//!
//! Durations come from the `REPORT` lines rather than CloudWatch's extended statistics:
//! those are exact there (CloudWatch's percentiles are estimates), the lines are read anyway
//! for cold starts and memory, and moto cannot compute extended statistics (its
//! `Statistics.get_statistics_for_type` knows Sum, Average, Minimum, Maximum and SampleCount;
//! for `p99` it answers HTTP 500).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use faas_core::observe::{DurationStats, Metrics, MetricsQuery, TimeWindow, now_ms};
use faas_core::{Error, Qualifier, ResourceKind, Result};

use crate::AwsProvider;
use crate::error::{Target, map};
use crate::logs::{Report, default_log_group};

/// The CloudWatch namespace Lambda publishes to.
pub(crate) const NAMESPACE: &str = "AWS/Lambda";

/// What a query's qualifier selects on Lambda.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scope {
    /// Every invocation: dimension `FunctionName`, every log stream.
    Function,
    /// `$LATEST`: its log streams only (see [`LATEST_COUNTS`]).
    Latest,
    /// A version: dimensions `FunctionName` + `Resource=name:version` (invoked as the
    /// version), plus `Resource=name:alias` + `ExecutedVersion=version` for each alias (its
    /// invocations through aliases: see `executed`); its log streams.
    Version(String),
    /// An alias: `FunctionName` + `Resource=name:alias`, per version with `ExecutedVersion`
    /// added (the combinations Lambda publishes); the log streams of the versions it routes
    /// to now.
    Label {
        /// The alias.
        name: String,
        /// Its primary version first, then the weighted one.
        versions: Vec<String>,
    },
}

/// Why `$LATEST` has no CloudWatch counts here.
const LATEST_COUNTS: &str = "faas reads CloudWatch's Resource dimension for versions and aliases only; for $LATEST the figures come from its REPORT lines, which say neither whether the handler failed nor what was throttled";

impl Scope {
    /// The log stream versions the scope reads (`None`: all).
    pub(crate) fn versions(&self) -> Option<Vec<String>> {
        match self {
            Scope::Function => None,
            Scope::Latest => Some(vec!["$LATEST".into()]),
            Scope::Version(v) => Some(vec![v.clone()]),
            Scope::Label { versions, .. } => Some(versions.clone()),
        }
    }

    /// The dimensions of the scope's totals (`None`: no CloudWatch figures).
    pub(crate) fn dimensions(&self, function: &str) -> Option<Vec<(&'static str, String)>> {
        let name = ("FunctionName", function.to_string());
        match self {
            Scope::Function => Some(vec![name]),
            Scope::Latest => None,
            Scope::Version(q) | Scope::Label { name: q, .. } => {
                Some(vec![name, ("Resource", format!("{function}:{q}"))])
            }
        }
    }
}

/// A Lambda metric faas reads, with its statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stat {
    Invocations,
    Errors,
    Throttles,
    Concurrency,
}

const STATS: [Stat; 4] = [Stat::Invocations, Stat::Errors, Stat::Throttles, Stat::Concurrency];

impl Stat {
    pub(crate) fn metric(self) -> &'static str {
        match self {
            Stat::Invocations => "Invocations",
            Stat::Errors => "Errors",
            Stat::Throttles => "Throttles",
            Stat::Concurrency => "ConcurrentExecutions",
        }
    }

    pub(crate) fn statistic(self) -> &'static str {
        match self {
            Stat::Concurrency => "Maximum",
            _ => "Sum",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Stat::Invocations => "inv",
            Stat::Errors => "err",
            Stat::Throttles => "thr",
            Stat::Concurrency => "conc",
        }
    }
}

/// A `MetricStat` on `AWS/Lambda`.
pub(crate) fn metric_stat(metric: &str, statistic: &str, dims: &[(&str, String)], period: i32) -> MetricStat {
    let dimensions = dims
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(v).build())
        .collect();
    MetricStat::builder()
        .metric(
            Metric::builder()
                .namespace(NAMESPACE)
                .metric_name(metric)
                .set_dimensions(Some(dimensions))
                .build(),
        )
        .period(period)
        .stat(statistic)
        .build()
}

/// Checks a series period against what CloudWatch serves for data as old as `window`'s start:
/// 1, 5, 10 or 30 s (kept 3 hours) or a multiple of 60 s; a multiple of 300 s past 15 days
/// and of 3600 s past 63 days (else CloudWatch returns no points).
pub(crate) fn check_period(period: Duration, window: &TimeWindow) -> Result<i32> {
    let secs = period.as_secs();
    let shown = format!("{}s", period.as_secs_f64());
    let allowed =
        period.subsec_nanos() == 0 && (matches!(secs, 1 | 5 | 10 | 30) || (secs > 0 && secs.is_multiple_of(60)));
    if !allowed {
        return Err(Error::invalid(
            "period",
            shown,
            "CloudWatch periods are 1, 5, 10 or 30 seconds or a multiple of 60 seconds",
        ));
    }
    let age = Duration::from_millis(now_ms().saturating_sub(window.start_ms));
    let unit = retention_unit(age);
    if secs < 60 && age > Duration::from_secs(3 * 3600) {
        return Err(Error::invalid(
            "period",
            shown,
            "CloudWatch keeps points under a minute for 3 hours: choose 60 seconds or a multiple",
        ));
    }
    if secs >= 60 && !secs.is_multiple_of(unit) {
        return Err(Error::invalid(
            "period",
            shown,
            format!("data this old is kept at {unit}-second points: choose a multiple of {unit} seconds"),
        ));
    }
    i32::try_from(secs).map_err(|_| Error::invalid("period", secs, "too long for CloudWatch"))
}

/// The coarsest points CloudWatch keeps for data `age` old.
fn retention_unit(age: Duration) -> u64 {
    const DAY: u64 = 86_400;
    match age.as_secs() {
        a if a > 63 * DAY => 3600,
        a if a > 15 * DAY => 300,
        _ => 60,
    }
}

/// One period covering the whole window (rounded up to what CloudWatch keeps): the figures of
/// a single [`Metrics`] in as few points as possible.
fn whole_window_period(window: &TimeWindow) -> i32 {
    let unit = retention_unit(Duration::from_millis(now_ms().saturating_sub(window.start_ms)));
    let span = window.span().as_secs().max(1).div_ceil(unit) * unit;
    i32::try_from(span).unwrap_or(i32::MAX / 3600 * 3600)
}

/// The CloudWatch side of the provider.
#[derive(Debug, Clone)]
pub(crate) struct CloudWatch {
    pub client: aws_sdk_cloudwatch::Client,
}

/// Data points per query id: (timestamp in ms, value).
type Points = HashMap<String, Vec<(u64, f64)>>;

impl CloudWatch {
    /// One `GetMetricData` (paged) for every query over `window`.
    async fn get(&self, queries: Vec<MetricDataQuery>, window: &TimeWindow) -> Result<Points> {
        let mut points = Points::new();
        if queries.is_empty() {
            return Ok(points);
        }
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from_millis(window.start_ms as i64))
            .end_time(DateTime::from_millis(window.end_ms as i64))
            .scan_by(ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                map(
                    e,
                    Target {
                        kind: ResourceKind::Function,
                        name: NAMESPACE,
                    },
                )
            })?;
            for r in page.metric_data_results() {
                let entry = points.entry(r.id().unwrap_or_default().to_string()).or_default();
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    entry.push((t.to_millis().unwrap_or_default().max(0) as u64, *v));
                }
            }
        }
        Ok(points)
    }
}

/// The CloudWatch figures of one scope in one period.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    invocations: f64,
    errors: f64,
    throttles: f64,
    concurrency: Option<f64>,
}

/// Where the `REPORT` lines came from.
struct ReportSource {
    group: String,
    exists: bool,
}

/// Which of `periods` a point at `at_ms` belongs to (points CloudWatch aligned before the
/// first period's start belong to it).
fn bucket(periods: &[TimeWindow], at_ms: u64) -> usize {
    let first = periods[0];
    let step = first.span().as_millis().max(1) as u64;
    (at_ms.saturating_sub(first.start_ms) / step).min(periods.len() as u64 - 1) as usize
}

/// The counts of the scope whose queries are `{code}_{key}`, per period.
fn counts(points: &Points, key: usize, periods: &[TimeWindow]) -> Vec<Counts> {
    let mut out = vec![Counts::default(); periods.len()];
    for stat in STATS {
        let Some(list) = points.get(&format!("{}_{key}", stat.code())) else {
            continue;
        };
        for (at, v) in list {
            let c = &mut out[bucket(periods, *at)];
            match stat {
                Stat::Invocations => c.invocations += v,
                Stat::Errors => c.errors += v,
                Stat::Throttles => c.throttles += v,
                Stat::Concurrency => c.concurrency = Some(c.concurrency.map_or(*v, |m| m.max(*v))),
            }
        }
    }
    out
}

/// Adds `more` to `into`, period by period (concurrency: the larger peak).
fn add(into: &mut [Counts], more: &[Counts]) {
    for (c, m) in into.iter_mut().zip(more) {
        c.invocations += m.invocations;
        c.errors += m.errors;
        c.throttles += m.throttles;
        c.concurrency = match (c.concurrency, m.concurrency) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

fn count(v: f64) -> u64 {
    v.round().max(0.0) as u64
}

/// Fills `m` from the CloudWatch `counts` (`None`: `$LATEST`) and the scope's `REPORT` lines.
fn fill(m: &mut Metrics, counts: Option<Counts>, reports: &[&Report], source: &ReportSource) {
    match counts {
        Some(c) => {
            m.invocations = Some(count(c.invocations));
            m.errors = Some(count(c.errors));
            m.throttles = Some(count(c.throttles));
            m.peak_concurrency = match c.concurrency {
                Some(p) => Some(count(p)),
                None if c.invocations == 0.0 => Some(0),
                None => {
                    m.unavailable.insert(
                        "peak_concurrency".into(),
                        "CloudWatch recorded no ConcurrentExecutions for these dimensions".into(),
                    );
                    None
                }
            };
        }
        None => {
            m.invocations = Some(reports.len() as u64);
            for figure in ["errors", "throttles", "peak_concurrency"] {
                m.unavailable.insert(figure.into(), LATEST_COUNTS.into());
            }
        }
    }
    let durations: Vec<f64> = reports.iter().map(|r| r.report.duration_ms).collect();
    let inits: Vec<f64> = reports.iter().filter_map(|r| r.report.init_duration_ms).collect();
    m.duration = DurationStats::of(&durations);
    m.init_duration = DurationStats::of(&inits);
    m.cold_starts = Some(inits.len() as u64);
    m.max_memory_used_mb = reports.iter().map(|r| r.report.max_memory_used_mb).max();
    if reports.is_empty() && m.invocations.unwrap_or(0) > 0 {
        let why = if source.exists {
            format!(
                "{} has no REPORT lines for these invocations (log retention, or the function cannot write its logs)",
                source.group
            )
        } else {
            format!("the log group {} does not exist", source.group)
        };
        m.cold_starts = None;
        for figure in ["duration", "cold_starts", "init_duration", "max_memory_used_mb"] {
            m.unavailable.insert(figure.into(), why.clone());
        }
    }
}

fn source_text(scope: &Scope, group: &str) -> String {
    match scope {
        Scope::Latest => format!(
            "CloudWatch Logs REPORT lines of $LATEST in {group} (invocations, durations with nearest-rank percentiles, cold starts, init durations, memory)"
        ),
        _ => format!(
            "CloudWatch AWS/Lambda (invocations, errors, throttles, peak concurrency); CloudWatch Logs REPORT lines in {group} (durations with nearest-rank percentiles, cold starts, init durations, memory)"
        ),
    }
}

impl AwsProvider {
    /// What `qualifier` selects; a label is read (`GetAlias`), an unknown one is `NotFound`.
    pub(crate) async fn scope(&self, function: &str, qualifier: Option<&str>) -> Result<Scope> {
        Ok(match (qualifier, Qualifier::parse_opt(qualifier)?) {
            (None, _) => Scope::Function,
            (_, Qualifier::Latest) => Scope::Latest,
            (_, Qualifier::Version(v)) => Scope::Version(v),
            (_, Qualifier::Label(l)) => {
                let alias = self
                    .get_alias(function, &l)
                    .await?
                    .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{l}"), None))?;
                let mut versions = vec![alias.function_version().unwrap_or_default().to_string()];
                if let Some(w) = alias.routing_config().and_then(|r| r.additional_version_weights()) {
                    let mut extra: Vec<String> = w.keys().filter(|k| !versions.contains(k)).cloned().collect();
                    extra.sort();
                    versions.extend(extra);
                }
                Scope::Label { name: l, versions }
            }
        })
    }

    /// `NotFound` unless the function (and the version a scope names) exists; its log group.
    pub(crate) async fn log_group_of(&self, function: &str, scope: &Scope) -> Result<String> {
        let qualifier = match scope {
            Scope::Version(v) => Some(v.as_str()),
            _ => None,
        };
        let observed = self
            .functions
            .observe_qualified(function, qualifier)
            .await?
            .ok_or_else(|| match qualifier {
                Some(v) => Error::not_found(ResourceKind::Version, format!("{function}:{v}"), None),
                None => Error::not_found(ResourceKind::Function, function, Some("deploy it first".into())),
            })?;
        Ok(observed
            .config
            .logging_config()
            .and_then(|l| l.log_group())
            .map_or_else(|| default_log_group(function), str::to_string))
    }

    /// The figures of `query` for each of `periods` (one `GetMetricData` with `period`), or
    /// for the whole window when `periods` is `None`.
    ///
    /// Calls: `GetAlias` for a label, `ListAliases` for a version; one `GetMetricData` (paged by `NextToken`); one
    /// `FilterLogEvents` per 10,000 `REPORT` lines; `GetFunction` only when that found
    /// nothing (is there such a function or version?) or no log group (does the function log
    /// elsewhere?).
    pub(crate) async fn read_metrics(
        &self,
        query: &MetricsQuery,
        periods: Option<&[TimeWindow]>,
    ) -> Result<Vec<Metrics>> {
        let function = query.function.as_str();
        let whole = [query.window];
        let (periods, period) = match periods {
            Some(p) if !p.is_empty() => (p, check_period(query.period.unwrap_or(p[0].span()), &query.window)?),
            _ => (&whole[..], whole_window_period(&query.window)),
        };
        let scope = self.scope(function, query.qualifier.as_deref()).await?;

        // One query per metric for the totals (key 0) and, for a label, per version (key i).
        let mut keyed: Vec<(usize, Vec<(&str, String)>)> = Vec::new();
        // A version adds its invocations through each alias (keys 1..=through_aliases).
        let mut through_aliases = 0;
        if let Scope::Version(v) = &scope {
            for (i, dims) in self.executed_version_dims(function, v).await?.into_iter().enumerate() {
                keyed.push((i + 1, dims));
                through_aliases = i + 1;
            }
        }
        if let Some(dims) = scope.dimensions(function) {
            keyed.push((0, dims.clone()));
            if let Scope::Label { versions, .. } = &scope
                && versions.len() > 1
            {
                for (i, v) in versions.iter().enumerate() {
                    let mut d = dims.clone();
                    d.push(("ExecutedVersion", v.clone()));
                    keyed.push((i + 1, d));
                }
            }
        }
        let queries = keyed
            .iter()
            .flat_map(|(key, dims)| {
                STATS.map(|s| {
                    MetricDataQuery::builder()
                        .id(format!("{}_{key}", s.code()))
                        .metric_stat(metric_stat(s.metric(), s.statistic(), dims, period))
                        .return_data(true)
                        .build()
                })
            })
            .collect();
        let points = self.cloudwatch.get(queries, &query.window).await?;

        let mut group = default_log_group(function);
        let mut found = self.logs.reports(&group, &query.window).await?;
        let mut checked = false;
        if found.is_none() && !matches!(scope, Scope::Label { .. }) {
            // No log group: is there such a function, and does it log elsewhere?
            let configured = self.log_group_of(function, &scope).await?;
            checked = true;
            if configured != group {
                group = configured;
                found = self.logs.reports(&group, &query.window).await?;
            }
        }
        let source = ReportSource {
            group: group.clone(),
            exists: found.is_some(),
        };
        let reports = found.unwrap_or_default();
        let versions = scope.versions();
        let in_scope: Vec<&Report> = reports
            .iter()
            .filter(|r| {
                versions
                    .as_ref()
                    .is_none_or(|vs| r.version.as_ref().is_some_and(|v| vs.contains(v)))
            })
            .collect();
        let mut totals = counts(&points, 0, periods);
        for key in 1..=through_aliases {
            add(&mut totals, &counts(&points, key, periods));
        }
        let nothing = in_scope.is_empty() && totals.iter().all(|c| c.invocations == 0.0);
        if nothing && !checked && !matches!(scope, Scope::Label { .. }) {
            // Nothing recorded: an unknown function or version is NotFound, not zero.
            self.log_group_of(function, &scope).await?;
        }

        let text = source_text(&scope, &group);
        let per_version: Vec<(String, Vec<Counts>)> = match &scope {
            Scope::Label { versions, .. } if versions.len() > 1 => versions
                .iter()
                .enumerate()
                .map(|(i, v)| (v.clone(), counts(&points, i + 1, periods)))
                .collect(),
            _ => Vec::new(),
        };
        let cw = scope.dimensions(function).is_some();
        Ok(periods
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let inside: Vec<&Report> = in_scope.iter().copied().filter(|r| w.contains(r.time_ms)).collect();
                let mut m = Metrics::empty(function, query.qualifier.clone(), *w, &text);
                fill(&mut m, cw.then_some(totals[i]), &inside, &source);
                for (v, c) in &per_version {
                    let mine: Vec<&Report> = inside
                        .iter()
                        .copied()
                        .filter(|r| r.version.as_deref() == Some(v.as_str()))
                        .collect();
                    let mut vm = Metrics::empty(function, query.qualifier.clone(), *w, &text);
                    fill(&mut vm, Some(c[i]), &mine, &source);
                    m.by_version.insert(v.clone(), vm);
                }
                m
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_cloudwatch_serves() {
        let recent = TimeWindow::last(Duration::from_secs(3600));
        for ok in [1, 5, 10, 30, 60, 300, 3600] {
            assert_eq!(check_period(Duration::from_secs(ok), &recent).unwrap() as u64, ok);
        }
        for bad in [
            Duration::from_secs(7),
            Duration::from_secs(90),
            Duration::from_millis(1500),
        ] {
            let e = check_period(bad, &recent).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidInput { field, .. } if field == "period"),
                "{e}"
            );
        }
        let old = TimeWindow {
            start_ms: now_ms() - 20 * 86_400_000,
            end_ms: now_ms() - 19 * 86_400_000,
        };
        assert!(check_period(Duration::from_secs(60), &old).is_err());
        assert!(check_period(Duration::from_secs(300), &old).is_ok());
        assert!(check_period(Duration::from_secs(10), &old).is_err());
        assert_eq!(whole_window_period(&recent), 3600);
        assert_eq!(whole_window_period(&TimeWindow::last(Duration::from_secs(61))), 120);
        assert_eq!(whole_window_period(&old), 86_400);
    }

    #[test]
    fn points_fall_in_their_period() {
        let periods = TimeWindow {
            start_ms: 60_000,
            end_ms: 240_000,
        }
        .periods(Duration::from_secs(60), 10)
        .unwrap();
        assert_eq!(
            [0, 60_000, 119_999, 120_000, 239_999, 500_000].map(|t| bucket(&periods, t)),
            [0, 0, 0, 1, 2, 2]
        );
    }
}
