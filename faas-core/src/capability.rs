//! [`Capability`]: what a provider can do, read by callers, by the checks in front of every
//! provider (see [`Provider`](crate::Provider)) and by the conformance suite.

use serde::{Deserialize, Serialize};

/// What labels are on a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LabelModel {
    /// No labels: every label operation is [`Error::Unsupported`](crate::Error::Unsupported).
    None,
    /// Named aliases pointing at versions (AWS Lambda, local).
    Alias,
    /// Deployment slots, promoted by swapping (Azure).
    Slot,
    /// Traffic tags on revisions (Cloud Run behind GCP functions).
    TrafficTag,
}

/// What a provider can do. Every field is read: by the checks in front of each provider
/// (an operation it rules out is [`Error::Unsupported`](crate::Error::Unsupported) before any
/// call), by the conformance suite (which picks its checks from it) and by callers. Sizes
/// are in [`Limits`](crate::Limits). Built with `const` constructors:
///
/// ```
/// use faas_core::{Capability, LabelModel};
/// const MINE: Capability = Capability::new(LabelModel::TrafficTag).weighted_versions(8).log_tail(false);
/// assert_eq!(MINE.weighted_versions, 8);
/// assert!(!MINE.async_invoke && MINE.delete_versions);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capability {
    /// What a label is ([`LabelModel::None`]: no label operations).
    pub label_model: LabelModel,
    /// How many versions besides the primary a label can send weighted traffic to (0: none).
    pub weighted_versions: u8,
    /// Labels are promoted by swapping with production (Azure slots): [`Provider::swap`](crate::Provider::swap).
    pub slot_swap: bool,
    /// Fire-and-forget invocation ([`InvokeMode::Async`](crate::InvokeMode::Async)).
    pub async_invoke: bool,
    /// The log tail comes back with a synchronous invocation.
    pub log_tail: bool,
    /// Versions can be deleted (pruning needs it).
    pub delete_versions: bool,
    /// Invocation metrics: [`Provider::metrics`](crate::Provider::metrics) and
    /// [`Provider::metric_series`](crate::Provider::metric_series).
    pub metrics: bool,
    /// Log records: [`Provider::logs`](crate::Provider::logs).
    pub logs: bool,
    /// The cloud pushes new records as they arrive; otherwise
    /// [`ProviderExt::follow_logs`](crate::ProviderExt::follow_logs) polls with a cursor.
    pub live_logs: bool,
    /// Small records with conditional writes next to the artifacts:
    /// [`Provider::read_record`](crate::Provider::read_record) and its kin (a rollout's
    /// durable state and lease live there).
    pub records: bool,
    /// Traffic splits in whole percents only (Cloud Run): a weight of 0.025 is refused.
    pub whole_percent: bool,
    /// The cloud's own alarms can be read by name:
    /// [`Provider::alarm_states`](crate::Provider::alarm_states) (CloudWatch alarms).
    pub alarms: bool,
    /// A deploy can change the function's memory, so memory can be tuned
    /// ([`cost::tune`](crate::cost::tune)): false where the hosting plan fixes it (Azure
    /// Premium and Dedicated).
    pub memory_tuning: bool,
    /// Artifacts can be stored at, and read back from, places the caller names
    /// ([`Provider::upload_named`](crate::Provider::upload_named),
    /// [`Provider::download_artifact`](crate::Provider::download_artifact)): a pipeline's
    /// `s3-upload` to its `bucket`/`key_prefix`, and a deploy of a prebuilt `s3_key`.
    pub named_artifacts: bool,
    /// The function can be given an HTTPS endpoint on request, with its auth type and CORS
    /// (Lambda function URLs: the spec's `aws.function_url`). Without it a spec asking for
    /// one is [`Error::Unsupported`](crate::Error::Unsupported) before any call: GCP's and
    /// Azure's HTTP functions have their own trigger URL, which `aws.function_url` does not
    /// configure, and the local provider serves none.
    pub function_urls: bool,
    /// Functions can run a container image deployed by reference
    /// ([`ArtifactRef::image`](crate::ArtifactRef::image): Lambda's `PackageType=Image`).
    /// Without it an image artifact is [`Error::Unsupported`](crate::Error::Unsupported)
    /// before any call.
    pub container_images: bool,
}

impl Capability {
    /// AWS Lambda's model (and the local provider's, which mirrors it): aliases with one
    /// weighted extra version, async invoke, log tails, deletable versions.
    pub const LAMBDA: Capability = Capability::new(LabelModel::Alias)
        .weighted_versions(1)
        .async_invoke(true)
        .log_tail(true);

    /// A provider with `label_model` labels, deletable versions, and nothing else: no weights,
    /// no swap, no async invoke, no log tail.
    pub const fn new(label_model: LabelModel) -> Capability {
        Capability {
            label_model,
            weighted_versions: 0,
            slot_swap: false,
            async_invoke: false,
            log_tail: false,
            delete_versions: true,
            metrics: false,
            logs: false,
            live_logs: false,
            records: false,
            whole_percent: false,
            alarms: false,
            memory_tuning: true,
            named_artifacts: false,
            function_urls: false,
            container_images: false,
        }
    }

    /// Sets [`Capability::records`].
    pub const fn records(mut self, yes: bool) -> Capability {
        self.records = yes;
        self
    }

    /// Sets [`Capability::whole_percent`].
    pub const fn whole_percent(mut self, yes: bool) -> Capability {
        self.whole_percent = yes;
        self
    }

    /// Sets [`Capability::alarms`].
    pub const fn alarms(mut self, yes: bool) -> Capability {
        self.alarms = yes;
        self
    }

    /// Sets [`Capability::named_artifacts`].
    pub const fn named_artifacts(mut self, yes: bool) -> Capability {
        self.named_artifacts = yes;
        self
    }

    /// Sets [`Capability::function_urls`].
    pub const fn function_urls(mut self, yes: bool) -> Capability {
        self.function_urls = yes;
        self
    }

    /// Sets [`Capability::container_images`].
    pub const fn container_images(mut self, yes: bool) -> Capability {
        self.container_images = yes;
        self
    }

    /// Refuses, as [`Error::Unsupported`](crate::Error::Unsupported), an image artifact
    /// without [`container_images`](Capability::container_images); checked before any call.
    ///
    /// ```
    /// use faas_core::{ArtifactRef, Capability};
    /// let image = ArtifactRef::image("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1").unwrap();
    /// assert!(Capability::LAMBDA.check_artifact(&image).is_err());
    /// assert!(Capability::LAMBDA.container_images(true).check_artifact(&image).is_ok());
    /// ```
    pub fn check_artifact(&self, artifact: &crate::ArtifactRef) -> crate::Result<()> {
        match artifact.image_reference() {
            Some(reference) if !self.container_images => Err(crate::Error::unsupported(
                "container images",
                Some(format!(
                    "this provider deploys packages, not the image {reference}: deploy a package instead"
                )),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses, as [`Error::Unsupported`](crate::Error::Unsupported), what `spec` asks for
    /// that this provider cannot do (a function URL without
    /// [`function_urls`](Capability::function_urls)); checked before any call.
    ///
    /// ```
    /// use faas_core::{Capability, FunctionSpec, FunctionUrl, LabelModel};
    /// let spec = FunctionSpec::new("api", "python3.12".parse().unwrap(), "app.handler").function_url(FunctionUrl::iam());
    /// assert!(Capability::new(LabelModel::None).check_spec(&spec).is_err());
    /// assert!(Capability::LAMBDA.function_urls(true).check_spec(&spec).is_ok());
    /// ```
    pub fn check_spec(&self, spec: &crate::FunctionSpec) -> crate::Result<()> {
        if spec.aws.function_url.is_some() && !self.function_urls {
            return Err(crate::Error::unsupported(
                "aws.function_url",
                Some("this provider has no Lambda function URLs: leave aws.function_url unset for it (GCP and Azure HTTP functions have their own trigger URL)".into()),
            ));
        }
        Ok(())
    }

    /// Sets [`Capability::memory_tuning`].
    pub const fn memory_tuning(mut self, yes: bool) -> Capability {
        self.memory_tuning = yes;
        self
    }

    /// Sets [`Capability::weighted_versions`].
    pub const fn weighted_versions(mut self, n: u8) -> Capability {
        self.weighted_versions = n;
        self
    }

    /// Sets [`Capability::metrics`].
    pub const fn metrics(mut self, yes: bool) -> Capability {
        self.metrics = yes;
        self
    }

    /// Sets [`Capability::logs`].
    pub const fn logs(mut self, yes: bool) -> Capability {
        self.logs = yes;
        self
    }

    /// Sets [`Capability::live_logs`].
    pub const fn live_logs(mut self, yes: bool) -> Capability {
        self.live_logs = yes;
        self
    }

    /// Sets [`Capability::slot_swap`].
    pub const fn slot_swap(mut self, yes: bool) -> Capability {
        self.slot_swap = yes;
        self
    }

    /// Sets [`Capability::async_invoke`].
    pub const fn async_invoke(mut self, yes: bool) -> Capability {
        self.async_invoke = yes;
        self
    }

    /// Sets [`Capability::log_tail`].
    pub const fn log_tail(mut self, yes: bool) -> Capability {
        self.log_tail = yes;
        self
    }

    /// Sets [`Capability::delete_versions`].
    pub const fn delete_versions(mut self, yes: bool) -> Capability {
        self.delete_versions = yes;
        self
    }

    /// Whether the provider has labels at all.
    pub const fn has_labels(&self) -> bool {
        !matches!(self.label_model, LabelModel::None)
    }
}
