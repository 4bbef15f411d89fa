//! The deploy example's `--targets FILE` as a user runs it: one function to two AWS accounts
//! (two role ARNs assumed with external ids) on moto in one run, checked in each account
//! with that account's own credentials; a rerun changes nothing; a bad target file is
//! refused, naming the target, before anything is delivered; local targets need no cloud.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::path::{Path, PathBuf};
use std::process::Command;

fn functions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/hello-python")
}

/// Runs `deploy --targets FILE` and returns (exit code, stdout JSON or null, stderr).
fn deploy(targets: &Path, zip: &Path, state: &Path, envs: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    let out = Command::new(example("deploy"))
        .args(["--function", "hello", "--runtime", "python3.12"])
        .args([
            "--handler",
            "lambda_function.lambda_handler",
            "--alias",
            "live",
            "--json",
        ])
        .arg("--src")
        .arg(functions())
        .arg("--targets")
        .arg(targets)
        .arg("--out")
        .arg(zip)
        .arg("--state-dir")
        .arg(state)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn local_targets_get_the_function_and_a_rerun_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yaml");
    std::fs::write(
        &file,
        "- name: dev\n  provider: local\n- name: qa\n  provider: local\n  ceiling: 2\n",
    )
    .unwrap();
    let (zip, state) = (dir.path().join("hello.zip"), dir.path().join("state"));
    let (code, first, err) = deploy(&file, &zip, &state, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["tally"]["delivered"], 2, "{first}");
    assert_eq!(first["targets"][1]["target"], "qa");
    assert_eq!(first["targets"][1]["functions"][0]["version"], "1");
    assert!(state.join("dev").is_dir() && state.join("qa").is_dir());
    let (code, again, err) = deploy(&file, &zip, &state, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["tally"]["unchanged"], 2, "{again}");
}

#[test]
fn a_bad_target_file_is_refused_before_anything_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.yaml");
    std::fs::write(
        &file,
        "- name: dev\n  provider: local\n- name: dev\n  provider: local\n",
    )
    .unwrap();
    let (zip, state) = (dir.path().join("hello.zip"), dir.path().join("state"));
    let (code, _, err) = deploy(&file, &zip, &state, &[]);
    assert_eq!(code, 1, "{err}");
    let e: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(e["error"]["kind"], "invalid_input", "{err}");
    assert!(e["error"]["message"].as_str().unwrap().contains("two targets"), "{err}");
    assert!(!state.exists(), "nothing was built or delivered");
    std::fs::write(&file, "- name: far\n  provider: aws\n  auth: { type: default }\n").unwrap();
    let (code, _, err) = deploy(&file, &zip, &state, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("targets.far.region"), "{err}");
}

#[cfg(feature = "aws")]
mod aws {
    use super::*;
    use faas_aws::test_support::{Moto, auth_as, create_role_and_bucket};

    const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];

    /// Assumes `role` (moto maps the session's key to the role's account, as AWS does) and
    /// returns the session's access key id.
    async fn assume(http: &reqwest::Client, moto: &str, role: &str) -> String {
        let r = http
            .post(moto)
            .header("authorization", auth_as("testing", "sts"))
            .form(&[
                ("Action", "AssumeRole"),
                ("Version", "2011-06-15"),
                ("RoleArn", role),
                ("RoleSessionName", "fleet-test"),
                ("ExternalId", "fleet-ext-id"),
            ])
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        let key = body
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|r| r.split("</AccessKeyId>").next());
        key.unwrap_or_else(|| panic!("AssumeRole: {body}")).to_string()
    }

    /// In `account`: the execution role `exec` and the bucket `faas-artifacts-ACCOUNT`.
    async fn prepare(http: &reqwest::Client, moto: &str, account: &str) {
        let key = assume(http, moto, &format!("arn:aws:iam::{account}:role/setup")).await;
        create_role_and_bucket(http, moto, &key, "exec", &format!("faas-artifacts-{account}")).await;
    }

    /// `GetFunction hello` as `key`'s account sees it: (status, FunctionArn).
    async fn get_hello(http: &reqwest::Client, moto: &str, key: &str) -> (u16, String) {
        let r = http
            .get(format!("{moto}/2015-03-31/functions/hello"))
            .header("authorization", auth_as(key, "lambda"))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (
            status,
            v["Configuration"]["FunctionArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_function_reaches_two_accounts_through_their_roles_in_one_run() {
        let Some(moto) = Moto::start().await else { return };
        let http = reqwest::Client::new();
        for account in ACCOUNTS {
            prepare(&http, &moto.url, account).await;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.yaml");
        let mut yaml = String::new();
        for (i, account) in ACCOUNTS.iter().enumerate() {
            yaml.push_str(&format!(
                "- name: account-{i}\n  provider: aws\n  region: us-east-1\n  auth: {{ type: iam_role, role_arn: \"arn:aws:iam::{account}:role/deployer\", external_id: fleet-ext-id }}\n  deployment: {{ bucket: faas-artifacts-{account} }}\n  execution_role: \"arn:aws:iam::{account}:role/exec\"\n"
            ));
        }
        std::fs::write(&file, yaml).unwrap();
        let env = [
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ];
        let (zip, state) = (dir.path().join("hello.zip"), dir.path().join("state"));
        // A separate process: blocking on it leaves moto (another process) unaffected.
        let (code, first, err) = deploy(&file, &zip, &state, &env);
        assert_eq!(code, 0, "{first} {err}");
        assert_eq!(first["tally"]["delivered"], 2, "{first}");
        for (i, t) in first["targets"].as_array().unwrap().iter().enumerate() {
            assert_eq!(t["target"], format!("account-{i}"));
            assert_eq!(t["provider"], "aws");
            assert_eq!(t["functions"][0]["outcome"], "delivered", "{t}");
            assert_eq!(t["functions"][0]["version"], "1", "{t}");
        }
        // Each account holds the function, read with its own session; the caller's own
        // account (123456789012, the `testing` key's) holds none.
        for account in ACCOUNTS {
            let key = assume(&http, &moto.url, &format!("arn:aws:iam::{account}:role/reader")).await;
            let (status, arn) = get_hello(&http, &moto.url, &key).await;
            assert_eq!(status, 200, "hello in {account}");
            assert_eq!(arn, format!("arn:aws:lambda:us-east-1:{account}:function:hello"));
        }
        assert_eq!(
            get_hello(&http, &moto.url, "testing").await.0,
            404,
            "nothing in the caller's account"
        );

        let (code, again, err) = deploy(&file, &zip, &state, &env);
        assert_eq!(code, 0, "{err}");
        assert_eq!(again["tally"]["unchanged"], 2, "{again}");
        assert!(
            !again.to_string().contains("fleet-ext-id"),
            "the external id stays out of reports"
        );
    }
}
