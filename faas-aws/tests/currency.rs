//! Lambda as it is now, against moto through the proxy: code storage advice from the
//! account's quota, pruning around provisioned concurrency, function URLs with both
//! resource-policy statements. Where moto lacks an operation (GetAccountSettings,
//! ListProvisionedConcurrencyConfigs) the proxy answers it with the API reference's shapes
//! (`faas_aws::test_support`'s `canned` module).

#![allow(clippy::unwrap_used)]

use faas_aws::test_support::{Fault, FaultKind, Moto, Proxy, ROLE, account_settings, provisioned_item, python_package};
use faas_core::{DeployOptions, Error, FunctionSpec, FunctionUrl, Provider, ProviderExt, PublishRequest};

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler").role(ROLE)
}

fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

fn publish() -> DeployOptions {
    DeployOptions {
        publish: true,
        ..DeployOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_storage_exceeded_names_the_accounts_own_quota() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    aws.deploy_package(
        &spec("full"),
        &python_package(dir.path(), "a"),
        &DeployOptions::default(),
    )
    .await
    .unwrap();
    // A raised quota of 150 GiB, 80 GB of it used: the advice must not assume 75 GB.
    proxy.account_settings(account_settings(161_061_273_600, 80_530_636_800));
    proxy.inject(Fault {
        method: "POST",
        path: "/functions/full/versions",
        skip: 0,
        times: 1,
        kind: FaultKind::Error {
            status: 400,
            error_type: "CodeStorageExceededException",
            retry_after: None,
        },
    });
    proxy.clear();
    let err = aws.publish("full", &PublishRequest::default()).await.unwrap_err();
    match &err {
        Error::Provider { code, message, .. } => {
            assert_eq!(code, "CodeStorageExceededException");
            assert!(message.contains("80.5 GB") && message.contains("161.1 GB"), "{message}");
            assert!(message.contains("prune"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "GET" && s.path == "/2016-08-19/account-settings"),
        "GetAccountSettings was read: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_never_deletes_a_version_with_provisioned_concurrency() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    for marker in ["v1", "v2", "v3"] {
        aws.deploy_package(&spec("warm"), &python_package(dir.path(), marker), &publish())
            .await
            .unwrap();
    }
    assert_eq!(aws.list_versions("warm").await.unwrap().len(), 3);
    proxy.provisioned_concurrency("warm", vec![provisioned_item(&arn("warm"), "1", 5)]);
    proxy.clear();
    // Pruning to one keeps version 1 (provisioned concurrency: Lambda's delete would fail)
    // and deletes version 2; version 3 is the newest.
    let deleted = aws.prune_versions("warm", 1).await.unwrap();
    assert_eq!(deleted, vec!["2"]);
    let deletes: Vec<_> = proxy.seen().into_iter().filter(|s| s.method == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "only version 2 deleted: {deletes:?}");
    match aws.delete_version("warm", "1").await.unwrap_err() {
        Error::Conflict { resource, message, .. } => {
            assert_eq!(resource, "warm:1");
            assert!(message.contains("provisioned concurrency"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let left: Vec<String> = aws
        .list_versions("warm")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, vec!["1", "3"]);
}

/// The statements of `name`'s resource policy, read back with the SDK's GetPolicy (none:
/// Lambda, and moto, answer ResourceNotFoundException for a function without a policy).
async fn statements(proxy: &Proxy, name: &str) -> Vec<serde_json::Value> {
    let lambda = aws_sdk_lambda::Client::new(&proxy.sdk_config().await);
    let out = match lambda.get_policy().function_name(name).send().await {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Vec::new();
        }
        Err(e) => panic!("GetPolicy: {e:?}"),
    };
    let policy: serde_json::Value = serde_json::from_str(out.policy().unwrap()).unwrap();
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

async fn url_config(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> aws_sdk_lambda::operation::get_function_url_config::GetFunctionUrlConfigOutput {
    lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_function_url_gets_both_statements_once() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let pkg = python_package(dir.path(), "url");
    let public = spec("web").function_url(FunctionUrl::public().cors_origins(["https://example.com"]));
    let first = aws
        .deploy_package(&public, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let deployed = aws.get("web").await.unwrap();
    assert_eq!(deployed.code_sha256, first.code_sha256);

    let lambda = aws_sdk_lambda::Client::new(&proxy.sdk_config().await);
    let config = url_config(&lambda, "web").await;
    assert_eq!(config.auth_type().as_str(), "NONE");
    assert_eq!(config.cors().unwrap().allow_origins(), ["https://example.com"]);
    let artifact = aws.upload("web", &pkg).await.unwrap();
    proxy.clear();
    let plan = aws.plan(&public, &artifact).await.unwrap();
    assert!(plan.is_noop(), "{plan:?}");
    let outcome = aws.deploy(&public, &artifact).await.unwrap();
    assert_eq!(
        outcome.deployment.url.as_deref(),
        Some(config.function_url()),
        "the URL is in the deployment"
    );
    let writes: Vec<_> = proxy.seen().into_iter().filter(|s| s.is_write()).collect();
    assert!(
        writes.is_empty() && outcome.change.is_noop(),
        "an unchanged URL is only read: {writes:?}"
    );

    let s = statements(&proxy, "web").await;
    assert_eq!(
        s.len(),
        2,
        "two statements, not added again by the second deploy: {s:#?}"
    );
    let url = s
        .iter()
        .find(|s| s["Action"] == "lambda:InvokeFunctionUrl")
        .expect("InvokeFunctionUrl");
    let invoke = s
        .iter()
        .find(|s| s["Action"] == "lambda:InvokeFunction")
        .expect("InvokeFunction");
    assert_eq!(url["Principal"], "*");
    assert_eq!(invoke["Principal"], "*");
    // Lambda turns the two request fields into conditions (`lambda:FunctionUrlAuthType`,
    // `lambda:InvokedViaFunctionUrl`); moto keeps them as sent: either shape carries them.
    let text = |v: &serde_json::Value| v.to_string();
    assert!(
        text(url).contains("FunctionUrlAuthType") && text(url).contains("NONE"),
        "{url}"
    );
    assert!(
        text(invoke).contains("InvokedViaFunctionUrl") && text(invoke).contains("true"),
        "{invoke}"
    );

    // IAM-only: the URL config follows, and faas's public statements are removed.
    proxy.clear();
    let private = spec("web").function_url(FunctionUrl::iam());
    let outcome = aws
        .deploy_package(&private, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(outcome.change.config_updated);
    let config = url_config(&lambda, "web").await;
    assert_eq!(config.auth_type().as_str(), "AWS_IAM");
    assert!(statements(&proxy, "web").await.is_empty());
}

#[tokio::test]
async fn a_function_url_is_unsupported_where_there_is_none_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let local = faas_core::local::LocalProvider::builder()
        .state_dir(dir.path())
        .build()
        .unwrap();
    let artifact = faas_core::local_artifact(&python_package(dir.path(), "local"));
    let err = local
        .plan(&spec("web").function_url(FunctionUrl::public()), &artifact)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { operation, .. } if operation == "aws.function_url"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_start_combinations_lambda_refuses_are_errors_before_any_call() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let dir = tempfile::tempdir().unwrap();
    let artifact = faas_core::local_artifact(&python_package(dir.path(), "snap"));
    let mut old = FunctionSpec::new(
        "snappy",
        "python3.11".parse().unwrap(),
        "lambda_function.lambda_handler",
    )
    .role(ROLE);
    old.aws.snap_start = true;
    let mut big = spec("snappy");
    big.aws.snap_start = true;
    big.aws.ephemeral_storage_mb = Some(2048);
    proxy.clear();
    for (bad, field) in [(old, "aws.snap_start"), (big, "aws.ephemeral_storage_mb")] {
        let err = aws.plan(&bad, &artifact).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field: f, .. } if f == field),
            "{err:?}"
        );
    }
    // A delivery that stays on $LATEST (no publish) would get no snapshot.
    let mut unpublished = spec("snappy");
    unpublished.aws.snap_start = true;
    let err = aws
        .deploy_package(
            &unpublished,
            &python_package(dir.path(), "snap"),
            &DeployOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, reason, .. } if field == "aws.snap_start" && reason.contains("$LATEST")),
        "{err:?}"
    );
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_a_snap_start_function_waits_for_the_snapshot() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    proxy.simulate_snap_start("snappy", 3);
    let dir = tempfile::tempdir().unwrap();
    let mut snappy = spec("snappy");
    snappy.aws.snap_start = true;
    let report = aws
        .deploy_package(&snappy, &python_package(dir.path(), "snap"), &publish())
        .await
        .unwrap();
    assert_eq!(report.version.unwrap().id, "1");
    let seen = proxy.seen();
    let body = proxy.create_function_body();
    assert_eq!(body["SnapStart"]["ApplyOn"], "PublishedVersions", "{body}");
    let publish_at = seen
        .iter()
        .position(|s| s.method == "POST" && s.path.ends_with("/versions"))
        .unwrap();
    let version_reads = seen[publish_at..]
        .iter()
        .filter(|s| s.path.ends_with("/configuration") && s.query.contains("Qualifier=1"))
        .count();
    assert_eq!(version_reads, 4, "three reads while Pending, then On: {seen:#?}");
    // Lambda now reports SnapStart on: the same spec plans nothing.
    let plan = aws
        .plan(&snappy, &faas_core::local_artifact(&python_package(dir.path(), "snap")))
        .await
        .unwrap();
    assert!(plan.is_noop(), "{plan:?}");
}
