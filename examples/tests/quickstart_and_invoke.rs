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

/// `invoke --async` answers 202 as Lambda does, and the event really runs before the
/// one-shot program exits.
#[test]
fn async_invoke_from_the_cli_runs_the_event() {
    let dir = tempfile::tempdir().unwrap();
    // /tmp is private to the handler (an overlay): the marker goes to shared memory.
    let marker = std::path::PathBuf::from(format!("/dev/shm/faas-async-test-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let (src, state) = (dir.path().join("src"), dir.path().join("state"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("app.py"),
        "import time\ndef handler(event, context):\n    time.sleep(0.3)\n    open(event['path'], 'w').write('ran')\n    return {}\n",
    )
    .unwrap();
    let deployed = Command::new(example("deploy"))
        .args([
            "--provider",
            "local",
            "--function",
            "async-fn",
            "--runtime",
            "python3.12",
        ])
        .args(["--handler", "app.handler", "--json", "--src"])
        .arg(&src)
        .arg("--state-dir")
        .arg(&state)
        .arg("--out")
        .arg(dir.path().join("async.zip"))
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let payload = serde_json::json!({"path": marker}).to_string();
    let out = Command::new(example("invoke"))
        .args(["--function", "async-fn", "--async", "--json", "--payload", &payload])
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 202);
    let ran = std::fs::read_to_string(&marker).unwrap_or_default();
    let _ = std::fs::remove_file(&marker);
    assert_eq!(ran, "ran", "the event never ran");
}
