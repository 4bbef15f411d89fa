//! The AWS Lambda provider for faas: Lambda, S3, STS, CloudWatch and CloudWatch Logs through
//! the official `aws-sdk-*` crates, implementing `faas_core::Provider`.
//!
//! * **Construction**: [`AwsBuilder::from_env`] (region, profile, `AWS_ENDPOINT_URL`,
//!   `FAAS_AWS_BUCKET`, `FAAS_AWS_PREFIX`, the standard credential chain), static keys, and
//!   assume-role through STS with an external id; the SDK refreshes assumed credentials
//!   before they expire. One `SdkConfig` (endpoint, retries, timeouts) serves Lambda, S3,
//!   STS, CloudWatch and CloudWatch Logs.
//! * **Artifacts** go to S3 under `{prefix}{function}/{sha256}.zip`; `HeadObject` first, and
//!   nothing is uploaded when the object holds the same sha256. Large packages use multipart
//!   upload streamed from disk, one part in memory at a time, with SHA-256 checksums.
//! * **Deploy** is `GetFunction`, then `CreateFunction`, or `UpdateFunctionCode` and
//!   `UpdateFunctionConfiguration` only for what differs, waiting for `State=Active` and
//!   `LastUpdateStatus=Successful` before each next call. An unchanged deploy is one read.
//!   The deployed `CodeSha256` is checked against the package.
//! * **States**: the waiters know every `State` Lambda reports (`Pending` and `Deactivating`
//!   are waited on; an `Inactive` function is woken by one invocation, as Lambda documents;
//!   `Failed`, `Deactivated`, `Deleting` are errors whose code is the `StateReasonCode` or
//!   `LastUpdateStatusReasonCode`).
//! * **Function URLs** (`aws.function_url`): the URL configuration is planned, created or
//!   updated, and a public URL gets both statements Lambda requires (`lambda:InvokeFunctionUrl`
//!   and `lambda:InvokeFunction` through the URL); the URL is in the `Deployment`.
//! * **SnapStart** (`aws.snap_start`, Python 3.12+): publishing waits for the version's
//!   snapshot (`OptimizationStatus=On`).
//! * **Container images** ([`ArtifactRef::image`](faas_core::ArtifactRef::image), pinned by
//!   digest): `PackageType=Image`, the deployed `ResolvedImageUri` checked.
//! * **Code storage**: `CodeStorageExceededException` names the account's usage and quota
//!   (`GetAccountSettings`); a version with provisioned concurrency is never deleted.
//! * **Versions** are published with the `CodeSha256` and `RevisionId` guards; **labels** are
//!   aliases with `AdditionalVersionWeights`; **invoke** decodes the log tail and its
//!   `REPORT` line.
//! * **Metrics** ([`Provider::metrics`](faas_core::Provider::metrics),
//!   [`metric_series`](faas_core::Provider::metric_series)): one CloudWatch `GetMetricData`
//!   on `AWS/Lambda` — `Invocations`, `Errors`, `Throttles` (Sum) and `ConcurrentExecutions`
//!   (Maximum), with the dimensions Lambda publishes: `FunctionName` for the whole function,
//!   plus `Resource` = `name:qualifier` for a version or alias, plus `ExecutedVersion` for
//!   each version an alias routes to (`Metrics::by_version`). A version's figures add its
//!   invocations through each alias (`Resource` = `name:alias` with `ExecutedVersion`, one
//!   `ListAliases`): Lambda counts those under the alias, never under `name:version`. Durations (mean and
//!   nearest-rank p50/p90/p99, max), cold starts, init durations and memory come from the
//!   `REPORT` lines in CloudWatch Logs (`FilterLogEvents` on `/aws/lambda/<function>`, or the
//!   group its `LoggingConfig` names), exact where CloudWatch's percentiles are estimates.
//!   A series is the same single query with `Period` = the series period (1, 5, 10, 30 s or
//!   a multiple of 60 s). `$LATEST` is measured from its `REPORT` lines alone (errors,
//!   throttles and concurrency are then unavailable, with the reason). One query of the
//!   whole function is two requests; an alias adds its `GetAlias`.
//! * **Logs** ([`Provider::logs`](faas_core::Provider::logs)): `FilterLogEvents` on the
//!   function's log group, with a cursor that follows new records (`ProviderExt::follow_logs`
//!   polls; there is no live tail). Request ids come from Lambda's `START`/`END`/`REPORT`
//!   lines and the runtimes' text and JSON formats, the version from the stream name
//!   (`2026/12/01/[3]…`), the level from the line. A version or alias selects the streams of
//!   its versions. **Secrets**: Lambda keeps no record of which variables a spec marked
//!   secret, so the values of the qualified configuration's variables whose names contain
//!   `TOKEN`, `SECRET`, `PASSWORD`, `KEY` or `CREDENTIAL` (any case; 3 characters or more)
//!   are shown as `***`. One page is `GetFunction` (the configuration: existence, log group,
//!   environment) and `FilterLogEvents`.
//! * **Alarms**: [`AwsProvider::put_alarm`] turns an alert rule into a CloudWatch alarm
//!   (`PutMetricAlarm`): counts, durations and concurrency as metric alarms, rates and a
//!   rule's `min N` as metric math.
//! * **Rollouts** (`faas_core::rollout`: canary, linear, CodeDeploy's plans) move an alias's
//!   `RoutingConfig.AdditionalVersionWeights` step by step (`UpdateAlias` with its
//!   `RevisionId`). Their state and lease are a record (`Provider::read_record`,
//!   `write_record`, `delete_record`): an S3 object in the artifact bucket under
//!   `{prefix}records/` (`rollouts/<function>/<alias>.json`), read with `GetObject` (the tag
//!   is its ETag), created with `PutObject` + `If-None-Match: *`, replaced with `PutObject` +
//!   `If-Match: <ETag>`, deleted with `DeleteObject` + `If-Match`. S3's conditional writes are
//!   atomic, so two rollouts of one alias never both proceed: the loser's
//!   `412 PreconditionFailed` (or `409 ConditionalRequestConflict`) is `Error::Conflict`.
//!   Records need the bucket (`FAAS_AWS_BUCKET`) and `s3:GetObject`/`s3:PutObject`/
//!   `s3:DeleteObject` on `{prefix}records/*`. Alarm gates read CloudWatch alarms by name
//!   (`Provider::alarm_states`: `DescribeAlarms` with `AlarmNames`, metric and composite
//!   alarms; `ALARM` fails the gate and rolls the alias back; an unknown name is
//!   `NotFound` before anything moves); alert-rule gates read the new version's metrics
//!   (above) over each step.
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

mod alarms;
mod aliases;
mod artifacts;
mod builder;
mod error;
mod executed;
#[cfg(feature = "pipeline")]
mod figures;
mod images;
mod invoke;
mod lambda;
mod logs;
mod metrics;
mod paced;
mod planning;
mod provider;
mod quota;
mod records;
mod snapstart;
mod states;
#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;
mod urls;
mod web_identity;

/// The provider's name, in [`ProviderInfo`](faas_core::ProviderInfo) and in every error it returns.
pub const NAME: faas_core::ProviderName = faas_core::ProviderName::new("aws");
pub use builder::{AssumeRole, AwsBuilder, CONFIG_KEYS, StaticKeys};
#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
pub use figures::CloudWatchFigures;
pub use provider::{AwsProvider, CAPABILITY};
pub use web_identity::{AWS_AUDIENCE, WebIdentity, WebIdentityToken};
