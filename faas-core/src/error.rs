//! The one error type every provider maps into.

use std::time::Duration;

pub use crate::provider_name::ProviderName;

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
    /// A rollout's record.
    Rollout,
    /// A cloud alarm (CloudWatch).
    Alarm,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResourceKind::Function => "function",
            ResourceKind::Version => "version",
            ResourceKind::Label => "label",
            ResourceKind::Artifact => "artifact",
            ResourceKind::Rollout => "rollout",
            ResourceKind::Alarm => "alarm",
        })
    }
}

/// Everything a faas operation can fail with.
///
/// Callers match on the variants; providers keep their own error types private and map
/// into these with the constructors ([`Error::conflict`], [`Error::other`], …). Every
/// variant a provider can return says which provider in its `provider` field, and its
/// message starts with it (`aws: conflict on fn: …`). Messages say what to do next where
/// that is known. No variant ever holds a secret (keys, tokens, connection strings, secret
/// environment values), nor does any error's source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist.
    #[error("{}{kind} {name:?} not found{}", .provider.prefix(), hint_suffix(.hint))]
    NotFound {
        /// Who said so.
        provider: ProviderName,
        /// What kind of resource.
        kind: ResourceKind,
        /// Its name (`fn`, `fn:3`, `fn@live`).
        name: String,
        /// What to do, when known.
        hint: Option<String>,
    },
    /// The resource exists already.
    #[error("{}{kind} {name:?} already exists", .provider.prefix())]
    AlreadyExists {
        /// Who said so.
        provider: ProviderName,
        /// What kind of resource.
        kind: ResourceKind,
        /// Its name.
        name: String,
    },
    /// Someone else changed the resource, or an update is still in progress.
    #[error("{}conflict on {resource}: {message}", .provider.prefix())]
    Conflict {
        /// Who said so.
        provider: ProviderName,
        /// The resource.
        resource: String,
        /// What changed underneath, as far as is known.
        message: String,
    },
    /// The provider asked us to slow down.
    #[error("{}throttled: {message}{}", .provider.prefix(), .retry_after.map(|d| format!(" (retry after {:.1}s)", d.as_secs_f64())).unwrap_or_default())]
    Throttled {
        /// Who said so.
        provider: ProviderName,
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },
    /// The credentials are valid but lack a permission.
    #[error("{}permission denied{}: {message}", .provider.prefix(), .action.as_ref().map(|a| format!(" (grant {a})")).unwrap_or_default())]
    PermissionDenied {
        /// Who said so.
        provider: ProviderName,
        /// The denied action (`lambda:UpdateFunctionCode`), when known.
        action: Option<String>,
        /// The provider's message.
        message: String,
    },
    /// No valid credentials.
    #[error("{}unauthenticated: {message}", .provider.prefix())]
    Unauthenticated {
        /// Who said so.
        provider: ProviderName,
        /// What was missing or rejected.
        message: String,
    },
    /// Input rejected before anything was changed.
    #[error("{}invalid {field}: {value}: {reason}", .provider.prefix())]
    InvalidInput {
        /// The provider whose rules were broken ([`ProviderName::NONE`] for faas's own).
        provider: ProviderName,
        /// The field (`memory_mb`, `environment`, `routing.weights`).
        field: String,
        /// The offending value (never a secret: secret values are shown as `***`).
        value: String,
        /// The limit and what to do.
        reason: String,
    },
    /// A builder setting or environment variable is wrong (checked before any call).
    #[error("{}invalid configuration {key}: {value}: {reason}", .provider.prefix())]
    InvalidConfig {
        /// The provider being configured.
        provider: ProviderName,
        /// The builder setting or environment variable (`region`, `AWS_REGION`).
        key: String,
        /// The offending value (never a secret).
        value: String,
        /// What is accepted and how to set it.
        reason: String,
    },
    /// The provider cannot do this (see its [`Capability`](crate::Capability)).
    #[error("{} does not support {operation}{}", .provider.subject(), hint_suffix(.hint))]
    Unsupported {
        /// The provider.
        provider: ProviderName,
        /// The operation.
        operation: String,
        /// An alternative, when there is one.
        hint: Option<String>,
    },
    /// A wait ran out of time.
    #[error("{}timed out{} waiting for {operation}; last seen: {last_seen}", .provider.prefix(), waited_suffix(.waited))]
    Timeout {
        /// Whose operation.
        provider: ProviderName,
        /// What was awaited.
        operation: String,
        /// How long we waited (zero: not measured, e.g. an HTTP client's own timeout fired).
        waited: Duration,
        /// The last state observed.
        last_seen: String,
    },
    /// The function ran and failed (for callers that turn function errors into errors).
    #[error("{}function failed: {error_type}: {message}", .provider.prefix())]
    FunctionFailed {
        /// Where it ran.
        provider: ProviderName,
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
    #[error("{} error {code}: {message}", .provider.subject())]
    Provider {
        /// The provider.
        provider: ProviderName,
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
    #[error("{}I/O error on {path}: {source}", .provider.prefix())]
    Io {
        /// The provider whose files these are ([`ProviderName::NONE`] outside one).
        provider: ProviderName,
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

/// The `provider` field of whichever variant `$e` (an `&Error` or `&mut Error`) is.
macro_rules! provider_field {
    ($e:expr) => {
        match $e {
            Error::NotFound { provider, .. }
            | Error::AlreadyExists { provider, .. }
            | Error::Conflict { provider, .. }
            | Error::Throttled { provider, .. }
            | Error::PermissionDenied { provider, .. }
            | Error::Unauthenticated { provider, .. }
            | Error::InvalidInput { provider, .. }
            | Error::InvalidConfig { provider, .. }
            | Error::Unsupported { provider, .. }
            | Error::Timeout { provider, .. }
            | Error::FunctionFailed { provider, .. }
            | Error::Provider { provider, .. }
            | Error::Io { provider, .. } => Some(provider),
            Error::Package(_) => None,
        }
    };
}

/// Constructors: providers make errors with these and never name themselves (see
/// [`ProviderName`]).
impl Error {
    /// [`Error::NotFound`].
    pub fn not_found(kind: ResourceKind, name: impl Into<String>, hint: Option<String>) -> Self {
        Error::NotFound {
            provider: ProviderName::NONE,
            kind,
            name: name.into(),
            hint,
        }
    }

    /// [`Error::AlreadyExists`].
    pub fn already_exists(kind: ResourceKind, name: impl Into<String>) -> Self {
        Error::AlreadyExists {
            provider: ProviderName::NONE,
            kind,
            name: name.into(),
        }
    }

    /// [`Error::Conflict`].
    pub fn conflict(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Conflict {
            provider: ProviderName::NONE,
            resource: resource.into(),
            message: message.into(),
        }
    }

    /// [`Error::Throttled`].
    pub fn throttled(retry_after: Option<Duration>, message: impl Into<String>) -> Self {
        Error::Throttled {
            provider: ProviderName::NONE,
            retry_after,
            message: message.into(),
        }
    }

    /// [`Error::PermissionDenied`].
    pub fn permission_denied(action: Option<String>, message: impl Into<String>) -> Self {
        Error::PermissionDenied {
            provider: ProviderName::NONE,
            action,
            message: message.into(),
        }
    }

    /// [`Error::Unauthenticated`].
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::Unauthenticated {
            provider: ProviderName::NONE,
            message: message.into(),
        }
    }

    /// [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            provider: ProviderName::NONE,
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// [`Error::InvalidConfig`].
    pub fn config(key: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            provider: ProviderName::NONE,
            key: key.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// [`Error::Unsupported`].
    pub fn unsupported(operation: impl Into<String>, hint: Option<String>) -> Self {
        Error::Unsupported {
            provider: ProviderName::NONE,
            operation: operation.into(),
            hint,
        }
    }

    /// [`Error::Timeout`].
    pub fn timeout(operation: impl Into<String>, waited: Duration, last_seen: impl Into<String>) -> Self {
        Error::Timeout {
            provider: ProviderName::NONE,
            operation: operation.into(),
            waited,
            last_seen: last_seen.into(),
        }
    }

    /// [`Error::FunctionFailed`].
    pub fn function_failed(error_type: impl Into<String>, message: impl Into<String>, trace: Vec<String>) -> Self {
        Error::FunctionFailed {
            provider: ProviderName::NONE,
            error_type: error_type.into(),
            message: message.into(),
            trace,
        }
    }

    /// [`Error::Provider`] without a source (add one with [`Error::with_source`]).
    pub fn other(code: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        Error::Provider {
            provider: ProviderName::NONE,
            code: code.into(),
            message: message.into(),
            retryable,
            source: None,
        }
    }

    /// [`Error::Io`].
    pub fn io(path: impl ToString, source: std::io::Error) -> Self {
        Error::Io {
            provider: ProviderName::NONE,
            path: path.to_string(),
            source,
        }
    }

    /// Keeps `source` as the cause of an [`Error::Provider`]; other variants are returned
    /// unchanged (their causes are in their fields).
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        if let Error::Provider { source: s, .. } = &mut self {
            *s = Some(source.into());
        }
        self
    }

    /// Names the provider the error came from, unless it names one already (an error a
    /// provider passed on from another keeps the first name).
    pub fn with_provider(mut self, name: ProviderName) -> Self {
        if let Some(slot) = self.provider_slot()
            && !slot.is_known()
        {
            *slot = name;
        }
        self
    }

    fn provider_slot(&mut self) -> Option<&mut ProviderName> {
        provider_field!(self)
    }
}

impl Error {
    /// The provider the error came from ([`ProviderName::NONE`] for packaging errors and
    /// errors made outside a provider).
    pub fn provider(&self) -> ProviderName {
        provider_field!(self).copied().unwrap_or_default()
    }

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

    /// The error as JSON for CI tools and `--json` output: `kind`, `provider` (`null` when
    /// the error names none), `message` (the whole `Display`, causes included), `retryable`,
    /// and the variant's fields. Holds no secret (no variant does).
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
        let fields = match self {
            Error::NotFound { kind, name, hint, .. } => {
                json!({"resource_kind": kind.to_string(), "name": name, "hint": hint})
            }
            Error::AlreadyExists { kind, name, .. } => json!({"resource_kind": kind.to_string(), "name": name}),
            Error::Conflict { resource, message, .. } => json!({"resource": resource, "detail": message}),
            Error::Throttled {
                retry_after, message, ..
            } => json!({"retry_after_s": retry_after.map(|d| d.as_secs_f64()), "detail": message}),
            Error::PermissionDenied { action, message, .. } => json!({"action": action, "detail": message}),
            Error::Unauthenticated { message, .. } => json!({"detail": message}),
            Error::InvalidInput {
                field, value, reason, ..
            } => json!({"field": field, "value": value, "reason": reason}),
            Error::InvalidConfig { key, value, reason, .. } => json!({"key": key, "value": value, "reason": reason}),
            Error::Unsupported { operation, hint, .. } => json!({"operation": operation, "hint": hint}),
            Error::Timeout {
                operation,
                waited,
                last_seen,
                ..
            } => json!({"operation": operation, "waited_s": waited.as_secs_f64(), "last_seen": last_seen}),
            Error::FunctionFailed {
                error_type,
                message,
                trace,
                ..
            } => json!({"error_type": error_type, "detail": message, "trace": trace}),
            Error::Package(_) => json!({}),
            Error::Provider { code, message, .. } => json!({"code": code, "detail": message}),
            Error::Io { path, .. } => json!({"path": path}),
        };
        json!({
            "kind": self.kind(),
            "provider": self.provider(),
            "message": message,
            "retryable": self.is_retryable(),
            "fields": fields,
        })
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
        let e = Error::other("transport", "GET https://run.googleapis.com/v2/x", true)
            .with_source(cause)
            .with_provider(ProviderName::new("gcp"));
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

#[cfg(test)]
mod provider_names {
    use super::*;

    #[test]
    fn the_first_provider_to_stamp_an_error_keeps_it() {
        let e = Error::not_found(ResourceKind::Function, "f", None)
            .with_provider(ProviderName::new("aws"))
            .with_provider(ProviderName::new("local"));
        assert_eq!(e.provider(), "aws");
        assert_eq!(e.to_string(), "aws: function \"f\" not found");
        assert_eq!(e.to_json()["provider"], "aws");
        let unnamed = Error::conflict("f", "busy");
        assert_eq!(unnamed.to_json()["provider"], serde_json::Value::Null);
        assert_eq!(unnamed.to_string(), "conflict on f: busy");
        assert_eq!(
            Error::unsupported("x", None).to_string(),
            "the provider does not support x"
        );
    }
}
