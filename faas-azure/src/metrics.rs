//! Metrics from Azure Monitor: `GET {site or slot}/providers/Microsoft.Insights/metrics`
//! (`Metrics_List`, api-version 2023-10-01), one call for all the figures of a window or a
//! series.
//!
//! The bodies follow azure-rest-api-specs: `Response` in
//! `specification/monitor/resource-manager/Microsoft.Insights/stable/2023-10-01/metrics_API.json`,
//! and `Metric`, `LocalizableString`, `TimeSeriesElement` and `MetricValue` in
//! `specification/monitor/common-types/v2/commonMonitoringTypes.json`.
//!
//! The metric names are those of `Microsoft.Web/sites` (and `sites/slots`): `Requests` (HTTP
//! requests the app served: on Premium and Dedicated plans on Linux `FunctionExecutionCount` is
//! not reported, so the requests to the app's one HTTP function are its invocations), `Http5xx`
//! (its errors) and `HttpResponseTime` (seconds, average and maximum only); on Flex Consumption
//! the executions are `OnDemandFunctionExecutionCount` plus `AlwaysReadyFunctionExecutionCount`.
//! Percentiles, cold starts, concurrency and per-invocation memory are not platform metrics:
//! they are `None` with the reason — unless Application Insights is configured, whose
//! `requests` give the durations and concurrency (`insights.rs`).

use std::time::Duration;

use azure_core::time::{OffsetDateTime, parse_rfc3339, to_rfc3339};
use faas_core::observe::{Metrics, MetricsQuery, TimeWindow};
use faas_core::{Error, Qualifier, ResourceKind, Result};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::arm::Target;
use crate::hosting::Hosting;
use crate::provider::{AzureProvider, unsupported};
use crate::resources::parse;

/// The api-version of `Metrics_List`.
pub(crate) const METRICS_API: &str = "2023-10-01";

/// The intervals (`interval`, ISO 8601) Azure Monitor aggregates platform metrics by, with
/// their length in seconds. `FULL` (one point for the whole timespan) is the other value.
pub(crate) const INTERVALS: &[(&str, u64)] = &[
    ("PT1M", 60),
    ("PT5M", 300),
    ("PT15M", 900),
    ("PT30M", 1800),
    ("PT1H", 3600),
    ("PT6H", 21_600),
    ("PT12H", 43_200),
    ("P1D", 86_400),
];

/// The aggregations this crate asks for (`aggregation`).
pub(crate) const AGGREGATIONS: &str = "Total,Average,Maximum,Count";

/// HTTP requests the app served (`Microsoft.Web/sites`, Count, Total).
pub(crate) const REQUESTS: &str = "Requests";
/// HTTP 5xx responses (`Microsoft.Web/sites`, Count, Total).
pub(crate) const HTTP5XX: &str = "Http5xx";
/// Response time (`Microsoft.Web/sites`, Seconds, Average).
pub(crate) const RESPONSE_TIME: &str = "HttpResponseTime";
/// Flex Consumption: executions on on-demand instances (Count, Total).
pub(crate) const ON_DEMAND_EXECUTIONS: &str = "OnDemandFunctionExecutionCount";
/// Flex Consumption: executions on always-ready instances (Count, Total).
pub(crate) const ALWAYS_READY_EXECUTIONS: &str = "AlwaysReadyFunctionExecutionCount";

/// `Response` (metrics_API.json): the answer to a metrics query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Response {
    /// `timespan`: `start/end`, as queried (or adjusted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timespan: Option<String>,
    /// `interval`: the ISO 8601 interval of the points, or `FULL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `resourceregion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resourceregion: Option<String>,
    /// `value`: one `Metric` per name asked for.
    #[serde(default)]
    pub value: Vec<Metric>,
}

/// `Metric` (commonMonitoringTypes.json v2): one metric's time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metric {
    /// `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `name`: `value` is the REST name (`Requests`).
    pub name: LocalizableString,
    /// `unit` (`Count`, `Seconds`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `errorCode`: `Success`, or why this metric failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// `errorMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// `timeseries`: without a `$filter`, one element.
    #[serde(default)]
    pub timeseries: Vec<TimeSeriesElement>,
}

/// `LocalizableString` (commonMonitoringTypes.json v2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocalizableString {
    /// `value`: the invariant name.
    pub value: String,
    /// `localizedValue`: the display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localized_value: Option<String>,
}

/// `TimeSeriesElement` (commonMonitoringTypes.json v2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TimeSeriesElement {
    /// `data`: the points, oldest first.
    #[serde(default)]
    pub data: Vec<MetricValue>,
}

/// `MetricValue` (commonMonitoringTypes.json v2): one point; an aggregation without data is
/// absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricValue {
    /// `timeStamp` (ISO 8601): the start of the point's interval.
    pub time_stamp: String,
    /// `average`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<f64>,
    /// `minimum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// `maximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// `total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// `count`: the samples behind the point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
}

/// `ms` since the Unix epoch as RFC 3339 UTC (`2026-12-01T13:00:00Z`, the fraction when there
/// is one), the `date-time` of the spec.
pub(crate) fn iso8601(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_or_else(|_| String::new(), |t| to_rfc3339(&t))
}

/// Reads an RFC 3339 instant (`2026-12-01T13:00:00Z`, `…:00.123Z`, `…+00:00`) as ms since the
/// Unix epoch.
pub(crate) fn parse_iso8601(text: &str) -> Option<u64> {
    let t = parse_rfc3339(text.trim()).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The `interval` of a series' points: the longest Azure Monitor interval that divides the
/// period and that the window's start falls on (then each point lies in one period and the
/// sums are exact), else the shortest that divides it. A period no interval divides is
/// `InvalidInput` naming `period`.
fn interval_of(period: Duration, start_ms: u64) -> Result<&'static str> {
    let ms = period.as_millis();
    let dividing: Vec<(&'static str, u64)> = INTERVALS
        .iter()
        .filter(|(_, secs)| ms.is_multiple_of(u128::from(*secs) * 1000))
        .copied()
        .collect();
    dividing
        .iter()
        .rev()
        .find(|(_, secs)| start_ms.is_multiple_of(secs * 1000))
        .or(dividing.first())
        .map(|(name, _)| *name)
        .ok_or_else(|| {
            Error::invalid(
                "period",
                format!("{}s", period.as_secs_f64()),
                "Azure Monitor aggregates by 1m, 5m, 15m, 30m, 1h, 6h, 12h or 1d: a period is a whole number of minutes",
            )
        })
}

/// The metric names of the invocation count on this hosting plan.
fn execution_metrics(hosting: Hosting) -> &'static [&'static str] {
    match hosting {
        Hosting::Flex => &[ON_DEMAND_EXECUTIONS, ALWAYS_READY_EXECUTIONS],
        Hosting::Premium | Hosting::Dedicated => &[REQUESTS],
    }
}

/// The points of `name` in `response`, or why there are none.
fn points<'a>(response: &'a Response, name: &str) -> std::result::Result<Vec<&'a MetricValue>, String> {
    let metric = response
        .value
        .iter()
        .find(|m| m.name.value.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("Azure Monitor returned no {name} metric"))?;
    if let Some(code) = metric.error_code.as_deref().filter(|c| *c != "Success") {
        return Err(format!(
            "Azure Monitor could not give {name}: {code}: {}",
            metric.error_message.as_deref().unwrap_or("no message")
        ));
    }
    Ok(metric.timeseries.iter().flat_map(|t| t.data.iter()).collect())
}

/// The sum of the totals of `names` over the points `inside` selects, or why it is unknown.
fn total(
    response: &Response,
    names: &[&str],
    inside: &dyn Fn(&MetricValue) -> bool,
) -> std::result::Result<u64, String> {
    let mut sum = 0.0;
    for name in names {
        let all = points(response, name)?;
        let chosen: Vec<&&MetricValue> = all.iter().filter(|p| inside(p)).collect();
        // No point, or points without a total: no data, not a zero.
        if chosen.iter().all(|p| p.total.is_none()) {
            return Err(format!("Azure Monitor had no data for {name} in this window"));
        }
        sum += chosen.iter().filter_map(|p| p.total).sum::<f64>();
    }
    Ok(sum.round() as u64)
}

/// What Azure Monitor says about response time, for the reason `duration` is `None`.
fn response_time_note(response: &Response, inside: &dyn Fn(&MetricValue) -> bool) -> String {
    let chosen: Vec<&MetricValue> = points(response, RESPONSE_TIME)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| inside(p))
        .collect();
    let (mut weighted, mut samples) = (0.0, 0.0);
    for p in &chosen {
        if let Some(avg) = p.average {
            let n = p.count.unwrap_or(1.0);
            weighted += avg * n;
            samples += n;
        }
    }
    let max = chosen
        .iter()
        .filter_map(|p| p.maximum)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let seen = match (samples > 0.0, max) {
        (true, Some(max)) => format!(
            " (it gives {RESPONSE_TIME}: average {:.1} ms, maximum {:.1} ms)",
            weighted / samples * 1000.0,
            max * 1000.0
        ),
        (true, None) => format!(
            " (it gives {RESPONSE_TIME}: average {:.1} ms)",
            weighted / samples * 1000.0
        ),
        _ => String::new(),
    };
    format!("Azure Monitor has no duration percentiles{seen}: percentiles need Application Insights")
}

impl AzureProvider {
    /// The figures of `query` for each of `periods` (`None`: the whole window, one point), from
    /// one `Metrics_List` call on the app or the label's slot.
    pub(crate) async fn monitor_metrics(
        &self,
        query: &MetricsQuery,
        periods: Option<&[TimeWindow]>,
    ) -> Result<Vec<Metrics>> {
        let app = self.app_of(&query.function);
        let slot = match faas_core::Qualifier::parse_opt(query.qualifier.as_deref())? {
            Qualifier::Latest => None,
            Qualifier::Label(l) => Some(l),
            Qualifier::Version(_) => {
                return Err(unsupported(
                    "metrics of a version",
                    "Azure Monitor measures apps and slots: ask for the label (slot) that runs the version",
                ));
            }
        };
        let interval = match (periods, query.period) {
            (Some(_), Some(p)) => interval_of(p, query.window.start_ms)?,
            _ => "FULL",
        };
        let hosting = self.sites.hosting;
        let executions = execution_metrics(hosting);
        let mut names: Vec<&str> = executions.to_vec();
        names.extend([HTTP5XX, RESPONSE_TIME]);
        let mut url = format!("{}{app}", self.sites.base);
        if let Some(s) = &slot {
            url.push_str(&format!("/slots/{s}"));
        }
        url.push_str(&format!(
            "/providers/Microsoft.Insights/metrics?api-version={METRICS_API}&metricnames={}&timespan={}/{}&interval={interval}&aggregation={AGGREGATIONS}",
            names.join(","),
            iso8601(query.window.start_ms),
            iso8601(query.window.end_ms),
        ));
        let (kind, name) = match &slot {
            Some(s) => (ResourceKind::Label, format!("{}@{s}", query.function)),
            None => (ResourceKind::Function, query.function.clone()),
        };
        let answer = self
            .sites
            .arm
            .call(Method::GET, &url, None, Target { kind, name: &name })
            .await?;
        let response: Response = parse(&format!("the metrics of {name}"), answer.body)?;
        let source = format!(
            "Azure Monitor Microsoft.Web/sites metrics ({}, {HTTP5XX}, {RESPONSE_TIME})",
            executions.join(" + ")
        );
        let whole = [query.window];
        let windows = periods.unwrap_or(&whole);
        let first_start = windows.first().map_or(0, |w| w.start_ms);
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            let w = *w;
            // A point belongs to the period holding its timestamp (Azure aligns points to the
            // interval, so one before the window's start goes to the first period); FULL gives
            // one point for all.
            let inside = move |p: &MetricValue| -> bool {
                if periods.is_none() {
                    return true;
                }
                let at = parse_iso8601(&p.time_stamp).unwrap_or(0).max(first_start);
                w.contains(at)
            };
            let mut m = Metrics::empty(&query.function, query.qualifier.clone(), w, &source);
            match total(&response, executions, &inside) {
                Ok(n) => m.invocations = Some(n),
                Err(why) => m = m.unavailable("invocations", why),
            }
            match total(&response, &[HTTP5XX], &inside) {
                Ok(n) => m.errors = Some(n),
                Err(why) => m = m.unavailable("errors", why),
            }
            let note = response_time_note(&response, &inside);
            m = m
                .unavailable("duration", note)
                .unavailable(
                    "throttles",
                    "Azure Monitor reports no throttled invocations for function apps",
                )
                .unavailable(
                    "cold_starts",
                    "cold starts are not an Azure Monitor platform metric: they need Application Insights",
                )
                .unavailable(
                    "init_duration",
                    "cold start durations are not an Azure Monitor platform metric: they need Application Insights",
                )
                .unavailable(
                    "peak_concurrency",
                    "Azure Monitor reports no concurrent executions for function apps",
                )
                .unavailable(
                    "max_memory_used_mb",
                    "per-invocation memory is not an Azure Monitor platform metric (FunctionExecutionUnits mix memory and time): it needs Application Insights",
                )
                .unavailable(
                    "by_version",
                    "Azure Monitor measures apps and slots, not the versions they ran",
                );
            out.push(m);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_round_trips() {
        for ms in [
            0,
            1_764_594_000_000,
            1_764_594_000_123,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms), "{}", iso8601(ms));
        }
        assert_eq!(iso8601(1_764_594_000_000), "2025-12-01T13:00:00Z");
        assert_eq!(parse_iso8601("2025-12-01T13:00:00+00:00"), Some(1_764_594_000_000));
        assert_eq!(parse_iso8601("2025-12-01T13:00:00.5Z"), Some(1_764_594_000_500));
        assert_eq!(parse_iso8601("2025-13-01T13:00:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    #[test]
    fn a_period_is_an_azure_monitor_interval() {
        let midnight = 1_764_547_200_000;
        assert_eq!(interval_of(Duration::from_secs(300), midnight).unwrap(), "PT5M");
        assert_eq!(interval_of(Duration::from_secs(86_400), midnight).unwrap(), "P1D");
        assert_eq!(interval_of(Duration::from_secs(7200), midnight).unwrap(), "PT1H");
        assert_eq!(
            interval_of(Duration::from_secs(300), midnight + 60_000).unwrap(),
            "PT1M"
        );
        assert_eq!(interval_of(Duration::from_secs(420), midnight).unwrap(), "PT1M");
        match interval_of(Duration::from_secs(90), midnight) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "period"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_response_reads_as_the_spec_names_it() {
        let r: Response = serde_json::from_value(serde_json::json!({
            "cost": 0, "timespan": "2025-12-01T13:00:00Z/2025-12-01T13:02:00Z", "interval": "PT1M",
            "value": [{"id": "x", "type": "Microsoft.Insights/metrics",
                "name": {"value": "Requests", "localizedValue": "Requests"}, "unit": "Count",
                "timeseries": [{"metadatavalues": [], "data": [
                    {"timeStamp": "2025-12-01T13:00:00Z", "total": 3.0, "count": 3.0},
                    {"timeStamp": "2025-12-01T13:01:00Z"}]}],
                "errorCode": "Success"}]
        }))
        .unwrap();
        assert_eq!(total(&r, &[REQUESTS], &|_| true), Ok(3));
        assert!(total(&r, &[HTTP5XX], &|_| true).unwrap_err().contains("no Http5xx"));
        assert!(total(&r, &[REQUESTS], &|_| false).unwrap_err().contains("no data"));
    }
}
