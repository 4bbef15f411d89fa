//! The one error type every provider maps into.

use std::time::Duration;

/// What kind of thing was not found, already existed or conflicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceKind {
    /// A function.
    Function,
    /// A published version.
    Version,
    /// A label (alias, slot or traffic tag).
    Label,
    /// An uploaded artifact.
    Artifact,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceKind::Function => "function",
            ResourceKind::Version => "version",
            ResourceKind::Label => "label",
            ResourceKind::Artifact => "artifact",
        })
    }
}

/// Everything a faas operation can fail with.
///
/// Callers match on the variants; providers keep their own error types private and map
/// into these. Messages say what to do next where that is known. No variant ever holds a
/// secret (keys, tokens, connection strings, secret environment values).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist.
    #[error("{kind} {name:?} not found{}", hint_suffix(.hint))]
    NotFound {
        /// What kind of resource.
        kind: ResourceKind,
        /// Its name (`fn`, `fn:3`, `fn@live`).
        name: String,
        /// What to do, when known.
        hint: Option<String>,
    },
    /// The resource exists already.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// What kind of resource.
        kind: ResourceKind,
        /// Its name.
        name: String,
    },
    /// Someone else changed the resource, or an update is still in progress.
    #[error("conflict on {resource}: {message}")]
    Conflict {
        /// The resource.
        resource: String,
        /// What changed underneath, as far as is known.
        message: String,
    },
    /// The provider asked us to slow down.
    #[error("throttled: {message}{}", .retry_after.map(|d| format!(" (retry after {:.1}s)", d.as_secs_f64())).unwrap_or_default())]
    Throttled {
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The credentials are valid but lack a permission.
    #[error("permission denied{}: {message}", .action.as_ref().map(|a| format!(" (grant {a})")).unwrap_or_default())]
    PermissionDenied {
        /// The denied action (`lambda:UpdateFunctionCode`), when known.
        action: Option<String>,
        /// The provider's message.
        message: String,
    },
    /// No valid credentials.
    #[error("unauthenticated: {message}")]
    Unauthenticated {
        /// What was missing or rejected.
        message: String,
    },
    /// Input rejected before anything was changed.
    #[error("invalid {field}: {value}: {reason}")]
    InvalidInput {
        /// The field (`memory_mb`, `environment`, `routing.weights`).
        field: String,
        /// The offending value (never a secret: secret values are shown as `***`).
        value: String,
        /// The limit and what to do.
        reason: String,
    },
    /// A builder setting or environment variable is wrong (checked before any call).
    #[error("invalid configuration {key}: {value}: {reason}")]
    InvalidConfig {
        /// The builder setting or environment variable (`region`, `AWS_REGION`).
        key: String,
        /// The offending value (never a secret).
        value: String,
        /// What is accepted and how to set it.
        reason: String,
    },
    /// The provider cannot do this (see its [`Capability`](crate::Capability)).
    #[error("{provider} does not support {operation}{}", hint_suffix(.hint))]
    Unsupported {
        /// The provider's name.
        provider: String,
        /// The operation.
        operation: String,
        /// An alternative, when there is one.
        hint: Option<String>,
    },
    /// A wait ran out of time.
    #[error("timed out{} waiting for {operation}; last seen: {last_seen}", waited_suffix(.waited))]
    Timeout {
        /// What was awaited.
        operation: String,
        /// How long we waited (zero: not measured, e.g. an HTTP client's own timeout fired).
        waited: Duration,
        /// The last state observed.
        last_seen: String,
    },
    /// The function ran and failed (for callers that turn function errors into errors).
    #[error("function failed: {error_type}: {message}")]
    FunctionFailed {
        /// The error type (`ValueError`, `Runtime.ExitError`).
        error_type: String,
        /// The message.
        message: String,
        /// The stack trace lines.
        trace: Vec<String>,
    },
    /// Packaging failed.
    #[error(transparent)]
    Package(#[from] faas_package::PackageError),
    /// Any other provider error.
    #[error("{provider} error {code}: {message}")]
    Provider {
        /// The provider's name.
        provider: String,
        /// The provider's error code.
        code: String,
        /// The provider's message.
        message: String,
        /// Whether retrying may help.
        retryable: bool,
        /// The SDK's or HTTP client's own error, when there is one (never holding a secret:
        /// URLs are stripped of their query, requests are not included).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A local I/O error (state directory, child process).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path or resource.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn waited_suffix(waited: &Duration) -> String {
    if waited.is_zero() {
        String::new()
    } else {
        format!(" after {:.1}s", waited.as_secs_f64())
    }
}

fn hint_suffix(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default()
}

impl Error {
    /// Whether retrying the same call may succeed (throttling, conflicts, retryable provider errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::Conflict { .. } => true,
            Error::Provider { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Throttling, server errors and broken connections: worth the same request again.
    /// Unlike [`Error::is_retryable`], a conflict is not: the caller must look first.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Throttled { .. } | Error::Provider { retryable: true, .. })
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::InvalidConfig`].
    pub fn config(key: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The variant's name in snake case (`not_found`, `invalid_input`, `timeout`): what CI
    /// tools branch on.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Conflict { .. } => "conflict",
            Error::Throttled { .. } => "throttled",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::Unauthenticated { .. } => "unauthenticated",
            Error::InvalidInput { .. } => "invalid_input",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::Unsupported { .. } => "unsupported",
            Error::Timeout { .. } => "timeout",
            Error::FunctionFailed { .. } => "function_failed",
            Error::Package(_) => "package",
            Error::Provider { .. } => "provider",
            Error::Io { .. } => "io",
        }
    }

    /// The error as JSON for CI tools and `--json` output: `kind`, `provider` (when the error
    /// names one), `message` (the whole `Display`, causes included), `retryable`, and the
    /// variant's fields. Holds no secret (no variant does).
    ///
    /// ```
    /// let e = faas_core::Error::invalid("memory_mb", 64, "memory must be 128–10240 MB");
    /// let j = e.to_json();
    /// assert_eq!(j["kind"], "invalid_input");
    /// assert_eq!(j["fields"]["field"], "memory_mb");
    /// assert_eq!(j["retryable"], false);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut message = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message.push_str(&format!(": {text}"));
            }
            cause = c.source();
        }
        let (provider, fields) = match self {
            Error::NotFound { kind, name, hint } => (
                None,
                json!({"resource_kind": kind.to_string(), "name": name, "hint": hint}),
            ),
            Error::AlreadyExists { kind, name } => (None, json!({"resource_kind": kind.to_string(), "name": name})),
            Error::Conflict { resource, message } => (None, json!({"resource": resource, "detail": message})),
            Error::Throttled { retry_after, message } => (
                None,
                json!({"retry_after_s": retry_after.map(|d| d.as_secs_f64()), "detail": message}),
            ),
            Error::PermissionDenied { action, message } => (None, json!({"action": action, "detail": message})),
            Error::Unauthenticated { message } => (None, json!({"detail": message})),
            Error::InvalidInput { field, value, reason } => {
                (None, json!({"field": field, "value": value, "reason": reason}))
            }
            Error::InvalidConfig { key, value, reason } => {
                (None, json!({"key": key, "value": value, "reason": reason}))
            }
            Error::Unsupported {
                provider,
                operation,
                hint,
            } => (Some(provider.clone()), json!({"operation": operation, "hint": hint})),
            Error::Timeout {
                operation,
                waited,
                last_seen,
            } => (
                None,
                json!({"operation": operation, "waited_s": waited.as_secs_f64(), "last_seen": last_seen}),
            ),
            Error::FunctionFailed {
                error_type,
                message,
                trace,
            } => (
                None,
                json!({"error_type": error_type, "detail": message, "trace": trace}),
            ),
            Error::Package(_) => (None, json!({})),
            Error::Provider {
                provider,
                code,
                message,
                ..
            } => (Some(provider.clone()), json!({"code": code, "detail": message})),
            Error::Io { path, .. } => (None, json!({"path": path})),
        };
        json!({
            "kind": self.kind(),
            "provider": provider,
            "message": message,
            "retryable": self.is_retryable(),
            "fields": fields,
        })
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: ResourceKind, name: impl Into<String>, hint: Option<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
            hint,
        }
    }

    #[cfg_attr(not(feature = "local"), allow(dead_code))]
    pub(crate) fn io(path: impl ToString, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// The result type of faas operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_kept_as_sources_and_shown_in_json() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let e = Error::Provider {
            provider: "gcp".into(),
            code: "transport".into(),
            message: "GET https://run.googleapis.com/v2/x".into(),
            retryable: true,
            source: Some(Box::new(cause)),
        };
        let chain: Vec<String> = std::iter::successors(std::error::Error::source(&e), |c| c.source())
            .map(|c| c.to_string())
            .collect();
        assert_eq!(chain, vec!["connection reset by peer"]);
        let j = e.to_json();
        assert!(
            j["message"].as_str().unwrap().ends_with(": connection reset by peer"),
            "{j}"
        );
        assert_eq!(
            (j["kind"].as_str(), j["provider"].as_str(), j["retryable"].as_bool()),
            (Some("provider"), Some("gcp"), Some(true))
        );
    }
}
