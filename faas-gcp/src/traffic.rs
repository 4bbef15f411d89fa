//! The traffic layout of each function's Cloud Run service, read and written: a version or
//! label change reads the service, changes its [`Layout`] and writes it back with one
//! `services.patch` guarded by the etag (a concurrent writer means read again), then checks
//! where traffic went; and the URL an invocation calls.

use faas_core::{DeployState, Deployment, Error, Label, Qualifier, ResourceKind, Result};

use crate::functions::Functions;
use crate::layout::{Layout, VersionRecord, tag_url, verify, version_tag};
use crate::resources::{Function, Service};
use crate::run::Run;
use crate::spec_mapping::function_url;

/// The versions and labels of the functions in one project and region.
#[derive(Debug, Clone)]
pub(crate) struct Traffic {
    /// Where the functions are read.
    pub functions: Functions,
    /// Where their services are read and written.
    pub run: Run,
    /// The label whose routing is the function URL's traffic split.
    pub serving_label: String,
}

impl Traffic {
    /// Read the service, change the layout with `change`, write it back guarded by the etag,
    /// and verify where traffic went. A conflict — a concurrent writer (etag mismatch), or an
    /// operation still running on the service, perhaps our own patch whose answer was lost and
    /// whose retry met it — means waiting until the service is done reconciling, then reading
    /// again: a change that already landed is then found done, not made twice.
    pub async fn update_layout<F>(&self, function: &str, mut change: F) -> Result<Layout>
    where
        F: FnMut(&Function, &mut Layout) -> Result<()> + Send,
    {
        let attempts = self.functions.api.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (f, service, layout) = self.layout(function).await?;
            let mut next = layout.clone();
            change(&f, &mut next)?;
            if next == layout {
                return Ok(layout);
            }
            match self.run.patch(&next.patch_body(&service, &self.serving_label)?).await {
                Ok(written) => {
                    verify(&written, &next, &self.serving_label)?;
                    return Ok(next);
                }
                Err(Error::Conflict { message, .. }) if attempt < attempts => {
                    tracing::info!(function, attempt, %message, "service changed underneath; reading it again once it is reconciled");
                    self.run.wait_reconciled(&service.name).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The Cloud Run service behind a function, with our layout read from it.
    pub async fn layout(&self, function: &str) -> Result<(Function, Service, Layout)> {
        let f = self.functions.require(function).await?;
        let (service, layout) = self.layout_of(function, &f).await?;
        Ok((f, service, layout))
    }

    /// The layout a deploy must leave in place: the service's, when its traffic is pinned (a
    /// serving label, or someone else's split). A function whose first deploy failed has no
    /// service (nor traffic) yet.
    pub async fn pinned(&self, function: &str, f: &Function) -> Result<Option<Layout>> {
        if f.service_config.output.service.is_none() {
            return Ok(None);
        }
        Ok(Some(self.layout_of(function, f).await?.1).filter(Layout::pinned))
    }

    /// Checks that the function's traffic is where `layout` routes it (after a deploy).
    pub async fn check_unmoved(&self, function: &str, layout: &Layout) -> Result<()> {
        let (_, service, _) = self.layout(function).await?;
        verify(&service, layout, &self.serving_label)
    }

    /// The URL to call for a qualifier, and the version it pins (when it pins one).
    pub async fn invoke_target(&self, function: &str, qualifier: &Qualifier) -> Result<(String, Option<String>)> {
        let (q, is_label) = match qualifier {
            Qualifier::Latest => (None, false),
            Qualifier::Version(v) => (Some(v.as_str()), false),
            Qualifier::Label(l) => (Some(l.as_str()), true),
        };
        let Some(q) = q else {
            let f = self.functions.require(function).await?;
            let url = function_url(&f).ok_or_else(|| {
                Error::other(
                    "NO_URL",
                    format!("{function} has no URL (is it an event-triggered function?)"),
                    false,
                )
            })?;
            return Ok((url.to_string(), None));
        };
        let (_, service, layout) = self.layout(function).await?;
        let missing_url = || {
            Error::other(
                "NO_TAG_URL",
                format!("{function}: Cloud Run reports no URL for {q} yet"),
                true,
            )
        };
        if is_label {
            if q == self.serving_label {
                if layout.serving.is_none() {
                    return Err(Error::not_found(ResourceKind::Label, format!("{function}@{q}"), None));
                }
                return Ok((service.output.uri.clone().unwrap_or_default(), None));
            }
            let rev = layout
                .tags
                .get(q)
                .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{q}"), None))?;
            let url = tag_url(&service, q).ok_or_else(missing_url)?;
            return Ok((url, Some(layout.id_of(rev))));
        }
        let record = layout
            .version(q)
            .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{function}:{q}"), None))?;
        let url = tag_url(&service, &version_tag(record.id)).ok_or_else(missing_url)?;
        Ok((url, Some(record.id.to_string())))
    }

    /// A label as faas-core shows it.
    pub fn label_of(&self, layout: &Layout, function: &str, label: &str) -> Result<Label> {
        layout
            .routing(label, &self.serving_label)
            .map(|routing| Label {
                name: label.to_string(),
                routing,
            })
            .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{label}"), None))
    }

    /// A published version as a deployment (its tag URL).
    pub fn record_deployment(&self, service: &Service, record: &VersionRecord) -> Deployment {
        Deployment {
            spec: record.spec.clone(),
            code_sha256: record.sha256.clone(),
            state: DeployState::Active,
            revision: Some(record.revision.clone()),
            url: tag_url(service, &version_tag(record.id)),
            version: record.id.to_string(),
        }
    }

    /// The service and traffic layout behind a function already read.
    async fn layout_of(&self, function: &str, f: &Function) -> Result<(Service, Layout)> {
        let name = f.service_config.output.service.as_deref().ok_or_else(|| {
            Error::other(
                "NO_SERVICE",
                format!("{function} has no Cloud Run service yet (its first deploy has not finished)"),
                false,
            )
        })?;
        let service = self.run.service(name).await?;
        let layout = Layout::read(&service, &self.serving_label)?;
        Ok((service, layout))
    }
}
