//! Provider-neutral continuous delivery of serverless functions.
//!
//! `faas-core` holds the model ([`FunctionSpec`], [`Deployment`], [`Version`], [`Label`],
//! [`Invocation`], [`Plan`]), the object-safe [`Provider`] trait with its [`Capability`],
//! the one [`Error`] enum, the waiting and retrying policies ([`RetryConfig`],
//! [`PollPolicy`]) and, behind the default `local` feature, [`local::LocalProvider`]: an
//! embedded provider that keeps its state in a directory and runs the real handlers, so
//! everything works offline. Cloud providers live in `faas-aws`, `faas-gcp`, `faas-azure`.
//! Behind the `ci-token` feature, the `ci_token` module requests the GitHub Actions job's OIDC ID
//! token that each provider's federation flow exchanges for short-lived cloud credentials.
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::{DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};
//! use faas_package::PackageBuilder;
//!
//! # async fn run() -> Result<(), faas_core::Error> {
//! let provider: Arc<dyn Provider> = Arc::new(faas_core::local::LocalProvider::from_env()?);
//! let spec = FunctionSpec::new("hello", "python3.12".parse()?, "lambda_function.lambda_handler");
//! let package = PackageBuilder::new("functions/hello").runtime(spec.runtime.clone())
//!     .handler(&spec.handler).output("dist/hello.zip").build()?;
//! let opts = DeployOptions { publish: true, label: Some("live".into()), ..Default::default() };
//! let report = provider.deploy_package(&spec, &package, &opts).await?;
//! let out = provider.invoke("hello", &InvokeRequest::json(&serde_json::json!({"name": "you"})).qualifier("live")).await?;
//! println!("{} -> {}", report.change, String::from_utf8_lossy(&out.payload));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's code blocks, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

mod batch;
mod capability;
#[cfg(feature = "ci-token")]
#[cfg_attr(docsrs, doc(cfg(feature = "ci-token")))]
pub mod ci_token;
pub mod cost;
mod error;
mod ext;
pub mod fleet;
mod front;
mod image;
pub mod lifecycle;
mod model;
pub mod names;
pub mod observe;
mod plan;
#[cfg(any(feature = "local", feature = "pipeline"))]
mod process;
mod provider;
mod provider_name;
pub mod records;
mod retry;
pub mod rollout;
pub mod settings;
mod spec;
pub mod testcase;
mod timeouts;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(all(feature = "local", unix))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "local", unix))))]
pub mod local;
#[cfg(feature = "pipeline")]
#[cfg_attr(docsrs, doc(cfg(feature = "pipeline")))]
pub mod pipeline;

pub use batch::{DeployJob, deploy_many};
pub use capability::{Capability, LabelModel};
pub use error::{Error, ProviderName, ResourceKind, Result};
pub use ext::{DeployOptions, DeployReport, LogSink, ProviderExt, local_artifact};
pub use faas_package::{Architecture, Package, PackageBuilder, PackageLimits, Runtime, RuntimeFamily};
pub use image::IMAGE_SCHEME;
pub use model::{
    ArtifactRef, CLIENT_CONTEXT_MAX, Change, DeployOutcome, DeployState, Deployment, ExecutionReport, FunctionError,
    Invocation, InvokeMode, InvokeRequest, Label, Routing, Version,
};
pub use names::Qualifier;
pub use plan::{ConfigDiff, Plan, PlannedAction, diff_config, diff_config_unknown_secrets};
pub use provider::{Provider, ProviderBackend, ProviderInfo, PublishRequest};
pub use retry::{PollPolicy, PollStatus, RetryConfig};
pub use spec::{
    AwsSettings, AzureSettings, FunctionSpec, FunctionUrl, GcpSettings, LAMBDA_RESERVED_ENV, Limits,
    MAX_RESERVED_CONCURRENCY, REDACTED, UrlAuth, UrlCors,
};
pub use timeouts::Timeouts;
