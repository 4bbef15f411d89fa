//! Labels are deployment slots: a slot runs one version's package (run-from-package), a swap
//! exchanges it with production, and `rampUpRules` send a share of production's traffic to
//! it.

use faas_core::{Error, Label, Provider, Qualifier, ResourceKind, Result, Routing};

use crate::provider::{AzureProvider, check_resource_name, unsupported};
use crate::reconcile::Source;
use crate::settings::{CODE_SHA, Settings, desired_settings};
use crate::site::Where;

impl AzureProvider {
    /// Sends a share of production's traffic to a slot (`experiments.rampUpRules`, 0–100;
    /// 0 removes the rule). This is how Azure splits traffic: between production and slots.
    pub async fn ramp_up(&self, function: &str, slot: &str, percent: f64) -> Result<()> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(Error::invalid("percent", percent, "a share of traffic is 0–100"));
        }
        let app = self.app_of(function);
        let s = self.require_site(Where { app, slot: Some(slot) }).await?;
        let host = s.default_host_name().to_string();
        self.sites.ramp_up(app, slot, &host, percent).await
    }

    /// The share (0–100) of production's traffic a slot gets now: the `reroutePercentage` of
    /// production's `rampUpRules` whose `actionHostName` is the slot's host (0: none).
    pub async fn ramp_up_percent(&self, function: &str, slot: &str) -> Result<f64> {
        let app = self.app_of(function);
        let s = self.require_site(Where { app, slot: Some(slot) }).await?;
        self.sites.ramp_up_percent(app, s.default_host_name()).await
    }

    /// Swaps a slot with production: production then runs what the slot ran, and the slot
    /// what production ran. Swapping again is the rollback.
    pub async fn swap(&self, function: &str, slot: &str) -> Result<()> {
        if !self.capability().slot_swap {
            return Err(unsupported(
                "slot swap",
                "Flex Consumption apps have no deployment slots",
            ));
        }
        let app = self.app_of(function);
        self.require_site(Where { app, slot: Some(slot) }).await?;
        self.sites.swap(app, slot).await
    }

    /// The slot to call for a qualifier (`None`: production) and the version it runs.
    pub(crate) async fn invoke_target(
        &self,
        function: &str,
        qualifier: &Qualifier,
    ) -> Result<(Option<String>, Option<String>)> {
        let app = self.app_of(function);
        let q = match qualifier {
            Qualifier::Latest => return Ok((None, None)),
            Qualifier::Label(l) => {
                let label = self.get_label(function, l).await?;
                return Ok((Some(l.clone()), Some(label.routing.primary)));
            }
            Qualifier::Version(v) => v.as_str(),
        };
        let record = self.record(function, q).await?;
        for slot in self.sites.slots(app).await? {
            let settings = self.sites.settings(Where { app, slot: Some(&slot) }).await?;
            if settings.get(CODE_SHA) == Some(&record.sha256) {
                return Ok((Some(slot), Some(q.to_string())));
            }
        }
        Err(Error::not_found(
            ResourceKind::Version,
            format!("{function}:{q}"),
            Some("no slot runs this version: point a label at it first".into()),
        ))
    }

    /// Makes the slot `label` run the version `routing` names (creating the slot when needed).
    pub(crate) async fn point_slot(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        if !self.capability().slot_swap {
            return Err(unsupported("labels", "Flex Consumption apps have no deployment slots"));
        }
        if !routing.weights.is_empty() {
            return Err(unsupported(
                "weighted labels",
                "Azure splits production's traffic to slots: AzureProvider::ramp_up(function, slot, percent)",
            ));
        }
        check_resource_name("label", label)?;
        let record = self.record(function, &routing.primary).await?;
        let app = self.app_of(function);
        let at = Where { app, slot: Some(label) };
        let (blobs, conn) = self.storage().await?;
        let url = || blobs.sas_url(&record.package, self.store.sas_validity());
        let hosting = self.sites.hosting;
        match self
            .sites
            .observe(at, &record.spec, &record.sha256, async { Ok(conn.as_str()) })
            .await?
        {
            None => {
                let settings = desired_settings(
                    &Settings::new(),
                    &record.spec,
                    hosting,
                    conn,
                    Some((&record.sha256, Some(url()?))),
                    &at.name(),
                );
                self.sites
                    .create(at, &record.spec, &settings, &self.store.container_url())
                    .await?;
                self.sites.sync_triggers(at).await?;
            }
            // A label's slot always runs from its version's package, whatever the deploy method.
            Some(now) => {
                self.sites
                    .reconcile(at, &now, &record.spec, conn, || Ok(Source::PackageUrl(url()?)))
                    .await?;
            }
        }
        tracing::info!(function, label, version = %routing.primary, "label (slot) set");
        Ok(Label {
            name: label.to_string(),
            routing: Routing::to(record.id.to_string()),
        })
    }
}
