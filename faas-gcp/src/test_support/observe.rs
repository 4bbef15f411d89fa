//! Cloud Monitoring v3 `projects.timeSeries.list` and Cloud Logging v2 `entries.list` over
//! data a test seeds: raw `TimeSeries` (DELTA points) and `LogEntry`s, read back through the
//! filter, interval, aggregation and paging parameters the discovery documents define. What
//! the fake does not implement (other aligners and reducers, `view=HEADERS`, unknown
//! parameters or fields) is `400 INVALID_ARGUMENT`, so a test proves what the provider sends.
//! One difference: `timeSeries.list` pages by time series here; Google's `pageSize` counts
//! points under `view=FULL`.

use std::collections::BTreeMap;

use axum::response::Response;
use serde_json::{Value, json};

use super::filter::{self, Cond};
use super::state::State;
use super::wire::{bad_field, ok, percent_decode};
use crate::resources::{
    Distribution, Labelled, ListLogEntriesRequest, LogEntry, Point, Range, TimeInterval, TimeSeries, TypedValue,
};
use crate::timestamp::{format_ms, parse_ms};

/// The query parameters of `timeSeries.list` (besides the standard ones such as `alt`).
const SERIES_PARAMS: &[&str] = &[
    "filter",
    "interval.startTime",
    "interval.endTime",
    "aggregation.alignmentPeriod",
    "aggregation.perSeriesAligner",
    "aggregation.crossSeriesReducer",
    "aggregation.groupByFields",
    "orderBy",
    "view",
    "pageSize",
    "pageToken",
    "secondaryAggregation.alignmentPeriod",
    "secondaryAggregation.crossSeriesReducer",
    "secondaryAggregation.groupByFields",
    "secondaryAggregation.perSeriesAligner",
];

/// `GET /v3/projects/{project}/timeSeries`.
pub(super) fn time_series(s: &mut State, raw_query: &str) -> Response {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kv in raw_query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        params.entry(percent_decode(k)).or_default().push(percent_decode(v));
    }
    if let Some(k) = params.keys().find(|k| !SERIES_PARAMS.contains(&k.as_str())) {
        return bad_field(k, &format!("Invalid JSON payload received. Unknown name \"{k}\""));
    }
    if let Some(k) = params
        .keys()
        .find(|k| k.starts_with("secondaryAggregation.") || *k == "orderBy")
    {
        return bad_field(k, &format!("the fake does not implement {k}"));
    }
    let one = |k: &str| params.get(k).and_then(|v| v.first()).cloned();
    let Some(filter_text) = one("filter") else {
        return bad_field("filter", "Field filter had an invalid value: a filter is required");
    };
    let conds = match filter::parse(&filter_text) {
        Ok(c) => c,
        Err(e) => return bad_field("filter", &format!("Could not parse filter: {e}")),
    };
    for k in filter::keys(&conds) {
        if !(k == "metric.type" || k == "resource.type" || label_key(&k).is_some()) {
            return bad_field("filter", &format!("the fake does not filter on {k}"));
        }
    }
    let (Some(start), Some(end)) = (
        one("interval.startTime").and_then(|t| parse_ms(&t)),
        one("interval.endTime").and_then(|t| parse_ms(&t)),
    ) else {
        return bad_field(
            "interval",
            "interval.startTime and interval.endTime must be RFC 3339 timestamps",
        );
    };
    if start > end {
        return bad_field("interval", "The start time must be before the end time");
    }
    if one("aggregation.perSeriesAligner").as_deref() != Some("ALIGN_DELTA") {
        return bad_field(
            "aggregation.perSeriesAligner",
            "the fake aligns DELTA metrics with ALIGN_DELTA only",
        );
    }
    let period_s =
        one("aggregation.alignmentPeriod").and_then(|p| p.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()));
    let Some(period_s) = period_s.filter(|p| *p >= 60) else {
        return bad_field(
            "aggregation.alignmentPeriod",
            "The alignment period must be a duration of at least 60s",
        );
    };
    match one("aggregation.crossSeriesReducer").as_deref() {
        None | Some("REDUCE_SUM") => {}
        Some(other) => {
            return bad_field(
                "aggregation.crossSeriesReducer",
                &format!("the fake reduces with REDUCE_SUM only, not {other}"),
            );
        }
    }
    let group_by = params.get("aggregation.groupByFields").cloned().unwrap_or_default();
    if let Some(g) = group_by.iter().find(|g| label_key(g).is_none()) {
        return bad_field("aggregation.groupByFields", &format!("not a label: {g}"));
    }
    if !matches!(one("view").as_deref(), None | Some("FULL")) {
        return bad_field("view", "the fake answers view=FULL only");
    }
    let period_ms = period_s * 1000;
    // (group labels, alignment bucket) → summed value.
    let mut groups: BTreeMap<Vec<String>, (TimeSeries, BTreeMap<u64, TypedValue>)> = BTreeMap::new();
    for ts in &s.series {
        let get = |k: &str| field_of_series(ts, k);
        if !filter::holds(&conds, &get) {
            continue;
        }
        let key: Vec<String> = group_by.iter().map(|g| get(g).unwrap_or_default()).collect();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (grouped(ts, &group_by), BTreeMap::new()));
        for p in &ts.points {
            let Some(at) = parse_ms(&p.interval.end_time) else {
                continue;
            };
            if at <= start || at > end {
                continue;
            }
            let bucket = (end - at) / period_ms;
            let slot = entry.1.entry(bucket).or_default();
            if let Err(e) = add(slot, &p.value) {
                return bad_field("aggregation.crossSeriesReducer", &e);
            }
        }
    }
    let mut out: Vec<TimeSeries> = groups
        .into_values()
        .filter(|(_, points)| !points.is_empty())
        .map(|(mut ts, points)| {
            ts.points = points
                .into_iter()
                .map(|(k, value)| Point {
                    interval: TimeInterval {
                        start_time: Some(format_ms((end - (k + 1) * period_ms).max(start))),
                        end_time: format_ms(end - k * period_ms),
                    },
                    value,
                })
                .collect();
            ts
        })
        .collect();
    let page = s.series_page_size;
    let offset = one("pageToken")
        .map(|t| t.strip_prefix("series-").and_then(|n| n.parse::<usize>().ok()))
        .unwrap_or(Some(0));
    let Some(offset) = offset else {
        return bad_field("pageToken", "The page token is not valid");
    };
    let rest = out.split_off(offset.min(out.len()));
    let more = rest.len() > page;
    let shown: Vec<TimeSeries> = rest.into_iter().take(page).collect();
    let mut body = json!({"timeSeries": shown, "unit": ""});
    if more {
        body["nextPageToken"] = json!(format!("series-{}", offset + page));
    }
    ok(body)
}

/// `resource.label.X` / `resource.labels.X` / `metric.label.X` / `metric.labels.X` → (which, X).
fn label_key(k: &str) -> Option<(&str, &str)> {
    for which in ["resource", "metric"] {
        for infix in [".label.", ".labels."] {
            if let Some(name) = k.strip_prefix(which).and_then(|r| r.strip_prefix(infix)) {
                return Some((which, name));
            }
        }
    }
    None
}

fn field_of_series(ts: &TimeSeries, k: &str) -> Option<String> {
    match k {
        "metric.type" => Some(ts.metric.kind.clone()),
        "resource.type" => Some(ts.resource.kind.clone()),
        _ => {
            let (which, name) = label_key(k)?;
            let labels = if which == "resource" {
                &ts.resource.labels
            } else {
                &ts.metric.labels
            };
            labels.get(name).cloned()
        }
    }
}

/// The reduced series' header: only the grouped labels remain.
fn grouped(ts: &TimeSeries, group_by: &[String]) -> TimeSeries {
    let keep = |which: &str, from: &Labelled| Labelled {
        kind: from.kind.clone(),
        labels: group_by
            .iter()
            .filter_map(|g| label_key(g))
            .filter(|(w, _)| *w == which)
            .filter_map(|(_, n)| from.labels.get(n).map(|v| (n.to_string(), v.clone())))
            .collect(),
    };
    TimeSeries {
        metric: keep("metric", &ts.metric),
        resource: keep("resource", &ts.resource),
        metric_kind: Some("DELTA".into()),
        value_type: ts.value_type.clone(),
        points: Vec::new(),
    }
}

/// REDUCE_SUM of one more value into `slot`.
fn add(slot: &mut TypedValue, v: &TypedValue) -> Result<(), String> {
    if let Some(i) = &v.int64_value {
        let a: u64 = slot.int64_value.as_deref().unwrap_or("0").parse().unwrap_or(0);
        slot.int64_value = Some((a + i.parse::<u64>().unwrap_or(0)).to_string());
        return Ok(());
    }
    let Some(d) = &v.distribution_value else {
        return Err("the fake sums INT64 and DISTRIBUTION values only".into());
    };
    let Some(acc) = &mut slot.distribution_value else {
        slot.distribution_value = Some(d.clone());
        return Ok(());
    };
    if acc.bucket_options != d.bucket_options {
        return Err("distributions with different bucket options cannot be summed".into());
    }
    let (n, m) = (acc.total(), d.total());
    let mut counts = acc.counts();
    counts.resize(counts.len().max(d.counts().len()), 0);
    for (a, b) in counts.iter_mut().zip(d.counts()) {
        *a += b;
    }
    let range = match (&acc.range, &d.range) {
        (Some(a), Some(b)) => Some(Range {
            min: a.min.min(b.min),
            max: a.max.max(b.max),
        }),
        _ => None,
    };
    *acc = Distribution {
        count: (n + m).to_string(),
        mean: if n + m == 0 {
            0.0
        } else {
            (acc.mean * n as f64 + d.mean * m as f64) / (n + m) as f64
        },
        range,
        bucket_options: acc.bucket_options.clone(),
        bucket_counts: counts.iter().map(u64::to_string).collect(),
    };
    Ok(())
}

/// The fields of `ListLogEntriesRequest`.
const LOG_REQUEST_FIELDS: &[&str] = &[
    "resourceNames",
    "projectIds",
    "filter",
    "orderBy",
    "pageSize",
    "pageToken",
];

/// `POST /v2/entries:list`.
pub(super) fn entries_list(s: &mut State, body: Value) -> Response {
    if let Some(k) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !LOG_REQUEST_FIELDS.contains(&k.as_str())))
    {
        return bad_field(k, &format!("Invalid JSON payload received. Unknown name \"{k}\""));
    }
    let req: ListLogEntriesRequest = match serde_json::from_value(body) {
        Ok(r) => r,
        Err(e) => return bad_field("request", &format!("Invalid JSON payload received: {e}")),
    };
    if req.resource_names != [format!("projects/{}", super::PROJECT)] {
        return bad_field(
            "resource_names",
            "resourceNames must name this project (projects/faas-test)",
        );
    }
    let desc = match req.order_by.as_str() {
        "" | "timestamp asc" => false,
        "timestamp desc" => true,
        other => return bad_field("order_by", &format!("invalid orderBy: {other}")),
    };
    if req.page_size > 1000 {
        return bad_field("page_size", "pageSize is at most 1000");
    }
    let conds: Vec<Cond> = match filter::parse(&req.filter) {
        Ok(c) => c,
        Err(e) => return bad_field("filter", &format!("Unparseable filter: {e}")),
    };
    for k in filter::keys(&conds) {
        let known = matches!(
            k.as_str(),
            "resource.type" | "timestamp" | "textPayload" | "jsonPayload.message" | "severity"
        ) || k.starts_with("resource.labels.");
        if !known {
            return bad_field("filter", &format!("the fake does not filter on {k}"));
        }
    }
    let offset = match &req.page_token {
        None => 0,
        Some(t) => match s.log_pages.get(t) {
            Some((f, o)) if *f == req.filter => *o,
            _ => return bad_field("page_token", "The page token does not match the request or has expired"),
        },
    };
    let mut matching: Vec<&LogEntry> = s
        .log_entries
        .iter()
        .filter(|e| filter::holds(&conds, &|k: &str| field_of_entry(e, k)))
        .collect();
    matching.sort_by_key(|e| {
        (
            parse_ms(&e.timestamp).unwrap_or(0),
            e.timestamp.clone(),
            e.insert_id.clone(),
        )
    });
    if desc {
        matching.reverse();
    }
    let size = if req.page_size == 0 { 50 } else { req.page_size as usize };
    let page: Vec<LogEntry> = matching.iter().skip(offset).take(size).map(|e| (*e).clone()).collect();
    let mut answer = json!({"entries": page});
    if offset + size < matching.len() {
        let token = format!("logs-{}", s.log_pages.len() + 1);
        s.log_pages.insert(token.clone(), (req.filter.clone(), offset + size));
        answer["nextPageToken"] = json!(token);
    }
    ok(answer)
}

fn field_of_entry(e: &LogEntry, k: &str) -> Option<String> {
    match k {
        "resource.type" => Some(e.resource.kind.clone()),
        "timestamp" => Some(e.timestamp.clone()),
        "textPayload" => e.text_payload.clone(),
        "jsonPayload.message" => e.json_payload.as_ref()?.get("message")?.as_str().map(str::to_string),
        "severity" => e.severity.as_ref().map(|s| s.as_str().to_string()),
        _ => e.resource.labels.get(k.strip_prefix("resource.labels.")?).cloned(),
    }
}

/// Reads seeded JSON as the typed resource, panicking (a test bug) when it is not one.
pub(super) fn typed<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("seeded {what} does not follow the schema: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_fake_does_not_implement_is_refused() {
        let mut s = State::new("http://127.0.0.1:9");
        let base = "filter=metric.type%20%3D%20%22run.googleapis.com%2Frequest_count%22&interval.startTime=2026-01-01T00:00:00Z&interval.endTime=2026-01-01T01:00:00Z&aggregation.alignmentPeriod=3600s";
        let status = |s: &mut State, q: &str| time_series(s, q).status().as_u16();
        assert_eq!(
            status(&mut s, &format!("{base}&aggregation.perSeriesAligner=ALIGN_DELTA")),
            200
        );
        assert_eq!(
            status(&mut s, &format!("{base}&aggregation.perSeriesAligner=ALIGN_MEAN")),
            400
        );
        assert_eq!(
            status(
                &mut s,
                &format!("{base}&aggregation.perSeriesAligner=ALIGN_DELTA&view=HEADERS")
            ),
            400
        );
        assert_eq!(
            status(
                &mut s,
                &format!("{base}&aggregation.perSeriesAligner=ALIGN_DELTA&colour=blue")
            ),
            400
        );
        let short = base.replace("3600s", "30s");
        assert_eq!(
            status(&mut s, &format!("{short}&aggregation.perSeriesAligner=ALIGN_DELTA")),
            400
        );
        let logs = |s: &mut State, body: Value| entries_list(s, body).status().as_u16();
        let ok_body =
            json!({"resourceNames": ["projects/faas-test"], "filter": "resource.type = \"cloud_run_revision\""});
        assert_eq!(logs(&mut s, ok_body.clone()), 200);
        let mut unknown = ok_body.clone();
        unknown["colour"] = json!("blue");
        assert_eq!(logs(&mut s, unknown), 400);
        let mut bad_filter = ok_body;
        bad_filter["filter"] = json!("resource.type = cloud_run_revision");
        assert_eq!(logs(&mut s, bad_filter), 400);
    }
}
