//! The GCP, Azure and multi-cloud example pipelines run green through the pipeline example,
//! each cloud built from the file's block, against the GCP fake, the Azure fake with
//! Azurite, and moto — and the functions they deliver are there afterwards, read back
//! through the providers, not through the run's own report.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Output;

use common::{example, output_text as text, pipeline_report as report};

fn pipeline(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(file)
        .display()
        .to_string()
}

fn run(file: &str, env_name: &str, state: &Path, env: &[(&str, String)]) -> Output {
    std::process::Command::new(example("pipeline"))
        .arg(pipeline(file))
        .args(["--env", env_name, "--state-dir"])
        .arg(state)
        .arg("--report-dir")
        .arg(state.join("reports"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn passed_steps(report: &serde_json::Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "passed")
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect()
}

#[cfg(feature = "gcp")]
fn gcp_env(fake: &faas_gcp::test_support::FakeGcp) -> Vec<(&'static str, String)> {
    use faas_gcp::test_support::{PROJECT, REGION};
    let mut env = fake.env();
    env.push(("GOOGLE_CLOUD_PROJECT", PROJECT.into()));
    env.push(("GOOGLE_CLOUD_REGION", REGION.into()));
    env
}

#[cfg(feature = "azure")]
fn azure_env(fake: &faas_azure::test_support::FakeAzure, blob: &str) -> Vec<(&'static str, String)> {
    use faas_azure::test_support::{RESOURCE_GROUP, SUBSCRIPTION};
    let mut env = fake.env(blob);
    env.push(("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION.into()));
    env.push(("AZURE_RESOURCE_GROUP", RESOURCE_GROUP.into()));
    env
}

#[cfg(feature = "gcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gcp_pipeline_runs_green_against_the_fake() {
    use faas_core::Provider;
    use faas_gcp::test_support::FakeGcp;
    let fake = FakeGcp::start().await;
    let state = tempfile::tempdir().unwrap();
    let out = run("gcp.yaml", "fake", state.path(), &gcp_env(&fake));
    assert!(out.status.success(), "{}", text(&out));
    let report = report(state.path());
    assert_eq!(
        passed_steps(&report),
        ["package-function", "deploy-function", "smoke-test", "prune-versions"]
    );
    let gcp = fake.builder().build().await.unwrap();
    let deployed = gcp.get("hello-gcp").await.unwrap();
    assert_eq!(deployed.spec.memory_mb, 256);
    let live = gcp.get_label("hello-gcp", "live").await.unwrap();
    assert_eq!(live.routing.primary, "1");
}

#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_pipeline_runs_green_against_the_fake_and_azurite() {
    use faas_azure::test_support::{Azurite, FakeAzure};
    use faas_core::Provider;
    let Some(azurite) = Azurite::start().await else { return };
    let fake = FakeAzure::start().await;
    let state = tempfile::tempdir().unwrap();
    let out = run(
        "azure.yaml",
        "fake",
        state.path(),
        &azure_env(&fake, &azurite.blob_endpoint),
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(faas_azure::test_support::CLIENT_SECRET), "{all}");
    assert_eq!(
        passed_steps(&report(state.path())),
        ["package-function", "deploy-to-slot", "slot-test"]
    );
    let azure = fake
        .builder(&azurite.blob_endpoint)
        .app("hello-app")
        .build()
        .await
        .unwrap();
    assert_eq!(azure.get("hello").await.unwrap().spec.timeout_s, 30);
    azure.get_label("hello", "staging").await.unwrap();
    // An Elastic Premium app (the fake's plan) and its slot each got a content share of
    // their own, on the storage account's connection string, read from the fake's store.
    let app = fake.settings("hello-app");
    let slot = fake.settings("hello-app-staging");
    for s in [&app, &slot] {
        assert_eq!(
            s.get("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"),
            s.get("AzureWebJobsStorage"),
            "{s:?}"
        );
        assert!(s.get("WEBSITE_CONTENTSHARE").is_some_and(|n| n.len() <= 63), "{s:?}");
    }
    assert_ne!(app["WEBSITE_CONTENTSHARE"], slot["WEBSITE_CONTENTSHARE"]);
}

#[cfg(all(feature = "aws", feature = "gcp", feature = "azure"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_cloud_pipeline_delivers_one_package_to_all_three() {
    use faas_aws::test_support::Moto;
    use faas_azure::test_support::{Azurite, FakeAzure};
    use faas_core::Provider;
    use faas_gcp::test_support::FakeGcp;
    let Some(moto) = Moto::start().await else { return };
    let Some(azurite) = Azurite::start().await else { return };
    let gcp_fake = FakeGcp::start().await;
    let azure_fake = FakeAzure::start().await;
    let mut env = gcp_env(&gcp_fake);
    env.extend(azure_env(&azure_fake, &azurite.blob_endpoint));
    env.extend([
        ("AWS_ENDPOINT_URL", moto.url.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
    ]);
    // The artifact bucket the file names exists beforehand, as it would in an account
    // (moto checks no signature; this one only has to parse).
    let created = reqwest::Client::new()
        .put(format!("{}/faas-multi-cloud-artifacts", moto.url))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let state = tempfile::tempdir().unwrap();
    let out = run("multi-cloud.yaml", "fakes", state.path(), &env);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(state.path());
    assert_eq!(
        passed_steps(&report),
        [
            "package-once",
            "deploy-aws",
            "test-aws",
            "deploy-gcp",
            "test-gcp",
            "deploy-azure",
            "test-azure"
        ]
    );
    // One package: the same bytes went to all three clouds.
    let aws = common::aws_at(&moto.url).await;
    let gcp = gcp_fake.builder().build().await.unwrap();
    let azure = azure_fake
        .builder(&azurite.blob_endpoint)
        .app("hello-multi-app")
        .build()
        .await
        .unwrap();
    let shas = [
        aws.get("hello-multi").await.unwrap().code_sha256,
        gcp.get("hello-multi").await.unwrap().code_sha256,
        azure.get("hello-multi").await.unwrap().code_sha256,
    ];
    assert!(!shas[0].is_empty(), "{shas:?}");
    assert!(shas.iter().all(|s| *s == shas[0]), "{shas:?}");
    assert_eq!(aws.get_label("hello-multi", "live").await.unwrap().routing.primary, "1");
}
