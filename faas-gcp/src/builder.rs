//! [`GcpBuilder`]: project, region, credentials, endpoints and policies.

use std::path::PathBuf;
use std::sync::Arc;

use faas_core::{Error, PollPolicy, Result, RetryConfig, Timeouts};
use gcp_auth::{CustomServiceAccount, TokenProvider};

use crate::NAME;
use crate::artifacts::Bucket;
use crate::auth::Credentials;
use crate::auth::{IamCredentialsIdTokens, IdTokenCache, IdTokenSource, MetadataIdTokens, NoIdToken, with_slash};
use crate::federation::{
    ExternalAccountTokens, GithubOidcTokens, external_account_in_env, github_credentials, is_external_account,
};
use crate::functions::Functions;
use crate::http::http_client;
use crate::logging::Logging;
use crate::monitoring::Monitoring;
use crate::provider::{GcpProvider, Observers};
use crate::rest::Api;
use crate::run::Run;

/// The public endpoints; each can be overridden (fakes, other universes, private access).
pub mod endpoints {
    /// Cloud Functions v2.
    pub const FUNCTIONS: &str = "https://cloudfunctions.googleapis.com/v2/";
    /// Cloud Run Admin v2.
    pub const RUN: &str = "https://run.googleapis.com/v2/";
    /// IAM Credentials v1.
    pub const IAM_CREDENTIALS: &str = "https://iamcredentials.googleapis.com/v1/";
    /// Cloud Storage (JSON API root).
    pub const STORAGE: &str = "https://storage.googleapis.com/";
    /// Cloud Monitoring v3 (metrics).
    pub const MONITORING: &str = "https://monitoring.googleapis.com/v3/";
    /// Cloud Logging v2 (logs).
    pub const LOGGING: &str = "https://logging.googleapis.com/v2/";
    /// The metadata server.
    pub const METADATA: &str = "http://metadata.google.internal/computeMetadata/v1/";
}

/// Where ID tokens for invocations come from.
#[derive(Debug, Clone, Default)]
pub enum Invoker {
    /// IAM Credentials `generateIdToken` for the configured invoker service account, else for
    /// the key file's own service account, else the metadata server.
    #[default]
    Auto,
    /// The metadata server.
    Metadata,
    /// IAM Credentials `generateIdToken` for this service account email.
    ServiceAccount(String),
    /// No token (functions that allow unauthenticated calls).
    Public,
    /// Your own source.
    Custom(Arc<dyn IdTokenSource>),
}

/// The keys [`GcpBuilder::with_config`] takes (besides `faas_core::settings::COMMON_KEYS`).
pub const CONFIG_KEYS: &[&str] = &[
    "project",
    "region",
    "key_file",
    "external_account_file",
    "auth",
    "workload_identity_provider",
    "service_account",
    "sts_url",
    "invoker",
    "functions_url",
    "run_url",
    "iam_credentials_url",
    "storage_url",
    "metadata_url",
    "monitoring_url",
    "logging_url",
    "bucket",
    "prefix",
    "serving_label",
];

/// Builds a [`GcpProvider`].
///
/// ```no_run
/// # async fn t() -> Result<(), faas_core::Error> {
/// let gcp = faas_gcp::GcpBuilder::from_env()
///     .project("my-project")
///     .region("europe-west1")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GcpBuilder {
    pub(crate) project: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) credentials: Credentials,
    pub(crate) invoker: Invoker,
    pub(crate) functions_url: String,
    pub(crate) run_url: String,
    pub(crate) iam_credentials_url: String,
    /// The STS token endpoint of `auth = github_oidc`.
    pub(crate) sts_url: String,
    /// `auth = github_oidc` (resolved by `build`, with the two keys below).
    pub(crate) github_oidc: bool,
    pub(crate) workload_identity_provider: Option<String>,
    pub(crate) service_account: Option<String>,
    pub(crate) storage_url: String,
    pub(crate) metadata_url: String,
    pub(crate) monitoring_url: String,
    pub(crate) logging_url: String,
    pub(crate) bucket: Option<String>,
    pub(crate) prefix: String,
    pub(crate) serving_label: String,
    pub(crate) retry: RetryConfig,
    pub(crate) poll: PollPolicy,
    pub(crate) timeouts: Timeouts,
    pub(crate) http: Option<reqwest::Client>,
    /// A bad environment value, reported by `build`.
    env_problem: faas_core::settings::EnvProblem,
}

impl Default for GcpBuilder {
    fn default() -> Self {
        GcpBuilder {
            project: None,
            region: None,
            credentials: Credentials::Default,
            invoker: Invoker::Auto,
            functions_url: endpoints::FUNCTIONS.into(),
            run_url: endpoints::RUN.into(),
            iam_credentials_url: endpoints::IAM_CREDENTIALS.into(),
            sts_url: crate::federation::STS_TOKEN_URL.into(),
            github_oidc: false,
            workload_identity_provider: None,
            service_account: None,
            storage_url: endpoints::STORAGE.into(),
            metadata_url: endpoints::METADATA.into(),
            monitoring_url: endpoints::MONITORING.into(),
            logging_url: endpoints::LOGGING.into(),
            bucket: None,
            prefix: String::new(),
            serving_label: "live".into(),
            retry: RetryConfig::default(),
            poll: PollPolicy::default(),
            timeouts: Timeouts::default(),
            http: None,
            env_problem: Default::default(),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl GcpBuilder {
    /// Defaults, then the environment: project from `GOOGLE_CLOUD_PROJECT`,
    /// `CLOUDSDK_CORE_PROJECT` or `GCLOUD_PROJECT`; region from `GOOGLE_CLOUD_REGION`,
    /// `CLOUDSDK_FUNCTIONS_REGION` or `FUNCTION_REGION`; endpoints from `FAAS_GCP_FUNCTIONS_URL`,
    /// `FAAS_GCP_RUN_URL`, `FAAS_GCP_IAM_CREDENTIALS_URL`, `FAAS_GCP_STORAGE_URL`,
    /// `FAAS_GCP_METADATA_URL`, `FAAS_GCP_MONITORING_URL`, `FAAS_GCP_LOGGING_URL`; `FAAS_GCP_BUCKET` and `FAAS_GCP_PREFIX` for a GCS artifact
    /// bucket; `FAAS_GCP_INVOKER` for the service account whose ID tokens invoke functions
    /// (`public` for none). Credentials are application default credentials
    /// (`GOOGLE_APPLICATION_CREDENTIALS` first). Strict: an endpoint that is not an http(s)
    /// URL, or an invoker that is none of `auto`, `metadata`, `public` or an email, makes
    /// [`GcpBuilder::build`] fail with [`Error::InvalidConfig`] naming the variable.
    pub fn from_env() -> GcpBuilder {
        let mut b = GcpBuilder {
            project: ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT"]
                .iter()
                .find_map(|k| env(k)),
            region: ["GOOGLE_CLOUD_REGION", "CLOUDSDK_FUNCTIONS_REGION", "FUNCTION_REGION"]
                .iter()
                .find_map(|k| env(k)),
            ..GcpBuilder::default()
        };
        b.bucket = env("FAAS_GCP_BUCKET");
        b.prefix = env("FAAS_GCP_PREFIX").unwrap_or_default();
        // Strict: a bad value fails `build`, naming the variable.
        let mut problem = std::mem::take(&mut b.env_problem);
        for (var, key) in [
            ("FAAS_GCP_FUNCTIONS_URL", "functions_url"),
            ("FAAS_GCP_RUN_URL", "run_url"),
            ("FAAS_GCP_IAM_CREDENTIALS_URL", "iam_credentials_url"),
            ("FAAS_GCP_STORAGE_URL", "storage_url"),
            ("FAAS_GCP_METADATA_URL", "metadata_url"),
            ("FAAS_GCP_MONITORING_URL", "monitoring_url"),
            ("FAAS_GCP_LOGGING_URL", "logging_url"),
            ("FAAS_GCP_INVOKER", "invoker"),
        ] {
            if let Some(v) = env(var) {
                b = problem.apply(b, var, &v, |b| b.with_config(key, &v));
            }
        }
        b.env_problem = problem;
        b
    }

    /// The project id.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The region (`europe-west1`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// How to authenticate.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// A service-account key file (its `token_uri` is where tokens come from).
    pub fn key_file(self, path: impl Into<PathBuf>) -> Self {
        self.credentials(Credentials::KeyFile(path.into()))
    }

    /// Defaults, without reading the environment.
    pub fn new() -> Self {
        GcpBuilder::default()
    }

    /// One setting by name — so a YAML block, a map or the environment configures the
    /// provider like the methods do. Keys (the environment variable `from_env` reads):
    ///
    /// | key | meaning |
    /// |---|---|
    /// | `project` (`GOOGLE_CLOUD_PROJECT`), `region` (`GOOGLE_CLOUD_REGION`) | where functions live |
    /// | `key_file` (`GOOGLE_APPLICATION_CREDENTIALS`) | a service-account key file (or an `external_account` file) |
    /// | `external_account_file` | an `external_account` credential file: Workload Identity Federation |
    /// | `auth` | `default`, or `github_oidc`: federation with the GitHub Actions job's ID token |
    /// | `workload_identity_provider`, `service_account` | `auth = github_oidc`'s pool provider and the service account to impersonate (optional) |
    /// | `sts_url` | the Security Token Service's token endpoint (`https://sts.googleapis.com/v1/token`) |
    ///
    /// How each credential kind is chosen:
    ///
    /// | credentials | keys |
    /// |---|---|
    /// | application default (`gcp_auth`: key file in `GOOGLE_APPLICATION_CREDENTIALS`, gcloud, metadata server) | none |
    /// | a service-account key | `key_file` |
    /// | Workload Identity Federation from a file (subject token from a file or a URL, optional impersonation) | `external_account_file`, or `key_file` naming an `external_account` file |
    /// | Workload Identity Federation with the GitHub Actions ID token (`permissions: id-token: write`) | `auth = github_oidc`, `workload_identity_provider`, `service_account` |
    /// | `invoker` (`FAAS_GCP_INVOKER`) | `auto`, `metadata`, `public` or a service account email |
    /// | `functions_url`, `run_url`, `iam_credentials_url`, `storage_url`, `metadata_url`, `monitoring_url`, `logging_url` (`FAAS_GCP_*_URL`) | endpoints |
    /// | `bucket` (`FAAS_GCP_BUCKET`), `prefix` (`FAAS_GCP_PREFIX`) | a GCS artifact bucket |
    /// | `serving_label` | the label that owns the function URL's traffic (`live`) |
    ///
    /// plus the keys every builder takes (`faas_core::settings`: retries, polling, timeouts).
    /// An unknown key or a bad value is `Error::InvalidConfig` naming it.
    ///
    /// ```
    /// let b = faas_gcp::GcpBuilder::new().with_config("project", "my-project").unwrap();
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
            "project" => self.project = Some(text()),
            "region" => self.region = Some(text()),
            "key_file" => self.credentials = Credentials::KeyFile(PathBuf::from(value)),
            "external_account_file" => self.credentials = Credentials::ExternalAccount(PathBuf::from(value)),
            "auth" => {
                self.github_oidc = match value.trim() {
                    "default" => false,
                    "github_oidc" => true,
                    other => {
                        return Err(Error::config(
                            key,
                            other,
                            "expected default or github_oidc (other credentials: key_file, external_account_file)",
                        ));
                    }
                }
            }
            "workload_identity_provider" => self.workload_identity_provider = Some(text()),
            "service_account" => self.service_account = Some(text()),
            "sts_url" => self.sts_url = settings::url(key, value)?,
            "invoker" => {
                self.invoker = match value {
                    "auto" => Invoker::Auto,
                    "metadata" => Invoker::Metadata,
                    "public" => Invoker::Public,
                    email if email.contains('@') => Invoker::ServiceAccount(email.to_string()),
                    other => {
                        return Err(Error::config(
                            key,
                            other,
                            "expected auto, metadata, public or a service account email",
                        ));
                    }
                }
            }
            "functions_url" => self.functions_url = settings::url(key, value)?,
            "run_url" => self.run_url = settings::url(key, value)?,
            "iam_credentials_url" => self.iam_credentials_url = settings::url(key, value)?,
            "storage_url" => self.storage_url = settings::url(key, value)?,
            "metadata_url" => self.metadata_url = settings::url(key, value)?,
            "monitoring_url" => self.monitoring_url = settings::url(key, value)?,
            "logging_url" => self.logging_url = settings::url(key, value)?,
            "bucket" => self.bucket = Some(text()),
            "prefix" => self.prefix = text(),
            "serving_label" => {
                faas_core::names::check_label(value)?;
                self.serving_label = text();
            }
            _ => {
                if !settings::apply_common(key, value, &mut self.retry, &mut self.poll, &mut self.timeouts)? {
                    return Err(settings::unknown_key("gcp", key, CONFIG_KEYS, true));
                }
            }
        }
        Ok(self)
    }

    /// Use a `reqwest::Client` you already have (its proxies, roots and timeouts) for the
    /// Cloud Functions, Cloud Run, Storage and function calls; `timeouts` is then not applied.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Where ID tokens for invocations come from.
    pub fn invoker(mut self, invoker: Invoker) -> Self {
        self.invoker = invoker;
        self
    }

    /// The Cloud Functions v2 root (ends in `/v2/`).
    pub fn functions_url(mut self, url: impl Into<String>) -> Self {
        self.functions_url = url.into();
        self
    }

    /// The Cloud Run Admin v2 root (ends in `/v2/`).
    pub fn run_url(mut self, url: impl Into<String>) -> Self {
        self.run_url = url.into();
        self
    }

    /// The IAM Credentials v1 root (ends in `/v1/`).
    pub fn iam_credentials_url(mut self, url: impl Into<String>) -> Self {
        self.iam_credentials_url = url.into();
        self
    }

    /// The Cloud Storage root (the JSON API lives under `storage/v1/`).
    pub fn storage_url(mut self, url: impl Into<String>) -> Self {
        self.storage_url = url.into();
        self
    }

    /// The metadata server root (ends in `/computeMetadata/v1/`).
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = url.into();
        self
    }

    /// The Cloud Monitoring v3 root (ends in `/v3/`), where metrics are read.
    pub fn monitoring_url(mut self, url: impl Into<String>) -> Self {
        self.monitoring_url = url.into();
        self
    }

    /// The Cloud Logging v2 root (ends in `/v2/`), where logs are read.
    pub fn logging_url(mut self, url: impl Into<String>) -> Self {
        self.logging_url = url.into();
        self
    }

    /// Upload packages to this GCS bucket as `{prefix}{function}/{sha256}.zip` (skipped when
    /// present) instead of through `generateUploadUrl`.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// The object-name prefix in the bucket.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The label whose routing is the function URL's traffic split (default `live`). Other
    /// labels are Cloud Run tags that pin one revision each.
    pub fn serving_label(mut self, label: impl Into<String>) -> Self {
        self.serving_label = label.into();
        self
    }

    /// Retries of throttled and transient calls.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// How long-running operations are awaited.
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

    /// Checks the settings, loads the credentials and builds the provider.
    pub async fn build(self) -> Result<GcpProvider> {
        self.build_provider().await.map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::build`], before the error names the provider.
    async fn build_provider(mut self) -> Result<GcpProvider> {
        self.env_problem.check()?;
        let project = self.project.clone().filter(|p| !p.is_empty()).ok_or_else(|| {
            Error::config(
                "project",
                "(unset)",
                "name the project: GcpBuilder::project or GOOGLE_CLOUD_PROJECT",
            )
        })?;
        let region = self.region.clone().filter(|r| !r.is_empty()).ok_or_else(|| {
            Error::config(
                "region",
                "(unset)",
                "name the region: GcpBuilder::region or GOOGLE_CLOUD_REGION",
            )
        })?;
        let unauthenticated = |e: gcp_auth::Error| Error::unauthenticated(format!("loading Google credentials: {e}"));
        let mut key_email = None;
        if self.github_oidc {
            self.credentials =
                github_credentials(self.workload_identity_provider.clone(), self.service_account.clone())?;
        }
        let tokens: Arc<dyn TokenProvider> = match &self.credentials {
            // gcp_auth's application default credentials refuse an external_account file in
            // GOOGLE_APPLICATION_CREDENTIALS (what google-github-actions/auth sets up).
            Credentials::Default => match external_account_in_env() {
                Some(path) => Arc::new(ExternalAccountTokens::from_file(
                    "GOOGLE_APPLICATION_CREDENTIALS",
                    &path,
                )?),
                None => gcp_auth::provider().await.map_err(unauthenticated)?,
            },
            Credentials::KeyFile(path) => {
                let config = std::fs::read(path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
                if config.as_ref().is_some_and(is_external_account) {
                    Arc::new(ExternalAccountTokens::from_file("key_file", path)?)
                } else {
                    key_email = config.and_then(|v| v["client_email"].as_str().map(str::to_string));
                    Arc::new(CustomServiceAccount::from_file(path).map_err(unauthenticated)?)
                }
            }
            Credentials::ExternalAccount(path) => {
                Arc::new(ExternalAccountTokens::from_file("external_account_file", path)?)
            }
            Credentials::GithubOidc {
                workload_identity_provider,
                service_account: Some(sa),
                oidc,
            } => Arc::new(ExternalAccountTokens::github_impersonating(
                oidc,
                workload_identity_provider,
                sa,
                &self.sts_url,
                &self.iam_credentials_url,
            )?),
            Credentials::GithubOidc {
                workload_identity_provider,
                service_account: None,
                oidc,
            } => Arc::new(GithubOidcTokens::new(
                oidc.clone(),
                workload_identity_provider,
                None,
                &self.sts_url,
            )?),
            Credentials::Provider(p) => p.clone(),
        };
        let iam = |email: String| -> Arc<dyn IdTokenSource> {
            Arc::new(IamCredentialsIdTokens::new(
                self.iam_credentials_url.clone(),
                email,
                tokens.clone(),
            ))
        };
        let id_tokens: Arc<dyn IdTokenSource> = match &self.invoker {
            Invoker::Auto => match key_email {
                Some(email) => iam(email),
                None => Arc::new(MetadataIdTokens::new(self.metadata_url.clone())),
            },
            Invoker::Metadata => Arc::new(MetadataIdTokens::new(self.metadata_url.clone())),
            Invoker::ServiceAccount(email) => iam(email.clone()),
            Invoker::Public => Arc::new(NoIdToken),
            Invoker::Custom(source) => source.clone(),
        };
        let builder = GcpBuilder {
            functions_url: with_slash(self.functions_url.clone()),
            run_url: with_slash(self.run_url.clone()),
            storage_url: with_slash(self.storage_url.clone()),
            monitoring_url: with_slash(self.monitoring_url.clone()),
            logging_url: with_slash(self.logging_url.clone()),
            ..self
        };
        Ok(builder.assemble(project, region, tokens, id_tokens))
    }

    /// The provider's clients, sharing one HTTP client and one token source.
    fn assemble(
        self,
        project: String,
        region: String,
        tokens: Arc<dyn TokenProvider>,
        id_tokens: Arc<dyn IdTokenSource>,
    ) -> GcpProvider {
        let http = self.http.clone().unwrap_or_else(|| http_client(&self.timeouts));
        let api = Api {
            http: http.clone(),
            tokens,
            retry: self.retry,
            poll: self.poll,
        };
        let functions = Functions {
            api: api.clone(),
            base: self.functions_url,
            parent: format!("projects/{project}/locations/{region}"),
            run_base: self.run_url.clone(),
        };
        let run = Run {
            api: api.clone(),
            base: self.run_url,
        };
        let observers = Observers {
            monitoring: Monitoring {
                api: api.clone(),
                base: self.monitoring_url,
                project: project.clone(),
                region: region.clone(),
            },
            logging: Logging {
                api: api.clone(),
                base: self.logging_url,
                project: project.clone(),
                region: region.clone(),
            },
        };
        let bucket = self.bucket.map(|bucket| Bucket {
            api,
            base: self.storage_url,
            bucket,
            prefix: self.prefix,
        });
        GcpProvider::new(
            functions,
            run,
            bucket,
            IdTokenCache::new(id_tokens),
            http,
            self.serving_label,
            observers,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_that_is_not_a_url_is_refused_naming_the_key() {
        let e = GcpBuilder::new()
            .with_config("storage_url", "localhost:4566")
            .unwrap_err();
        assert_eq!((e.kind(), e.provider()), ("invalid_config", crate::NAME));
        assert!(e.to_string().contains("storage_url"), "{e}");
    }

    #[test]
    fn monitoring_and_logging_endpoints_are_settings() {
        assert!(CONFIG_KEYS.contains(&"monitoring_url") && CONFIG_KEYS.contains(&"logging_url"));
        let b = GcpBuilder::new()
            .with_config("monitoring_url", "http://127.0.0.1:9/monitoring/v3/")
            .unwrap()
            .with_config("logging_url", "http://127.0.0.1:9/logging/v2/")
            .unwrap();
        assert_eq!(b.monitoring_url, "http://127.0.0.1:9/monitoring/v3/");
        assert_eq!(b.logging_url, "http://127.0.0.1:9/logging/v2/");
        let e = GcpBuilder::new().with_config("logging_url", "logging").unwrap_err();
        assert!(e.to_string().contains("logging_url"), "{e}");
    }
}
