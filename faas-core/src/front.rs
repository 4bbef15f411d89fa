//! The checks in front of every backend: the one implementation of [`Provider`], for every
//! [`ProviderBackend`]. Names, qualifiers, labels, routing, windows and the capability are
//! checked here before a call reaches the backend, and every error is stamped with the
//! provider's name.

use std::future::Future;

use async_trait::async_trait;
use faas_package::Package;

use crate::observe::{AlarmState, LogPage, LogQuery, Metrics, MetricsQuery, TimeWindow};
use crate::provider::unsupported;
use crate::records::{RecordTag, StoredRecord, WriteCondition};
use crate::{
    ArtifactRef, DeployOutcome, Deployment, Error, FunctionSpec, Invocation, InvokeMode, InvokeRequest, Label,
    LabelModel, Plan, Provider, ProviderBackend, ProviderInfo, PublishRequest, Qualifier, Result, Routing, Version,
    names,
};

/// Labels exist on this provider and `label` is a valid name.
fn check_label(info: &ProviderInfo, label: &str) -> Result<()> {
    check_labels(info)?;
    names::check_label(label)
}

fn check_labels(info: &ProviderInfo) -> Result<()> {
    if info.capability.has_labels() {
        Ok(())
    } else {
        Err(unsupported(info, "labels", None))
    }
}

fn check_routing(info: &ProviderInfo, routing: &Routing) -> Result<()> {
    for v in routing.versions() {
        if v != names::LATEST {
            names::check_version(v)?;
        }
    }
    if !routing.weights.is_empty() && info.capability.weighted_versions == 0 {
        let hint = matches!(info.capability.label_model, LabelModel::Slot)
            .then_some("split production's traffic to a slot with Provider::ramp_up");
        return Err(unsupported(info, "weighted labels", hint));
    }
    routing.validate(usize::from(info.capability.weighted_versions))
}

fn check_slots(info: &ProviderInfo, operation: &str) -> Result<()> {
    if matches!(info.capability.label_model, LabelModel::Slot) {
        Ok(())
    } else {
        Err(unsupported(info, operation, None))
    }
}

/// How often [`Provider::deploy`] plans again when another deployer made its plan stale.
const DEPLOY_ATTEMPTS: u32 = 10;

/// Names the provider in every error its calls return.
fn named<T>(info: &ProviderInfo, result: Result<T>) -> Result<T> {
    result.map_err(|e| e.with_provider(info.name))
}

/// Checks the function's name, then runs `call` (a future does nothing until awaited),
/// naming the provider in any error.
async fn checked<T>(info: &ProviderInfo, function: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
    named(
        info,
        async {
            names::check_function(function)?;
            call.await
        }
        .await,
    )
}

/// The checks [`Provider::apply`] makes before the backend sees a plan.
fn check_plan(info: &ProviderInfo, plan: &Plan, artifact: &ArtifactRef) -> Result<()> {
    if !plan.can_apply() {
        return Err(Error::invalid(
            "plan",
            &plan.function,
            "this plan was read back or made by hand and holds no observed state: plan again with Provider::plan",
        ));
    }
    if plan.planned_by() != info.name {
        return Err(Error::invalid(
            "plan",
            format!("{} (planned by {})", plan.function, plan.planned_by()),
            format!("a plan is applied by the provider that made it, not {}", info.name),
        ));
    }
    if artifact.sha256 != plan.code_sha256 {
        return Err(Error::invalid(
            "artifact.sha256",
            &artifact.sha256,
            format!(
                "the plan deploys code {}: upload that package, or plan again",
                plan.code_sha256
            ),
        ));
    }
    Ok(())
}

#[async_trait]
impl<B: ProviderBackend + ?Sized> Provider for B {
    fn info(&self) -> ProviderInfo {
        ProviderBackend::info(self)
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<()> {
        let info = ProviderBackend::info(self);
        named(&info, {
            names::check_function(&spec.name)
                .and_then(|()| info.capability.check_spec(spec))
                .and_then(|()| ProviderBackend::validate(self, spec))
                .and_then(|()| lifecycle_check(&info, spec, false).map(|_| ()))
        })
    }

    async fn upload(&self, function: &str, package: &Package) -> Result<ArtifactRef> {
        named(
            &ProviderBackend::info(self),
            async {
                names::check_function(function)?;
                names::check_sha256(&package.sha256)?;
                ProviderBackend::upload(self, function, package).await
            }
            .await,
        )
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        let info = ProviderBackend::info(self);
        named(
            &info,
            async {
                names::check_function(&spec.name)?;
                info.capability.check_spec(spec)?;
                info.capability.check_artifact(artifact)?;
                ProviderBackend::validate(self, spec)?;
                // A runtime the cloud no longer updates is refused before any request.
                lifecycle_check(&info, spec, false)?;
                names::check_sha256(&artifact.sha256)?;
                let mut plan = ProviderBackend::plan(self, spec, artifact).await?;
                plan.stamp(info.name);
                // One it no longer creates functions with, once the plan says it would.
                if let Some(warning) = lifecycle_check(&info, spec, plan.creates())? {
                    tracing::warn!(function = %spec.name, "{warning}");
                    plan.warnings.push(warning);
                }
                Ok(plan)
            }
            .await,
        )
    }

    async fn apply(&self, plan: &Plan, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        let info = ProviderBackend::info(self);
        named(&info, async {
            check_plan(&info, plan, artifact)?;
            let spec = plan.spec().expect("checked: the plan can be applied");
            let outcome = ProviderBackend::apply(self, plan, spec, artifact).await?;
            if outcome.deployment.code_sha256 != plan.code_sha256 {
                return Err(Error::conflict(
                    &plan.function,
                    format!(
                        "the deployed code has sha256 {} but the plan deploys {}: another deployer changed the function, or the upload was altered",
                        outcome.deployment.code_sha256, plan.code_sha256
                    ),
                ));
            }
            Ok(outcome)
        }
        .await)
    }

    async fn deploy(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        // "Make it so": a plan gone stale under another deployer is planned again.
        let mut attempt = 1;
        loop {
            let plan = Provider::plan(self, spec, artifact).await?;
            match Provider::apply(self, &plan, artifact).await {
                Err(Error::Conflict { message, .. }) if attempt < DEPLOY_ATTEMPTS => {
                    tracing::info!(function = %spec.name, attempt, %message, "the plan went stale: planning again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        checked(
            &ProviderBackend::info(self),
            function,
            ProviderBackend::get(self, function),
        )
        .await
    }

    async fn get_qualified(&self, function: &str, qualifier: &str) -> Result<Deployment> {
        checked(&ProviderBackend::info(self), function, async {
            match Qualifier::parse(qualifier)? {
                Qualifier::Latest => ProviderBackend::get(self, function).await,
                q => ProviderBackend::get_qualified(self, function, &q).await,
            }
        })
        .await
    }

    async fn delete(&self, function: &str) -> Result<()> {
        checked(
            &ProviderBackend::info(self),
            function,
            ProviderBackend::delete(self, function),
        )
        .await
    }

    async fn publish(&self, function: &str, request: &PublishRequest) -> Result<Version> {
        checked(&ProviderBackend::info(self), function, async {
            if let Some(sha) = &request.expected_code_sha256 {
                names::check_sha256(sha)?;
            }
            ProviderBackend::publish(self, function, request).await
        })
        .await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        checked(
            &ProviderBackend::info(self),
            function,
            ProviderBackend::list_versions(self, function),
        )
        .await
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<()> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            if !info.capability.delete_versions {
                return Err(unsupported(&info, "deleting versions", None));
            }
            if version == names::LATEST {
                return Err(Error::invalid(
                    "version",
                    names::LATEST,
                    "$LATEST cannot be deleted: delete the function instead",
                ));
            }
            names::check_version(version)?;
            ProviderBackend::delete_version(self, function, version).await
        })
        .await
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            check_label(&info, label)?;
            check_routing(&info, routing)?;
            ProviderBackend::set_label(self, function, label, routing).await
        })
        .await
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            check_label(&info, label)?;
            ProviderBackend::get_label(self, function, label).await
        })
        .await
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            if !info.capability.has_labels() {
                return Ok(Vec::new());
            }
            ProviderBackend::list_labels(self, function).await
        })
        .await
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            check_label(&info, label)?;
            ProviderBackend::delete_label(self, function, label).await
        })
        .await
    }

    async fn invoke(&self, function: &str, request: &InvokeRequest) -> Result<Invocation> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            let qualifier = Qualifier::parse_opt(request.qualifier.as_deref())?;
            check_invoke(&info, &qualifier, request)?;
            ProviderBackend::invoke(self, function, &qualifier, request).await
        })
        .await
    }

    async fn swap(&self, function: &str, label: &str) -> Result<()> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            if !info.capability.slot_swap {
                return Err(unsupported(&info, "swapping a label with production", None));
            }
            names::check_label(label)?;
            ProviderBackend::swap(self, function, label).await
        })
        .await
    }

    async fn ramp_up(&self, function: &str, label: &str, percent: f64) -> Result<()> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            check_slots(&info, "ramping traffic up to a slot")?;
            names::check_label(label)?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(Error::invalid("percent", percent, "a share of traffic is 0–100"));
            }
            ProviderBackend::ramp_up(self, function, label, percent).await
        })
        .await
    }

    async fn ramp_up_percent(&self, function: &str, label: &str) -> Result<f64> {
        let info = ProviderBackend::info(self);
        checked(&info, function, async {
            check_slots(&info, "reading ramp-up rules")?;
            names::check_label(label)?;
            ProviderBackend::ramp_up_percent(self, function, label).await
        })
        .await
    }

    async fn restore(&self, function: &str, version: &str) -> Result<Deployment> {
        checked(&ProviderBackend::info(self), function, async {
            names::check_version(version)?;
            ProviderBackend::restore(self, function, version).await
        })
        .await
    }

    async fn metrics(&self, query: &MetricsQuery) -> Result<Metrics> {
        let info = ProviderBackend::info(self);
        checked(&info, &query.function, async {
            check_observation(self, &info, "metrics", query.qualifier.as_deref(), &query.window)?;
            ProviderBackend::metrics(self, query).await
        })
        .await
    }

    async fn metric_series(&self, query: &MetricsQuery) -> Result<Vec<Metrics>> {
        let info = ProviderBackend::info(self);
        checked(&info, &query.function, async {
            check_observation(self, &info, "metrics", query.qualifier.as_deref(), &query.window)?;
            let period = query
                .period
                .ok_or_else(|| Error::invalid("period", "(none)", "a series needs the period of its points"))?;
            let periods = query.window.periods(period, crate::observe::MAX_SERIES_POINTS)?;
            ProviderBackend::metric_series(self, query, &periods).await
        })
        .await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage> {
        let info = ProviderBackend::info(self);
        checked(&info, &query.function, async {
            check_observation(self, &info, "logs", query.qualifier.as_deref(), &query.window)?;
            query.check()?;
            ProviderBackend::logs(self, query).await
        })
        .await
    }

    async fn upload_named(&self, package: &Package, uri: &str) -> Result<ArtifactRef> {
        let info = ProviderBackend::info(self);
        if !info.capability.named_artifacts {
            return Err(unsupported(&info, "named artifacts", None));
        }
        check_artifact_uri(&info, uri)?;
        named(&info, ProviderBackend::upload_named(self, package, uri).await)
    }

    async fn download_artifact(&self, uri: &str, to: &std::path::Path) -> Result<ArtifactRef> {
        let info = ProviderBackend::info(self);
        if !info.capability.named_artifacts {
            return Err(unsupported(&info, "named artifacts", None));
        }
        check_artifact_uri(&info, uri)?;
        named(&info, ProviderBackend::download_artifact(self, uri, to).await)
    }

    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>> {
        let info = ProviderBackend::info(self);
        if !info.capability.alarms {
            return Err(unsupported(&info, "cloud alarms", None));
        }
        if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
            return Err(
                Error::invalid("alarms", format!("{names:?}"), "name at least one alarm, none empty")
                    .with_provider(info.name),
            );
        }
        named(&info, ProviderBackend::alarm_states(self, names).await)
    }

    async fn read_record(&self, key: &str) -> Result<Option<StoredRecord>> {
        let info = ProviderBackend::info(self);
        named(
            &info,
            async {
                check_records(self, &info, key)?;
                ProviderBackend::read_record(self, key).await
            }
            .await,
        )
    }

    async fn write_record(&self, key: &str, body: &[u8], condition: &WriteCondition) -> Result<RecordTag> {
        let info = ProviderBackend::info(self);
        named(
            &info,
            async {
                check_records(self, &info, key)?;
                ProviderBackend::write_record(self, key, body, condition).await
            }
            .await,
        )
    }

    async fn delete_record(&self, key: &str, tag: &RecordTag) -> Result<()> {
        let info = ProviderBackend::info(self);
        named(
            &info,
            async {
                check_records(self, &info, key)?;
                ProviderBackend::delete_record(self, key, tag).await
            }
            .await,
        )
    }
}

/// The capability and the key of a record operation.
fn check_records<P: ProviderBackend + ?Sized>(backend: &P, info: &ProviderInfo, key: &str) -> Result<()> {
    if !info.capability.records {
        return Err(unsupported(
            info,
            "records",
            backend.unsupported_hint("records").as_deref(),
        ));
    }
    crate::records::check_key(key)
}

/// The capability, the qualifier and the window of a metrics or log query.
fn check_observation<P: ProviderBackend + ?Sized>(
    backend: &P,
    info: &ProviderInfo,
    what: &str,
    qualifier: Option<&str>,
    window: &TimeWindow,
) -> Result<()> {
    let supported = match what {
        "metrics" => info.capability.metrics,
        _ => info.capability.logs,
    };
    if !supported {
        return Err(unsupported(info, what, backend.unsupported_hint(what).as_deref()));
    }
    if let Qualifier::Label(_) = Qualifier::parse_opt(qualifier)? {
        check_labels(info)?;
    }
    window.check()
}

/// The payload limit, the client context, the async capability and labels, for [`Provider::invoke`].
fn check_invoke(info: &ProviderInfo, qualifier: &Qualifier, request: &InvokeRequest) -> Result<()> {
    request.check_client_context()?;
    if request.mode == InvokeMode::Sync && request.payload.len() as u64 > info.limits.payload_bytes {
        return Err(Error::invalid(
            "payload",
            format!("{} bytes", request.payload.len()),
            format!(
                "{} accepts at most {} bytes in a synchronous invocation (Lambda answers 413 RequestEntityTooLargeException): send a reference to the data instead",
                info.name, info.limits.payload_bytes
            ),
        ));
    }
    if request.mode == InvokeMode::Async && !info.capability.async_invoke {
        return Err(unsupported(
            info,
            "asynchronous invocation",
            Some("invoke synchronously"),
        ));
    }
    if matches!(qualifier, Qualifier::Label(_)) {
        check_labels(info)?;
    }
    Ok(())
}

/// The runtime against the lifecycle table of the provider's cloud: an error when the cloud
/// blocks it (for creating, when `creating`), a warning when it is deprecated. The local
/// provider never refuses: it runs what it has an interpreter for.
fn lifecycle_check(info: &ProviderInfo, spec: &FunctionSpec, creating: bool) -> Result<Option<String>> {
    use crate::lifecycle::{RuntimeTable, Verdict, today};
    let Some((table, id)) = RuntimeTable::of_provider(info.name.as_str(), &spec.runtime) else {
        return Ok(None);
    };
    let cloud = match info.name.as_str() {
        "gcp" => "Cloud Run functions",
        "azure" => "Azure Functions",
        _ => "Lambda",
    };
    let verdict = table.verdict(&id, &today(), creating);
    match verdict {
        Verdict::Supported | Verdict::Unlisted => Ok(None),
        Verdict::Deprecated { .. } => Ok(Some(verdict.explain(cloud))),
        Verdict::Blocked { .. } if info.name.as_str() == "local" => Ok(Some(format!(
            "{} (the local provider runs it anyway)",
            verdict.explain(cloud)
        ))),
        Verdict::Blocked { .. } => Err(Error::invalid("runtime", &spec.runtime, verdict.explain(cloud))),
    }
}

/// `scheme://bucket/key` with a bucket and a key, no `..` segment and no control character.
fn check_artifact_uri(info: &ProviderInfo, uri: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid("uri", uri, why).with_provider(info.name));
    let Some((scheme, rest)) = uri.split_once("://") else {
        return bad("expected scheme://bucket/key, e.g. s3://artifacts/my-function/latest.zip");
    };
    let Some((bucket, key)) = rest.split_once('/') else {
        return bad("no key after the bucket");
    };
    if scheme.is_empty() || bucket.is_empty() || key.is_empty() || key.ends_with('/') {
        return bad("scheme, bucket and key must all be given, and the key must name an object");
    }
    if key.split('/').any(|s| s == ".." || s == ".") || uri.chars().any(char::is_control) {
        return bad("the key must not contain '.' or '..' segments or control characters");
    }
    Ok(())
}
