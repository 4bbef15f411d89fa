//! The conformance suite every provider runs (feature `conformance`).
//!
//! Plain async functions over `&dyn Provider`, in the style of object_store's integration
//! tests: each creates uniquely named functions, asserts (panicking on failure) and deletes
//! what it made. [`run_all`] runs every check that the provider's [`Capability`] selects
//! (opendal style) and returns a [`Report`] of what ran and what was skipped, and why; what
//! the capability says is missing must fail with [`Error`](crate::Error)`::Unsupported`.
//!
//! ```no_run
//! # async fn t() {
//! let provider = faas_core::local::LocalProvider::builder().state_dir("/tmp/state").seed(7).build().unwrap();
//! let report = faas_core::conformance::run_all(&provider, &faas_core::conformance::Fixture::python()).await;
//! println!("{report}");
//! # }
//! ```

mod checks;
pub mod faults;
mod records;
mod support;

pub use checks::*;
pub use records::*;
pub use support::*;

use std::future::Future;
use std::path::{Path, PathBuf};

use faas_package::{Package, PackageBuilder, Runtime};

use crate::{Capability, DeployOptions, FunctionSpec, InvokeRequest, Provider, ProviderExt};

/// What the suite deploys.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The runtime of the test function.
    pub runtime: Runtime,
    /// Its handler.
    pub handler: String,
    /// Writes a function whose JSON response contains `"marker": <marker>` into a directory.
    pub write_source: fn(&Path, &str) -> std::io::Result<()>,
    /// Whether invocations run the code (false for emulators that only echo).
    pub runs_code: bool,
    /// Whether invocations say which version ran (false for emulators that do not).
    pub reports_executed_version: bool,
    /// Whether invoking a missing function or version fails (moto answers 200 instead).
    pub invoke_rejects_missing: bool,
    /// The execution role, for providers that need one.
    pub role: Option<String>,
    /// A prefix for function names, to tell runs apart.
    pub prefix: String,
    /// How many invocations the weighted-split check makes.
    pub split_samples: usize,
    /// The functions' memory (128 MB; Azure Flex instances have 512, 2048 or 4096).
    pub memory_mb: u32,
    /// Whether the provider's metrics and logs see the invocations the suite makes, at once
    /// (false for emulators whose invocations emit no metrics or logs).
    pub observes_invocations: bool,
}

const PYTHON_SOURCE: &str = r#"MARKER = "__MARKER__"


def lambda_handler(event, context):
    return {"statusCode": 200, "marker": MARKER, "event": event, "version": context.function_version}
"#;

fn write_python(dir: &Path, marker: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join("lambda_function.py"),
        PYTHON_SOURCE.replace("__MARKER__", marker),
    )
}

impl Fixture {
    /// A Python 3.12 function answering `{"statusCode": 200, "marker", "event", "version"}`.
    pub fn python() -> Fixture {
        Fixture {
            runtime: "python3.12".parse().unwrap_or_else(|_| unreachable_runtime()),
            handler: "lambda_function.lambda_handler".into(),
            write_source: write_python,
            runs_code: true,
            reports_executed_version: true,
            invoke_rejects_missing: true,
            role: None,
            prefix: "conf".into(),
            split_samples: 60,
            memory_mb: 128,
            observes_invocations: true,
        }
    }
}

fn unreachable_runtime() -> Runtime {
    panic!("python3.12 is a known runtime")
}

/// A function made for one check, deleted by [`Scratch::cleanup`].
pub(crate) struct Scratch<'a> {
    pub(crate) provider: &'a dyn Provider,
    pub(crate) fixture: &'a Fixture,
    pub(crate) name: String,
    pub(crate) dir: tempfile::TempDir,
}

impl<'a> Scratch<'a> {
    pub(crate) fn new(provider: &'a dyn Provider, fixture: &'a Fixture, check: &str) -> Scratch<'a> {
        let name = format!("{}-{check}-{:08x}", fixture.prefix, fastrand::u32(..));
        Scratch {
            provider,
            fixture,
            name,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub(crate) fn spec(&self) -> FunctionSpec {
        let mut spec = FunctionSpec::new(&self.name, self.fixture.runtime.clone(), &self.fixture.handler)
            .memory_mb(self.fixture.memory_mb);
        spec.aws.role_arn = self.fixture.role.clone();
        spec
    }

    pub(crate) fn package(&self, marker: &str) -> Package {
        let src: PathBuf = self.dir.path().join(format!("src-{marker}"));
        std::fs::create_dir_all(&src).expect("source dir");
        (self.fixture.write_source)(&src, marker).expect("write source");
        PackageBuilder::new(&src)
            .runtime(self.fixture.runtime.clone())
            .handler(&self.fixture.handler)
            .output(self.dir.path().join(format!("{marker}.zip")))
            .build()
            .expect("package")
    }

    pub(crate) async fn deploy(&self, marker: &str, publish: bool) -> crate::DeployReport {
        let opts = DeployOptions {
            publish,
            ..DeployOptions::default()
        };
        self.provider
            .deploy_package(&self.spec(), &self.package(marker), &opts)
            .await
            .unwrap_or_else(|e| panic!("deploy of {} ({marker}) failed: {e}", self.name))
    }

    pub(crate) async fn invoke(&self, qualifier: Option<&str>) -> crate::Invocation {
        let mut req = InvokeRequest::json(&serde_json::json!({"probe": true}));
        req.qualifier = qualifier.map(str::to_string);
        self.provider
            .invoke(&self.name, &req)
            .await
            .unwrap_or_else(|e| panic!("invoke of {}:{qualifier:?} failed: {e}", self.name))
    }

    pub(crate) fn marker_of(&self, inv: &crate::Invocation) -> Option<String> {
        assert!(
            inv.function_error.is_none(),
            "function error: {:?}\nlog:\n{}",
            inv.function_error,
            inv.log_tail.as_deref().unwrap_or("")
        );
        let v: serde_json::Value = serde_json::from_slice(&inv.payload).ok()?;
        v.get("marker").and_then(|m| m.as_str()).map(str::to_string)
    }

    pub(crate) async fn cleanup(self) {
        if let Err(e) = self.provider.delete(&self.name).await {
            tracing::warn!(function = %self.name, error = %e, "conformance cleanup failed");
        }
    }
}

pub(crate) fn cap(p: &dyn Provider) -> Capability {
    p.info().capability
}

/// What [`run_all`] ran, and what it skipped because the capability rules it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The provider.
    pub provider: String,
    /// The checks that ran (and passed: a failing check panics).
    pub ran: Vec<&'static str>,
    /// The checks skipped, each with the capability that rules it out.
    pub skipped: Vec<(&'static str, &'static str)>,
}

impl Report {
    async fn check(&mut self, name: &'static str, skip: Option<&'static str>, run: impl Future<Output = ()>) {
        match skip {
            Some(why) => {
                tracing::info!(provider = %self.provider, check = name, why, "conformance check skipped");
                self.skipped.push((name, why));
            }
            None => {
                run.await;
                tracing::info!(provider = %self.provider, check = name, "conformance check passed");
                self.ran.push(name);
            }
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} checks ran, {} skipped",
            self.provider,
            self.ran.len(),
            self.skipped.len()
        )?;
        for name in &self.ran {
            writeln!(f, "  ran      {name}")?;
        }
        for (name, why) in &self.skipped {
            writeln!(f, "  skipped  {name}: {why}")?;
        }
        Ok(())
    }
}

/// Runs every check the provider's capability selects, and says which ran and which were
/// skipped (and why).
pub async fn run_all(p: &dyn Provider, fx: &Fixture) -> Report {
    let c = cap(p);
    let mut r = Report {
        provider: p.info().name.to_string(),
        ..Report::default()
    };
    let labels = (!c.has_labels()).then_some("the provider has no labels (LabelModel::None)");
    let weights = (c.weighted_versions == 0).then_some("no weighted labels (weighted_versions = 0)");
    let swap = (!c.slot_swap).then_some("no slot swap");
    let delete = (!c.delete_versions).then_some("versions cannot be deleted");
    r.check("deploy_invoke_round_trip", None, deploy_invoke_round_trip(p, fx))
        .await;
    r.check("redeploy_unchanged_is_noop", None, redeploy_unchanged_is_noop(p, fx))
        .await;
    r.check(
        "published_version_is_immutable",
        None,
        published_version_is_immutable(p, fx),
    )
    .await;
    r.check("label_move_and_rollback", labels, label_move_and_rollback(p, fx))
        .await;
    r.check("weighted_split", labels.or(weights), weighted_split(p, fx))
        .await;
    r.check(
        "slot_swap_promotes_and_swaps_back",
        swap,
        slot_swap_promotes_and_swaps_back(p, fx),
    )
    .await;
    r.check(
        "prune_keeps_newest_and_routed",
        delete,
        prune_keeps_newest_and_routed(p, fx),
    )
    .await;
    r.check("typed_errors", None, typed_errors(p, fx)).await;
    r.check("names_are_checked_first", None, names_are_checked_first(p, fx))
        .await;
    r.check("plans_apply_as_planned", None, plans_apply_as_planned(p, fx))
        .await;
    let observe = (!c.metrics && !c.logs)
        .then_some("no metrics or logs")
        .or((!fx.observes_invocations).then_some("the fixture's invocations emit no metrics or logs"));
    r.check(
        "metrics_and_logs_see_invocations",
        observe,
        metrics_and_logs_see_invocations(p, fx),
    )
    .await;
    r.check("old_secrets_stay_hidden", None, old_secrets_stay_hidden(p, fx))
        .await;
    r.check(
        "records_are_conditional",
        (!c.records).then_some("no records (Capability::records)"),
        records_are_conditional(p, fx),
    )
    .await;
    r.check(
        "records_and_alarms_unsupported_say_so",
        None,
        records_and_alarms_unsupported_say_so(p, fx),
    )
    .await;
    r.check("capability_is_honest", None, capability_is_honest(p, fx)).await;
    r
}
