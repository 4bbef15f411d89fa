//! Credentials: OAuth access tokens for the control planes (through `gcp_auth`) and ID tokens
//! for invoking functions (`gcp_auth` cannot mint those: the metadata server or IAM
//! Credentials `generateIdToken` does).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use faas_core::{Error, Result};
use gcp_auth::TokenProvider;
use std::path::PathBuf;

/// How the provider authenticates to the control planes.
#[derive(Clone, Default)]
pub enum Credentials {
    /// Application default credentials through `gcp_auth::provider()`:
    /// `GOOGLE_APPLICATION_CREDENTIALS`, the gcloud configuration, then the metadata server —
    /// except that an `external_account` file in `GOOGLE_APPLICATION_CREDENTIALS` (which
    /// `gcp_auth` refuses) goes as [`Credentials::ExternalAccount`].
    #[default]
    Default,
    /// A service-account key file — or an `external_account` one (then as
    /// [`Credentials::ExternalAccount`]), so `GOOGLE_APPLICATION_CREDENTIALS` may name either.
    KeyFile(PathBuf),
    /// Workload Identity Federation: an `external_account` credential file (subject token from
    /// a file or a URL — GitHub Actions' ID token as `google-github-actions/auth` configures
    /// it —, exchanged at STS, then optionally for a service account's token), through the
    /// official `google-cloud-auth` crate.
    ExternalAccount(PathBuf),
    /// Workload Identity Federation with the GitHub Actions job's ID token (requested for
    /// `https://iam.googleapis.com/{provider}`, as google-github-actions/auth does), exchanged
    /// at the builder's `sts_url`, then impersonating `service_account` when given (at
    /// `iamcredentials.googleapis.com`: google-cloud-auth fixes that address).
    GithubOidc {
        /// `//iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{provider}`.
        workload_identity_provider: String,
        /// A service account to impersonate (an email), or `None` for direct resource access.
        service_account: Option<String>,
        /// The job's token service (`GithubOidc::from_env()`).
        oidc: faas_core::ci_token::GithubOidc,
    },
    /// Any `gcp_auth` token provider.
    Provider(Arc<dyn TokenProvider>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Default => f.write_str("Default"),
            Credentials::KeyFile(p) => f.debug_tuple("KeyFile").field(p).finish(),
            Credentials::ExternalAccount(p) => f.debug_tuple("ExternalAccount").field(p).finish(),
            Credentials::GithubOidc {
                workload_identity_provider,
                service_account,
                oidc,
            } => f
                .debug_struct("GithubOidc")
                .field("workload_identity_provider", workload_identity_provider)
                .field("service_account", service_account)
                .field("oidc", oidc)
                .finish(),
            Credentials::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

/// The OAuth scope every control-plane call uses.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// An ID token (a JWT whose `aud` is the URL called). Never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdToken(String);

impl IdToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> IdToken {
        IdToken(token.into())
    }

    /// The token, for the `Authorization: Bearer` header.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// When the token expires, read from its `exp` claim (`None` when it is not a readable JWT).
    fn expires_in(&self) -> Option<Duration> {
        let payload = self.0.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let exp = claims.get("exp")?.as_u64()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        Some(Duration::from_secs(exp.saturating_sub(now)))
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdToken(***)")
    }
}

/// Where ID tokens for invoking functions come from. Implement it to bring your own (a
/// workload-identity exchange, a token from CI); the provider caches what it returns.
#[async_trait]
pub trait IdTokenSource: Send + Sync + fmt::Debug {
    /// An ID token whose audience is `audience` (the URL about to be called), or `None` to
    /// call without an `Authorization` header (public functions).
    async fn id_token(&self, audience: &str) -> Result<Option<IdToken>>;
}

/// No token: for functions that allow unauthenticated invocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIdToken;

#[async_trait]
impl IdTokenSource for NoIdToken {
    async fn id_token(&self, _audience: &str) -> Result<Option<IdToken>> {
        Ok(None)
    }
}

/// ID tokens from the metadata server of the GCE VM, Cloud Run service, GKE pod or Cloud
/// Build step this runs on (`instance/service-accounts/default/identity`).
#[derive(Debug, Clone)]
pub struct MetadataIdTokens {
    base_url: String,
    http: reqwest::Client,
}

impl MetadataIdTokens {
    /// The metadata server at `base_url` (normally `http://metadata.google.internal/computeMetadata/v1/`).
    pub fn new(base_url: impl Into<String>) -> MetadataIdTokens {
        MetadataIdTokens {
            base_url: with_slash(base_url.into()),
            http: crate::http::http_client(&faas_core::Timeouts::default()),
        }
    }
}

#[async_trait]
impl IdTokenSource for MetadataIdTokens {
    async fn id_token(&self, audience: &str) -> Result<Option<IdToken>> {
        let url = format!("{}instance/service-accounts/default/identity", self.base_url);
        let resp = self
            .http
            .get(&url)
            .query(&[("audience", audience), ("format", "full")])
            .header("Metadata-Flavor", "Google")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| Error::unauthenticated(format!(
                    "no ID token from the metadata server at {}: {}; off Google Cloud, configure an invoker service account (GcpBuilder::invoker_service_account) instead",
                    self.base_url,
                    e.without_url()
                )))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Error::unauthenticated(format!(
                "the metadata server refused an ID token ({status}): {}",
                first_line(&text)
            )));
        }
        Ok(Some(IdToken(text.trim().to_string())))
    }
}

/// ID tokens from IAM Credentials `generateIdToken` for a service account, called with the
/// access token of the configured credentials (which need
/// `roles/iam.serviceAccountOpenIdTokenCreator` on that service account).
///
/// Written on reqwest rather than with google-cloud-auth's `idtoken::impersonated` builder:
/// that builder takes its source credentials either as an `impersonated_service_account` JSON
/// (which key-file, federated and metadata-server callers do not have) or as its own
/// `Credentials` with the IAM Credentials URL fixed to the universe domain
/// (`with_impersonation_endpoint` is test-only in 1.19), so it could neither use every
/// credential faas accepts nor be pointed at an endpoint override or the test fake.
#[derive(Clone)]
pub struct IamCredentialsIdTokens {
    base_url: String,
    service_account: String,
    tokens: Arc<dyn TokenProvider>,
    http: reqwest::Client,
}

impl fmt::Debug for IamCredentialsIdTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamCredentialsIdTokens")
            .field("base_url", &self.base_url)
            .field("service_account", &self.service_account)
            .finish_non_exhaustive()
    }
}

impl IamCredentialsIdTokens {
    /// Tokens for `service_account` (an email) from the IAM Credentials API at `base_url`
    /// (normally `https://iamcredentials.googleapis.com/v1/`).
    pub fn new(
        base_url: impl Into<String>,
        service_account: impl Into<String>,
        tokens: Arc<dyn TokenProvider>,
    ) -> IamCredentialsIdTokens {
        IamCredentialsIdTokens {
            base_url: with_slash(base_url.into()),
            service_account: service_account.into(),
            tokens,
            http: crate::http::http_client(&faas_core::Timeouts::default()),
        }
    }
}

#[async_trait]
impl IdTokenSource for IamCredentialsIdTokens {
    async fn id_token(&self, audience: &str) -> Result<Option<IdToken>> {
        let access = access_token(self.tokens.as_ref()).await?;
        let url = format!(
            "{}projects/-/serviceAccounts/{}:generateIdToken",
            self.base_url, self.service_account
        );
        let resp = self
            .http
            .post(&url)
            .bearer_auth(access)
            .json(&serde_json::json!({"audience": audience, "includeEmail": true}))
            .send()
            .await
            .map_err(|e| Error::other("transport", format!("generateIdToken: {}", e.without_url()), true))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("").to_string();
            return Err(match status.as_u16() {
                401 => Error::unauthenticated(message),
                403 | 404 => Error::permission_denied(
                    Some(format!(
                        "iam.serviceAccounts.getOpenIdToken on {} (roles/iam.serviceAccountOpenIdTokenCreator)",
                        self.service_account
                    )),
                    message,
                ),
                _ => Error::other(
                    status.as_u16().to_string(),
                    format!("generateIdToken: {message}"),
                    status.is_server_error(),
                ),
            });
        }
        let token = body["token"]
            .as_str()
            .ok_or_else(|| Error::other("invalid_response", "generateIdToken answered without a token", false))?;
        Ok(Some(IdToken(token.to_string())))
    }
}

/// Caches ID tokens per audience until a minute before they expire.
#[derive(Debug)]
pub(crate) struct IdTokenCache {
    source: Arc<dyn IdTokenSource>,
    cached: Mutex<HashMap<String, (IdToken, Instant)>>,
}

impl IdTokenCache {
    pub(crate) fn new(source: Arc<dyn IdTokenSource>) -> IdTokenCache {
        IdTokenCache {
            source,
            cached: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn get(&self, audience: &str) -> Result<Option<IdToken>> {
        if let Ok(cached) = self.cached.lock()
            && let Some((token, until)) = cached.get(audience)
            && Instant::now() < *until
        {
            return Ok(Some(token.clone()));
        }
        let Some(token) = self.source.id_token(audience).await? else {
            return Ok(None);
        };
        let life = token.expires_in().unwrap_or(Duration::from_secs(300));
        if let (Some(until), Ok(mut cached)) = (
            Instant::now().checked_add(life.saturating_sub(Duration::from_secs(60))),
            self.cached.lock(),
        ) {
            cached.insert(audience.to_string(), (token.clone(), until));
        }
        Ok(Some(token))
    }
}

/// An access token for the cloud-platform scope; failures are `Unauthenticated`.
pub(crate) async fn access_token(tokens: &dyn TokenProvider) -> Result<String> {
    tokens
        .token(&[CLOUD_PLATFORM])
        .await
        .map(|t| t.as_str().to_string())
        .map_err(|e| Error::unauthenticated(format!(
                "no Google access token: {e}; set GOOGLE_APPLICATION_CREDENTIALS to a key file, run `gcloud auth application-default login`, or run on Google Cloud"
            )))
}

pub(crate) fn with_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
