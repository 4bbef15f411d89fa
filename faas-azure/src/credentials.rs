//! [`Credentials`]: how the provider authenticates, and the azure_identity credential each
//! choice becomes, its token requests sent through the provider's own HTTP client.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use faas_core::{Error, Result};

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
    /// Workload identity federation (GitHub Actions OIDC, AKS): `AZURE_TENANT_ID`,
    /// `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
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
            Credentials::WorkloadIdentity => f.write_str("WorkloadIdentity"),
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
        Credentials::FromEnv if env("AZURE_FEDERATED_TOKEN_FILE").is_some() => Credentials::WorkloadIdentity,
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
        Credentials::WorkloadIdentity => {
            let mut options = WorkloadIdentityCredentialOptions::default();
            options.credential_options.client_options = client_options;
            WorkloadIdentityCredential::new(Some(options)).map_err(|e| failed("workload identity", e))?
        }
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

fn unreachable_from_env() -> Arc<dyn TokenCredential> {
    panic!("FromEnv is resolved to a concrete credential first")
}
