//! Cloud Run Admin v2, the service behind every 2nd gen function: read it, patch its
//! annotations and traffic, delete a revision.

use faas_core::{Error, PollStatus, ResourceKind, Result};
use reqwest::Method;

use crate::resources::{Operation, Service};
use crate::rest::{Api, Target, body};

/// Cloud Run Admin v2.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The authenticated client.
    pub api: Api,
    /// API root, ending in `/v2/`.
    pub base: String,
}

impl Run {
    /// The service (`projects/…/services/…`).
    pub async fn service(&self, name: &str) -> Result<Service> {
        self.api
            .send(Method::GET, &format!("{}{name}", self.base), None, Self::target(name))
            .await
    }

    /// `services.patch` of the service's annotations and traffic (`patch`'s `etag` guards it),
    /// waits for the operation, and returns the service as it then is.
    pub async fn patch(&self, patch: &Service) -> Result<Service> {
        let url = format!("{}{}?updateMask=annotations,traffic", self.base, patch.name);
        let op: Operation = self
            .api
            .send(Method::PATCH, &url, Some(&body(patch)?), Self::target(&patch.name))
            .await?;
        self.api
            .wait(&self.base, op, &format!("traffic update of {}", patch.name))
            .await?;
        self.service(&patch.name).await
    }

    /// Waits until the service is no longer `reconciling` (no operation runs on it, so a
    /// patch is not refused for one), and returns it as it then is.
    pub async fn wait_reconciled(&self, name: &str) -> Result<Service> {
        self.api
            .poll
            .poll(&format!("{name} to finish reconciling"), || async {
                let service = self.service(name).await?;
                Ok(match service.output.reconciling {
                    true => PollStatus::Pending("reconciling".into()),
                    false => PollStatus::Done(service),
                })
            })
            .await
    }

    /// Deletes a revision and waits; a revision already gone is fine.
    pub async fn delete_revision(&self, service: &str, revision: &str) -> Result<()> {
        let name = format!("{service}/revisions/{revision}");
        let op: Operation = match self
            .api
            .send(
                Method::DELETE,
                &format!("{}{name}", self.base),
                None,
                Target {
                    kind: ResourceKind::Version,
                    name: &name,
                },
            )
            .await
        {
            Ok(op) => op,
            Err(Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.api
            .wait(&self.base, op, &format!("delete of revision {revision}"))
            .await?;
        Ok(())
    }

    /// What a call on service `name` is about.
    fn target(name: &str) -> Target<'_> {
        Target {
            kind: ResourceKind::Function,
            name,
        }
    }
}
