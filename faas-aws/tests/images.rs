//! A container image deployed by reference (`PackageType=Image`) on moto, with Lambda's
//! lookup in moto's ECR turned on (`MOTO_LAMBDA_STUB_ECR=false`), so that `CodeSha256` and
//! `Code.ResolvedImageUri` carry the pushed image's digest as Lambda's do.

#![allow(clippy::unwrap_used)]

use faas_aws::test_support::{Moto, Proxy, ROLE, python_package};
use faas_core::{ArtifactRef, Error, FunctionSpec, Provider};

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler").role(ROLE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_deployed_by_digest_and_the_deployed_digest_checked() {
    let Some(moto) = Moto::start_with_env(&[("MOTO_LAMBDA_STUB_ECR", "false")]).await else {
        return;
    };
    let reference = moto.push_image("app", "v1").await;
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let image = ArtifactRef::image(&reference).unwrap();

    let outcome = aws.deploy(&spec("boxed"), &image).await.unwrap();
    assert!(outcome.change.created);
    assert_eq!(
        outcome.deployment.code_sha256,
        image.image_digest().unwrap(),
        "the pushed digest"
    );
    let body = proxy.create_function_body();
    assert_eq!(body["PackageType"], "Image");
    assert_eq!(body["Code"]["ImageUri"], reference.as_str());
    assert!(body.get("Runtime").is_none() && body.get("Handler").is_none(), "{body}");

    let lambda = aws_sdk_lambda::Client::new(&proxy.sdk_config().await);
    let got = lambda.get_function().function_name("boxed").send().await.unwrap();
    assert!(
        got.code()
            .unwrap()
            .resolved_image_uri()
            .unwrap()
            .ends_with(image.image_digest().unwrap())
    );

    // The same image again: one read, nothing written.
    proxy.clear();
    let again = aws.deploy(&spec("boxed"), &image).await.unwrap();
    assert!(again.change.is_noop(), "{:?}", again.change);
    assert!(proxy.seen().iter().all(|s| !s.is_write()), "{:?}", proxy.seen());

    // A zip package for an image function: refused after the one read, nothing written.
    proxy.clear();
    let dir = tempfile::tempdir().unwrap();
    let zip = faas_core::local_artifact(&python_package(dir.path(), "zip"));
    let err = aws.deploy(&spec("boxed"), &zip).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, reason, .. } if field == "artifact" && reason.contains("PackageType=Image")),
        "{err:?}"
    );
    assert!(proxy.seen().iter().all(|s| !s.is_write()), "{:?}", proxy.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_alone_is_refused_before_any_call() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let tagged = ArtifactRef::image("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1").unwrap();
    let err = aws.plan(&spec("boxed"), &tagged).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, reason, .. } if field == "image" && reason.contains("digest")),
        "{err:?}"
    );
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[tokio::test]
async fn providers_without_container_images_refuse_one_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let local = faas_core::local::LocalProvider::builder()
        .state_dir(dir.path())
        .build()
        .unwrap();
    assert!(!local.info().capability.container_images);
    let image = ArtifactRef::image(&format!("app@sha256:{}", "a".repeat(64))).unwrap();
    let err = local.deploy(&spec("boxed"), &image).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { operation, .. } if operation == "container images"),
        "{err:?}"
    );
    assert!(
        matches!(local.get("boxed").await, Err(Error::NotFound { .. })),
        "nothing was created"
    );
}

/// A pipeline's `lambda-deploy` with `image_uri` deploys the image by reference and publishes
/// it under its alias; a malformed reference is an error naming `config.image_uri` before any
/// call, and the local provider (no images) refuses it before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_deploys_an_image_by_reference() {
    use faas_core::pipeline::{Event, Pipeline, ProviderSet, StepStatus};
    use std::sync::Arc;
    let Some(moto) = Moto::start_with_env(&[("MOTO_LAMBDA_STUB_ECR", "false")]).await else {
        return;
    };
    let reference = moto.push_image("piped", "v1").await;
    let proxy = Proxy::start(&moto.url).await;
    let aws: Arc<dyn Provider> = Arc::new(proxy.provider(|b| b).await);
    let file = |image: &str| {
        format!(
            "lambda_deployment_pipeline:\n  stages:\n    - name: deploy\n      steps:\n        - name: deploy-image\n          type: lambda-deploy\n          config:\n            function_name: piped\n            image_uri: \"{image}\"\n            role_arn: \"{ROLE}\"\n            alias: live\n"
        )
    };
    let run = |text: String, providers: ProviderSet| async move {
        Pipeline::from_yaml(&text)
            .unwrap()
            .run(&providers, None, &|_: &Event| {})
            .await
            .unwrap()
    };
    let report = run(file(&reference), ProviderSet::new("aws", aws.clone())).await;
    assert!(report.passed, "{:?}", report.steps);
    assert!(
        report.steps[0].summary.contains("live -> 1"),
        "{}",
        report.steps[0].summary
    );
    let live = aws.get_qualified("piped", "live").await.unwrap();
    assert_eq!(live.code_sha256, ArtifactRef::image(&reference).unwrap().sha256);
    assert_eq!(proxy.create_function_body()["PackageType"], "Image");

    proxy.clear();
    let bad = run(file("Not A/Reference"), ProviderSet::new("aws", aws.clone())).await;
    assert_eq!(bad.steps[0].status, StepStatus::Failed);
    assert!(
        bad.steps[0].summary.contains("config.image_uri"),
        "{}",
        bad.steps[0].summary
    );
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(
        faas_core::local::LocalProvider::builder()
            .state_dir(dir.path())
            .build()
            .unwrap(),
    );
    let refused = run(file(&reference), ProviderSet::new("local", local)).await;
    assert_eq!(refused.steps[0].status, StepStatus::Failed);
    assert!(
        refused.steps[0].summary.contains("image"),
        "{}",
        refused.steps[0].summary
    );
}
