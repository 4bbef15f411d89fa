//! [`AzureBuilder`]: subscription, resource group, hosting, storage, credentials, endpoints.

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use faas_core::{Error, PollPolicy, Result, RetryConfig, Timeouts};

use crate::NAME;
use crate::app_insights::{APP_INSIGHTS_API, AppInsights, Component, is_app_id};
use crate::arm::{Arm, arm_root};
use crate::credentials::{AuthKeys, Credentials, credential, env};
use crate::hosting::{DeployMethod, Hosting};
use crate::provider::AzureProvider;
use crate::site::Sites;
use crate::store::PackageStore;

/// The public ARM endpoint.
pub const ARM: &str = "https://management.azure.com/";

/// The keys [`AzureBuilder::with_config`] takes (besides `faas_core::settings::COMMON_KEYS`).
pub const CONFIG_KEYS: &[&str] = &[
    "subscription",
    "resource_group",
    "app",
    "location",
    "plan",
    "hosting",
    "deploy_method",
    "storage_account",
    "blob_endpoint",
    "container",
    "tenant_id",
    "client_id",
    "client_secret",
    "auth",
    "federated_token_file",
    "audience",
    "authority_host",
    "arm_url",
    "kudu_url",
    "ca_file",
    "sas_validity_s",
    "application_insights",
    "application_insights_url",
];

/// Builds an [`AzureProvider`].
///
/// ```no_run
/// # async fn t() -> Result<(), faas_core::Error> {
/// let azure = faas_azure::AzureBuilder::from_env()
///     .subscription("00000000-0000-0000-0000-000000000000")
///     .resource_group("functions")
///     .plan("/subscriptions/…/resourceGroups/functions/providers/Microsoft.Web/serverfarms/ep1")
///     .storage_account("faaspackages")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AzureBuilder {
    pub(crate) subscription: Option<String>,
    pub(crate) resource_group: Option<String>,
    pub(crate) app: Option<String>,
    pub(crate) location: String,
    pub(crate) plan: Option<String>,
    pub(crate) hosting: Hosting,
    pub(crate) method: Option<DeployMethod>,
    pub(crate) storage_account: Option<String>,
    pub(crate) blob_endpoint: Option<String>,
    pub(crate) container: String,
    pub(crate) credentials: Credentials,
    /// The `auth` keys of `with_config`, resolved into credentials by `build`.
    pub(crate) auth_keys: AuthKeys,
    pub(crate) authority_host: Option<String>,
    pub(crate) arm_url: String,
    pub(crate) kudu_url: Option<String>,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) sas_validity: Duration,
    pub(crate) app_insights: Option<Component>,
    pub(crate) app_insights_url: String,
    pub(crate) retry: RetryConfig,
    pub(crate) poll: PollPolicy,
    pub(crate) timeouts: Timeouts,
    /// A bad environment value (variable, value, reason), reported by `build`.
    pub(crate) invalid: Option<(String, String, String)>,
    pub(crate) http: Option<reqwest::Client>,
}

impl Default for AzureBuilder {
    fn default() -> Self {
        AzureBuilder {
            subscription: None,
            resource_group: None,
            app: None,
            location: "westeurope".into(),
            plan: None,
            hosting: Hosting::Premium,
            method: None,
            storage_account: None,
            blob_endpoint: None,
            container: "faas-packages".into(),
            credentials: Credentials::FromEnv,
            auth_keys: AuthKeys::default(),
            authority_host: None,
            arm_url: ARM.into(),
            kudu_url: None,
            root_certificates: Vec::new(),
            sas_validity: Duration::from_secs(10 * 365 * 24 * 3600),
            app_insights: None,
            app_insights_url: APP_INSIGHTS_API.into(),
            retry: RetryConfig::default(),
            poll: PollPolicy::default(),
            timeouts: Timeouts::default(),
            invalid: None,
            http: None,
        }
    }
}

impl AzureBuilder {
    /// Defaults, then the environment: `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP`,
    /// `FAAS_AZURE_APP`, `FAAS_AZURE_LOCATION`, `FAAS_AZURE_PLAN` (the plan's resource id),
    /// `FAAS_AZURE_HOSTING` (`premium`, `dedicated`, `flex`), `FAAS_AZURE_STORAGE_ACCOUNT`,
    /// `FAAS_AZURE_BLOB_ENDPOINT`, `FAAS_AZURE_ARM_URL`, `FAAS_AZURE_KUDU_URL` (with `{app}`),
    /// `AZURE_AUTHORITY_HOST`, `FAAS_AZURE_CA_FILE` (an extra trusted root, PEM),
    /// `FAAS_AZURE_APPLICATION_INSIGHTS` (an application id, or `app_settings`) and
    /// `FAAS_AZURE_APPLICATION_INSIGHTS_URL`. Strict: an unknown hosting, an unreadable CA file
    /// or an application id that is not a GUID makes `build` fail with `InvalidConfig` naming
    /// the variable.
    pub fn from_env() -> AzureBuilder {
        let mut b = AzureBuilder {
            subscription: env("AZURE_SUBSCRIPTION_ID"),
            resource_group: env("AZURE_RESOURCE_GROUP"),
            app: env("FAAS_AZURE_APP"),
            plan: env("FAAS_AZURE_PLAN"),
            storage_account: env("FAAS_AZURE_STORAGE_ACCOUNT"),
            blob_endpoint: env("FAAS_AZURE_BLOB_ENDPOINT"),
            authority_host: env("AZURE_AUTHORITY_HOST"),
            kudu_url: env("FAAS_AZURE_KUDU_URL"),
            ..AzureBuilder::default()
        };
        if let Some(l) = env("FAAS_AZURE_LOCATION") {
            b.location = l;
        }
        if let Some(u) = env("FAAS_AZURE_ARM_URL") {
            b.arm_url = u;
        }
        if let Some(u) = env("FAAS_AZURE_APPLICATION_INSIGHTS_URL") {
            b.app_insights_url = u;
        }
        // Strict: a bad value is remembered and reported by `build`, naming the variable.
        for (var, key) in [
            ("FAAS_AZURE_HOSTING", "hosting"),
            ("FAAS_AZURE_CA_FILE", "ca_file"),
            ("FAAS_AZURE_APPLICATION_INSIGHTS", "application_insights"),
        ] {
            if let Some(v) = env(var) {
                b = match b.clone().with_config(key, &v) {
                    Ok(next) => next,
                    Err(e) => {
                        let reason = match e {
                            Error::InvalidConfig { reason, .. } => reason,
                            other => other.to_string(),
                        };
                        AzureBuilder {
                            invalid: Some((var.to_string(), v, reason)),
                            ..b
                        }
                    }
                };
            }
        }
        b
    }

    /// Defaults, without reading the environment.
    pub fn new() -> Self {
        AzureBuilder::default()
    }

    /// One setting by name — so a YAML block, a map or the environment configures the
    /// provider like the methods do. Keys (the environment variable `from_env` reads):
    ///
    /// | key | meaning |
    /// |---|---|
    /// | `subscription` (`AZURE_SUBSCRIPTION_ID`), `resource_group` (`AZURE_RESOURCE_GROUP`) | where apps live |
    /// | `app` (`FAAS_AZURE_APP`), `location` (`FAAS_AZURE_LOCATION`), `plan` (`FAAS_AZURE_PLAN`) | the app, its region, its plan's resource id |
    /// | `hosting` (`FAAS_AZURE_HOSTING`) | `premium`, `dedicated` or `flex` |
    /// | `deploy_method` | `run_from_package`, `zip_deploy` or `one_deploy` |
    /// | `storage_account` (`FAAS_AZURE_STORAGE_ACCOUNT`), `blob_endpoint` (`FAAS_AZURE_BLOB_ENDPOINT`), `container` | the package store |
    /// | `auth` | `client_secret`, `workload_identity`, `github_oidc`, `managed_identity`, `azure_cli` or `from_env` (below) |
    /// | `tenant_id`, `client_id`, `client_secret` (`AZURE_*`) | a service principal (without `auth`: `client_secret`) |
    /// | `federated_token_file` (`AZURE_FEDERATED_TOKEN_FILE`) | the token file of `auth = workload_identity` |
    /// | `audience` | the `aud` of `auth = github_oidc`'s token (`api://AzureADTokenExchange`) |
    /// | `authority_host` (`AZURE_AUTHORITY_HOST`), `arm_url` (`FAAS_AZURE_ARM_URL`), `kudu_url` (`FAAS_AZURE_KUDU_URL`) | endpoints |
    /// | `ca_file` (`FAAS_AZURE_CA_FILE`) | an extra trusted root certificate (PEM) |
    /// | `sas_validity_s` | how long package SAS URLs are valid |
    /// | `application_insights` (`FAAS_AZURE_APPLICATION_INSIGHTS`) | the Application Insights application id, or `app_settings` (each app's `APPLICATIONINSIGHTS_CONNECTION_STRING`) |
    /// | `application_insights_url` (`FAAS_AZURE_APPLICATION_INSIGHTS_URL`) | the Application Insights API root |
    ///
    /// `auth` picks how to authenticate (tokens for ARM, from `authority_host`):
    ///
    /// | `auth` | credential | keys (variables) it uses |
    /// |---|---|---|
    /// | `client_secret` | a service principal's secret | `tenant_id`, `client_id`, `client_secret` |
    /// | `workload_identity` | client-assertion grant with the token file's content (AKS, CI) | `tenant_id` (`AZURE_TENANT_ID`), `client_id` (`AZURE_CLIENT_ID`), `federated_token_file` (`AZURE_FEDERATED_TOKEN_FILE`) |
    /// | `github_oidc` | client-assertion grant with the GitHub Actions job's ID token (`permissions: id-token: write`) | `tenant_id` (`AZURE_TENANT_ID`), `client_id` (`AZURE_CLIENT_ID`), `audience` |
    /// | `managed_identity` | App Service's identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), else IMDS | `client_id` (a user-assigned identity) |
    /// | `azure_cli` | `az account get-access-token` | — |
    /// | `from_env` (unset) | the first of a client secret, workload identity, managed identity, the CLI found in the environment | — |
    ///
    /// plus the keys every builder takes (`faas_core::settings`: retries, polling, timeouts).
    /// An unknown key or a bad value is `Error::InvalidConfig` naming it.
    ///
    /// ```
    /// let b = faas_azure::AzureBuilder::new().with_config("auth", "workload_identity").unwrap();
    /// assert!(b.with_config("auth", "password").is_err());
    /// let b = faas_azure::AzureBuilder::new().with_config("hosting", "flex").unwrap();
    /// assert!(b.clone().with_config("hosting", "serverless").is_err());
    /// let b = b.with_config("application_insights", "a1b2c3d4-aaaa-4bbb-8ccc-0123456789ab").unwrap();
    /// assert!(b.clone().with_config("application_insights", "my-insights").is_err());
    /// assert!(b.with_config("colour", "blue").is_err());
    /// ```
    pub fn with_config(self, key: &str, value: &str) -> Result<Self> {
        self.set_config(key, value).map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::with_config`], before the error names the provider.
    fn set_config(mut self, key: &str, value: &str) -> Result<Self> {
        use faas_core::settings;
        let text = || value.to_string();
        match key {
            "subscription" => self.subscription = Some(text()),
            "resource_group" => self.resource_group = Some(text()),
            "app" => self.app = Some(text()),
            "location" => self.location = text(),
            "plan" => self.plan = Some(text()),
            "hosting" => {
                self.hosting = match value {
                    "premium" => Hosting::Premium,
                    "dedicated" => Hosting::Dedicated,
                    "flex" => Hosting::Flex,
                    other => return Err(Error::config(key, other, "expected premium, dedicated or flex")),
                }
            }
            "deploy_method" => {
                self.method = Some(match value {
                    "run_from_package" => DeployMethod::RunFromPackage,
                    "zip_deploy" => DeployMethod::ZipDeploy,
                    "one_deploy" => DeployMethod::OneDeploy,
                    other => {
                        return Err(Error::config(
                            key,
                            other,
                            "expected run_from_package, zip_deploy or one_deploy",
                        ));
                    }
                })
            }
            "storage_account" => self.storage_account = Some(text()),
            "blob_endpoint" => self.blob_endpoint = Some(text()),
            "container" => self.container = text(),
            "auth" | "tenant_id" | "client_id" | "client_secret" | "federated_token_file" | "audience" => {
                self.auth_keys.set(key, value)?
            }
            "authority_host" => self.authority_host = Some(text()),
            "arm_url" => self.arm_url = text(),
            "kudu_url" => self.kudu_url = Some(text()),
            "ca_file" => {
                let pem = std::fs::read(value)
                    .map_err(|e| Error::config(key, value, format!("cannot read the certificate file: {e}")))?;
                self.root_certificates.push(pem);
            }
            "sas_validity_s" => self.sas_validity = settings::seconds(key, value)?,
            "application_insights" => {
                self.app_insights = Some(match value {
                    "app_settings" => Component::FromAppSettings,
                    id if is_app_id(id) => Component::AppId(id.to_string()),
                    other => {
                        return Err(Error::config(
                            key,
                            other,
                            "expected the Application ID (a GUID, from the resource's API Access blade) or app_settings",
                        ));
                    }
                })
            }
            "application_insights_url" => self.app_insights_url = text(),
            _ => {
                if !settings::apply_common(key, value, &mut self.retry, &mut self.poll, &mut self.timeouts)? {
                    return Err(settings::unknown_key("azure", key, CONFIG_KEYS, true));
                }
            }
        }
        Ok(self)
    }

    /// The subscription id.
    pub fn subscription(mut self, id: impl Into<String>) -> Self {
        self.subscription = Some(id.into());
        self
    }

    /// The resource group of the function apps (and, by default, the storage account).
    pub fn resource_group(mut self, group: impl Into<String>) -> Self {
        self.resource_group = Some(group.into());
        self
    }

    /// Deploy every function to this function app (the function name is then the HTTP
    /// route). Without it, each function is an app of its own name.
    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// Where new apps are created (`westeurope`).
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// The App Service plan (`serverFarmId`) new apps are created on.
    pub fn plan(mut self, plan_id: impl Into<String>) -> Self {
        self.plan = Some(plan_id.into());
        self
    }

    /// The plan's kind.
    pub fn hosting(mut self, hosting: Hosting) -> Self {
        self.hosting = hosting;
        self
    }

    /// How code is deployed (default: run-from-package, OneDeploy on Flex).
    pub fn deploy_method(mut self, method: DeployMethod) -> Self {
        self.method = Some(method);
        self
    }

    /// The storage account (in the resource group) for packages, version records and
    /// `AzureWebJobsStorage`.
    pub fn storage_account(mut self, name: impl Into<String>) -> Self {
        self.storage_account = Some(name.into());
        self
    }

    /// The account's blob endpoint (default `https://{account}.blob.core.windows.net`).
    pub fn blob_endpoint(mut self, url: impl Into<String>) -> Self {
        self.blob_endpoint = Some(url.into());
        self
    }

    /// The container for packages and version records (default `faas-packages`).
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = name.into();
        self
    }

    /// How to authenticate.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self.auth_keys = AuthKeys::default();
        self
    }

    /// The Entra authority host (`https://login.microsoftonline.com`; sovereign clouds, fakes).
    pub fn authority_host(mut self, url: impl Into<String>) -> Self {
        self.authority_host = Some(url.into());
        self
    }

    /// The ARM root (default `https://management.azure.com/`).
    pub fn arm_url(mut self, url: impl Into<String>) -> Self {
        self.arm_url = url.into();
        self
    }

    /// The Kudu root with `{app}` for the app (or `{app}-{slot}`); default: the app's SCM host.
    pub fn kudu_url(mut self, template: impl Into<String>) -> Self {
        self.kudu_url = Some(template.into());
        self
    }

    /// Trust this root certificate (PEM) as well: TLS-inspecting proxies, private clouds, fakes.
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// How long run-from-package SAS URLs stay valid (default 10 years).
    pub fn sas_validity(mut self, d: Duration) -> Self {
        self.sas_validity = d;
        self
    }

    /// Read durations and logs from Application Insights application `app_id` (the
    /// Application ID of the resource's API Access blade, a GUID): metrics then have duration
    /// percentiles, and the provider has `logs`. Tokens are for
    /// `https://api.applicationinsights.io/.default` (the Monitoring Reader role on the
    /// resource suffices). A bad id makes `build` fail with `InvalidConfig`.
    pub fn application_insights(mut self, app_id: impl Into<String>) -> Self {
        let id = app_id.into();
        if is_app_id(&id) {
            self.app_insights = Some(Component::AppId(id));
        } else {
            self.invalid = Some((
                "application_insights".into(),
                id,
                "expected the Application ID (a GUID, from the resource's API Access blade)".into(),
            ));
        }
        self
    }

    /// Read durations and logs from the Application Insights resource each app's
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` app setting names (its `ApplicationId=` part).
    pub fn application_insights_from_app_settings(mut self) -> Self {
        self.app_insights = Some(Component::FromAppSettings);
        self
    }

    /// The Application Insights API root (default `https://api.applicationinsights.io`).
    pub fn application_insights_url(mut self, url: impl Into<String>) -> Self {
        self.app_insights_url = url.into();
        self
    }

    /// Retries of throttled and transient calls.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// How long-running operations and Kudu deployments are awaited.
    pub fn poll(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// Connect, read and whole-request timeouts of every HTTP call (see [`Timeouts`]); a call
    /// that runs out of them is `Error::Timeout` naming it.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Use a `reqwest::Client` you already have (its proxies, roots and timeouts) for ARM,
    /// Kudu, Blob, Entra token and function calls; `root_certificate_pem` and `timeouts` are
    /// then not applied.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    fn http(&self) -> Result<reqwest::Client> {
        if let Some(client) = &self.http {
            return Ok(client.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.read)
            .timeout(self.timeouts.operation);
        for pem in &self.root_certificates {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| Error::config("root_certificate_pem", "(certificate)", e.to_string()))?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| Error::other("http_client", e.to_string(), false))
    }

    /// Checks the settings, sets up the credential and builds the provider.
    pub async fn build(self) -> Result<AzureProvider> {
        self.build_provider().await.map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::build`], before the error names the provider.
    async fn build_provider(self) -> Result<AzureProvider> {
        if let Some((key, value, reason)) = &self.invalid {
            return Err(Error::config(key, value, reason.clone()));
        }
        let required = |v: &Option<String>, field: &str, how: &str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| Error::config(field, "(unset)", how.to_string()))
        };
        let subscription = required(
            &self.subscription,
            "subscription",
            "name the subscription: AzureBuilder::subscription or AZURE_SUBSCRIPTION_ID",
        )?;
        let group = required(
            &self.resource_group,
            "resource_group",
            "name the resource group: AzureBuilder::resource_group or AZURE_RESOURCE_GROUP",
        )?;
        let account = required(
            &self.storage_account,
            "storage_account",
            "name the storage account for packages: AzureBuilder::storage_account or FAAS_AZURE_STORAGE_ACCOUNT",
        )?;
        let credentials = match self.auth_keys.credentials()? {
            Some(c) => c,
            None => self.credentials.clone(),
        };
        let http = self.http()?;
        let credential = credential(&credentials, self.authority_host.as_deref(), &http)?;
        Ok(self.into_provider(subscription, group, account, http, credential))
    }

    /// The provider these settings describe, with the credential and HTTP client made from them.
    fn into_provider(
        self,
        subscription: String,
        group: String,
        account: String,
        http: reqwest::Client,
        credential: Arc<dyn TokenCredential>,
    ) -> AzureProvider {
        let arm_url = arm_root(&self.arm_url);
        let group_url = format!("{arm_url}subscriptions/{subscription}/resourceGroups/{group}/providers");
        let app_insights = self.app_insights.clone().map(|component| AppInsights {
            http: http.clone(),
            credential: credential.clone(),
            retry: self.retry,
            base: self.app_insights_url.trim_end_matches('/').to_string(),
            component,
        });
        let arm = Arm {
            http: http.clone(),
            credential,
            retry: self.retry,
            poll: self.poll,
        };
        let method = self.method.unwrap_or(match self.hosting {
            Hosting::Flex => DeployMethod::OneDeploy,
            _ => DeployMethod::RunFromPackage,
        });
        let endpoint = self
            .blob_endpoint
            .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
        let store = PackageStore::new(
            arm.clone(),
            http.clone(),
            format!("{group_url}/Microsoft.Storage/storageAccounts/{account}"),
            &endpoint,
            account,
            self.container,
            self.sas_validity,
        );
        let sites = Sites {
            arm,
            base: format!("{group_url}/Microsoft.Web/sites/"),
            location: self.location,
            plan: self.plan,
            hosting: self.hosting,
            method,
            kudu_url: self.kudu_url,
            plan_warnings: Default::default(),
        };
        AzureProvider::new(sites, store, self.app, http, app_insights)
    }
}
