//! Provider blocks become builder config keys; a step's `provider:` must name an enabled
//! block; bad blocks are errors with `file:line:column` and the key, never a secret value.
#![cfg(all(feature = "pipeline", feature = "local"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use faas_core::pipeline::{Event, Pipeline, ProviderSet, StepStatus};

const STAGES: &str = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: run, type: script, config: { script: \"true\" } }\n";

fn error_of(text: &str) -> String {
    match Pipeline::from_yaml(text).and_then(|p| p.resolve(None)) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn keys(text: &str, provider: &str) -> Vec<(String, String)> {
    let resolved = Pipeline::from_yaml(text).unwrap().resolve(None).unwrap();
    resolved.provider_configs[provider]
        .keys
        .iter()
        .map(|k| (k.key.clone(), k.value.clone()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn each_block_becomes_its_builders_keys() {
    let aws = format!(
        "aws_lambda_integration:\n  region: eu-west-1\n  auth: {{ type: iam_role, role_arn: \"arn:aws:iam::1:role/r\", external_id: \"x-1\", duration_seconds: \"900\" }}\n  deployment: {{ bucket: b, prefix: p/ }}\n  monitoring: {{ cloudwatch: {{ enabled: false }} }}\n{STAGES}"
    );
    let mut got = keys(&aws, "aws");
    got.sort();
    let mut want = pairs(&[
        ("bucket", "b"),
        ("external_id", "x-1"),
        ("prefix", "p/"),
        ("region", "eu-west-1"),
        ("role_arn", "arn:aws:iam::1:role/r"),
        ("role_duration_s", "900"),
    ]);
    want.sort();
    assert_eq!(got, want);

    let gcp = format!(
        "gcp_functions_integration:\n  project_id: proj\n  region: europe-west1\n  auth: {{ type: service_account, key_file: /k.json }}\n  deployment: {{ bucket: gb }}\n  settings: {{ functions_url: \"http://127.0.0.1:9/v2/\", max_attempts: 5 }}\n{STAGES}"
    );
    let mut got = keys(&gcp, "gcp");
    got.sort();
    let mut want = pairs(&[
        ("bucket", "gb"),
        ("functions_url", "http://127.0.0.1:9/v2/"),
        ("key_file", "/k.json"),
        ("max_attempts", "5"),
        ("project", "proj"),
        ("region", "europe-west1"),
    ]);
    want.sort();
    assert_eq!(got, want);

    let azure = format!(
        "azure_functions_integration:\n  subscription_id: sub\n  tenant_id: ten\n  resource_group: rg\n  storage_account: st\n  auth: {{ type: service_principal, client_id: cid, client_secret: \"s3cret-value\" }}\n  deployment: {{ method: onedeploy }}\n{STAGES}"
    );
    let resolved = Pipeline::from_yaml(&azure).unwrap().resolve(None).unwrap();
    let config = &resolved.provider_configs["azure"];
    assert_eq!(config.get("subscription"), Some("sub"));
    assert_eq!(config.get("deploy_method"), Some("onedeploy"));
    assert_eq!(config.get("client_secret"), Some("s3cret-value"));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("s3cret-value") && debug.contains("client_secret"),
        "{debug}"
    );
    // Federated kinds tell the builder which flow to use.
    let wi = format!(
        "azure_functions_integration:\n  subscription_id: sub\n  auth: {{ type: workload_identity, client_id: cid }}\n{STAGES}"
    );
    assert!(keys(&wi, "azure").contains(&("auth".to_string(), "workload_identity".to_string())));
}

#[test]
fn bad_blocks_name_the_line_and_the_key_never_the_value() {
    let unknown = format!("gcp_functions_integration:\n  project_id: p\n  zone: europe-west1-b\n{STAGES}");
    let e = error_of(&unknown);
    assert!(
        e.contains("pipeline.yaml:3:3") && e.contains("gcp_functions_integration.zone") && e.contains("project_id"),
        "{e}"
    );
    let nested = format!("aws_lambda_integration:\n  deployment:\n    bucket: b\n    bukket: c\n{STAGES}");
    let e = error_of(&nested);
    assert!(
        e.contains(":4:5") && e.contains("deployment.bukket") && e.contains("bucket, prefix"),
        "{e}"
    );
    let kind = format!("azure_functions_integration:\n  auth: {{ type: certificate, client_id: c }}\n{STAGES}");
    let e = error_of(&kind);
    assert!(
        e.contains("certificate") && e.contains("service_principal, workload_identity"),
        "{e}"
    );
    let missing = format!("aws_lambda_integration:\n  auth: {{ type: access_key, access_key_id: AKID }}\n{STAGES}");
    let e = error_of(&missing);
    assert!(e.contains("auth.secret_access_key") && e.contains("is missing"), "{e}");
    let foreign = format!(
        "aws_lambda_integration:\n  auth: {{ type: access_key, access_key_id: AKID, secret_access_key: \"wJalr-secret\", client_secret: \"other-secret\" }}\n{STAGES}"
    );
    let e = error_of(&foreign);
    assert!(
        e.contains("auth.client_secret") && e.contains("only: access_key_id"),
        "{e}"
    );
    assert!(!e.contains("wJalr-secret") && !e.contains("other-secret"), "{e}");
    let wrong = format!("gcp_functions_integration:\n  region: [a, b]\n{STAGES}");
    assert!(error_of(&wrong).contains("gcp_functions_integration.region: must be a single value"));
}

#[test]
fn a_step_naming_a_cloud_needs_its_block_enabled() {
    let step = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - name: to-gcp\n          type: script\n          provider: gcp\n          config: { script: \"true\" }\n";
    let e = error_of(step);
    assert!(
        e.contains("pipeline.yaml:5:")
            && e.contains("provider: gcp")
            && e.contains("no `gcp_functions_integration` block"),
        "{e}"
    );
    let disabled = format!("gcp_functions_integration:\n  enabled: false\n  project_id: p\n{step}");
    assert!(error_of(&disabled).contains("`enabled: false`"));
    let env = format!("environments:\n  prod:\n    provider: azure\n{STAGES}");
    let e = match Pipeline::from_yaml(&env).unwrap().resolve(Some("prod")) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("pipeline.yaml:3:5") && e.contains("azure_functions_integration"),
        "{e}"
    );
    let enabled = format!("gcp_functions_integration:\n  project_id: p\n{step}");
    let resolved = Pipeline::from_yaml(&enabled).unwrap().resolve(None).unwrap();
    assert_eq!(
        resolved.providers_used("local").into_iter().collect::<Vec<_>>(),
        vec!["gcp".to_string()]
    );
}

#[tokio::test]
async fn a_provider_missing_from_the_set_fails_the_run_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let text = format!(
        "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - {{ name: first, type: script, config: {{ script: \"touch {}\" }} }}\n        - {{ name: second, type: script, provider: mycloud, config: {{ script: \"true\" }} }}\n",
        marker.display()
    );
    let local = Arc::new(
        faas_core::local::LocalProvider::builder()
            .state_dir(dir.path().join("state"))
            .build()
            .unwrap(),
    );
    let report = Pipeline::from_yaml(&text)
        .unwrap()
        .run(&ProviderSet::new("local", local), None, &|_: &Event| {})
        .await
        .unwrap();
    assert!(!report.passed);
    assert!(!marker.exists(), "the first step ran although the second cannot");
    assert_eq!(report.steps[0].status, StepStatus::Skipped);
    assert_eq!(report.steps[1].status, StepStatus::Failed);
    assert!(
        report.steps[1].summary.contains("mycloud"),
        "{}",
        report.steps[1].summary
    );
}

#[test]
fn the_readme_documents_every_block_key() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let table = faas_core::pipeline::keys_markdown();
    assert!(
        readme.contains(&table),
        "README.md must hold the block-key table exactly as keys_markdown() gives it:\n{table}"
    );
}

/// `FAAS_PRINT_BLOCK_TABLE=1 cargo test -p faas-core --all-features --test pipeline_blocks print`
/// prints the table for the README.
#[test]
#[allow(clippy::print_stdout)]
fn print_the_block_table_when_asked() {
    if std::env::var("FAAS_PRINT_BLOCK_TABLE").is_ok() {
        print!("{}", faas_core::pipeline::keys_markdown());
    }
}
