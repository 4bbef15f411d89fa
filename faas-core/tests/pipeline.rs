//! The pipeline engine on the local provider: the shipped example, failures that stop the
//! run, dry runs, reports, and every kind of bad input the issue lists.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use faas_core::local::LocalProvider;
use faas_core::pipeline::{Event, Pipeline, ProviderSet, StepStatus, write_reports};
use faas_core::{Error, Provider};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines/lambda.yaml")
}

fn local(dir: &Path) -> (Arc<LocalProvider>, ProviderSet) {
    let p = Arc::new(LocalProvider::builder().state_dir(dir.join("state")).build().unwrap());
    (p.clone(), ProviderSet::new("local", p))
}

fn msg(e: Error) -> String {
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_pipeline_runs_green_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, providers) = local(dir.path());
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let observer = move |e: &Event| sink.lock().unwrap().push(format!("{e:?}"));
    let pipeline = Pipeline::load(example()).unwrap();
    let report = pipeline.run(&providers, Some("dev"), &observer).await.unwrap();
    assert!(report.passed, "{:#?}", report.steps);
    // Two integration test cases and the release stage's rollout.
    assert_eq!(report.test_counts(), (3, 3));
    assert!(report.steps.iter().all(|s| s.status == StepStatus::Passed));
    let prod = provider.get_label("my-function-prod", "LATEST").await.unwrap();
    assert_eq!(prod.routing.primary, "1");
    let live = provider.get_label("my-function-prod", "live").await.unwrap();
    assert_eq!(
        live.routing,
        faas_core::Routing::to("1"),
        "the rollout created the label"
    );
    let dev = provider.get("my-function-dev").await.unwrap();
    assert_eq!(dev.spec.environment["LOG_LEVEL"], "DEBUG");
    assert_eq!(dev.spec.environment["ENV"], "dev");
    let events = events.lock().unwrap().clone();
    assert!(events.iter().any(|e| e.starts_with("StageStarted")) && events.iter().any(|e| e.starts_with("TestCase")));
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Rollout") && e.contains("StepStarted")),
        "the rollout step's progress reaches the pipeline's observer"
    );

    let (json, junit) = write_reports(&report, &dir.path().join("reports")).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(v["passed"], true);
    let check = std::process::Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); assert r.tag == 'testsuites' and r.get('tests') == '3' and r.get('failures') == '0', r.attrib"])
        .arg(junit)
        .status()
        .unwrap();
    assert!(check.success(), "junit.xml is not valid JUnit XML");

    // The prod environment overrides the step's memory; a rerun changes nothing.
    let report = pipeline.run(&providers, Some("prod"), &|_: &Event| {}).await.unwrap();
    assert!(report.passed);
    assert_eq!(provider.get("my-function-prod").await.unwrap().spec.memory_mb, 512);
    let again = pipeline.run(&providers, Some("prod"), &|_: &Event| {}).await.unwrap();
    let deploy = again.steps.iter().find(|s| s.step == "deploy-to-prod").unwrap();
    assert!(deploy.summary.starts_with("unchanged"), "{}", deploy.summary);
}

const FAILING: &str = r#"
lambda_deployment_pipeline:
  stages:
    - name: build
      steps:
        - { name: pkg, type: package, config: { source_path: "SRC", output_path: "OUT", runtime: python3.12, handler: lambda_function.lambda_handler } }
        - { name: first, type: deploy, config: { function_name: fail-fn } }
    - name: test
      steps:
        - name: check
          type: test
          config:
            function_name: fail-fn
            test_cases:
              - { name: wrong-status, payload: { action: invalid }, expected_status: 200 }
    - name: release
      steps:
        - { name: after, type: deploy, config: { function_name: never-deployed, alias: live } }
"#;

fn with_paths(yaml: &str, dir: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/functions/hello-python");
    yaml.replace("SRC", &src.display().to_string())
        .replace("OUT", &dir.join("f.zip").display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_case_stops_before_any_later_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, providers) = local(dir.path());
    let pipeline = Pipeline::from_yaml(&with_paths(FAILING, dir.path())).unwrap();
    let report = pipeline.run(&providers, None, &|_: &Event| {}).await.unwrap();
    assert!(!report.passed);
    let check = report.steps.iter().find(|s| s.step == "check").unwrap();
    assert_eq!(check.status, StepStatus::Failed);
    assert_eq!(check.tests[0].failures, vec!["status: expected 200, got 400"]);
    let after = report.steps.iter().find(|s| s.step == "after").unwrap();
    assert_eq!(after.status, StepStatus::Skipped);
    assert!(matches!(
        provider.get("never-deployed").await,
        Err(Error::NotFound { .. })
    ));
    let xml = faas_core::pipeline::junit_xml(&report);
    assert!(
        xml.contains("<failure message=\"status: expected 200, got 400\">"),
        "{xml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (provider, providers) = local(dir.path());
    let pipeline = Pipeline::load(example()).unwrap().dry_run(true);
    let report = pipeline.run(&providers, Some("dev"), &|_: &Event| {}).await.unwrap();
    assert!(report.passed, "{:#?}", report.steps);
    assert!(report.dry_run);
    let deploy = report.steps.iter().find(|s| s.step == "deploy-to-prod").unwrap();
    assert!(
        deploy.summary.contains("would") && deploy.summary.contains("create function my-function-prod"),
        "{}",
        deploy.summary
    );
    assert!(!deploy.plans.is_empty());
    for f in ["my-function-test", "my-function-dev", "my-function-prod"] {
        assert!(
            matches!(provider.get(f).await, Err(Error::NotFound { .. })),
            "{f} was created by a dry run"
        );
    }
}

async fn run_yaml(yaml: &str) -> Result<faas_core::pipeline::PipelineReport, Error> {
    let dir = tempfile::tempdir().unwrap();
    let (_, providers) = local(dir.path());
    let pipeline = Pipeline::from_yaml(&with_paths(yaml, dir.path()))?;
    pipeline.run(&providers, None, &|_: &Event| {}).await
}

#[tokio::test]
async fn bad_input_is_reported_with_its_location() {
    let e = msg(Pipeline::from_yaml("lambda_deployment_pipeline:\n  stages: [\n").unwrap_err());
    assert!(e.contains("pipeline.yaml:"), "syntax error without a location: {e}");

    let e = msg(Pipeline::from_yaml("lambda_deployment_pipeline:\n  stages: []\n  stagez: []\n").unwrap_err());
    assert!(
        e.contains("pipeline.yaml:3:") && e.contains("unknown field `stagez`") && e.contains("stages"),
        "{e}"
    );

    let e = msg(Pipeline::from_yaml("lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: x, type: lambda-teleport }\n").unwrap_err());
    assert!(
        e.contains("pipeline.yaml:5:") && e.contains("lambda-teleport") && e.contains("lambda-deploy"),
        "{e}"
    );

    let missing = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: d, type: deploy, config: { memory_size: 128 } }\n";
    let e = msg(run_yaml(missing).await.unwrap_err());
    assert!(e.contains("pipeline.yaml:5:") && e.contains("function_name"), "{e}");

    let typo = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: d, type: deploy, config: { function_name: f, memory_size: lots } }\n";
    let e = msg(run_yaml(typo).await.unwrap_err());
    assert!(
        e.contains("config.memory_size") && e.contains("pipeline.yaml:5:"),
        "{e}"
    );

    let leaky = "aws_lambda_integration:\n  enabled: true\n  auth: { type: access_key, access_key_id: AKID, secret_access_key: 'abc${def-secret-canary' }\nlambda_deployment_pipeline:\n  stages: []\n";
    let e = msg(run_yaml(leaky).await.unwrap_err());
    assert!(e.contains("unterminated") && !e.contains("secret-canary"), "{e}");

    let dup = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: a, type: script, config: { script: 'true' } }\n        - { name: a, type: script, config: { script: 'true' } }\n";
    let e = msg(Pipeline::from_yaml(dup).unwrap_err());
    assert!(e.contains("duplicate step name"), "{e}");
    let dup_stage =
        "lambda_deployment_pipeline:\n  stages:\n    - { name: s, steps: [] }\n    - { name: s, steps: [] }\n";
    assert!(msg(Pipeline::from_yaml(dup_stage).unwrap_err()).contains("duplicate stage name"));

    let undefined = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: d, type: script, config: { script: 'echo ${FAAS_SURELY_UNDEFINED_VAR}' } }\n";
    let e = msg(run_yaml(undefined).await.unwrap_err());
    assert!(
        e.contains("FAAS_SURELY_UNDEFINED_VAR")
            && e.contains("stages[0].steps[0].config.script")
            && e.contains("pipeline.yaml:5:"),
        "{e}"
    );
}

#[tokio::test]
async fn failing_steps_stop_the_pipeline() {
    let no_artifact = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: d, type: deploy, config: { function_name: f, artifact: nope, runtime: python3.12, handler: a.b } }\n        - { name: later, type: script, config: { script: 'true' } }\n";
    let r = run_yaml(no_artifact).await.unwrap();
    assert!(!r.passed);
    assert!(
        r.steps[0].summary.contains("no earlier step produced this artifact"),
        "{}",
        r.steps[0].summary
    );
    assert_eq!(r.steps[1].status, StepStatus::Skipped);

    let script = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: boom, type: script, config: { script: 'echo about to fail; exit 3' } }\n        - { name: later, type: script, config: { script: 'true' } }\n";
    let r = run_yaml(script).await.unwrap();
    assert_eq!(r.steps[0].status, StepStatus::Failed);
    assert!(
        r.steps[0].summary.contains("exit status: 3") && r.steps[0].summary.contains("about to fail"),
        "{}",
        r.steps[0].summary
    );
    assert_eq!(r.steps[1].status, StepStatus::Skipped);

    let ghost = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: t, type: test, config: { function_name: ghost, test_cases: [ { name: c, expected_status: 200 } ] } }\n";
    let r = run_yaml(ghost).await.unwrap();
    assert_eq!(r.steps[0].status, StepStatus::Failed);
    assert!(r.steps[0].summary.contains("not found"), "{}", r.steps[0].summary);
}

#[tokio::test]
async fn a_timed_out_script_is_stopped_with_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let yaml = format!(
        "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - {{ name: slow, type: script, config: {{ script: 'sleep 60 & echo $! > {}; wait', timeout_s: 1 }} }}\n",
        pidfile.display()
    );
    let r = run_yaml(&yaml).await.unwrap();
    assert_eq!(r.steps[0].status, StepStatus::Failed, "{}", r.steps[0].summary);
    assert!(r.steps[0].summary.contains("timed out"), "{}", r.steps[0].summary);
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
    let mut alive = true;
    for _ in 0..40 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        alive = !stat.is_empty() && !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z');
        if !alive {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!alive, "the script's child {pid} outlived the timed-out step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_case_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("echo");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "import os\ndef handler(e, c):\n    return {'token': os.environ['API_TOKEN'], os.environ['API_TOKEN']: 1}\n",
    )
    .unwrap();
    let yaml = format!(
        r#"
lambda_deployment_pipeline:
  stages:
    - name: s
      steps:
        - {{ name: pkg, type: package, config: {{ source_path: "{src}", output_path: "{out}", runtime: python3.12, handler: app.handler }} }}
        - name: up
          type: deploy
          config: {{ function_name: echo-secret, secret_environment_variables: {{ API_TOKEN: canary-test-secret }} }}
        - name: check
          type: test
          config:
            function_name: echo-secret
            test_cases:
              - {{ name: leaks, payload: {{}}, expected_response: {{ token: wrong }} }}
              - {{ name: exact, payload: {{}}, expected_response: {{ token: wrong }}, match: exact }}
"#,
        src = src.display(),
        out = dir.path().join("echo.zip").display()
    );
    let (_, providers) = local(dir.path());
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = seen.clone();
    let observer = move |e: &Event| sink.lock().unwrap().push_str(&format!("{e:?}\n"));
    let report = Pipeline::from_yaml(&yaml)
        .unwrap()
        .run(&providers, None, &observer)
        .await
        .unwrap();
    let check = report.steps.iter().find(|s| s.step == "check").unwrap();
    assert_eq!(check.status, StepStatus::Failed);
    assert!(!check.tests[0].failures.is_empty());
    let text = format!(
        "{}{}{}",
        serde_json::to_string(&report).unwrap(),
        faas_core::pipeline::junit_xml(&report),
        seen.lock().unwrap()
    );
    assert!(!text.contains("canary-test-secret"), "{text}");
    assert!(text.contains("***"), "{text}");
}

#[tokio::test]
async fn secrets_never_reach_reports_or_errors() {
    let yaml = "aws_lambda_integration:\n  enabled: true\n  auth: { type: access_key, access_key_id: AKIDEXAMPLE, secret_access_key: \"${FAAS_TEST_SECRET:-wJalrXUtnFEMI-very-secret}\" }\nlambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: leak, type: script, config: { script: 'echo wJalrXUtnFEMI-very-secret; exit 1' } }\n";
    let r = run_yaml(yaml).await.unwrap();
    let text = serde_json::to_string(&r).unwrap() + &faas_core::pipeline::junit_xml(&r);
    assert!(!text.contains("wJalrXUtnFEMI-very-secret"), "{text}");
    assert!(text.contains("***"));
}

/// A step type of the user's own, registered by name.
#[derive(Debug)]
struct Notify {
    channel: String,
}

#[async_trait::async_trait]
impl faas_core::pipeline::Step for Notify {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(
        &self,
        ctx: &mut faas_core::pipeline::RunContext<'_>,
        _: Arc<dyn Provider>,
    ) -> Result<faas_core::pipeline::StepOutcome, Error> {
        let verb = if ctx.dry_run() { "would notify" } else { "notified" };
        Ok(faas_core::pipeline::StepOutcome {
            summary: format!("{verb} {}", self.channel),
            ..Default::default()
        })
    }
}

#[tokio::test]
async fn users_register_their_own_step_types() {
    let mut registry = faas_core::pipeline::StepRegistry::default();
    registry.register(
        "notify",
        Arc::new(|config: &faas_core::pipeline::StepConfig| {
            let channel = config
                .get("channel")
                .and_then(|v| v.as_str())
                .unwrap_or("#deploys")
                .to_string();
            Ok(Box::new(Notify { channel }) as Box<dyn faas_core::pipeline::Step>)
        }),
    );
    assert!(registry.names().contains("notify"));
    let yaml = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: tell, type: notify, config: { channel: '#releases' } }\n";
    let pipeline = Pipeline::from_yaml_named("custom.yaml", yaml, PathBuf::from("."), registry).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, providers) = local(dir.path());
    let report = pipeline.run(&providers, None, &|_: &Event| {}).await.unwrap();
    assert_eq!(report.steps[0].summary, "notified #releases");
    let e = Pipeline::from_yaml(yaml).unwrap_err().to_string();
    assert!(
        e.contains("unknown step type"),
        "without the registration the type is unknown: {e}"
    );
}

#[test]
fn huge_or_deeply_nested_files_are_refused_before_parsing() {
    let started = std::time::Instant::now();
    let nested = format!(
        "lambda_deployment_pipeline: {}{}\n",
        "[".repeat(40_000),
        "]".repeat(40_000)
    );
    let e = msg(Pipeline::from_yaml(&nested).unwrap_err());
    assert!(e.contains("pipeline.yaml:1") && e.contains("at most 64 levels"), "{e}");
    let big = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    let e = msg(Pipeline::from_yaml(&big).unwrap_err());
    assert!(e.contains("at most 1048576 bytes"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The shipped example and ordinary flow collections pass.
    let ok = "lambda_deployment_pipeline:\n  stages:\n    - { name: s, steps: [ { name: a, type: script, config: { script: 'echo \"[{\"' } } ] }\n";
    Pipeline::from_yaml(ok).unwrap();
}

/// A step type that keeps the config it was built from.
fn recording_registry(seen: Arc<Mutex<Vec<serde_json::Value>>>) -> faas_core::pipeline::StepRegistry {
    let mut registry = faas_core::pipeline::StepRegistry::default();
    registry.register(
        "notify",
        Arc::new(move |config: &faas_core::pipeline::StepConfig| {
            seen.lock().unwrap().push(config.as_json().clone());
            let channel = config.get("channel").and_then(|v| v.as_str()).unwrap_or("#deploys");
            Ok(Box::new(Notify {
                channel: channel.to_string(),
            }) as Box<dyn faas_core::pipeline::Step>)
        }),
    );
    registry
}

#[test]
fn anchors_aliases_and_merge_keys_reach_step_configs() {
    let yaml = r##"
environments:
  prod:
    variables: { CHANNEL: "#prod" }
    steps:
      merged: { extra: { y: 2 } }
lambda_deployment_pipeline:
  stages:
    - name: s
      steps:
        - name: base
          type: notify
          config: &base { channel: "${CHANNEL:-#base}", extra: { x: 1 }, quiet: yes }
        - name: alias
          type: notify
          config: *base
        - name: merged
          type: notify
          config: { <<: *base, channel: "#merged" }
"##;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pipeline = Pipeline::from_yaml_named(
        "anchors.yaml",
        yaml,
        PathBuf::from("."),
        recording_registry(seen.clone()),
    )
    .unwrap();
    pipeline.resolve(Some("prod")).unwrap();
    let seen = seen.lock().unwrap().clone();
    let base = serde_json::json!({"channel": "#prod", "extra": {"x": 1}, "quiet": "yes"});
    assert_eq!(seen[0], base);
    assert_eq!(seen[1], base, "an alias is a copy of its anchor");
    assert_eq!(
        seen[2],
        serde_json::json!({"channel": "#merged", "extra": {"x": 1, "y": 2}, "quiet": "yes"}),
        "merge keys expand, then the environment's override merges in"
    );
}

#[test]
fn alias_bombs_are_refused_quickly() {
    let started = std::time::Instant::now();
    let mut yaml = String::from("aws_lambda_integration:\n  enabled: false\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 9].join(", ");
        yaml.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
    }
    yaml.push_str("lambda_deployment_pipeline:\n  stages: []\n");
    let e = msg(Pipeline::from_yaml(&yaml).unwrap_err());
    assert!(
        e.contains("pipeline.yaml") && e.contains("too large or too complex"),
        "{e}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

const QUALIFIED: &str = r#"
lambda_deployment_pipeline:
  stages:
    - name: build
      steps:
        - { name: pkg, type: package, config: { source_path: "SRC", output_path: "OUT", runtime: python3.12, handler: lambda_function.lambda_handler } }
        - { name: first, type: deploy, config: { function_name: q-fn, alias: live } }
    - name: test
      steps:
        - name: check
          type: test
          config:
            function_name: q-fn
            test_cases:
              - { name: latest, payload: { name: a }, expected_status: 200 }
              - { name: through-live, qualifier: live, payload: { name: b }, expected_status: 200 }
              - { name: through-QUAL, qualifier: QUAL, payload: { name: c }, expected_status: 200 }
"#;

/// A test case's own `qualifier` is the one invoked (a missing one fails the step naming it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cases_invoke_their_own_qualifier() {
    let dir = tempfile::tempdir().unwrap();
    let (_provider, providers) = local(dir.path());
    let ok = with_paths(&QUALIFIED.replace("QUAL", "1"), dir.path());
    let report = Pipeline::from_yaml(&ok)
        .unwrap()
        .run(&providers, None, &|_: &Event| {})
        .await
        .unwrap();
    assert!(report.passed, "{:#?}", report.steps);
    assert_eq!(report.test_counts(), (3, 3));
    let missing = with_paths(&QUALIFIED.replace("QUAL", "nope"), dir.path());
    let report = Pipeline::from_yaml(&missing)
        .unwrap()
        .run(&providers, None, &|_: &Event| {})
        .await
        .unwrap();
    let check = report.steps.iter().find(|s| s.step == "check").unwrap();
    assert_eq!(check.status, StepStatus::Failed);
    assert!(check.summary.contains("nope"), "{}", check.summary);
}
