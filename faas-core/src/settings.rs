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

/// `value` if it is an `http://` or `https://` URL with a host, else [`Error::InvalidConfig`]
/// naming `key`: an endpoint override that cannot work fails when the builder is configured,
/// not as a connection error later.
///
/// ```
/// use faas_core::settings::url;
/// assert_eq!(url("endpoint_url", "http://127.0.0.1:5000").unwrap(), "http://127.0.0.1:5000");
/// assert!(url("endpoint_url", "127.0.0.1:5000").is_err());
/// ```
pub fn url(key: &str, value: &str) -> Result<String> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !value.contains(char::is_whitespace) => Ok(value.to_string()),
        _ => Err(Error::config(
            key,
            format!("{value:?}"),
            "expected an http:// or https:// URL with a host, such as http://127.0.0.1:5000",
        )),
    }
}

/// The first bad environment value a `from_env` met: the builder keeps it and its `build`
/// fails with it, naming the variable — never silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvProblem(Option<(String, String, String)>);

impl EnvProblem {
    /// Applies `value` of environment variable `var` with `set` (a builder's `with_config`
    /// for `key`); a failure is remembered (the first one wins) and `builder` kept as it was.
    pub fn apply<B: Clone>(&mut self, builder: B, var: &str, value: &str, set: impl FnOnce(B) -> Result<B>) -> B {
        match set(builder.clone()) {
            Ok(next) => next,
            Err(e) => {
                let reason = match e {
                    Error::InvalidConfig { reason, .. } => reason,
                    other => other.to_string(),
                };
                self.0.get_or_insert((var.to_string(), value.to_string(), reason));
                builder
            }
        }
    }

    /// `Err` naming the variable when a value was bad.
    pub fn check(&self) -> Result<()> {
        match &self.0 {
            Some((var, value, reason)) => Err(Error::config(var, format!("{value:?}"), reason)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_environment_value_is_kept_and_fails_later_naming_the_variable() {
        let mut problem = EnvProblem::default();
        let set = |n: u32, v: &str| -> Result<u32> { parse::<u32>("max_attempts", v, "a number").map(|x| n + x) };
        let n = problem.apply(1, "FAAS_X_ATTEMPTS", "2", |n| set(n, "2"));
        assert_eq!(n, 3);
        assert!(problem.check().is_ok());
        let n = problem.apply(n, "FAAS_X_ATTEMPTS", "many", |n| set(n, "many"));
        assert_eq!(n, 3, "the builder stays as it was");
        let _ = problem.apply(n, "FAAS_Y", "worse", |n| set(n, "worse"));
        match problem.check() {
            Err(Error::InvalidConfig { key, value, reason, .. }) => {
                assert_eq!((key.as_str(), value.as_str()), ("FAAS_X_ATTEMPTS", "\"many\""));
                assert!(reason.contains("a number"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        for ok in ["http://127.0.0.1:5000", "https://run.googleapis.com/v2", "http://h"] {
            assert_eq!(url("u", ok).unwrap(), ok);
        }
        for bad in [
            "127.0.0.1:5000",
            "ftp://x",
            "http://",
            "https:///path",
            "http://a b",
            "",
        ] {
            assert!(matches!(url("u", bad), Err(Error::InvalidConfig { .. })), "{bad}");
        }
    }
}
