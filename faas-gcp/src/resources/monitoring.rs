//! Cloud Monitoring v3 schemas (`https://monitoring.googleapis.com/$discovery/rest?version=v3`):
//! the answer of `projects.timeSeries.list` — `ListTimeSeriesResponse`, `TimeSeries`, `Point`,
//! `TimeInterval`, `TypedValue`, `Distribution` and its `BucketOptions` — the parts we read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `ListTimeSeriesResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ListTimeSeriesResponse {
    /// One time series per group of the aggregation.
    pub time_series: Vec<TimeSeries>,
    /// Set when there are more results: the `pageToken` of the next call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `TimeSeries`: its metric and monitored resource (their labels; after a cross-series
/// reducer only the `groupByFields` remain) and its points, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TimeSeries {
    /// `Metric`.
    pub metric: Labelled,
    /// `MonitoredResource`.
    pub resource: Labelled,
    /// `DELTA`, `GAUGE`, `CUMULATIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_kind: Option<String>,
    /// `INT64`, `DOUBLE`, `DISTRIBUTION`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// The data points.
    pub points: Vec<Point>,
}

/// The `type` and `labels` of a `Metric` or a `MonitoredResource`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Labelled {
    /// `run.googleapis.com/request_count`, `cloud_run_revision`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The labels.
    pub labels: BTreeMap<String, String>,
}

/// `Point`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Point {
    /// `TimeInterval`.
    pub interval: TimeInterval,
    /// `TypedValue`.
    pub value: TypedValue,
}

/// `TimeInterval`: RFC 3339 timestamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TimeInterval {
    /// The end.
    pub end_time: String,
    /// The start (optional for gauges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
}

/// `TypedValue`: one of its fields is set. `int64Value` is a decimal string (format `int64`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TypedValue {
    /// `int64Value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int64_value: Option<String>,
    /// `doubleValue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    /// `distributionValue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution_value: Option<Distribution>,
}

impl TypedValue {
    /// The value as a whole count (`int64Value`, or a whole `doubleValue`).
    pub fn count(&self) -> Option<u64> {
        match (&self.int64_value, self.double_value) {
            (Some(i), _) => i.parse().ok(),
            (None, Some(d)) if d >= 0.0 => Some(d.round() as u64),
            _ => None,
        }
    }
}

/// `Distribution`: `count` and `bucketCounts` are `int64` decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Distribution {
    /// How many values.
    pub count: String,
    /// Their mean (0 when `count` is 0).
    pub mean: f64,
    /// `Range`: the smallest and largest value, when the writer recorded them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// `BucketOptions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_options: Option<BucketOptions>,
    /// The count of each bucket, underflow first; trailing zeros may be left out.
    pub bucket_counts: Vec<String>,
}

impl Distribution {
    /// `count` as a number.
    pub fn total(&self) -> u64 {
        self.count.parse().unwrap_or(0)
    }

    /// `bucketCounts` as numbers.
    pub fn counts(&self) -> Vec<u64> {
        self.bucket_counts.iter().map(|c| c.parse().unwrap_or(0)).collect()
    }
}

/// `Range`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Range {
    /// `min`.
    pub min: f64,
    /// `max`.
    pub max: f64,
}

/// `BucketOptions`: exactly one of the three layouts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct BucketOptions {
    /// `Linear`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_buckets: Option<Linear>,
    /// `Exponential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponential_buckets: Option<Exponential>,
    /// `Explicit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explicit_buckets: Option<Explicit>,
}

/// `Linear`: bucket `i` (1 ≤ i ≤ N) is `[offset + width·(i−1), offset + width·i)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Linear {
    /// `numFiniteBuckets`.
    pub num_finite_buckets: u32,
    /// `width`.
    pub width: f64,
    /// `offset`.
    pub offset: f64,
}

/// `Exponential`: bucket `i` (1 ≤ i ≤ N) is `[scale·growthFactor^(i−1), scale·growthFactor^i)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Exponential {
    /// `numFiniteBuckets`.
    pub num_finite_buckets: u32,
    /// `growthFactor`.
    pub growth_factor: f64,
    /// `scale`.
    pub scale: f64,
}

/// `Explicit`: bucket `i` (1 ≤ i < len) is `[bounds[i−1], bounds[i])`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Explicit {
    /// `bounds`.
    pub bounds: Vec<f64>,
}

impl BucketOptions {
    /// The finite bucket boundaries `b0 < b1 < … < bN`: bucket 0 is `(−∞, b0)`, bucket `i` is
    /// `[b(i−1), b(i))`, and bucket `N+1` is `[bN, +∞)`.
    pub fn bounds(&self) -> Vec<f64> {
        if let Some(l) = &self.linear_buckets {
            return (0..=l.num_finite_buckets)
                .map(|i| l.offset + l.width * f64::from(i))
                .collect();
        }
        if let Some(e) = &self.exponential_buckets {
            return (0..=e.num_finite_buckets)
                .map(|i| e.scale * e.growth_factor.powi(i as i32))
                .collect();
        }
        self.explicit_buckets
            .as_ref()
            .map(|e| e.bounds.clone())
            .unwrap_or_default()
    }
}
