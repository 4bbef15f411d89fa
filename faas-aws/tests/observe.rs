//! Metrics, logs and alarms on moto: a function deployed through the provider, then what
//! Lambda would have written for 210 invocations seeded into CloudWatch (`PutMetricData` on
//! `AWS/Lambda` with Lambda's dimensions) and CloudWatch Logs (`START`/`END`/`REPORT` lines
//! in streams named like Lambda's), read back through `Provider::metrics`, `metric_series`
//! and `logs`, and checked against figures computed here from the seed.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use faas_aws::test_support::{Moto, Proxy, ROLE};
use faas_core::observe::{AlertRule, LogLevel, LogQuery, LogRecord, MetricsQuery, TimeWindow, now_ms};
use faas_core::{DeployOptions, Error, FunctionSpec, Package, Provider, ProviderExt, Routing};
use faas_package::PackageBuilder;

const FUNCTION: &str = "observed";
const SECRET: &str = "tok-very-secret-123";
const GROUP: &str = "/aws/lambda/observed";

fn package(dir: &std::path::Path, marker: &str) -> Package {
    let src = dir.join(format!("src-{marker}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        format!("def lambda_handler(event, context):\n    return '{marker}'\n"),
    )
    .unwrap();
    PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{marker}.zip")))
        .build()
        .unwrap()
}

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler")
        .role(ROLE)
        .env("STAGE", "test")
        .secret_env("API_TOKEN", SECRET)
}

/// One invocation as Lambda would have run it.
#[derive(Debug, Clone)]
struct Run {
    i: u64,
    start_ms: u64,
    version: &'static str,
    /// Through the `live` alias (else `$LATEST` unqualified).
    via_alias: bool,
    /// As the REPORT line writes it (two decimals).
    duration_ms: f64,
    init_ms: Option<f64>,
    memory_mb: u32,
    error: bool,
    stream: String,
}

impl Run {
    fn request_id(&self) -> String {
        format!("{:08x}-0000-4000-8000-{:012x}", self.i, self.i * 7919)
    }

    fn end_ms(&self) -> u64 {
        self.start_ms + self.duration_ms.ceil() as u64 + 1
    }

    /// Its log lines, as (timestamp, message).
    fn lines(&self) -> Vec<(u64, String)> {
        let id = self.request_id();
        let iso = "2026-12-01T10:00:00.000Z";
        let mut lines = vec![
            (
                self.start_ms,
                format!("START RequestId: {id} Version: {}", self.version),
            ),
            (
                self.start_ms + 1,
                format!("{iso}\t{id}\tINFO\tworking on {} with {SECRET}", self.i),
            ),
        ];
        if self.error {
            lines.push((
                self.start_ms + 2,
                format!("{iso}\t{id}\tERROR\tInvoke Error {{\"errorType\":\"ValueError\"}}"),
            ));
        }
        let mut report = format!(
            "REPORT RequestId: {id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: 256 MB\tMax Memory Used: {} MB\t",
            self.duration_ms,
            self.duration_ms.ceil() as u64,
            self.memory_mb
        );
        if let Some(init) = self.init_ms {
            report.push_str(&format!("Init Duration: {init:.2} ms\t"));
        }
        lines.push((self.end_ms(), format!("END RequestId: {id}")));
        lines.push((self.end_ms(), report));
        lines
    }
}

/// 200 invocations through `live` (version 1 or 2), 10 of `$LATEST`; each version's runs
/// rotate over three execution environments (log streams), the first run in each a cold start.
fn runs(base_ms: u64) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut per_stream: BTreeMap<String, u32> = BTreeMap::new();
    let mut push = |i: u64, start_ms: u64, version: &'static str, via_alias: bool, nth: u64| {
        let stream = format!(
            "2026/12/01/[{version}]{:032x}",
            (nth % 3) * 0x1111 + version.len() as u64
        );
        let first = per_stream.entry(stream.clone()).or_default();
        *first += 1;
        let raw = 5.0 + ((i * 37) % 101) as f64 * 1.37;
        runs.push(Run {
            i,
            start_ms,
            version,
            via_alias,
            duration_ms: format!("{raw:.2}").parse().unwrap(),
            init_ms: (*first == 1).then_some(100.0 + i as f64 * 0.5),
            memory_mb: 40 + (i % 23) as u32,
            error: via_alias && i.is_multiple_of(9),
            stream,
        });
    };
    let (mut n1, mut n2) = (0, 0);
    for i in 0..200u64 {
        let v2 = i % 10 < 3;
        let nth = if v2 { n2 } else { n1 };
        push(i, base_ms + i * 10_000, if v2 { "2" } else { "1" }, true, nth);
        if v2 { n2 += 1 } else { n1 += 1 }
    }
    for j in 0..10u64 {
        push(1000 + j, base_ms + j * 10_000 + 5_000, "$LATEST", false, j);
    }
    runs
}

/// Nearest rank, computed here: the ⌈p·n/100⌉-th smallest.
fn percentile(sorted: &[f64], p: u64) -> f64 {
    let n = sorted.len() as u64;
    sorted[((p * n).div_ceil(100).max(1) - 1) as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn dims(pairs: &[(&str, &str)]) -> Vec<Dimension> {
    pairs
        .iter()
        .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
        .collect()
}

fn datum(name: &str, d: &[(&str, &str)], at_ms: u64, value: f64, unit: StandardUnit) -> MetricDatum {
    MetricDatum::builder()
        .metric_name(name)
        .set_dimensions(Some(dims(d)))
        .timestamp(DateTime::from_millis(at_ms as i64))
        .value(value)
        .unit(unit)
        .build()
}

/// What Lambda publishes for the runs: each invocation under `FunctionName`, and for alias
/// invocations also under `FunctionName`+`Resource` and with `ExecutedVersion`; throttles; the
/// concurrency per minute.
async fn seed_metrics(cw: &aws_sdk_cloudwatch::Client, runs: &[Run], base_ms: u64) {
    let live = format!("{FUNCTION}:live");
    let mut data = Vec::new();
    for r in runs {
        let mut sets: Vec<Vec<(&str, &str)>> = vec![vec![("FunctionName", FUNCTION)]];
        if r.via_alias {
            sets.push(vec![("FunctionName", FUNCTION), ("Resource", &live)]);
            sets.push(vec![
                ("FunctionName", FUNCTION),
                ("Resource", &live),
                ("ExecutedVersion", r.version),
            ]);
        }
        for d in &sets {
            data.push(datum("Invocations", d, r.start_ms, 1.0, StandardUnit::Count));
            data.push(datum(
                "Errors",
                d,
                r.start_ms,
                f64::from(u8::from(r.error)),
                StandardUnit::Count,
            ));
            data.push(datum(
                "Duration",
                d,
                r.start_ms,
                r.duration_ms,
                StandardUnit::Milliseconds,
            ));
        }
    }
    for k in 0..7u64 {
        for d in [
            vec![("FunctionName", FUNCTION)],
            vec![("FunctionName", FUNCTION), ("Resource", live.as_str())],
        ] {
            data.push(datum(
                "Throttles",
                &d,
                base_ms + 30_000 + k * 60_000,
                1.0,
                StandardUnit::Count,
            ));
        }
    }
    type Dims<'a> = &'a [(&'a str, &'a str)];
    let concurrency: [(Dims, [f64; 3]); 4] = [
        (&[("FunctionName", FUNCTION)], [2.0, 4.0, 1.0]),
        (&[("FunctionName", FUNCTION), ("Resource", &live)], [1.0, 3.0, 2.0]),
        (
            &[
                ("FunctionName", FUNCTION),
                ("Resource", &live),
                ("ExecutedVersion", "1"),
            ],
            [2.0, 1.0, 1.0],
        ),
        (
            &[
                ("FunctionName", FUNCTION),
                ("Resource", &live),
                ("ExecutedVersion", "2"),
            ],
            [1.0, 1.0, 1.0],
        ),
    ];
    for (d, values) in concurrency {
        for (m, v) in values.iter().enumerate() {
            data.push(datum(
                "ConcurrentExecutions",
                d,
                base_ms + m as u64 * 600_000,
                *v,
                StandardUnit::Count,
            ));
        }
    }
    for chunk in data.chunks(500) {
        cw.put_metric_data()
            .namespace("AWS/Lambda")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
}

async fn put_lines(logs: &aws_sdk_cloudwatchlogs::Client, stream: &str, mut lines: Vec<(u64, String)>) {
    lines.sort_by_key(|(t, _)| *t);
    let events = lines
        .into_iter()
        .map(|(t, m)| InputLogEvent::builder().timestamp(t as i64).message(m).build().unwrap())
        .collect();
    logs.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
}

async fn seed_logs(logs: &aws_sdk_cloudwatchlogs::Client, runs: &[Run]) {
    logs.create_log_group().log_group_name(GROUP).send().await.unwrap();
    let mut streams: BTreeMap<&str, Vec<(u64, String)>> = BTreeMap::new();
    for r in runs {
        streams.entry(&r.stream).or_default().extend(r.lines());
    }
    for (stream, lines) in streams {
        logs.create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
        put_lines(logs, stream, lines).await;
    }
}

struct World {
    _moto: Moto,
    proxy: Proxy,
    aws: faas_aws::AwsProvider,
    runs: Vec<Run>,
    window: TimeWindow,
    logs: aws_sdk_cloudwatchlogs::Client,
    cw: aws_sdk_cloudwatch::Client,
}

/// The function with versions 1 and 2 behind `live` (30% to 2), and what Lambda wrote.
async fn world() -> Option<World> {
    let moto = Moto::start().await?;
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    aws.deploy_package(&spec(FUNCTION), &package(dir.path(), "v1"), &opts)
        .await
        .unwrap();
    aws.deploy_package(
        &spec(FUNCTION).memory_mb(512),
        &package(dir.path(), "v2"),
        &DeployOptions {
            label: None,
            ..opts.clone()
        },
    )
    .await
    .unwrap();
    aws.set_label(FUNCTION, "live", &Routing::to("1").with("2", 0.3))
        .await
        .unwrap();
    // Whole minutes, 40 of them back: the periods below start on a minute as CloudWatch's do.
    let base_ms = (now_ms() - 40 * 60_000) / 60_000 * 60_000;
    let runs = runs(base_ms);
    let sdk = proxy.sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    seed_metrics(&cw, &runs, base_ms).await;
    seed_logs(&logs, &runs).await;
    let window = TimeWindow::between_ms(base_ms, base_ms + 36 * 60_000).unwrap();
    Some(World {
        _moto: moto,
        proxy,
        aws,
        runs,
        window,
        logs,
        cw,
    })
}

fn field(e: Error) -> String {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// The operations the proxy saw (`GetMetricData`, `FilterLogEvents`, `GET …/functions/x`).
fn calls(proxy: &Proxy) -> Vec<String> {
    proxy
        .seen()
        .iter()
        .map(|s| {
            s.path
                .rsplit("/operation/")
                .next()
                .filter(|_| s.path.contains("/operation/"))
                .map(str::to_string)
                .or_else(|| {
                    // CloudWatch Logs (JSON 1.1): the operation is in X-Amz-Target, not seen;
                    // its body names the log group.
                    s.body.contains("logGroupName").then(|| "FilterLogEvents".to_string())
                })
                .unwrap_or_else(|| format!("{} {}", s.method, s.path))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_add_up_to_what_lambda_recorded() {
    let Some(w) = world().await else { return };
    let (aws, runs) = (&w.aws, &w.runs);
    let durations = |f: &dyn Fn(&Run) -> bool| sorted(runs.iter().filter(|r| f(r)).map(|r| r.duration_ms).collect());
    let inits = |f: &dyn Fn(&Run) -> bool| sorted(runs.iter().filter(|r| f(r)).filter_map(|r| r.init_ms).collect());

    // The whole function: every run.
    w.proxy.clear();
    let m = aws.metrics(&MetricsQuery::new(FUNCTION, w.window)).await.unwrap();
    assert_eq!(
        calls(&w.proxy),
        ["GetMetricData", "FilterLogEvents"],
        "one metrics query is two requests"
    );
    assert!(m.unavailable.is_empty(), "{:?}", m.unavailable);
    assert_eq!((m.invocations, m.errors, m.throttles), (Some(210), Some(23), Some(7)));
    assert_eq!(m.peak_concurrency, Some(4));
    let all = durations(&|_| true);
    let d = m.duration.unwrap();
    assert_eq!(
        (d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
        (
            percentile(&all, 50),
            percentile(&all, 90),
            percentile(&all, 99),
            all[all.len() - 1]
        )
    );
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!((d.avg_ms - mean).abs() < 1e-9, "{} vs {mean}", d.avg_ms);
    let cold = inits(&|_| true);
    assert_eq!(m.cold_starts, Some(cold.len() as u64));
    assert_eq!(cold.len(), 9, "three environments per version");
    assert_eq!(m.init_duration.unwrap().p90_ms, percentile(&cold, 90));
    assert_eq!(m.max_memory_used_mb, runs.iter().map(|r| r.memory_mb).max());
    assert!(m.by_version.is_empty());
    assert!(
        m.source.contains("CloudWatch AWS/Lambda") && m.source.contains("REPORT"),
        "{}",
        m.source
    );

    // The label: its invocations, and per version what ran through it.
    w.proxy.clear();
    let live = aws
        .metrics(&MetricsQuery::new(FUNCTION, w.window).qualifier("live"))
        .await
        .unwrap();
    assert_eq!(
        calls(&w.proxy).len(),
        3,
        "GetAlias, GetMetricData, FilterLogEvents: {:?}",
        calls(&w.proxy)
    );
    assert_eq!(
        (live.invocations, live.errors, live.throttles),
        (Some(200), Some(23), Some(7))
    );
    assert_eq!(live.peak_concurrency, Some(3));
    let through = durations(&|r| r.via_alias);
    assert_eq!(live.duration.unwrap().p99_ms, percentile(&through, 99));
    for v in ["1", "2"] {
        let mine: Vec<&Run> = runs.iter().filter(|r| r.version == v).collect();
        let got = &live.by_version[v];
        assert_eq!(got.invocations, Some(mine.len() as u64), "version {v}");
        assert_eq!(
            got.errors,
            Some(mine.iter().filter(|r| r.error).count() as u64),
            "version {v}"
        );
        let ds = durations(&|r| r.version == v);
        assert_eq!(got.duration.unwrap().p50_ms, percentile(&ds, 50), "version {v}");
        assert_eq!(got.cold_starts, Some(3));
    }
    assert_eq!(live.by_version["1"].peak_concurrency, Some(2));
    assert_eq!(live.by_version.len(), 2);

    // $LATEST: counted from its REPORT lines; what those do not say is unavailable, not 0.
    let latest = aws
        .metrics(&MetricsQuery::new(FUNCTION, w.window).qualifier("$LATEST"))
        .await
        .unwrap();
    assert_eq!(latest.invocations, Some(10));
    assert_eq!(latest.errors, None);
    assert!(latest.unavailable.contains_key("errors"), "{:?}", latest.unavailable);
    assert_eq!(
        latest.duration.unwrap().max_ms,
        *durations(&|r| r.version == "$LATEST").last().unwrap()
    );

    // A series of five-minute points adds up, point by point, to the runs in each period.
    let period = Duration::from_secs(300);
    w.proxy.clear();
    let series = aws
        .metric_series(&MetricsQuery::new(FUNCTION, w.window).period(period))
        .await
        .unwrap();
    assert_eq!(
        calls(&w.proxy),
        ["GetMetricData", "FilterLogEvents"],
        "a series is one query too"
    );
    assert_eq!(series.len(), 36 / 5 + 1);
    for (k, point) in series.iter().enumerate() {
        let p = w.window.periods(period, 100).unwrap()[k];
        let started = runs.iter().filter(|r| p.contains(r.start_ms)).count() as u64;
        let failed = runs.iter().filter(|r| p.contains(r.start_ms) && r.error).count() as u64;
        let cold = runs
            .iter()
            .filter(|r| p.contains(r.end_ms()) && r.init_ms.is_some())
            .count() as u64;
        assert_eq!(point.window, p);
        assert_eq!(
            (point.invocations, point.errors, point.cold_starts),
            (Some(started), Some(failed), Some(cold)),
            "period {k}"
        );
    }
    assert_eq!(series.iter().map(|s| s.invocations.unwrap()).sum::<u64>(), 210);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metric_queries_are_refused() {
    let Some(w) = world().await else { return };
    let aws = &w.aws;
    w.proxy.clear();
    let odd = MetricsQuery::new(FUNCTION, w.window).period(Duration::from_secs(7));
    let e = aws.metric_series(&odd).await.unwrap_err();
    assert!(e.to_string().contains("1, 5, 10 or 30 seconds"), "{e}");
    assert_eq!(field(e), "period");
    assert!(w.proxy.seen().is_empty(), "refused before any request");
    for q in [
        MetricsQuery::new("nobody", w.window),
        MetricsQuery::new(FUNCTION, w.window).qualifier("9"),
        MetricsQuery::new(FUNCTION, w.window).qualifier("nolabel"),
    ] {
        assert!(matches!(aws.metrics(&q).await, Err(Error::NotFound { .. })), "{q:?}");
    }
    // A function that exists but never ran: zeros, and no made-up durations.
    let dir = tempfile::tempdir().unwrap();
    aws.deploy_package(&spec("quiet"), &package(dir.path(), "q"), &DeployOptions::default())
        .await
        .unwrap();
    let quiet = aws.metrics(&MetricsQuery::new("quiet", w.window)).await.unwrap();
    assert_eq!(
        (quiet.invocations, quiet.cold_starts, quiet.duration),
        (Some(0), Some(0), None)
    );
    assert_eq!(
        aws.logs(&LogQuery::new("quiet", w.window)).await.unwrap().records,
        Vec::<LogRecord>::new(),
        "no log group yet: no records"
    );
    assert!(matches!(
        aws.logs(&LogQuery::new("nobody", w.window)).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_page_filter_mask_and_follow() {
    let Some(w) = world().await else { return };
    let (aws, runs) = (&w.aws, &w.runs);
    let lines: usize = runs.iter().map(|r| r.lines().len()).sum();

    w.proxy.clear();
    let all = aws.logs(&LogQuery::new(FUNCTION, w.window).limit(5000)).await.unwrap();
    assert_eq!(
        calls(&w.proxy).len(),
        2,
        "GetFunction and FilterLogEvents: {:?}",
        calls(&w.proxy)
    );
    assert_eq!(all.records.len(), lines);
    assert!(
        all.records.windows(2).all(|p| p[0].time_ms <= p[1].time_ms),
        "oldest first"
    );
    assert!(
        all.records.iter().all(|r| !r.message.contains(SECRET)),
        "a secret in the logs"
    );
    let work: Vec<&LogRecord> = all.records.iter().filter(|r| r.message.starts_with("2026-")).collect();
    assert!(work.iter().any(|r| r.message.ends_with("with ***")), "{:?}", work[0]);
    for r in &all.records {
        let run = runs
            .iter()
            .find(|x| Some(x.request_id()) == r.request_id)
            .unwrap_or_else(|| panic!("no request id in {r:?}"));
        assert_eq!(r.version.as_deref(), Some(run.version), "{r:?}");
    }
    let errors = all.records.iter().filter(|r| r.level == Some(LogLevel::Error)).count();
    assert_eq!(errors, runs.iter().filter(|r| r.error).count());
    assert!(
        all.records
            .iter()
            .filter(|r| r.message.starts_with("START"))
            .all(|r| r.level == Some(LogLevel::Info))
    );

    // Pages of 37 return every record once, in order.
    let mut paged = Vec::new();
    let mut q = LogQuery::new(FUNCTION, w.window).limit(37);
    loop {
        let page = aws.logs(&q).await.unwrap();
        assert!(page.records.len() <= 37);
        let done = page.records.is_empty();
        paged.extend(page.records);
        q.cursor = page.cursor;
        if done {
            break;
        }
    }
    assert_eq!(paged, all.records);

    // A filter, and a version or label: only their records.
    let one = aws
        .logs(&LogQuery::new(FUNCTION, w.window).filter("working on 42 "))
        .await
        .unwrap();
    assert_eq!(one.records.len(), 1, "{:?}", one.records);
    let reports = aws
        .logs(&LogQuery::new(FUNCTION, w.window).filter("REPORT RequestId").limit(5000))
        .await
        .unwrap();
    assert_eq!(reports.records.len(), runs.len());
    let v2 = aws
        .logs(&LogQuery::new(FUNCTION, w.window).qualifier("2").limit(5000))
        .await
        .unwrap();
    let v2_lines: usize = runs.iter().filter(|r| r.version == "2").map(|r| r.lines().len()).sum();
    assert_eq!(v2.records.len(), v2_lines);
    let live = aws
        .logs(&LogQuery::new(FUNCTION, w.window).qualifier("live").limit(5000))
        .await
        .unwrap();
    assert_eq!(
        live.records.len(),
        lines
            - runs
                .iter()
                .filter(|r| !r.via_alias)
                .map(|r| r.lines().len())
                .sum::<usize>()
    );
    assert!(live.records.iter().all(|r| r.version.as_deref() != Some("$LATEST")));

    // After the last page, the cursor returns only what arrives later, even an event in the
    // same millisecond as the last one read.
    let end = LogQuery {
        window: TimeWindow::between_ms(w.window.start_ms, now_ms() + 1).unwrap(),
        ..q.clone()
    };
    let last_ms = all.records.last().unwrap().time_ms;
    let late = "2026/12/01/[1]late";
    w.logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(late)
        .send()
        .await
        .unwrap();
    put_lines(&w.logs, late, vec![(last_ms, "same millisecond".into())]).await;
    let next = aws.logs(&end).await.unwrap();
    assert_eq!(
        next.records.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["same millisecond"]
    );
    let quiet = aws
        .logs(&LogQuery {
            cursor: next.cursor.clone(),
            ..end.clone()
        })
        .await
        .unwrap();
    assert!(quiet.records.is_empty(), "{:?}", quiet.records);

    // follow_logs sees a line written while it polls.
    let from = LogQuery {
        cursor: next.cursor,
        ..end
    };
    let writer = w.logs.clone();
    let at = now_ms();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        put_lines(&writer, late, vec![(at, "followed".into())]).await;
    });
    let mut seen = None;
    let mut sink = |r: LogRecord| {
        seen = Some(r);
        ControlFlow::Break(())
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        aws.follow_logs(&from, Duration::from_millis(100), &mut sink),
    )
    .await
    .unwrap()
    .unwrap();
    write.await.unwrap();
    assert_eq!(seen.unwrap().message, "followed");

    let mut bad = LogQuery::new(FUNCTION, w.window);
    bad.cursor = Some("not-a-cursor".into());
    assert_eq!(field(aws.logs(&bad).await.unwrap_err()), "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_from_rules_are_visible_in_cloudwatch() {
    let Some(w) = world().await else { return };
    let aws = &w.aws;
    let rule: AlertRule = "error_rate > 5% over 5m min 20".parse().unwrap();
    aws.put_alarm(FUNCTION, Some("live"), &rule, "observed-live-errors")
        .await
        .unwrap();
    let p99: AlertRule = "p99_ms > 800 over 10m min 0".parse().unwrap();
    aws.put_alarm(FUNCTION, None, &p99, "observed-p99").await.unwrap();

    let out =
        w.cw.describe_alarms()
            .alarm_names("observed-live-errors")
            .alarm_names("observed-p99")
            .send()
            .await
            .unwrap();
    let alarms: BTreeMap<&str, _> = out
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap(), a))
        .collect();
    let rate = alarms["observed-live-errors"];
    assert_eq!(rate.threshold(), Some(5.0));
    assert_eq!(rate.evaluation_periods(), Some(1));
    assert_eq!(
        rate.comparison_operator().map(|c| c.as_str()),
        Some("GreaterThanThreshold")
    );
    let expression: Vec<&str> = rate.metrics().iter().filter_map(|m| m.expression()).collect();
    assert_eq!(expression, ["IF(i >= 20, 100*e/i)"]);
    let resources: Vec<&str> = rate
        .metrics()
        .iter()
        .filter_map(|m| m.metric_stat())
        .flat_map(|s| s.metric().map(|m| m.dimensions()).unwrap_or_default())
        .filter(|d| d.name() == Some("Resource"))
        .filter_map(|d| d.value())
        .collect();
    assert_eq!(resources, ["observed:live", "observed:live"]);
    let plain = alarms["observed-p99"];
    assert_eq!(
        (plain.extended_statistic(), plain.metric_name(), plain.period()),
        (Some("p99"), Some("Duration"), Some(600))
    );

    // As a person would check it: boto3 against moto.
    let server = faas_core::conformance::test_tool("FAAS_MOTO_SERVER", "target/test-venv/bin/moto_server").unwrap();
    let python = server.with_file_name("python");
    let script = format!(
        "import boto3, json\n\
         c = boto3.client('cloudwatch', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         a = c.describe_alarms(AlarmNames=['observed-live-errors'])['MetricAlarms'][0]\n\
         print(json.dumps({{'name': a['AlarmName'], 'threshold': a['Threshold'], 'expr': [m['Expression'] for m in a['Metrics'] if 'Expression' in m], 'description': a['AlarmDescription']}}))\n",
        w._moto.url
    );
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({
            "name": "observed-live-errors",
            "threshold": 5.0,
            "expr": ["IF(i >= 20, 100*e/i)"],
            "description": "faas: error_rate > 5% over 300s min 20 on observed:live",
        })
    );

    // Rules CloudWatch cannot watch, and bad input.
    let cold: AlertRule = "cold_starts > 3".parse().unwrap();
    let e = aws.put_alarm(FUNCTION, None, &cold, "cold").await.unwrap_err();
    assert!(
        matches!(e, Error::Unsupported { .. }) && e.to_string().contains("cold_starts"),
        "{e}"
    );
    let odd: AlertRule = "errors > 1 over 90s".parse().unwrap();
    assert_eq!(
        field(aws.put_alarm(FUNCTION, None, &odd, "odd").await.unwrap_err()),
        "window"
    );
    assert!(matches!(
        aws.put_alarm("nobody", None, &rule, "x").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        aws.put_alarm(FUNCTION, Some("$LATEST"), &rule, "x").await,
        Err(Error::Unsupported { .. })
    ));
}
