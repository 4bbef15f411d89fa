//! Memory tuning on Azure: on Flex Consumption (no slots, so no labels) each instance size
//! is set on the app itself, one after the other, and the app is put back — its
//! `instanceMemoryMB` and app settings as the fake stores them; on Premium the memory comes
//! from the plan and tuning is refused before any call.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{Azurite, FakeAzure, marked_package as package};
use faas_core::cost::tune::{TuneOptions, tune};
use faas_core::{DeployOptions, Error, FunctionSpec, Provider, ProviderExt};

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "function_app.app")
}

/// The app's instance memory and its settings, as the fake stores them.
fn stored(fake: &FakeAzure, app: &str) -> (serde_json::Value, std::collections::BTreeMap<String, String>) {
    let site = fake.site(app).unwrap();
    (
        site["properties"]["functionAppConfig"]["scaleAndConcurrency"]["instanceMemoryMB"].clone(),
        fake.settings(app),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flex_apps_are_tuned_in_place_and_put_back() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.flex_provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let base = spec("flex-tuned").memory_mb(2048).env("LOG_LEVEL", "INFO");
    let publish = DeployOptions {
        publish: true,
        ..DeployOptions::default()
    };
    azure
        .deploy_package(&base, &package(dir.path(), "f"), &publish)
        .await
        .unwrap();
    let before = stored(&fake, "flex-tuned");
    assert_eq!(before.0, 2048);
    let versions = azure.list_versions("flex-tuned").await.unwrap();

    // Flex has three instance sizes: another is refused before any write.
    fake.clear_requests();
    let e = tune(&azure, "flex-tuned", &TuneOptions::new().memory([512, 1024]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "memory_mb"),
        "{e}"
    );
    // Reads only (listing app settings is a POST that reads).
    let reads = |r: &String| r.starts_with("GET ") || r.contains("/config/appsettings/list?");
    assert!(fake.requests().iter().all(reads), "{:?}", fake.requests());

    let report = tune(&azure, "flex-tuned", &TuneOptions::new().invocations(2))
        .await
        .unwrap();
    eprintln!("{report}");
    let sizes: Vec<u32> = report.values.iter().map(|v| v.memory_mb).collect();
    assert_eq!(sizes, [512, 2048, 4096], "the plan's sizes by default");
    assert!(
        report.values.iter().all(|v| v.errors == 0 && v.invocations == 2),
        "{report}"
    );
    assert!(
        report.versions_removed.is_empty() && report.labels_removed.is_empty(),
        "nothing to make"
    );
    assert_eq!(stored(&fake, "flex-tuned"), before, "memory and settings put back");
    assert_eq!(azure.list_versions("flex-tuned").await.unwrap(), versions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn premium_memory_is_the_plans_and_tuning_is_refused_before_any_call() {
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let azure = fake.provider(&azurite.blob_endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    azure
        .deploy_package(
            &spec("premium-tuned"),
            &package(dir.path(), "p"),
            &DeployOptions::default(),
        )
        .await
        .unwrap();
    assert!(!azure.info().capability.memory_tuning);
    fake.clear_requests();
    let e = tune(&azure, "premium-tuned", &TuneOptions::new()).await.unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("Flex"), "{e}");
    assert_eq!(fake.requests(), Vec::<String>::new(), "not one call");
}
