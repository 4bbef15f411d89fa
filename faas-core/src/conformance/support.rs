//! What the providers' test suites share: finding an emulator, a free port, capturing logs.

use std::path::Path;

/// An emulator or tool the tests start: the path in `env_var`, else `local` (relative to the
/// workspace root, where `scripts/test.sh` installs it) when it exists. Missing, it panics in
/// CI (`CI=true`: a missing emulator is a failure) and otherwise prints `SKIPPED` and returns
/// `None`.
pub fn test_tool(env_var: &str, local: &str) -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var(env_var) {
        return Some(std::path::PathBuf::from(p));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(local);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{local} is not installed (nor {env_var} set): run the tests with scripts/test.sh");
    }
    eprintln!("SKIPPED: {local} not found (scripts/test.sh installs it; or set {env_var})");
    None
}

/// A free loopback port for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// Every log line written while the guard of [`capture_logs`] lives, at `trace` level.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// What was logged so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Panics naming the first of `secrets` that appears in the logs.
    pub fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        for s in secrets {
            assert!(
                !text.contains(s),
                "a secret ({} characters) appeared in the logs",
                s.len()
            );
        }
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures this thread's `tracing` events at every level until the guard drops — for
/// checking that no secret reaches the logs.
pub fn capture_logs() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let capture = LogCapture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    (capture, tracing::subscriber::set_default(subscriber))
}

/// A loopback server that accepts connections and never answers (for hang tests). It stops
/// when dropped.
#[derive(Debug)]
pub struct SilentServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl SilentServer {
    /// Starts it on a free loopback port.
    pub async fn start() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("no loopback listener: {e}"));
        let url = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("no address: {e}"))
        );
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { url, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Timeouts short enough for a hang test against [`SilentServer`]: 300 ms to connect and
/// between reads, 2 s for a whole request.
pub fn short_timeouts() -> crate::Timeouts {
    crate::Timeouts::default()
        .connect(std::time::Duration::from_millis(300))
        .read(std::time::Duration::from_millis(300))
        .operation(std::time::Duration::from_secs(2))
}

/// Panics unless `result` is an [`Error::Timeout`](crate::Error::Timeout) naming `call` and
/// `resource`, returned within 5 s of `started` (the limits held, nothing waited forever).
pub fn assert_timed_out<T: std::fmt::Debug>(
    result: crate::Result<T>,
    call: &str,
    resource: &str,
    started: std::time::Instant,
) {
    match result {
        Err(crate::Error::Timeout { operation, .. }) => assert!(
            operation.contains(call) && operation.contains(resource),
            "the timeout names {operation:?}, not {call} on {resource}"
        ),
        other => panic!("expected a Timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "the call waited {took:?}");
}

/// Runs a tuning of `function` and drops it (as Ctrl-C or a kill would stop it) as soon as
/// `prepared` sizes are ready — before it is polled again, so before it can put the function
/// back — leaving what it made for [`clean_up`](crate::cost::tune::clean_up) to find.
/// Panics if it finishes first.
pub async fn interrupted_tune(
    provider: &dyn crate::Provider,
    function: &str,
    options: &crate::cost::tune::TuneOptions,
    prepared: usize,
) {
    use crate::cost::tune::{TuneEvent, tune_observed};
    let count = std::sync::atomic::AtomicUsize::new(0);
    let reached = tokio::sync::Notify::new();
    let observer = |e: &TuneEvent| {
        if matches!(e, TuneEvent::Prepared { .. })
            && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == prepared
        {
            reached.notify_one();
        }
    };
    let run = tune_observed(provider, function, options, &observer);
    tokio::select! {
        biased;
        _ = reached.notified() => {}
        r = run => panic!("the tuning finished before it was dropped: {r:?}"),
    }
}
