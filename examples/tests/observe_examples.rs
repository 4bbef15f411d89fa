//! The metrics and logs examples, run as a user runs them after the quickstart.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::example;

fn quickstart(dir: &std::path::Path) -> std::path::PathBuf {
    let state = dir.join("state");
    let out = Command::new(example("quickstart"))
        .arg("--state-dir")
        .arg(&state)
        .arg("--out-dir")
        .arg(dir.join("dist"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // One process: its three calls share one warm execution environment.
    assert!(
        text.contains("hello-python: last hour through live: 3 invocations, 0 errors, 1 cold starts"),
        "{text}"
    );
    state
}

fn metrics(state: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(example("metrics"))
        .args(["--function", "hello-python", "--since", "1h", "--state-dir"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn metrics_json_chart_and_alert_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let state = quickstart(dir.path());
    let svg = dir.path().join("chart.svg");
    let out = metrics(
        &state,
        &["--json", "--svg", svg.to_str().unwrap(), "--alert", "errors > 5"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metrics"]["invocations"], 3);
    assert_eq!(v["metrics"]["errors"], 0);
    assert_eq!(v["findings"][0]["verdict"], "ok");
    let total: u64 = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["invocations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3, "the series adds up");
    assert!(
        std::fs::read_to_string(&svg).unwrap().starts_with("<svg"),
        "an SVG chart"
    );

    // A rule that fires exits 2; too few invocations to judge does not fire.
    assert_eq!(metrics(&state, &["--alert", "invocations > 1"]).status.code(), Some(2));
    let unsure = metrics(&state, &["--alert", "error_rate > 1%"]);
    assert_eq!(unsure.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unsure.stdout).contains("not enough data"));

    // Bad input: exit 1, a JSON error naming what is wrong, before any read.
    let bad = metrics(&state, &["--json", "--alert", "p99 >> 3"]);
    assert_eq!(bad.status.code(), Some(1));
    let e: serde_json::Value = serde_json::from_slice(&bad.stderr).unwrap();
    assert_eq!(
        (e["error"]["kind"].as_str(), e["error"]["fields"]["field"].as_str()),
        (Some("invalid_input"), Some("alert rule"))
    );
    let missing = Command::new(example("metrics"))
        .args(["--function", "nobody", "--json", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let e: serde_json::Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(e["error"]["kind"], "not_found");
}

#[test]
fn logs_follow_shows_another_process_invocation_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let state = quickstart(dir.path());
    let logs = Command::new(example("logs"))
        .args([
            "--function",
            "hello-python",
            "--since",
            "1h",
            "--filter",
            "REPORT",
            "--json",
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert!(logs.status.success());
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout).lines().count(),
        3,
        "one REPORT per invocation"
    );

    let mut follow = Command::new(example("logs"))
        .args([
            "--function",
            "hello-python",
            "--since",
            "1s",
            "--follow",
            "--poll-ms",
            "100",
            "--filter",
            "action=",
            "--state-dir",
        ])
        .arg(&state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send((line.unwrap(), Instant::now())).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let inv = Command::new(example("invoke"))
        .args(["--function", "hello-python", "--json", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let invoked = Instant::now();
    assert!(inv.status.success(), "{}", String::from_utf8_lossy(&inv.stderr));
    let v: serde_json::Value = serde_json::from_slice(&inv.stdout).unwrap();
    let tail = v["log_tail"].as_str().unwrap();
    let id = tail
        .split("START RequestId: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Older records of the window may come first: wait for this invocation's.
    let deadline = invoked + Duration::from_secs(5);
    let mut found = None;
    while let Ok((line, at)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(&id) {
            found = Some((line, at));
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let (line, at) = found.expect("the follower printed the new invocation's record");
    assert!(line.contains("action=greet"), "{line}");
    assert!(
        at.duration_since(invoked) < Duration::from_secs(1),
        "{:?}",
        at.duration_since(invoked)
    );
}
