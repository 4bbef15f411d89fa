//! How a runtime process is started and what an invocation reports.
//!
//! The child is the function's `bootstrap` (custom runtimes) or our Python / Node bootstrap,
//! started with the environment Lambda sets (see the `env` module for its life: it serves
//! many invocations). An invocation is timed from the runtime's `GET /next` that takes the
//! event (a cold start's init is the time from the spawn to that first `GET /next`); the
//! result comes back as Lambda's answer, `REPORT` line and log tail.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use super::sandbox;
use crate::{ExecutionReport, FunctionError, FunctionSpec, Invocation, RuntimeFamily};

/// Bytes of log kept in memory per invocation.
pub(crate) const LOG_KEEP: usize = 64 * 1024;
/// Bytes of log returned as the tail (Lambda returns the last 4 KB).
pub(crate) const TAIL_BYTES: usize = 4 * 1024;
/// Lambda's limit on initialisation.
pub(crate) const INIT_LIMIT: Duration = Duration::from_secs(10);

/// What an execution environment runs: one version of one function.
#[derive(Debug, Clone)]
pub(crate) struct EnvRequest {
    pub version: String,
    pub spec: FunctionSpec,
    pub code_dir: PathBuf,
    /// The state directory (the sandbox binds it back in when it lives under `/tmp`).
    pub state_dir: PathBuf,
    pub bootstrap_dir: PathBuf,
    pub python: Option<String>,
    pub node: String,
    pub region: String,
}

pub(crate) fn peak_rss_kb(pid: Option<u32>) -> Option<u64> {
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

pub(crate) fn command(req: &EnvRequest, env_id: &str, cgroups: &[PathBuf]) -> std::io::Result<(Command, sandbox::Tmp)> {
    let launch = sandbox::Launch {
        state: &req.state_dir,
        task: &req.code_dir,
        tmp_mb: tmp_mb(req),
        env_id,
        cgroups,
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

/// The function's `/tmp` size in MB.
pub(crate) fn tmp_mb(req: &EnvRequest) -> u32 {
    req.spec.aws.ephemeral_storage_mb.unwrap_or(sandbox::DEFAULT_TMP_MB)
}

/// The error of a runtime killed for using more memory than it has, as Lambda reports it.
pub(crate) fn out_of_memory(request_id: &str) -> FunctionError {
    FunctionError {
        error_type: "Runtime.OutOfMemory".into(),
        message: format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
        trace: Vec::new(),
    }
}

pub(crate) fn lambda_env(cmd: &mut Command, req: &EnvRequest, api: &str, env_id: &str) {
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
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[{}]{env_id}", req.version))
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
pub(crate) fn function_error(header_type: Option<String>, body: &[u8]) -> FunctionError {
    FunctionError::from_body(header_type.as_deref(), body)
}

fn error_payload(fe: &FunctionError) -> Vec<u8> {
    serde_json::json!({"errorType": fe.error_type, "errorMessage": fe.message, "stackTrace": fe.trace})
        .to_string()
        .into_bytes()
}

/// How an invocation ended.
pub(crate) enum Ending {
    /// The runtime answered, at this instant.
    Response(Vec<u8>, Instant),
    /// It failed (the instant the failure was posted, when it was).
    Failed(FunctionError, Option<Instant>),
}

/// When the phases of one invocation happened.
pub(crate) struct Timing {
    /// The call began.
    pub called: Instant,
    /// The runtime took the event (the handler began).
    pub started: Option<Instant>,
    /// The process was started, when this invocation started it (a cold start).
    pub spawned: Option<Instant>,
}

/// Whether `path` is an executable file (what `execve` would refuse otherwise).
pub(crate) fn runnable(path: &std::path::Path) -> std::io::Result<()> {
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

pub(crate) fn exit_error(request_id: &str, what: &str) -> FunctionError {
    FunctionError {
        error_type: "Runtime.ExitError".into(),
        message: format!("RequestId: {request_id} Error: {what}"),
        trace: Vec::new(),
    }
}

/// The invocation as Lambda reports it: payload, error, `REPORT` figures and the log tail
/// (`log` is what the runtime printed meanwhile, `dropped` the bytes of it not kept).
pub(crate) fn finish(
    req: &EnvRequest,
    request_id: &str,
    ending: Ending,
    timing: &Timing,
    peak_kb: u64,
    (log, dropped): (Vec<u8>, u64),
) -> Invocation {
    let (payload, function_error, ended) = match ending {
        Ending::Response(body, at) => (body, None, Some(at)),
        Ending::Failed(fe, at) => (error_payload(&fe), Some(fe), at),
    };
    let init_ms = match (timing.spawned, timing.started) {
        (Some(spawned), Some(started)) => Some((started - spawned).as_secs_f64() * 1000.0),
        _ => None,
    };
    let duration_ms = match (timing.started, ended) {
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
        let mut text = format!("START RequestId: {request_id} Version: {}\n", req.version);
        if dropped > 0 {
            text.push_str(&format!("[faas: {dropped} earlier log bytes not kept]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&log));
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
        elapsed: timing.called.elapsed(),
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
