//! Workload Identity Federation: `external_account` credential files (AIP-4117) — a subject
//! token from a file or a URL (GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`, as
//! `google-github-actions/auth` writes it), exchanged at the Security Token Service
//! (`token_url`, `https://sts.googleapis.com/v1/token`) for a federated access token, then
//! optionally for a service account's through IAM Credentials `generateAccessToken`
//! (`service_account_impersonation_url`).
//!
//! `gcp_auth`, which the other credentials use, cannot do this: the official
//! `google-cloud-auth` crate does the exchange (and caches and refreshes its token); this
//! module hands its tokens to the provider as a `gcp_auth::TokenProvider`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use faas_core::ci_token::{CiTokenError, GithubOidc};
use faas_core::{Error, Result};
use google_cloud_auth::credentials::external_account;
use google_cloud_auth::credentials::subject_token::{
    Builder as SubjectTokenBuilder, SubjectToken, SubjectTokenProvider,
};
use google_cloud_auth::credentials::{AccessTokenCredentials, CacheableResource};

use crate::auth::CLOUD_PLATFORM;

/// The Security Token Service's token endpoint.
pub const STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
/// The subject token type of an OIDC ID token.
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Federated access tokens from an `external_account` credential file.
pub(crate) struct ExternalAccountTokens {
    /// The file it came from, or what it was made for (errors and Debug name it).
    file: PathBuf,
    credentials: AccessTokenCredentials,
}

impl fmt::Debug for ExternalAccountTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalAccountTokens")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Whether `config` (a parsed credential file) is an `external_account` one.
pub(crate) fn is_external_account(config: &serde_json::Value) -> bool {
    config["type"] == "external_account"
}

impl ExternalAccountTokens {
    /// The credentials `file` describes; a file that is unreadable, not JSON, not an
    /// `external_account` one or that google-cloud-auth refuses is `InvalidConfig` naming it
    /// (never repeating the file's header values, which may hold a request token).
    pub(crate) fn from_file(key: &str, file: &Path) -> Result<ExternalAccountTokens> {
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::config(key, &shown, format!("cannot read the credential file: {e}")))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::config(key, &shown, format!("not a JSON credential file: {e}")))?;
        if !is_external_account(&config) {
            return Err(Error::config(
                key,
                &shown,
                format!(
                    "type {} is not external_account: create one with `gcloud iam workload-identity-pools create-cred-config`",
                    config["type"]
                ),
            ));
        }
        ExternalAccountTokens::from_config(key, file, config)
    }

    /// The credentials of an `external_account` configuration (`credential_source` headers
    /// are masked in any error); `origin` names it.
    fn from_config(key: &str, origin: &Path, config: serde_json::Value) -> Result<ExternalAccountTokens> {
        let shown = origin.display().to_string();
        let secrets: Vec<String> = config["credential_source"]["headers"]
            .as_object()
            .map(|h| h.values().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let credentials = external_account::Builder::new(config)
            .with_scopes([CLOUD_PLATFORM])
            .build_access_token_credentials()
            .map_err(|e| {
                let mut message = e.to_string();
                for s in secrets.iter().filter(|s| !s.is_empty()) {
                    message = message.replace(s.as_str(), "***");
                }
                Error::config(key, &shown, format!("google-cloud-auth refused it: {message}"))
            })?;
        Ok(ExternalAccountTokens {
            file: origin.to_path_buf(),
            credentials,
        })
    }

    /// `auth = github_oidc` impersonating `service_account`: the configuration
    /// google-github-actions/auth writes (the job's token service as a URL
    /// `credential_source`, its request token as a header), with the token and impersonation
    /// URLs this provider was given — google-cloud-auth's programmatic builder fixes the
    /// impersonation URL to `iamcredentials.googleapis.com`, so an override (or the test fake)
    /// is reached only through a configuration.
    pub(crate) fn github_impersonating(
        oidc: &GithubOidc,
        workload_identity_provider: &str,
        service_account: &str,
        sts_url: &str,
        iam_credentials_url: &str,
    ) -> Result<ExternalAccountTokens> {
        check_provider(workload_identity_provider)?;
        let (url, authorization) = oidc
            .token_request(&github_audience(workload_identity_provider))
            .map_err(|e| Error::config("workload_identity_provider", workload_identity_provider, e.to_string()))?;
        let config = serde_json::json!({
            "type": "external_account",
            "audience": workload_identity_provider,
            "subject_token_type": JWT,
            "token_url": sts_url,
            "service_account_impersonation_url": format!(
                "{iam_credentials_url}projects/-/serviceAccounts/{service_account}:generateAccessToken"
            ),
            "credential_source": {
                "url": url,
                "headers": {"Authorization": authorization},
                "format": {"type": "json", "subject_token_field_name": "value"},
            },
        });
        ExternalAccountTokens::from_config("service_account", Path::new("(auth = github_oidc)"), config)
    }
}

/// A workload identity pool provider's resource name, or an error naming it.
fn check_provider(workload_identity_provider: &str) -> Result<()> {
    if workload_identity_provider.contains("/workloadIdentityPools/") {
        Ok(())
    } else {
        Err(Error::config(
            "workload_identity_provider",
            workload_identity_provider,
            "expected //iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}",
        ))
    }
}

#[async_trait]
impl gcp_auth::TokenProvider for ExternalAccountTokens {
    async fn token(&self, _scopes: &[&str]) -> std::result::Result<Arc<gcp_auth::Token>, gcp_auth::Error> {
        let token = self
            .credentials
            .access_token()
            .await
            .map_err(|e| gcp_auth::Error::Other("workload identity federation", Box::new(e)))?;
        // google-cloud-auth caches and refreshes the token itself: a short life here only
        // makes the next call ask it again.
        let token: gcp_auth::Token =
            serde_json::from_value(serde_json::json!({"access_token": token.token, "expires_in": 60}))
                .map_err(|e| gcp_auth::Error::Json("a federated access token", e))?;
        Ok(Arc::new(token))
    }

    async fn project_id(&self) -> std::result::Result<Arc<str>, gcp_auth::Error> {
        Err(gcp_auth::Error::Str(
            "an external_account credential names no project: set the project",
        ))
    }
}

/// The audience google-github-actions/auth asks GitHub for: the provider's resource name as
/// an `https://iam.googleapis.com/` URL (the default a pool provider accepts).
pub fn github_audience(workload_identity_provider: &str) -> String {
    format!(
        "https://iam.googleapis.com/{}",
        workload_identity_provider
            .trim_start_matches("//iam.googleapis.com/")
            .trim_start_matches('/')
    )
}

/// The GitHub Actions job's ID token as the subject token.
#[derive(Debug)]
struct GithubSubject {
    oidc: GithubOidc,
    audience: String,
}

/// [`CiTokenError`] as google-cloud-auth wants its source errors.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct SubjectError(CiTokenError);

impl google_cloud_auth::errors::SubjectTokenProviderError for SubjectError {
    fn is_transient(&self) -> bool {
        matches!(self.0, CiTokenError::Request { .. })
    }
}

impl SubjectTokenProvider for GithubSubject {
    type Error = SubjectError;

    async fn subject_token(&self) -> std::result::Result<SubjectToken, SubjectError> {
        let token = self.oidc.id_token(&self.audience).await.map_err(SubjectError)?;
        Ok(SubjectTokenBuilder::new(token.secret().to_string()).build())
    }
}

/// Federated access tokens for the GitHub Actions job's ID token.
pub(crate) struct GithubOidcTokens {
    provider: String,
    credentials: google_cloud_auth::credentials::Credentials,
}

impl fmt::Debug for GithubOidcTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubOidcTokens")
            .field("workload_identity_provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl GithubOidcTokens {
    /// Exchanges the job's token at `sts_url` for `workload_identity_provider`, then
    /// impersonates `service_account` when given (google-cloud-auth then calls IAM
    /// Credentials at `iamcredentials.googleapis.com`, an address it fixes — so the builder
    /// impersonates through [`ExternalAccountTokens::github_impersonating`] instead, which
    /// honours the IAM Credentials URL it was given).
    pub(crate) fn new(
        oidc: GithubOidc,
        workload_identity_provider: &str,
        service_account: Option<&str>,
        sts_url: &str,
    ) -> Result<GithubOidcTokens> {
        check_provider(workload_identity_provider)?;
        let subject = GithubSubject {
            oidc,
            audience: github_audience(workload_identity_provider),
        };
        let mut builder = external_account::ProgrammaticBuilder::new(Arc::new(subject))
            .with_audience(workload_identity_provider)
            .with_subject_token_type(JWT)
            .with_token_url(sts_url)
            .with_scopes([CLOUD_PLATFORM]);
        if let Some(sa) = service_account {
            builder = builder.with_target_principal(sa);
        }
        let credentials = builder.build().map_err(|e| {
            Error::config(
                "workload_identity_provider",
                workload_identity_provider,
                format!("google-cloud-auth refused it: {e}"),
            )
        })?;
        Ok(GithubOidcTokens {
            provider: workload_identity_provider.to_string(),
            credentials,
        })
    }
}

#[async_trait]
impl gcp_auth::TokenProvider for GithubOidcTokens {
    async fn token(&self, _scopes: &[&str]) -> std::result::Result<Arc<gcp_auth::Token>, gcp_auth::Error> {
        let headers = self
            .credentials
            .headers(http::Extensions::new())
            .await
            .map_err(|e| gcp_auth::Error::Other("workload identity federation", Box::new(e)))?;
        let CacheableResource::New { data, .. } = headers else {
            return Err(gcp_auth::Error::Str("google-cloud-auth returned no headers"));
        };
        let bearer = data
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(gcp_auth::Error::Str("google-cloud-auth returned no bearer token"))?;
        let token: gcp_auth::Token =
            serde_json::from_value(serde_json::json!({"access_token": bearer, "expires_in": 60}))
                .map_err(|e| gcp_auth::Error::Json("a federated access token", e))?;
        Ok(Arc::new(token))
    }

    async fn project_id(&self) -> std::result::Result<Arc<str>, gcp_auth::Error> {
        Err(gcp_auth::Error::Str(
            "a federated credential names no project: set the project",
        ))
    }
}

/// `auth = github_oidc`'s credentials, checked before any call.
pub(crate) fn github_credentials(
    workload_identity_provider: Option<String>,
    service_account: Option<String>,
) -> Result<crate::Credentials> {
    let workload_identity_provider = workload_identity_provider.ok_or_else(|| {
        Error::config(
            "workload_identity_provider",
            "(unset)",
            "auth = github_oidc needs the pool provider: //iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}",
        )
    })?;
    let oidc = faas_core::ci_token::GithubOidc::from_env().map_err(|e| {
        Error::config(
            "auth",
            "github_oidc",
            format!("{e}; outside GitHub Actions use external_account_file"),
        )
    })?;
    Ok(crate::Credentials::GithubOidc {
        workload_identity_provider,
        service_account,
        oidc,
    })
}

/// `GOOGLE_APPLICATION_CREDENTIALS` when it names an `external_account` file.
pub(crate) fn external_account_in_env() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")?);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    is_external_account(&config).then_some(path)
}
