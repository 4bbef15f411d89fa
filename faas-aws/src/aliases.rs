//! Lambda aliases, faas's labels: reading one, and pointing one at a routing.

use std::collections::HashMap;

use aws_sdk_lambda::types::{AliasConfiguration, AliasRoutingConfiguration};
use faas_core::{Error, Label, ResourceKind, Result, Routing};

use crate::AwsProvider;
use crate::error::map;
use crate::provider::target;

/// The label an alias is.
pub(crate) fn label_of(a: &AliasConfiguration) -> Label {
    let weights = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    Label {
        name: a.name().unwrap_or_default().to_string(),
        routing: Routing {
            primary: a.function_version().unwrap_or_default().to_string(),
            weights,
        },
    }
}

impl AwsProvider {
    /// GetAlias: the alias, or `None`.
    pub(crate) async fn get_alias(&self, function: &str, label: &str) -> Result<Option<AliasConfiguration>> {
        let name = format!("{function}@{label}");
        match self
            .functions
            .client
            .get_alias()
            .function_name(function)
            .name(label)
            .send()
            .await
        {
            Ok(a) => Ok(Some(
                AliasConfiguration::builder()
                    .set_name(a.name().map(str::to_string))
                    .set_function_version(a.function_version().map(str::to_string))
                    .set_routing_config(a.routing_config().cloned())
                    .set_revision_id(a.revision_id().map(str::to_string))
                    .build(),
            )),
            Err(e) => match map(e, target(ResourceKind::Label, &name)) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Points alias `label` at `routing` (checked by the caller): created, or updated
    /// against the revision read, or left alone when it already routes so.
    pub(crate) async fn put_alias(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        let weights: HashMap<String, f64> = routing.weights.clone().into_iter().collect();
        let routing_config = AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(weights))
            .build();
        let name = format!("{function}@{label}");
        let update = |revision: Option<String>| {
            let req = self
                .functions
                .client
                .update_alias()
                .function_name(function)
                .name(label)
                .function_version(&routing.primary)
                .routing_config(routing_config.clone())
                .set_revision_id(revision);
            let name = name.clone();
            async move {
                let a = match req.send().await.map_err(|e| map(e, target(ResourceKind::Label, &name))) {
                    Ok(a) => a,
                    // A retry of an update that landed unseen carries the RevisionId it
                    // replaced, which Lambda refuses (PreconditionFailedException) each time:
                    // an alias that already routes as asked is the update done.
                    Err(e @ Error::Conflict { .. }) => {
                        return match self.get_alias(function, label).await? {
                            Some(now) if label_of(&now).routing == *routing => Ok(now),
                            _ => Err(e),
                        };
                    }
                    Err(e) => return Err(e),
                };
                Ok::<_, Error>(
                    AliasConfiguration::builder()
                        .set_name(a.name().map(str::to_string))
                        .set_function_version(a.function_version().map(str::to_string))
                        .set_routing_config(a.routing_config().cloned())
                        .build(),
                )
            }
        };
        let retry = &self.functions.retry;
        let out = match self.get_alias(function, label).await? {
            Some(existing) if label_of(&existing).routing == *routing => return Ok(label_of(&existing)),
            Some(existing) => {
                let revision = existing.revision_id().map(str::to_string);
                retry
                    .retry_if("UpdateAlias", crate::error::conflicts_only, || update(revision.clone()))
                    .await?
            }
            None => {
                let created = self
                    .functions
                    .client
                    .create_alias()
                    .function_name(function)
                    .name(label)
                    .function_version(&routing.primary)
                    .routing_config(routing_config.clone())
                    .send()
                    .await
                    .map_err(|e| map(e, target(ResourceKind::Label, &name)));
                match created {
                    Ok(a) => AliasConfiguration::builder()
                        .set_name(a.name().map(str::to_string))
                        .set_function_version(a.function_version().map(str::to_string))
                        .set_routing_config(a.routing_config().cloned())
                        .build(),
                    // Created meanwhile (by another deployer, or by our own retried request).
                    Err(Error::Conflict { .. }) => {
                        retry
                            .retry_if("UpdateAlias", crate::error::conflicts_only, || update(None))
                            .await?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(label_of(&out))
    }
}
