//! The pipeline's `monitor` step on the local provider: rules judged against the function's
//! metrics fail the run when they fire, and show up as test cases in the JUnit report.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use faas_core::local::LocalProvider;
use faas_core::pipeline::{Event, Pipeline, ProviderSet, StepStatus};

const PIPELINE: &str = r#"
lambda_deployment_pipeline:
  stages:
    - name: build
      steps:
        - { name: pkg, type: package, config: { source_path: "SRC", output_path: "OUT", runtime: python3.12, handler: lambda_function.lambda_handler } }
        - { name: deploy, type: deploy, config: { function_name: watched } }
    - name: test
      steps:
        - name: check
          type: test
          config:
            function_name: watched
            test_cases:
              - { name: ok, payload: { action: greet }, expected_status: 200 }
              - { name: bad-request, payload: { action: invalid }, expected_status: 400 }
    - name: watch
      steps:
        - { name: healthy, type: monitor, config: { function_name: watched, since: 10m, rules: ["errors > 0 min 1", "throttles > 0"] } }
        - { name: busy, type: monitor, config: { function_name: watched, rules: ["invocations > 1"] } }
        - { name: never, type: script, config: { script: "true" } }
"#;

fn yaml(dir: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/functions/hello-python");
    PIPELINE
        .replace("SRC", &src.display().to_string())
        .replace("OUT", &dir.join("f.zip").display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_fires_fails_the_run_with_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let p = Arc::new(
        LocalProvider::builder()
            .state_dir(dir.path().join("state"))
            .build()
            .unwrap(),
    );
    let providers = ProviderSet::new("local", p);
    let report = Pipeline::from_yaml(&yaml(dir.path()))
        .unwrap()
        .run(&providers, None, &|_: &Event| {})
        .await
        .unwrap();
    let step = |n: &str| report.steps.iter().find(|s| s.step == n).unwrap();
    // Two invocations, both answered (a 400 answer is not a function error): quiet rules pass.
    assert_eq!(
        step("healthy").status,
        StepStatus::Passed,
        "{}",
        step("healthy").summary
    );
    assert_eq!(step("healthy").tests.len(), 2);
    let busy = step("busy");
    assert_eq!(busy.status, StepStatus::Failed);
    assert_eq!(
        busy.tests[0].failures,
        vec!["invocations > 1 min 0: the value is 2.00 over 2 invocations"]
    );
    assert_eq!(step("never").status, StepStatus::Skipped);
    let xml = faas_core::pipeline::junit_xml(&report);
    assert!(xml.contains("invocations &gt; 1 min 0"), "{xml}");
}

#[test]
fn bad_rules_and_spans_are_refused_before_anything_runs() {
    for (config, field) in [
        ("{ function_name: f, rules: [\"p99 >> 3\"] }", "alert rule"),
        ("{ function_name: f, rules: [] }", "config.rules"),
        (
            "{ function_name: f, since: soon, rules: [\"errors > 0\"] }",
            "config.since",
        ),
    ] {
        let y = format!(
            "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - {{ name: m, type: monitor, config: {config} }}\n"
        );
        // Steps are built when the pipeline is resolved for a run, before any step runs.
        let e = Pipeline::from_yaml(&y).unwrap().resolve(None).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}

/// Keeps what it is given.
#[derive(Debug, Default)]
struct Recorded(std::sync::Mutex<Vec<(String, Vec<faas_core::pipeline::RunFigure>)>>);

#[async_trait::async_trait]
impl faas_core::pipeline::FigureSink for Recorded {
    async fn publish(&self, namespace: &str, figures: &[faas_core::pipeline::RunFigure]) -> faas_core::Result<()> {
        self.0.lock().unwrap().push((namespace.to_string(), figures.to_vec()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_cloudwatch_publishes_the_runs_own_figures() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines/lambda.yaml");
    let pipeline = Pipeline::load(&example).unwrap();
    let p = Arc::new(
        LocalProvider::builder()
            .state_dir(dir.path().join("state"))
            .build()
            .unwrap(),
    );
    // Without a sink the report says the figures were not published.
    let plain = pipeline
        .run(&ProviderSet::new("local", p.clone()), Some("dev"), &|_: &Event| {})
        .await
        .unwrap();
    assert!(
        plain.monitoring.as_deref().unwrap().starts_with("not published"),
        "{:?}",
        plain.monitoring
    );

    let sink = Arc::new(Recorded::default());
    let providers = ProviderSet::new("local", p).publish_figures_to(sink.clone());
    let report = pipeline.run(&providers, Some("dev"), &|_: &Event| {}).await.unwrap();
    assert!(report.passed);
    let got = sink.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (namespace, figures) = &got[0];
    assert_eq!(namespace, "CI/CD/Lambda");
    assert_eq!(
        report.monitoring.as_deref(),
        Some(format!("published {} figures to CI/CD/Lambda", figures.len()).as_str())
    );
    let named = |n: &str| figures.iter().filter(|f| f.name == n).collect::<Vec<_>>();
    let ran = report.steps.iter().filter(|s| s.status != StepStatus::Skipped).count();
    assert_eq!(named("StepDuration").len(), ran, "one per step that ran");
    assert_eq!(named("TestPassRate")[0].value, 100.0);
    assert_eq!(
        named("TestCases")[0].value,
        3.0,
        "two integration cases and the rollout"
    );
    assert_eq!(named("FailedSteps")[0].value, 0.0);
    assert_eq!(named("RunPassed")[0].value, 1.0);
    assert!(
        figures
            .iter()
            .all(|f| f.dimensions.get("Environment").map(String::as_str) == Some("dev"))
    );
    // The second run changed nothing: no deploy counted.
    assert_eq!(named("Deploys")[0].value, 0.0, "{:?}", named("Deploys"));
}

#[test]
fn a_bad_monitoring_block_is_refused_naming_the_field() {
    for (block, field) in [
        (
            "{ cloudwatch: { enabled: yes-please } }",
            "monitoring.cloudwatch.enabled",
        ),
        (
            "{ cloudwatch: { namespace: AWS/Lambda } }",
            "monitoring.cloudwatch.namespace",
        ),
    ] {
        let y = format!(
            "aws_lambda_integration:\n  monitoring: {block}\nlambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - {{ name: x, type: script, config: {{ script: 'true' }} }}\n"
        );
        let e = Pipeline::from_yaml(&y).unwrap().resolve(None).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}
