//! The conformance suite against real AWS Lambda — only when `FAAS_LIVE_AWS=1` (never in CI
//! here: no network to AWS):
//! `FAAS_LIVE_AWS=1 FAAS_LIVE_AWS_ROLE=arn:aws:iam::…:role/… FAAS_AWS_BUCKET=… cargo test -p faas-aws --test live`
//! with the standard credential chain allowed to manage Lambda functions.

#![allow(clippy::unwrap_used)]

use faas_core::conformance::{self, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_aws_passes_the_conformance_suite() {
    if std::env::var("FAAS_LIVE_AWS").as_deref() != Ok("1") {
        eprintln!("live AWS run not requested (FAAS_LIVE_AWS=1 runs the suite against a real account)");
        return;
    }
    let role = std::env::var("FAAS_LIVE_AWS_ROLE").expect("FAAS_LIVE_AWS_ROLE: the functions' execution role ARN");
    let provider = faas_aws::AwsBuilder::from_env().build().await.unwrap();
    let fixture = Fixture {
        role: Some(role),
        ..Fixture::python()
    };
    conformance::run_all(&provider, &fixture).await;
}
