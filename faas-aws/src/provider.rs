//! [`AwsProvider`]: faas-core's `Provider` on Lambda, S3 and STS.

use async_trait::async_trait;
use faas_core::observe::{AlarmState, LogPage, LogQuery, Metrics, MetricsQuery, TimeWindow};
use faas_core::records::{RecordTag, StoredRecord, WriteCondition};
use faas_core::{
    ArtifactRef, Capability, Change, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeRequest, Label,
    Limits, Plan, PlannedAction, ProviderBackend, ProviderInfo, PublishRequest, Qualifier, ResourceKind, Result,
    Routing, Version,
};
use faas_package::Package;

use crate::AwsBuilder;
use crate::NAME;
use crate::aliases::label_of;
use crate::artifacts::ArtifactStore;
use crate::error::{RetryAfter, Target, map};
use crate::lambda::{Functions, Planned, b64_to_hex, plan};
use crate::logs::Logs;
use crate::metrics::CloudWatch;

/// The AWS Lambda provider. Build it with [`AwsBuilder`].
#[derive(Debug, Clone)]
pub struct AwsProvider {
    pub(crate) functions: Functions,
    store: Option<ArtifactStore>,
    /// For named artifacts in any bucket (a pipeline's `s3-upload`, a prebuilt `s3_key`).
    s3: aws_sdk_s3::Client,
    multipart: (u64, u64),
    sts: aws_sdk_sts::Client,
    pub(crate) cloudwatch: CloudWatch,
    pub(crate) logs: Logs,
}

/// What Lambda can do: Lambda's model, with metrics (CloudWatch and the `REPORT` lines), logs
/// (CloudWatch Logs, followed by polling: no live tail), records (S3 objects next to the
/// artifacts, written with conditional requests: rollouts keep their state and lease there)
/// and alarms (CloudWatch `DescribeAlarms`, for rollout gates).
pub const CAPABILITY: Capability = Capability::LAMBDA
    .metrics(true)
    .logs(true)
    .records(true)
    .alarms(true)
    .named_artifacts(true)
    .function_urls(true)
    .container_images(true);

pub(crate) fn target(kind: ResourceKind, name: &str) -> Target<'_> {
    Target { kind, name }
}

fn to_hex(sha_b64: &str) -> String {
    b64_to_hex(sha_b64)
}

impl AwsProvider {
    pub(crate) fn new(b: AwsBuilder, config: &aws_config::SdkConfig) -> AwsProvider {
        let lambda_config = aws_sdk_lambda::config::Builder::from(config)
            .retry_classifier(RetryAfter)
            .build();
        let lambda = aws_sdk_lambda::Client::from_conf(lambda_config);
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(b.endpoint_url.is_some() || config.endpoint_url().is_some())
            .retry_classifier(RetryAfter)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(s3_config);
        let store = b.bucket.clone().map(|bucket| ArtifactStore {
            client: s3.clone(),
            bucket,
            prefix: b.prefix.clone(),
            multipart_threshold: b.multipart_threshold,
            part_size: b.part_size,
        });
        AwsProvider {
            functions: Functions {
                client: lambda,
                poll: b.poll,
                retry: b.retry,
                inline_limit: b.inline_limit,
            },
            store,
            s3,
            multipart: (b.multipart_threshold, b.part_size),
            sts: aws_sdk_sts::Client::new(config),
            cloudwatch: CloudWatch {
                client: aws_sdk_cloudwatch::Client::from_conf(
                    aws_sdk_cloudwatch::config::Builder::from(config)
                        .retry_classifier(RetryAfter)
                        .build(),
                ),
            },
            logs: Logs {
                client: aws_sdk_cloudwatchlogs::Client::from_conf(
                    aws_sdk_cloudwatchlogs::config::Builder::from(config)
                        .retry_classifier(RetryAfter)
                        .build(),
                ),
            },
        }
    }

    /// A builder reading the environment (see [`AwsBuilder::from_env`]).
    pub fn builder() -> AwsBuilder {
        AwsBuilder::from_env()
    }

    /// The account and ARN the provider's credentials belong to (`sts:GetCallerIdentity`).
    pub async fn caller_identity(&self) -> Result<(String, String)> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| map(e, target(ResourceKind::Function, "sts:GetCallerIdentity")))?;
        Ok((
            out.account().unwrap_or_default().to_string(),
            out.arn().unwrap_or_default().to_string(),
        ))
    }

    /// The artifact bucket, where records live too.
    /// The store of an `s3://bucket/key` URI, and its key.
    fn named(&self, uri: &str) -> Result<(ArtifactStore, String)> {
        let (bucket, key) = uri
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| Error::invalid("uri", uri, "expected s3://bucket/key"))?;
        let store = ArtifactStore {
            client: self.s3.clone(),
            bucket: bucket.to_string(),
            prefix: String::new(),
            multipart_threshold: self.multipart.0,
            part_size: self.multipart.1,
        };
        Ok((store, key.to_string()))
    }

    fn record_store(&self) -> Result<&ArtifactStore> {
        self.store.as_ref().ok_or_else(|| {
            Error::config(
                "bucket",
                "(none)",
                "records (a rollout's state and lease) are kept in the artifact bucket: set FAAS_AWS_BUCKET or AwsBuilder::bucket",
            )
        })
    }

    /// The qualifiers (versions or aliases) provisioned concurrency is configured on, with
    /// their ARNs (`ListProvisionedConcurrencyConfigs`, every page).
    async fn provisioned_qualifiers(&self, function: &str) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut pages = self
            .functions
            .client
            .list_provisioned_concurrency_configs()
            .function_name(function)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map(e, target(ResourceKind::Function, function)))?;
            for item in page.provisioned_concurrency_configs() {
                let arn = item.function_arn().unwrap_or_default();
                // arn:aws:lambda:region:account:function:name:qualifier
                if let Some(qualifier) = arn.split(':').nth(7) {
                    found.push((qualifier.to_string(), arn.to_string()));
                }
            }
        }
        Ok(found)
    }

    /// The newest published version of `function`, when it is what publishing `latest` (the
    /// ready `$LATEST` that was checked) with the request's description makes — the same code
    /// and the same configuration (one more read): what a publish that landed unseen made.
    async fn landed_version(
        &self,
        function: &str,
        latest: &aws_sdk_lambda::types::FunctionConfiguration,
        request: &PublishRequest,
    ) -> Result<Option<Version>> {
        let code = latest.code_sha256().map(to_hex).unwrap_or_default();
        let Some(newest) = self
            .list_versions(function)
            .await?
            .pop()
            .filter(|v| v.code_sha256 == code && v.description == request.description)
        else {
            return Ok(None);
        };
        let Some(version) = self.functions.observe_qualified(function, Some(&newest.id)).await? else {
            return Ok(None);
        };
        let spec_of = |config: &aws_sdk_lambda::types::FunctionConfiguration| {
            let mut spec = crate::lambda::observed_spec(
                &crate::lambda::Observed {
                    config: config.clone(),
                    tags: Default::default(),
                },
                None,
            );
            // A version's description is the publish's, not $LATEST's.
            spec.description = String::new();
            spec
        };
        let same = faas_core::diff_config(&spec_of(&version.config), &spec_of(latest)).is_empty();
        Ok(same.then_some(newest))
    }

    async fn require_function(&self, function: &str) -> Result<crate::lambda::Observed> {
        self.functions
            .observe(function)
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Function, function, Some("deploy it first".into())))
    }
}

#[async_trait]
impl ProviderBackend for AwsProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new(NAME, CAPABILITY, Limits::LAMBDA)
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<()> {
        spec.validate(&Limits::LAMBDA)?;
        crate::snapstart::validate(spec)?;
        if let Some(url) = &spec.aws.function_url {
            crate::urls::validate(url)?;
        }
        Ok(())
    }

    async fn upload_named(&self, package: &Package, uri: &str) -> Result<ArtifactRef> {
        let (store, key) = self.named(uri)?;
        Ok(store.put_key(&key, package).await?.0)
    }

    async fn download_artifact(&self, uri: &str, to: &std::path::Path) -> Result<ArtifactRef> {
        let (store, key) = self.named(uri)?;
        store.get_to_file(&key, to).await
    }

    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef> {
        match &self.store {
            Some(store) => Ok(store.put(function, package).await?.0),
            None if package.size < self.functions.inline_limit => Ok(faas_core::local_artifact(package)),
            None => Err(Error::invalid(
                "package",
                format!("{} bytes", package.size),
                format!(
                    "packages of {} bytes or more go through S3: configure a bucket (FAAS_AWS_BUCKET or AwsBuilder::bucket)",
                    self.functions.inline_limit
                ),
            )),
        }
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        crate::images::check_reference(artifact)?;
        let observed = self.functions.observe(&spec.name).await?;
        if let Some(o) = &observed {
            crate::images::check_package_type(&spec.name, artifact, o)?;
        }
        let exists = observed.is_some();
        let mut plan = plan(observed, spec, artifact);
        // The URL and its policy statements: two more reads, only when the spec asks for a
        // URL of a function that exists (creating it creates the URL).
        if let Some(url) = spec.aws.function_url.as_ref().filter(|_| exists)
            && let Some(diff) = self.functions.url_state(&spec.name).await?.diff(url)
        {
            match plan.actions.iter_mut().find_map(|a| match a {
                PlannedAction::UpdateConfig { diffs } => Some(diffs),
                _ => None,
            }) {
                Some(diffs) => diffs.push(diff),
                None => plan.push(PlannedAction::UpdateConfig { diffs: vec![diff] }),
            }
        }
        Ok(plan)
    }

    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        let planned = plan.observed::<Planned>();
        let mut outcome = match planned {
            Some(p) if plan.is_noop() => DeployOutcome {
                deployment: self
                    .functions
                    .deployment(&p.observed.config, p.observed.tags.clone(), Some(spec)),
                change: Change::default(),
            },
            _ => {
                let (config, tags, change) = self.functions.apply(spec, artifact, planned).await?;
                if change.created || change.code_updated {
                    self.functions.check_image(&spec.name, artifact).await?;
                }
                DeployOutcome {
                    deployment: self.functions.deployment(&config, tags, Some(spec)),
                    change,
                }
            }
        };
        if let Some(url) = &spec.aws.function_url {
            let (address, wrote) = self.functions.ensure_url(&spec.name, url).await?;
            outcome.deployment.url = Some(address);
            outcome.change.config_updated |= wrote;
        }
        Ok(outcome)
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        let o = self.require_function(function).await?;
        Ok(self.functions.deployment(&o.config, o.tags, None))
    }

    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment> {
        let qualifier = qualifier.to_string();
        let qualifier = qualifier.as_str();
        let o = self
            .functions
            .observe_qualified(function, Some(qualifier))
            .await?
            .ok_or_else(|| Error::not_found(ResourceKind::Version, format!("{function}:{qualifier}"), None))?;
        Ok(self.functions.deployment(&o.config, o.tags, None))
    }

    async fn delete(&self, function: &str) -> Result<()> {
        self.functions
            .client
            .delete_function()
            .function_name(function)
            .send()
            .await
            .map_err(|e| map(e, target(ResourceKind::Function, function)))?;
        Ok(())
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        let config = self.functions.wait_ready(function).await?;
        let current = config.code_sha256().map(to_hex).unwrap_or_default();
        if let Some(expected) = request.expected_code_sha256.as_ref().filter(|e| **e != current) {
            return Err(Error::conflict(
                function,
                format!("$LATEST has code {current} but {expected} was expected: another deploy changed it"),
            ));
        }
        // CodeSha256 and RevisionId make Lambda refuse to publish anything but what we checked.
        let out = self
            .functions
            .retry
            .retry_if("PublishVersion", crate::error::conflicts_only, || async {
                let sent = self
                    .functions
                    .client
                    .publish_version()
                    .function_name(function)
                    .set_code_sha256(config.code_sha256().map(str::to_string))
                    .set_revision_id(config.revision_id().map(str::to_string))
                    .description(&request.description)
                    .send()
                    .await
                    .map_err(|e| map(e, target(ResourceKind::Function, function)));
                match sent {
                    Ok(out) => Ok(Version {
                        id: out.version().unwrap_or_default().to_string(),
                        code_sha256: out.code_sha256().map(to_hex).unwrap_or_default(),
                        description: out.description().unwrap_or_default().to_string(),
                        code_size: u64::try_from(out.code_size()).ok(),
                    }),
                    // A publish retried after it landed unseen, refused for the revision it
                    // carried: the version it made is the newest, with this code and
                    // description (Lambda publishes nothing new for an unchanged $LATEST).
                    Err(e @ Error::Conflict { .. }) => match self.landed_version(function, &config, request).await? {
                        Some(v) => Ok(v),
                        None => Err(e),
                    },
                    Err(e) => Err(e),
                }
            })
            .await;
        let version = match out {
            Ok(v) => v,
            Err(e) => return Err(self.functions.storage_advice(e).await),
        };
        if crate::snapstart::enabled(&config) && !version.id.is_empty() {
            self.functions.wait_snapshot(function, &version.id).await?;
        }
        Ok(version)
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        let mut versions = Vec::new();
        let mut pages = self
            .functions
            .client
            .list_versions_by_function()
            .function_name(function)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map(e, target(ResourceKind::Function, function)))?;
            for v in page.versions() {
                let id = v.version().unwrap_or_default();
                if id == "$LATEST" {
                    continue;
                }
                versions.push(Version {
                    id: id.to_string(),
                    code_sha256: v.code_sha256().map(to_hex).unwrap_or_default(),
                    description: v.description().unwrap_or_default().to_string(),
                    // Lambda's CodeSize: the bytes of code storage this version takes.
                    code_size: u64::try_from(v.code_size()).ok(),
                });
            }
        }
        versions.sort_by_key(|v| v.id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(versions)
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        if version == "$LATEST" {
            return Err(Error::invalid(
                "version",
                version,
                "$LATEST cannot be deleted: delete the function instead",
            ));
        }
        if let Some(label) = self
            .list_labels(function)
            .await?
            .into_iter()
            .find(|l| l.routing.versions().any(|v| v == version))
        {
            return Err(Error::conflict(
                format!("{function}:{version}"),
                format!("alias {:?} routes to this version: move the alias first", label.name),
            ));
        }
        if let Some(arn) = self
            .provisioned_qualifiers(function)
            .await?
            .into_iter()
            .find(|(q, _)| q == version)
            .map(|(_, arn)| arn)
        {
            return Err(Error::conflict(
                format!("{function}:{version}"),
                format!(
                    "provisioned concurrency is configured on this version ({arn}): remove it (DeleteProvisionedConcurrencyConfig) first"
                ),
            ));
        }
        let name = format!("{function}:{version}");
        self.functions
            .client
            .delete_function()
            .function_name(function)
            .qualifier(version)
            .send()
            .await
            .map_err(|e| map(e, target(ResourceKind::Version, &name)))?;
        Ok(())
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        routing.validate(usize::from(CAPABILITY.weighted_versions))?;
        self.put_alias(function, label, routing).await
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        self.get_alias(function, label)
            .await?
            .map(|a| label_of(&a))
            .ok_or_else(|| Error::not_found(ResourceKind::Label, format!("{function}@{label}"), None))
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        let mut labels = Vec::new();
        let mut pages = self
            .functions
            .client
            .list_aliases()
            .function_name(function)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map(e, target(ResourceKind::Function, function)))?;
            labels.extend(page.aliases().iter().map(label_of));
        }
        Ok(labels)
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let name = format!("{function}@{label}");
        self.functions
            .client
            .delete_alias()
            .function_name(function)
            .name(label)
            .send()
            .await
            .map_err(|e| map(e, target(ResourceKind::Label, &name)))?;
        Ok(())
    }

    async fn invoke(&self, function: &str, _qualifier: &Qualifier, request: &InvokeRequest) -> Result<Invocation> {
        self.invoke_function(function, request).await
    }

    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let mut all = self.read_metrics(query, None).await?;
        Ok(all.remove(0))
    }

    async fn metric_series(&self, query: &MetricsQuery, periods: &[TimeWindow]) -> Result<Vec<Metrics>> {
        self.read_metrics(query, Some(periods)).await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        self.read_logs(query).await
    }

    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>> {
        self.read_alarm_states(names).await
    }

    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        self.record_store()?.read_record(key).await
    }

    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        self.record_store()?.write_record(key, body, condition).await
    }

    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        self.record_store()?.delete_record(key, tag).await
    }
}
