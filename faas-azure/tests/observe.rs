//! Metrics from Azure Monitor (`Metrics_List`) against the fake, which aggregates the samples
//! these tests seed: exact sums for production and a slot (a label), series by period, one
//! request per query, `None` with a reason for what platform metrics do not give, and the
//! refusals (a period Azure Monitor has no interval for, an unknown function or label, a
//! version, logs). With Application Insights: invocations through the fake, whose hosts record
//! `requests` rows, give duration percentiles equal to an independent nearest-rank
//! computation, per slot and per period, in one call to each service; sampled records, apps
//! that report nothing and apps without a connection string say why.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use faas_azure::AzureProvider;
use faas_azure::test_support::{Azurite, FakeAzure, python_package};
use faas_core::observe::{LogQuery, Metrics, MetricsQuery, TimeWindow, now_ms};
use faas_core::{DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt};

const MINUTE: u64 = 60_000;

/// Deploys `name` (published, and to the slot `label` when given) from a small Python app.
async fn deploy(azure: &AzureProvider, name: &str, memory_mb: Option<u32>, label: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path());
    let mut spec = FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app");
    if let Some(mb) = memory_mb {
        spec = spec.memory_mb(mb);
    }
    let opts = DeployOptions {
        publish: true,
        label: label.map(str::to_string),
        ..DeployOptions::default()
    };
    azure.deploy_package(&spec, &pkg, &opts).await.unwrap();
}

/// Ten minutes ending at the last whole ten minutes.
fn window() -> TimeWindow {
    let end = now_ms() / (10 * MINUTE) * (10 * MINUTE);
    TimeWindow::between_ms(end - 10 * MINUTE, end).unwrap()
}

/// Seeds `per_minute[i]` samples of `metric` (each `value`) in minute `i` of `w`.
fn seed(fake: &FakeAzure, site: &str, metric: &str, w: TimeWindow, per_minute: &[u32], value: f64) {
    for (i, n) in per_minute.iter().enumerate() {
        for k in 0..*n {
            fake.seed_metric(
                site,
                metric,
                w.start_ms + i as u64 * MINUTE + u64::from(k) * 1000,
                value,
            );
        }
    }
}

fn reason<'a>(m: &'a Metrics, figure: &str) -> &'a str {
    m.unavailable
        .get(figure)
        .unwrap_or_else(|| panic!("no reason for {figure}: {m:?}"))
}

/// Requests other than token grants.
fn calls(fake: &FakeAzure) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| !r.contains("/oauth2/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_production_and_a_slot_are_the_seeded_sums() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    assert!(azure.info().capability.metrics && !azure.info().capability.logs);
    deploy(&azure, "obs-app", None, Some("staging")).await;
    let w = window();
    // Production: 17 requests, 3 of them 5xx, response times 0.1 s and 0.3 s.
    let requests = [1, 2, 0, 3, 1, 4, 0, 2, 3, 1];
    let errors = [0, 1, 0, 0, 1, 0, 0, 0, 1, 0];
    seed(&fake, "obs-app", "Requests", w, &requests, 1.0);
    seed(&fake, "obs-app", "Http5xx", w, &errors, 1.0);
    seed(
        &fake,
        "obs-app",
        "HttpResponseTime",
        w,
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        0.1,
    );
    seed(
        &fake,
        "obs-app",
        "HttpResponseTime",
        w,
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        0.3,
    );
    // Outside the window: not counted.
    fake.seed_metric("obs-app", "Requests", w.start_ms - 1, 1.0);
    fake.seed_metric("obs-app", "Requests", w.end_ms, 1.0);
    // The slot: 5 requests, 2 errors.
    seed(
        &fake,
        "obs-app-staging",
        "Requests",
        w,
        &[0, 0, 0, 0, 0, 0, 0, 2, 2, 1],
        1.0,
    );
    seed(
        &fake,
        "obs-app-staging",
        "Http5xx",
        w,
        &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
        1.0,
    );

    fake.clear_requests();
    let m = azure.metrics(&MetricsQuery::new("obs-app", w)).await.unwrap();
    let sent = fake.requests();
    assert_eq!(sent.len(), 1, "one Metrics_List call, the token already held: {sent:?}");
    assert!(
        sent[0].starts_with("GET /subscriptions/")
            && sent[0].contains(
                "/providers/Microsoft.Web/sites/obs-app/providers/Microsoft.Insights/metrics?api-version=2023-10-01"
            )
            && sent[0].contains("metricnames=Requests,Http5xx,HttpResponseTime")
            && sent[0].contains("interval=FULL"),
        "{sent:?}"
    );
    assert_eq!((m.invocations, m.errors), (Some(17), Some(3)), "{m:?}");
    assert_eq!(m.error_rate(), Some(3.0 / 17.0));
    assert!(
        m.source.contains("Azure Monitor") && m.source.contains("Requests"),
        "{}",
        m.source
    );
    assert_eq!(m.duration, None);
    let d = reason(&m, "duration");
    assert!(
        d.contains("Application Insights") && d.contains("average 200.0 ms") && d.contains("maximum 300.0 ms"),
        "{d}"
    );
    for figure in [
        "throttles",
        "cold_starts",
        "init_duration",
        "peak_concurrency",
        "max_memory_used_mb",
        "by_version",
    ] {
        assert!(!reason(&m, figure).is_empty());
    }
    assert_eq!(
        (m.throttles, m.cold_starts, m.peak_concurrency, m.max_memory_used_mb),
        (None, None, None, None)
    );
    assert!(m.by_version.is_empty());

    // The label is the slot's resource.
    fake.clear_requests();
    let slot = azure
        .metrics(&MetricsQuery::new("obs-app", w).qualifier("staging"))
        .await
        .unwrap();
    let sent = calls(&fake);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("/sites/obs-app/slots/staging/providers/Microsoft.Insights/metrics?"),
        "{sent:?}"
    );
    assert_eq!((slot.invocations, slot.errors), (Some(5), Some(2)));
    assert_eq!(slot.qualifier.as_deref(), Some("staging"));
    assert!(reason(&slot, "duration").contains("Application Insights"));

    // A series: one call, points of five minutes, each the seeded sum.
    fake.clear_requests();
    let series = azure
        .metric_series(&MetricsQuery::new("obs-app", w).period(Duration::from_secs(300)))
        .await
        .unwrap();
    let sent = calls(&fake);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("interval=PT5M"), "{sent:?}");
    let got: Vec<(Option<u64>, Option<u64>)> = series.iter().map(|p| (p.invocations, p.errors)).collect();
    assert_eq!(got, vec![(Some(7), Some(2)), (Some(10), Some(1))]);
    assert_eq!(
        series[0].window,
        TimeWindow::between_ms(w.start_ms, w.start_ms + 5 * MINUTE).unwrap()
    );
    // A window Azure Monitor's five-minute points do not fit is read by the minute: still exact.
    let shifted = TimeWindow::between_ms(w.start_ms + MINUTE, w.end_ms).unwrap();
    fake.clear_requests();
    let series = azure
        .metric_series(&MetricsQuery::new("obs-app", shifted).period(Duration::from_secs(300)))
        .await
        .unwrap();
    assert!(calls(&fake)[0].contains("interval=PT1M"));
    let got: Vec<Option<u64>> = series.iter().map(|p| p.invocations).collect();
    assert_eq!(got, vec![Some(10), Some(6)]);
    let per_minute = azure
        .metric_series(
            &MetricsQuery::new("obs-app", w)
                .qualifier("staging")
                .period(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let got: Vec<u64> = per_minute.iter().map(|p| p.invocations.unwrap()).collect();
    assert_eq!(got, vec![0, 0, 0, 0, 0, 0, 0, 2, 2, 1]);
    assert_eq!(per_minute.iter().map(|p| p.errors.unwrap()).sum::<u64>(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_queries_are_refused_where_azure_monitor_cannot_answer() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    deploy(&azure, "obs-refused", None, Some("staging")).await;
    let w = window();
    for secs in [30, 90, 150] {
        fake.clear_requests();
        let e = azure
            .metric_series(&MetricsQuery::new("obs-refused", w).period(Duration::from_secs(secs)))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { field, .. } if field == "period"),
            "{e}"
        );
        assert!(calls(&fake).is_empty(), "refused before any call");
    }
    let e = azure.metrics(&MetricsQuery::new("no-such-app", w)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = azure
        .metrics(&MetricsQuery::new("obs-refused", w).qualifier("nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = azure
        .metrics(&MetricsQuery::new("obs-refused", w).qualifier("1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let e = azure.logs(&LogQuery::new("obs-refused", w)).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_counts_on_demand_and_always_ready_executions() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.flex_provider(&azurite.blob_endpoint).await;
    assert!(azure.info().capability.metrics && !azure.info().capability.logs);
    deploy(&azure, "obs-flex", Some(2048), None).await;
    let w = window();
    seed(&fake, "obs-flex", "OnDemandFunctionExecutionCount", w, &[1, 0, 3], 1.0);
    seed(&fake, "obs-flex", "AlwaysReadyFunctionExecutionCount", w, &[0, 2], 1.0);
    seed(&fake, "obs-flex", "Http5xx", w, &[0, 1], 1.0);
    // Requests are not Flex's execution count.
    seed(&fake, "obs-flex", "Requests", w, &[9], 1.0);
    fake.clear_requests();
    let m = azure.metrics(&MetricsQuery::new("obs-flex", w)).await.unwrap();
    let sent = calls(&fake);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("metricnames=OnDemandFunctionExecutionCount,AlwaysReadyFunctionExecutionCount,Http5xx"),
        "{sent:?}"
    );
    assert_eq!((m.invocations, m.errors), (Some(6), Some(1)));
    // No response time was seeded: the reason says so without a figure.
    assert!(!reason(&m, "duration").contains("average"));
}

/// Nearest-rank percentile, computed here independently of faas-core.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Invokes `function` (at `label`) once per duration, failing where `fails` says.
async fn invoke_all(
    azure: &AzureProvider,
    function: &str,
    label: Option<&str>,
    durations: &[f64],
    fails: &dyn Fn(usize) -> bool,
) {
    for (i, d) in durations.iter().enumerate() {
        let mut req = InvokeRequest::json(&serde_json::json!({"duration_ms": d, "fail": fails(i)}));
        if let Some(l) = label {
            req = req.qualifier(l);
        }
        // A failed invocation is an answer too.
        let _ = azure.invoke(function, &req).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_insights_gives_exact_duration_percentiles() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    fake.connect_new_apps_to_app_insights();
    let azure = fake
        .builder_with_app_insights(&azurite.blob_endpoint)
        .build()
        .await
        .unwrap();
    assert!(azure.info().capability.metrics && azure.info().capability.logs);
    deploy(&azure, "ai-app", None, Some("staging")).await;
    let start = now_ms();
    // 41 invocations of production with durations spread over 0.5–100.5 ms, every seventh
    // failing; 6 of the slot.
    let durations: Vec<f64> = (0..41).map(|i| f64::from((i * 37) % 101) + 0.5).collect();
    let fails = |i: usize| i % 7 == 3;
    invoke_all(&azure, "ai-app", None, &durations, &fails).await;
    let slot_durations = [250.0, 5.0, 75.25, 12.0, 300.0, 42.0];
    invoke_all(&azure, "ai-app", Some("staging"), &slot_durations, &|_| false).await;
    let w = TimeWindow::between_ms(start - MINUTE, now_ms() + MINUTE).unwrap();

    fake.clear_requests();
    let m = azure.metrics(&MetricsQuery::new("ai-app", w)).await.unwrap();
    let sent = calls(&fake);
    assert_eq!(sent.len(), 2, "one Metrics_List and one Query_Execute: {sent:?}");
    assert!(
        sent.iter()
            .any(|r| r.contains("/providers/Microsoft.Insights/metrics?")),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|r| r.starts_with("POST /appinsights/v1/apps/") && r.ends_with("/query")),
        "{sent:?}"
    );
    let failed = (0..durations.len()).filter(|i| fails(*i)).count() as u64;
    assert_eq!((m.invocations, m.errors), (Some(41), Some(failed)), "{m:?}");
    let mut sorted = durations.clone();
    sorted.sort_by(f64::total_cmp);
    let d = m.duration.unwrap_or_else(|| panic!("durations: {m:?}"));
    assert_eq!(d.p50_ms, nearest_rank(&sorted, 50.0));
    assert_eq!(d.p90_ms, nearest_rank(&sorted, 90.0));
    assert_eq!(d.p99_ms, nearest_rank(&sorted, 99.0));
    assert_eq!(d.max_ms, 100.5);
    assert!((d.avg_ms - sorted.iter().sum::<f64>() / 41.0).abs() < 1e-9);
    assert!(m.peak_concurrency.is_some(), "{m:?}");
    assert!(m.source.contains("Application Insights requests"), "{}", m.source);
    assert!(!m.unavailable.contains_key("duration"), "{m:?}");
    for figure in [
        "cold_starts",
        "init_duration",
        "max_memory_used_mb",
        "by_version",
        "throttles",
    ] {
        assert!(!reason(&m, figure).is_empty());
    }
    assert_eq!((m.cold_starts, m.max_memory_used_mb), (None, None));

    // The label is the slot: its own role name.
    let slot = azure
        .metrics(&MetricsQuery::new("ai-app", w).qualifier("staging"))
        .await
        .unwrap();
    assert_eq!((slot.invocations, slot.errors), (Some(6), Some(0)));
    let d = slot.duration.unwrap();
    assert_eq!((d.p50_ms, d.max_ms), (42.0, 300.0));

    // A series is still one call to each: the periods split the same records.
    fake.clear_requests();
    let series = azure
        .metric_series(&MetricsQuery::new("ai-app", w).period(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(calls(&fake).len(), 2);
    let counted: u64 = series.iter().filter_map(|p| p.invocations).sum();
    assert_eq!(counted, 41);
    let max = series
        .iter()
        .filter_map(|p| p.duration.map(|d| d.max_ms))
        .fold(0.0, f64::max);
    assert_eq!(max, 100.5);

    // Sampled records stand for several invocations: percentiles are estimates, concurrency
    // unknown.
    fake.seed_request("ai-app-staging", now_ms() - 1000, 9.0, true, 4);
    let sampled = azure
        .metrics(&MetricsQuery::new("ai-app", w).qualifier("staging"))
        .await
        .unwrap();
    assert!(sampled.source.contains("sampled"), "{}", sampled.source);
    assert_eq!(sampled.peak_concurrency, None);
    assert!(reason(&sampled, "peak_concurrency").contains("itemCount"));
    assert_eq!(
        sampled.duration.unwrap().p50_ms,
        9.0,
        "4 of the 10 are the sampled 9 ms record"
    );

    // Bad input.
    let e = azure.metrics(&MetricsQuery::new("no-such-app", w)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = azure
        .metrics(&MetricsQuery::new("ai-app", w).qualifier("1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_records_or_a_connection_string_durations_say_why() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    // Not connected: the host reports nothing to Application Insights.
    let azure = fake
        .builder_with_app_insights(&azurite.blob_endpoint)
        .build()
        .await
        .unwrap();
    deploy(&azure, "ai-silent", None, None).await;
    let start = now_ms();
    invoke_all(&azure, "ai-silent", None, &[5.0, 6.0], &|_| false).await;
    let w = TimeWindow::between_ms(start - MINUTE, now_ms() + MINUTE).unwrap();
    let m = azure.metrics(&MetricsQuery::new("ai-silent", w)).await.unwrap();
    assert_eq!(m.invocations, Some(2));
    assert_eq!(m.duration, None);
    assert!(
        reason(&m, "duration").contains("recorded no requests of ai-silent"),
        "{m:?}"
    );
    assert_eq!(fake.telemetry_rows(), (0, 0));

    // Reading the application from each app's connection string: this app has none.
    let from_settings = fake
        .builder(&azurite.blob_endpoint)
        .application_insights_from_app_settings()
        .application_insights_url(format!("{}/appinsights", fake.url))
        .build()
        .await
        .unwrap();
    let m = from_settings.metrics(&MetricsQuery::new("ai-silent", w)).await.unwrap();
    assert!(
        reason(&m, "duration").contains("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        "{m:?}"
    );
    let e = from_settings.logs(&LogQuery::new("ai-silent", w)).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    // Once set, its ApplicationId= is the application read.
    fake.set_setting(
        "ai-silent",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        &faas_azure::test_support::connection_string(),
    );
    invoke_all(&from_settings, "ai-silent", None, &[7.0], &|_| false).await;
    let m = from_settings.metrics(&MetricsQuery::new("ai-silent", w)).await.unwrap();
    assert_eq!(m.duration.map(|d| d.max_ms), Some(7.0), "{m:?}");

    // A malformed application id is refused when building.
    let e = fake
        .builder(&azurite.blob_endpoint)
        .application_insights("not-a-guid")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
}
