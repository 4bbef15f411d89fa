//! How the local provider runs real handlers, and how it fails the way Lambda does.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use faas_core::local::LocalProvider;
use faas_core::{DeployOptions, Error, FunctionSpec, Invocation, InvokeRequest, Provider, ProviderExt, PublishRequest};
use faas_package::PackageBuilder;

struct Env {
    dir: tempfile::TempDir,
    provider: LocalProvider,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let provider = LocalProvider::builder()
            .state_dir(dir.path().join("state"))
            .build()
            .unwrap();
        Env { dir, provider }
    }

    async fn deploy(&self, name: &str, runtime: &str, handler: &str, files: &[(&str, &str, u32)]) -> FunctionSpec {
        let src = self.dir.path().join(format!("src-{name}"));
        for (rel, content, mode) in files {
            let p = src.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, content).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
        }
        let spec = FunctionSpec::new(name, runtime.parse().unwrap(), handler)
            .timeout_s(2)
            .env("GREETING", "hi");
        // Packages are checked at build time; these deploys bypass the handler check on purpose
        // so that broken functions reach the runtime, as a zip made by another tool would.
        let package = PackageBuilder::new(&src)
            .output(self.dir.path().join(format!("{name}.zip")))
            .build()
            .unwrap();
        self.provider
            .deploy_package(&spec, &package, &DeployOptions::default())
            .await
            .unwrap();
        spec
    }

    async fn invoke(&self, name: &str, payload: &str) -> Invocation {
        let req = InvokeRequest {
            payload: payload.as_bytes().to_vec(),
            log_tail: true,
            ..InvokeRequest::default()
        };
        self.provider.invoke(name, &req).await.unwrap()
    }

    fn state_is_intact(&self) {
        for entry in fs::read_dir(self.dir.path().join("state/functions")).unwrap() {
            let p = entry.unwrap().path();
            let bytes = fs::read(&p).unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .unwrap_or_else(|e| panic!("{} corrupted: {e}", p.display()));
        }
    }
}

fn body(inv: &Invocation) -> serde_json::Value {
    serde_json::from_slice(&inv.payload).unwrap()
}

const PY_OK: &str = r#"import os
def handler(event, context):
    print("hello from the handler")
    return {
        "statusCode": 200,
        "event": event,
        "name": context.function_name,
        "version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "greeting": os.environ["GREETING"],
        "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:"),
        "handler_env": os.environ["_HANDLER"],
    }
"#;

#[tokio::test]
async fn python_handler_gets_event_context_and_environment() {
    let env = Env::new();
    env.deploy("py", "python3.12", "app.handler", &[("app.py", PY_OK, 0o644)])
        .await;
    let inv = env.invoke("py", r#"{"x": 1}"#).await;
    assert!(
        inv.function_error.is_none(),
        "{:?}\n{:?}",
        inv.function_error,
        inv.log_tail
    );
    let b = body(&inv);
    assert_eq!(b["event"]["x"], 1);
    assert_eq!(b["name"], "py");
    assert_eq!(b["version"], "$LATEST");
    assert_eq!(b["memory"], "128");
    assert_eq!(b["greeting"], "hi");
    assert_eq!(b["runtime_api"], true);
    assert_eq!(b["handler_env"], "app.handler");
    let remaining = b["remaining"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 2000, "{remaining}");
    assert_eq!(b["request_id"].as_str().unwrap().len(), 36);
    let log = inv.log_tail.unwrap();
    assert!(
        log.contains("hello from the handler") && log.starts_with("START RequestId:"),
        "{log}"
    );
    let report = inv.report.unwrap();
    assert_eq!(
        faas_core::ExecutionReport::from_log(&log).unwrap().billed_duration_ms,
        report.billed_duration_ms
    );
    assert!(report.max_memory_used_mb > 0 && report.memory_size_mb == 128);
    assert!(report.init_duration_ms.unwrap() > 0.0);
}

#[tokio::test]
async fn function_errors_are_shaped_like_lambda() {
    let env = Env::new();
    env.deploy(
        "raise",
        "python3.12",
        "app.handler",
        &[(
            "app.py",
            "def handler(e, c):\n    raise ValueError('bad value')\n",
            0o644,
        )],
    )
    .await;
    let inv = env.invoke("raise", "{}").await;
    assert_eq!(inv.status, 200, "a function error is not a transport error");
    let fe = inv.function_error.clone().unwrap();
    assert_eq!(
        (fe.error_type.as_str(), fe.message.as_str()),
        ("ValueError", "bad value")
    );
    assert!(fe.trace.iter().any(|l| l.contains("app.py")), "{:?}", fe.trace);
    assert_eq!(body(&inv)["errorType"], "ValueError");
    let err = inv.into_result().unwrap_err();
    assert!(matches!(err, Error::FunctionFailed { .. }));
}

#[tokio::test]
async fn import_time_failure_is_an_init_error() {
    let env = Env::new();
    env.deploy(
        "init",
        "python3.12",
        "app.handler",
        &[("app.py", "import no_such_module_faas\n", 0o644)],
    )
    .await;
    let fe = env.invoke("init", "{}").await.function_error.unwrap();
    assert_eq!(fe.error_type, "Runtime.ImportModuleError");
    assert!(fe.message.contains("Unable to import module 'app'"), "{}", fe.message);
    env.state_is_intact();
}

#[tokio::test]
async fn non_json_result_is_a_marshal_error() {
    let env = Env::new();
    env.deploy(
        "marshal",
        "python3.12",
        "app.handler",
        &[("app.py", "def handler(e, c):\n    return object()\n", 0o644)],
    )
    .await;
    let fe = env.invoke("marshal", "{}").await.function_error.unwrap();
    assert_eq!(fe.error_type, "Runtime.MarshalError");
    assert!(fe.message.contains("Unable to marshal response"), "{}", fe.message);
}

#[tokio::test]
async fn bad_payload_and_missing_targets_are_typed_errors() {
    let env = Env::new();
    env.deploy("p", "python3.12", "app.handler", &[("app.py", PY_OK, 0o644)])
        .await;
    let req = InvokeRequest {
        payload: b"not json".to_vec(),
        ..InvokeRequest::default()
    };
    let err = env.provider.invoke("p", &req).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "payload"),
        "{err}"
    );
    let err = env
        .provider
        .invoke("nope", &InvokeRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = env
        .provider
        .invoke("p", &InvokeRequest::default().qualifier("7"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn timeout_kills_the_process_and_says_so() {
    let env = Env::new();
    let code = "import time\ndef handler(e, c):\n    print('going to sleep')\n    time.sleep(30)\n";
    env.deploy("slow", "python3.12", "app.handler", &[("app.py", code, 0o644)])
        .await;
    let started = std::time::Instant::now();
    let inv = env.invoke("slow", "{}").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the timeout was not enforced"
    );
    let fe = inv.function_error.unwrap();
    assert_eq!(fe.error_type, "Sandbox.Timedout");
    assert!(
        fe.message.ends_with("Task timed out after 2.00 seconds"),
        "{}",
        fe.message
    );
    let log = inv.log_tail.unwrap();
    assert!(
        log.contains("going to sleep") && log.contains("Task timed out after 2.00 seconds"),
        "{log}"
    );
    assert!(inv.report.unwrap().duration_ms >= 2000.0);
}

#[tokio::test]
async fn printing_100_mb_keeps_memory_bounded() {
    let env = Env::new();
    let code = "import sys\ndef handler(e, c):\n    chunk = 'x' * 1048575 + '\\n'\n    for _ in range(100):\n        sys.stdout.write(chunk)\n    print('last line')\n    return {'ok': True}\n";
    env.deploy("loud", "python3.12", "app.handler", &[("app.py", code, 0o644)])
        .await;
    let inv = env.invoke("loud", "{}").await;
    assert!(inv.function_error.is_none(), "{:?}", inv.function_error);
    let log = inv.log_tail.unwrap();
    assert!(log.len() <= 4096, "the tail is bounded: {} bytes", log.len());
    assert!(log.contains("last line") && log.contains("REPORT"), "{log}");
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        hwm_kb < 100 * 1024,
        "our peak RSS {hwm_kb} kB grew with the function's output"
    );
}

#[tokio::test]
async fn custom_runtime_bootstrap_problems_are_reported() {
    let env = Env::new();
    // A non-executable bootstrap is refused before anything is deployed ...
    let src = env.dir.path().join("src-noexec");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("bootstrap"), "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(src.join("bootstrap"), fs::Permissions::from_mode(0o644)).unwrap();
    let package = PackageBuilder::new(&src)
        .output(env.dir.path().join("noexec.zip"))
        .build()
        .unwrap();
    let spec = FunctionSpec::new("noexec", "provided.al2023".parse().unwrap(), "x").timeout_s(2);
    let e = env
        .provider
        .deploy_package(&spec, &package, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Package(faas_package::PackageError::NotExecutable { .. })),
        "{e}"
    );
    // ... and one deployed anyway, below deploy_package (as another tool would), fails at
    // invoke the way Lambda does.
    let artifact = env.provider.upload("noexec", &package).await.unwrap();
    env.provider.deploy(&spec, &artifact).await.unwrap();
    let fe = env.invoke("noexec", "{}").await.function_error.unwrap();
    assert_eq!(fe.error_type, "Runtime.InvalidEntrypoint", "{fe:?}");
    env.deploy(
        "quits",
        "provided.al2023",
        "x",
        &[("bootstrap", "#!/bin/sh\necho bye >&2\nexit 3\n", 0o755)],
    )
    .await;
    let inv = env.invoke("quits", "{}").await;
    let fe = inv.function_error.unwrap();
    assert_eq!(fe.error_type, "Runtime.ExitError");
    assert!(fe.message.contains("exit status: 3"), "{}", fe.message);
    assert!(inv.log_tail.unwrap().contains("bye"));
    env.state_is_intact();
}

/// A shell bootstrap speaking the Runtime API with curl: the protocol as documented.
#[tokio::test]
async fn shell_bootstrap_speaks_the_runtime_api() {
    let env = Env::new();
    let script = r#"#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
headers=$(mktemp)
event=$(curl -sS -D "$headers" "$api/invocation/next")
id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\r' | awk '{print $2}')
deadline=$(grep -i '^lambda-runtime-deadline-ms:' "$headers" | tr -d '\r' | awk '{print $2}')
curl -sS -X POST "$api/invocation/$id/response" -d "{\"echo\": $event, \"has_deadline\": $([ -n "$deadline" ] && echo true || echo false)}" >/dev/null
sleep 5
"#;
    env.deploy("sh", "provided.al2023", "unused", &[("bootstrap", script, 0o755)])
        .await;
    let inv = env.invoke("sh", r#"{"k":"v"}"#).await;
    assert!(
        inv.function_error.is_none(),
        "{:?} {:?}",
        inv.function_error,
        inv.log_tail
    );
    let b = body(&inv);
    assert_eq!(b["echo"]["k"], "v");
    assert_eq!(b["has_deadline"], true);
    assert!(
        inv.elapsed < std::time::Duration::from_secs(4),
        "the runtime is stopped once it answered"
    );
}

#[tokio::test]
async fn node_handlers_async_and_callback() {
    let env = Env::new();
    let files = [
        (
            "index.js",
            "exports.handler = async (event, context) => ({ statusCode: 200, n: event.n + 1, fn: context.functionName, cc: context.clientContext ? context.clientContext.custom : null });\n",
            0o644,
        ),
        (
            "cb.js",
            "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { cb: true, left: context.getRemainingTimeInMillis() > 0 }), 10); };\n",
            0o644,
        ),
        (
            "bad.js",
            "exports.handler = async () => { throw new TypeError('nope'); };\n",
            0o644,
        ),
    ];
    env.deploy("node-async", "nodejs20.x", "index.handler", &files).await;
    let inv = env.invoke("node-async", r#"{"n": 41}"#).await;
    assert!(
        inv.function_error.is_none(),
        "{:?} {:?}",
        inv.function_error,
        inv.log_tail
    );
    assert_eq!(body(&inv)["n"], 42);
    assert_eq!(body(&inv)["fn"], "node-async");
    assert_eq!(body(&inv)["cc"], serde_json::Value::Null);
    let req = InvokeRequest::json(&serde_json::json!({"n": 1}))
        .with_client_context(&serde_json::json!({"custom": {"k": "node"}}));
    let inv = env.provider.invoke("node-async", &req).await.unwrap();
    assert_eq!(
        body(&inv)["cc"],
        serde_json::json!({"k": "node"}),
        "context.clientContext"
    );
    env.deploy("node-cb", "nodejs20.x", "cb.handler", &files).await;
    let b = body(&env.invoke("node-cb", "{}").await);
    assert_eq!((b["cb"].as_bool(), b["left"].as_bool()), (Some(true), Some(true)));
    env.deploy("node-bad", "nodejs20.x", "bad.handler", &files).await;
    let fe = env.invoke("node-bad", "{}").await.function_error.unwrap();
    assert_eq!((fe.error_type.as_str(), fe.message.as_str()), ("TypeError", "nope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_never_clobber_each_other() {
    let env = Env::new();
    env.deploy("race", "python3.12", "app.handler", &[("app.py", PY_OK, 0o644)])
        .await;
    // Several providers over the same directory stand for several processes.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let p = LocalProvider::builder()
            .state_dir(env.dir.path().join("state"))
            .build()
            .unwrap();
        let spec =
            FunctionSpec::new("race", "python3.12".parse().unwrap(), "app.handler").memory_mb(128 + 64 * (i + 1));
        let src = env.dir.path().join("src-race");
        let zip = env.dir.path().join(format!("race-{i}.zip"));
        tasks.push(tokio::spawn(async move {
            let pkg = PackageBuilder::new(&src).output(zip).build().unwrap();
            let artifact = p.upload("race", &pkg).await.unwrap();
            p.deploy(&spec, &artifact).await.unwrap();
            p.publish("race", &PublishRequest::default()).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().id);
    }
    let versions = env.provider.list_versions("race").await.unwrap();
    let listed: std::collections::BTreeSet<String> = versions.iter().map(|v| v.id.clone()).collect();
    assert!(
        ids.iter().all(|id| listed.contains(id)),
        "every published version is recorded: {ids:?} vs {listed:?}"
    );
    let numbers: Vec<u64> = versions.iter().map(|v| v.id.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "ids are unique and increasing: {numbers:?}"
    );
    env.state_is_intact();
}

#[tokio::test]
async fn async_and_dry_run_invocations() {
    let env = Env::new();
    env.deploy("bg", "python3.12", "app.handler", &[("app.py", PY_OK, 0o644)])
        .await;
    let mut req = InvokeRequest::json(&serde_json::json!({}));
    req.mode = faas_core::InvokeMode::Async;
    assert_eq!(env.provider.invoke("bg", &req).await.unwrap().status, 202);
    req.mode = faas_core::InvokeMode::DryRun;
    assert_eq!(env.provider.invoke("bg", &req).await.unwrap().status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_functions_deploy_under_a_bound() {
    let env = Env::new();
    let provider: std::sync::Arc<dyn Provider> = std::sync::Arc::new(env.provider.clone());
    let mut jobs = Vec::new();
    for i in 0..6 {
        let src = env.dir.path().join(format!("many-{i}"));
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("app.py"), format!("def handler(e, c):\n    return {i}\n")).unwrap();
        let package = PackageBuilder::new(&src)
            .output(env.dir.path().join(format!("many-{i}.zip")))
            .build()
            .unwrap();
        jobs.push(faas_core::DeployJob {
            spec: FunctionSpec::new(format!("many-{i}"), "python3.12".parse().unwrap(), "app.handler"),
            package,
            options: DeployOptions {
                publish: true,
                label: Some("live".into()),
                ..DeployOptions::default()
            },
        });
    }
    // A bad one fails alone.
    jobs[3].spec.memory_mb = 1;
    let results = faas_core::deploy_many(provider.clone(), jobs.clone(), 3).await;
    assert_eq!(results.len(), 6);
    for (i, (name, r)) in results.iter().enumerate() {
        assert_eq!(name, &format!("many-{i}"));
        if i == 3 {
            assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
        } else {
            assert_eq!(r.as_ref().unwrap().version.as_ref().unwrap().id, "1");
        }
    }
    let again = faas_core::deploy_many(provider, jobs, 3).await;
    assert!(
        again
            .iter()
            .filter(|(n, _)| n != "many-3")
            .all(|(_, r)| r.as_ref().unwrap().change.is_noop())
    );
}
