//! The pipeline file users already write (issue 17's, byte for byte) runs as written on the
//! local provider: it packages `./src` with Lambda's default handler, runs its pytest unit
//! tests, and stops at its integration test because it never deploys `my-function-test` —
//! with a clear "not found", in a dry run too, and nothing deployed after it. With one step
//! added that deploys `my-function-test`, it goes green through the dev and prod deploys.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{example, output_text as text, pipeline_report as report, ric_python};

/// The file, byte for byte.
const VERBATIM: &str = r#"lambda_deployment_pipeline:
  stages:
    - name: build
      steps:
        - name: package-function
          type: lambda-package
          config:
            source_path: "./src"
            output_path: "./dist/function.zip"
            runtime: "python3.9"
            dependencies:
              - "requirements.txt"
        
        - name: upload-artifact
          type: s3-upload
          config:
            bucket: "lambda-deployment-artifacts"
            key_prefix: "my-function/"
            file: "./dist/function.zip"
    
    - name: test
      steps:
        - name: unit-test
          type: script
          config:
            script: "python -m pytest tests/unit"
        
        - name: integration-test
          type: lambda-test
          config:
            function_name: "my-function-test"
            test_cases:
              - name: "test-success-case"
                payload:
                  action: "process"
                  data: "test-data"
                expected_status: 200
              
              - name: "test-error-case"
                payload:
                  action: "invalid"
                expected_status: 400
    
    - name: deploy
      steps:
        - name: deploy-to-dev
          type: lambda-deploy
          config:
            function_name: "my-function-dev"
            s3_bucket: "lambda-deployment-artifacts"
            s3_key: "my-function/latest.zip"
            role_arn: "arn:aws:iam::123456789012:role/lambda-execution-role"
            environment_variables:
              ENV: "dev"
              LOG_LEVEL: "DEBUG"
            timeout: 30
            memory_size: 128
        
        - name: deploy-to-prod
          type: lambda-deploy
          config:
            function_name: "my-function-prod"
            s3_bucket: "lambda-deployment-artifacts"
            s3_key: "my-function/latest.zip"
            role_arn: "arn:aws:iam::123456789012:role/lambda-execution-role"
            environment_variables:
              ENV: "prod"
              LOG_LEVEL: "INFO"
            timeout: 60
            memory_size: 256
            alias: "LATEST"
"#;

/// The step a team adds so that the integration test has a function to test.
const DEPLOY_TEST_FUNCTION: &str = r#"        - name: deploy-test-function
          type: lambda-deploy
          config:
            function_name: "my-function-test"
            s3_bucket: "lambda-deployment-artifacts"
            s3_key: "my-function/latest.zip"
            role_arn: "arn:aws:iam::123456789012:role/lambda-execution-role"

        - name: integration-test
"#;

const HANDLER: &str = r#"import json


def process(data):
    return {"processed": data}


def lambda_handler(event, context):
    if event.get("action") != "process":
        return {"statusCode": 400, "body": json.dumps({"error": "unknown action"})}
    return {"statusCode": 200, "body": json.dumps(process(event.get("data")))}
"#;

const UNIT_TEST: &str = r#"import sys, pathlib
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "src"))
import lambda_function


def test_process():
    assert lambda_function.process("x") == {"processed": "x"}


def test_unknown_action_is_400():
    assert lambda_function.lambda_handler({"action": "nope"}, None)["statusCode"] == 400
"#;

/// The project: the pipeline file, `./src` and `tests/unit` beside it; and the PATH with a
/// `python` that has pytest first (the test venv's).
fn project(dir: &Path, pipeline: &str, python: &str) -> String {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("tests/unit")).unwrap();
    std::fs::write(dir.join("src/lambda_function.py"), HANDLER).unwrap();
    std::fs::write(dir.join("src/requirements.txt"), "# no third-party dependencies\n").unwrap();
    std::fs::write(dir.join("tests/unit/test_function.py"), UNIT_TEST).unwrap();
    std::fs::write(dir.join("pipeline.yaml"), pipeline).unwrap();
    // The venv's own bin directory (a symlink to its python would lose the venv).
    let bin = Path::new(python).parent().unwrap();
    assert!(bin.join("python").exists(), "{} has no python", bin.display());
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn run(dir: &Path, path: &str, extra: &[&str]) -> Output {
    Command::new(example("pipeline"))
        .arg(dir.join("pipeline.yaml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .args(extra)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn status<'a>(report: &'a serde_json::Value, step: &str) -> &'a str {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .map_or("(not run)", |s| s["status"].as_str().unwrap())
}

/// The run failed at the integration test for want of `my-function-test`: what it said, and
/// its report.
fn stopped_at_integration_test(dir: &Path, out: &Output) -> (String, serde_json::Value) {
    let said = text(out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("my-function-test") && said.contains("not found"),
        "{said}"
    );
    assert_eq!(status(&report(dir), "integration-test"), "failed", "{said}");
    (said, report(dir))
}

#[test]
fn the_file_as_written_stops_at_its_integration_test() {
    let Some(python) = ric_python("pipeline_verbatim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = project(dir.path(), VERBATIM, &python);
    let out = run(dir.path(), &path, &[]);
    let (said, r) = stopped_at_integration_test(dir.path(), &out);
    for step in ["package-function", "upload-artifact", "unit-test"] {
        assert_eq!(status(&r, step), "passed", "{step}: {said}");
    }
    assert_eq!(status(&r, "integration-test"), "failed", "{said}");
    assert!(
        ["skipped", "(not run)"].contains(&status(&r, "deploy-to-dev")),
        "{said}"
    );
    assert!(
        !dir.path().join("state/functions/my-function-dev.json").exists(),
        "nothing deployed after it"
    );

    // A dry run says the same, with read calls only.
    let dry = run(dir.path(), &path, &["--dry-run"]);
    let said = text(&dry);
    assert_eq!(dry.status.code(), Some(1), "{said}");
    assert!(
        said.contains("my-function-test") && said.contains("not found"),
        "{said}"
    );
}

#[test]
fn with_the_test_function_deployed_it_goes_green_through_dev_and_prod() {
    let Some(python) = ric_python("pipeline_verbatim") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pipeline = VERBATIM.replacen("        - name: integration-test\n", DEPLOY_TEST_FUNCTION, 1);
    let path = project(dir.path(), &pipeline, &python);
    let out = run(dir.path(), &path, &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let r = report(dir.path());
    for step in [
        "deploy-test-function",
        "integration-test",
        "deploy-to-dev",
        "deploy-to-prod",
    ] {
        assert_eq!(status(&r, step), "passed", "{step}: {said}");
    }
    assert!(said.contains("LATEST -> 1"), "{said}");
}

/// moto, and plain HTTP to it (moto checks no signature) for what the test itself reads and
/// seeds.
#[cfg(feature = "aws")]
mod on_moto {
    use super::*;
    use faas_aws::test_support::{Moto, ROLE};

    const ARTIFACTS: &str = "lambda-deployment-artifacts";

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        )
    }

    fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }

    fn run_aws(dir: &Path, path: &str, moto: &Moto, file: &str) -> Output {
        Command::new(example("pipeline"))
            .arg(dir.join(file))
            .args(["--provider", "aws", "--state-dir"])
            .arg(dir.join("state"))
            .arg("--report-dir")
            .arg(dir.join("reports"))
            .env("PATH", path)
            .envs(aws_env(moto))
            .output()
            .unwrap()
    }

    async fn http(method: reqwest::Method, url: &str, service: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, url)
            .header("authorization", auth(service))
    }

    /// The S3 object's status and its `faas-sha256` metadata.
    async fn object(moto: &Moto, key: &str) -> (u16, Option<String>) {
        let r = http(reqwest::Method::HEAD, &format!("{}/{ARTIFACTS}/{key}", moto.url), "s3")
            .await
            .send()
            .await
            .unwrap();
        let meta = r
            .headers()
            .get("x-amz-meta-faas-sha256")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), meta)
    }

    async fn bucket(moto: &Moto) {
        let r = http(reqwest::Method::PUT, &format!("{}/{ARTIFACTS}", moto.url), "s3")
            .await
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Lambda's `CodeSha256` of `function`, or the status when there is none.
    async fn code_sha256(moto: &Moto, function: &str) -> Result<String, u16> {
        let r = http(
            reqwest::Method::GET,
            &format!("{}/2015-03-31/functions/{function}", moto.url),
            "lambda",
        )
        .await
        .send()
        .await
        .unwrap();
        match r.status().as_u16() {
            200 => Ok(
                r.json::<serde_json::Value>().await.unwrap()["Configuration"]["CodeSha256"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            ),
            s => Err(s),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_file_as_written_on_moto_uploads_to_its_bucket_and_stops_at_its_integration_test() {
        let Some(python) = ric_python("pipeline_verbatim") else {
            return;
        };
        let Some(moto) = Moto::start().await else { return };
        bucket(&moto).await;
        let dir = tempfile::tempdir().unwrap();
        let path = project(dir.path(), VERBATIM, &python);
        let out = run_aws(dir.path(), &path, &moto, "pipeline.yaml");
        let (said, r) = stopped_at_integration_test(dir.path(), &out);
        assert_eq!(status(&r, "unit-test"), "passed", "{said}");
        // The upload went where the file says: the content-addressed object and latest.zip.
        let (latest, sha) = object(&moto, "my-function/latest.zip").await;
        assert_eq!(latest, 200, "{said}");
        let sha = sha.expect("the package's sha256 in the object's metadata");
        assert_eq!(
            object(&moto, &format!("my-function/{sha}.zip")).await,
            (200, Some(sha.clone()))
        );
        assert_eq!(
            code_sha256(&moto, "my-function-dev").await,
            Err(404),
            "nothing deployed after the failure"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prebuilt_object_is_deployed_by_its_s3_key_with_the_code_checked() {
        let Some(moto) = Moto::start().await else { return };
        bucket(&moto).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lambda_function.py"), HANDLER).unwrap();
        let pkg = faas_package::PackageBuilder::new(dir.path().join("src"))
            .output(dir.path().join("prebuilt.zip"))
            .build()
            .unwrap();
        // Another run's object: its sha256 in the metadata, as faas writes it; and one whose
        // metadata lies about its bytes.
        for (key, sha) in [
            ("release/1.zip", pkg.sha256.clone()),
            ("release/forged.zip", "0".repeat(64)),
        ] {
            let r = http(reqwest::Method::PUT, &format!("{}/{ARTIFACTS}/{key}", moto.url), "s3")
                .await
                .header("x-amz-meta-faas-sha256", sha)
                .body(std::fs::read(&pkg.path).unwrap())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
        let deploy = |key: &str| {
            format!(
                "lambda_deployment_pipeline:\n  stages:\n    - name: deploy\n      steps:\n        - name: deploy-prebuilt\n          type: lambda-deploy\n          config:\n            function_name: prebuilt\n            runtime: python3.12\n            s3_bucket: {ARTIFACTS}\n            s3_key: {key}\n            role_arn: {ROLE}\n"
            )
        };
        let path = std::env::var("PATH").unwrap_or_default();
        for (file, key) in [
            ("ok.yaml", "release/1.zip"),
            ("forged.yaml", "release/forged.zip"),
            ("missing.yaml", "release/none.zip"),
        ] {
            std::fs::write(dir.path().join(file), deploy(key)).unwrap();
        }
        let out = run_aws(dir.path(), &path, &moto, "ok.yaml");
        assert!(out.status.success(), "{}", text(&out));
        let expected = {
            use base64::Engine as _;
            let bytes: Vec<u8> = (0..32)
                .map(|i| u8::from_str_radix(&pkg.sha256[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        assert_eq!(
            code_sha256(&moto, "prebuilt").await,
            Ok(expected),
            "Lambda runs exactly the object's bytes"
        );

        let out = run_aws(dir.path(), &path, &moto, "forged.yaml");
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).contains("altered or replaced"), "{}", text(&out));
        let out = run_aws(dir.path(), &path, &moto, "missing.yaml");
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out).contains("s3://lambda-deployment-artifacts/release/none.zip")
                && text(&out).contains("not found"),
            "{}",
            text(&out)
        );
    }
}
