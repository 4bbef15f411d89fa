//! Secrets in no log line: a whole delivery (create, code, settings, publish, slot, invoke)
//! with every `trace`-level event captured, then searched for the keys, SAS signatures,
//! connection strings, tokens and secret values it handled; and the function's own logs, read
//! from Application Insights `traces`: paging, following, filters, masking, refusals.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{ACCOUNT_KEY, Azurite, CLIENT_SECRET, FakeAzure, python_package};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let Some(azurite) = Azurite::start().await else { return };
    let (logs, _guard) = faas_core::conformance::capture_logs();

    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path());
    let spec = FunctionSpec::new("logged-app", "python3.12".parse().unwrap(), "function_app.app")
        .secret_env("DB_PASSWORD", "correct-horse-battery-staple");
    let opts = DeployOptions {
        publish: true,
        label: Some("staging".into()),
        ..DeployOptions::default()
    };
    azure.deploy_package(&spec, &pkg, &opts).await.unwrap();
    azure
        .invoke(
            "logged-app",
            &InvokeRequest::json(&serde_json::json!({})).qualifier("staging"),
        )
        .await
        .unwrap();
    let settings = fake.settings("logged-app");
    let sas = settings["WEBSITE_RUN_FROM_PACKAGE"]
        .split("sig=")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(logs.text().contains("logged-app"), "the capture works");
    let sig_prefix = &sas[..8.min(sas.len())];
    logs.assert_free_of(&[
        ACCOUNT_KEY,
        CLIENT_SECRET,
        "correct-horse-battery-staple",
        "fake-arm-token",
        "fake-function-key",
        &sas,
        sig_prefix,
    ]);
    // Without Application Insights there are no logs, and the error says how to get them.
    let w = faas_core::observe::TimeWindow::last(std::time::Duration::from_secs(60));
    let e = azure
        .logs(&faas_core::observe::LogQuery::new("logged-app", w))
        .await
        .unwrap_err();
    assert!(matches!(e, faas_core::Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("FAAS_AZURE_APPLICATION_INSIGHTS"), "{e}");
}

/// Application Insights `traces` as log records: every record once across pages of three,
/// oldest first, one request id per invocation, secret values masked, the level from the host,
/// a filter, following with the last cursor, and the refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_insights_traces_page_once_each_with_secrets_masked() {
    use faas_core::Error;
    use faas_core::observe::{LogLevel, LogQuery, TimeWindow, now_ms};

    let Some(azurite) = Azurite::start().await else { return };
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let fake = FakeAzure::start().await;
    fake.connect_new_apps_to_app_insights();
    let azure = fake
        .builder_with_app_insights(&azurite.blob_endpoint)
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path());
    let secret = "correct-horse-battery-staple";
    let spec = FunctionSpec::new("ai-logs", "python3.12".parse().unwrap(), "function_app.app")
        .secret_env("DB_PASSWORD", secret);
    let opts = DeployOptions {
        publish: true,
        label: Some("staging".into()),
        ..DeployOptions::default()
    };
    azure.deploy_package(&spec, &pkg, &opts).await.unwrap();
    let start = now_ms();
    let event = |i: usize| {
        serde_json::json!({"duration_ms": 3, "fail": i == 4,
            "log": [format!("step {i}"), format!("connecting with {secret}")]})
    };
    for i in 0..5 {
        let _ = azure.invoke("ai-logs", &InvokeRequest::json(&event(i))).await;
    }
    azure
        .invoke("ai-logs", &InvokeRequest::json(&event(9)).qualifier("staging"))
        .await
        .unwrap();
    let w = TimeWindow::between_ms(start - 60_000, now_ms() + 60_000).unwrap();

    // Pages of three: each of the 24 records (4 per invocation) exactly once.
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let mut q = LogQuery::new("ai-logs", w).limit(3);
        q.cursor = cursor.clone();
        let page = azure.logs(&q).await.unwrap();
        assert!(page.records.len() <= 3);
        // Pages follow ingestion; each shows its records oldest first.
        assert!(
            page.records.windows(2).all(|p| p[0].time_ms <= p[1].time_ms),
            "oldest first"
        );
        let done = page.records.is_empty();
        all.extend(page.records);
        cursor = page.cursor;
        if done {
            break;
        }
    }
    assert_eq!(all.len(), 24, "{all:#?}");
    let mut ids = std::collections::BTreeMap::<String, usize>::new();
    for r in &all {
        *ids.entry(r.request_id.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert!(ids.values().all(|n| *n == 4), "{ids:?}");
    assert!(all.iter().all(|r| !r.message.contains(secret)), "masked");
    assert_eq!(all.iter().filter(|r| r.message == "connecting with ***").count(), 6);
    let failed: Vec<_> = all.iter().filter(|r| r.message.contains("(Failed,")).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].level, Some(LogLevel::Error));
    assert!(
        all.iter()
            .filter(|r| r.message.starts_with("step"))
            .all(|r| r.level == Some(LogLevel::Info))
    );

    // Following: the last cursor gives nothing until the function runs again, then only that.
    let mut q = LogQuery::new("ai-logs", w);
    q.cursor = cursor.clone();
    assert!(azure.logs(&q).await.unwrap().records.is_empty());
    let _ = azure.invoke("ai-logs", &InvokeRequest::json(&event(7))).await;
    let next = azure.logs(&q).await.unwrap();
    assert_eq!(next.records.len(), 4, "{next:#?}");
    assert!(next.records.iter().any(|r| r.message == "step 7"));

    // Late records: one invocation's telemetry reaches Application Insights after the next
    // one's. Reading by ingestion time, following still yields both, each once.
    let mut q = LogQuery::new("ai-logs", w);
    q.cursor = next.cursor.clone();
    fake.set_ingestion_delay(std::time::Duration::from_millis(1500));
    let _ = azure.invoke("ai-logs", &InvokeRequest::json(&event(20))).await;
    fake.set_ingestion_delay(std::time::Duration::ZERO);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let _ = azure.invoke("ai-logs", &InvokeRequest::json(&event(21))).await;
    let early = azure.logs(&q).await.unwrap();
    let steps = |p: &faas_core::observe::LogPage| -> Vec<String> {
        p.records
            .iter()
            .filter(|r| r.message.starts_with("step"))
            .map(|r| r.message.clone())
            .collect()
    };
    assert_eq!(steps(&early), vec!["step 21"], "{early:#?}");
    q.cursor = early.cursor.clone();
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let late = azure.logs(&q).await.unwrap();
    assert_eq!(
        steps(&late),
        vec!["step 20"],
        "the late record, older than the cursor's: {late:#?}"
    );
    q.cursor = late.cursor.clone();
    assert!(azure.logs(&q).await.unwrap().records.is_empty());

    // A filter, on the masked text; a label is its slot's records.
    let found = azure
        .logs(&LogQuery::new("ai-logs", w).filter("connecting"))
        .await
        .unwrap();
    assert_eq!(found.records.len(), 9);
    let none = azure
        .logs(&LogQuery::new("ai-logs", w).filter("CONNECTING"))
        .await
        .unwrap();
    assert!(
        none.records.is_empty(),
        "the filter minds case, as the other providers'"
    );
    let staging = azure
        .logs(&LogQuery::new("ai-logs", w).qualifier("staging"))
        .await
        .unwrap();
    assert_eq!(staging.records.len(), 4);
    assert!(staging.records.iter().any(|r| r.message == "step 9"));

    // Refusals.
    let e = azure.logs(&LogQuery::new("no-such-app", w)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = azure
        .logs(&LogQuery::new("ai-logs", w).qualifier("nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let e = azure
        .logs(&LogQuery::new("ai-logs", w).qualifier("1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    let mut bad = LogQuery::new("ai-logs", w);
    bad.cursor = Some("page:xyz".into());
    let e = azure.logs(&bad).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e}");

    logs.assert_free_of(&[
        secret,
        faas_azure::test_support::INSTRUMENTATION_KEY,
        &faas_azure::test_support::connection_string(),
        "fake-appinsights-token",
        "fake-arm-token",
    ]);
    assert!(!format!("{azure:?}").contains(faas_azure::test_support::INSTRUMENTATION_KEY));
}
