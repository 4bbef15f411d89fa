//! A pipeline run with `monitoring.cloudwatch` enabled publishes its own figures to moto's
//! CloudWatch through `CloudWatchFigures`; they are read back with the SDK.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use faas_aws::test_support::{Moto, Proxy};
use faas_core::local::LocalProvider;
use faas_core::pipeline::{Event, Pipeline, ProviderSet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_pipeline_publishes_its_figures_to_cloudwatch() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(
        LocalProvider::builder()
            .state_dir(dir.path().join("state"))
            .build()
            .unwrap(),
    );
    let providers = ProviderSet::new("local", local).publish_figures_to(Arc::new(aws.figure_sink()));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines/lambda.yaml");
    let report = Pipeline::load(example)
        .unwrap()
        .run(&providers, Some("dev"), &|_: &Event| {})
        .await
        .unwrap();
    assert!(report.passed, "{:#?}", report.steps);
    let said = report.monitoring.clone().unwrap();
    assert!(
        said.starts_with("published ") && said.ends_with(" figures to CI/CD/Lambda"),
        "{said}"
    );

    let cw = aws_sdk_cloudwatch::Client::new(&proxy.sdk_config().await);
    let listed = cw.list_metrics().namespace("CI/CD/Lambda").send().await.unwrap();
    let mut names: Vec<String> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    for want in [
        "Deploys",
        "FailedSteps",
        "RunDuration",
        "RunPassed",
        "StepDuration",
        "TestCases",
        "TestPassRate",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    let steps = listed
        .metrics()
        .iter()
        .filter(|m| m.metric_name() == Some("StepDuration"))
        .count();
    let ran = report
        .steps
        .iter()
        .filter(|s| s.status != faas_core::pipeline::StepStatus::Skipped)
        .count();
    assert_eq!(steps, ran, "one StepDuration series per step that ran");
    let n: usize = said
        .trim_start_matches("published ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(n, faas_core::pipeline::run_figures(&report).len());
}
