//! The Google Cloud Functions (2nd gen) provider for faas: the Cloud Functions v2 and Cloud
//! Run Admin v2 REST APIs, implementing `faas_core::Provider`.
//!
//! * **Construction**: [`GcpBuilder::from_env`] (project, region, endpoint overrides),
//!   credentials through `gcp_auth` (application default credentials, a key file, or any
//!   `TokenProvider`), `RetryConfig` / `PollPolicy` from faas-core.
//! * **Upload**: `functions:generateUploadUrl`, then a `PUT` of the zip streamed from disk with
//!   `content-type: application/zip` and no `Authorization` header; or, with a bucket, a
//!   content-addressed object `{prefix}{function}/{sha256}.zip` (skipped when present).
//! * **Deploy**: `GET` the function, then `POST …/functions?functionId=` or
//!   `PATCH …?updateMask=` naming exactly the fields that differ (nothing ⇒ no call), and wait
//!   for the operation. A failed operation names its failed stage. `409 ABORTED` (another
//!   operation runs, perhaps our own whose answer was lost) is waited out and diffed again, so
//!   a change that landed is a success. The package's sha256 is kept in the build variable
//!   `FAAS_CODE_SHA256`.
//! * **Versions** are Cloud Run revisions, published by tagging them `vN` and recording them
//!   in the service annotation `faas.dev/versions` (one `services.patch` guarded by the
//!   `etag`). **Labels** are traffic tags; the serving label (default `live`) is the function
//!   URL's traffic split, with weights in whole percents. While it exists, deploys set
//!   `allTrafficOnLatestRevision: false`, so a new revision takes no traffic until promoted,
//!   and the provider checks `trafficStatuses` afterwards. Without it the latest revision
//!   serves everything (Cloud Functions' default).
//! * **Invoke** calls the function URL, a tag URL (labels, versions) or the service URL (the
//!   serving label) with an ID token for that URL from an [`IdTokenSource`]: IAM Credentials
//!   `generateIdToken`, the metadata server, none, or your own.
//! * **Metrics** come from Cloud Monitoring v3 `timeSeries.list` on the service's
//!   `cloud_run_revision`s: `request_count` (errors are `5xx`, throttles `429`),
//!   `request_latencies` and `container/startup_latencies` (percentiles interpolated within
//!   the distributions' buckets: estimates). Peak concurrency and memory are not given.
//! * **Logs** come from Cloud Logging v2 `entries.list`, every user variable's value masked
//!   (Cloud Functions keeps no record of which were secret).
//! * **Rollouts** (`faas_core::rollout`) move the serving label's Cloud Run traffic percents,
//!   whole percents only, and no other label. Their state and lease are records in the
//!   artifact bucket (a bucket is needed: without one, records are `InvalidConfig`):
//!   objects `{prefix}records/{key}` written through the Cloud Storage JSON API with
//!   `ifGenerationMatch` — `0` to create, the generation last read (the record's tag) to
//!   replace or delete — so a lost race is `412`, a `Conflict`.
//!
//! ```no_run
//! use faas_core::{DeployOptions, FunctionSpec, ProviderExt};
//! # async fn t(package: faas_core::Package) -> Result<(), faas_core::Error> {
//! let gcp = faas_gcp::GcpBuilder::from_env().project("my-project").region("europe-west1").build().await?;
//! let spec = FunctionSpec::new("hello", "python312".parse()?, "main.handle");
//! let report = gcp
//!     .deploy_package(&spec, &package, &DeployOptions { publish: true, label: Some("live".into()), ..Default::default() })
//!     .await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod artifacts;
mod auth;
mod builder;
mod differences;
mod federation;
mod functions;
mod http;
mod invoke;
mod layout;
mod logging;
mod monitoring;
mod observe;
#[cfg(test)]
mod properties;
mod provider;
mod records;
mod resources;
mod rest;
mod rules;
mod run;
mod spec_mapping;
#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;
mod timestamp;
mod traffic;

/// The provider's name, in [`ProviderInfo`](faas_core::ProviderInfo) and in every error it returns.
pub const NAME: faas_core::ProviderName = faas_core::ProviderName::new("gcp");
pub use auth::{Credentials, IamCredentialsIdTokens, IdToken, IdTokenSource, MetadataIdTokens, NoIdToken};
pub use builder::{CONFIG_KEYS, GcpBuilder, Invoker, endpoints};
pub use provider::GcpProvider;
pub use rules::{CAPABILITY, GCP_RESERVED_ENV, LIMITS};
