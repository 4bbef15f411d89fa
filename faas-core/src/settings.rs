//! String settings for provider builders: every builder takes `with_config(key, value)`, so a
//! YAML block, a map or the environment configures any provider the same way. This module
//! holds the parsing and the keys every builder shares.
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `max_attempts` | attempts per call, the first included ([`RetryConfig::max_attempts`]) | 5 |
//! | `retry_deadline_s` | no retry starts after this many seconds | 120 |
//! | `poll_deadline_s` | longest wait for a long-running operation | 600 |
//! | `connect_timeout_s` | [`Timeouts::connect`] | 10 |
//! | `read_timeout_s` | [`Timeouts::read`] | 60 |
//! | `request_timeout_s` | [`Timeouts::operation`] | 900 |
//!
//! ```
//! use faas_core::{PollPolicy, RetryConfig, Timeouts, settings};
//! let (mut retry, mut poll, mut timeouts) = (RetryConfig::default(), PollPolicy::default(), Timeouts::default());
//! assert!(settings::apply_common("read_timeout_s", "5", &mut retry, &mut poll, &mut timeouts).unwrap());
//! assert_eq!(timeouts.read.as_secs(), 5);
//! assert!(!settings::apply_common("region", "x", &mut retry, &mut poll, &mut timeouts).unwrap());
//! assert!(settings::apply_common("max_attempts", "many", &mut retry, &mut poll, &mut timeouts).is_err());
//! ```

use std::str::FromStr;
use std::time::Duration;

use crate::{Error, PollPolicy, Result, RetryConfig, Timeouts};

/// The keys [`apply_common`] takes.
pub const COMMON_KEYS: &[&str] = &[
    "max_attempts",
    "retry_deadline_s",
    "poll_deadline_s",
    "connect_timeout_s",
    "read_timeout_s",
    "request_timeout_s",
];

/// `value` parsed as `T`, or [`Error::InvalidConfig`] naming `key` and saying what `expected`.
pub fn parse<T: FromStr>(key: &str, value: &str, expected: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::config(key, format!("{value:?}"), format!("expected {expected}")))
}

/// Seconds (`1.5` allowed) as a duration.
pub fn seconds(key: &str, value: &str) -> Result<Duration> {
    let s: f64 = parse(key, value, "a number of seconds")?;
    if !(s.is_finite() && s > 0.0) {
        return Err(Error::config(key, value, "expected a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

/// Applies one of the [`COMMON_KEYS`]; `Ok(false)` when `key` is not one of them.
pub fn apply_common(
    key: &str,
    value: &str,
    retry: &mut RetryConfig,
    poll: &mut PollPolicy,
    timeouts: &mut Timeouts,
) -> Result<bool> {
    match key {
        "max_attempts" => {
            let n: u32 = parse(key, value, "a whole number of attempts (1 = no retry)")?;
            if n == 0 {
                return Err(Error::config(key, value, "at least 1 attempt"));
            }
            retry.max_attempts = n;
        }
        "retry_deadline_s" => retry.deadline = seconds(key, value)?,
        "poll_deadline_s" => poll.deadline = seconds(key, value)?,
        "connect_timeout_s" => timeouts.connect = seconds(key, value)?,
        "read_timeout_s" => timeouts.read = seconds(key, value)?,
        "request_timeout_s" => timeouts.operation = seconds(key, value)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The error for a key a builder does not know, listing those it does (`keys`, and the
/// [`COMMON_KEYS`] when `common`).
pub fn unknown_key(provider: &str, key: &str, keys: &[&str], common: bool) -> Error {
    let shared: &[&str] = if common { COMMON_KEYS } else { &[] };
    let mut all: Vec<&str> = keys.iter().chain(shared).copied().collect();
    all.sort_unstable();
    Error::config(
        key,
        "(any value)",
        format!("{provider} takes no such setting; it takes: {}", all.join(", ")),
    )
}
