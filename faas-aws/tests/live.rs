//! The conformance suite against real AWS Lambda — ignored unless asked for with `--ignored`
//! (never in CI here: no network to AWS):
//! `FAAS_LIVE_AWS_ROLE=arn:aws:iam::…:role/… FAAS_AWS_BUCKET=… cargo test -p faas-aws --test live -- --ignored`
//! with the standard credential chain allowed to manage Lambda functions.

#![allow(clippy::unwrap_used)]

use faas_core::conformance::{self, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an AWS account: credentials, FAAS_LIVE_AWS_ROLE and network access to AWS"]
async fn live_aws_passes_the_conformance_suite() {
    let role = std::env::var("FAAS_LIVE_AWS_ROLE").expect("FAAS_LIVE_AWS_ROLE: the functions' execution role ARN");
    let provider = faas_aws::AwsBuilder::from_env().build().await.unwrap();
    let fixture = Fixture {
        role: Some(role),
        ..Fixture::python()
    };
    eprintln!("{}", conformance::run_all(&provider, &fixture).await);
}
