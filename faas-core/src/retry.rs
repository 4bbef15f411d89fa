//! Waiting and retrying: [`RetryConfig`] for failed calls, [`PollPolicy`] for long operations.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{Error, Result};

/// How failed calls are retried: exponential backoff with full jitter, honouring `Retry-After`,
/// only for retryable errors ([`Error::is_retryable`]), within an attempt count and a deadline.
///
/// Defaults: 5 attempts, 200 ms first backoff doubling up to 20 s, 120 s overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The backoff cap before the first retry.
    pub initial_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// The factor the cap grows by per attempt.
    pub multiplier: f64,
    /// No retry starts after this much time since the first attempt.
    pub deadline: Duration,
    /// Full jitter (a uniform wait in `[0, cap]`); off, the wait is the cap itself.
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
            multiplier: 2.0,
            deadline: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        }
    }

    /// The backoff cap before retry number `retry` (0-based): `initial * multiplier^retry`, at most `max_backoff`.
    pub fn cap(&self, retry: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(retry.min(64) as i32);
        let secs = (self.initial_backoff.as_secs_f64() * factor).min(self.max_backoff.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// The wait before retry number `retry` after `err`: the provider's `Retry-After` when it
    /// gave one, else a jittered backoff drawn with `rng`.
    pub fn delay(&self, retry: u32, err: &Error, rng: &mut fastrand::Rng) -> Duration {
        if let Some(after) = err.retry_after() {
            return after;
        }
        let cap = self.cap(retry);
        if self.jitter { cap.mul_f64(rng.f64()) } else { cap }
    }

    /// Runs `call` until it succeeds, fails with a non-retryable error, runs out of attempts,
    /// or the next wait would pass the deadline. Returns the last error in those cases.
    pub async fn retry<T, F, Fut>(&self, operation: &str, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.retry_if(operation, Error::is_retryable, call).await
    }

    /// [`RetryConfig::retry_if`], also saying whether the answer came from a retry (a
    /// conditional write whose first attempt may have landed unseen needs to know).
    pub async fn retry_counted<T, F, Fut>(
        &self,
        operation: &str,
        retryable: fn(&Error) -> bool,
        mut call: F,
    ) -> Result<(T, bool)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempts = 0u32;
        let value = self
            .retry_if(operation, retryable, || {
                attempts += 1;
                call()
            })
            .await?;
        Ok((value, attempts > 1))
    }

    /// Like [`RetryConfig::retry`], retrying only the errors `retryable` picks — for callers
    /// that handle conflicts themselves: `retry_if(op, Error::is_transient, call)`.
    pub async fn retry_if<T, F, Fut>(&self, operation: &str, retryable: fn(&Error) -> bool, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let mut rng = fastrand::Rng::new();
        let mut attempt = 0u32;
        // In a fleet delivery, the target's limiter paces every attempt and a throttle's
        // retries (see `fleet::rate`): throttles then count against the deadline only.
        let limiter = crate::fleet::rate::in_scope(operation);
        loop {
            if let Some((l, api)) = &limiter {
                l.acquire(api).await;
            }
            attempt += 1;
            let err = match call().await {
                Ok(v) => {
                    if let Some((l, api)) = &limiter {
                        l.succeeded(api);
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            let paced = match (&limiter, &err) {
                (Some((l, api)), Error::Throttled { retry_after, .. }) => {
                    l.throttled(api, *retry_after);
                    attempt -= 1;
                    true
                }
                _ => false,
            };
            if !retryable(&err) || attempt >= self.max_attempts {
                return Err(err);
            }
            let wait = if paced {
                Duration::ZERO
            } else {
                self.delay(attempt - 1, &err, &mut rng)
            };
            if start.elapsed() + wait > self.deadline {
                tracing::warn!(operation, attempt, "retry deadline reached");
                return Err(err);
            }
            tracing::debug!(operation, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// What one look at a long-running operation found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollStatus<T> {
    /// Finished with this result.
    Done(T),
    /// Still running; the text says what was seen (`State=Pending, LastUpdateStatus=InProgress`).
    Pending(String),
}

/// How long-running operations are awaited: Lambda's `State`/`LastUpdateStatus`, GCP and ARM
/// operations, Kudu deployments.
///
/// Defaults: first look after 500 ms, then 1.5× longer each time up to 5 s, for at most 10 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PollPolicy {
    /// The wait before the second look.
    pub interval: Duration,
    /// The longest wait between looks.
    pub max_interval: Duration,
    /// The factor waits grow by.
    pub backoff: f64,
    /// Give up after this long, with [`Error::Timeout`].
    pub deadline: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(5),
            backoff: 1.5,
            deadline: Duration::from_secs(600),
        }
    }
}

impl PollPolicy {
    /// A fast policy for emulators and tests: 20 ms growing to 200 ms, 30 s deadline.
    pub fn fast() -> Self {
        PollPolicy {
            interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(200),
            backoff: 1.5,
            deadline: Duration::from_secs(30),
        }
    }

    /// Looks with `check` until it says [`PollStatus::Done`] or fails, waiting between looks.
    /// Running out of time returns [`Error::Timeout`] with the last state seen.
    pub async fn poll<T, F, Fut>(&self, operation: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<PollStatus<T>>>,
    {
        let start = Instant::now();
        let mut wait = self.interval;
        loop {
            let seen = match check().await? {
                PollStatus::Done(v) => return Ok(v),
                PollStatus::Pending(seen) => seen,
            };
            let waited = start.elapsed();
            if waited + wait > self.deadline {
                return Err(Error::timeout(operation.to_string(), waited, seen));
            }
            tracing::debug!(operation, seen = %seen, "waiting");
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(self.backoff.max(1.0)).min(self.max_interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn throttled(after: Option<u64>) -> Error {
        Error::throttled(after.map(Duration::from_secs), "slow down")
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RetryConfig::default();
        assert_eq!(c.cap(0), Duration::from_millis(200));
        assert_eq!(c.cap(1), Duration::from_millis(400));
        assert_eq!(c.cap(3), Duration::from_millis(1600));
        assert_eq!(c.cap(30), Duration::from_secs(20));
    }

    #[test]
    fn full_jitter_stays_within_the_cap_and_varies() {
        let c = RetryConfig::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let err = throttled(None);
        let draws: Vec<Duration> = (0..200).map(|_| c.delay(2, &err, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= c.cap(2)));
        let distinct: std::collections::BTreeSet<u128> = draws.iter().map(|d| d.as_micros()).collect();
        assert!(distinct.len() > 150, "jitter must spread the waits");
        let mean = draws.iter().map(|d| d.as_secs_f64()).sum::<f64>() / 200.0;
        assert!((mean - c.cap(2).as_secs_f64() / 2.0).abs() < 0.1, "mean {mean}");
        let fixed = RetryConfig { jitter: false, ..c };
        assert_eq!(fixed.delay(2, &err, &mut rng), c.cap(2));
    }

    #[test]
    fn retry_after_is_honoured() {
        let c = RetryConfig::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(c.delay(0, &throttled(Some(7)), &mut rng), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let v = RetryConfig::default()
            .retry("op", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(throttled(Some(3))),
                    1 => Err(Error::conflict("f", "update in progress")),
                    _ => Ok(42),
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(start.elapsed() >= Duration::from_secs(3), "Retry-After was not waited");
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let err = RetryConfig::default()
            .retry("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::invalid("memory_mb", 64, "too small"))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_and_deadline_bound_the_retries() {
        let calls = AtomicU32::new(0);
        let c = RetryConfig {
            max_attempts: 3,
            ..RetryConfig::default()
        };
        let err = c
            .retry("op", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(throttled(None))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Throttled { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let c = RetryConfig {
            max_attempts: 100,
            deadline: Duration::from_secs(10),
            ..RetryConfig::default()
        };
        let start = Instant::now();
        c.retry("op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(throttled(Some(4)))
        })
        .await
        .unwrap_err();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "4 s waits: attempts at 0, 4 and 8 s, then 12 s > 10 s deadline"
        );
        assert!(start.elapsed() <= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_returns_when_done_and_times_out_with_the_last_state() {
        let n = AtomicU32::new(0);
        let v = PollPolicy::default()
            .poll("deploy", || async {
                Ok(if n.fetch_add(1, Ordering::SeqCst) < 3 {
                    PollStatus::Pending("InProgress".into())
                } else {
                    PollStatus::Done("Successful")
                })
            })
            .await
            .unwrap();
        assert_eq!(v, "Successful");
        assert_eq!(n.load(Ordering::SeqCst), 4);

        let p = PollPolicy {
            deadline: Duration::from_secs(3),
            ..PollPolicy::default()
        };
        let err = p
            .poll("update of f", || async {
                Ok(PollStatus::<()>::Pending("LastUpdateStatus=InProgress".into()))
            })
            .await
            .unwrap_err();
        match err {
            Error::Timeout {
                operation,
                last_seen,
                waited,
                ..
            } => {
                assert_eq!(operation, "update of f");
                assert_eq!(last_seen, "LastUpdateStatus=InProgress");
                assert!(waited <= Duration::from_secs(3));
            }
            other => panic!("{other:?}"),
        }
    }
}
