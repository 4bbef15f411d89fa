//! The whole conformance suite against the fake ARM + Storage listKeys + Kudu + Entra token
//! endpoint + Application Insights (`faas_azure::test_support`), with packages and version
//! records in Azurite; Flex Consumption without Application Insights.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use faas_azure::test_support::{Azurite, FakeAzure};
use faas_core::conformance::{self, Fixture};

fn write_function_app(dir: &Path, marker: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join("function_app.py"),
        format!(
            "import json\n\nimport azure.functions as func\n\napp = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)\nMARKER = {marker:?}\n\n\n@app.route(route=\"{{name}}\")\ndef main(req: func.HttpRequest) -> func.HttpResponse:\n    return func.HttpResponse(json.dumps({{\"marker\": MARKER, \"event\": req.get_json()}}), mimetype=\"application/json\")\n"
        ),
    )?;
    std::fs::write(dir.join("host.json"), "{\"version\": \"2.0\"}\n")
}

fn fixture() -> Fixture {
    Fixture {
        runtime: "python3.12".parse().unwrap(),
        handler: "function_app.app".into(),
        write_source: write_function_app,
        // The fake answers with the code it loaded and the event; it does not run Python.
        runs_code: false,
        reports_executed_version: true,
        invoke_rejects_missing: true,
        role: None,
        prefix: "conf".into(),
        split_samples: 0,
        memory_mb: 128,
        // Without Application Insights there are no durations and no logs to see invocations
        // by (the Application Insights run below sets this).
        observes_invocations: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_provider_passes_the_conformance_suite() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    // The apps report to the fake's Application Insights component, which the provider reads:
    // metrics have durations, and there are logs.
    fake.connect_new_apps_to_app_insights();
    let provider = fake
        .builder_with_app_insights(&azurite.blob_endpoint)
        .build()
        .await
        .unwrap();
    let fx = Fixture {
        observes_invocations: true,
        ..fixture()
    };
    let report = conformance::run_all(&provider, &fx).await;
    eprintln!("{report}");
    assert_eq!(
        report.skipped,
        vec![("weighted_split", "no weighted labels (weighted_versions = 0)")]
    );
    // Records are conditional blobs in Azurite.
    assert!(report.ran.contains(&"records_are_conditional"), "{report}");
    assert!(report.ran.contains(&"metrics_and_logs_see_invocations"), "{report}");
    assert!(report.ran.contains(&"slot_swap_promotes_and_swaps_back"), "{report}");
    assert!(fake.polls() > 5, "operations took several polls");
}

/// Flex Consumption (no slots, so no labels) runs the shared suite with the checks it
/// supports, held as `Arc<dyn Provider>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_flex_passes_the_checks_its_capability_selects() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let flex = fake
        .builder(&azurite.blob_endpoint)
        .hosting(faas_azure::Hosting::Flex)
        .build()
        .await
        .unwrap();
    let provider: std::sync::Arc<dyn faas_core::Provider> = std::sync::Arc::new(flex);
    let fx = conformance::Fixture {
        memory_mb: 2048,
        ..fixture()
    };
    let report = conformance::run_all(provider.as_ref(), &fx).await;
    eprintln!("{report}");
    let skipped: Vec<&str> = report.skipped.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        skipped,
        vec![
            "label_move_and_rollback",
            "weighted_split",
            "slot_swap_promotes_and_swaps_back",
            "metrics_and_logs_see_invocations",
            "records_are_conditional"
        ],
        "{report}"
    );
}

/// `AZURE_SUBSCRIPTION_ID=… AZURE_RESOURCE_GROUP=… FAAS_AZURE_PLAN=… FAAS_AZURE_STORAGE_ACCOUNT=…
/// cargo test -p faas-azure --all-features --test conformance live -- --ignored`
/// with credentials allowed to manage function apps (never in CI here: no network to Azure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an Azure subscription: credentials, a plan, a storage account and network access to Azure"]
async fn live_azure_passes_the_conformance_suite() {
    let provider = faas_azure::AzureBuilder::from_env().build().await.unwrap();
    let live = Fixture {
        runs_code: true,
        ..fixture()
    };
    eprintln!("{}", conformance::run_all(&provider, &live).await);
}
