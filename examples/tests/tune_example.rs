//! The tune example, run as a user runs it: a report in JSON whose chart URL decodes back to
//! its numbers and an SVG that parses; a run killed with SIGKILL mid-way is cleaned up by the
//! next; Ctrl-C removes what the run made and exits 130; bad input fails before anything is
//! made, in JSON when asked.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::example;
use faas_core::cost::tune::{MARKER, ORIGINAL_MEMORY_VAR, PowerTuningData};
use faas_core::local::LocalProvider;
use faas_core::{DeployOptions, FunctionSpec, Provider, ProviderExt};
use faas_package::PackageBuilder;

/// `spin`, a CPU-bound function at 1024 MB, deployed to a local provider under `dir`.
async fn deployed(dir: &Path) -> LocalProvider {
    let p = LocalProvider::builder().state_dir(dir.join("state")).build().unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "def handler(event, context):\n    n = 0\n    for i in range(event.get('spin', 0)):\n        n += i\n    return n\n",
    )
    .unwrap();
    let spec = FunctionSpec::new("spin", "python3.12".parse().unwrap(), "app.handler")
        .memory_mb(1024)
        .timeout_s(60);
    let pkg = PackageBuilder::new(&src)
        .runtime(spec.runtime.clone())
        .handler("app.handler")
        .output(dir.join("spin.zip"))
        .build()
        .unwrap();
    p.deploy_package(&spec, &pkg, &DeployOptions::default()).await.unwrap();
    p
}

fn tune(dir: &Path) -> Command {
    let mut c = Command::new(example("tune"));
    c.args(["--function", "spin", "--state-dir"]).arg(dir.join("state"));
    c
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Tuning's versions on `spin`.
async fn marked(p: &LocalProvider) -> usize {
    let versions = p.list_versions("spin").await.unwrap();
    versions.iter().filter(|v| v.description.starts_with(MARKER)).count()
}

async fn nothing_left(p: &LocalProvider) {
    assert_eq!(marked(p).await, 0);
    assert!(p.list_labels("spin").await.unwrap().is_empty());
    let spec = p.get("spin").await.unwrap().spec;
    assert_eq!(spec.memory_mb, 1024);
    assert!(!spec.environment.contains_key(ORIGINAL_MEMORY_VAR));
}

/// A slow run (many invocations at small sizes), in the background, stopped once it has
/// made two versions.
async fn started_slow(dir: &Path, p: &LocalProvider) -> std::process::Child {
    let mut child = tune(dir)
        .args([
            "--memory",
            "128,256,512",
            "--invocations",
            "200",
            "--parallel",
            "1",
            "--json",
        ])
        .args(["--payload", r#"{"spin": 200000}"#])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while marked(p).await < 2 {
        assert!(t.elapsed() < Duration::from_secs(30), "the run made no versions");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_its_chart_url_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let p = deployed(dir.path()).await;
    let svg = dir.path().join("chart.svg");
    let out = tune(dir.path())
        .args([
            "--memory",
            "256,1769",
            "--invocations",
            "3",
            "--strategy",
            "balanced:0.5",
            "--json",
        ])
        .args(["--payload", r#"{"spin": 100000}"#, "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    let values = report["values"].as_array().unwrap();
    assert_eq!(values.len(), 2);
    let data = PowerTuningData::from_url(report["power_tuning_url"].as_str().unwrap()).unwrap();
    assert_eq!(data.powers, [256, 1769]);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(data.durations[i], v["duration_ms"].as_f64().unwrap() as f32);
        assert_eq!(data.costs[i], v["cost_per_invocation"].as_f64().unwrap() as f32);
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let mut elements = 0;
    for token in xmlparser::Tokenizer::from(text.as_str()) {
        if let xmlparser::Token::ElementStart { local, .. } = token.unwrap() {
            elements += 1;
            if elements == 1 {
                assert_eq!(local.as_str(), "svg");
            }
        }
    }
    assert!(
        elements > 10 && text.contains("256 MB") && text.contains("1769 MB"),
        "{text}"
    );
    nothing_left(&p).await;

    // The readable table.
    let out = tune(dir.path())
        .args(["--memory", "512", "--invocations", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("chosen: 512 MB"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_is_cleaned_up_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let p = deployed(dir.path()).await;
    let mut child = started_slow(dir.path(), &p).await;
    child.kill().unwrap(); // SIGKILL: nothing of the run's own clean-up runs
    assert!(!child.wait().unwrap().success());
    assert!(marked(&p).await >= 2, "the killed run left its versions");
    let out = tune(dir.path())
        .args(["--memory", "512", "--invocations", "1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    assert!(
        report["cleaned_before"]["versions"].as_array().unwrap().len() >= 2,
        "{report}"
    );
    // Killed while invoking, the function was already put back; killed while preparing, the
    // next run puts it back.
    let restored = &report["cleaned_before"]["restored_memory_mb"];
    assert!(restored.is_null() || restored == 1024, "{report}");
    nothing_left(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_removes_what_the_run_made() {
    let dir = tempfile::tempdir().unwrap();
    let p = deployed(dir.path()).await;
    let child = started_slow(dir.path(), &p).await;
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let said = json(&out);
    assert_eq!(said["interrupted"], "SIGINT");
    assert!(said["cleaned_up"]["versions"].as_array().unwrap().len() >= 2, "{said}");
    nothing_left(&p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_before_anything_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let p = deployed(dir.path()).await;
    for (args, field) in [
        (vec!["--strategy", "balanced:2"], "strategy"),
        (vec!["--memory", "64"], "memory_mb"),
        (vec!["--invocations", "0"], "invocations"),
        (vec!["--payload", "{nope"], "payload"),
    ] {
        let out = tune(dir.path()).args(&args).arg("--json").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(e["error"]["kind"], "invalid_input", "{e}");
        assert_eq!(e["error"]["fields"]["field"], field, "{e}");
    }
    assert!(p.list_versions("spin").await.unwrap().is_empty(), "nothing was made");
}
