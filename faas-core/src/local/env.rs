//! One execution environment: a runtime process and its Runtime API server, serving one
//! version of one function for as many invocations as it stays healthy.
//!
//! Started by the first invocation that needs it (a cold start: the init, until the runtime's
//! first `GET /next`, is reported as `Init Duration`); every later invocation hands its event
//! to the runtime already waiting in `GET /next` (warm: module globals and `/tmp` are what
//! the earlier invocations left). A timeout, a runtime that exits, or an init failure ends the
//! environment: it is killed and the next invocation starts a new one. Dropping an environment
//! kills its process group.
//!
//! Output is read from the runtime's stdout and stderr into a bounded tail, so a function
//! printing 100 MB costs no more memory than one printing nothing; when an invocation ends,
//! whatever the runtime wrote before answering is still in the pipes and is read to the end
//! (non-blocking) before the tail is cut, so each invocation gets its own lines. Peak memory
//! is the runtime's `VmHWM`: the environment's high-water mark, as Lambda's `Max Memory Used`.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::time::Instant;

use super::limits::{self, Cgroup};
use super::runner::{self, Ending, EnvRequest, INIT_LIMIT, LOG_KEEP, Timing};
use super::runtime_api::{Event, RuntimeApi, RuntimeSignal};
use super::sandbox;
use crate::{Error, FunctionError, Invocation, Result, RuntimeFamily};

/// One invocation for an environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Call {
    /// The event (JSON).
    pub payload: Vec<u8>,
    /// The request id to use (a function URL puts it in its event first); a new one if `None`.
    pub request_id: Option<String>,
    /// The client context (JSON text), for the runtime's `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
}

impl Call {
    /// The call of `request` (its event already checked: `payload`), with the request id a
    /// served call chose, if any.
    pub fn of(request: &crate::InvokeRequest, payload: Vec<u8>) -> Call {
        Call {
            payload,
            request_id: super::serve::chosen_request_id(),
            // Lambda passes the client context to synchronous invocations only.
            client_context: request
                .client_context
                .clone()
                .filter(|_| request.mode == crate::InvokeMode::Sync),
        }
    }
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

    /// What was printed since the last take, and how many bytes of it were not kept.
    fn take(&mut self) -> (Vec<u8>, u64) {
        let bytes = std::mem::take(&mut self.bytes).into();
        (bytes, std::mem::take(&mut self.dropped))
    }
}

/// Reads what `fd` holds now into `tail`, without waiting: `Ok` at the end of the stream,
/// `WouldBlock` when the pipe is empty. Under the tail's lock, so that the pump and the
/// final read of an invocation never interleave.
fn read_available(fd: impl AsFd, tail: &Mutex<Tail>) -> std::io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => tail.push(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

async fn pump(rx: Arc<pipe::Receiver>, tail: Arc<Mutex<Tail>>) {
    loop {
        if rx.readable().await.is_err() {
            return;
        }
        match rx.try_io(|| read_available(rx.as_fd(), &tail)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return,
        }
    }
}

/// A pipe of the child as a non-blocking reader of our own.
fn receiver(fd: Option<std::io::Result<OwnedFd>>) -> Option<Arc<pipe::Receiver>> {
    pipe::Receiver::from_owned_fd(fd?.ok()?).ok().map(Arc::new)
}

/// A running (or failed-to-start) execution environment.
pub(crate) struct Environment {
    req: EnvRequest,
    /// Names the environment (its log stream, its fallback `TMPDIR`).
    pub id: String,
    child: Option<Child>,
    /// Why the runtime could not be started, reported by the first invocation.
    spawn_error: Option<String>,
    pid: Option<u32>,
    api: RuntimeApi,
    tail: Arc<Mutex<Tail>>,
    outputs: Vec<Arc<pipe::Receiver>>,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    _tmp: sandbox::Tmp,
    /// Limits its memory and CPU, where cgroups can (dropped after the processes are).
    cgroup: Option<Cgroup>,
    spawned: Instant,
    /// The runtime finished its init (took a first event).
    initialised: bool,
    /// Still fit to serve an invocation.
    healthy: bool,
    peak_kb: u64,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("id", &self.id)
            .field("function", &self.req.spec.name)
            .field("version", &self.req.version)
            .field("pid", &self.pid)
            .field("healthy", &self.healthy)
            .finish_non_exhaustive()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        crate::process::kill_group(self.pid.take());
        for p in &self.pumps {
            p.abort();
        }
        // Reaped here when it goes at once, so that its cgroup (dropped next) can be removed;
        // otherwise `kill_on_drop` kills it and tokio reaps it. [`Environment::shutdown`]
        // does this without blocking.
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            for _ in 0..50 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Environment {
    /// Starts the runtime for `req` (its init runs while the first invocation waits).
    /// Without `cgroups`, none is made (memory is then watched, CPU not limited).
    pub async fn start(req: EnvRequest, cgroups: bool) -> Result<Environment> {
        let id = runner::new_request_id();
        let api = RuntimeApi::start()
            .await
            .map_err(|e| Error::io("runtime API listener", e))?;
        let tmpfs = if sandbox::tmpfs_tmp() { runner::tmp_mb(&req) } else { 0 };
        let cgroup = cgroups.then(|| Cgroup::create(req.spec.memory_mb, tmpfs)).flatten();
        let procs = cgroup.as_ref().map(Cgroup::procs).unwrap_or_default();
        let (mut cmd, tmp) = runner::command(&req, &id, &procs).map_err(|e| Error::io(req.state_dir.display(), e))?;
        runner::lambda_env(&mut cmd, &req, &api.address, &id);
        let spawned = Instant::now();
        // Checked here: through setpriv, a bootstrap that cannot run would look like an exit.
        let entrypoint = match req.spec.runtime.family() {
            RuntimeFamily::Python | RuntimeFamily::Node => Ok(()),
            _ => runner::runnable(&req.code_dir.join("bootstrap")),
        };
        let tail = Arc::new(Mutex::new(Tail::default()));
        let (child, spawn_error) = match entrypoint.and_then(|()| cmd.spawn()) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let mut env = Environment {
            req,
            id,
            pid: child.as_ref().and_then(Child::id),
            child,
            spawn_error,
            api,
            tail,
            outputs: Vec::new(),
            pumps: Vec::new(),
            _tmp: tmp,
            cgroup,
            spawned,
            initialised: false,
            healthy: true,
            peak_kb: 0,
        };
        if let Some(child) = env.child.as_mut() {
            let out = receiver(child.stdout.take().map(|o| o.into_owned_fd()));
            let err = receiver(child.stderr.take().map(|e| e.into_owned_fd()));
            env.outputs = out.into_iter().chain(err).collect();
        }
        env.pumps = env
            .outputs
            .iter()
            .map(|fd| tokio::spawn(pump(fd.clone(), env.tail.clone())))
            .collect();
        Ok(env)
    }

    /// The runtime's process id (the leader of its process group), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether it can serve another invocation: it is healthy and its runtime still runs.
    pub fn usable(&mut self) -> bool {
        let running = self.healthy && self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        if !running {
            // Whatever the runtime left in its group goes with it.
            crate::process::kill_group(self.pid.take());
        }
        running
    }

    /// Whether the last invocation left it fit for another.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Runs one invocation and returns what Lambda would. A timeout, an exit or an init
    /// failure leaves the environment unhealthy, its processes killed.
    pub async fn invoke(&mut self, call: Call) -> Invocation {
        let called = Instant::now();
        let request_id = call.request_id.unwrap_or_else(runner::new_request_id);
        let cold = !self.initialised;
        let mut timing = Timing {
            called,
            started: None,
            spawned: cold.then_some(self.spawned),
        };
        let Some(child) = self.child.as_mut() else {
            self.healthy = false;
            let fe = FunctionError {
                error_type: "Runtime.InvalidEntrypoint".into(),
                message: format!(
                    "RequestId: {request_id} Error: could not start the runtime: {}",
                    self.spawn_error.as_deref().unwrap_or("no process")
                ),
                trace: Vec::new(),
            };
            return runner::finish(
                &self.req,
                &request_id,
                Ending::Failed(fe, None),
                &timing,
                0,
                (Vec::new(), 0),
            );
        };
        let timeout = Duration::from_secs(u64::from(self.req.spec.timeout_s));
        self.api.submit(Event {
            request_id: request_id.clone(),
            payload: call.payload,
            function_arn: format!(
                "arn:aws:lambda:{}:000000000000:function:{}",
                self.req.region, self.req.spec.name
            ),
            timeout_ms: timeout.as_millis() as u64,
            client_context: call.client_context,
        });
        let pid = self.pid;
        let mut deadline = if cold { self.spawned } else { called } + INIT_LIMIT.max(timeout);
        let mut sample = tokio::time::interval(Duration::from_millis(10));
        let mut exited = false;
        let ending = loop {
            tokio::select! {
                signal = self.api.signals.recv() => match signal {
                    Some(RuntimeSignal::Next(at)) => {
                        timing.started = Some(at);
                        self.initialised = true;
                        deadline = at + timeout;
                    }
                    Some(RuntimeSignal::Response(body, at)) => break Ending::Response(body.to_vec(), at),
                    Some(RuntimeSignal::Error(t, body, at)) => break Ending::Failed(runner::function_error(t, &body), Some(at)),
                    Some(RuntimeSignal::InitError(t, body)) => {
                        self.healthy = false;
                        break Ending::Failed(runner::function_error(t, &body), None);
                    }
                    Some(RuntimeSignal::Protocol(msg)) => tracing::warn!(function = %self.req.spec.name, "{msg}"),
                    None => {
                        self.healthy = false;
                        break Ending::Failed(runner::exit_error(&request_id, "the runtime API stopped"), None);
                    }
                },
                status = child.wait() => {
                    exited = true;
                    self.healthy = false;
                    if self.cgroup.as_ref().is_some_and(|c| c.oom_kills() > 0) {
                        break Ending::Failed(runner::out_of_memory(&request_id), timing.started.map(|_| Instant::now()));
                    }
                    let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    // A response may have been posted just before the exit.
                    match self.api.signals.try_recv() {
                        Ok(RuntimeSignal::Response(body, at)) => break Ending::Response(body.to_vec(), at),
                        Ok(RuntimeSignal::Error(t, body, at)) => break Ending::Failed(runner::function_error(t, &body), Some(at)),
                        Ok(RuntimeSignal::InitError(t, body)) => break Ending::Failed(runner::function_error(t, &body), None),
                        _ => break Ending::Failed(runner::exit_error(&request_id, &format!("Runtime exited with error: {status}")), None),
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.healthy = false;
                    let limit = if timing.started.is_some() { timeout } else { INIT_LIMIT.max(timeout) };
                    let message = format!("{request_id} Task timed out after {:.2} seconds", limit.as_secs_f64());
                    self.tail.lock().unwrap_or_else(PoisonError::into_inner).push(format!("{message}\n").as_bytes());
                    break Ending::Failed(FunctionError { error_type: "Sandbox.Timedout".into(), message, trace: Vec::new() }, Some(Instant::now()));
                }
                _ = sample.tick() => {
                    self.peak_kb = self.peak_kb.max(runner::peak_rss_kb(pid).unwrap_or(0));
                    if over_memory(self.cgroup.as_ref(), self.req.spec.memory_mb, pid) {
                        self.healthy = false;
                        break Ending::Failed(runner::out_of_memory(&request_id), timing.started.map(|_| Instant::now()));
                    }
                }
            }
        };
        if !exited {
            self.peak_kb = self.peak_kb.max(runner::peak_rss_kb(pid).unwrap_or(0));
        }
        if self.healthy {
            // What the runtime wrote before answering is in the pipes now.
            for fd in &self.outputs {
                let _ = read_available(fd, &self.tail);
            }
        } else {
            self.stop().await;
        }
        let log = self.tail.lock().unwrap_or_else(PoisonError::into_inner).take();
        runner::finish(&self.req, &request_id, ending, &timing, self.peak_kb, log)
    }

    /// Kills its processes now (reaped by [`Environment::shutdown`] or the drop).
    pub fn kill(&mut self) {
        crate::process::kill_group(self.pid);
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }

    /// Ends the environment: its processes killed and reaped, then its cgroup removed.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Kills the runtime and everything it started (its process group), reaps it, and reads
    /// the last of its output.
    async fn stop(&mut self) {
        crate::process::kill_group(self.pid.take());
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        for p in std::mem::take(&mut self.pumps) {
            // The pipes close when the process is gone; a grandchild holding them is not waited for.
            let abort = p.abort_handle();
            if tokio::time::timeout(Duration::from_millis(500), p).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Whether the function uses more memory than it has: its anonymous memory where a cgroup
/// measures it, else the runtime's resident memory.
fn over_memory(cgroup: Option<&Cgroup>, memory_mb: u32, pid: Option<u32>) -> bool {
    let limit = u64::from(memory_mb) * 1024 * 1024;
    let used = match cgroup {
        Some(cg) if cg.measures_memory() => cg.anon_bytes(),
        _ => limits::rss_bytes(pid),
    };
    used.is_some_and(|u| u > limit)
}
