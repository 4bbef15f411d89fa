//! Azure Monitor's `Metrics_List` (`GET {site}/providers/Microsoft.Insights/metrics`,
//! api-version 2023-10-01) over the samples the tests seed: `timespan` (`start/end`, ISO 8601),
//! `interval` (`PT1M` … `P1D`, or `FULL`), `metricnames` (comma separated, at most 20) and
//! `aggregation` (`Average`, `Minimum`, `Maximum`, `Total`, `Count`), answering a `Response`
//! with one `Metric` per name and one point per interval.

use std::collections::BTreeMap;

use axum::http::Method;
use axum::response::Response as HttpResponse;

use super::state::State;
use super::wire::{error, ok};
use crate::metrics::{
    INTERVALS, LocalizableString, METRICS_API, Metric, MetricValue, Response, TimeSeriesElement, iso8601, parse_iso8601,
};
use crate::resources::body;

/// The `Microsoft.Web/sites` metrics the fake knows, with their unit.
const KNOWN: &[(&str, &str)] = &[
    ("Requests", "Count"),
    ("Http5xx", "Count"),
    ("HttpResponseTime", "Seconds"),
    ("AverageResponseTime", "Seconds"),
    ("FunctionExecutionCount", "Count"),
    ("FunctionExecutionUnits", "Count"),
    ("OnDemandFunctionExecutionCount", "Count"),
    ("AlwaysReadyFunctionExecutionCount", "Count"),
];

const AGGREGATIONS: &[&str] = &["average", "minimum", "maximum", "total", "count"];

/// `site` is `{app}` or `{app}/slots/{slot}`.
pub(super) fn metrics(s: &State, method: &Method, site: &str, query: &BTreeMap<String, String>) -> HttpResponse {
    if method != Method::GET {
        return error(405, "MethodNotAllowed", "Metrics_List is a GET");
    }
    if query.get("api-version").map(String::as_str) != Some(METRICS_API) {
        return error(
            400,
            "InvalidApiVersionParameter",
            "the fake serves api-version 2023-10-01",
        );
    }
    let key = match site.split_once("/slots/") {
        Some((app, slot)) => format!("{app}-{slot}"),
        None => site.to_string(),
    };
    if !s.sites.contains_key(&key) {
        return error(
            404,
            "ResourceNotFound",
            "The Resource 'Microsoft.Web/sites' was not found.",
        );
    }
    let bad = |why: &str| error(400, "BadRequest", why);
    let Some((start, end)) = query
        .get("timespan")
        .and_then(|t| t.split_once('/'))
        .and_then(|(a, b)| Some((parse_iso8601(a)?, parse_iso8601(b)?)))
        .filter(|(a, b)| a < b)
    else {
        return bad("Invalid parameter timespan: expected startDateTime_ISO/endDateTime_ISO, start before end");
    };
    let interval = query.get("interval").map_or("PT1M", String::as_str);
    let grain_ms = if interval.eq_ignore_ascii_case("FULL") {
        None
    } else {
        match INTERVALS.iter().find(|(name, _)| name.eq_ignore_ascii_case(interval)) {
            Some((_, secs)) => Some(secs * 1000),
            None => {
                return bad(&format!(
                    "Invalid interval {interval}: supported are PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D and FULL"
                ));
            }
        }
    };
    let names: Vec<&str> = query
        .get("metricnames")
        .map(|n| n.split(',').filter(|n| !n.is_empty()).collect())
        .unwrap_or_default();
    if names.is_empty() || names.len() > 20 {
        return bad("metricnames takes 1 to 20 names");
    }
    let aggregations: Vec<String> = match query.get("aggregation") {
        Some(a) => a.split(',').map(str::to_ascii_lowercase).collect(),
        None => Vec::new(),
    };
    if let Some(a) = aggregations.iter().find(|a| !AGGREGATIONS.contains(&a.as_str())) {
        return bad(&format!(
            "Invalid aggregation {a}: one of Average, Minimum, Maximum, Total, Count"
        ));
    }
    let mut value = Vec::new();
    for name in names {
        let Some((known, unit)) = KNOWN.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
            return bad(&format!(
                "Failed to find metric configuration for provider: Microsoft.Web, resource Type: sites, metric: {name}"
            ));
        };
        let default_aggregation = if *unit == "Seconds" { "average" } else { "total" };
        let asked: Vec<&str> = if aggregations.is_empty() {
            vec![default_aggregation]
        } else {
            aggregations.iter().map(String::as_str).collect()
        };
        let samples = s
            .metrics
            .get(&(key.clone(), known.to_string()))
            .cloned()
            .unwrap_or_default();
        let buckets: Vec<(u64, u64)> = match grain_ms {
            None => vec![(start, end)],
            Some(g) => (start / g * g..end).step_by(g as usize).map(|b| (b, b + g)).collect(),
        };
        let data = buckets
            .into_iter()
            .map(|(from, to)| point(from, from.max(start), to.min(end), &samples, &asked))
            .collect();
        value.push(Metric {
            id: Some(format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{site}/providers/Microsoft.Insights/metrics/{known}",
                super::SUBSCRIPTION,
                super::RESOURCE_GROUP
            )),
            kind: Some("Microsoft.Insights/metrics".into()),
            name: LocalizableString {
                value: known.to_string(),
                localized_value: Some(known.to_string()),
            },
            unit: Some(unit.to_string()),
            error_code: Some("Success".into()),
            error_message: None,
            timeseries: vec![TimeSeriesElement { data }],
        });
    }
    ok(body(&Response {
        timespan: Some(format!("{}/{}", iso8601(start), iso8601(end))),
        interval: Some(interval.to_string()),
        namespace: Some("Microsoft.Web/sites".into()),
        resourceregion: Some("westeurope".into()),
        value,
    }))
}

/// The point stamped `stamp` aggregating the samples in `[from, to)`: `total` and `count` are 0
/// without samples, the others absent (as Azure Monitor leaves them).
fn point(stamp: u64, from: u64, to: u64, samples: &[(u64, f64)], asked: &[&str]) -> MetricValue {
    let values: Vec<f64> = samples
        .iter()
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, v)| *v)
        .collect();
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let has = |a: &str| asked.contains(&a);
    let some = |v: f64| (!values.is_empty()).then_some(v);
    MetricValue {
        time_stamp: iso8601(stamp),
        average: if has("average") { some(sum / n) } else { None },
        minimum: if has("minimum") {
            some(values.iter().copied().fold(f64::INFINITY, f64::min))
        } else {
            None
        },
        maximum: if has("maximum") {
            some(values.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        } else {
            None
        },
        total: has("total").then_some(sum),
        count: has("count").then_some(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::state::Site;

    fn state() -> State {
        let mut s = State::new("https://127.0.0.1:1");
        s.sites.insert("app".into(), Site::default());
        s.metrics.insert(
            ("app".into(), "Requests".into()),
            vec![
                (1_764_594_000_000, 1.0),
                (1_764_594_030_000, 1.0),
                (1_764_594_060_000, 1.0),
            ],
        );
        s
    }

    fn ask(s: &State, site: &str, pairs: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut q: BTreeMap<String, String> = [
            ("api-version", METRICS_API),
            ("timespan", "2025-12-01T13:00:00Z/2025-12-01T13:02:00Z"),
            ("interval", "PT1M"),
            ("metricnames", "Requests"),
            ("aggregation", "Total,Count"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            q.insert(k.to_string(), v.to_string());
        }
        let resp = metrics(s, &Method::GET, site, &q);
        let status = resp.status().as_u16();
        let bytes = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 1 << 20)).unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[test]
    fn aggregates_by_interval_and_refuses_what_azure_monitor_refuses() {
        let s = state();
        let (status, v) = ask(&s, "app", &[]);
        assert_eq!(status, 200, "{v}");
        let r: Response = serde_json::from_value(v).unwrap();
        let data = &r.value[0].timeseries[0].data;
        let totals: Vec<(Option<f64>, Option<f64>)> = data.iter().map(|p| (p.total, p.count)).collect();
        assert_eq!(totals, vec![(Some(2.0), Some(2.0)), (Some(1.0), Some(1.0))]);
        assert_eq!(data[1].time_stamp, "2025-12-01T13:01:00Z");
        let (_, v) = ask(&s, "app", &[("interval", "FULL"), ("aggregation", "Average,Maximum")]);
        let r: Response = serde_json::from_value(v).unwrap();
        let p = &r.value[0].timeseries[0].data[0];
        assert_eq!((p.total, p.average, p.maximum), (None, Some(1.0), Some(1.0)));
        for bad in [
            ("interval", "PT2M"),
            ("timespan", "2025-12-01T13:02:00Z/2025-12-01T13:00:00Z"),
            ("timespan", "yesterday"),
            ("metricnames", "Invocations"),
            ("aggregation", "Sum"),
            ("api-version", "2018-01-01"),
        ] {
            assert_eq!(ask(&s, "app", &[bad]).0, 400, "{bad:?}");
        }
        assert_eq!(ask(&s, "missing", &[]).0, 404);
        assert_eq!(ask(&s, "app/slots/staging", &[]).0, 404);
    }
}
