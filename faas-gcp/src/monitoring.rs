//! Cloud Monitoring v3 `projects.timeSeries.list` on a function's Cloud Run revisions
//! (resource type `cloud_run_revision`), and the [`Metrics`] computed from its answers:
//!
//! | figure | metric (`run.googleapis.com/…`) | how |
//! |---|---|---|
//! | invocations, errors, throttles | `request_count` (DELTA INT64) by `response_code_class`, `response_code` | all requests but 429s; `5xx`; `429` |
//! | duration | `request_latencies` (DELTA DISTRIBUTION, ms) | mean; p50/p90/p99 interpolated within the buckets |
//! | cold starts, init duration | `container/startup_latencies` (DELTA DISTRIBUTION, ms) | the count of instance starts; as above |
//!
//! Each metric is one call (more only when the answer is paged): aligned with `ALIGN_DELTA`
//! over the whole window, summed with `REDUCE_SUM`, grouped by `resource.label.revision_name`
//! for the per-version breakdown.

use std::collections::BTreeMap;

use faas_core::observe::{DurationStats, Metrics, MetricsQuery, TimeWindow};
use faas_core::{Error, ResourceKind, Result};
use reqwest::Method;

use crate::observe::{Scope, quote};
use crate::resources::{Distribution, ListTimeSeriesResponse, TimeSeries};
use crate::rest::{Api, Target};
use crate::timestamp::format_ms;

/// Where the figures come from.
pub(crate) const SOURCE: &str = "Cloud Monitoring run.googleapis.com metrics of cloud_run_revision (duration and init_duration percentiles are estimates interpolated within the distributions' buckets)";

/// `run.googleapis.com/request_count`.
const REQUEST_COUNT: &str = "run.googleapis.com/request_count";
/// `run.googleapis.com/request_latencies`.
const REQUEST_LATENCIES: &str = "run.googleapis.com/request_latencies";
/// `run.googleapis.com/container/startup_latencies`.
const STARTUP_LATENCIES: &str = "run.googleapis.com/container/startup_latencies";

/// The shortest alignment period Cloud Monitoring takes.
pub(crate) const MIN_ALIGNMENT_S: u64 = 60;

/// Cloud Monitoring v3 for one project and region.
#[derive(Debug, Clone)]
pub(crate) struct Monitoring {
    /// The authenticated client.
    pub api: Api,
    /// API root, ending in `/v3/`.
    pub base: String,
    /// The project id.
    pub project: String,
    /// The region (the `location` label).
    pub region: String,
}

impl Monitoring {
    /// The figures of `query` over the revisions of `scope`.
    pub async fn metrics(&self, scope: &Scope, query: &MetricsQuery) -> Result<Metrics> {
        let w = query.window;
        let by_revision = "resource.label.revision_name";
        let requests = self
            .list(
                REQUEST_COUNT,
                scope,
                w,
                &[
                    by_revision,
                    "metric.label.response_code_class",
                    "metric.label.response_code",
                ],
            )
            .await?;
        let latencies = self.list(REQUEST_LATENCIES, scope, w, &[by_revision]).await?;
        let startups = self.list(STARTUP_LATENCIES, scope, w, &[by_revision]).await?;
        let mut per: BTreeMap<String, Figures> = BTreeMap::new();
        for ts in &requests {
            let n: u64 = ts.points.iter().filter_map(|p| p.value.count()).sum();
            let f = per.entry(revision(ts)).or_default();
            f.requests += n;
            if ts.metric.labels.get("response_code_class").map(String::as_str) == Some("5xx") {
                f.errors += n;
            }
            if ts.metric.labels.get("response_code").map(String::as_str) == Some("429") {
                f.throttles += n;
            }
        }
        for ts in &latencies {
            per.entry(revision(ts)).or_default().latency.add_series(ts);
        }
        for ts in &startups {
            per.entry(revision(ts)).or_default().startup.add_series(ts);
        }
        let mut total = Figures::default();
        for f in per.values() {
            total.merge(f);
        }
        let figures = |f: &Figures| f.metrics(&query.function, query.qualifier.clone(), w);
        let mut m = figures(&total);
        if per.len() > 1 {
            m.by_version = per.iter().map(|(rev, f)| (scope.version_of(rev), figures(f))).collect();
        }
        Ok(m)
    }

    /// The figures of each of `periods` (one [`Monitoring::metrics`] each: exact, since each
    /// period is its own aligned window).
    pub async fn series(&self, scope: &Scope, query: &MetricsQuery, periods: &[TimeWindow]) -> Result<Vec<Metrics>> {
        let mut series = Vec::new();
        for period in periods {
            let mut one = query.clone();
            one.window = *period;
            one.period = None;
            series.push(self.metrics(scope, &one).await?);
        }
        Ok(series)
    }

    /// Every time series of `metric` on `scope`'s revisions in `window`, aligned over the
    /// window and summed per `group_by`, following `nextPageToken`.
    async fn list(
        &self,
        metric: &str,
        scope: &Scope,
        window: TimeWindow,
        group_by: &[&str],
    ) -> Result<Vec<TimeSeries>> {
        let mut filter = format!(
            "metric.type = {} AND resource.type = \"cloud_run_revision\" AND resource.label.service_name = {} AND resource.label.location = {}",
            quote(metric),
            quote(&scope.service),
            quote(&self.region)
        );
        if let Some(revs) = &scope.revisions {
            let list: Vec<String> = revs.iter().map(|r| quote(r)).collect();
            filter.push_str(&format!(
                " AND resource.label.revision_name = one_of({})",
                list.join(", ")
            ));
        }
        let period = window
            .span()
            .as_millis()
            .div_ceil(1000)
            .max(u128::from(MIN_ALIGNMENT_S));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = reqwest::Url::parse(&format!("{}projects/{}/timeSeries", self.base, self.project))
                .map_err(|e| Error::config("monitoring_url", &self.base, e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("filter", &filter)
                    .append_pair("interval.startTime", &format_ms(window.start_ms))
                    .append_pair("interval.endTime", &format_ms(window.end_ms))
                    .append_pair("aggregation.alignmentPeriod", &format!("{period}s"))
                    .append_pair("aggregation.perSeriesAligner", "ALIGN_DELTA")
                    .append_pair("aggregation.crossSeriesReducer", "REDUCE_SUM");
                for g in group_by {
                    q.append_pair("aggregation.groupByFields", g);
                }
                q.append_pair("view", "FULL");
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            let page: ListTimeSeriesResponse = self
                .api
                .send(
                    Method::GET,
                    url.as_str(),
                    None,
                    Target {
                        kind: ResourceKind::Function,
                        name: &scope.function,
                    },
                )
                .await?;
            out.extend(page.time_series);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}

/// The revision a series is of (its `revision_name` label).
fn revision(ts: &TimeSeries) -> String {
    ts.resource.labels.get("revision_name").cloned().unwrap_or_default()
}

/// The counts and distributions of one revision (or of all).
#[derive(Debug, Default)]
struct Figures {
    requests: u64,
    errors: u64,
    throttles: u64,
    latency: Histogram,
    startup: Histogram,
}

impl Figures {
    fn merge(&mut self, other: &Figures) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.throttles += other.throttles;
        self.latency.merge(&other.latency);
        self.startup.merge(&other.startup);
    }

    fn metrics(&self, function: &str, qualifier: Option<String>, window: TimeWindow) -> Metrics {
        let mut m = Metrics::empty(function, qualifier, window, SOURCE);
        m.invocations = Some(self.requests.saturating_sub(self.throttles));
        m.errors = Some(self.errors);
        m.throttles = Some(self.throttles);
        m.duration = self
            .latency
            .stats("duration", "no request latencies were recorded", &mut m.unavailable);
        m.cold_starts = Some(self.startup.count);
        m.init_duration = self
            .startup
            .stats("init_duration", "no instance started", &mut m.unavailable);
        m.unavailable.insert(
            "peak_concurrency".into(),
            "Cloud Run reports each instance's own maximum (container/max_request_concurrencies) and the number of instances (container/instance_count), not how many requests ran at once across them".into(),
        );
        m.unavailable.insert(
            "max_memory_used_mb".into(),
            "Cloud Run reports memory as a utilization of each instance's limit (container/memory/utilizations), not megabytes per request".into(),
        );
        m
    }
}

/// Distributions summed: count, sum, bucket counts over one bucket layout.
#[derive(Debug, Default)]
struct Histogram {
    count: u64,
    sum: f64,
    bounds: Option<Vec<f64>>,
    counts: Vec<u64>,
    /// The largest `range.max`, while every distribution had a range.
    max: Option<f64>,
    unranged: bool,
    mismatched: bool,
}

impl Histogram {
    fn add_series(&mut self, ts: &TimeSeries) {
        for p in &ts.points {
            if let Some(d) = &p.value.distribution_value {
                self.add(d);
            }
        }
    }

    fn add(&mut self, d: &Distribution) {
        let n = d.total();
        if n == 0 {
            return;
        }
        let bounds = d.bucket_options.as_ref().map(|b| b.bounds()).unwrap_or_default();
        self.add_counts(
            n,
            d.mean * n as f64,
            &bounds,
            &d.counts(),
            d.range.as_ref().map(|r| r.max),
        );
    }

    fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        self.mismatched |= other.mismatched;
        self.unranged |= other.unranged;
        let bounds = other.bounds.clone().unwrap_or_default();
        self.add_counts(other.count, other.sum, &bounds, &other.counts, other.max);
    }

    fn add_counts(&mut self, n: u64, sum: f64, bounds: &[f64], counts: &[u64], max: Option<f64>) {
        self.count += n;
        self.sum += sum;
        match &self.bounds {
            None => self.bounds = Some(bounds.to_vec()),
            Some(b) if b.as_slice() != bounds => self.mismatched = true,
            Some(_) => {}
        }
        if self.counts.len() < counts.len() {
            self.counts.resize(counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(counts) {
            *a += b;
        }
        match max {
            Some(x) if !self.unranged => self.max = Some(self.max.map_or(x, |m| m.max(x))),
            Some(_) => {}
            None => {
                self.unranged = true;
                self.max = None;
            }
        }
    }

    /// The statistics, or `None` with the reason recorded under `figure`.
    fn stats(&self, figure: &str, empty: &str, why: &mut BTreeMap<String, String>) -> Option<DurationStats> {
        if self.count == 0 {
            why.insert(figure.into(), empty.into());
            return None;
        }
        let bounds = self.bounds.clone().unwrap_or_default();
        if self.mismatched || bounds.is_empty() || self.counts.iter().sum::<u64>() != self.count {
            why.insert(
                figure.into(),
                "the distributions' buckets differ or do not add up to their count: no percentile can be read".into(),
            );
            return None;
        }
        let p = |q: f64| percentile(&bounds, &self.counts, q);
        let max_ms = match self.max {
            Some(m) => m,
            None => {
                why.insert(
                    format!("{figure}.max_ms"),
                    "a Cloud Monitoring distribution keeps no maximum (its range is not set): max_ms is the upper edge of the highest non-empty bucket, an estimate".into(),
                );
                let top = self.counts.iter().rposition(|c| *c > 0).unwrap_or(0);
                edges(&bounds, top).1
            }
        };
        Some(DurationStats {
            avg_ms: self.sum / self.count as f64,
            p50_ms: p(50.0),
            p90_ms: p(90.0),
            p99_ms: p(99.0),
            max_ms,
        })
    }
}

/// The `q`th percentile of a histogram, interpolated linearly inside the bucket that holds
/// the rank `q/100 · count` (the underflow bucket is taken to start at 0, the overflow bucket
/// to end where it starts).
pub(crate) fn percentile(bounds: &[f64], counts: &[u64], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    let rank = q / 100.0 * total as f64;
    let mut before = 0u64;
    let mut last = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        last = i;
        if (before + c) as f64 >= rank {
            let (lo, hi) = edges(bounds, i);
            let within = ((rank - before as f64) / c as f64).clamp(0.0, 1.0);
            return lo + (hi - lo) * within;
        }
        before += c;
    }
    edges(bounds, last).1
}

/// The lower and upper edge of bucket `i` (0: underflow, `bounds.len()`: overflow).
fn edges(bounds: &[f64], i: usize) -> (f64, f64) {
    let n = bounds.len();
    match i {
        _ if n == 0 => (0.0, 0.0),
        0 => (bounds[0].min(0.0), bounds[0]),
        i if i < n => (bounds[i - 1], bounds[i]),
        _ => (bounds[n - 1], bounds[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_inside_buckets() {
        // Buckets: (−∞,10) [10,20) [20,40) [40,∞): 0, 10, 10, 0 values.
        let (b, c) = (vec![10.0, 20.0, 40.0], vec![0, 10, 10, 0]);
        assert_eq!(percentile(&b, &c, 50.0), 20.0);
        assert_eq!(percentile(&b, &c, 25.0), 15.0);
        assert_eq!(percentile(&b, &c, 100.0), 40.0);
        assert_eq!(percentile(&b, &[0, 0, 0, 3], 50.0), 40.0, "overflow: its lower edge");
    }
}
