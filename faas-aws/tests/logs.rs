//! Secrets in no log line: a whole delivery on moto (upload, create, publish, alias, invoke)
//! with every `trace`-level event captured, then searched for the secret access key, the
//! session token and the secret environment value it handled. The SDK's own request dumps
//! (its `trace` level) carry the session token by design: faas's lines must not, and the
//! examples cap the SDK's targets (see `examples::log_filter`).

#![allow(clippy::unwrap_used)]

use faas_aws::test_support::{BUCKET, Moto, ROLE};
use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, PackageBuilder, Provider, ProviderExt};

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs() {
    let Some(moto) = Moto::start().await else { return };
    let (logs, _guard) = faas_core::conformance::capture_logs();
    let aws = faas_aws::AwsBuilder::default()
        .region("us-east-1")
        .endpoint_url(&moto.url)
        .bucket(BUCKET)
        .static_keys(faas_aws::StaticKeys {
            access_key_id: "AKIDLOGGED".into(),
            secret_access_key: "canary-secret-access-key".into(),
            session_token: Some("canary-session-token".into()),
        })
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        "def lambda_handler(e, c):\n    return 1\n",
    )
    .unwrap();
    let pkg = PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.path().join("out.zip"))
        .build()
        .unwrap();
    let spec = FunctionSpec::new(
        "logged-fn",
        "python3.12".parse().unwrap(),
        "lambda_function.lambda_handler",
    )
    .role(ROLE)
    .secret_env("DB_PASSWORD", "correct-horse-battery-staple");
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    let report = aws.deploy_package(&spec, &pkg, &opts).await.unwrap();
    aws.invoke(
        "logged-fn",
        &InvokeRequest::json(&serde_json::json!({})).qualifier("live"),
    )
    .await
    .unwrap();
    // A changed secret is planned without its old or new value.
    let plan = aws
        .plan(
            &spec.clone().secret_env("DB_PASSWORD", "another-canary-value"),
            &faas_core::local_artifact(&pkg),
        )
        .await
        .unwrap();
    let text = logs.text();
    assert!(text.contains("logged-fn"), "the capture works");
    logs.assert_free_of(&[
        "correct-horse-battery-staple",
        "canary-secret-access-key",
        "another-canary-value",
    ]);
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("faas_")).collect();
    assert!(!ours.is_empty());
    assert!(
        !ours.iter().any(|l| l.contains("canary-session-token")),
        "a faas log line carried the session token"
    );
    let shown = format!(
        "{plan}{plan:?}{report:?}{aws:?}{}",
        serde_json::to_string(&report).unwrap()
    );
    for canary in [
        "correct-horse-battery-staple",
        "another-canary-value",
        "canary-session-token",
        "canary-secret-access-key",
    ] {
        assert!(!shown.contains(canary), "{canary} in a plan, report or Debug");
    }
}
