//! The AWS Lambda provider for faas: Lambda, S3 and STS through the official `aws-sdk-*`
//! crates, implementing `faas_core::Provider`.
//!
//! * **Construction**: [`AwsBuilder::from_env`] (region, profile, `AWS_ENDPOINT_URL`,
//!   `FAAS_AWS_BUCKET`, `FAAS_AWS_PREFIX`, the standard credential chain), static keys, and
//!   assume-role through STS with an external id; the SDK refreshes assumed credentials
//!   before they expire. One `SdkConfig` serves Lambda, S3 and STS.
//! * **Artifacts** go to S3 under `{prefix}{function}/{sha256}.zip`; `HeadObject` first, and
//!   nothing is uploaded when the object holds the same sha256. Large packages use multipart
//!   upload streamed from disk, one part in memory at a time, with SHA-256 checksums.
//! * **Deploy** is `GetFunction`, then `CreateFunction`, or `UpdateFunctionCode` and
//!   `UpdateFunctionConfiguration` only for what differs, waiting for `State=Active` and
//!   `LastUpdateStatus=Successful` before each next call. An unchanged deploy is one read.
//!   The deployed `CodeSha256` is checked against the package.
//! * **Versions** are published with the `CodeSha256` and `RevisionId` guards; **labels** are
//!   aliases with `AdditionalVersionWeights`; **invoke** decodes the log tail and its
//!   `REPORT` line.
//! * **Errors** map to `faas_core::Error`; `ResourceConflictException` (an update in
//!   progress) is waited on and retried, which the SDK does not do.
//!
//! ```no_run
//! use faas_core::{DeployOptions, FunctionSpec, ProviderExt};
//! # async fn t(package: faas_core::Package) -> Result<(), faas_core::Error> {
//! let aws = faas_aws::AwsBuilder::from_env().bucket("artifacts").build().await?;
//! let spec = FunctionSpec::new("hello", "python3.12".parse()?, "lambda_function.lambda_handler")
//!     .role("arn:aws:iam::123456789012:role/lambda-exec");
//! let report = aws
//!     .deploy_package(&spec, &package, &DeployOptions { publish: true, label: Some("live".into()), ..Default::default() })
//!     .await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod artifacts;
mod builder;
mod error;
mod lambda;
mod provider;
#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;

/// The provider's name, in [`ProviderInfo`](faas_core::ProviderInfo) and in every error it returns.
pub const NAME: faas_core::ProviderName = faas_core::ProviderName::new("aws");
pub use builder::{AssumeRole, AwsBuilder, CONFIG_KEYS, StaticKeys};
pub use provider::{AwsProvider, CAPABILITY};
