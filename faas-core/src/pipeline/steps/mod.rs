//! The built-in step types, the registry that builds steps by type name, and the [`Step`]
//! trait users implement for their own.

mod build;
mod deploy;
mod monitor;
mod rollout;
mod step;
mod step_config;
mod testing;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Result;

pub use build::{PackageConfig, ScriptConfig, UploadConfig};
pub use deploy::{DeployConfig, PruneConfig, PublishConfig, RouteConfig};
pub use monitor::MonitorConfig;
pub use rollout::RolloutConfig;
pub use step::{Step, StepOutcome};
pub use step_config::StepConfig;
pub use testing::TestConfig;

/// Builds a step from its [`StepConfig`]; register one with [`StepRegistry::register`].
/// An error (such as the one [`StepConfig::deserialize`] returns) stops the pipeline before
/// anything runs, with the step's `file:line:column`.
///
/// ```
/// use std::sync::Arc;
/// use faas_core::pipeline::{Step, StepConfig, StepFactory};
///
/// let refuse: StepFactory = Arc::new(|config: &StepConfig| -> faas_core::Result<Box<dyn Step>> {
///     Err(faas_core::Error::invalid("config", config.as_json(), "this step type is not built yet"))
/// });
/// assert!(refuse(&StepConfig::default()).is_err());
/// ```
pub type StepFactory = Arc<dyn Fn(&StepConfig) -> Result<Box<dyn Step>> + Send + Sync>;

/// The step types a pipeline accepts.
#[derive(Clone)]
pub struct StepRegistry {
    factories: BTreeMap<String, StepFactory>,
}

impl std::fmt::Debug for StepRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

fn factory<T, S>(make: fn(T) -> S) -> StepFactory
where
    T: serde::de::DeserializeOwned + 'static,
    S: Step + 'static,
{
    Arc::new(move |config: &StepConfig| Ok(Box::new(make(config.deserialize::<T>()?)) as Box<dyn Step>))
}

impl Default for StepRegistry {
    fn default() -> Self {
        let mut r = StepRegistry {
            factories: BTreeMap::new(),
        };
        for (names, f) in [
            (&["package", "lambda-package"][..], factory(|c: PackageConfig| c)),
            (&["upload", "s3-upload"][..], factory(|c: UploadConfig| c)),
            (&["script"][..], factory(|c: ScriptConfig| c)),
            (&["deploy", "lambda-deploy"][..], factory(|c: DeployConfig| c)),
            (&["test", "lambda-test"][..], factory(|c: TestConfig| c)),
            (&["publish", "lambda-publish"][..], factory(|c: PublishConfig| c)),
            (&["route", "lambda-route"][..], factory(|c: RouteConfig| c)),
            (&["prune", "lambda-prune"][..], factory(|c: PruneConfig| c)),
        ] {
            for n in names {
                r.factories.insert((*n).to_string(), f.clone());
            }
        }
        let monitor: StepFactory =
            Arc::new(|config: &StepConfig| Ok(Box::new(MonitorConfig::from_config(config)?) as Box<dyn Step>));
        r.factories.insert("monitor".into(), monitor);
        let rollout: StepFactory =
            Arc::new(|config: &StepConfig| Ok(Box::new(RolloutConfig::from_config(config)?) as Box<dyn Step>));
        r.factories.insert("rollout".into(), rollout);
        r
    }
}

impl StepRegistry {
    /// Adds (or replaces) a step type (see [`StepConfig`] for a whole example).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use faas_core::pipeline::{StepConfig, StepRegistry};
    ///
    /// let mut registry = StepRegistry::default();
    /// registry.register(
    ///     "approve",
    ///     Arc::new(|_: &StepConfig| Err(faas_core::Error::invalid("config", "", "approvals are not built yet"))),
    /// );
    /// assert!(registry.names().contains("approve"));
    /// ```
    pub fn register(&mut self, name: impl Into<String>, factory: StepFactory) {
        self.factories.insert(name.into(), factory);
    }

    /// The accepted type names, comma separated.
    pub fn names(&self) -> String {
        self.factories.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    pub(crate) fn build(&self, kind: &str, config: &StepConfig) -> Option<Result<Box<dyn Step>>> {
        self.factories.get(kind).map(|f| f(config))
    }

    /// Whether `kind` is a registered step type.
    pub(crate) fn knows(&self, kind: &str) -> bool {
        self.factories.contains_key(kind)
    }
}
