//! Mapping the SDK's errors into faas-core's one error type.

use std::time::Duration;

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_types::retry::ErrorKind;
use faas_core::{Error, ResourceKind};

/// What faas-aws retries itself: conflicts (`ResourceConflictException`, an update in
/// progress), which the SDK does not. Throttling, server errors and broken connections are
/// the SDK's to retry (its standard mode, honouring `Retry-After`), so that the two never
/// multiply.
pub(crate) fn conflicts_only(e: &Error) -> bool {
    matches!(e, Error::Conflict { .. })
}

/// Makes the SDK retry `429 Too Many Requests` (with or without an error code: S3 sends none)
/// and `503`, and wait what a `Retry-After` header asks for.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RetryAfter;

impl ClassifyRetry for RetryAfter {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(resp) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        match (resp.status().as_u16(), after) {
            (429 | 503, Some(d)) => RetryAction::retryable_error_with_explicit_delay(ErrorKind::ThrottlingError, d),
            (429, None) => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "faas Retry-After"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::modeled_as_retryable_classifier())
    }
}

/// Lambda's error code when the account's code storage is full.
pub(crate) const STORAGE_EXCEEDED: &str = "CodeStorageExceededException";

/// What the call was about, for `NotFound` and `Conflict` messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub kind: ResourceKind,
    pub name: &'a str,
}

/// The action in an AccessDenied message (`... is not authorized to perform: lambda:X on ...`).
fn denied_action(message: &str) -> Option<String> {
    let start = message.find("perform: ")? + "perform: ".len();
    let rest = &message[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches(',').to_string())
}

/// Maps any SDK error. `code` and `message` come from the service's error metadata.
pub(crate) fn map<E>(err: SdkError<E, HttpResponse>, target: Target<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = (err.code().map(str::to_string), err.message().map(str::to_string));
    let (status, retry_after) = match &err {
        SdkError::ServiceError(s) => (
            Some(s.raw().status().as_u16()),
            s.raw()
                .headers()
                .get("retry-after")
                .and_then(|v| v.parse::<f64>().ok())
                .map(Duration::from_secs_f64),
        ),
        _ => (None, None),
    };
    match (&err, code) {
        (SdkError::ServiceError(_), Some(code)) => {
            let mapped = from_code(&code, message.unwrap_or_default(), target);
            match mapped {
                Error::Throttled {
                    message,
                    retry_after: None,
                    ..
                } => Error::throttled(retry_after, message),
                // A code faas does not know (moto's `ConflictException`) on a 409 is a conflict.
                Error::Provider { message, .. } if status == Some(409) => {
                    Error::conflict(target.name.to_string(), format!("{code}: {message}"))
                }
                other => other,
            }
        }
        (SdkError::ServiceError(_), None) => {
            if status == Some(409) {
                return Error::conflict(
                    target.name.to_string(),
                    message.unwrap_or_else(|| "409 Conflict".into()),
                );
            }
            if status == Some(404) {
                return Error::not_found(target.kind, target.name, None);
            }
            if status == Some(429) {
                return Error::throttled(retry_after, "Too Many Requests");
            }
            Error::other(
                "Unknown",
                message.unwrap_or_else(|| "the service returned an error without a code".into()),
                false,
            )
        }
        (SdkError::TimeoutError(_), _) => timed_out::<E>(&err, target),
        (SdkError::DispatchFailure(d), _) if d.is_timeout() => timed_out::<E>(&err, target),
        (SdkError::DispatchFailure(_), _) => {
            Error::other("Transport", "could not reach the service", true).with_source(sdk_cause(&err))
        }
        (SdkError::ResponseError(_), _) => {
            Error::other("Response", "the service's response could not be read", true).with_source(sdk_cause(&err))
        }
        (SdkError::ConstructionFailure(_), _) => Error::invalid(
            "request",
            target.name,
            format!(
                "the request could not be built: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        ),
        _ => Error::other("Sdk", "the SDK failed", false).with_source(sdk_cause(&err)),
    }
}

/// The SDK's error with its whole chain as text, kept as the `source` of faas's error (the SDK's
/// errors name the operation and the connector's failure, never a credential).
fn sdk_cause<E>(err: &SdkError<E, HttpResponse>) -> Box<dyn std::error::Error + Send + Sync>
where
    E: std::error::Error + Send + Sync + 'static,
{
    aws_smithy_types::error::display::DisplayErrorContext(err)
        .to_string()
        .into()
}

/// `lambda:GetFunction` from the SDK's error type (`aws_sdk_lambda::operation::get_function::GetFunctionError`).
fn operation_name<E>() -> String {
    let full = std::any::type_name::<E>();
    let service = full
        .split("::")
        .next()
        .and_then(|c| c.strip_prefix("aws_sdk_"))
        // The IAM prefix of CloudWatch Logs' actions.
        .map(|s| if s == "cloudwatchlogs" { "logs" } else { s })
        .unwrap_or("aws");
    let op = full.rsplit("::").next().unwrap_or(full);
    let op = op.split('<').next().unwrap_or(op);
    format!("{service}:{}", op.strip_suffix("Error").unwrap_or(op))
}

/// The SDK gave up waiting (connect, read or operation timeout): a `Timeout` naming the call,
/// with how long the SDK says it waited.
fn timed_out<E>(err: &SdkError<E, HttpResponse>, target: Target<'_>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let detail = aws_smithy_types::error::display::DisplayErrorContext(err).to_string();
    Error::timeout(
        format!("{} ({} {})", operation_name::<E>(), target.kind, target.name),
        waited_in(&detail).unwrap_or_default(),
        format!("no answer: {detail} (set the limits with AwsBuilder::timeouts)"),
    )
}

/// The duration in the SDK's "… occurred after 300ms" message (a `Duration`'s `Debug` form).
fn waited_in(text: &str) -> Option<Duration> {
    let rest = &text[text.find("after ")? + "after ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c.is_alphabetic()))
        .unwrap_or(rest.len());
    let token = &rest[..end];
    let split = token.find(|c: char| c.is_alphabetic())?;
    let (num, unit) = token.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "µs" | "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

fn from_code(code: &str, message: String, target: Target<'_>) -> Error {
    match code {
        "ResourceNotFoundException" | "ResourceNotFound" | "NoSuchKey" | "NotFound" | "NoSuchBucket" | "NoSuchUpload" => {
            let hint =
                (code == "NoSuchBucket").then(|| "create the artifact bucket or fix FAAS_AWS_BUCKET".to_string());
            Error::not_found(target.kind, target.name, hint.or(Some(message)))
        }
        "ResourceConflictException" | "ResourceInUseException" | "PreconditionFailedException" => {
            Error::conflict(target.name.to_string(), message)
        }
        "TooManyRequestsException" | "ThrottlingException" | "Throttling" | "SlowDown" | "RequestLimitExceeded" => {
            Error::throttled(None, message)
        }
        "AccessDeniedException" | "AccessDenied" | "AuthorizationError" => {
            Error::permission_denied(denied_action(&message), message)
        }
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken" => Error::unauthenticated(format!("{code}: {message}")),
        "InvalidParameterValueException"
        | "InvalidRequestContentException"
        | "RequestTooLargeException"
        // CloudWatch and CloudWatch Logs.
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameterException"
        | "MissingParameter" => {
            Error::invalid(target.kind.to_string(), target.name, format!("{code}: {message}"))
        }
        // The advice, with the account's quota, is added where code is stored
        // (`Functions::storage_advice`, which reads `GetAccountSettings`).
        STORAGE_EXCEEDED => Error::other(code, message, false),
        "ServiceException" | "InternalError" | "InternalFailure" | "ServiceUnavailable" | "EC2ThrottledException" => {
            Error::other(code, message, true)
        }
        _ => Error::other(code, message, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_action_is_extracted() {
        let m = "User: arn:aws:iam::1:user/ci is not authorized to perform: lambda:UpdateFunctionCode on resource: arn:aws:lambda:x";
        assert_eq!(denied_action(m).as_deref(), Some("lambda:UpdateFunctionCode"));
        let e = from_code(
            "AccessDeniedException",
            m.into(),
            Target {
                kind: ResourceKind::Function,
                name: "f",
            },
        );
        assert!(e.to_string().contains("grant lambda:UpdateFunctionCode"), "{e}");
    }
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[test]
    fn the_call_and_the_wait_are_named() {
        assert_eq!(
            operation_name::<aws_sdk_lambda::operation::get_function::GetFunctionError>(),
            "lambda:GetFunction"
        );
        assert_eq!(
            operation_name::<aws_sdk_s3::operation::put_object::PutObjectError>(),
            "s3:PutObject"
        );
        assert_eq!(
            operation_name::<aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError>(),
            "logs:FilterLogEvents"
        );
        assert_eq!(
            operation_name::<aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError>(),
            "cloudwatch:GetMetricData"
        );
        assert_eq!(
            waited_in("timeout: HTTP read timeout occurred after 300ms"),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            waited_in("operation timeout occurred after 1.5s, gave up"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(waited_in("no duration here"), None);
    }
}
