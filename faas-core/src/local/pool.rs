//! Warm execution environments, kept between invocations as Lambda keeps them.
//!
//! * **Reuse.** An environment serves one function version with one code and configuration:
//!   it is found again by a key of the function, the version, the code's sha256, the
//!   record's revision (for `$LATEST`) and a hash of the whole spec. A deploy or any new code
//!   or configuration makes a new key, so an old environment is never reused; idle ones of
//!   the same version under an older key are shut down when a new one is asked for.
//! * **Concurrency.** One environment serves one invocation at a time: concurrent calls get
//!   their own. A function with reserved concurrency (`aws.reserved_concurrency`) runs at
//!   most that many at once: beyond it a synchronous call is throttled (Lambda's
//!   `TooManyRequestsException`, [`Error::Throttled`]) and an asynchronous one waits its turn.
//! * **Eviction.** An environment idle for the pool's idle time (default 5 minutes,
//!   [`LocalBuilder::idle_timeout`](super::LocalBuilder::idle_timeout)) is shut down: its
//!   process group is killed. So is one that timed out, crashed or failed its init (the next
//!   call is cold), and every environment when the provider is dropped.
//! * **Scope.** Environments live in the process that owns the `LocalProvider`: a one-shot
//!   program (the `invoke` example) starts cold every time; a long-lived one (a server, a
//!   test, a pipeline) gets warm starts.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::env::{Call, Environment};
use super::runner::EnvRequest;
use crate::{Error, Invocation, Result};

/// How long an idle environment is kept by default.
pub(crate) const DEFAULT_IDLE: Duration = Duration::from_secs(5 * 60);

/// What makes two environments interchangeable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvKey {
    pub function: String,
    pub version: String,
    /// Code sha256, revision and spec hash.
    pub fingerprint: String,
}

impl EnvKey {
    /// The key of `req` (`revision`: the function record's, which every deploy that changes
    /// something moves on).
    pub fn of(req: &EnvRequest, code_sha256: &str, revision: u64) -> EnvKey {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(&req.spec).unwrap_or_default().hash(&mut h);
        (&req.python, &req.node, &req.region).hash(&mut h);
        EnvKey {
            function: req.spec.name.clone(),
            version: req.version.clone(),
            fingerprint: format!("{code_sha256}:{revision}:{:016x}", h.finish()),
        }
    }
}

/// An idle, warm environment.
#[derive(Debug)]
struct Idle {
    key: EnvKey,
    env: Environment,
    /// Tells this idle spell from a later one of the same environment.
    serial: u64,
}

#[derive(Debug, Default)]
struct State {
    idle: Vec<Idle>,
    /// Per function: its reserved concurrency and the permits of it.
    reserved: HashMap<String, (u32, Arc<Semaphore>)>,
    serial: u64,
    started: u64,
}

/// An idle environment, as [`super::LocalProvider::idle_environments`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdleEnvironment {
    /// The function.
    pub function: String,
    /// The version it serves.
    pub version: String,
    /// Its runtime's process id (the leader of its process group).
    pub pid: Option<u32>,
}

/// How an invocation waits for concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Throttled at once when none is left (a synchronous call).
    No,
    /// Waits its turn (an asynchronous event).
    Queue,
}

/// The environments of one provider.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<State>,
    idle_timeout: Duration,
    /// Whether environments get cgroups (where the machine allows).
    cgroups: bool,
}

impl Pool {
    pub fn new(idle_timeout: Duration, cgroups: bool) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(State::default()),
            idle_timeout,
            cgroups,
        })
    }

    /// Whether environments get cgroups (where the machine allows).
    pub fn cgroups(&self) -> bool {
        self.cgroups
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one invocation in a warm environment of `key`, or a new one; also says when
    /// (ms since the epoch) it had its turn, after waiting for concurrency: the invocation's
    /// `elapsed` runs from then on, a cold start's init included.
    pub async fn invoke(
        self: &Arc<Self>,
        key: EnvKey,
        req: EnvRequest,
        call: Call,
        reserved: Option<u32>,
        wait: Wait,
    ) -> Result<(Invocation, u64)> {
        let _permit = self.permit(&key.function, reserved, wait).await?;
        let began = Instant::now();
        let began_ms = crate::observe::now_ms();
        let mut env = match self.take(&key) {
            Some(env) => env,
            None => {
                let env = Environment::start(req, self.cgroups).await?;
                self.state().started += 1;
                tracing::debug!(function = %key.function, version = %key.version, env = %env.id, "cold start");
                env
            }
        };
        let mut inv = env.invoke(call).await;
        inv.elapsed = began.elapsed();
        if env.healthy() && !self.idle_timeout.is_zero() {
            self.put_back(key, env);
        } else {
            tracing::debug!(function = %key.function, env = %env.id, "environment discarded");
            // Killed now, reaped in the background: the answer is ready.
            env.kill();
            tokio::spawn(env.shutdown());
        }
        Ok((inv, began_ms))
    }

    /// A permit of the function's reserved concurrency (none needed without one).
    async fn permit(&self, function: &str, reserved: Option<u32>, wait: Wait) -> Result<Option<OwnedSemaphorePermit>> {
        let Some(limit) = reserved else { return Ok(None) };
        let semaphore = {
            let mut state = self.state();
            let entry = state
                .reserved
                .entry(function.to_string())
                .or_insert_with(|| (limit, Arc::new(Semaphore::new(limit as usize))));
            if entry.0 != limit {
                // A new limit: invocations running under the old one finish under it.
                *entry = (limit, Arc::new(Semaphore::new(limit as usize)));
            }
            entry.1.clone()
        };
        let throttled = || {
            Error::throttled(
                None,
                format!(
                    "TooManyRequestsException: Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded: \
                     {function} has a reserved concurrency of {limit} and as many invocations are running)"
                ),
            )
        };
        match wait {
            Wait::No => semaphore.try_acquire_owned().map(Some).map_err(|_| throttled()),
            Wait::Queue if limit == 0 => Err(throttled()),
            Wait::Queue => semaphore.acquire_owned().await.map(Some).map_err(|_| throttled()),
        }
    }

    /// A usable idle environment of `key`; idle ones of the same version under another key
    /// (an older deploy) are shut down on the way.
    fn take(&self, key: &EnvKey) -> Option<Environment> {
        // Ended outside the lock (removing a cgroup may wait for its processes to go).
        let mut ended = Vec::new();
        let mut state = self.state();
        let mut found = None;
        let mut i = state.idle.len();
        while i > 0 {
            i -= 1;
            let same_version = state.idle[i].key.function == key.function && state.idle[i].key.version == key.version;
            if !same_version {
                continue;
            }
            let mut idle = state.idle.remove(i);
            if idle.key == *key && found.is_none() && idle.env.usable() {
                found = Some(idle.env);
            } else if idle.key == *key && idle.env.usable() {
                state.idle.insert(i, idle);
            } else {
                ended.push(idle);
            }
        }
        drop(state);
        shut_down(ended);
        found
    }

    fn put_back(self: &Arc<Self>, key: EnvKey, env: Environment) {
        let serial = {
            let mut state = self.state();
            state.serial += 1;
            let serial = state.serial;
            state.idle.push(Idle { key, env, serial });
            serial
        };
        let pool: Weak<Pool> = Arc::downgrade(self);
        let deadline = Instant::now() + self.idle_timeout;
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            if let Some(pool) = pool.upgrade() {
                let evicted = {
                    let mut state = pool.state();
                    let at = state.idle.iter().position(|i| i.serial == serial);
                    at.map(|at| state.idle.remove(at))
                };
                if let Some(idle) = evicted {
                    tracing::debug!(function = %idle.key.function, env = %idle.env.id, "idle environment evicted");
                    let mut env = idle.env;
                    env.kill();
                    env.shutdown().await;
                }
            }
        });
    }

    /// Shuts down every idle environment of `function` (it was deleted).
    pub fn retire(&self, function: &str) {
        let gone: Vec<Idle> = {
            let mut state = self.state();
            let (gone, kept) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|i| i.key.function == function);
            state.idle = kept;
            state.reserved.remove(function);
            gone
        };
        shut_down(gone);
    }

    /// The idle environments, oldest first.
    pub fn idle(&self) -> Vec<IdleEnvironment> {
        self.state()
            .idle
            .iter()
            .map(|i| IdleEnvironment {
                function: i.key.function.clone(),
                version: i.key.version.clone(),
                pid: i.env.pid(),
            })
            .collect()
    }

    /// How many environments were started (cold starts) so far.
    pub fn started(&self) -> u64 {
        self.state().started
    }
}

/// Ends `envs` in the background (killed at once, reaped and their cgroups removed there).
fn shut_down(mut envs: Vec<Idle>) {
    if envs.is_empty() {
        return;
    }
    for idle in &mut envs {
        idle.env.kill();
    }
    tokio::spawn(async move {
        for idle in envs {
            idle.env.shutdown().await;
        }
    });
}

impl super::LocalProvider {
    /// The execution environments kept warm now, waiting for an invocation (oldest first).
    /// They live in this process: dropping the last clone of the provider kills them.
    pub fn idle_environments(&self) -> Vec<IdleEnvironment> {
        self.inner.pool.idle()
    }

    /// How many execution environments this provider started so far: its cold starts.
    pub fn environments_started(&self) -> u64 {
        self.inner.pool.started()
    }
}
