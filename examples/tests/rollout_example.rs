//! The rollout example, run as a user runs it: a canary killed with SIGKILL mid-way is
//! resumed to the end by the next run, or aborted back to its starting routing; a dry run
//! shows the schedule; bad input fails before anything moves, in JSON when asked.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::example;
use faas_core::local::LocalProvider;
use faas_core::{DeployOptions, FunctionSpec, Provider, ProviderExt, Routing};
use faas_package::PackageBuilder;

/// `canary` with version 1 behind `live` and a published version 2.
async fn two_versions(dir: &Path) -> LocalProvider {
    let p = LocalProvider::builder().state_dir(dir.join("state")).build().unwrap();
    let spec = FunctionSpec::new("canary", "python3.12".parse().unwrap(), "app.handler");
    for v in 1..=2 {
        let src = dir.join(format!("src{v}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("app.py"),
            format!("def handler(event, context):\n    return {{'version': {v}}}\n"),
        )
        .unwrap();
        let pkg = PackageBuilder::new(&src)
            .runtime(spec.runtime.clone())
            .handler("app.handler")
            .output(dir.join(format!("v{v}.zip")))
            .build()
            .unwrap();
        let opts = DeployOptions {
            publish: true,
            label: (v == 1).then(|| "live".into()),
            ..Default::default()
        };
        p.deploy_package(&spec, &pkg, &opts).await.unwrap();
    }
    p
}

fn rollout(dir: &Path) -> Command {
    let mut c = Command::new(example("rollout"));
    c.args(["--function", "canary", "--label", "live", "--state-dir"])
        .arg(dir.join("state"));
    c
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts a 50 % canary of version 2 for `wait`, and kills it with SIGKILL once the label is
/// split. Polls every 250 ms, so the lease (six polls) runs out 1.5 s after the kill.
async fn killed_mid_canary(dir: &Path, p: &LocalProvider, wait: &str) {
    let mut child = rollout(dir)
        .args([
            "--version",
            "2",
            "--strategy",
            &format!("canary:50%:{wait}"),
            "--poll",
            "250ms",
            "--json",
        ])
        .spawn()
        .unwrap();
    let t = Instant::now();
    while p.get_label("canary", "live").await.unwrap().routing != Routing::to("1").with("2", 0.5) {
        assert!(t.elapsed() < Duration::from_secs(20), "the canary never started");
        assert!(child.try_wait().unwrap().is_none(), "the rollout ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_canary_is_resumed_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path()).await;
    killed_mid_canary(dir.path(), &p, "4s").await;
    // Right after the kill the lease still holds: a new rollout is refused, naming it.
    let busy = rollout(dir.path())
        .args(["--version", "2", "--strategy", "all-at-once", "--json"])
        .output()
        .unwrap();
    assert_eq!(busy.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&busy.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "conflict", "{err}");
    assert_eq!(
        p.get_label("canary", "live").await.unwrap().routing,
        Routing::to("1").with("2", 0.5)
    );
    // Once the lease runs out, --resume finishes from the recorded step.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let resumed = rollout(dir.path()).args(["--resume", "--json"]).output().unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["version"], "2");
    assert_eq!(
        report["steps"][0]["percent"], 50.0,
        "it resumed the canary step, not a new one"
    );
    assert_eq!(p.get_label("canary", "live").await.unwrap().routing, Routing::to("2"));
    // Nothing left to resume.
    let again = rollout(dir.path()).arg("--resume").output().unwrap();
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_canary_is_aborted_to_its_starting_weights() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path()).await;
    killed_mid_canary(dir.path(), &p, "1h").await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let aborted = rollout(dir.path()).arg("--abort").output().unwrap();
    assert_eq!(aborted.status.code(), Some(3), "rolled back: {}", stdout(&aborted));
    let text = stdout(&aborted);
    assert!(
        text.contains("rolled back by abort") && text.contains("live now routes 1"),
        "{text}"
    );
    assert_eq!(p.get_label("canary", "live").await.unwrap().routing, Routing::to("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_the_schedule_and_bad_input_fails_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = two_versions(dir.path()).await;
    let dry = rollout(dir.path())
        .args([
            "--version",
            "2",
            "--strategy",
            "Linear10PercentEvery1Minute",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let text = stdout(&dry);
    assert!(
        text.contains("+     0s   10.0% to 2") && text.contains("+   540s  100.0% to 2"),
        "{text}"
    );
    let bad = rollout(dir.path())
        .args(["--version", "2", "--strategy", "Canary10Percent7Minutes", "--json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&bad.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "invalid_input");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Canary10Percent5Minutes"),
        "{err}"
    );
    let gate = rollout(dir.path())
        .args(["--version", "2", "--alert", "error_rate >> 1%"])
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(1));
    assert_eq!(p.get_label("canary", "live").await.unwrap().routing, Routing::to("1"));
}
