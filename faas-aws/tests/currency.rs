//! Lambda as it is now, against moto through the proxy: code storage advice from the
//! account's quota, pruning around provisioned concurrency, function URLs with both
//! resource-policy statements. Where moto lacks an operation (GetAccountSettings,
//! ListProvisionedConcurrencyConfigs) the proxy answers it with the API reference's shapes
//! (`faas_aws::test_support`'s `canned` module).

#![allow(clippy::unwrap_used)]

use faas_aws::test_support::{Fault, FaultKind, Moto, Proxy, ROLE, account_settings, provisioned_item, python_package};
use faas_core::{DeployOptions, Error, FunctionSpec, Provider, ProviderExt, PublishRequest};

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
    let err = aws.prune_versions("warm", 1).await.unwrap_err();
    match &err {
        Error::Conflict { resource, message, .. } => {
            assert_eq!(resource, "warm:1");
            assert!(message.contains("provisioned concurrency"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let deletes: Vec<_> = proxy.seen().into_iter().filter(|s| s.method == "DELETE").collect();
    assert!(deletes.is_empty(), "nothing deleted: {deletes:?}");
    assert_eq!(aws.list_versions("warm").await.unwrap().len(), 3);
    assert!(aws.delete_version("warm", "1").await.is_err());
    // Version 2 has none: it is deleted as before.
    aws.delete_version("warm", "2").await.unwrap();
    let left: Vec<String> = aws
        .list_versions("warm")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, vec!["1", "3"]);
}
