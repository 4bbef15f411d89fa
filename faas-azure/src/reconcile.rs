//! Bringing an app or slot in line with a spec, written once for the three callers that do it:
//! a deploy (`apply`), pointing a label's slot at a version, and restoring production to a
//! version. Each first observes the site (the site, then its settings, and what differs), then
//! reconciles: update the runtime, memory and tags (a `PUT` of the site as observed), push the
//! code (a run-from-package URL or a Kudu push), write the merged settings when they changed,
//! and sync the triggers.

use std::future::Future;
use std::path::PathBuf;

use faas_core::{Change, Error, FunctionSpec, ResourceKind, Result};

use crate::blob::Blobs;
use crate::differences::{Differences, differences};
use crate::resources::Site;
use crate::settings::{Settings, desired_settings};
use crate::site::{Sites, Where};

/// What was read and decided about a site: a plan carries it to `apply`, which starts from it
/// instead of reading again.
pub(crate) struct Planned {
    /// The site as it was read.
    pub site: Site,
    /// Its app settings as they were read.
    pub settings: Settings,
    /// What differs from the spec.
    pub differences: Differences,
}

/// Where the new code comes from, when the code differs.
pub(crate) enum Source<'a> {
    /// Run from package: this read-only SAS URL goes in `WEBSITE_RUN_FROM_PACKAGE`.
    PackageUrl(String),
    /// A Kudu push of a zip on disk.
    Zip {
        /// The zip.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// A Kudu push of a stored package blob, fetched into a scratch file first.
    StoredZip {
        /// The package container.
        blobs: &'a Blobs,
        /// The package blob.
        blob: &'a str,
        /// The scratch file's name in the temporary directory.
        scratch: String,
    },
}

impl Sites {
    /// Reads `at` — the site, then (once it exists) the storage connection string `storage`
    /// resolves to and the site's settings — and what differs from `spec` running code
    /// `sha256`. `None` when the site does not exist (`storage` is then never awaited).
    pub async fn observe<'s>(
        &self,
        at: Where<'_>,
        spec: &FunctionSpec,
        sha256: &str,
        storage: impl Future<Output = Result<&'s str>>,
    ) -> Result<Option<Planned>> {
        let Some(site) = self.get(at).await? else {
            return Ok(None);
        };
        let storage = storage.await?;
        let settings = self.settings(at).await?;
        let differences = differences(&site, &settings, spec, self.hosting, storage, sha256)?;
        Ok(Some(Planned {
            site,
            settings,
            differences,
        }))
    }

    /// Brings `at` in line with `spec` from what `now` observed: updates the runtime, memory
    /// and tags when they differ (a `PUT` of the site `now` read, so no read again), pushes the
    /// code from `source` (asked only when the code differs), writes the merged app settings
    /// when they changed and then syncs the triggers. Nothing differs ⇒ no request. Returns
    /// what changed.
    pub async fn reconcile<'a>(
        &self,
        at: Where<'_>,
        now: &Planned,
        spec: &FunctionSpec,
        storage: &str,
        source: impl FnOnce() -> Result<Source<'a>>,
    ) -> Result<Change> {
        let d = &now.differences;
        let change = Change {
            code_updated: d.code.is_some(),
            config_updated: d.runtime || d.memory || d.tags || d.settings,
            ..Change::default()
        };
        if d.runtime || d.memory || d.tags {
            self.update(at, &now.site, spec, d).await?;
        }
        let code = match &d.code {
            None => None,
            Some((_, sha)) => Some((sha.as_str(), self.push_code(at, &now.site, source()?).await?)),
        };
        let next = desired_settings(&now.settings, spec, self.hosting, storage, code, &at.name());
        if next != now.settings {
            self.put_settings(at, &next).await?;
            self.sync_triggers(at).await?;
        }
        Ok(change)
    }

    /// Pushes code: a run-from-package URL is returned for the settings; a Kudu push is made
    /// (and `None` returned).
    async fn push_code(&self, at: Where<'_>, site: &Site, source: Source<'_>) -> Result<Option<String>> {
        match source {
            Source::PackageUrl(url) => Ok(Some(url)),
            Source::Zip { path, size } => {
                self.kudu_deploy(at, site, &path, size).await?;
                Ok(None)
            }
            Source::StoredZip { blobs, blob, scratch } => {
                let bytes = blobs.get(blob).await?.ok_or_else(|| {
                    Error::not_found(
                        ResourceKind::Artifact,
                        blob,
                        Some("the version's package blob is gone".into()),
                    )
                })?;
                let tmp = std::env::temp_dir().join(scratch);
                tokio::fs::write(&tmp, &bytes)
                    .await
                    .map_err(|e| Error::io(tmp.display().to_string(), e))?;
                let pushed = self.kudu_deploy(at, site, &tmp, bytes.len() as u64).await;
                let _ = tokio::fs::remove_file(&tmp).await;
                pushed?;
                Ok(None)
            }
        }
    }
}
