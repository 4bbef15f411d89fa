//! [`Metrics`]: what a function did over a window — counts, durations, cold starts — and
//! [`Metrics::from_samples`], which computes them from per-invocation records where a provider
//! has those (the local store, Lambda's `REPORT` lines).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::TimeWindow;

/// What to measure: a function, optionally one version or label, over a window, and for a
/// series the period of each point.
///
/// ```
/// use std::time::Duration;
/// use faas_core::observe::{MetricsQuery, TimeWindow};
/// let q = MetricsQuery::new("hello", TimeWindow::last(Duration::from_secs(3600)))
///     .qualifier("live")
///     .period(Duration::from_secs(300));
/// assert_eq!(q.qualifier.as_deref(), Some("live"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsQuery {
    /// The function.
    pub function: String,
    /// A version or label; `None`: every invocation of the function.
    pub qualifier: Option<String>,
    /// The window.
    pub window: TimeWindow,
    /// The length of each point of a series ([`Provider::metric_series`](crate::Provider::metric_series)).
    pub period: Option<Duration>,
}

impl MetricsQuery {
    /// All invocations of `function` in `window`.
    pub fn new(function: impl Into<String>, window: TimeWindow) -> MetricsQuery {
        MetricsQuery {
            function: function.into(),
            qualifier: None,
            window,
            period: None,
        }
    }

    /// Only `qualifier`'s invocations (a version, or a label with each version it routes to
    /// in [`Metrics::by_version`]).
    pub fn qualifier(mut self, qualifier: impl Into<String>) -> MetricsQuery {
        self.qualifier = Some(qualifier.into());
        self
    }

    /// The period of a series' points.
    pub fn period(mut self, period: Duration) -> MetricsQuery {
        self.period = Some(period);
        self
    }
}

/// Durations in milliseconds: mean, nearest-rank percentiles and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DurationStats {
    /// The mean.
    pub avg_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The longest.
    pub max_ms: f64,
}

impl DurationStats {
    /// The statistics of `values` (`None` when there are none). Percentiles are nearest-rank:
    /// the smallest value with at least p% of the values at or below it.
    ///
    /// ```
    /// let s = faas_core::observe::DurationStats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    /// assert_eq!((s.p50_ms, s.p90_ms, s.max_ms, s.avg_ms), (2.0, 4.0, 4.0, 2.5));
    /// ```
    pub fn of(values: &[f64]) -> Option<DurationStats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = |p: f64| sorted[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Some(DurationStats {
            avg_ms: sorted.iter().sum::<f64>() / n as f64,
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: sorted[n - 1],
        })
    }
}

/// What a function did over a window. A figure the provider could not give is `None`, with
/// the reason in [`Metrics::unavailable`] — never a made-up zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// The function.
    pub function: String,
    /// The version or label measured, if one was asked for.
    pub qualifier: Option<String>,
    /// The window measured.
    pub window: TimeWindow,
    /// Invocations that ran (throttled ones excluded).
    pub invocations: Option<u64>,
    /// Invocations that ended in a function error (throttles are not errors).
    pub errors: Option<u64>,
    /// Invocations refused for lack of concurrency.
    pub throttles: Option<u64>,
    /// Handler durations.
    pub duration: Option<DurationStats>,
    /// Invocations that started a new execution environment.
    pub cold_starts: Option<u64>,
    /// Init (cold start) durations.
    pub init_duration: Option<DurationStats>,
    /// The most invocations running at once.
    pub peak_concurrency: Option<u64>,
    /// The most memory one invocation used, in MB.
    pub max_memory_used_mb: Option<u32>,
    /// The same figures for each version that ran, when a label split traffic (empty
    /// otherwise, and inside each entry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_version: BTreeMap<String, Metrics>,
    /// Where the figures came from (`local invocation store`, `CloudWatch AWS/Lambda`).
    pub source: String,
    /// The figures that are `None`, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unavailable: BTreeMap<String, String>,
}

impl Metrics {
    /// Metrics with no figure yet, from `source`: providers fill in what they know.
    pub fn empty(function: impl Into<String>, qualifier: Option<String>, window: TimeWindow, source: &str) -> Metrics {
        Metrics {
            function: function.into(),
            qualifier,
            window,
            invocations: None,
            errors: None,
            throttles: None,
            duration: None,
            cold_starts: None,
            init_duration: None,
            peak_concurrency: None,
            max_memory_used_mb: None,
            by_version: BTreeMap::new(),
            source: source.to_string(),
            unavailable: BTreeMap::new(),
        }
    }

    /// Says why `figure` is `None`.
    pub fn unavailable(mut self, figure: &str, why: impl Into<String>) -> Metrics {
        self.unavailable.insert(figure.to_string(), why.into());
        self
    }

    /// Errors per invocation (0–1); `None` without invocations.
    pub fn error_rate(&self) -> Option<f64> {
        ratio(self.errors?, self.invocations?)
    }

    /// Cold starts per invocation (0–1); `None` without invocations.
    pub fn cold_start_rate(&self) -> Option<f64> {
        ratio(self.cold_starts?, self.invocations?)
    }

    /// Throttles per attempt (invocations plus throttles, 0–1); `None` without attempts.
    pub fn throttle_rate(&self) -> Option<f64> {
        let t = self.throttles?;
        ratio(t, self.invocations? + t)
    }

    /// The figures computed from per-invocation `samples` (those inside `window` count), with
    /// a per-version breakdown when more than one version ran.
    ///
    /// ```
    /// use faas_core::observe::{InvocationSample, Metrics, TimeWindow};
    /// let w = TimeWindow::between_ms(0, 1_000).unwrap();
    /// let s = |start_ms, ms, error| InvocationSample {
    ///     start_ms, version: "1".into(), duration_ms: ms, init_ms: None,
    ///     max_memory_mb: Some(40), error, throttled: false,
    /// };
    /// let m = Metrics::from_samples("f", None, w, &[s(0, 10.0, false), s(5, 30.0, true)], "test");
    /// assert_eq!((m.invocations, m.errors, m.peak_concurrency), (Some(2), Some(1), Some(2)));
    /// assert_eq!(m.error_rate(), Some(0.5));
    /// ```
    pub fn from_samples(
        function: &str,
        qualifier: Option<String>,
        window: TimeWindow,
        samples: &[InvocationSample],
        source: &str,
    ) -> Metrics {
        let inside: Vec<&InvocationSample> = samples.iter().filter(|s| window.contains(s.start_ms)).collect();
        let mut m = summarize(function, qualifier.clone(), window, &inside, source);
        let mut versions: BTreeMap<&str, Vec<&InvocationSample>> = BTreeMap::new();
        for s in &inside {
            versions.entry(s.version.as_str()).or_default().push(s);
        }
        if versions.len() > 1 {
            m.by_version = versions
                .into_iter()
                .map(|(v, list)| {
                    (
                        v.to_string(),
                        summarize(function, qualifier.clone(), window, &list, source),
                    )
                })
                .collect();
        }
        m
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn summarize(
    function: &str,
    qualifier: Option<String>,
    window: TimeWindow,
    samples: &[&InvocationSample],
    source: &str,
) -> Metrics {
    let ran: Vec<&&InvocationSample> = samples.iter().filter(|s| !s.throttled).collect();
    let durations: Vec<f64> = ran.iter().map(|s| s.duration_ms).collect();
    let inits: Vec<f64> = ran.iter().filter_map(|s| s.init_ms).collect();
    let mut m = Metrics::empty(function, qualifier, window, source);
    m.invocations = Some(ran.len() as u64);
    m.errors = Some(ran.iter().filter(|s| s.error).count() as u64);
    m.throttles = Some((samples.len() - ran.len()) as u64);
    m.duration = DurationStats::of(&durations);
    m.cold_starts = Some(inits.len() as u64);
    m.init_duration = DurationStats::of(&inits);
    m.peak_concurrency = Some(peak_concurrency(&ran));
    m.max_memory_used_mb = ran.iter().filter_map(|s| s.max_memory_mb).max();
    if m.max_memory_used_mb.is_none() && !ran.is_empty() {
        m.unavailable
            .insert("max_memory_used_mb".into(), "no invocation reported its memory".into());
    }
    m
}

/// The most intervals `[start, start + init + duration)` that overlap. Starts are whole
/// milliseconds (the run began somewhere within that one), so only certain overlaps count:
/// each interval runs from its latest possible start to its earliest possible end —
/// back-to-back runs a fraction of a millisecond apart are not taken for concurrent ones.
fn peak_concurrency(samples: &[&&InvocationSample]) -> u64 {
    let mut edges: Vec<(f64, i64)> = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        let len = s.init_ms.unwrap_or(0.0) + s.duration_ms;
        let start = s.start_ms as f64 + len.min(1.0);
        let end = s.start_ms as f64 + len;
        edges.push((start, 1));
        // An invocation that takes no measurable time still ran.
        edges.push((end.max(start + f64::EPSILON), -1));
    }
    // Ends before starts at the same instant: back-to-back runs do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as u64
}

/// One invocation as a provider recorded it: the raw material of [`Metrics::from_samples`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationSample {
    /// When it started, in ms since the Unix epoch.
    pub start_ms: u64,
    /// The version that ran.
    pub version: String,
    /// Handler duration in ms.
    pub duration_ms: f64,
    /// Init duration in ms when it was a cold start.
    pub init_ms: Option<f64>,
    /// Peak memory in MB, when reported.
    pub max_memory_mb: Option<u32>,
    /// Whether it ended in a function error.
    pub error: bool,
    /// Whether it was refused for lack of concurrency (then it did not run).
    pub throttled: bool,
}
