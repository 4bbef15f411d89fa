//! [`ProviderExt`]: the conveniences every [`Provider`] gets for free — the whole delivery of
//! a package, promotion, rollback, pruning and gradual traffic shifting.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::time::Duration;

use async_trait::async_trait;
use faas_package::Package;
use serde::{Deserialize, Serialize};

use crate::observe::{LogQuery, LogRecord, now_ms};
use crate::{
    ArtifactRef, Error, FunctionSpec, Label, Plan, PlannedAction, Provider, PublishRequest, Result, Routing, Version,
};

/// Options of [`ProviderExt::deploy_package`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployOptions {
    /// Publish a version after deploying.
    pub publish: bool,
    /// Point this label at the published version (needs `publish`).
    pub label: Option<String>,
    /// After publishing, delete all but the newest N versions (routed versions are kept).
    pub keep_versions: Option<usize>,
    /// Only plan: call no mutating API.
    pub dry_run: bool,
    /// The description of the published version.
    pub description: String,
}

/// What [`ProviderExt::deploy_package`] did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployReport {
    /// The function.
    pub function: String,
    /// The plan that was carried out (or only shown, in a dry run).
    pub plan: Plan,
    /// What changed (all false in a dry run).
    pub change: crate::Change,
    /// The deployed code's sha256, hex.
    pub code_sha256: String,
    /// The published version, if one was published.
    pub version: Option<Version>,
    /// The label as it now routes; `None` when no label was asked for, or when it already
    /// served the deployed code and configuration and was left alone.
    pub label: Option<Label>,
    /// Versions deleted by pruning.
    pub pruned: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl DeployReport {
    /// The report of a delivery that has only planned so far.
    fn started(plan: Plan, code_sha256: &str) -> DeployReport {
        DeployReport {
            function: plan.function.clone(),
            plan,
            change: crate::Change::default(),
            code_sha256: code_sha256.to_string(),
            version: None,
            label: None,
            pruned: Vec::new(),
            dry_run: false,
        }
    }
}

/// An artifact reference for a package not uploaded anywhere (dry runs, the local provider).
pub fn local_artifact(package: &Package) -> ArtifactRef {
    ArtifactRef {
        uri: format!("file://{}", package.path.display()),
        sha256: package.sha256.clone(),
        size: package.size,
        local_path: Some(package.path.clone()),
    }
}

/// Conveniences over any [`Provider`], `dyn` included.
#[async_trait]
pub trait ProviderExt: Provider {
    /// Plan, upload, apply (which checks the deployed hash), then optionally publish, move a
    /// label and prune — the whole delivery of one package. The options (the label's name,
    /// what the capability allows) and the spec are checked before the first call; one read
    /// plans; the package is checked against the spec before anything is uploaded; and only
    /// what the plan needs is done. A dry run only plans.
    async fn deploy_package(
        &self,
        spec: &FunctionSpec,
        package: &Package,
        opts: &DeployOptions,
    ) -> Result<DeployReport> {
        deliver(self, spec, Code::Package(package, None), opts).await
    }

    /// [`deploy_package`](ProviderExt::deploy_package) from an artifact already in the
    /// provider's store (a pipeline's named upload, or a prebuilt object read back with
    /// [`Provider::download_artifact`]) instead of uploading `package` again: `stored` must
    /// hold exactly `package` (same sha256), and the deployed code is checked against it.
    async fn deploy_stored(
        &self,
        spec: &FunctionSpec,
        package: &Package,
        stored: &ArtifactRef,
        opts: &DeployOptions,
    ) -> Result<DeployReport> {
        if stored.sha256 != package.sha256 {
            return Err(Error::invalid(
                "artifact.sha256",
                &stored.sha256,
                format!("{} holds other code than the package ({})", stored.uri, package.sha256),
            ));
        }
        deliver(self, spec, Code::Package(package, Some(stored)), opts).await
    }

    /// Delivers a container image by reference ([`ArtifactRef::image`]): plan, apply (nothing
    /// is uploaded), publish and move the label as [`ProviderExt::deploy_package`] does, on a
    /// provider with [`Capability::container_images`](crate::Capability::container_images)
    /// (others refuse it before any call).
    async fn deploy_image(
        &self,
        spec: &FunctionSpec,
        image: &ArtifactRef,
        opts: &DeployOptions,
    ) -> Result<DeployReport> {
        if image.image_reference().is_none() {
            return Err(Error::invalid(
                "artifact",
                &image.uri,
                "not an image reference: make it with ArtifactRef::image",
            ));
        }
        deliver(self, spec, Code::Image(image), opts).await
    }

    /// Sends all of `label`'s traffic to `version`.
    async fn promote(&self, function: &str, label: &str, version: &str) -> Result<Label> {
        self.set_label(function, label, &Routing::to(version)).await
    }

    /// Points `label` at the newest version older than the one it routes to now.
    async fn rollback(&self, function: &str, label: &str) -> Result<Label> {
        let current = self.get_label(function, label).await?;
        let versions = self.list_versions(function).await?;
        let pos = versions
            .iter()
            .position(|v| v.id == current.routing.primary)
            .ok_or_else(|| {
                Error::not_found(
                    crate::ResourceKind::Version,
                    format!("{function}:{}", current.routing.primary),
                    None,
                )
            })?;
        let previous = pos.checked_sub(1).map(|p| versions[p].id.clone()).ok_or_else(|| {
            Error::invalid(
                "label",
                format!("{function}@{label} -> {}", current.routing.primary),
                "there is no earlier version to roll back to",
            )
        })?;
        tracing::info!(function, label, from = %current.routing.primary, to = %previous, "rolling back");
        self.set_label(function, label, &Routing::to(previous)).await
    }

    /// Deletes all but the newest `keep` versions, never one a label routes to (primary or
    /// weighted) nor one the provider refuses to delete as in use (`Conflict`: Lambda's
    /// provisioned concurrency), which is kept. Returns the deleted version ids.
    async fn prune_versions(&self, function: &str, keep: usize) -> Result<Vec<String>> {
        if !self.info().capability.delete_versions {
            return Err(Error::unsupported("deleting versions", None).with_provider(self.info().name));
        }
        let versions = self.list_versions(function).await?;
        let routed: BTreeSet<String> = self
            .list_labels(function)
            .await?
            .iter()
            .flat_map(|l| l.routing.versions().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let cut = versions.len().saturating_sub(keep);
        let mut deleted = Vec::new();
        for v in &versions[..cut] {
            if routed.contains(&v.id) {
                continue;
            }
            match self.delete_version(function, &v.id).await {
                Ok(()) => deleted.push(v.id.clone()),
                // A version the provider keeps because it is in use (Lambda: provisioned
                // concurrency on it) stays, as a routed one does; the next prune tries again.
                Err(Error::Conflict { message, .. }) => {
                    tracing::info!(function, version = %v.id, %message, "kept a version in use");
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(function, keep, deleted = deleted.len(), "pruned versions");
        Ok(deleted)
    }

    /// Follows a function's logs: the records `query` selects, then each new one as it
    /// arrives, handed to `sink` until it returns [`ControlFlow::Break`] (or a call fails).
    /// Polls every `every` with the page cursor — so it works on every provider with
    /// [`logs`](crate::Capability::logs), and sees records written by other processes — and
    /// moves the window's end forward with the clock.
    async fn follow_logs(&self, query: &LogQuery, every: Duration, sink: &mut LogSink<'_>) -> Result<()> {
        let mut q = query.clone();
        loop {
            q.window.end_ms = q.window.end_ms.max(now_ms() + 1);
            let page = self.logs(&q).await?;
            for r in page.records {
                if sink(r).is_break() {
                    return Ok(());
                }
            }
            if page.cursor.is_some() {
                q.cursor = page.cursor;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Moves `label` to `version` gradually: each weight in `steps` (e.g. `[0.1, 0.5]`) for
    /// `interval`, then all traffic.
    async fn shift_traffic(
        &self,
        function: &str,
        label: &str,
        version: &str,
        steps: &[f64],
        interval: Duration,
    ) -> Result<Label> {
        let current = self.get_label(function, label).await?;
        if current.routing.primary != version {
            for w in steps {
                let routing = Routing::to(current.routing.primary.clone()).with(version, *w);
                self.set_label(function, label, &routing).await?;
                tokio::time::sleep(interval).await;
            }
        }
        self.set_label(function, label, &Routing::to(version)).await
    }
}

impl<P: Provider + ?Sized> ProviderExt for P {}

/// What [`ProviderExt::follow_logs`] hands each record to: return
/// [`ControlFlow::Break`] to stop following.
pub type LogSink<'a> = dyn FnMut(LogRecord) -> ControlFlow<()> + Send + 'a;

/// The whole delivery of one package (see [`ProviderExt::deploy_package`]), from `stored` when
/// it is already in the provider's store.
/// What a delivery deploys: a package (uploaded unless it is already stored) or a container
/// image by reference.
enum Code<'a> {
    Package(&'a Package, Option<&'a ArtifactRef>),
    Image(&'a ArtifactRef),
}

impl Code<'_> {
    /// The code's identity: the package's sha256, or the image's digest.
    fn sha256(&self) -> &str {
        match self {
            Code::Package(p, _) => &p.sha256,
            Code::Image(i) => &i.sha256,
        }
    }

    /// What the plan compares the deployed code with.
    fn plan_artifact(&self) -> ArtifactRef {
        match self {
            Code::Package(p, _) => local_artifact(p),
            Code::Image(i) => (*i).clone(),
        }
    }
}

async fn deliver<P: Provider + ?Sized>(
    p: &P,
    spec: &FunctionSpec,
    code: Code<'_>,
    opts: &DeployOptions,
) -> Result<DeployReport> {
    check_options(p, spec, opts)?;
    // One read plans (the spec is validated first, once): an unchanged function costs
    // this read and no upload at all.
    let plan = p.plan(spec, &code.plan_artifact()).await?;
    if let Code::Package(package, _) = &code {
        check_package(p, spec, package)?;
    }
    if opts.dry_run {
        return dry_run(p, spec, code.sha256(), opts, plan).await;
    }
    let mut report = DeployReport::started(plan, code.sha256());
    if !report.plan.is_noop() {
        apply(p, &code, &mut report).await?;
    }
    if opts.publish {
        publish_and_route(p, spec, code.sha256(), opts, &mut report).await?;
    }
    if let Some(keep) = opts.keep_versions {
        report.pruned = p.prune_versions(&spec.name, keep).await?;
    }
    Ok(report)
}

/// The package fits the spec (its handler is there) and the provider's unpacked size: checked
/// after the plan's one read, before anything is uploaded or changed.
fn check_package<P: Provider + ?Sized>(p: &P, spec: &FunctionSpec, package: &Package) -> Result<()> {
    let info = p.info();
    package.check_contents(&spec.runtime, &spec.handler)?;
    if package.unzipped_size > info.limits.unzipped_bytes {
        return Err(Error::invalid(
            "package",
            format!("{} bytes unzipped", package.unzipped_size),
            format!(
                "{} accepts at most {} bytes unzipped: trim the package or use layers",
                info.name, info.limits.unzipped_bytes
            ),
        )
        .with_provider(info.name));
    }
    Ok(())
}

/// What the delivery's options ask for, checked before the first call: nothing is read,
/// created, uploaded or published for options that would fail later. The spec itself is
/// validated by [`Provider::plan`], before its one read.
fn check_options<P: Provider + ?Sized>(p: &P, spec: &FunctionSpec, opts: &DeployOptions) -> Result<()> {
    let info = p.info();
    crate::names::check_function(&spec.name).map_err(|e| e.with_provider(info.name))?;
    if let Some(label) = &opts.label {
        if !opts.publish {
            return Err(Error::invalid(
                "label",
                label,
                "moving a label needs a published version: set publish",
            ));
        }
        if !info.capability.has_labels() {
            return Err(Error::unsupported("labels", Some("deploy without a label".into())).with_provider(info.name));
        }
        crate::names::check_label(label)?;
    }
    if opts.keep_versions.is_some() && !info.capability.delete_versions {
        return Err(
            Error::unsupported("deleting versions", Some("deploy without keep_versions".into()))
                .with_provider(info.name),
        );
    }
    // SnapStart applies to published versions only (`ApplyOn=PublishedVersions`): a delivery
    // that leaves the function on `$LATEST` would get none of it.
    if spec.aws.snap_start && !opts.publish {
        return Err(Error::invalid(
            "aws.snap_start",
            &spec.name,
            "SnapStart serves published versions, never $LATEST: set publish (and a label to route to it)",
        ));
    }
    Ok(())
}

/// The report of a dry run: the plan, plus the publish and the label move it would make.
async fn dry_run<P: Provider + ?Sized>(
    p: &P,
    spec: &FunctionSpec,
    code_sha256: &str,
    opts: &DeployOptions,
    mut plan: Plan,
) -> Result<DeployReport> {
    if opts.publish {
        plan.actions.push(PlannedAction::Publish);
    }
    if let Some(label) = &opts.label {
        let from = match p.get_label(&spec.name, label).await {
            Ok(l) => Some(l.routing),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        plan.actions.push(PlannedAction::Route {
            label: label.clone(),
            from,
            to: Routing::to("(new)"),
        });
    }
    Ok(DeployReport {
        dry_run: true,
        ..DeployReport::started(plan, code_sha256)
    })
}

/// Carries out a plan that changes something: upload when the code changes (an image or a
/// stored package is not uploaded), then apply the plan (which checks that the deployed code
/// is the package's or the image's).
async fn apply<P: Provider + ?Sized>(p: &P, code: &Code<'_>, report: &mut DeployReport) -> Result<()> {
    let plan = &report.plan;
    let artifact = match code {
        Code::Image(image) => (*image).clone(),
        Code::Package(_, Some(stored)) => (*stored).clone(),
        Code::Package(package, None) if plan.creates() || plan.updates_code() => {
            p.upload(&plan.function, package).await?
        }
        Code::Package(package, None) => local_artifact(package),
    };
    let outcome = p.apply(plan, &artifact).await?;
    report.change = outcome.change;
    report.code_sha256 = outcome.deployment.code_sha256;
    Ok(())
}

/// What `label` serves, when it is this code and configuration (one read): a delivery whose
/// plan changes nothing leaves such a label alone. `None` when the label is missing or
/// serves something else.
pub(crate) async fn label_serving<P: Provider + ?Sized>(
    p: &P,
    spec: &FunctionSpec,
    code_sha256: &str,
    label: &str,
) -> Result<Option<crate::Deployment>> {
    match p.get_qualified(&spec.name, label).await {
        Ok(d)
            if d.code_sha256 == code_sha256
                && crate::diff_config(&d.spec, spec)
                    .iter()
                    .all(|c| c.field == "description") =>
        {
            Ok(Some(d))
        }
        Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Publishes (guarded by the package's hash) and moves the label — unless nothing changed
/// and the label already serves this code and configuration (one more read, no write).
async fn publish_and_route<P: Provider + ?Sized>(
    p: &P,
    spec: &FunctionSpec,
    code_sha256: &str,
    opts: &DeployOptions,
    report: &mut DeployReport,
) -> Result<()> {
    if let (true, Some(label)) = (report.plan.is_noop(), &opts.label)
        && let Some(d) = label_serving(p, spec, code_sha256, label).await?
    {
        report.version = Some(Version {
            id: d.version.clone(),
            code_sha256: d.code_sha256,
            description: String::new(),
            code_size: None,
        });
        return Ok(());
    }
    let version = p
        .publish(
            &spec.name,
            &PublishRequest {
                description: opts.description.clone(),
                expected_code_sha256: Some(code_sha256.to_string()),
            },
        )
        .await?;
    if let Some(label) = &opts.label {
        report.label = Some(p.set_label(&spec.name, label, &Routing::to(&version.id)).await?);
    }
    report.version = Some(version);
    Ok(())
}
