//! Helpers for the examples' tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// `target/<profile>/examples/<name>`, built by `cargo test` before the tests run.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("examples").join(name);
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build -p examples --examples`",
        bin.display()
    );
    bin
}

/// The test venv's Python (`FAAS_TEST_RIC_PYTHON`, set by scripts/test.sh: awslambdaric,
/// boto3): `None` (the test skips, saying so) when it is not set, a failure in CI.
pub fn ric_python(test: &str) -> Option<String> {
    match std::env::var("FAAS_TEST_RIC_PYTHON") {
        Ok(p) => Some(p),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("FAAS_TEST_RIC_PYTHON is not set: run the tests with scripts/test.sh")
        }
        Err(_) => {
            eprintln!("SKIPPED {test} test: FAAS_TEST_RIC_PYTHON not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// A finished command's stdout and stderr, for assertion messages.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `reports/report.json` under `dir`, as the pipeline example wrote it.
pub fn pipeline_report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("reports/report.json")).unwrap()).unwrap()
}

/// The AWS provider talking to the Lambda/S3 endpoint at `url` (moto, or the local serve
/// front) with the test keys.
#[cfg(feature = "aws")]
pub async fn aws_at(url: &str) -> faas_aws::AwsProvider {
    faas_aws::AwsBuilder::default()
        .region("us-east-1")
        .endpoint_url(url)
        .static_keys(faas_aws::StaticKeys {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        })
        .build()
        .await
        .unwrap()
}
