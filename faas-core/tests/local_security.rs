//! The local provider's security holes, each closed: old secrets in plans, code that rewrites
//! itself, and names or state values that climb out of the state directory.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use faas_core::local::LocalProvider;
use faas_core::{
    DeployOptions, Error, FunctionSpec, InvokeRequest, Provider, ProviderExt, PublishRequest, Routing, local_artifact,
};
use faas_package::{Package, PackageBuilder};

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

    fn state(&self) -> PathBuf {
        self.provider.state_dir()
    }

    fn package(&self, name: &str, files: &[(&str, &str)]) -> Package {
        let src = self.dir.path().join(format!("src-{name}"));
        for (rel, content) in files {
            fs::create_dir_all(src.join(rel).parent().unwrap()).unwrap();
            fs::write(src.join(rel), content).unwrap();
        }
        PackageBuilder::new(&src)
            .output(self.dir.path().join(format!("{name}.zip")))
            .build()
            .unwrap()
    }

    async fn invoke(&self, name: &str, qualifier: Option<&str>) -> serde_json::Value {
        let mut req = InvokeRequest::json(&serde_json::json!({}));
        req.qualifier = qualifier.map(str::to_string);
        let inv = self.provider.invoke(name, &req).await.unwrap();
        assert!(
            inv.function_error.is_none(),
            "{:?} {:?}",
            inv.function_error,
            inv.log_tail
        );
        serde_json::from_slice(&inv.payload).unwrap()
    }
}

fn spec(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, "python3.12".parse().unwrap(), "app.handler").timeout_s(5)
}

/// Every file below `dir`, for "nothing was written" checks.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

// 1. A secret printed once it stops being secret.

#[tokio::test]
async fn a_secret_made_plain_or_removed_is_never_printed_in_a_plan() {
    let env = Env::new();
    let pkg = env.package("s", &[("app.py", "def handler(e, c):\n    return {}\n")]);
    let first = spec("s")
        .secret_env("TOKEN", "canary-token-value")
        .secret_env("DROPPED", "canary-dropped-value");
    env.provider
        .deploy_package(&first, &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let next = spec("s").env("TOKEN", "plain-now");
    let plan = env.provider.plan(&next, &local_artifact(&pkg)).await.unwrap();
    let report = env
        .provider
        .deploy_package(
            &next,
            &pkg,
            &DeployOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let shown = format!(
        "{plan}\n{}\n{}\n{:?}",
        serde_json::to_string(&plan).unwrap(),
        serde_json::to_string(&report).unwrap(),
        report
    );
    assert!(!shown.contains("canary"), "{shown}");
    assert!(
        shown.contains("environment.TOKEN") && shown.contains("environment.DROPPED"),
        "{shown}"
    );
}

// 2. "Immutable" code rewritten by the function itself.

const SELF_WRITER: &str = r#"import os
ANSWER = "original"
def handler(event, context):
    root = os.environ["LAMBDA_TASK_ROOT"]
    tried = {}
    try:
        with open(os.path.join(root, "app.py"), "a") as f:
            f.write("\nANSWER = 'rewritten'\n")
        tried["module"] = "written"
    except OSError as e:
        tried["module"] = type(e).__name__
    try:
        with open(os.path.join(root, "planted.py"), "w") as f:
            f.write("x = 1\n")
        tried["new_file"] = "written"
    except OSError as e:
        tried["new_file"] = type(e).__name__
    try:
        os.chmod(os.path.join(root, "app.py"), 0o666)
        tried["chmod"] = "done"
    except OSError as e:
        tried["chmod"] = type(e).__name__
    return {"answer": ANSWER, "tried": tried}
"#;

#[tokio::test]
async fn a_handler_cannot_change_the_code_it_runs() {
    let env = Env::new();
    let pkg = env.package("w", &[("app.py", SELF_WRITER)]);
    env.provider
        .deploy_package(
            &spec("w"),
            &pkg,
            &DeployOptions {
                publish: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let first = env.invoke("w", Some("1")).await;
    assert_eq!(first["answer"], "original");
    assert_ne!(first["tried"]["module"], "written", "{first}");
    assert_ne!(first["tried"]["new_file"], "written", "{first}");
    // Whatever the handler managed (a non-root owner may chmod), the next run is the original.
    for q in [Some("1"), None] {
        let again = env.invoke("w", q).await;
        assert_eq!(again["answer"], "original", "{again}");
    }
}

#[tokio::test]
async fn altered_or_replaced_code_is_rebuilt_from_the_artifact_before_use() {
    let env = Env::new();
    let pkg = env.package(
        "t",
        &[("app.py", "def handler(e, c):\n    return {'answer': 'original'}\n")],
    );
    env.provider
        .deploy_package(&spec("t"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(env.invoke("t", None).await["answer"], "original");
    let tree = env.state().join("code").join(&pkg.sha256);
    let module = tree.join("app.py");
    // Tampered from outside (as another process with write access would).
    let mut perms = fs::metadata(&module).unwrap().permissions();
    assert!(perms.readonly(), "the code tree is sealed read-only");
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(&module, perms).unwrap();
    fs::write(&module, "def handler(e, c):\n    return {'answer': 'tampered'}\n").unwrap();
    assert_eq!(env.invoke("t", None).await["answer"], "original");
    // A redeploy of the same source is unchanged and still runs the original code.
    let report = env
        .provider
        .deploy_package(&spec("t"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    assert!(report.change.is_noop());
    assert_eq!(env.invoke("t", None).await["answer"], "original");
    // A tree replaced wholesale by a directory of the same name is not trusted either.
    let aside = env.state().join("code").join("aside");
    fs::rename(&tree, &aside).unwrap();
    fs::create_dir(&tree).unwrap();
    fs::write(
        tree.join("app.py"),
        "def handler(e, c):\n    return {'answer': 'planted'}\n",
    )
    .unwrap();
    assert_eq!(env.invoke("t", None).await["answer"], "original");
}

#[tokio::test]
async fn an_altered_artifact_is_refused_not_run() {
    let env = Env::new();
    let pkg = env.package("a", &[("app.py", "def handler(e, c):\n    return {}\n")]);
    env.provider
        .deploy_package(&spec("a"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let artifact = env.state().join("artifacts").join(format!("{}.zip", pkg.sha256));
    let other = env.package("b", &[("app.py", "def handler(e, c):\n    return {'evil': 1}\n")]);
    fs::copy(&other.path, &artifact).unwrap();
    fs::remove_file(env.state().join("code").join(format!("{}.manifest", pkg.sha256))).unwrap();
    let err = env
        .provider
        .invoke("a", &InvokeRequest::json(&serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { message, .. } if message.contains("altered")),
        "{err}"
    );
    // Uploading the real package again repairs it.
    env.provider.upload("a", &pkg).await.unwrap();
    assert_eq!(env.invoke("a", None).await, serde_json::json!({}));
}

// 3. Path traversal to code execution.

fn invalid_field(err: Error) -> String {
    match err {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[tokio::test]
async fn names_are_checked_on_every_operation_before_any_file_is_touched() {
    let env = Env::new();
    let before = files(env.dir.path());
    let p = &env.provider;
    let req = InvokeRequest::json(&serde_json::json!({}));
    for bad in ["../../evil", "a/b", "", "x y", "..", &"n".repeat(65)] {
        assert_eq!(invalid_field(p.invoke(bad, &req).await.unwrap_err()), "function");
        assert_eq!(invalid_field(p.get(bad).await.unwrap_err()), "function");
        assert_eq!(invalid_field(p.get_qualified(bad, "1").await.unwrap_err()), "function");
        assert_eq!(invalid_field(p.delete(bad).await.unwrap_err()), "function");
        assert_eq!(
            invalid_field(p.publish(bad, &PublishRequest::default()).await.unwrap_err()),
            "function"
        );
        assert_eq!(invalid_field(p.list_versions(bad).await.unwrap_err()), "function");
        assert_eq!(invalid_field(p.delete_version(bad, "1").await.unwrap_err()), "function");
        assert_eq!(
            invalid_field(p.set_label(bad, "live", &Routing::to("1")).await.unwrap_err()),
            "function"
        );
        assert_eq!(invalid_field(p.get_label(bad, "live").await.unwrap_err()), "function");
        assert_eq!(invalid_field(p.list_labels(bad).await.unwrap_err()), "function");
        assert_eq!(
            invalid_field(p.delete_label(bad, "live").await.unwrap_err()),
            "function"
        );
    }
    for bad in ["123", "$LATEST", "has space", "ünïcode", &"l".repeat(129), "../x"] {
        assert_eq!(
            invalid_field(p.set_label("f", bad, &Routing::to("1")).await.unwrap_err()),
            "label"
        );
    }
    for bad in ["../1", "1.0", "a b", "live/../x"] {
        let req = InvokeRequest::json(&serde_json::json!({})).qualifier(bad);
        assert_eq!(invalid_field(p.invoke("f", &req).await.unwrap_err()), "qualifier");
    }
    assert_eq!(files(env.dir.path()), before, "nothing was written");
}

#[tokio::test]
async fn values_read_from_state_are_untrusted() {
    let env = Env::new();
    // Code somewhere outside the state directory, and a record pointing at it.
    let outside = env.dir.path().join("evil");
    fs::create_dir_all(&outside).unwrap();
    fs::write(
        outside.join("app.py"),
        "def handler(e, c):\n    return {'pwned': True}\n",
    )
    .unwrap();
    let pkg = env.package("r", &[("app.py", "def handler(e, c):\n    return {}\n")]);
    env.provider
        .deploy_package(&spec("r"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let record = env.state().join("functions/r.json");
    let mut rec: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
    rec["code_sha256"] = serde_json::json!("../../evil");
    fs::write(&record, serde_json::to_vec(&rec).unwrap()).unwrap();
    let err = env
        .provider
        .invoke("r", &InvokeRequest::json(&serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("code hash"), "{err}");
    // A record filed under another function's name is refused too.
    rec["code_sha256"] = serde_json::json!(pkg.sha256);
    rec["spec"]["name"] = serde_json::json!("other");
    fs::write(&record, serde_json::to_vec(&rec).unwrap()).unwrap();
    let err = env.provider.get("r").await.unwrap_err();
    assert!(err.to_string().contains("another function"), "{err}");
}

// 9. Half-done deploys on bad input.

#[tokio::test]
async fn bad_input_is_refused_before_the_first_write() {
    let env = Env::new();
    let pkg = env.package("h", &[("app.py", "def handler(e, c):\n    return {}\n")]);
    let state = env.state();
    assert!(!state.exists(), "opening a provider creates nothing");
    for bad in ["123", "$LATEST", "has space", "../x"] {
        let opts = DeployOptions {
            publish: true,
            label: Some(bad.into()),
            ..Default::default()
        };
        let e = env.provider.deploy_package(&spec("h"), &pkg, &opts).await.unwrap_err();
        assert_eq!(invalid_field(e), "label", "{bad:?}");
    }
    // A dry run and reads against a missing state directory leave none behind.
    let dry = DeployOptions {
        dry_run: true,
        publish: true,
        label: Some("live".into()),
        ..Default::default()
    };
    let report = env.provider.deploy_package(&spec("h"), &pkg, &dry).await.unwrap();
    assert!(report.dry_run && report.plan.creates());
    let e = env
        .provider
        .invoke("h", &InvokeRequest::json(&serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(env.provider.list_labels("h").await.is_err());
    assert!(!state.exists(), "nothing was written: {:?}", files(env.dir.path()));
}

// 7. Runaway handlers: children die with the invocation; /tmp is private and bounded.

const SPAWNER: &str = r#"import errno, os, subprocess, sys, time
def handler(event, context):
    mode = event.get("mode")
    if mode in ("spawn", "hang"):
        child = subprocess.Popen(["sleep", "60"], start_new_session=False)
        print("CHILD_PID=%d" % child.pid, flush=True)
        if mode == "hang":
            time.sleep(30)
        return {"pid": child.pid}
    if mode == "write":
        with open("/tmp/faas-probe-" + event["marker"], "w") as f:
            f.write("x")
        return {"listing": sorted(os.listdir("/tmp")), "tmpdir": os.environ.get("TMPDIR")}
    if mode == "list":
        return {"listing": sorted(os.listdir("/tmp"))}
    if mode == "fill":
        written, chunk = 0, b"\0" * (1 << 20)
        try:
            with open("/tmp/fill", "wb") as f:
                while written < (700 << 20):
                    f.write(chunk)
                    f.flush()
                    written += len(chunk)
        except OSError as e:
            return {"written": written, "errno": e.errno}
        return {"written": written, "errno": None}
"#;

fn gone(pid: u64) -> bool {
    // Dead, or a zombie waiting for a parent that is not ours to reap.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_gone(pid: u64) -> bool {
    for _ in 0..40 {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn children_a_handler_starts_die_with_its_environment() {
    let env = Env::new();
    let pkg = env.package("spawn", &[("app.py", SPAWNER)]);
    env.provider
        .deploy_package(&spec("spawn").timeout_s(1), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let req = |mode: &str| InvokeRequest {
        payload: serde_json::to_vec(&serde_json::json!({"mode": mode})).unwrap(),
        log_tail: true,
        ..InvokeRequest::default()
    };
    // A warm environment keeps what its handler started (as Lambda's does, frozen) …
    let done = env.provider.invoke("spawn", &req("spawn")).await.unwrap();
    let first: u64 = serde_json::from_slice::<serde_json::Value>(&done.payload).unwrap()["pid"]
        .as_u64()
        .unwrap();
    assert!(!gone(first), "the child {first} died with a warm environment");
    // … until the environment ends: a timeout kills its whole process group.
    let timed_out = env.provider.invoke("spawn", &req("hang")).await.unwrap();
    assert_eq!(timed_out.function_error.unwrap().error_type, "Sandbox.Timedout");
    let log = timed_out.log_tail.unwrap();
    let second: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("CHILD_PID="))
        .unwrap_or_else(|| panic!("{log}"))
        .trim()
        .parse()
        .unwrap();
    for pid in [first, second] {
        assert!(
            wait_gone(pid).await,
            "the child {pid} outlived the timed-out environment"
        );
    }
    assert!(
        env.provider.idle_environments().is_empty(),
        "a timed-out environment was kept"
    );
    // Dropping the provider ends its environments and what they started.
    let done = env.provider.invoke("spawn", &req("spawn")).await.unwrap();
    let third: u64 = serde_json::from_slice::<serde_json::Value>(&done.payload).unwrap()["pid"]
        .as_u64()
        .unwrap();
    drop(env.provider);
    assert!(wait_gone(third).await, "the child {third} outlived the provider");
}

#[tokio::test]
async fn tmp_is_private_to_each_environment_and_bounded() {
    let env = Env::new();
    let pkg = env.package("tmp", &[("app.py", SPAWNER)]);
    for f in ["tmp-a", "tmp-b"] {
        // Writing the /tmp limit's worth takes CPU: 1,024 MB gives 58 % of a core (128 MB's
        // 7 % timed out on a loaded machine).
        env.provider
            .deploy_package(&spec(f).memory_mb(1024), &pkg, &DeployOptions::default())
            .await
            .unwrap();
    }
    let call = |f: &'static str, event: serde_json::Value| {
        let p = env.provider.clone();
        async move {
            let inv = p.invoke(f, &InvokeRequest::json(&event)).await.unwrap();
            assert!(inv.function_error.is_none(), "{:?}", inv.log_tail);
            serde_json::from_slice::<serde_json::Value>(&inv.payload).unwrap()
        }
    };
    // The host's /tmp stays readable underneath; what a handler writes is its own.
    let has = |v: &serde_json::Value, name: &str| v["listing"].as_array().unwrap().iter().any(|e| e == name);
    let marker = format!("m{}", std::process::id());
    let probe = format!("faas-probe-{marker}");
    let wrote = call("tmp-a", serde_json::json!({"mode": "write", "marker": marker})).await;
    assert!(has(&wrote, &probe), "{wrote}");
    assert_eq!(wrote["tmpdir"], "/tmp");
    assert!(!Path::new("/tmp").join(&probe).exists(), "it reached the host's /tmp");
    let other = call("tmp-b", serde_json::json!({"mode": "list"})).await;
    assert!(!has(&other, &probe), "another function saw it");
    // A warm invocation sees what the earlier ones of its environment wrote, as on Lambda …
    let again = call("tmp-a", serde_json::json!({"mode": "list"})).await;
    assert!(
        has(&again, &probe),
        "/tmp did not persist in a warm environment: {again}"
    );
    // … and a new environment (another provider's) does not.
    let fresh = LocalProvider::builder().state_dir(env.state()).build().unwrap();
    let inv = fresh
        .invoke("tmp-a", &InvokeRequest::json(&serde_json::json!({"mode": "list"})))
        .await
        .unwrap();
    let listing: serde_json::Value = serde_json::from_slice(&inv.payload).unwrap();
    assert!(!has(&listing, &probe), "it outlived its environment: {listing}");
    drop(fresh);
    let left = fs::read_dir(env.state().join("tmp")).map_or(0, |d| d.count());
    assert_eq!(
        left,
        env.provider.idle_environments().len(),
        "an ended environment's temporary directory was left"
    );
    let filled = call("tmp-a", serde_json::json!({"mode": "fill"})).await;
    assert_eq!(filled["errno"], 28, "ENOSPC at the ephemeral storage limit: {filled}");
    let written = filled["written"].as_u64().unwrap();
    assert!(
        (500 << 20..=512 << 20).contains(&written),
        "{written} bytes fit in 512 MB"
    );
}

// 6. Zip bombs: unpacking stops at the unzipped limit.

#[tokio::test]
async fn a_zip_bomb_is_refused_while_unpacking_and_leaves_nothing() {
    use std::io::Write;
    let env = Env::new();
    let bomb = env.dir.path().join("bomb.zip");
    let mut w = zip::ZipWriter::new(fs::File::create(&bomb).unwrap());
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"def handler(e, c):\n    return {}\n").unwrap();
    w.start_file("zeros.bin", zip::write::SimpleFileOptions::default())
        .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..260 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap();
    // As a package described by another tool (its sizes not checked): upload unpacks it.
    let pkg = Package::from_zip(&bomb).unwrap();
    let err = env.provider.upload("bomb", &pkg).await.unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
    let code = env.state().join("code");
    let left: Vec<_> = fs::read_dir(&code).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        !env.state()
            .join("artifacts")
            .join(format!("{}.zip", pkg.sha256))
            .exists()
    );
}

// Lambda's payload limits: a 6 MB event, a 6 MB response.

#[tokio::test]
async fn oversized_events_and_responses_fail_as_on_lambda() {
    let env = Env::new();
    let pkg = env.package(
        "big",
        &[(
            "app.py",
            "def handler(e, c):\n    return {'x': 'y' * (e.get('mb', 0) << 20)}\n",
        )],
    );
    env.provider
        .deploy_package(
            &spec("big").timeout_s(30).memory_mb(1024),
            &pkg,
            &DeployOptions::default(),
        )
        .await
        .unwrap();
    let event = serde_json::json!({"pad": "p".repeat(6 * 1024 * 1024)});
    let e = env
        .provider
        .invoke("big", &InvokeRequest::json(&event))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(e), "payload");
    let started = std::time::Instant::now();
    for mb in [7, 13] {
        let inv = env
            .provider
            .invoke("big", &InvokeRequest::json(&serde_json::json!({"mb": mb})))
            .await
            .unwrap();
        let fe = inv.function_error.expect("a response-size error");
        assert_eq!(fe.error_type, "Function.ResponseSizeTooLarge", "{mb} MB: {fe:?}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "it waited out the timeout"
    );
}

#[tokio::test]
async fn a_zip_without_the_handler_or_empty_is_refused_before_deploying() {
    use std::io::Write;
    let env = Env::new();
    let zip_of = |name: &str, files: &[&str]| {
        let path = env.dir.path().join(name);
        let mut w = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        for f in files {
            w.start_file(*f, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(b"x = 1\n").unwrap();
        }
        w.finish().unwrap();
        Package::from_zip(&path).unwrap()
    };
    for pkg in [zip_of("empty.zip", &[]), zip_of("other.zip", &["other.py"])] {
        let e = env
            .provider
            .deploy_package(&spec("nohandler"), &pkg, &DeployOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Package(_)), "{e}");
    }
    assert!(!env.state().exists(), "nothing was written");
}

#[tokio::test]
async fn temporaries_a_killed_run_left_are_removed_when_the_state_is_opened() {
    let env = Env::new();
    let pkg = env.package("k", &[("app.py", "def handler(e, c):\n    return {}\n")]);
    env.provider
        .deploy_package(&spec("k"), &pkg, &DeployOptions::default())
        .await
        .unwrap();
    let state = env.state();
    let old_file = state.join("functions/.tmp-killed");
    let old_dir = state.join("code/.unpack-killed");
    fs::write(&old_file, b"{\"half\": ").unwrap();
    fs::create_dir_all(old_dir.join("sub")).unwrap();
    let fresh = state.join("artifacts/.tmp-running");
    fs::write(&fresh, b"being written").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for p in [&old_file, &old_dir] {
        fs::File::options()
            .read(true)
            .open(p)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
    }
    LocalProvider::builder().state_dir(&state).build().unwrap();
    assert!(!old_file.exists() && !old_dir.exists(), "stale temporaries were left");
    assert!(fresh.exists(), "a fresh temporary (a running deploy's) was removed");
}

// The design issue's builder shape: a provider built from string settings alone.

#[tokio::test]
async fn the_local_provider_builds_from_a_string_map_and_strict_settings() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let settings = [("state_dir", state.as_str()), ("seed", "7"), ("region", "eu-north-1")];
    let provider = settings
        .iter()
        .try_fold(faas_core::local::LocalBuilder::new(), |b, (k, v)| b.with_config(k, v))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(provider.state_dir(), Path::new(&state));
    for (k, v, word) in [("seed", "seven", "whole number"), ("colour", "blue", "state_dir")] {
        match faas_core::local::LocalBuilder::new().with_config(k, v) {
            Err(Error::InvalidConfig { key, reason, .. }) => {
                assert_eq!(key, k);
                assert!(reason.contains(word), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
