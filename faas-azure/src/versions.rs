//! Versions: immutable records `{function}/versions/{id:010}.json` in the package container,
//! created with `If-None-Match: *` so two publishers never take the same number, each naming
//! its content-addressed package blob `{function}/{sha256}.zip`.

use std::collections::BTreeMap;

use faas_core::{Deployment, Error, FunctionSpec, Provider, PublishRequest, ResourceKind, Result, Version};
use serde::{Deserialize, Serialize};

use crate::blob::Metadata;
use crate::hosting::DeployMethod;
use crate::observed::observed_spec;
use crate::provider::AzureProvider;
use crate::reconcile::Source;
use crate::settings::CODE_SHA;
use crate::site::Where;

/// One published version, stored as `{function}/versions/{id:010}.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub id: u64,
    pub sha256: String,
    pub package: String,
    pub description: String,
    pub spec: FunctionSpec,
}

pub(crate) fn version_blob(function: &str, id: u64) -> String {
    format!("{function}/versions/{id:010}.json")
}

impl AzureProvider {
    pub(crate) async fn records(&self, function: &str) -> Result<Vec<(u64, Metadata)>> {
        let (blobs, _) = self.storage().await?;
        let prefix = format!("{function}/versions/");
        Ok(blobs
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|(name, meta)| {
                let id = name.strip_prefix(&prefix)?.strip_suffix(".json")?.parse().ok()?;
                Some((id, meta))
            })
            .collect())
    }

    pub(crate) async fn record(&self, function: &str, id: &str) -> Result<VersionRecord> {
        let missing = || Error::not_found(ResourceKind::Version, format!("{function}:{id}"), None);
        let n: u64 = id.parse().map_err(|_| missing())?;
        let (blobs, _) = self.storage().await?;
        let bytes = blobs.get(&version_blob(function, n)).await?.ok_or_else(missing)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::other(
                "InvalidVersionRecord",
                format!("{}: {e}", version_blob(function, n)),
                false,
            )
        })
    }

    /// The newest version whose code is `sha`.
    pub(crate) async fn version_of_sha(&self, function: &str, sha: &str) -> Result<Option<String>> {
        Ok(self
            .records(function)
            .await?
            .into_iter()
            .rev()
            .find(|(_, m)| m.get("sha256").map(String::as_str) == Some(sha))
            .map(|(id, _)| id.to_string()))
    }

    /// Records the production code and configuration as the next version (or returns the
    /// last one when nothing changed since).
    pub(crate) async fn publish_version(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let at = Where {
            app: self.app_of(function),
            slot: None,
        };
        let site = self.require_site(at).await?;
        let settings = self.sites.settings(at).await?;
        let sha = settings.get(CODE_SHA).cloned().unwrap_or_default();
        if let Some(expected) = request.expected_code_sha256.as_deref().filter(|e| *e != sha) {
            return Err(Error::conflict(
                function.to_string(),
                format!("the app runs code {sha}, not the expected {expected}: another deployer changed it"),
            ));
        }
        let (blobs, _) = self.storage().await?;
        let package = Self::package_blob(function, &sha);
        if sha.is_empty() || blobs.size(&package).await?.is_none() {
            return Err(Error::conflict(
                function.to_string(),
                "the app's code was not deployed through this provider (no package blob): deploy it first",
            ));
        }
        let spec = observed_spec(function, &site, &settings, self.sites.hosting, None);
        let records = self.records(function).await?;
        if let Some((id, meta)) = records.last()
            && meta.get("sha256") == Some(&sha)
        {
            let last = self.record(function, &id.to_string()).await?;
            if faas_core::diff_config(&last.spec, &spec).is_empty() {
                return Ok(Version {
                    id: id.to_string(),
                    code_sha256: sha,
                    description: last.description,
                    code_size: None,
                });
            }
        }
        let mut id = records.last().map_or(1, |(id, _)| id + 1);
        loop {
            let record = VersionRecord {
                id,
                sha256: sha.clone(),
                package: package.clone(),
                description: request.description.clone(),
                spec: spec.clone(),
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| Error::other("serialize", e.to_string(), false))?;
            let meta: Metadata = BTreeMap::from([("sha256".to_string(), sha.clone())]);
            if blobs.create(&version_blob(function, id), bytes, &meta).await? {
                tracing::info!(function, version = id, "published");
                return Ok(Version {
                    id: id.to_string(),
                    code_sha256: sha,
                    description: request.description.clone(),
                    // The package blob's size is not read back: unknown.
                    code_size: None,
                });
            }
            // The number is taken: by this very record, when a create whose answer was lost was
            // sent again (it lands, then meets `409`), or by another publisher. A record of the
            // same code and configuration is this version: no second one is made.
            let taken = self.record(function, &id.to_string()).await?;
            if taken.sha256 == sha && faas_core::diff_config(&taken.spec, &spec).is_empty() {
                tracing::info!(
                    function,
                    version = id,
                    "a version of this code and configuration is there; keeping it"
                );
                return Ok(Version {
                    id: id.to_string(),
                    code_sha256: sha,
                    description: taken.description,
                    code_size: None,
                });
            }
            // Another publisher's version: take the next number.
            id += 1;
        }
    }

    /// Published versions, oldest first.
    pub(crate) async fn versions(&self, function: &str) -> Result<Vec<Version>> {
        self.require_site(Where {
            app: self.app_of(function),
            slot: None,
        })
        .await?;
        Ok(self
            .records(function)
            .await?
            .into_iter()
            .map(|(id, meta)| Version {
                id: id.to_string(),
                code_sha256: meta.get("sha256").cloned().unwrap_or_default(),
                description: String::new(),
                code_size: None,
            })
            .collect())
    }

    /// Rolls production back (or forward) to a published version: its package and its
    /// configuration, as one settings write (run-from-package) or a Kudu push of the stored
    /// package followed by the settings. A label is rolled back with `ProviderExt::rollback`.
    pub async fn restore(&self, function: &str, version: &str) -> Result<Deployment> {
        let record = self.record(function, version).await?;
        let app = self.app_of(function);
        let at = Where { app, slot: None };
        let now = self
            .sites
            .observe(at, &record.spec, &record.sha256, self.connection())
            .await?
            .ok_or_else(|| at.missing())?;
        let (blobs, conn) = self.storage().await?;
        self.sites
            .reconcile(at, &now, &record.spec, conn, || match self.sites.method {
                DeployMethod::RunFromPackage => Ok(Source::PackageUrl(
                    blobs.sas_url(&record.package, self.store.sas_validity())?,
                )),
                _ => Ok(Source::StoredZip {
                    blobs,
                    blob: &record.package,
                    scratch: format!("faas-restore-{}-{}.zip", app, record.id),
                }),
            })
            .await?;
        tracing::info!(function, version, "production restored");
        self.get(function).await
    }

    /// Deletes a version no label runs, and its package when nothing else uses it.
    pub(crate) async fn remove_version(&self, function: &str, version: &str) -> Result<()> {
        let record = self.record(function, version).await?;
        let app = self.app_of(function);
        for label in self.list_labels(function).await? {
            if label.routing.primary == version {
                return Err(Error::conflict(
                    format!("{function}:{version}"),
                    format!("label {} (a slot) runs this version: move it first", label.name),
                ));
            }
        }
        let (blobs, _) = self.storage().await?;
        blobs.delete(&version_blob(function, record.id)).await?;
        let still_used = self
            .records(function)
            .await?
            .iter()
            .any(|(_, m)| m.get("sha256") == Some(&record.sha256))
            || self.sites.settings(Where { app, slot: None }).await?.get(CODE_SHA) == Some(&record.sha256);
        if !still_used {
            blobs.delete(&record.package).await?;
        }
        Ok(())
    }
}
