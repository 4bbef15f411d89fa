//! The deploy example as a user runs it: on the local provider, and on AWS (moto) with
//! `--features aws` and `AWS_ENDPOINT_URL`.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::path::{Path, PathBuf};
use std::process::Command;

fn functions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-python")
}

fn deploy(envs: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let out = Command::new(example("deploy"))
        .args([
            "--function",
            "hello",
            "--runtime",
            "python3.12",
            "--handler",
            "lambda_function.lambda_handler",
        ])
        .arg("--src")
        .arg(functions())
        .args(["--json", "--alias", "live"])
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the deploy example with `args` on `src` and returns its `--json` output.
#[allow(dead_code)]
fn deploy_json(args: &[&str], src: &Path, zip: &str, env: &[(&str, String)]) -> serde_json::Value {
    let out = Command::new(example("deploy"))
        .args(args)
        .arg("--src")
        .arg(src)
        .args(["--out", zip, "--json"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_dry_run_writes_nothing_and_a_bad_alias_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let zip = dir.path().join("dist/hello.zip");
    let base = ["--provider", "local", "--state-dir", path(&state), "--out", path(&zip)];
    let dry = deploy(&[], &[&base[..], &["--dry-run"]].concat());
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["plan"]["actions"][0]["action"], "create");
    assert!(!state.exists() && !zip.exists(), "a dry run wrote something");
    for bad in ["123", "$LATEST"] {
        let out = Command::new(example("deploy"))
            .args(["--function", "hello", "--runtime", "python3.12"])
            .args(["--handler", "lambda_function.lambda_handler", "--src"])
            .arg(functions())
            .args(base)
            .args(["--alias", bad])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("label"), "{err}");
        assert!(
            !state.join("functions/hello.json").exists(),
            "{bad}: the function was created"
        );
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn deploy_on_the_local_provider() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let zip = dir.path().join("hello.zip").display().to_string();
    let base = [
        "--provider",
        "local",
        "--state-dir",
        &state,
        "--out",
        &zip,
        "--keep-versions",
        "2",
    ];
    let first = deploy(&[], &base);
    assert_eq!(
        (first["change"].as_str(), first["version"].as_str()),
        (Some("created"), Some("1"))
    );
    let again = deploy(&[], &base);
    assert_eq!(
        (again["change"].as_str(), again["unchanged"].as_bool()),
        (Some("unchanged"), Some(true))
    );
    assert_eq!(again["version"], "1");
    let dry = deploy(&[], &[&base[..], &["--memory", "512", "--dry-run"]].concat());
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["plan"]["actions"][0]["diffs"][0]["field"], "memory_mb");
    let changed = deploy(
        &[],
        &[&base[..], &["--memory", "512", "--secret-env", "TOKEN=hunter2"]].concat(),
    );
    assert_eq!(changed["change"], "config updated");
    assert_eq!(changed["version"], "2");
    assert!(
        !changed.to_string().contains("hunter2"),
        "a secret reached the output: {changed}"
    );
}

#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_on_aws_through_moto() {
    use faas_aws::test_support::{BUCKET, Moto, ROLE};
    let Some(moto) = Moto::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("hello.zip").display().to_string();
    let env = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("FAAS_AWS_BUCKET", BUCKET),
    ];
    let args = ["--provider", "aws", "--role", ROLE, "--out", &zip];
    // The example is a separate process: blocking on it leaves moto (another process) unaffected.
    let first = deploy(&env, &args);
    assert_eq!(first["provider"], "aws");
    assert_eq!(first["change"], "created");
    assert_eq!(first["version"], "1");
    let again = deploy(&env, &args);
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["version"], "1");
    assert_eq!(again["code_sha256"], first["code_sha256"]);
}

/// With `RUST_LOG=trace`, the examples' default setup still keeps the SDK's and the HTTP
/// stack's request dumps (headers: the session token, the signature) out of the logs.
#[cfg(feature = "aws")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_carry_no_credentials() {
    use faas_aws::test_support::{BUCKET, Moto, ROLE};
    let Some(moto) = Moto::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("hello.zip").display().to_string();
    let out = Command::new(example("deploy"))
        .args(["--function", "traced", "--runtime", "python3.12"])
        .args(["--handler", "lambda_function.lambda_handler", "--src"])
        .arg(functions())
        .args([
            "--provider",
            "aws",
            "--role",
            ROLE,
            "--out",
            &zip,
            "--alias",
            "live",
            "--json",
        ])
        .env("RUST_LOG", "trace")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDCANARYKEYID")
        .env("AWS_SECRET_ACCESS_KEY", "canary-secret-access-key")
        .env("AWS_SESSION_TOKEN", "canary-session-token-value")
        .env("FAAS_AWS_BUCKET", BUCKET)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging is on: {stderr}"
    );
    for canary in ["canary-session-token-value", "canary-secret-access-key", "Signature="] {
        assert!(!stderr.contains(canary), "{canary} reached the logs");
    }
}

#[cfg(feature = "gcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_on_gcp_through_the_fake() {
    use faas_gcp::test_support::{FakeGcp, PROJECT, REGION};
    let fake = FakeGcp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("hello-gcp.zip").display().to_string();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-gcp");
    let env: Vec<(&str, String)> = fake.env();
    let run = |extra: &[&str]| {
        let base = [
            "--provider",
            "gcp",
            "--project",
            PROJECT,
            "--region",
            REGION,
            "--function",
            "hello-gcp",
            "--runtime",
            "python312",
            "--entry-point",
            "main",
        ];
        deploy_json(&[&base[..], extra].concat(), &src, &zip, &env)
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["plan"]["actions"][0]["action"], "create");
    assert!(
        fake.writes().is_empty(),
        "a dry run writes nothing: {:?}",
        fake.writes()
    );
    let first = run(&["--alias", "live"]);
    assert_eq!(first["provider"], "gcp");
    assert_eq!(first["change"], "created");
    assert_eq!(first["version"], "1");
    fake.clear_requests();
    let again = run(&["--alias", "live"]);
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["version"], "1");
    assert_eq!(again["code_sha256"], first["code_sha256"]);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let changed = run(&["--memory", "512"]);
    assert_eq!(changed["change"], "config updated");
}

#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_on_azure_through_the_fake_and_azurite() {
    use faas_azure::test_support::{Azurite, FakeAzure, RESOURCE_GROUP, SUBSCRIPTION};
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("hello-azure.zip").display().to_string();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-azure");
    let env = fake.env(&azurite.blob_endpoint);
    let run = |extra: &[&str]| {
        let base = [
            "--provider",
            "azure",
            "--subscription",
            SUBSCRIPTION,
            "--resource-group",
            RESOURCE_GROUP,
            "--app",
            "hello-app",
            "--function",
            "hello",
            "--runtime",
            "python3.12",
        ];
        let v = deploy_json(&[&base[..], extra].concat(), &src, &zip, &env);
        let text = v.to_string();
        assert!(
            !text.contains("AccountKey") && !text.contains("sig="),
            "a secret reached the output: {text}"
        );
        v
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry["plan"]["actions"][0]["action"], "create");
    assert!(
        fake.writes().is_empty(),
        "a dry run writes nothing: {:?}",
        fake.writes()
    );
    let first = run(&["--slot", "staging"]);
    assert_eq!(first["provider"], "azure");
    assert_eq!(first["change"], "created");
    assert_eq!(first["version"], "1");
    fake.clear_requests();
    let again = run(&["--slot", "staging"]);
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["version"], "1");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    let changed = run(&["--timeout", "30", "--secret-env", "TOKEN=hunter2"]);
    assert_eq!(changed["change"], "config updated");
    assert!(!changed.to_string().contains("hunter2"));
}

/// With `--json`, a failure is one JSON object on stderr that CI tools can branch on.
#[test]
fn errors_are_json_on_stderr_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example("deploy"))
        .args(["--function", "hello", "--runtime", "python3.12"])
        .args([
            "--handler",
            "lambda_function.lambda_handler",
            "--memory",
            "64",
            "--json",
            "--src",
        ])
        .arg(functions())
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(v["error"]["kind"], "invalid_input", "{v}");
    assert_eq!(v["error"]["fields"]["field"], "memory_mb");
    assert_eq!(v["error"]["retryable"], false);
    assert!(v["error"]["message"].as_str().unwrap().contains("128–10240"), "{v}");
}
