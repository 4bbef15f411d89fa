//! Metrics from Azure Monitor (`Metrics_List`) against the fake, which aggregates the samples
//! these tests seed: exact sums for production and a slot (a label), series by period, one
//! request per query, `None` with a reason for what platform metrics do not give, and the
//! refusals (a period Azure Monitor has no interval for, an unknown function or label, a
//! version, logs).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use faas_azure::test_support::{Azurite, FakeAzure, python_package};
use faas_azure::{AzureProvider, Hosting};
use faas_core::observe::{LogQuery, Metrics, MetricsQuery, TimeWindow, now_ms};
use faas_core::{DeployOptions, Error, FunctionSpec, Provider, ProviderExt};

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
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .hosting(Hosting::Flex)
        .build()
        .await
        .unwrap();
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
