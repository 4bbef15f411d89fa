//! Invocations: `Invoke` with the log tail decoded and its `REPORT` line read.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use faas_core::{Error, ExecutionReport, FunctionError, Invocation, InvokeMode, InvokeRequest, ResourceKind, Result};

use crate::AwsProvider;
use crate::error::{Target, map};

fn target(kind: ResourceKind, name: &str) -> Target<'_> {
    Target { kind, name }
}

impl AwsProvider {
    /// `Provider::invoke` on Lambda.
    pub(crate) async fn invoke_function(&self, function: &str, request: &InvokeRequest) -> Result<Invocation> {
        let payload = request.event_bytes()?;
        let name = match &request.qualifier {
            Some(q) => format!("{function}:{q}"),
            None => function.to_string(),
        };
        let kind = if request.qualifier.is_some() {
            ResourceKind::Version
        } else {
            ResourceKind::Function
        };
        let started = tokio::time::Instant::now();
        let out = self
            .functions
            .client
            .invoke()
            .function_name(function)
            .set_qualifier(request.qualifier.clone())
            .invocation_type(match request.mode {
                InvokeMode::Sync => InvocationType::RequestResponse,
                InvokeMode::Async => InvocationType::Event,
                InvokeMode::DryRun => InvocationType::DryRun,
            })
            .log_type(if request.log_tail && request.mode == InvokeMode::Sync {
                LogType::Tail
            } else {
                LogType::None
            })
            .set_client_context(request.client_context_base64())
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| match map(e, target(kind, &name)) {
                // A missing function answers like a missing version when a qualifier was given.
                Error::NotFound { hint, .. } if request.qualifier.is_some() => {
                    let kind = if hint
                        .as_deref()
                        .is_some_and(|h| h.contains(&format!("function:{function}:")))
                    {
                        ResourceKind::Version
                    } else {
                        ResourceKind::Function
                    };
                    Error::not_found(kind, &name, hint)
                }
                other => other,
            })?;
        let body = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        let log_tail = out
            .log_result()
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let function_error = out
            .function_error()
            .map(|kind| FunctionError::from_body(Some(kind), &body));
        Ok(Invocation {
            status: out.status_code() as u16,
            report: log_tail.as_deref().and_then(ExecutionReport::from_log),
            payload: body,
            function_error,
            executed_version: out.executed_version().map(str::to_string),
            log_tail,
            elapsed: started.elapsed(),
            headers: Default::default(),
        })
    }
}
