//! [`Credentials`]: how the provider authenticates, and the azure_identity credential each
//! choice becomes, its token requests sent through the provider's own HTTP client.
//!
//! | kind | azure_identity credential | what it needs |
//! |---|---|---|
//! | client secret | `ClientSecretCredential` | tenant, client id, secret |
//! | workload identity | `WorkloadIdentityCredential` (client-assertion grant with the token file's content) | tenant, client id, `AZURE_FEDERATED_TOKEN_FILE`; the app registration's federated credential trusts the token's issuer and subject |
//! | GitHub Actions OIDC | `ClientAssertionCredential` with the job's ID token ([`faas_core::ci_token`], audience `api://AzureADTokenExchange`) as the assertion | tenant, client id, `permissions: id-token: write` |
//! | managed identity | `ManagedIdentityCredential`: App Service's `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` when set, else IMDS (`169.254.169.254`) | optionally a user-assigned client id |
//! | Azure CLI | `AzureCliCredential` | `az login` |
//!
//! The token endpoint is `{authority_host}/{tenant}/oauth2/v2.0/token` (`AZURE_AUTHORITY_HOST`,
//! `login.microsoftonline.com` by default). No secret, assertion or token is printed:
//! `Debug` shows `***` and errors name the credential kind only.

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientMethodOptions, ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use faas_core::ci_token::GithubOidc;
use faas_core::{Error, Result};

/// The audience Entra expects of a federated token (GitHub's OIDC issuer included).
pub const AZURE_AUDIENCE: &str = "api://AzureADTokenExchange";

use crate::transport::ReqwestTransport;

/// An environment variable's value, unless unset or blank.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How the provider authenticates (tokens for `https://management.azure.com/.default`).
#[derive(Clone, Default)]
pub enum Credentials {
    /// Chosen from the environment: a client secret (`AZURE_CLIENT_SECRET`), workload identity
    /// (`AZURE_FEDERATED_TOKEN_FILE`, CI OIDC), a managed identity (`IDENTITY_ENDPOINT` or
    /// `MSI_ENDPOINT`), else the Azure CLI's login.
    #[default]
    FromEnv,
    /// A service principal with a client secret.
    ClientSecret {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The secret (never printed).
        secret: String,
    },
    /// Workload identity federation with a token file (AKS, or CI writing its OIDC token):
    /// each `None` is read from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE`. The file is read again as it is rotated.
    WorkloadIdentity {
        /// Directory (tenant) id.
        tenant_id: Option<String>,
        /// The app registration's (or user-assigned identity's) client id.
        client_id: Option<String>,
        /// The file holding the federated token.
        token_file: Option<PathBuf>,
    },
    /// Workload identity federation with the GitHub Actions job's ID token as the client
    /// assertion (fetched again for each new access token).
    GithubOidc {
        /// Directory (tenant) id.
        tenant_id: String,
        /// The app registration's (or user-assigned identity's) client id.
        client_id: String,
        /// The job's token service (`GithubOidc::from_env()`).
        oidc: GithubOidc,
        /// The `aud` the federated credential expects ([`AZURE_AUDIENCE`]).
        audience: String,
    },
    /// A managed identity; the client id picks a user-assigned one.
    ManagedIdentity {
        /// A user-assigned identity's client id.
        client_id: Option<String>,
    },
    /// `az account get-access-token`.
    AzureCli,
    /// Any azure_core credential.
    Custom(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::FromEnv => f.write_str("FromEnv"),
            Credentials::ClientSecret {
                tenant_id, client_id, ..
            } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("secret", &"***")
                .finish(),
            Credentials::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => f
                .debug_struct("WorkloadIdentity")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("token_file", token_file)
                .finish(),
            Credentials::GithubOidc {
                tenant_id,
                client_id,
                oidc,
                audience,
            } => f
                .debug_struct("GithubOidc")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .field("oidc", oidc)
                .field("audience", audience)
                .finish(),
            Credentials::ManagedIdentity { client_id } => {
                f.debug_struct("ManagedIdentity").field("client_id", client_id).finish()
            }
            Credentials::AzureCli => f.write_str("AzureCli"),
            Credentials::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The azure_core credential `credentials` stand for (`FromEnv` resolved from the environment),
/// sending its token requests through `http`, from `authority_host` when set.
pub(crate) fn credential(
    credentials: &Credentials,
    authority_host: Option<&str>,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>> {
    let client_options = ClientOptions {
        transport: Some(Transport::new(Arc::new(ReqwestTransport(http.clone())))),
        cloud: authority_host.map(|host| {
            let mut custom = CustomConfiguration::default();
            custom.authority_host = host.to_string();
            Arc::new(CloudConfiguration::Custom(custom))
        }),
        ..ClientOptions::default()
    };
    let failed = |what: &str, e: azure_core::Error| Error::unauthenticated(format!("setting up {what}: {e}"));
    let chosen = match credentials {
        Credentials::FromEnv if env("AZURE_CLIENT_SECRET").is_some() => Credentials::ClientSecret {
            tenant_id: env("AZURE_TENANT_ID").unwrap_or_default(),
            client_id: env("AZURE_CLIENT_ID").unwrap_or_default(),
            secret: env("AZURE_CLIENT_SECRET").unwrap_or_default(),
        },
        Credentials::FromEnv if env("AZURE_FEDERATED_TOKEN_FILE").is_some() => Credentials::WorkloadIdentity {
            tenant_id: None,
            client_id: None,
            token_file: None,
        },
        Credentials::FromEnv if env("IDENTITY_ENDPOINT").is_some() || env("MSI_ENDPOINT").is_some() => {
            Credentials::ManagedIdentity {
                client_id: env("AZURE_CLIENT_ID"),
            }
        }
        Credentials::FromEnv => Credentials::AzureCli,
        other => other.clone(),
    };
    Ok(match chosen {
        Credentials::ClientSecret {
            tenant_id,
            client_id,
            secret,
        } => ClientSecretCredential::new(
            &tenant_id,
            client_id,
            Secret::new(secret),
            Some(ClientSecretCredentialOptions { client_options }),
        )
        .map_err(|e| failed("the client-secret credential", e))?,
        Credentials::WorkloadIdentity {
            tenant_id,
            client_id,
            token_file,
        } => {
            let mut options = WorkloadIdentityCredentialOptions::default();
            options.credential_options.client_options = client_options;
            options.tenant_id = tenant_id;
            options.client_id = client_id;
            options.token_file_path = token_file;
            WorkloadIdentityCredential::new(Some(options)).map_err(|e| failed("workload identity", e))?
        }
        Credentials::GithubOidc {
            tenant_id,
            client_id,
            oidc,
            audience,
        } => ClientAssertionCredential::new(
            tenant_id,
            client_id,
            GithubAssertion { oidc, audience },
            Some(ClientAssertionCredentialOptions { client_options }),
        )
        .map_err(|e| failed("the GitHub Actions OIDC credential", e))?,
        Credentials::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.map(UserAssignedId::ClientId),
                client_options,
            }))
            .map_err(|e| failed("the managed identity", e))?
        }
        Credentials::AzureCli => AzureCliCredential::new(None).map_err(|e| failed("the Azure CLI credential", e))?,
        Credentials::Custom(c) => c,
        Credentials::FromEnv => unreachable_from_env(),
    })
}

/// The `auth` keys of `AzureBuilder::with_config`, which `build` turns into [`Credentials`].
#[derive(Clone, Default)]
pub(crate) struct AuthKeys {
    kind: Option<&'static str>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    federated_token_file: Option<PathBuf>,
    audience: Option<String>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKeys")
            .field("kind", &self.kind)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("federated_token_file", &self.federated_token_file)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The values `auth` takes.
const AUTH_KINDS: &[&str] = &[
    "client_secret",
    "workload_identity",
    "github_oidc",
    "managed_identity",
    "azure_cli",
    "from_env",
];

impl AuthKeys {
    /// One key; a bad `auth` value is refused here.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let text = Some(value.to_string());
        match key {
            "auth" => {
                let kind = AUTH_KINDS
                    .iter()
                    .find(|k| **k == value.trim())
                    .ok_or_else(|| Error::config(key, value, format!("expected one of {}", AUTH_KINDS.join(", "))))?;
                self.kind = Some(kind);
            }
            "tenant_id" => self.tenant_id = text,
            "client_id" => self.client_id = text,
            "client_secret" => self.client_secret = text,
            "federated_token_file" => self.federated_token_file = Some(PathBuf::from(value)),
            _ => self.audience = text,
        }
        Ok(())
    }

    /// The credentials the keys describe (`None` when none was set), checked before any call.
    pub(crate) fn credentials(&self) -> Result<Option<Credentials>> {
        let set = self.tenant_id.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.federated_token_file.is_some()
            || self.audience.is_some();
        let kind = match self.kind {
            Some(kind) => kind,
            None if set => "client_secret",
            None => return Ok(None),
        };
        let need = |v: &Option<String>, key: &str, var: &str| {
            v.clone()
                .or_else(|| env(var))
                .ok_or_else(|| Error::config(key, "(unset)", format!("auth = {kind} needs {key}: set it or {var}")))
        };
        Ok(Some(match kind {
            "client_secret" => Credentials::ClientSecret {
                tenant_id: need(&self.tenant_id, "tenant_id", "AZURE_TENANT_ID")?,
                client_id: need(&self.client_id, "client_id", "AZURE_CLIENT_ID")?,
                secret: need(&self.client_secret, "client_secret", "AZURE_CLIENT_SECRET")?,
            },
            "workload_identity" => Credentials::WorkloadIdentity {
                tenant_id: Some(need(&self.tenant_id, "tenant_id", "AZURE_TENANT_ID")?),
                client_id: Some(need(&self.client_id, "client_id", "AZURE_CLIENT_ID")?),
                token_file: Some(
                    self.federated_token_file
                        .clone()
                        .or_else(|| env("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from))
                        .ok_or_else(|| {
                            Error::config(
                                "federated_token_file",
                                "(unset)",
                                "auth = workload_identity needs the token file: set federated_token_file or AZURE_FEDERATED_TOKEN_FILE",
                            )
                        })?,
                ),
            },
            "github_oidc" => Credentials::GithubOidc {
                tenant_id: need(&self.tenant_id, "tenant_id", "AZURE_TENANT_ID")?,
                client_id: need(&self.client_id, "client_id", "AZURE_CLIENT_ID")?,
                oidc: GithubOidc::from_env().map_err(|e| {
                    Error::config(
                        "auth",
                        kind,
                        format!("{e}; outside GitHub Actions use auth = workload_identity with a token file"),
                    )
                })?,
                audience: self.audience.clone().unwrap_or_else(|| AZURE_AUDIENCE.into()),
            },
            "managed_identity" => Credentials::ManagedIdentity {
                client_id: self.client_id.clone(),
            },
            "azure_cli" => Credentials::AzureCli,
            _ => Credentials::FromEnv,
        }))
    }
}

/// The GitHub Actions job's ID token as a client assertion.
#[derive(Debug)]
struct GithubAssertion {
    oidc: GithubOidc,
    audience: String,
}

#[async_trait::async_trait]
impl ClientAssertion for GithubAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.oidc
            .id_token(&self.audience)
            .await
            .map(|t| t.secret().to_string())
            .map_err(|e| azure_core::Error::new(azure_core::error::ErrorKind::Credential, e))
    }
}

fn unreachable_from_env() -> Arc<dyn TokenCredential> {
    panic!("FromEnv is resolved to a concrete credential first")
}
