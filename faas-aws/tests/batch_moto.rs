//! `DeployJob::deploy_changed` on the AWS provider against moto_server, counted by the
//! recording proxy: the plans come from reads alone and are handed over before the first
//! write, and only the changed function is written to.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use faas_aws::test_support::{Moto, Proxy, ROLE, python_package};
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Provider};

fn job(dir: &Path, name: &str, marker: &str) -> DeployJob {
    let package = python_package(dir, &format!("{name}-{marker}"));
    DeployJob {
        spec: FunctionSpec::new(name, "python3.12".parse().unwrap(), "lambda_function.lambda_handler").role(ROLE),
        package,
        options: DeployOptions {
            publish: true,
            ..DeployOptions::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_changed_plans_with_reads_only_then_writes_only_the_changed_function() {
    let Some(moto) = Moto::start().await else { return };
    let proxy = Proxy::start(&moto.url).await;
    let aws: Arc<dyn Provider> = Arc::new(proxy.provider(|b| b).await);
    let dir = tempfile::tempdir().unwrap();
    let names = ["batch-a", "batch-b", "batch-c"];
    let first: Vec<DeployJob> = names.iter().map(|n| job(dir.path(), n, "v1")).collect();
    for (name, r) in faas_core::deploy_many(aws.clone(), first, 2).await {
        assert!(r.unwrap().change.created, "{name}");
    }

    let second: Vec<DeployJob> = names
        .iter()
        .map(|n| job(dir.path(), n, if *n == "batch-b" { "v2" } else { "v1" }))
        .collect();
    proxy.clear();
    let at_report = Mutex::new(None);
    let results = DeployJob::deploy_changed(aws.clone(), second, 2, |plans| {
        let changed: Vec<String> = plans
            .iter()
            .filter(|(_, p)| !p.as_ref().unwrap().is_noop())
            .map(|(n, _)| n.clone())
            .collect();
        *at_report.lock().unwrap() = Some((changed, proxy.seen()));
    })
    .await;
    let (changed, seen_then) = at_report.into_inner().unwrap().unwrap();
    assert_eq!(changed, vec!["batch-b".to_string()]);
    assert!(!seen_then.is_empty(), "the plans read each function");
    assert!(
        seen_then.iter().all(|s| !s.is_write()),
        "a write before the report: {seen_then:?}"
    );

    // Independently, from the requests moto received after the report: every write is for
    // batch-b (its code upload, update and publish), none for the unchanged two.
    let writes: Vec<_> = proxy.seen().into_iter().filter(|s| s.is_write()).collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert!(
            !w.path.contains("batch-a") && !w.path.contains("batch-c"),
            "a write for an unchanged function: {w:?}"
        );
    }
    assert!(
        writes.iter().any(|w| w.path.contains("/functions/batch-b")),
        "{writes:?}"
    );
    for (name, r) in &results {
        let r = r.as_ref().unwrap();
        assert_eq!(r.change.code_updated, name == "batch-b", "{name}: {}", r.change);
        assert_eq!(r.version.is_some(), name == "batch-b", "{name}");
    }
    assert_eq!(aws.list_versions("batch-b").await.unwrap().len(), 2);
    assert_eq!(aws.list_versions("batch-a").await.unwrap().len(), 1);
}
