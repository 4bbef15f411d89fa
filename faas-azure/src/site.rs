//! Function apps (`Microsoft.Web/sites`) and their slots through ARM: get, create, update,
//! delete, app settings, slots, swaps, ramp-up rules and host keys.

use faas_core::{Error, FunctionSpec, PollStatus, ResourceKind, Result};
use reqwest::Method;
use serde_json::Value;

use crate::arm::{Arm, Target};
use crate::differences::Differences;
use crate::hosting::{DeployMethod, Hosting};
use crate::resources::{
    CsmSlotEntity, Experiments, FunctionAppConfig, FunctionsDeployment, FunctionsDeploymentAuthentication,
    FunctionsDeploymentStorage, FunctionsRuntime, FunctionsScaleAndConcurrency, HostKeys, NameValuePair, RampUpRule,
    Site, SiteConfig, SiteConfigResource, SiteProperties, StringDictionary, WebAppCollection, body, parse,
};
use crate::runtime::{flex_runtime, linux_fx};
use crate::settings::{DEPLOYMENT_STORAGE, Settings};

pub(crate) const API: &str = "api-version=2023-12-01";

/// An app or one of its slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Where<'a> {
    pub app: &'a str,
    pub slot: Option<&'a str>,
}

impl Where<'_> {
    /// `app`, or `app/slot`.
    pub fn name(&self) -> String {
        match self.slot {
            Some(s) => format!("{}/{s}", self.app),
            None => self.app.to_string(),
        }
    }

    /// `NotFound` for this app (a `Function`) or slot (a `Label`).
    pub fn missing(&self) -> Error {
        match self.slot {
            Some(s) => Error::not_found(ResourceKind::Label, format!("{}@{s}", self.app), None),
            None => Error::not_found(ResourceKind::Function, self.app, None),
        }
    }
}

/// Function apps of one resource group.
#[derive(Debug, Clone)]
pub(crate) struct Sites {
    pub arm: Arm,
    /// `{arm}subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/`.
    pub base: String,
    /// Where new apps are created.
    pub location: String,
    /// The App Service plan (`serverFarmId`) new apps are created on.
    pub plan: Option<String>,
    pub hosting: Hosting,
    pub method: DeployMethod,
    /// The Kudu root with `{app}`; default: the site's SCM host.
    pub kudu_url: Option<String>,
    /// What each App Service plan read gave (`plans::plan_warning`): one read per plan.
    pub plan_warnings: crate::plans::PlanWarnings,
}

impl Sites {
    fn url(&self, at: Where<'_>, suffix: &str) -> String {
        let mut u = format!("{}{}", self.base, at.app);
        if let Some(s) = at.slot {
            u.push_str(&format!("/slots/{s}"));
        }
        format!("{u}{suffix}?{API}")
    }

    fn target(at: Where<'_>) -> (ResourceKind, String) {
        match at.slot {
            Some(_) => (ResourceKind::Label, at.name()),
            None => (ResourceKind::Function, at.app.to_string()),
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        at: Where<'_>,
        suffix: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let (kind, name) = Self::target(at);
        let t = Target { kind, name: &name };
        Ok(self.arm.call(method, &self.url(at, suffix), body, t).await?.body)
    }

    async fn mutate(&self, method: Method, at: Where<'_>, suffix: &str, body: Option<&Value>) -> Result<Value> {
        let (kind, name) = Self::target(at);
        let t = Target { kind, name: &name };
        self.arm.mutate(method, &self.url(at, suffix), body, t).await
    }

    /// The app or slot, or `None`.
    pub async fn get(&self, at: Where<'_>) -> Result<Option<Site>> {
        let (kind, name) = Self::target(at);
        let found = self
            .arm
            .get_opt(&self.url(at, ""), Target { kind, name: &name })
            .await?;
        found.map(|v| parse(&format!("GET site {}", at.name()), v)).transpose()
    }

    /// All app settings (`config/appsettings/list`, a `StringDictionary`).
    pub async fn settings(&self, at: Where<'_>) -> Result<Settings> {
        let v = self.call(Method::POST, at, "/config/appsettings/list", None).await?;
        let dictionary: StringDictionary = parse(&format!("the app settings of {}", at.name()), v)?;
        Ok(dictionary.properties.unwrap_or_default())
    }

    /// Replaces all app settings, waiting out `409` (a deployment in progress).
    pub async fn put_settings(&self, at: Where<'_>, settings: &Settings) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.put_settings_once(at, settings).await {
                Err(Error::Conflict { message, .. }) if attempt < self.arm.retry.max_attempts => {
                    tracing::info!(app = %at.name(), attempt, %message, "conflict writing settings; waiting");
                    tokio::time::sleep(self.arm.poll.interval * attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn put_settings_once(&self, at: Where<'_>, settings: &Settings) -> Result<()> {
        let dictionary = StringDictionary {
            properties: Some(settings.clone()),
        };
        self.call(Method::PUT, at, "/config/appsettings", Some(&body(&dictionary)))
            .await?;
        Ok(())
    }

    /// Makes the host reread its functions (needed after run-from-package changes).
    pub async fn sync_triggers(&self, at: Where<'_>) -> Result<()> {
        self.call(Method::POST, at, "/syncfunctiontriggers", None).await?;
        Ok(())
    }

    fn site_body(&self, spec: &FunctionSpec, settings: &Settings, blob_container_url: &str) -> Result<Site> {
        let plan = spec
            .azure
            .plan_id
            .clone()
            .or_else(|| self.plan.clone())
            .ok_or_else(|| {
                Error::invalid(
                    "azure.plan_id",
                    "(unset)",
                    "creating a function app needs its App Service plan: set spec.azure.plan_id or AzureBuilder::plan",
                )
            })?;
        let app_settings = settings
            .iter()
            .map(|(k, v)| NameValuePair {
                name: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect();
        let mut props = SiteProperties {
            server_farm_id: Some(plan),
            https_only: Some(true),
            reserved: Some(true),
            site_config: Some(SiteConfig {
                app_settings: Some(app_settings),
                ..SiteConfig::default()
            }),
            ..SiteProperties::default()
        };
        match self.hosting {
            Hosting::Flex => {
                props.function_app_config = Some(FunctionAppConfig {
                    deployment: Some(FunctionsDeployment {
                        storage: Some(FunctionsDeploymentStorage {
                            kind: Some("blobContainer".into()),
                            value: Some(blob_container_url.to_string()),
                            authentication: Some(FunctionsDeploymentAuthentication {
                                kind: Some("StorageAccountConnectionString".into()),
                                storage_account_connection_string_name: Some(DEPLOYMENT_STORAGE.into()),
                                ..FunctionsDeploymentAuthentication::default()
                            }),
                            ..FunctionsDeploymentStorage::default()
                        }),
                        ..FunctionsDeployment::default()
                    }),
                    runtime: Some(flex_runtime(spec)?),
                    scale_and_concurrency: Some(FunctionsScaleAndConcurrency {
                        instance_memory_mb: Some(spec.memory_mb),
                        maximum_instance_count: Some(100),
                        ..FunctionsScaleAndConcurrency::default()
                    }),
                    ..FunctionAppConfig::default()
                });
            }
            _ => {
                if let Some(config) = props.site_config.as_mut() {
                    config.linux_fx_version = Some(linux_fx(spec)?);
                }
            }
        }
        Ok(Site {
            location: Some(self.location.clone()),
            kind: Some("functionapp,linux".into()),
            tags: Some(spec.tags.clone()),
            properties: Some(props),
            ..Site::default()
        })
    }

    /// Creates the app or slot with its settings (an ARM long-running operation).
    pub async fn create(
        &self,
        at: Where<'_>,
        spec: &FunctionSpec,
        settings: &Settings,
        container_url: &str,
    ) -> Result<Site> {
        let site = body(&self.site_body(spec, settings, container_url)?);
        let created = match self.mutate(Method::PUT, at, "", Some(&site)).await {
            // Another operation on the site runs (App Service: `409 Conflict`, "Cannot modify
            // this site because another operation is in progress"): this very creation, when
            // its first answer was lost and the retry met it. Wait until the site is there,
            // then send the same body again: an update to what the site already is.
            Err(Error::Conflict { message, .. }) => {
                tracing::info!(app = %at.name(), %message, "the site is being created; waiting for it");
                self.arm
                    .poll
                    .poll(&format!("the creation of {}", at.name()), || async {
                        Ok(match self.get(at).await? {
                            Some(_) => PollStatus::Done(()),
                            None => PollStatus::Pending("not there yet".into()),
                        })
                    })
                    .await?;
                self.mutate(Method::PUT, at, "", Some(&site)).await?
            }
            other => other?,
        };
        parse(&format!("PUT site {}", at.name()), created)
    }

    /// Updates the tags, the runtime and (Flex) the instance memory that differ (`d`) in place:
    /// `PUT sites/{name}` (`WebApps_CreateOrUpdate`, or `WebApps_CreateOrUpdateSlot`; a `Site`, an
    /// ARM long-running operation) of `read`, the site as it was read, with those changed — every
    /// other member goes back as it came ([`Site::put_body`]). Not `PATCH` (`WebApps_Update`):
    /// its body, `SitePatchResource` (WebApps.json), has neither `tags` nor
    /// `properties.functionAppConfig`.
    pub async fn update(&self, at: Where<'_>, read: &Site, spec: &FunctionSpec, d: &Differences) -> Result<()> {
        let mut site = read.clone();
        if d.tags {
            site.tags = Some(spec.tags.clone());
        }
        let props = site.properties.get_or_insert_with(SiteProperties::default);
        if self.hosting == Hosting::Flex {
            let config = props.function_app_config.get_or_insert_with(FunctionAppConfig::default);
            if d.runtime {
                let wanted = flex_runtime(spec)?;
                let runtime = config.runtime.get_or_insert_with(FunctionsRuntime::default);
                runtime.name = wanted.name;
                runtime.version = wanted.version;
            }
            if d.memory {
                config
                    .scale_and_concurrency
                    .get_or_insert_with(FunctionsScaleAndConcurrency::default)
                    .instance_memory_mb = Some(spec.memory_mb);
            }
        } else if d.runtime {
            props
                .site_config
                .get_or_insert_with(SiteConfig::default)
                .linux_fx_version = Some(linux_fx(spec)?);
        }
        self.mutate(Method::PUT, at, "", Some(&site.put_body())).await?;
        Ok(())
    }

    pub async fn delete(&self, at: Where<'_>) -> Result<()> {
        self.mutate(Method::DELETE, at, "", None).await?;
        Ok(())
    }

    /// The slot names of an app.
    pub async fn slots(&self, app: &str) -> Result<Vec<String>> {
        let v = self
            .call(Method::GET, Where { app, slot: None }, "/slots", None)
            .await?;
        let slots: WebAppCollection = parse(&format!("the slots of {app}"), v)?;
        Ok(slots
            .value
            .into_iter()
            .filter_map(|s| s.name.map(|n| n.rsplit('/').next().unwrap_or(&n).to_string()))
            .collect())
    }

    /// Swaps a slot with production (an ARM long-running operation).
    pub async fn swap(&self, app: &str, slot: &str) -> Result<()> {
        let swap = CsmSlotEntity {
            target_slot: "production".into(),
            preserve_vnet: true,
        };
        self.mutate(
            Method::POST,
            Where { app, slot: Some(slot) },
            "/slotsswap",
            Some(&body(&swap)),
        )
        .await?;
        Ok(())
    }

    /// Sends `percent` of production's traffic to a slot (`experiments.rampUpRules`); 0 removes
    /// the rule.
    pub async fn ramp_up(&self, app: &str, slot: &str, host: &str, percent: f64) -> Result<()> {
        let at = Where { app, slot: None };
        let mut rules = self.ramp_up_rules(app).await?;
        rules.retain(|r| r.name.as_deref() != Some(slot) && !sends_to(r, host));
        if percent > 0.0 {
            rules.push(RampUpRule {
                action_host_name: Some(host.to_string()),
                reroute_percentage: Some(percent),
                name: Some(slot.to_string()),
                ..RampUpRule::default()
            });
        }
        let change = SiteConfigResource {
            properties: Some(SiteConfig {
                experiments: Some(Experiments {
                    ramp_up_rules: Some(rules),
                    ..Experiments::default()
                }),
                ..SiteConfig::default()
            }),
        };
        self.call(Method::PATCH, at, "/config/web", Some(&body(&change)))
            .await?;
        Ok(())
    }

    /// Production's `experiments.rampUpRules` (`GET sites/{app}/config/web`, the resource
    /// [`Sites::ramp_up`] writes).
    pub async fn ramp_up_rules(&self, app: &str) -> Result<Vec<RampUpRule>> {
        let at = Where { app, slot: None };
        let config = self.call(Method::GET, at, "/config/web", None).await?;
        let config: SiteConfigResource = parse(&format!("the site config of {app}"), config)?;
        Ok(config
            .properties
            .and_then(|p| p.experiments)
            .and_then(|e| e.ramp_up_rules)
            .unwrap_or_default())
    }

    /// The share (`reroutePercentage`, 0–100) of production's traffic the rules send to
    /// `host` (a slot's `defaultHostName`, matched with `actionHostName`); 0 when none does.
    pub async fn ramp_up_percent(&self, app: &str, host: &str) -> Result<f64> {
        Ok(self
            .ramp_up_rules(app)
            .await?
            .iter()
            .filter(|r| sends_to(r, host))
            .filter_map(|r| r.reroute_percentage)
            .sum())
    }

    /// The default function key of the app or slot (`host/default/listkeys`).
    pub async fn function_key(&self, at: Where<'_>) -> Result<String> {
        let v = self.call(Method::POST, at, "/host/default/listkeys", None).await?;
        let keys: HostKeys = parse(&format!("the host keys of {}", at.name()), v)?;
        keys.function_keys
            .and_then(|mut k| k.remove("default"))
            .or(keys.master_key)
            .ok_or_else(|| {
                Error::permission_denied(
                    Some("Microsoft.Web/sites/host/listkeys/action".into()),
                    format!("{} returned no function key", at.name()),
                )
            })
    }
}

/// Whether a rule sends its share to `host` (host names compare without case).
fn sends_to(rule: &RampUpRule, host: &str) -> bool {
    rule.action_host_name
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(host))
}
