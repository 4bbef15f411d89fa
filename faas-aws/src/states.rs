//! Lambda's function states, as the waiters read them.
//!
//! `State` (the SDK's [`State`]: `Pending`, `Active`, `Inactive`, `Failed`,
//! `ActiveNonInvocable`, `Deactivating`, `Deactivated`, `Deleting`) and `LastUpdateStatus`
//! decide whether a function is ready for the next call, still settling, asleep or gone; the
//! `StateReasonCode` / `LastUpdateStatusReasonCode` Lambda gives travel in every error.
//!
//! An `Inactive` function (idle long enough for Lambda to reclaim its resources) is not
//! failed: the SDK's documentation of `FunctionConfiguration.State` says "When the state is
//! `Inactive`, you can reactivate the function by invoking it", and the developer guide
//! ("Lambda function states") that the invocation fails while Lambda sets the function to
//! `Pending` and recreates its resources. [`Functions::wait_ready`] therefore invokes it once
//! and waits for `Active`; if it falls back to `Inactive`, Lambda could not recreate the
//! resources and the error carries its reason code.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionConfiguration, InvocationType, LastUpdateStatus, State};
use faas_core::{DeployState, Error, PollStatus, Result};

use crate::error::map;
use crate::lambda::{Functions, fn_target};

/// What a function's configuration says about the next call.
#[derive(Debug)]
pub(crate) enum Readiness {
    /// Ready: creates and updates have finished.
    Ready,
    /// Still settling: look again (the text says what was seen).
    Wait(String),
    /// Asleep (`Inactive`): wake it by invoking it.
    Asleep,
    /// It will not become ready by waiting.
    Failed(Error),
}

/// `State=…, StateReasonCode=…` as seen, for waits and errors.
fn seen(c: &FunctionConfiguration) -> String {
    let mut parts = vec![format!("State={}", c.state().map(|s| s.as_str()).unwrap_or("-"))];
    if let Some(code) = c.state_reason_code() {
        parts.push(format!("StateReasonCode={}", code.as_str()));
    }
    parts.push(format!(
        "LastUpdateStatus={}",
        c.last_update_status().map(|s| s.as_str()).unwrap_or("-")
    ));
    if let Some(code) = c.last_update_status_reason_code() {
        parts.push(format!("LastUpdateStatusReasonCode={}", code.as_str()));
    }
    parts.join(", ")
}

/// The error for a function in state `state` that waiting will not fix: its code is
/// Lambda's `StateReasonCode` (or the state's name), its message says what was seen, Lambda's
/// reason and what to do.
fn state_error(name: &str, c: &FunctionConfiguration, state: &str, advice: &str) -> Error {
    let code = c
        .state_reason_code()
        .map(|r| r.as_str().to_string())
        .unwrap_or_else(|| state.to_string());
    Error::other(
        code,
        format!(
            "function {name} is {state} ({}): {}; {advice}",
            seen(c),
            c.state_reason().unwrap_or("Lambda gave no reason")
        ),
        false,
    )
}

/// How `c` stands for the next call on function `name`.
pub(crate) fn readiness(name: &str, c: &FunctionConfiguration) -> Readiness {
    if let Some(LastUpdateStatus::Failed) = c.last_update_status() {
        let code = c
            .last_update_status_reason_code()
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "UpdateFailed".into());
        return Readiness::Failed(Error::other(
            code,
            format!(
                "update of {name} failed ({}): {}",
                seen(c),
                c.last_update_status_reason().unwrap_or("Lambda gave no reason")
            ),
            false,
        ));
    }
    let updating = matches!(c.last_update_status(), Some(LastUpdateStatus::InProgress));
    match c.state() {
        Some(State::Failed) => Readiness::Failed(state_error(
            name,
            c,
            "Failed",
            "fix the cause, then delete and deploy the function again",
        )),
        Some(State::Deactivated) => Readiness::Failed(state_error(
            name,
            c,
            "Deactivated",
            "Lambda deactivated it and it serves no requests; see the reason, then deploy it again",
        )),
        Some(State::Deleting) => Readiness::Failed(state_error(
            name,
            c,
            "Deleting",
            "it is being deleted: wait until it is gone, then deploy it again",
        )),
        Some(State::Inactive) if !updating => Readiness::Asleep,
        Some(State::Pending | State::Deactivating | State::Inactive) => Readiness::Wait(seen(c)),
        _ if updating => Readiness::Wait(seen(c)),
        // `ActiveNonInvocable` takes updates (it is active) but serves no requests:
        // [`deploy_state`] reports it.
        Some(State::Active | State::ActiveNonInvocable) | None => Readiness::Ready,
        Some(other) => Readiness::Failed(state_error(
            name,
            c,
            other.as_str(),
            "faas does not know this state: upgrade faas-aws (its SDK) or report it",
        )),
    }
}

/// Whether an update may start without waiting.
pub(crate) fn settled(c: &FunctionConfiguration) -> bool {
    matches!(readiness("", c), Readiness::Ready)
}

/// The neutral state of a configuration.
pub(crate) fn deploy_state(c: &FunctionConfiguration) -> DeployState {
    let reason = |what: &str| {
        format!(
            "{what} ({}): {}",
            seen(c),
            c.state_reason()
                .or(c.last_update_status_reason())
                .unwrap_or("Lambda gave no reason")
        )
    };
    match (c.state(), c.last_update_status()) {
        (Some(State::Failed), _) => DeployState::Failed(c.state_reason().unwrap_or_default().to_string()),
        (_, Some(LastUpdateStatus::Failed)) => {
            DeployState::Failed(c.last_update_status_reason().unwrap_or_default().to_string())
        }
        (Some(State::Deactivated), _) => DeployState::Failed(reason("Deactivated")),
        (Some(State::Deleting), _) => DeployState::Failed(reason("Deleting")),
        (Some(State::ActiveNonInvocable), _) => DeployState::Failed(reason("ActiveNonInvocable")),
        (Some(State::Pending | State::Deactivating), _) | (_, Some(LastUpdateStatus::InProgress)) => {
            DeployState::Pending
        }
        (Some(State::Inactive), _) => DeployState::Inactive,
        _ => DeployState::Active,
    }
}

impl Functions {
    /// Waits until the function is ready for the next call (see [`readiness`]): `Pending`,
    /// `Deactivating` and updates in progress are waited on, an `Inactive` function is woken
    /// by one invocation, `Failed`, `Deactivated` and `Deleting` are errors naming the state
    /// and Lambda's reason code.
    pub async fn wait_ready(&self, name: &str) -> Result<FunctionConfiguration> {
        let woken = AtomicBool::new(false);
        let woken = &woken;
        self.poll
            .poll(&format!("function {name} to be ready"), || async move {
                let out = self.read(name).await?;
                let c = out
                    .configuration()
                    .cloned()
                    .unwrap_or_else(|| FunctionConfiguration::builder().build());
                match readiness(name, &c) {
                    Readiness::Ready => Ok(PollStatus::Done(c)),
                    Readiness::Wait(seen) => Ok(PollStatus::Pending(seen)),
                    Readiness::Failed(e) => Err(e),
                    Readiness::Asleep if woken.load(Ordering::SeqCst) => Err(state_error(
                        name,
                        &c,
                        "Inactive",
                        "it was woken but Lambda could not recreate its resources: fix the cause the reason names, then deploy it again",
                    )),
                    Readiness::Asleep => {
                        woken.store(true, Ordering::SeqCst);
                        self.wake(name, &c).await?;
                        Ok(PollStatus::Pending(format!("{} (woken by an invocation)", seen(&c))))
                    }
                }
            })
            .await
    }

    /// Invokes an `Inactive` function once, the way Lambda's documentation reactivates one;
    /// the invocation itself is expected to fail while Lambda recreates the resources.
    async fn wake(&self, name: &str, c: &FunctionConfiguration) -> Result<()> {
        tracing::info!(
            function = name,
            reason_code = c.state_reason_code().map(|r| r.as_str()).unwrap_or("-"),
            "the function is Inactive: invoking it once to reactivate it"
        );
        let answer = self
            .client
            .invoke()
            .function_name(name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(b"{}".to_vec()))
            .send()
            .await;
        match answer.map_err(|e| map(e, fn_target(name))) {
            Ok(_) => Ok(()),
            // The expected answer while it wakes; permissions and the like are real errors.
            Err(Error::Conflict { .. } | Error::Provider { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[path = "states_tests.rs"]
pub(crate) mod tests;
