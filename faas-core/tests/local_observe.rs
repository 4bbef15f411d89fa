//! Metrics and logs on the local provider, checked against figures computed here from what
//! the invocations themselves returned.

#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use faas_core::local::LocalProvider;
use faas_core::observe::{AlertRule, LogQuery, MetricsQuery, TimeWindow, Verdict, now_ms};
use faas_core::{DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt, PublishRequest, Routing};
use faas_package::PackageBuilder;

/// Fails on every tenth input, sleeps a few milliseconds depending on the input, prints its
/// secret.
const HANDLER: &str = r#"
import os, time
def handler(event, context):
    i = event["i"]
    print("working on", i, "with", os.environ.get("API_TOKEN"))
    time.sleep((i % 7) * 0.003)
    if i % 10 == 0:
        raise ValueError("every tenth input fails")
    return {"i": i}
"#;

async fn deployed(dir: &std::path::Path, name: &str) -> (LocalProvider, FunctionSpec) {
    let p = LocalProvider::builder().state_dir(dir.join("state")).build().unwrap();
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("app.py"), HANDLER).unwrap();
    let spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler")
        .timeout_s(5)
        .secret_env("API_TOKEN", "tok-very-secret-123");
    let pkg = PackageBuilder::new(&src)
        .runtime(spec.runtime.clone())
        .handler("app.handler")
        .output(dir.join(format!("{name}.zip")))
        .build()
        .unwrap();
    p.deploy_package(&spec, &pkg, &DeployOptions::default()).await.unwrap();
    (p, spec)
}

fn event(i: u64) -> InvokeRequest {
    InvokeRequest::json(&serde_json::json!({ "i": i }))
}

/// Nearest-rank percentile, written independently of faas: the ⌈p·n/100⌉-th smallest.
fn percentile(sorted: &[f64], p: u64) -> f64 {
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_invocations_give_exact_counts_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = deployed(dir.path(), "measured").await;
    let p = Arc::new(p);
    let started = now_ms();
    let gate = Arc::new(tokio::sync::Semaphore::new(6));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200u64 {
        let (p, gate) = (p.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            p.invoke("measured", &event(i)).await.unwrap()
        });
    }
    let mut durations = Vec::new();
    let mut errors = 0;
    let mut memory = 0;
    let mut inits = 0;
    while let Some(inv) = tasks.join_next().await {
        let inv = inv.unwrap();
        errors += u64::from(inv.function_error.is_some());
        let r = inv.report.unwrap();
        // A cold start is the one invocation whose REPORT line has an Init Duration.
        let cold = inv.log_tail.as_deref().unwrap().contains("Init Duration:");
        assert_eq!(cold, r.init_duration_ms.is_some());
        inits += u64::from(cold);
        durations.push(r.duration_ms);
        memory = memory.max(r.max_memory_used_mb);
    }
    durations.sort_by(f64::total_cmp);
    let window = TimeWindow::between_ms(started - 1000, now_ms() + 1000).unwrap();
    let m = p.metrics(&MetricsQuery::new("measured", window)).await.unwrap();
    assert_eq!((m.invocations, m.errors, m.throttles), (Some(200), Some(20), Some(0)));
    assert_eq!(errors, 20);
    let d = m.duration.unwrap();
    assert_eq!(
        (d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
        (
            percentile(&durations, 50),
            percentile(&durations, 90),
            percentile(&durations, 99),
            durations[199]
        )
    );
    let mean = durations.iter().sum::<f64>() / 200.0;
    assert!((d.avg_ms - mean).abs() < 1e-9, "{} vs {mean}", d.avg_ms);
    // Environments stay warm: a cold start per environment started (at most one per
    // concurrent invocation; a function error keeps its environment), counted here from
    // the REPORT lines and by the provider separately.
    assert_eq!(m.cold_starts, Some(inits));
    assert_eq!(p.environments_started(), inits);
    assert!(
        (1..=6).contains(&inits),
        "six at a time need at most six environments: {inits}"
    );
    assert!(m.init_duration.is_some());
    assert_eq!(m.max_memory_used_mb, Some(memory));
    let peak = m.peak_concurrency.unwrap();
    assert!((1..=6).contains(&peak), "at most six ran at once: {peak}");
    assert_eq!(m.error_rate(), Some(0.1));
    assert!(m.by_version.is_empty(), "one version ran");

    // Rules judge those figures; too few invocations is never "healthy".
    let fired: AlertRule = "error_rate > 5%".parse().unwrap();
    assert_eq!(fired.evaluate(&m).verdict, Verdict::Fired);
    let quiet: AlertRule = "throttles > 0".parse().unwrap();
    assert_eq!(quiet.evaluate(&m).verdict, Verdict::Ok);
    let strict: AlertRule = "p99_ms > 1 min 500".parse().unwrap();
    assert_eq!(strict.evaluate(&m).verdict, Verdict::NotEnoughData);

    // A series over the same invocations adds up to the same counts.
    let series = p
        .metric_series(&MetricsQuery::new("measured", window).period(Duration::from_millis(500)))
        .await
        .unwrap();
    let total: u64 = series.iter().map(|s| s.invocations.unwrap()).sum();
    let failed: u64 = series.iter().map(|s| s.errors.unwrap()).sum();
    assert_eq!((total, failed), (200, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_label_is_measured_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = deployed(dir.path(), "split").await;
    let v1 = p.publish("split", &PublishRequest::default()).await.unwrap().id;
    let mut spec = p.get("split").await.unwrap().spec;
    spec.memory_mb = 256;
    let pkg = PackageBuilder::new(dir.path().join("src-split"))
        .output(dir.path().join("s2.zip"))
        .build()
        .unwrap();
    let artifact = p.upload("split", &pkg).await.unwrap();
    p.deploy(&spec, &artifact).await.unwrap();
    let v2 = p.publish("split", &PublishRequest::default()).await.unwrap().id;
    p.set_label("split", "live", &Routing::to(&v1).with(&v2, 0.5))
        .await
        .unwrap();
    let started = now_ms();
    let mut ran = std::collections::BTreeMap::<String, u64>::new();
    for i in 1..=30 {
        let inv = p.invoke("split", &event(i).qualifier("live")).await.unwrap();
        *ran.entry(inv.executed_version.unwrap()).or_default() += 1;
    }
    // One more, not through the label: not counted for it.
    p.invoke("split", &event(1)).await.unwrap();
    let window = TimeWindow::between_ms(started - 1000, now_ms() + 1000).unwrap();
    let m = p
        .metrics(&MetricsQuery::new("split", window).qualifier("live"))
        .await
        .unwrap();
    assert_eq!(m.invocations, Some(30));
    let by: std::collections::BTreeMap<String, u64> = m
        .by_version
        .iter()
        .map(|(v, x)| (v.clone(), x.invocations.unwrap()))
        .collect();
    assert_eq!(by, ran, "per version, as the invocations said");
    let only_v2 = p
        .metrics(&MetricsQuery::new("split", window).qualifier(&v2))
        .await
        .unwrap();
    assert_eq!(only_v2.invocations, ran.get(&v2).copied());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_page_filter_mask_secrets_and_follow_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = deployed(dir.path(), "chatty").await;
    let started = now_ms();
    for i in 1..=5 {
        p.invoke("chatty", &event(i)).await.unwrap();
    }
    let window = TimeWindow::between_ms(started - 1000, now_ms() + 1000).unwrap();
    let all = p.logs(&LogQuery::new("chatty", window)).await.unwrap();
    let work: Vec<_> = all
        .records
        .iter()
        .filter(|r| r.message.starts_with("working on"))
        .collect();
    assert_eq!(work.len(), 5);
    for r in &all.records {
        assert!(!r.message.contains("tok-very-secret-123"), "a secret in {r:?}");
    }
    assert!(work[0].message.contains("***"), "{:?}", work[0]);
    // Nor is it in the history files on disk.
    let files = walk(&dir.path().join("state/invocations"));
    assert!(
        files.iter().any(|f| f.extension().is_some_and(|e| e == "jsonl")),
        "{files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!text.contains("tok-very-secret-123"), "a secret in {}", f.display());
    }
    assert!(
        work.iter()
            .all(|r| r.request_id.is_some() && r.version.as_deref() == Some("$LATEST"))
    );
    // Pages of two return every record once, in order.
    let mut paged = Vec::new();
    let mut q = LogQuery::new("chatty", window).limit(2);
    loop {
        let page = p.logs(&q).await.unwrap();
        let done = page.records.is_empty();
        paged.extend(page.records);
        q.cursor = page.cursor;
        if done {
            break;
        }
    }
    assert_eq!(paged, all.records);
    let filtered = p.logs(&LogQuery::new("chatty", window).filter("REPORT")).await.unwrap();
    assert_eq!(filtered.records.len(), 5);

    // Follow from here while a second provider over the same directory (another process)
    // invokes: its record arrives within a second.
    let other = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    let from_now = LogQuery::new(
        "chatty",
        TimeWindow::between_ms(now_ms(), now_ms() + 1).unwrap_or(window),
    )
    .filter("working on 42");
    let follower = tokio::spawn(async move {
        let mut seen = None;
        let mut sink = |r: faas_core::observe::LogRecord| {
            seen = Some((r, std::time::Instant::now()));
            ControlFlow::Break(())
        };
        p.follow_logs(&from_now, Duration::from_millis(100), &mut sink)
            .await
            .unwrap();
        seen.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.invoke("chatty", &event(42)).await.unwrap();
    let invoked = std::time::Instant::now();
    let (record, at) = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .unwrap()
        .unwrap();
    assert!(record.message.contains("working on 42"), "{record:?}");
    assert!(
        at.duration_since(invoked) < Duration::from_secs(1),
        "{:?}",
        at.duration_since(invoked)
    );
}

#[tokio::test]
async fn bad_queries_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let p = LocalProvider::builder().state_dir(dir.path()).build().unwrap();
    let w = TimeWindow::last(Duration::from_secs(60));
    let field = |e: Error| match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert!(matches!(
        p.metrics(&MetricsQuery::new("nobody", w)).await,
        Err(Error::NotFound { .. })
    ));
    let backwards = MetricsQuery::new(
        "nobody",
        faas_core::observe::TimeWindow {
            start_ms: 10,
            end_ms: 5,
        },
    );
    assert_eq!(field(p.metrics(&backwards).await.unwrap_err()), "window");
    let future = now_ms() + 3_600_000;
    let ahead = MetricsQuery::new(
        "nobody",
        faas_core::observe::TimeWindow {
            start_ms: future,
            end_ms: future + 1,
        },
    );
    assert_eq!(field(p.metrics(&ahead).await.unwrap_err()), "window.start");
    assert_eq!(
        field(p.metric_series(&MetricsQuery::new("nobody", w)).await.unwrap_err()),
        "period"
    );
    let dense =
        MetricsQuery::new("nobody", TimeWindow::last(Duration::from_secs(86_400))).period(Duration::from_secs(1));
    assert_eq!(field(p.metric_series(&dense).await.unwrap_err()), "period");
    assert_eq!(
        field(p.logs(&LogQuery::new("nobody", w).limit(0)).await.unwrap_err()),
        "limit"
    );
    assert_eq!(
        field(p.metrics(&MetricsQuery::new("../x", w)).await.unwrap_err()),
        "function"
    );
    for bad in [
        "error_rate",
        "error_rate >> 1%",
        "p99_ms > 1%",
        "nope > 1",
        "p99_ms > 8 over",
        "errors > x",
    ] {
        assert_eq!(field(bad.parse::<AlertRule>().unwrap_err()), "alert rule", "{bad}");
    }
    let (q, _) = deployed(dir.path(), "known").await;
    assert!(matches!(
        q.metrics(&MetricsQuery::new("known", w).qualifier("7")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        q.logs(&LogQuery::new("known", w).qualifier("nolabel")).await,
        Err(Error::NotFound { .. })
    ));
    let mut bad_cursor = LogQuery::new("known", w);
    bad_cursor.cursor = Some("not-a-cursor".into());
    assert_eq!(field(q.logs(&bad_cursor).await.unwrap_err()), "cursor");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
