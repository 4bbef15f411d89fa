//! The waiters against an in-process fake of Lambda's `GetFunction` and `Invoke` (the
//! response shapes of the API reference: `Configuration.State`, `StateReason`,
//! `StateReasonCode`, `LastUpdateStatus`), so that tokio's paused clock runs the waits:
//! moto reports every function `Active` and cannot be made to sleep.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use faas_core::{DeployState, Error, PollPolicy, RetryConfig};

use super::*;

/// What the fake answers for `GetFunction`, in turn (the last one repeats), and what it saw.
#[derive(Debug, Default)]
pub(crate) struct Script {
    /// `Configuration` objects; the fake moves to the next one after each read, and after
    /// an invocation when `advance_on_invoke` (how an Inactive function wakes).
    pub configs: Vec<serde_json::Value>,
    pub advance_on_invoke: bool,
    /// GetFunction's `Code` object, when the fake answers one.
    pub code: Option<serde_json::Value>,
    pub at: usize,
    pub seen: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Fake(pub Arc<Mutex<Script>>);

impl HttpConnector for Fake {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut s = self.0.lock().unwrap();
        let line = format!("{} {}", request.method(), request.uri());
        s.seen.push(line.clone());
        let (status, body) = if line.contains("/invocations") {
            if s.advance_on_invoke {
                s.at += 1;
            }
            (
                409,
                serde_json::json!({
                    "Type": "User",
                    "message": "The operation cannot be performed at this time. The function is currently in the following state: Inactive"
                }),
            )
        } else {
            let i = s.at.min(s.configs.len() - 1);
            let config = s.configs[i].clone();
            if !s.advance_on_invoke || i > 0 {
                s.at += 1;
            }
            // GetFunctionConfiguration answers the configuration itself, GetFunction wraps it.
            if line.contains("/configuration") {
                (200, config)
            } else {
                let mut answer = serde_json::json!({ "Configuration": config });
                if let Some(code) = &s.code {
                    answer["Code"] = code.clone();
                }
                (200, answer)
            }
        };
        let mut resp = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()));
        resp.headers_mut().insert("content-type", "application/json");
        if status == 409 {
            resp.headers_mut()
                .insert("x-amzn-errortype", "ResourceConflictException");
        }
        HttpConnectorFuture::ready(Ok(resp))
    }
}

pub(crate) fn functions(fake: Fake) -> Functions {
    let http = http_client_fn(move |_, _| SharedHttpConnector::new(fake.clone()));
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "fake",
        ))
        .endpoint_url("http://lambda.fake")
        .http_client(http)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    Functions {
        client: aws_sdk_lambda::Client::from_conf(config),
        poll: PollPolicy {
            interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
            backoff: 2.0,
            deadline: Duration::from_secs(300),
        },
        retry: RetryConfig::default(),
        inline_limit: 1024,
    }
}

fn config(state: &str, code: Option<&str>, update: &str) -> serde_json::Value {
    let mut c = serde_json::json!({
        "FunctionName": "sleepy",
        "State": state,
        "LastUpdateStatus": update,
    });
    if let Some(code) = code {
        c["StateReasonCode"] = code.into();
        c["StateReason"] = format!("Lambda says {code}").into();
    }
    c
}

fn script(configs: Vec<serde_json::Value>, advance_on_invoke: bool) -> Arc<Mutex<Script>> {
    Arc::new(Mutex::new(Script {
        configs,
        advance_on_invoke,
        ..Script::default()
    }))
}

#[tokio::test(start_paused = true)]
async fn an_inactive_function_is_woken_by_one_invocation_and_waited_for() {
    let s = script(
        vec![
            config("Inactive", Some("Idle"), "Successful"),
            config("Pending", Some("Restoring"), "Successful"),
            config("Pending", Some("Restoring"), "Successful"),
            config("Active", None, "Successful"),
        ],
        true,
    );
    let f = functions(Fake(s.clone()));
    let started = tokio::time::Instant::now();
    let c = f.wait_ready("sleepy").await.unwrap();
    assert_eq!(c.state(), Some(&State::Active));
    let seen = s.lock().unwrap().seen.clone();
    let invokes = seen.iter().filter(|l| l.contains("/invocations")).count();
    assert_eq!(invokes, 1, "woken exactly once: {seen:#?}");
    assert!(
        seen[1].contains("/invocations"),
        "the wake follows the first read: {seen:#?}"
    );
    // Reads after the wake: Pending, Pending, Active, after waits of 1, 2 and 4 s.
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1 + 2 + 4),
        "the paused clock ran the waits"
    );
}

#[tokio::test(start_paused = true)]
async fn a_function_that_stays_inactive_after_the_wake_is_an_error_with_its_reason_code() {
    let s = script(
        vec![
            config("Inactive", Some("Idle"), "Successful"),
            config("Pending", Some("Restoring"), "Successful"),
            config("Inactive", Some("ImageDeleted"), "Successful"),
        ],
        true,
    );
    let err = functions(Fake(s.clone())).wait_ready("sleepy").await.unwrap_err();
    match &err {
        Error::Provider { code, message, .. } => {
            assert_eq!(code, "ImageDeleted");
            assert!(
                message.contains("State=Inactive") && message.contains("Lambda says ImageDeleted"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let invokes = s
        .lock()
        .unwrap()
        .seen
        .iter()
        .filter(|l| l.contains("/invocations"))
        .count();
    assert_eq!(invokes, 1, "one wake, not a loop");
}

#[tokio::test(start_paused = true)]
async fn a_deactivated_function_is_reported_with_its_state_and_reason_not_waited_on() {
    let s = script(
        vec![
            config("Deactivating", Some("InsufficientCapacity"), "Successful"),
            config("Deactivated", Some("InsufficientCapacity"), "Successful"),
        ],
        false,
    );
    let started = tokio::time::Instant::now();
    let err = functions(Fake(s.clone())).wait_ready("sleepy").await.unwrap_err();
    match &err {
        Error::Provider { code, message, .. } => {
            assert_eq!(code, "InsufficientCapacity");
            assert!(message.contains("is Deactivated"), "{message}");
            assert!(message.contains("StateReasonCode=InsufficientCapacity"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.lock().unwrap().seen.len(),
        2,
        "Deactivating waited on, Deactivated not"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(
        s.lock().unwrap().seen.iter().all(|l| !l.contains("/invocations")),
        "a deactivated function is not invoked"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_carries_last_update_status_reason_code() {
    let mut c = config("Active", None, "Failed");
    c["LastUpdateStatusReasonCode"] = "InvalidImage".into();
    c["LastUpdateStatusReason"] = "the image is broken".into();
    let err = functions(Fake(script(vec![c], false)))
        .wait_ready("sleepy")
        .await
        .unwrap_err();
    match &err {
        Error::Provider { code, message, .. } => {
            assert_eq!(code, "InvalidImage");
            assert!(message.contains("the image is broken"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// One short real-time wait: the fake's Pending, then Active, with a 20 ms poll.
#[tokio::test]
async fn a_pending_function_is_waited_on_in_real_time() {
    let s = script(
        vec![
            config("Pending", Some("Creating"), "InProgress"),
            config("Active", None, "Successful"),
        ],
        false,
    );
    let mut f = functions(Fake(s.clone()));
    f.poll = PollPolicy::fast();
    let started = std::time::Instant::now();
    f.wait_ready("sleepy").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(s.lock().unwrap().seen.len(), 2);
}

#[test]
fn every_state_the_sdk_knows_is_classified() {
    let ready = |state: &str| {
        let c = FunctionConfiguration::builder()
            .state(State::from(state))
            .last_update_status(LastUpdateStatus::Successful)
            .build();
        (readiness("f", &c), deploy_state(&c))
    };
    for s in State::values() {
        let (r, d) = ready(s);
        match *s {
            "Active" => assert!(matches!((r, d), (Readiness::Ready, DeployState::Active))),
            "ActiveNonInvocable" => assert!(matches!((r, d), (Readiness::Ready, DeployState::Failed(_)))),
            "Pending" | "Deactivating" => assert!(matches!((r, d), (Readiness::Wait(_), DeployState::Pending))),
            "Inactive" => assert!(matches!((r, d), (Readiness::Asleep, DeployState::Inactive))),
            "Failed" | "Deactivated" | "Deleting" => {
                assert!(matches!((r, d), (Readiness::Failed(_), DeployState::Failed(_))), "{s}")
            }
            other => panic!("a state faas does not classify: {other}"),
        }
    }
    assert!(matches!(ready("Hibernating").0, Readiness::Failed(_)));
}
