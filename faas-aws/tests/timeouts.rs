//! An endpoint that accepts connections and never answers: every call ends in a `Timeout`
//! naming it, within the configured limits (a short real-time test).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use faas_aws::{AwsBuilder, StaticKeys};
use faas_core::conformance::{SilentServer, assert_timed_out, short_timeouts};
use faas_core::{Error, FunctionSpec, Provider, RetryConfig};

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
        .timeouts(short_timeouts())
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let got = aws.get("hangs").await;
    if let Err(Error::Timeout { waited, .. }) = &got {
        // The SDK says how long it waited: within the limits.
        assert!(
            *waited >= Duration::from_millis(300) && *waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }
    assert_timed_out(got, "lambda:GetFunction", "hangs", started);
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

/// A refused connection keeps the SDK's error as the `source`; nothing in the chain holds a
/// credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_keep_their_cause_and_no_secret() {
    let closed = format!("http://127.0.0.1:{}", faas_core::conformance::free_port());
    let aws = AwsBuilder::default()
        .region("us-east-1")
        .endpoint_url(&closed)
        .static_keys(StaticKeys {
            access_key_id: "AKIDCHAIN".into(),
            secret_access_key: "chain-secret-canary".into(),
            session_token: Some("chain-token-canary".into()),
        })
        .retry(RetryConfig::none())
        .build()
        .await
        .unwrap();
    let e = aws.get("refused").await.unwrap_err();
    let chain: Vec<String> = std::iter::successors(Some(&e as &dyn std::error::Error), |c| c.source())
        .map(|c| format!("{c} {c:?}"))
        .collect();
    assert!(chain.len() >= 2, "the SDK's error is kept as the source: {chain:?}");
    let all = chain.join("\n") + &e.to_json().to_string();
    assert!(
        !all.contains("chain-secret-canary") && !all.contains("chain-token-canary"),
        "{all}"
    );
}
