//! [`WebIdentity`]: STS `AssumeRoleWithWebIdentity` with an OIDC token — from a file (the
//! `AWS_WEB_IDENTITY_TOKEN_FILE` EKS and CI runners write) or from the GitHub Actions job
//! ([`faas_core::ci_token::GithubOidc`]) — refreshed before the session expires.
//!
//! aws-config's `WebIdentityTokenCredentialsProvider` reads only a file and builds its STS
//! client from the environment (it ignores the builder's `endpoint_url`, so it cannot reach a
//! VPC endpoint or an emulator configured there); this provider makes the same STS call with a
//! client of the provider's own configuration (region, endpoint, retries, timeouts). The
//! default credential chain (no `auth` setting) still does aws-config's own web identity step.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use faas_core::ci_token::GithubOidc;

/// The audience AWS documents for GitHub's OIDC provider in IAM.
pub const AWS_AUDIENCE: &str = "sts.amazonaws.com";

/// Where the web identity token comes from.
#[derive(Clone)]
pub enum WebIdentityToken {
    /// A file holding the token, read again at each refresh (runners rotate it).
    File(PathBuf),
    /// The GitHub Actions job's ID token for `audience` (normally [`AWS_AUDIENCE`]).
    GithubOidc {
        /// The token service (`GithubOidc::from_env()` in a job).
        oidc: GithubOidc,
        /// The `aud` claim the IAM OIDC provider expects.
        audience: String,
    },
}

impl fmt::Debug for WebIdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebIdentityToken::File(path) => f.debug_tuple("File").field(path).finish(),
            WebIdentityToken::GithubOidc { oidc, audience } => f
                .debug_struct("GithubOidc")
                .field("oidc", oidc)
                .field("audience", audience)
                .finish(),
        }
    }
}

/// A role assumed with a web identity token (`sts:AssumeRoleWithWebIdentity`).
///
/// ```
/// let w = faas_aws::WebIdentity::file(
///     "arn:aws:iam::123456789012:role/deployer",
///     "/var/run/secrets/token",
/// );
/// let b = faas_aws::AwsBuilder::new().region("eu-west-1").web_identity(w);
/// # let _ = b;
/// ```
#[derive(Debug, Clone)]
pub struct WebIdentity {
    /// The role's ARN (its trust policy names the OIDC provider).
    pub role_arn: String,
    /// Where the token comes from.
    pub token: WebIdentityToken,
    /// The session name (default `faas`).
    pub session_name: Option<String>,
    /// How long each session lasts (STS's default, one hour, when unset).
    pub duration: Option<Duration>,
}

impl WebIdentity {
    /// `role_arn` with the token in `path`.
    pub fn file(role_arn: impl Into<String>, path: impl Into<PathBuf>) -> WebIdentity {
        WebIdentity {
            role_arn: role_arn.into(),
            token: WebIdentityToken::File(path.into()),
            session_name: None,
            duration: None,
        }
    }

    /// `role_arn` with the GitHub Actions job's ID token for [`AWS_AUDIENCE`].
    pub fn github(role_arn: impl Into<String>, oidc: GithubOidc) -> WebIdentity {
        WebIdentity {
            role_arn: role_arn.into(),
            token: WebIdentityToken::GithubOidc {
                oidc,
                audience: AWS_AUDIENCE.into(),
            },
            session_name: None,
            duration: None,
        }
    }
}

/// The credentials provider: each call fetches a token and exchanges it.
#[derive(Debug, Clone)]
pub(crate) struct WebIdentityCredentials {
    identity: Arc<WebIdentity>,
    sts: aws_sdk_sts::Client,
}

impl WebIdentityCredentials {
    /// Exchanges through STS as `config` (region, endpoint, retries, timeouts) reaches it.
    pub(crate) fn new(identity: WebIdentity, config: &aws_config::SdkConfig) -> WebIdentityCredentials {
        WebIdentityCredentials {
            identity: Arc::new(identity),
            sts: aws_sdk_sts::Client::new(config),
        }
    }

    async fn token(&self) -> Result<String, CredentialsError> {
        match &self.identity.token {
            WebIdentityToken::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    CredentialsError::invalid_configuration(format!(
                        "reading the web identity token file {}: {e}",
                        path.display()
                    ))
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(CredentialsError::invalid_configuration(format!(
                        "the web identity token file {} is empty",
                        path.display()
                    )));
                }
                Ok(token.to_string())
            }
            WebIdentityToken::GithubOidc { oidc, audience } => oidc
                .id_token(audience)
                .await
                .map(|t| t.secret().to_string())
                .map_err(CredentialsError::provider_error),
        }
    }

    async fn credentials(&self) -> aws_credential_types::provider::Result {
        let token = self.token().await?;
        let id = &self.identity;
        tracing::debug!(role_arn = %id.role_arn, "sts:AssumeRoleWithWebIdentity");
        let resp = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&id.role_arn)
            .role_session_name(id.session_name.as_deref().unwrap_or("faas"))
            .set_duration_seconds(id.duration.map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)))
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| {
                CredentialsError::provider_error(faas_core::Error::unauthenticated(format!(
                    "sts:AssumeRoleWithWebIdentity for {}: {}",
                    id.role_arn,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )))
            })?;
        let c = resp
            .credentials
            .ok_or_else(|| CredentialsError::unhandled("sts:AssumeRoleWithWebIdentity answered without credentials"))?;
        let expiry = SystemTime::try_from(c.expiration).ok();
        tracing::debug!(role_arn = %id.role_arn, access_key_id = %c.access_key_id, "assumed the web identity role");
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "faas-web-identity",
        ))
    }
}

impl ProvideCredentials for WebIdentityCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}
