//! The pipeline example as a user runs it: green on the local provider with valid reports,
//! exit codes for failures and bad files, and on AWS (moto) with `--features aws`.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pipeline_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/lambda.yaml")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(example("pipeline"))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn runs_green_on_the_local_provider_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let reports = dir.path().join("reports");
    let file = pipeline_file().display().to_string();
    let out = run(
        &[
            &file,
            "--env",
            "dev",
            "--state-dir",
            &state,
            "--report-dir",
            &reports.display().to_string(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("pipeline passed") && text.contains("tests 3/3 passed (100%)"),
        "{text}"
    );
    assert!(
        text.contains("my-function-prod@live -> 1: succeeded (1 step,"),
        "{text}"
    );
    let junit = reports.join("junit.xml");
    let check = Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); assert r.tag == 'testsuites' and r.get('failures') == '0'"])
        .arg(&junit)
        .status()
        .unwrap();
    assert!(check.success(), "invalid JUnit XML in {}", junit.display());

    let dry = run(&[&file, "--env", "prod", "--state-dir", &state, "--dry-run"], &[]);
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success() && text.contains("dry run: nothing changed") && text.contains("memory_mb: 256 -> 512"),
        "{text}"
    );
    assert!(
        text.contains(
            "would roll my-function-prod@live out to the version published before (canary:50%:2s): +0s 50%, +2s 100%"
        ),
        "{text}"
    );
    // The prod run changes the configuration: a new version, rolled out as a real canary.
    let prod = run(&[&file, "--env", "prod", "--state-dir", &state], &[]);
    let text = String::from_utf8_lossy(&prod.stdout);
    assert!(prod.status.success(), "{text}");
    assert!(
        text.contains("my-function-prod@live -> 2: succeeded (2 steps, canary:50%:2s)"),
        "{text}"
    );
}

#[test]
fn failures_and_bad_files_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: boom, type: script, config: { script: 'exit 4' } }\n        - { name: deploy, type: deploy, config: { function_name: never, runtime: python3.12, handler: a.b } }\n",
    )
    .unwrap();
    let out = run(&[&failing.display().to_string(), "--state-dir", &state], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAILED") && text.contains("skipped"), "{text}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      stepz: []\n",
    )
    .unwrap();
    let out = run(&[&bad.display().to_string(), "--state-dir", &state], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:4:") && err.contains("stepz"), "{err}");
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_aws_through_moto() {
    use faas_aws::test_support::{BUCKET, Moto};
    let Some(moto) = Moto::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let reports = dir.path().join("reports").display().to_string();
    let file = pipeline_file().display().to_string();
    let env = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("FAAS_AWS_BUCKET", BUCKET),
        ("AWS_SECRET_ACCESS_KEY", "faas-moto-secret-123"),
    ];
    let out = run(
        &[
            &file,
            "--env",
            "moto",
            "--provider",
            "aws",
            "--state-dir",
            &state,
            "--report-dir",
            &reports,
        ],
        &env,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("s3://faas-artifacts/my-function/latest.zip"),
        "the artifact went to the bucket and key the file names: {text}"
    );
    assert!(text.contains("created, version 1, LATEST -> 1"), "{text}");
    let report = std::fs::read_to_string(Path::new(&reports).join("report.json")).unwrap();
    for place in [
        &text.to_string(),
        &String::from_utf8_lossy(&out.stderr).to_string(),
        &report,
    ] {
        assert!(
            !place.contains("faas-moto-secret-123"),
            "the auth secret leaked: {place}"
        );
    }
}

/// A credential of the wrong type is an error naming the key (not its value), before any call.
#[cfg(feature = "aws")]
#[test]
fn a_numeric_secret_key_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("numeric.yaml");
    std::fs::write(
        &file,
        "aws_lambda_integration:\n  enabled: true\n  region: us-east-1\n  auth: { type: access_key, access_key_id: AKIDEXAMPLE, secret_access_key: 98765432109876 }\nlambda_deployment_pipeline:\n  stages: []\n",
    )
    .unwrap();
    let out = run(&[&file.display().to_string(), "--provider", "aws"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("numeric.yaml:4:57: aws_lambda_integration.auth.secret_access_key: must be a string")
            && !err.contains("98765432109876"),
        "{err}"
    );
}
