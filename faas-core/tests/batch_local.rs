//! `DeployJob::deploy_changed` on the local provider: which functions' packages changed is
//! known (and handed over) before anything is changed, and only those are deployed —
//! counted independently from the provider's own versions and deployed code.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use faas_core::local::LocalProvider;
use faas_core::{DeployJob, DeployOptions, FunctionSpec, Plan, Provider, Result};
use faas_package::PackageBuilder;

const FUNCTIONS: usize = 5;

/// Per function: its version ids and the sha256 of the code it runs.
type State = Vec<(Vec<String>, String)>;
/// Per function: its name, whether its plan replaces the code, whether it updates config.
type Changes = Vec<(String, bool, bool)>;

fn job(dir: &Path, i: usize, body: &str, memory_mb: u32) -> DeployJob {
    let src = dir.join(format!("fn-{i}"));
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("app.py"), format!("def handler(e, c):\n    return {body:?}\n")).unwrap();
    let package = PackageBuilder::new(&src)
        .output(dir.join(format!("fn-{i}.zip")))
        .no_cache()
        .build()
        .unwrap();
    DeployJob {
        spec: FunctionSpec::new(format!("fn-{i}"), "python3.12".parse().unwrap(), "app.handler").memory_mb(memory_mb),
        package,
        options: DeployOptions {
            publish: true,
            label: Some("live".into()),
            ..DeployOptions::default()
        },
    }
}

/// A local provider over a temporary directory (which also holds the sources and zips).
fn local() -> (tempfile::TempDir, LocalProvider, Arc<dyn Provider>) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalProvider::builder()
        .state_dir(dir.path().join("state"))
        .build()
        .unwrap();
    let provider: Arc<dyn Provider> = Arc::new(local.clone());
    (dir, local, provider)
}

/// Each function's version ids and deployed code sha256, read on a runtime of its own (so it
/// can be called from the synchronous `on_plans` callback).
fn state(provider: &LocalProvider) -> State {
    let provider = provider.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut out = Vec::new();
            for i in 0..FUNCTIONS {
                let name = format!("fn-{i}");
                let versions = provider.list_versions(&name).await.unwrap();
                let code = provider.get(&name).await.unwrap().code_sha256;
                out.push((versions.into_iter().map(|v| v.id).collect(), code));
            }
            out
        })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_changed_names_the_changed_packages_before_any_change_and_deploys_only_those() {
    let (dir, local, provider) = local();
    let first: Vec<DeployJob> = (0..FUNCTIONS).map(|i| job(dir.path(), i, "v1", 256)).collect();
    for (name, r) in faas_core::deploy_many(provider.clone(), first.clone(), 3).await {
        assert_eq!(r.unwrap().version.unwrap().id, "1", "{name}");
    }
    let before = state(&local);

    // fn-1 and fn-3: new code; fn-4: same code, more memory; fn-0 and fn-2: as deployed.
    let second: Vec<DeployJob> = (0..FUNCTIONS)
        .map(|i| match i {
            1 | 3 => job(dir.path(), i, "v2", 256),
            4 => job(dir.path(), i, "v1", 512),
            _ => job(dir.path(), i, "v1", 256),
        })
        .collect();
    for i in [0, 2, 4] {
        assert_eq!(
            second[i].package.sha256, first[i].package.sha256,
            "fn-{i} rebuilt identically"
        );
    }
    let seen: Mutex<Option<(Changes, State)>> = Mutex::new(None);
    let results = DeployJob::deploy_changed(
        provider.clone(),
        second.clone(),
        3,
        |plans: &[(String, Result<Plan>)]| {
            let changes = plans
                .iter()
                .map(|(name, p)| {
                    let p = p.as_ref().unwrap();
                    (name.clone(), p.updates_code(), p.updates_config())
                })
                .collect();
            // Read back at the moment of the report: nothing deployed or published yet.
            *seen.lock().unwrap() = Some((changes, state(&local)));
        },
    )
    .await;

    let (changes, at_report) = seen.into_inner().unwrap().unwrap();
    assert_eq!(
        changes,
        vec![
            ("fn-0".to_string(), false, false),
            ("fn-1".to_string(), true, false),
            ("fn-2".to_string(), false, false),
            ("fn-3".to_string(), true, false),
            ("fn-4".to_string(), false, true),
        ]
    );
    assert_eq!(at_report, before, "the report came before any change");

    // Independently, from the provider: which functions got a new version, and what code
    // each one now runs.
    let after = state(&local);
    let republished: Vec<usize> = (0..FUNCTIONS).filter(|&i| after[i].0 != before[i].0).collect();
    assert_eq!(republished, vec![1, 3, 4]);
    for i in 0..FUNCTIONS {
        assert_eq!(after[i].1, second[i].package.sha256, "fn-{i} runs its package");
        let (name, r) = &results[i];
        assert_eq!(name, &format!("fn-{i}"));
        let r = r.as_ref().unwrap();
        assert_eq!(!r.change.is_noop(), republished.contains(&i), "fn-{i}: {}", r.change);
        assert_eq!(
            r.version.is_some(),
            republished.contains(&i),
            "skipped ones publish nothing"
        );
        assert_eq!(r.code_sha256, second[i].package.sha256);
    }

    // Nothing changed now: every job is skipped, no version published anywhere.
    let again = DeployJob::deploy_changed(provider.clone(), second, 2, |plans| {
        assert!(plans.iter().all(|(_, p)| p.as_ref().unwrap().is_noop()));
    })
    .await;
    assert!(again.iter().all(|(_, r)| r.as_ref().unwrap().change.is_noop()));
    assert_eq!(state(&local), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_be_planned_is_reported_and_still_fails_alone() {
    let (dir, _, provider) = local();
    let mut jobs: Vec<DeployJob> = (0..3).map(|i| job(dir.path(), i, "v1", 256)).collect();
    jobs[1].spec.memory_mb = 1;
    let mut reported = Vec::new();
    let results = DeployJob::deploy_changed(provider.clone(), jobs, 2, |plans| {
        reported = plans
            .iter()
            .map(|(n, p)| (n.clone(), p.as_ref().map(Plan::creates).ok()))
            .collect();
    })
    .await;
    assert_eq!(
        reported,
        vec![
            ("fn-0".to_string(), Some(true)),
            ("fn-1".to_string(), None),
            ("fn-2".to_string(), Some(true))
        ]
    );
    assert!(
        matches!(results[1].1, Err(faas_core::Error::InvalidInput { .. })),
        "{:?}",
        results[1].1
    );
    assert!(results[0].1.as_ref().unwrap().change.created);
    assert!(results[2].1.as_ref().unwrap().change.created);
    assert!(provider.get("fn-1").await.is_err());
}
