//! The README's main job and the invoke example, run as a user runs them.

#![allow(clippy::unwrap_used)]

mod common;

use common::example;

use std::process::Command;

#[test]
fn quickstart_then_invoke_json() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let run = || {
        Command::new(example("quickstart"))
            .arg("--state-dir")
            .arg(&state)
            .arg("--out-dir")
            .arg(dir.path().join("dist"))
            .output()
            .unwrap()
    };
    let first = run();
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        text.contains("hello-python: deploy created; version 1; live -> 1"),
        "{text}"
    );
    assert!(text.contains("hello-python: 3 passed, 0 failed"), "{text}");
    assert!(text.contains("hello-node: 3 passed, 0 failed"), "{text}");
    let second = run();
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(
        text.contains("hello-python: deploy unchanged; version 1"),
        "a rerun changes nothing: {text}"
    );

    let out = Command::new(example("invoke"))
        .args([
            "--function",
            "hello-python",
            "--qualifier",
            "live",
            "--payload",
            r#"{"name":"json"}"#,
            "--json",
        ])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["executed_version"], "1");
    assert!(v["function_error"].is_null());
    assert_eq!(v["payload"]["statusCode"], 200);
    for key in [
        "duration_ms",
        "billed_duration_ms",
        "memory_size_mb",
        "max_memory_used_mb",
        "init_duration_ms",
    ] {
        assert!(v["report"][key].is_number(), "report lacks {key}: {v}");
    }
    assert!(v["log_tail"].as_str().unwrap().contains("REPORT RequestId"));

    let missing = Command::new(example("invoke"))
        .args(["--function", "nope", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found"));
}
