//! The Azure Functions provider for faas: Function Apps through ARM (`Microsoft.Web/sites`),
//! Kudu deployments and Blob storage over their REST APIs, with credentials from
//! `azure_identity`, implementing `faas_core::Provider`.
//!
//! * **Construction**: [`AzureBuilder::from_env`] (subscription, resource group, plan,
//!   storage account, endpoint overrides), credentials through azure_identity (client
//!   secret, workload identity for CI OIDC, managed identity, Azure CLI), `RetryConfig` /
//!   `PollPolicy` from faas-core. Tokens are for `https://management.azure.com/.default`.
//! * **Function app**: `PUT Microsoft.Web/sites/{name}` (`kind: functionapp,linux`,
//!   `serverFarmId`, `linuxFxVersion`, app settings; Flex: `functionAppConfig`), waiting for
//!   ARM's long-running operation (`Azure-AsyncOperation`, then `Location`, honouring
//!   `Retry-After`). App settings are read, merged and written (the `PUT` replaces them all):
//!   `FUNCTIONS_WORKER_RUNTIME`, `FUNCTIONS_EXTENSION_VERSION=~4`, `AzureWebJobsStorage` built
//!   from the storage account's `listKeys`, the timeout
//!   (`AzureFunctionsJobHost__functionTimeout`) and the spec's environment; on Elastic
//!   Premium the content share Microsoft documents for that plan
//!   (`WEBSITE_CONTENTAZUREFILECONNECTIONSTRING`, `WEBSITE_CONTENTSHARE`: a valid share name of
//!   its own per app and per slot), added once and then kept as found; settings that are not
//!   ours are kept. Nothing changed ⇒ no write. A plan that targets a Linux Consumption plan
//!   (`AppServicePlans_Get`: sku tier `Dynamic` on Linux, retired on 2028-09-30) carries a
//!   warning naming Flex Consumption (one read per plan per provider).
//! * **Code**: run-from-package (default on Premium and Dedicated: the package blob's
//!   read-only SAS URL in `WEBSITE_RUN_FROM_PACKAGE`, then a trigger sync), Kudu zipdeploy
//!   (`/api/zipdeploy?isAsync=true`, polling the deployment; status 3 fails with its log) or
//!   OneDeploy (`/api/publish`, the Flex Consumption way). `409` (a deployment in progress) is
//!   waited on and retried. The package's sha256 is the app setting `FAAS_CODE_SHA256`.
//! * **Versions**: every publish records an immutable version blob
//!   `{function}/versions/{n}.json` (created with `If-None-Match: *`) that names the
//!   content-addressed package blob `{function}/{sha256}.zip`. **Labels** are deployment
//!   slots running a version; [`AzureProvider::swap`] promotes a slot into production (swap
//!   again to roll back) and [`AzureProvider::ramp_up`] sends a share of production's traffic
//!   to a slot (`rampUpRules`); [`AzureProvider::restore`] re-points production to an earlier
//!   version's package. Flex Consumption has no slots: its `Capability` says so.
//! * **Rollouts** (`faas_core::rollout`, Premium and Dedicated): the slot label must already
//!   run the version; each step sets production's `rampUpRules` entry for the slot
//!   (`actionHostName` its host, `reroutePercentage` the step's percent, through
//!   `config/web`), the last one removes it and swaps the slot in; a rollback swaps back and
//!   restores the starting share ([`AzureProvider::ramp_up_percent`] reads it). The state
//!   and lease are a block blob `records/{key}` in the package container, written with
//!   `If-None-Match: *` (create) or `If-Match: <ETag>` (replace) and deleted with `If-Match`;
//!   `412`/`409` is a `Conflict`; busy storage and lost answers are retried (a retried write
//!   that meets its condition keeps the record when it holds our bytes). Deleting a function
//!   deletes only its packages and versions. Flex Consumption refuses rollouts before any
//!   call.
//! * **Invoke**: `https://{host}/api/{function}` with the host's default function key from
//!   `host/default/listkeys` (cached, never logged).
//! * **Metrics**: Azure Monitor `Metrics_List` (api-version 2023-10-01) on the app, or on the
//!   label's slot, in one call per query: invocations from `Requests` (Premium and Dedicated on
//!   Linux report no `FunctionExecutionCount`) or, on Flex Consumption,
//!   `OnDemandFunctionExecutionCount` + `AlwaysReadyFunctionExecutionCount`; errors from
//!   `Http5xx`. Duration percentiles, cold starts, concurrency, throttles and memory are not
//!   platform metrics: `None`, with the reason (the reason for `duration` quotes
//!   `HttpResponseTime`'s average and maximum). Series take periods of whole minutes.
//! * **Application Insights** ([`AzureBuilder::application_insights`], or each app's
//!   `APPLICATIONINSIGHTS_CONNECTION_STRING`): the data-plane `Query_Execute`
//!   (`POST https://api.applicationinsights.io/v1/apps/{appId}/query`, KQL) over the app's (or
//!   slot's) `requests` gives exact duration percentiles and peak concurrency, in the same
//!   metrics query as Azure Monitor; its `traces` are the provider's `logs` (invocation id,
//!   level, secret values masked, cursor paging). Without it there are no logs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use faas_core::{DeployOptions, FunctionSpec, Provider, ProviderExt};
//! use faas_package::PackageBuilder;
//!
//! # async fn run() -> Result<(), faas_core::Error> {
//! // AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, FAAS_AZURE_PLAN, FAAS_AZURE_STORAGE_ACCOUNT, credentials.
//! let azure: Arc<dyn Provider> = Arc::new(faas_azure::AzureBuilder::from_env().build().await?);
//! let spec = FunctionSpec::new("hello-app", "python3.12".parse()?, "function_app.app");
//! let package = PackageBuilder::new("functions/hello-azure").runtime(spec.runtime.clone())
//!     .handler(&spec.handler).output("dist/hello-azure.zip").build()?;
//! let opts = DeployOptions { publish: true, label: Some("staging".into()), ..Default::default() };
//! azure.deploy_package(&spec, &package, &opts).await?;   // the staging slot runs it
//! azure.swap("hello-app", "staging").await?;              // promote; swap again to roll back
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod app_insights;
mod arm;
mod blob;
mod builder;
mod credentials;
mod differences;
mod flex_deploy;
mod hosting;
mod insights;
mod kudu;
mod metrics;
mod observed;
mod plans;
#[cfg(test)]
mod properties;
mod provider;
mod reconcile;
mod records;
mod resources;
mod runtime;
mod settings;
mod site;
mod slots;
mod store;
#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;
mod transport;
mod versions;

/// The provider's name, in [`ProviderInfo`](faas_core::ProviderInfo) and in every error it returns.
pub const NAME: faas_core::ProviderName = faas_core::ProviderName::new("azure");
pub use app_insights::{APP_INSIGHTS_API, APP_INSIGHTS_SCOPE};
pub use arm::ARM_SCOPE;
pub use builder::{ARM, AzureBuilder, CONFIG_KEYS};
pub use credentials::{AZURE_AUDIENCE, Credentials};
pub use hosting::{DeployMethod, Hosting};
pub use provider::{AzureProvider, CAPABILITY, FLEX_CAPABILITY, LIMITS};
pub use settings::AZURE_RESERVED_ENV;
