//! Metrics and logs against the fake's Cloud Monitoring and Cloud Logging: seeded Cloud Run
//! figures for two revisions read back exactly (counts) and as the buckets say (percentiles),
//! per version, per qualifier and as a series; log entries paged, filtered, followed and
//! masked; what the provider refuses before any call.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use faas_core::observe::{LogQuery, MetricsQuery, TimeWindow, now_ms};
use faas_core::{DeployOptions, Error, FunctionSpec, Package, PackageBuilder, Provider, ProviderExt, Routing};
use faas_gcp::test_support::{FakeGcp, REGION};
use serde_json::{Value, json};

const SECRET: &str = "correct-horse-battery-staple";

/// The conformance fixture's function, marked `marker`.
fn package(dir: &Path, marker: &str) -> Package {
    let fixture = faas_gcp::test_support::fixture(false);
    let src = dir.join(marker);
    std::fs::create_dir_all(&src).unwrap();
    (fixture.write_source)(&src, marker).unwrap();
    let out = dir.join(format!("{marker}.zip"));
    PackageBuilder::new(&src)
        .runtime(fixture.runtime)
        .handler(fixture.handler)
        .output(out)
        .build()
        .unwrap()
}

fn ts(ms: u64) -> String {
    // RFC 3339 through the provider-independent route: seconds, then the fraction.
    let secs = ms / 1000;
    let days = secs / 86_400;
    let (y, m, d) = civil(days as i64);
    let r = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000Z",
        r / 3600,
        r % 3600 / 60,
        r % 60,
        ms % 1000
    )
}

fn civil(mut days: i64) -> (i64, i64, i64) {
    let mut y = 1970;
    loop {
        let len = if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            366
        } else {
            365
        };
        if days < len {
            break;
        }
        days -= len;
        y += 1;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let months = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut m = 0;
    while days >= months[m] {
        days -= months[m];
        m += 1;
    }
    (y, m as i64 + 1, days + 1)
}

/// A function with two published versions: v1 and v2, `live` splitting 70/30.
async fn two_versions(fake: &FakeGcp, dir: &Path) -> (faas_gcp::GcpProvider, String, String) {
    let gcp = fake.provider().await;
    let spec = FunctionSpec::new("obs-fn", "python312".parse().unwrap(), "main.main").secret_env("DB_PASSWORD", SECRET);
    let opts = DeployOptions {
        publish: true,
        label: Some("staging".into()),
        ..DeployOptions::default()
    };
    gcp.deploy_package(&spec, &package(dir, "one"), &opts).await.unwrap();
    gcp.deploy_package(&spec, &package(dir, "two"), &opts).await.unwrap();
    gcp.set_label("obs-fn", "live", &Routing::to("1").with("2", 0.3))
        .await
        .unwrap();
    let rev = |v: &str| {
        let gcp = gcp.clone();
        let v = v.to_string();
        async move { gcp.get_qualified("obs-fn", &v).await.unwrap().revision.unwrap() }
    };
    let (r1, r2) = (rev("1").await, rev("2").await);
    assert_ne!(r1, r2);
    (gcp, r1, r2)
}

fn resource(service: &str, revision: &str) -> Value {
    json!({"type": "cloud_run_revision", "labels": {
        "project_id": "faas-test", "service_name": service, "revision_name": revision,
        "location": REGION, "configuration_name": service}})
}

fn counts(service: &str, revision: &str, code: &str, points: &[(u64, u64)]) -> Value {
    let class = format!("{}xx", &code[..1]);
    json!({
        "metric": {"type": "run.googleapis.com/request_count",
                   "labels": {"response_code": code, "response_code_class": class, "route_type": "default"}},
        "resource": resource(service, revision),
        "metricKind": "DELTA", "valueType": "INT64",
        "points": points.iter().map(|(at, n)| json!({
            "interval": {"startTime": ts(at - 60_000), "endTime": ts(*at)},
            "value": {"int64Value": n.to_string()}})).collect::<Vec<_>>(),
    })
}

/// Request latencies: exponential buckets 1, 2, 4, … 1024 ms (12 buckets with under- and overflow).
fn latency_options() -> Value {
    json!({"exponentialBuckets": {"numFiniteBuckets": 10, "growthFactor": 2.0, "scale": 1.0}})
}

/// Startup latencies: linear buckets of 100 ms from 0 to 1000 ms.
fn startup_options() -> Value {
    json!({"linearBuckets": {"numFiniteBuckets": 10, "width": 100.0, "offset": 0.0}})
}

fn distribution(metric: &str, revision: &str, at: u64, options: Value, buckets: &[u64], mean: f64) -> Value {
    let n: u64 = buckets.iter().sum();
    json!({
        "metric": {"type": metric, "labels": {}},
        "resource": resource("obs-fn", revision),
        "metricKind": "DELTA", "valueType": "DISTRIBUTION",
        "points": [{"interval": {"startTime": ts(at - 60_000), "endTime": ts(at)},
                    "value": {"distributionValue": {"count": n.to_string(), "mean": mean,
                              "bucketOptions": options,
                              "bucketCounts": buckets.iter().map(u64::to_string).collect::<Vec<_>>()}}}],
    })
}

/// The seeded buckets' percentile, computed here: the rank q/100·n, found in the cumulative
/// counts, placed linearly between the bucket's edges.
fn expected_percentile(bounds: &[f64], buckets: &[u64], q: f64) -> f64 {
    let n: u64 = buckets.iter().sum();
    let rank = q * n as f64 / 100.0;
    let mut seen = 0.0;
    for (i, &c) in buckets.iter().enumerate() {
        let c = c as f64;
        if c > 0.0 && seen + c >= rank {
            let lo = if i == 0 { 0.0 } else { bounds[i - 1] };
            let hi = if i < bounds.len() { bounds[i] } else { lo };
            return lo + (hi - lo) * (rank - seen) / c;
        }
        seen += c;
    }
    unreachable!()
}

fn add(a: &[u64], b: &[u64]) -> Vec<u64> {
    (0..a.len().max(b.len()))
        .map(|i| a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_the_seeded_figures() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (gcp, r1, r2) = two_versions(&fake, dir.path()).await;
    let end = now_ms();
    let window = TimeWindow::between_ms(end - 3_600_000, end).unwrap();
    let (early, late) = (end - 3_000_000, end - 600_000);
    // 200 requests: 20 5xx, 5 429s; 125 on v1, 75 on v2.
    let lat1 = [0, 2, 10, 30, 40, 30, 10, 3, 0, 0, 0, 0];
    let lat2 = [0, 0, 5, 10, 20, 20, 10, 5, 3, 1, 1, 0];
    fake.seed_time_series(vec![
        counts("obs-fn", &r1, "200", &[(early, 50), (late, 55)]),
        counts("obs-fn", &r1, "500", &[(early, 10), (late, 5)]),
        counts("obs-fn", &r1, "429", &[(late, 5)]),
        counts("obs-fn", &r2, "200", &[(early, 40), (late, 30)]),
        counts("obs-fn", &r2, "503", &[(late, 5)]),
        // Noise: another service, and a point outside the window.
        counts("other-fn", &r1, "500", &[(late, 1000)]),
        counts("obs-fn", &r1, "200", &[(end - 7_200_000, 1000)]),
        distribution(
            "run.googleapis.com/request_latencies",
            &r1,
            late,
            latency_options(),
            &lat1,
            20.0,
        ),
        distribution(
            "run.googleapis.com/request_latencies",
            &r2,
            late,
            latency_options(),
            &lat2,
            40.0,
        ),
        distribution(
            "run.googleapis.com/container/startup_latencies",
            &r1,
            early,
            startup_options(),
            &[0, 0, 1, 2],
            250.0,
        ),
        distribution(
            "run.googleapis.com/container/startup_latencies",
            &r2,
            early,
            startup_options(),
            &[0, 0, 0, 1, 1],
            350.0,
        ),
    ]);

    fake.clear_requests();
    let m = gcp.metrics(&MetricsQuery::new("obs-fn", window)).await.unwrap();
    let requests = fake.requests();
    let monitoring: Vec<&String> = requests.iter().filter(|r| r.contains("/monitoring/")).collect();
    assert_eq!(monitoring.len(), 3, "one timeSeries.list per metric: {requests:#?}");
    assert_eq!(
        requests.len(),
        5,
        "the function, its service, three metrics: {requests:#?}"
    );
    assert!(
        monitoring
            .iter()
            .all(|r| r.contains("ALIGN_DELTA") && r.contains("REDUCE_SUM"))
    );

    assert_eq!((m.invocations, m.errors, m.throttles), (Some(195), Some(20), Some(5)));
    assert_eq!(m.cold_starts, Some(5));
    let bounds: Vec<f64> = (0..=10).map(|i| 2f64.powi(i)).collect();
    let all = add(&lat1, &lat2);
    let d = m.duration.unwrap();
    for (q, got) in [(50.0, d.p50_ms), (90.0, d.p90_ms), (99.0, d.p99_ms)] {
        assert_eq!(got, expected_percentile(&bounds, &all, q), "p{q}");
    }
    let (n1, n2) = (lat1.iter().sum::<u64>() as f64, lat2.iter().sum::<u64>() as f64);
    assert!((d.avg_ms - (20.0 * n1 + 40.0 * n2) / (n1 + n2)).abs() < 1e-9);
    assert!(m.unavailable.contains_key("duration.max_ms"), "{:?}", m.unavailable);
    let init = m.init_duration.unwrap();
    let startup_bounds: Vec<f64> = (0..=10).map(|i| 100.0 * f64::from(i)).collect();
    assert_eq!(
        init.p50_ms,
        expected_percentile(&startup_bounds, &[0, 0, 1, 3, 1], 50.0)
    );
    assert_eq!(init.avg_ms, (250.0 * 3.0 + 350.0 * 2.0) / 5.0);
    assert!(m.peak_concurrency.is_none() && m.unavailable.contains_key("peak_concurrency"));
    assert!(m.max_memory_used_mb.is_none() && m.unavailable.contains_key("max_memory_used_mb"));
    assert!(m.source.contains("interpolated"), "{}", m.source);

    let v1 = &m.by_version["1"];
    let v2 = &m.by_version["2"];
    assert_eq!(
        (v1.invocations, v1.errors, v1.throttles, v1.cold_starts),
        (Some(120), Some(15), Some(5), Some(3))
    );
    assert_eq!(
        (v2.invocations, v2.errors, v2.throttles, v2.cold_starts),
        (Some(75), Some(5), Some(0), Some(2))
    );
    assert_eq!(v2.duration.unwrap().p90_ms, expected_percentile(&bounds, &lat2, 90.0));

    // A version: only its revision, named in the filter.
    let only2 = gcp
        .metrics(&MetricsQuery::new("obs-fn", window).qualifier("2"))
        .await
        .unwrap();
    assert_eq!((only2.invocations, only2.errors), (Some(75), Some(5)));
    assert!(only2.by_version.is_empty());
    // The serving label: the revisions it routes to.
    let live = gcp
        .metrics(&MetricsQuery::new("obs-fn", window).qualifier("live"))
        .await
        .unwrap();
    assert_eq!((live.invocations, live.by_version.len()), (Some(195), 2));
    // Paged answers add up the same.
    fake.set_series_page_size(1);
    fake.clear_requests();
    let paged = gcp.metrics(&MetricsQuery::new("obs-fn", window)).await.unwrap();
    assert_eq!(
        (paged.invocations, paged.errors, paged.duration),
        (m.invocations, m.errors, m.duration)
    );
    let pages = fake.requests().iter().filter(|r| r.contains("pageToken=")).count();
    assert!(pages >= 5, "six request_count groups, one per page");
    fake.set_series_page_size(1000);

    // A series of two half-hour points: the early and the late figures.
    let series = gcp
        .metric_series(&MetricsQuery::new("obs-fn", window).period(Duration::from_secs(1800)))
        .await
        .unwrap();
    let got: Vec<Option<u64>> = series.iter().map(|p| p.invocations).collect();
    assert_eq!(got, vec![Some(100), Some(95)]);
    assert_eq!(series.iter().map(|p| p.errors.unwrap()).sum::<u64>(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_queries() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (gcp, _, _) = two_versions(&fake, dir.path()).await;
    let window = TimeWindow::last(Duration::from_secs(3600));
    let e = gcp.metrics(&MetricsQuery::new("no-such-fn", window)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = gcp.logs(&LogQuery::new("no-such-fn", window)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = gcp
        .metrics(&MetricsQuery::new("obs-fn", window).qualifier("9"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    fake.clear_requests();
    let e = gcp
        .metric_series(&MetricsQuery::new("obs-fn", window).period(Duration::from_secs(30)))
        .await
        .unwrap_err();
    match e {
        Error::InvalidInput { ref field, .. } => assert_eq!(field, "period", "{e}"),
        e => panic!("{e}"),
    }
    assert!(fake.requests().iter().all(|r| !r.contains("/monitoring/")));
}

fn entry(revision: &str, at: u64, id: &str, payload: Value) -> Value {
    let mut e = json!({
        "logName": "projects/faas-test/logs/run.googleapis.com%2Fstdout",
        "resource": resource("obs-fn", revision),
        "timestamp": ts(at),
        "receiveTimestamp": ts(at + 5),
        "insertId": id,
        "labels": {"execution_id": format!("exec-{id}"), "instanceId": "00a1"},
    });
    for (k, v) in payload.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_page_filter_follow_and_mask() {
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (gcp, r1, r2) = two_versions(&fake, dir.path()).await;
    let end = now_ms();
    let window = TimeWindow::between_ms(end - 600_000, end + 30_000).unwrap();
    let t = end - 60_000;
    let mut other = entry(&r1, t, "x", json!({"textPayload": "another service"}));
    other["resource"]["labels"]["service_name"] = json!("other-fn");
    fake.seed_log_entries(vec![
        entry(&r1, t, "a", json!({"textPayload": "hello\n", "severity": "INFO"})),
        entry(
            &r1,
            t + 1,
            "b",
            json!({"textPayload": format!("connecting with {SECRET}"), "severity": "DEBUG"}),
        ),
        entry(
            &r2,
            t + 2,
            "c",
            json!({"jsonPayload": {"message": "boom: it broke"}, "severity": "ERROR"}),
        ),
        entry(
            &r2,
            t + 3,
            "d",
            json!({"textPayload": "[WARNING] slow", "severity": "DEFAULT"}),
        ),
        entry(&r1, end - 3_600_000, "old", json!({"textPayload": "before the window"})),
        other,
    ]);

    let first = gcp.logs(&LogQuery::new("obs-fn", window).limit(2)).await.unwrap();
    let messages: Vec<&str> = first.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, vec!["hello", "connecting with ***"]);
    assert_eq!(first.records[0].request_id.as_deref(), Some("exec-a"));
    assert_eq!(first.records[0].version.as_deref(), Some("1"));
    assert_eq!(first.records[0].level, Some(faas_core::observe::LogLevel::Info));
    let mut q = LogQuery::new("obs-fn", window).limit(2);
    q.cursor = first.cursor.clone();
    let second = gcp.logs(&q).await.unwrap();
    let messages: Vec<&str> = second.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, vec!["boom: it broke", "[WARNING] slow"]);
    assert_eq!(second.records[0].version.as_deref(), Some("2"));
    assert_eq!(second.records[0].level, Some(faas_core::observe::LogLevel::Error));
    assert_eq!(second.records[1].level, Some(faas_core::observe::LogLevel::Warn));

    // Following: nothing new, then only what arrived (one at the last millisecond seen).
    q.cursor = second.cursor.clone();
    let idle = gcp.logs(&q).await.unwrap();
    assert!(idle.records.is_empty(), "{:?}", idle.records);
    fake.seed_log_entries(vec![
        entry(&r2, t + 3, "e", json!({"textPayload": "same millisecond"})),
        entry(&r2, t + 10, "f", json!({"textPayload": "later"})),
    ]);
    q.cursor = idle.cursor.clone();
    q.limit = 100;
    let fresh = gcp.logs(&q).await.unwrap();
    let messages: Vec<&str> = fresh.records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, vec!["same millisecond", "later"]);

    // A filter and a qualifier.
    let boom = gcp.logs(&LogQuery::new("obs-fn", window).filter("boom")).await.unwrap();
    assert_eq!(boom.records.len(), 1);
    let v1 = gcp.logs(&LogQuery::new("obs-fn", window).qualifier("1")).await.unwrap();
    assert!(v1.records.iter().all(|r| r.version.as_deref() == Some("1")));
    assert_eq!(v1.records.len(), 2);
    let all = fake.requests();
    let body_calls = all.iter().filter(|r| r.contains("entries:list")).count();
    assert_eq!(body_calls, 6, "one entries:list per page read");
}
