//! Warm execution environments on the local provider: init once, globals and `/tmp` kept,
//! cold starts only where Lambda has them, reserved concurrency, replacement after a
//! timeout or a crash, idle eviction (on a paused clock and in real time).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use faas_core::observe::{MetricsQuery, TimeWindow, now_ms};
use faas_core::{Error, Invocation, InvokeMode, InvokeRequest, Provider, ProviderExt};
use faas_package::PackageBuilder;
use support::spec;

type Env = support::Env;

/// A module-level counter, a file in `/tmp` grown by one line per call, and ways to hang,
/// crash and sleep.
const HANDLER: &str = r#"
import os, time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    with open("/tmp/calls", "a") as f:
        f.write("x\n")
    with open("/tmp/calls") as f:
        lines = len(f.readlines())
    mode = event.get("mode")
    if mode == "sleep":
        time.sleep(event["s"])
    if mode == "crash":
        os._exit(3)
    cc = context.client_context
    return {"count": COUNT, "tmp_lines": lines, "pid": os.getpid(), "tag": os.environ.get("TAG"),
            "custom": cc.custom if cc else None, "request_id": context.aws_request_id}
"#;

fn body(inv: &Invocation) -> serde_json::Value {
    assert!(inv.function_error.is_none(), "{:?}", inv.log_tail);
    inv.json().unwrap()
}

fn cold(inv: &Invocation) -> bool {
    let r = inv.report.unwrap();
    let line = inv.log_tail.as_deref().unwrap();
    assert_eq!(line.contains("Init Duration:"), r.cold_start(), "{line}");
    r.cold_start()
}

/// Dead, or a zombie waiting for a parent that is not ours to reap.
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_gone(pid: u32) -> bool {
    (0..100).any(|_| {
        let g = gone(pid);
        if !g {
            std::thread::sleep(Duration::from_millis(20));
        }
        g
    })
}

#[tokio::test]
async fn globals_and_tmp_persist_across_warm_invocations_until_a_deploy() {
    let env = Env::new(HANDLER);
    env.deploy(&spec("counter").env("TAG", "one")).await;
    let mut pids = Vec::new();
    for n in 1..=4u64 {
        let inv = env.call("counter", serde_json::json!({})).await;
        let b = body(&inv);
        assert_eq!(b["count"], n, "the module global counts warm calls: {b}");
        assert_eq!(b["tmp_lines"], n, "/tmp persists within the environment: {b}");
        assert_eq!(cold(&inv), n == 1, "only the first call is a cold start");
        pids.push(b["pid"].as_u64().unwrap());
    }
    pids.dedup();
    assert_eq!(pids.len(), 1, "one process served them all");
    assert_eq!(env.provider.environments_started(), 1);
    assert_eq!(env.provider.idle_environments().len(), 1);
    let old_pid = env.provider.idle_environments()[0].pid.unwrap();

    // A new configuration is a new environment: the counter starts again, cold.
    env.deploy(&spec("counter").env("TAG", "two")).await;
    let inv = env.call("counter", serde_json::json!({})).await;
    let b = body(&inv);
    assert_eq!((b["count"].as_u64(), b["tag"].as_str()), (Some(1), Some("two")), "{b}");
    assert_eq!(b["tmp_lines"], 1, "a new environment has a fresh /tmp: {b}");
    assert!(cold(&inv));
    assert!(wait_gone(old_pid), "the old environment {old_pid} was not shut down");
    assert_eq!(env.provider.idle_environments().len(), 1);

    // So is a published version: its own environment, next to $LATEST's.
    let v = env
        .provider
        .publish("counter", &faas_core::PublishRequest::default())
        .await
        .unwrap();
    let mut req = InvokeRequest::json(&serde_json::json!({}));
    req.qualifier = Some(v.id.clone());
    let first = env.provider.invoke("counter", &req).await.unwrap();
    assert!(cold(&first));
    assert_eq!(body(&first)["count"], 1);
    let latest = env.call("counter", serde_json::json!({})).await;
    assert_eq!(body(&latest)["count"], 2, "$LATEST's environment is still warm");
    assert_eq!(env.provider.environments_started(), 3);

    // Dropping the provider ends every environment.
    let pids: Vec<u32> = env.provider.idle_environments().iter().filter_map(|e| e.pid).collect();
    assert_eq!(pids.len(), 2);
    drop(env.provider);
    for pid in pids {
        assert!(wait_gone(pid), "{pid} outlived the provider");
    }
}

#[tokio::test]
async fn beyond_reserved_concurrency_sync_calls_are_throttled_and_async_ones_queued() {
    let env = Env::new(HANDLER);
    env.deploy(&spec("reserved").reserved_concurrency(1)).await;
    let slow = serde_json::json!({"mode": "sleep", "s": 1.0});
    let slow_req = InvokeRequest::json(&slow);
    let (a, b) = tokio::join!(env.provider.invoke("reserved", &slow_req), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.provider
            .invoke("reserved", &InvokeRequest::json(&serde_json::json!({})))
            .await
    });
    assert_eq!(body(&a.unwrap())["count"], 1);
    match b {
        Err(e @ Error::Throttled { .. }) => {
            assert!(e.to_string().contains("TooManyRequestsException"), "{e}");
            assert!(e.is_retryable());
        }
        other => panic!("expected a throttle, got {other:?}"),
    }

    // Asynchronous events wait for the one environment, one after the other.
    let started = now_ms();
    for _ in 0..3 {
        let mut req = InvokeRequest::json(&serde_json::json!({"mode": "sleep", "s": 0.2}));
        req.mode = InvokeMode::Async;
        assert_eq!(env.provider.invoke("reserved", &req).await.unwrap().status, 202);
    }
    env.provider.wait_for_async().await;
    let window = TimeWindow::between_ms(started - 1000, now_ms() + 1000).unwrap();
    let m = env
        .provider
        .metrics(&MetricsQuery::new("reserved", window))
        .await
        .unwrap();
    assert_eq!((m.invocations, m.throttles), (Some(3), Some(0)));
    assert_eq!(m.peak_concurrency, Some(1));
    let all = TimeWindow::between_ms(0, now_ms() + 1000).unwrap();
    let m = env.provider.metrics(&MetricsQuery::new("reserved", all)).await.unwrap();
    assert_eq!(
        (m.invocations, m.throttles),
        (Some(4), Some(1)),
        "the throttle is counted"
    );
    assert_eq!(
        env.provider.environments_started(),
        1,
        "all ran in the one warm environment"
    );

    // Without a reservation, concurrent calls get environments of their own.
    env.deploy(&spec("open")).await;
    let (x, y) = tokio::join!(env.call("open", slow.clone()), env.call("open", slow.clone()));
    assert_ne!(body(&x)["pid"], body(&y)["pid"]);
    assert!(cold(&x) && cold(&y));
    assert_eq!(env.provider.idle_environments().len(), 3);
}

#[tokio::test]
async fn reserved_concurrency_is_validated() {
    let env = Env::new(HANDLER);
    let src = env.dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("app.py"), HANDLER).unwrap();
    let pkg = PackageBuilder::new(&src)
        .output(env.dir.path().join("a.zip"))
        .build()
        .unwrap();
    let err = env
        .provider
        .deploy_package(
            &spec("big").reserved_concurrency(5000),
            &pkg,
            &faas_core::DeployOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "aws.reserved_concurrency"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_timed_out_or_crashed_environment_is_replaced_by_a_cold_one() {
    let env = Env::new(HANDLER);
    env.deploy(&spec("fragile").timeout_s(1)).await;
    let first = body(&env.call("fragile", serde_json::json!({})).await);
    let pid = first["pid"].as_u64().unwrap() as u32;
    let hung = env.call("fragile", serde_json::json!({"mode": "sleep", "s": 3})).await;
    assert_eq!(hung.function_error.unwrap().error_type, "Sandbox.Timedout");
    assert!(wait_gone(pid), "the timed-out environment {pid} was not killed");
    assert!(env.provider.idle_environments().is_empty());
    let next = env.call("fragile", serde_json::json!({})).await;
    assert!(cold(&next), "after a timeout the next call is cold");
    assert_eq!(body(&next)["count"], 1);

    let crashed = env.call("fragile", serde_json::json!({"mode": "crash"})).await;
    let fe = crashed.function_error.unwrap();
    assert_eq!(fe.error_type, "Runtime.ExitError", "{}", fe.message);
    let after = env.call("fragile", serde_json::json!({})).await;
    assert!(cold(&after), "after a crash the next call is cold");
    assert_eq!(body(&after)["count"], 1);
    assert_eq!(env.provider.environments_started(), 3);
}

#[tokio::test]
async fn idle_environments_are_evicted_on_a_paused_clock() {
    let env = Env::new(HANDLER);
    env.deploy(&spec("idle")).await;
    let inv = env.call("idle", serde_json::json!({})).await;
    let pid = body(&inv)["pid"].as_u64().unwrap() as u32;
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(4 * 60)).await;
    tokio::task::yield_now().await;
    assert_eq!(env.provider.idle_environments().len(), 1, "evicted before 5 minutes");
    tokio::time::advance(Duration::from_secs(61)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(env.provider.idle_environments().is_empty(), "kept after 5 idle minutes");
    assert!(wait_gone(pid), "the evicted environment {pid} still runs");
    tokio::time::resume();
    let next = env.call("idle", serde_json::json!({})).await;
    assert!(cold(&next));
    assert_eq!(body(&next)["count"], 1);
}

#[tokio::test]
async fn idle_environments_are_evicted_in_real_time() {
    let env = Env::with(HANDLER, |b| b.idle_timeout(Duration::from_millis(300)));
    env.deploy(&spec("brief")).await;
    let a = env.call("brief", serde_json::json!({})).await;
    let b = env.call("brief", serde_json::json!({})).await;
    assert!(cold(&a) && !cold(&b), "warm within the idle time");
    let pid = body(&b)["pid"].as_u64().unwrap() as u32;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(env.provider.idle_environments().is_empty());
    assert!(wait_gone(pid));
    assert!(cold(&env.call("brief", serde_json::json!({})).await));
    assert!(Path::new(&env.provider.state_dir()).is_dir());
}

/// A real Lambda runtime client (`awslambdaric`, the documented custom-runtime way) keeps
/// its environment too: it asks the held-open `GET /next` for the next event.
#[tokio::test]
async fn awslambdaric_stays_warm() {
    use std::os::unix::fs::PermissionsExt;
    let python = match std::env::var("FAAS_TEST_RIC_PYTHON") {
        Ok(p) => p,
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("FAAS_TEST_RIC_PYTHON is not set: run the tests with scripts/test.sh")
        }
        Err(_) => {
            eprintln!(
                "\n!!! SKIPPED awslambdaric_stays_warm: FAAS_TEST_RIC_PYTHON not set (scripts/test.sh sets it) !!!\n"
            );
            return;
        }
    };
    let env = Env::new(HANDLER);
    let src = env.dir.path().join("ric");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("app.py"), HANDLER).unwrap();
    let bootstrap = src.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec {python} -m awslambdaric \"$_HANDLER\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pkg = PackageBuilder::new(&src)
        .output(env.dir.path().join("ric.zip"))
        .build()
        .unwrap();
    let spec = faas_core::FunctionSpec::new("ric", "provided.al2023".parse().unwrap(), "app.handler");
    env.provider
        .deploy_package(&spec, &pkg, &faas_core::DeployOptions::default())
        .await
        .unwrap();
    for n in 1..=3u64 {
        let inv = env.call("ric", serde_json::json!({})).await;
        assert_eq!(body(&inv)["count"], n, "{:?}", inv.log_tail);
        assert_eq!(cold(&inv), n == 1);
    }
    assert_eq!(env.provider.environments_started(), 1);
    // The client context reaches awslambdaric's `context.client_context`.
    let req =
        InvokeRequest::json(&serde_json::json!({})).with_client_context(&serde_json::json!({"custom": {"k": "ric"}}));
    let inv = env.provider.invoke("ric", &req).await.unwrap();
    assert_eq!(body(&inv)["custom"], serde_json::json!({"k": "ric"}));
}

/// A synchronous invocation's client context is the handler's `context.client_context`
/// (Lambda passes it to synchronous invocations only); one that is not a JSON object, or is
/// longer than Lambda's limit, is refused before anything runs.
#[tokio::test]
async fn the_client_context_reaches_the_handler() {
    let env = Env::new(HANDLER);
    env.deploy(&spec("ctx")).await;
    let custom = serde_json::json!({"custom": {"tenant": "a", "n": 1}, "env": {"locale": "en"}});
    let req = InvokeRequest::json(&serde_json::json!({})).with_client_context(&custom);
    let b = body(&env.provider.invoke("ctx", &req).await.unwrap());
    assert_eq!(b["custom"], serde_json::json!({"tenant": "a", "n": 1}), "{b}");
    assert_eq!(b["request_id"].as_str().unwrap().len(), 36, "{b}");
    let b = body(&env.call("ctx", serde_json::json!({})).await);
    assert_eq!(
        b["custom"],
        serde_json::Value::Null,
        "no client context, none seen: {b}"
    );
    for (bad, why) in [
        (
            "[1]".to_string(),
            "Client context must be a valid Base64-encoded JSON object",
        ),
        (
            format!(r#"{{"custom":"{}"}}"#, "x".repeat(faas_core::CLIENT_CONTEXT_MAX)),
            "at most 3583 bytes",
        ),
    ] {
        let req = InvokeRequest {
            client_context: Some(bad),
            ..InvokeRequest::json(&serde_json::json!({}))
        };
        match env.provider.invoke("ctx", &req).await.unwrap_err() {
            Error::InvalidInput { field, reason, .. } => {
                assert_eq!(field, "client_context");
                assert!(reason.contains(why), "{reason}");
            }
            e => panic!("{e:?}"),
        }
    }
}
