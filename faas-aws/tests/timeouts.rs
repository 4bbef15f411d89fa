//! An endpoint that accepts connections and never answers: every call ends in a `Timeout`
//! naming it, within the configured limits (a short real-time test).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use faas_aws::{AwsBuilder, StaticKeys};
use faas_core::conformance::SilentServer;
use faas_core::{Error, FunctionSpec, Provider, RetryConfig, Timeouts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_times_out_naming_the_call() {
    let silent = SilentServer::start().await;
    let aws = AwsBuilder::default()
        .region("us-east-1")
        .endpoint_url(&silent.url)
        .static_keys(StaticKeys {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "test-secret".into(),
            session_token: None,
        })
        .retry(RetryConfig::none())
        .timeouts(
            Timeouts::default()
                .connect(Duration::from_millis(300))
                .read(Duration::from_millis(300))
                .operation(Duration::from_secs(2)),
        )
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let e = aws.get("hangs").await.unwrap_err();
    let took = started.elapsed();
    match &e {
        Error::Timeout { operation, waited, .. } => {
            assert!(
                operation.contains("lambda:GetFunction") && operation.contains("hangs"),
                "{e}"
            );
            assert!(
                *waited >= Duration::from_millis(300) && *waited < Duration::from_secs(3),
                "{e}"
            );
        }
        other => panic!("expected a Timeout, got {other}"),
    }
    assert!(took < Duration::from_secs(5), "the call waited {took:?}");
    let spec = FunctionSpec::new("hangs", "python3.12".parse().unwrap(), "app.handler");
    let e = aws
        .plan(
            &spec,
            &faas_core::ArtifactRef {
                uri: "file:///dev/null".into(),
                sha256: "0".repeat(64),
                size: 0,
                local_path: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
}
