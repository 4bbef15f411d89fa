//! A deploy that targets a Linux Consumption plan (sku tier `Dynamic` on Linux, retired by
//! Azure on 30 September 2028) plans with a warning naming Flex Consumption; an Elastic
//! Premium plan gets none. Against the fake ARM, whose request checker holds
//! `AppServicePlans_Get`.

#![allow(clippy::unwrap_used)]

use faas_azure::test_support::{CONSUMPTION_PLAN, FakeAzure, PLAN, python_package};
use faas_core::{FunctionSpec, Provider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linux_consumption_plan_is_warned_about() {
    let fake = FakeAzure::start().await;
    let azure = fake
        .builder("http://127.0.0.1:9/devstoreaccount1")
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = faas_core::local_artifact(&python_package(dir.path()));
    let mut spec = FunctionSpec::new("legacy", "python3.12".parse().unwrap(), "function_app.app");
    spec.azure.plan_id = Some(CONSUMPTION_PLAN.into());
    let plan = azure.plan(&spec, &artifact).await.unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("Linux Consumption")
            && plan.warnings[0].contains("2028-09-30")
            && plan.warnings[0].contains("Flex"),
        "{}",
        plan.warnings[0]
    );
    spec.azure.plan_id = Some(PLAN.into());
    assert!(azure.plan(&spec, &artifact).await.unwrap().warnings.is_empty());
    assert!(fake.writes().is_empty(), "plans write nothing: {:?}", fake.writes());
}
