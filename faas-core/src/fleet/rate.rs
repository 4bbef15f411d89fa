//! One target's view of its rate: an adaptive limiter per API, shared with the retry policy.
//!
//! Each API (the operation name a provider gives its calls, `CreateFunction`,
//! `functions.patch`) gets a send rate. A call waits for its turn at that rate; a throttled
//! call (429, `TooManyRequestsException`, `RESOURCE_EXHAUSTED` — [`Error::Throttled`]) cuts the
//! rate by [`Limits::decrease`] (at most once a second, so that one burst of refusals counts
//! once) and pauses the API for the server's `Retry-After`; successful calls that had to wait
//! raise it again — doubling each second until the first throttle (slow start), then along
//! CUBIC's curve (the AWS SDKs' adaptive retry mode uses it too): back to the rate of the last
//! cut within `cbrt(rate × (1 − decrease) / increase)` seconds, slowly near it, then faster
//! past it. Against a server that refuses above a fixed rate the rate stays close under the
//! limit; a stray throttle (a fault, not congestion) costs a couple of seconds, not a decay.
//!
//! The retry policy ([`RetryConfig::retry_if`](crate::RetryConfig::retry_if)) reads the
//! limiter of the task it runs in (set by [`RateLimiter::scope`]): it waits its turn before
//! every attempt, reports each answer, and lets the limiter pace a throttled call's retries
//! instead of its own backoff — one view of the target's rate, not two that fight. A provider
//! whose SDK retries on its own reports throttles with [`report_throttle`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::{Error, Result};

/// How fast one target may be driven.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Deliveries in flight on the target at most (≥ 1): never exceeded.
    pub ceiling: usize,
    /// Calls per second each API starts from (> 0).
    pub initial_rate: f64,
    /// Calls per second no API goes past (≥ `initial_rate`).
    pub max_rate: f64,
    /// The factor a throttle cuts the rate by (0 < d < 1).
    pub decrease: f64,
    /// After a throttle, CUBIC's scaling constant `C` (> 0): the rate `t` seconds after a
    /// cut is `C·(t − K)³ + W`, with `W` the rate before the cut and `K` when it is regained.
    pub increase: f64,
}

impl Default for Limits {
    /// 8 deliveries at once, 10 calls/s per API to start, at most 1,000, cut by 0.7 on a
    /// throttle, CUBIC's `C` = 0.4 after (the AWS SDKs' values).
    fn default() -> Self {
        Limits {
            ceiling: 8,
            initial_rate: 10.0,
            max_rate: 1_000.0,
            decrease: 0.7,
            increase: 0.4,
        }
    }
}

impl Limits {
    /// `ceiling` deliveries at once, the other defaults.
    pub fn ceiling(ceiling: usize) -> Limits {
        Limits {
            ceiling,
            ..Limits::default()
        }
    }

    /// Checks every field; `target` names the target in the error.
    pub fn validate(&self, target: &str) -> Result<()> {
        let field = |f: &str| format!("targets.{target}.{f}");
        if self.ceiling == 0 {
            return Err(Error::invalid(
                field("ceiling"),
                "0",
                "a target needs a ceiling of at least 1 delivery in flight",
            ));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.initial_rate) {
            return Err(Error::invalid(
                field("initial_rate"),
                self.initial_rate.to_string(),
                "must be a positive number of calls per second",
            ));
        }
        if !positive(self.max_rate) || self.max_rate < self.initial_rate {
            return Err(Error::invalid(
                field("max_rate"),
                self.max_rate.to_string(),
                format!(
                    "must be a number of calls per second ≥ initial_rate ({})",
                    self.initial_rate
                ),
            ));
        }
        if !(self.decrease > 0.0 && self.decrease < 1.0) {
            return Err(Error::invalid(
                field("decrease"),
                self.decrease.to_string(),
                "must be between 0 and 1 (0.7 cuts the rate by 30 %)",
            ));
        }
        if !positive(self.increase) {
            return Err(Error::invalid(
                field("increase"),
                self.increase.to_string(),
                "must be a positive CUBIC scaling constant (0.4)",
            ));
        }
        Ok(())
    }
}

/// One API's pace.
#[derive(Debug, Clone)]
struct Pace {
    rate: f64,
    next_at: Instant,
    paused_until: Instant,
    last_decrease: Option<Instant>,
    slow_start: bool,
    /// The rate before the last cut (CUBIC's `W_max`).
    before_cut: f64,
    /// Whether the last call waited for its turn (the rate, not the demand, was the bound).
    waited: bool,
    calls: u64,
    throttles: u64,
    lowest: f64,
}

/// What one API saw, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiRate {
    /// The API (the provider's operation name).
    pub api: String,
    /// Its rate now, calls per second.
    pub rate: f64,
    /// The lowest rate it was cut to.
    pub lowest_rate: f64,
    /// Calls made (attempts, retries included).
    pub calls: u64,
    /// Of those, throttled.
    pub throttles: u64,
}

#[derive(Debug)]
struct Inner {
    limits: Limits,
    apis: Mutex<BTreeMap<String, Pace>>,
}

/// One target's adaptive limiter (see the [module docs](self)). Cheap to clone: clones share
/// the view.
///
/// ```
/// # async fn t() -> faas_core::Result<()> {
/// use faas_core::fleet::{Limits, RateLimiter};
/// let limiter = RateLimiter::new(Limits::default());
/// let answer = limiter
///     .scope(async {
///         faas_core::RetryConfig::default()
///             .retry("CreateFunction", || async { Ok::<_, faas_core::Error>(42) })
///             .await
///     })
///     .await?;
/// assert_eq!(answer, 42);
/// assert_eq!(limiter.snapshot()[0].calls, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

/// The limiter of a task, and the function it delivers (whose name is taken out of API keys).
#[derive(Clone)]
struct Scope {
    limiter: RateLimiter,
    function: Option<Arc<str>>,
}

tokio::task_local! {
    static CURRENT: Scope;
}

/// The API an operation calls: `operation` without its query, the scope's function name
/// (wherever it stands as a whole name: `…/functions/hello`, `…/hello:verb`, `hello/versions/`)
/// as `*`, and generated ids (a path segment with six digits or more: operation ids, version
/// numbers, content hashes) as `*` keeping their extension — so `PATCH …/functions/hello?…`
/// and `PATCH …/functions/world`, or two polls of two operations, are one API, as the
/// server's rate limits count them.
fn api_key(operation: &str, function: Option<&str>) -> String {
    let operation = operation.split('?').next().unwrap_or(operation);
    let named = match function.filter(|n| !n.is_empty()) {
        Some(name) => replace_name(operation, name),
        None => operation.to_string(),
    };
    named
        .split('/')
        .map(|segment| {
            if segment.chars().filter(char::is_ascii_digit).count() >= 6 && !is_api_version(segment) {
                match segment.rsplit_once('.') {
                    Some((_, ext)) if !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphabetic()) => {
                        format!("*.{ext}")
                    }
                    _ => "*".to_string(),
                }
            } else {
                segment.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `2015-03-31`: a dated API version in a path (Lambda's), not an id.
fn is_api_version(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// `text` with every whole occurrence of `name` (not part of a longer name) as `*`.
fn replace_name(text: &str, name: &str) -> String {
    let is_name_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(name) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + name.len()..].chars().next();
        out.push_str(&rest[..i]);
        if before.is_none_or(|c| !is_name_char(c)) && after.is_none_or(|c| !is_name_char(c)) {
            out.push('*');
        } else {
            out.push_str(name);
        }
        rest = &rest[i + name.len()..];
    }
    out.push_str(rest);
    out
}

impl RateLimiter {
    /// A limiter with `limits` (check them with [`Limits::validate`] first).
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            inner: Arc::new(Inner {
                limits,
                apis: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Its limits.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    fn with<R>(&self, api: &str, f: impl FnOnce(&mut Pace, Instant, &Limits) -> R) -> R {
        let now = Instant::now();
        let limits = self.inner.limits;
        let mut apis = self.inner.apis.lock().unwrap_or_else(|p| p.into_inner());
        let pace = apis.entry(api.to_string()).or_insert_with(|| Pace {
            rate: limits.initial_rate,
            next_at: now,
            paused_until: now,
            last_decrease: None,
            slow_start: true,
            before_cut: limits.initial_rate,
            waited: false,
            calls: 0,
            throttles: 0,
            lowest: limits.initial_rate,
        });
        f(pace, now, &limits)
    }

    /// Waits for `api`'s next turn.
    pub async fn acquire(&self, api: &str) {
        let at = self.with(api, |p, now, _| {
            let at = now.max(p.next_at).max(p.paused_until);
            p.next_at = at + Duration::from_secs_f64(1.0 / p.rate);
            p.waited = at > now;
            p.calls += 1;
            at
        });
        tokio::time::sleep_until(at).await;
    }

    /// A call to `api` was answered (not throttled).
    pub fn succeeded(&self, api: &str) {
        self.with(api, |p, now, limits| {
            if !p.waited {
                return;
            }
            let next = match (p.slow_start, p.last_decrease) {
                (false, Some(cut)) => {
                    let t = now.duration_since(cut).as_secs_f64();
                    let k = (p.before_cut * (1.0 - limits.decrease) / limits.increase).cbrt();
                    let cubic = limits.increase * (t - k).powi(3) + p.before_cut;
                    // At least a little per answer, so a rate is never stuck below the curve's
                    // start by rounding.
                    cubic.max(p.rate + 0.01)
                }
                _ => p.rate + 1.0,
            };
            p.rate = next.min(limits.max_rate);
        });
    }

    /// A call to `api` was throttled, the server asking for `retry_after`.
    pub fn throttled(&self, api: &str, retry_after: Option<Duration>) {
        self.with(api, |p, now, limits| {
            p.throttles += 1;
            if let Some(after) = retry_after {
                p.paused_until = p.paused_until.max(now + after);
            }
            if p.last_decrease
                .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
            {
                return;
            }
            p.before_cut = p.rate;
            p.rate = (p.rate * limits.decrease).max(0.1);
            p.lowest = p.lowest.min(p.rate);
            p.slow_start = false;
            p.last_decrease = Some(now);
            p.next_at = p.next_at.max(now + Duration::from_secs_f64(1.0 / p.rate));
            tracing::debug!(api, rate = p.rate, "throttled: rate cut");
        });
    }

    /// Every API's rate and counts, by name.
    pub fn snapshot(&self) -> Vec<ApiRate> {
        let apis = self.inner.apis.lock().unwrap_or_else(|p| p.into_inner());
        apis.iter()
            .map(|(api, p)| ApiRate {
                api: api.clone(),
                rate: p.rate,
                lowest_rate: p.lowest,
                calls: p.calls,
                throttles: p.throttles,
            })
            .collect()
    }

    /// Runs `work` with this limiter as its task's: the retry policy in it paces and reports
    /// through it.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        let scope = Scope {
            limiter: self.clone(),
            function: None,
        };
        CURRENT.scope(scope, work).await
    }

    /// [`RateLimiter::scope`] for work on `function`: its name is taken out of the API keys
    /// (`…/functions/*`), so that every function's calls to one API share its rate.
    pub async fn scope_function<F: Future>(&self, function: &str, work: F) -> F::Output {
        let scope = Scope {
            limiter: self.clone(),
            function: Some(Arc::from(function)),
        };
        CURRENT.scope(scope, work).await
    }

    /// The limiter of the running task, if one is in scope.
    pub fn current() -> Option<RateLimiter> {
        CURRENT.try_with(|s| s.limiter.clone()).ok()
    }

    /// The running task's limiter and the API key `operation` has in it (the scope's
    /// function name as `*`, no query), for transports that pace each attempt themselves.
    pub fn current_for(operation: &str) -> Option<(RateLimiter, String)> {
        in_scope(operation)
    }
}

/// The running task's limiter and `operation`'s API key in it, if a limiter is in scope.
pub(crate) fn in_scope(operation: &str) -> Option<(RateLimiter, String)> {
    CURRENT
        .try_with(|s| (s.limiter.clone(), api_key(operation, s.function.as_deref())))
        .ok()
}

/// For providers whose SDK retries on its own: tells the running task's limiter (if any)
/// that an attempt at `api` was throttled.
pub fn report_throttle(api: &str, retry_after: Option<Duration>) {
    if let Some((limiter, api)) = in_scope(api) {
        limiter.throttled(&api, retry_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers `limit` calls per second (a token bucket holding one second's).
    struct Bucket {
        limit: f64,
        tokens: f64,
        at: Instant,
    }

    impl Bucket {
        fn take(&mut self) -> bool {
            let now = Instant::now();
            self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.limit).min(self.limit);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                true
            } else {
                false
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_stays_close_under_the_limit() {
        let limiter = RateLimiter::new(Limits::default());
        let mut bucket = Bucket {
            limit: 15.0,
            tokens: 15.0,
            at: Instant::now(),
        };
        let start = Instant::now();
        let mut answered = 0u32;
        let mut refused = 0u32;
        // Demand far above the limit: one caller that always has the next call ready.
        while start.elapsed() < Duration::from_secs(120) {
            limiter.acquire("CreateFunction").await;
            if bucket.take() {
                limiter.succeeded("CreateFunction");
                if start.elapsed() >= Duration::from_secs(20) {
                    answered += 1;
                }
            } else {
                limiter.throttled("CreateFunction", None);
                refused += 1;
            }
        }
        // Independently: the limit over the 100 s measured is 1,500 calls, plus the one
        // second's burst the bucket may hold when the measure starts.
        let fraction = f64::from(answered) / (15.0 * 100.0 + 15.0);
        assert!(fraction >= 0.8, "throughput {fraction:.2} of the limit");
        assert!(fraction <= 1.0 + 1e-9);
        let s = &limiter.snapshot()[0];
        assert!(s.rate < 2.0 * 15.0 && s.lowest_rate > 5.0 && s.throttles > 0, "{s:?}");
        // CUBIC probes past the limit now and then: a few refusals per cycle.
        assert!(refused < answered / 5, "{refused} refused of {answered}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_api_and_only_that_api() {
        let limiter = RateLimiter::new(Limits::default());
        limiter.acquire("a").await;
        limiter.throttled("a", Some(Duration::from_secs(3)));
        let start = Instant::now();
        limiter.acquire("b").await;
        assert!(start.elapsed() < Duration::from_millis(1), "b is not paused");
        limiter.acquire("a").await;
        assert!(start.elapsed() >= Duration::from_secs(3), "a waited for Retry-After");
    }

    #[tokio::test(start_paused = true)]
    async fn one_burst_of_refusals_cuts_once_and_the_floor_holds() {
        let limiter = RateLimiter::new(Limits::default());
        for _ in 0..10 {
            limiter.throttled("a", None);
        }
        assert!((limiter.snapshot()[0].rate - 7.0).abs() < 1e-9);
        for _ in 0..200 {
            tokio::time::advance(Duration::from_secs(1)).await;
            limiter.throttled("a", None);
        }
        assert!((limiter.snapshot()[0].rate - 0.1).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_policy_paces_through_the_limiter_in_scope() {
        let limiter = RateLimiter::new(Limits::default());
        let calls = std::sync::atomic::AtomicU32::new(0);
        let start = Instant::now();
        // Seven throttles in a row (more than the policy's 5 attempts), the first asking for
        // 2 s: in scope they count against the deadline only, and the wait is the limiter's.
        let answer = limiter
            .scope(crate::RetryConfig::default().retry("PublishVersion", || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    match n {
                        0 => Err(Error::throttled(Some(Duration::from_secs(2)), "slow down")),
                        1..=6 => Err(Error::throttled(None, "slow down")),
                        _ => Ok(n),
                    }
                }
            }))
            .await
            .unwrap();
        assert_eq!(answer, 7);
        assert!(start.elapsed() >= Duration::from_secs(2), "Retry-After was waited");
        let s = &limiter.snapshot()[0];
        assert_eq!((s.api.as_str(), s.calls, s.throttles), ("PublishVersion", 8, 7));
        assert!(s.rate < Limits::default().initial_rate, "the rate was cut: {s:?}");
        // Out of scope the same calls give up after 5 attempts.
        calls.store(1, std::sync::atomic::Ordering::SeqCst);
        let plain = crate::RetryConfig::default()
            .retry("PublishVersion", || {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n < 7 {
                        Err(Error::throttled(None, "slow down"))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert!(plain.is_err());
    }

    #[test]
    fn api_keys_leave_the_function_and_the_query_out() {
        let gcp = "PATCH https://cloudfunctions.googleapis.com/v2/projects/p/locations/r/functions/hello?updateMask=x";
        assert_eq!(
            api_key(gcp, Some("hello")),
            "PATCH https://cloudfunctions.googleapis.com/v2/projects/p/locations/r/functions/*"
        );
        assert_eq!(
            api_key("POST /v2/functions/hello:generateUploadUrl", Some("hello")),
            "POST /v2/functions/*:generateUploadUrl"
        );
        assert_eq!(
            api_key("GET /sites/hello-world", Some("hello")),
            "GET /sites/hello-world"
        );
        assert_eq!(api_key("CreateFunction", Some("hello")), "CreateFunction");
        assert_eq!(api_key("GET /a?b", None), "GET /a");
    }

    #[test]
    fn bad_limits_name_the_target_and_field() {
        let cases = [
            (Limits::ceiling(0), "targets.eu.ceiling"),
            (
                Limits {
                    initial_rate: 0.0,
                    ..Limits::default()
                },
                "targets.eu.initial_rate",
            ),
            (
                Limits {
                    max_rate: 1.0,
                    ..Limits::default()
                },
                "targets.eu.max_rate",
            ),
            (
                Limits {
                    decrease: 1.0,
                    ..Limits::default()
                },
                "targets.eu.decrease",
            ),
            (
                Limits {
                    increase: f64::NAN,
                    ..Limits::default()
                },
                "targets.eu.increase",
            ),
        ];
        for (limits, field) in cases {
            match limits.validate("eu") {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(Limits::default().validate("eu").is_ok());
    }
}
