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
use faas_core::{Error, Result};
use google_cloud_auth::credentials::AccessTokenCredentials;
use google_cloud_auth::credentials::external_account;

use crate::auth::CLOUD_PLATFORM;

/// Federated access tokens from an `external_account` credential file.
pub(crate) struct ExternalAccountTokens {
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
            file: file.to_path_buf(),
            credentials,
        })
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
