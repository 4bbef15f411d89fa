//! The package store: the storage account's container that holds packages and version
//! records, reached with the account key ARM `listKeys` returns (asked once), and the
//! connection string the apps get as `AzureWebJobsStorage`.

use std::time::Duration;

use base64::Engine;
use faas_core::{Error, ResourceKind, Result};
use reqwest::Method;
use tokio::sync::OnceCell;

use crate::arm::{Arm, Target};
use crate::blob::Blobs;
use crate::resources::{StorageAccountListKeysResult, parse};

const STORAGE_API: &str = "api-version=2023-05-01";

/// The storage account and container of the packages; opened on first use.
pub(crate) struct PackageStore {
    arm: Arm,
    http: reqwest::Client,
    /// The account's ARM resource URL (for `listKeys`).
    storage_id: String,
    /// The blob endpoint, without a trailing slash.
    endpoint: String,
    account: String,
    container: String,
    /// How long run-from-package SAS URLs stay valid.
    sas_validity: Duration,
    opened: OnceCell<(Blobs, String)>,
}

/// The account and container only: the key and the connection string are never printed.
impl std::fmt::Debug for PackageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackageStore {{ account: {:?}, container: {:?}, .. }}",
            self.account, self.container
        )
    }
}

impl PackageStore {
    /// A store for `container` in `account` (ARM resource URL `storage_id`), served at
    /// `endpoint`.
    pub fn new(
        arm: Arm,
        http: reqwest::Client,
        storage_id: String,
        endpoint: &str,
        account: String,
        container: String,
        sas_validity: Duration,
    ) -> PackageStore {
        PackageStore {
            arm,
            http,
            storage_id,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            account,
            container,
            sas_validity,
            opened: OnceCell::new(),
        }
    }

    /// `{endpoint}/{container}`.
    pub fn container_url(&self) -> String {
        format!("{}/{}", self.endpoint, self.container)
    }

    /// How long run-from-package SAS URLs stay valid.
    pub fn sas_validity(&self) -> Duration {
        self.sas_validity
    }

    /// The provider's retry policy (throttling, 5xx and transport failures).
    pub fn retry(&self) -> &faas_core::RetryConfig {
        &self.arm.retry
    }

    /// Blob access (the key comes from ARM `listKeys`, once) and the connection string the
    /// apps use for `AzureWebJobsStorage`.
    pub async fn open(&self) -> Result<&(Blobs, String)> {
        self.opened
            .get_or_try_init(|| async {
                let url = format!("{}/listKeys?{STORAGE_API}", self.storage_id);
                let answer = self
                    .arm
                    .call(
                        Method::POST,
                        &url,
                        None,
                        Target {
                            kind: ResourceKind::Artifact,
                            name: &self.account,
                        },
                    )
                    .await?;
                let listed: StorageAccountListKeysResult =
                    parse(&format!("listKeys of {}", self.account), answer.body)?;
                let key = listed
                    .keys
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .and_then(|k| k.value)
                    .unwrap_or_default();
                let bytes = base64::engine::general_purpose::STANDARD.decode(&key).map_err(|_| {
                    Error::other(
                        "InvalidKey",
                        format!("listKeys of {} returned no usable key", self.account),
                        false,
                    )
                })?;
                let blobs = Blobs {
                    http: self.http.clone(),
                    endpoint: self.endpoint.clone(),
                    account: self.account.clone(),
                    key: bytes,
                    container: self.container.clone(),
                    retry: self.arm.retry,
                };
                blobs.ensure_container().await?;
                let scheme = self.endpoint.split("://").next().unwrap_or("https");
                let conn = format!(
                    "DefaultEndpointsProtocol={scheme};AccountName={};AccountKey={key};BlobEndpoint={};",
                    self.account, self.endpoint
                );
                Ok::<_, Error>((blobs, conn))
            })
            .await
    }
}
