//! Running one invocation in a child process behind the Runtime API.
//!
//! The child is the function's `bootstrap` (custom runtimes) or our Python / Node bootstrap,
//! started with the environment Lambda sets. The run is timed from the runtime's first
//! `GET /next` (init before it, the handler after it); peak memory is the child's `VmHWM`
//! from `/proc`, read while it runs and just before it is stopped; stdout and stderr are read
//! into a bounded tail, so a function printing 100 MB costs no more memory than one printing
//! nothing. Memory is measured, not enforced. The child runs in its own process group, killed
//! as a whole when the invocation ends, so nothing a handler starts outlives it; as root it
//! runs without capabilities (`setpriv`), so it cannot write its sealed code tree.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::runtime_api::{Event, RuntimeApi, RuntimeSignal};
use super::sandbox;
use crate::{Error, ExecutionReport, FunctionError, FunctionSpec, Invocation, Result, RuntimeFamily};

/// Bytes of log kept in memory per invocation.
const LOG_KEEP: usize = 64 * 1024;
/// Bytes of log returned as the tail (Lambda returns the last 4 KB).
pub(crate) const TAIL_BYTES: usize = 4 * 1024;
/// Lambda's limit on initialisation.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// One invocation to run.
#[derive(Debug, Clone)]
pub(crate) struct RunRequest {
    pub version: String,
    pub spec: FunctionSpec,
    pub code_dir: PathBuf,
    /// The state directory (the sandbox binds it back in when it lives under `/tmp`).
    pub state_dir: PathBuf,
    pub bootstrap_dir: PathBuf,
    pub payload: Vec<u8>,
    pub python: Option<String>,
    pub node: String,
    pub region: String,
}

#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
    dropped: u64,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data);
        let excess = self.bytes.len().saturating_sub(LOG_KEEP);
        if excess > 0 {
            self.bytes.drain(..excess);
            self.dropped += excess as u64;
        }
    }
}

async fn pump(mut from: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.lock().unwrap_or_else(PoisonError::into_inner).push(&buf[..n]);
    }
}

fn peak_rss_kb(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The real executable behind an interpreter command, so that version-manager shims (pyenv,
/// asdf), which need the environment we clear, are resolved once with the caller's environment.
fn resolve_interpreter(cmd: &str, probe: &[&str]) -> Option<String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(cmd) {
        return found.clone();
    }
    let resolved = std::process::Command::new(cmd)
        .args(probe)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty());
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(cmd.to_string(), resolved.clone());
    resolved
}

fn command(req: &RunRequest, request_id: &str) -> std::io::Result<(Command, sandbox::Tmp)> {
    let launch = sandbox::Launch {
        state: &req.state_dir,
        task: &req.code_dir,
        tmp_mb: req.spec.aws.ephemeral_storage_mb.unwrap_or(sandbox::DEFAULT_TMP_MB),
        request_id,
    };
    let (mut cmd, tmp) = match req.spec.runtime.family() {
        RuntimeFamily::Python => {
            // The runtime's own version when installed, else python3 (the configured one wins).
            let versioned = format!("python{}", req.spec.runtime.version().unwrap_or("3"));
            let candidates = match &req.python {
                Some(p) => vec![p.clone()],
                None => vec![versioned, "python3".to_string()],
            };
            let probe = ["-c", "import sys; print(sys.executable)"];
            let python = candidates
                .iter()
                .find_map(|c| resolve_interpreter(c, &probe))
                .unwrap_or_else(|| candidates[candidates.len() - 1].clone());
            let (mut c, tmp) = sandbox::command(&launch, python)?;
            c.arg("-u").arg(req.bootstrap_dir.join("bootstrap.py"));
            (c, tmp)
        }
        RuntimeFamily::Node => {
            let node = resolve_interpreter(&req.node, &["-e", "console.log(process.execPath)"]);
            let (mut c, tmp) = sandbox::command(&launch, node.unwrap_or_else(|| req.node.clone()))?;
            c.arg(req.bootstrap_dir.join("bootstrap.js"));
            (c, tmp)
        }
        _ => sandbox::command(&launch, req.code_dir.join("bootstrap"))?,
    };
    cmd.current_dir(&req.code_dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("TMPDIR", &tmp.dir);
    Ok((cmd, tmp))
}

fn lambda_env(cmd: &mut Command, req: &RunRequest, api: &str, request_id: &str) {
    let s = &req.spec;
    let task_root = req.code_dir.display().to_string();
    for (k, v) in &s.environment {
        cmd.env(k, v);
    }
    cmd.env("LANG", "en_US.UTF-8")
        .env("TZ", ":UTC")
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("LAMBDA_RUNTIME_DIR", req.bootstrap_dir.display().to_string())
        .env("_HANDLER", &s.handler)
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", &s.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", s.memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", &req.version)
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", s.name))
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[{}]{request_id}", req.version),
        )
        .env("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", s.runtime.lambda_name()))
        .env("AWS_REGION", &req.region)
        .env("AWS_DEFAULT_REGION", &req.region);
    if s.runtime.family() == RuntimeFamily::Python {
        cmd.env("PYTHONPATH", &task_root).env("PYTHONDONTWRITEBYTECODE", "1");
    }
    if s.runtime.family() == RuntimeFamily::Node {
        cmd.env("NODE_PATH", format!("{task_root}/node_modules"));
    }
}

/// Lambda's shape of an error body, read from what the runtime posted.
fn function_error(header_type: Option<String>, body: &[u8]) -> FunctionError {
    FunctionError::from_body(header_type.as_deref(), body)
}

fn error_payload(fe: &FunctionError) -> Vec<u8> {
    serde_json::json!({"errorType": fe.error_type, "errorMessage": fe.message, "stackTrace": fe.trace})
        .to_string()
        .into_bytes()
}

enum Ending {
    Response(Vec<u8>, Instant),
    Failed(FunctionError, Option<Instant>),
}

/// Runs the invocation and returns what Lambda would.
pub(crate) async fn run(req: RunRequest) -> Result<Invocation> {
    let called = Instant::now();
    let request_id = new_request_id();
    let timeout = Duration::from_secs(u64::from(req.spec.timeout_s));
    let mut api = RuntimeApi::start(Event {
        request_id: request_id.clone(),
        payload: req.payload.clone(),
        function_arn: format!("arn:aws:lambda:{}:000000000000:function:{}", req.region, req.spec.name),
        timeout_ms: timeout.as_millis() as u64,
    })
    .await
    .map_err(|e| Error::io("runtime API listener", e))?;

    let (mut cmd, _tmp) = command(&req, &request_id).map_err(|e| Error::io(req.state_dir.display(), e))?;
    lambda_env(&mut cmd, &req, &api.address, &request_id);
    let tail = Arc::new(Mutex::new(Tail::default()));
    let spawned = Instant::now();
    // Checked here: through setpriv, a bootstrap that cannot run would look like an exit.
    let entrypoint = match req.spec.runtime.family() {
        RuntimeFamily::Python | RuntimeFamily::Node => Ok(()),
        _ => runnable(&req.code_dir.join("bootstrap")),
    };
    let mut child = match entrypoint.and_then(|()| cmd.spawn()) {
        Ok(c) => c,
        Err(e) => {
            let fe = FunctionError {
                error_type: "Runtime.InvalidEntrypoint".into(),
                message: format!("RequestId: {request_id} Error: could not start the runtime: {e}"),
                trace: Vec::new(),
            };
            return Ok(finish(
                &req,
                &request_id,
                called,
                Ending::Failed(fe, None),
                None,
                spawned,
                0,
                &tail,
            ));
        }
    };
    let pid = child.id();
    let pumps = [
        child.stdout.take().map(|o| tokio::spawn(pump(o, tail.clone()))),
        child.stderr.take().map(|e| tokio::spawn(pump(e, tail.clone()))),
    ];

    let mut peak_kb = 0u64;
    let mut started: Option<Instant> = None;
    let mut deadline = spawned + INIT_LIMIT.max(timeout);
    let mut sample = tokio::time::interval(Duration::from_millis(10));
    let ending = loop {
        tokio::select! {
            signal = api.signals.recv() => match signal {
                Some(RuntimeSignal::Next(at)) => {
                    started = Some(at);
                    deadline = at + timeout;
                }
                Some(RuntimeSignal::Response(body, at)) => break Ending::Response(body.to_vec(), at),
                Some(RuntimeSignal::Error(t, body, at)) => break Ending::Failed(function_error(t, &body), Some(at)),
                Some(RuntimeSignal::InitError(t, body)) => break Ending::Failed(function_error(t, &body), None),
                Some(RuntimeSignal::Protocol(msg)) => tracing::warn!(function = %req.spec.name, "{msg}"),
                None => break Ending::Failed(exit_error(&request_id, "the runtime API stopped"), None),
            },
            status = child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                // A response may have been posted just before the exit.
                match api.signals.try_recv() {
                    Ok(RuntimeSignal::Response(body, at)) => break Ending::Response(body.to_vec(), at),
                    Ok(RuntimeSignal::Error(t, body, at)) => break Ending::Failed(function_error(t, &body), Some(at)),
                    Ok(RuntimeSignal::InitError(t, body)) => break Ending::Failed(function_error(t, &body), None),
                    _ => break Ending::Failed(exit_error(&request_id, &format!("Runtime exited with error: {status}")), None),
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let limit = if started.is_some() { timeout } else { INIT_LIMIT.max(timeout) };
                let message = format!("{request_id} Task timed out after {:.2} seconds", limit.as_secs_f64());
                tail.lock().unwrap_or_else(PoisonError::into_inner).push(format!("{message}\n").as_bytes());
                break Ending::Failed(FunctionError { error_type: "Sandbox.Timedout".into(), message, trace: Vec::new() }, Some(Instant::now()));
            }
            _ = sample.tick() => {
                peak_kb = peak_kb.max(peak_rss_kb(pid).unwrap_or(0));
            }
        }
    };
    peak_kb = peak_kb.max(peak_rss_kb(pid).unwrap_or(0));
    stop(&mut child, pid).await;
    for p in pumps.into_iter().flatten() {
        // The pipes close when the process is gone; a grandchild holding them is not waited for.
        let _ = tokio::time::timeout(Duration::from_millis(500), p).await;
    }
    drop(api);
    Ok(finish(
        &req,
        &request_id,
        called,
        ending,
        started,
        spawned,
        peak_kb,
        &tail,
    ))
}

/// Whether `path` is an executable file (what `execve` would refuse otherwise).
fn runnable(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} is not an executable file", path.display()),
        ));
    }
    Ok(())
}

/// Kills the runtime and everything it started (its process group), then reaps it.
async fn stop(child: &mut Child, group: Option<u32>) {
    crate::process::kill_group(group);
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
}

fn exit_error(request_id: &str, what: &str) -> FunctionError {
    FunctionError {
        error_type: "Runtime.ExitError".into(),
        message: format!("RequestId: {request_id} Error: {what}"),
        trace: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    req: &RunRequest,
    request_id: &str,
    called: Instant,
    ending: Ending,
    started: Option<Instant>,
    spawned: Instant,
    peak_kb: u64,
    tail: &Mutex<Tail>,
) -> Invocation {
    let (payload, function_error, ended) = match ending {
        Ending::Response(body, at) => (body, None, Some(at)),
        Ending::Failed(fe, at) => (error_payload(&fe), Some(fe), at),
    };
    let init_ms = started.map(|s| (s - spawned).as_secs_f64() * 1000.0);
    let duration_ms = match (started, ended) {
        (Some(s), Some(e)) => (e - s).as_secs_f64() * 1000.0,
        _ => 0.0,
    };
    let report = ExecutionReport {
        duration_ms,
        billed_duration_ms: duration_ms.ceil().max(1.0) as u64,
        memory_size_mb: req.spec.memory_mb,
        max_memory_used_mb: peak_kb.div_ceil(1024) as u32,
        init_duration_ms: init_ms,
    };
    let log = {
        let t = tail.lock().unwrap_or_else(PoisonError::into_inner);
        let (a, b) = t.bytes.as_slices();
        let mut body = Vec::with_capacity(a.len() + b.len());
        body.extend_from_slice(a);
        body.extend_from_slice(b);
        let mut text = format!("START RequestId: {request_id} Version: {}\n", req.version);
        if t.dropped > 0 {
            text.push_str(&format!("[faas: {} earlier log bytes not kept]\n", t.dropped));
        }
        text.push_str(&String::from_utf8_lossy(&body));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "END RequestId: {request_id}\n{}\n",
            report.to_line(request_id)
        ));
        text
    };
    let cut = log.len().saturating_sub(TAIL_BYTES);
    let cut = (cut..log.len()).find(|i| log.is_char_boundary(*i)).unwrap_or(log.len());
    tracing::debug!(function = %req.spec.name, version = %req.version, "{}", report.to_line(request_id));
    Invocation {
        status: 200,
        payload,
        function_error,
        executed_version: Some(req.version.clone()),
        log_tail: Some(log[cut..].to_string()),
        report: Some(report),
        elapsed: called.elapsed(),
        headers: Default::default(),
    }
}

/// A random request id shaped like a UUID v4.
pub(crate) fn new_request_id() -> String {
    let mut rng = fastrand::Rng::new();
    let hex: String = (0..32)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
