//! Memory tuning on moto: the versions and aliases a run makes are all gone afterwards, and
//! the function's memory and variables are what they were — read back with the Lambda SDK,
//! not through the provider — also after a run dropped half-way and cleaned up by the next.

#![allow(clippy::unwrap_used)]

use faas_aws::test_support::{Moto, Proxy, ROLE};
use faas_core::cost::tune::{ApplyTo, TuneOptions, tune};
use faas_core::{DeployOptions, FunctionSpec, ProviderExt};
use faas_package::PackageBuilder;

/// What Lambda itself says: version numbers (besides `$LATEST`), alias names, and the
/// function's memory and variables.
async fn lambda_state(lambda: &aws_sdk_lambda::Client, function: &str) -> (Vec<String>, Vec<String>, i32, Vec<String>) {
    let versions = lambda
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap();
    let aliases = lambda.list_aliases().function_name(function).send().await.unwrap();
    let config = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .unwrap();
    let mut vars: Vec<String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    vars.sort();
    (
        versions
            .versions()
            .iter()
            .filter_map(|v| v.version())
            .filter(|v| *v != "$LATEST")
            .map(str::to_string)
            .collect(),
        aliases
            .aliases()
            .iter()
            .filter_map(|a| a.name())
            .map(str::to_string)
            .collect(),
        config.memory_size().unwrap(),
        vars,
    )
}

async fn deployed(aws: &faas_aws::AwsProvider, dir: &std::path::Path, function: &str) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lambda_function.py"),
        "def lambda_handler(e, c):\n    return e\n",
    )
    .unwrap();
    let package = PackageBuilder::new(&src)
        .runtime("python3.12".parse().unwrap())
        .handler("lambda_function.lambda_handler")
        .output(dir.join(format!("{function}.zip")))
        .build()
        .unwrap();
    let spec = FunctionSpec::new(
        function,
        "python3.12".parse().unwrap(),
        "lambda_function.lambda_handler",
    )
    .role(ROLE)
    .memory_mb(512)
    .env("LOG_LEVEL", "INFO");
    let opts = DeployOptions {
        publish: true,
        label: Some("live".into()),
        ..DeployOptions::default()
    };
    aws.deploy_package(&spec, &package, &opts).await.unwrap();
}

#[tokio::test]
async fn tuning_on_moto_leaves_no_version_or_alias_behind() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws = proxy.provider(|b| b).await;
    let lambda = aws_sdk_lambda::Client::new(&proxy.sdk_config().await);
    let dir = tempfile::tempdir().unwrap();
    deployed(&aws, dir.path(), "tuned").await;
    let before = lambda_state(&lambda, "tuned").await;
    assert_eq!((before.0.len(), before.1.as_slice()), (1, &["live".to_string()][..]));

    let options = TuneOptions::new()
        .memory([128, 1024, 3008])
        .invocations(3)
        .payload(serde_json::json!({"n": 1}));
    let report = tune(&aws, "tuned", &options).await.unwrap();
    eprintln!("{report}");
    assert_eq!(report.values.len(), 3);
    assert!(
        report.values.iter().all(|v| v.errors == 0 && v.invocations == 3),
        "{report}"
    );
    assert_eq!((report.versions_removed.len(), report.labels_removed.len()), (3, 3));
    assert_eq!(
        lambda_state(&lambda, "tuned").await,
        before,
        "all gone, configuration as it was"
    );

    // Dropped once two sizes are prepared: the next run removes what it left, then tunes
    // and applies its winner to `live` through a new version.
    faas_core::conformance::interrupted_tune(&aws, "tuned", &options, 2).await;
    let left = lambda_state(&lambda, "tuned").await;
    assert!(
        left.0.len() >= 3 && left.1.len() >= 3,
        "the dropped run left versions and aliases: {left:?}"
    );
    assert_ne!(left.3, before.3, "and the marked configuration");

    let report = tune(&aws, "tuned", &options.clone().apply(ApplyTo::Label("live".into())))
        .await
        .unwrap();
    assert!(report.cleaned_before.versions.len() >= 2, "{:?}", report.cleaned_before);
    assert_eq!(report.cleaned_before.restored_memory_mb, Some(512));
    let after = lambda_state(&lambda, "tuned").await;
    let chosen = report.chosen_memory_mb.unwrap();
    assert_eq!(after.0.len(), 2, "the first version and the applied one: {after:?}");
    assert_eq!(after.1, before.1);
    assert_eq!((after.2, &after.3), (chosen as i32, &before.3));
    let live = lambda
        .get_alias()
        .function_name("tuned")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(live.function_version(), Some(after.0[1].as_str()));
}
