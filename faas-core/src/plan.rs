//! [`Plan`]: what a deploy would change — the basis of dry runs and of the no-op fast path.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::spec::REDACTED;
use crate::{Change, FunctionSpec, ProviderName, Routing};

/// One configuration field that differs. Secret values are shown as `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    /// The field (`memory_mb`, `environment.LOG_LEVEL`).
    pub field: String,
    /// The current value (`None`: absent).
    pub from: Option<String>,
    /// The desired value (`None`: removed).
    pub to: Option<String>,
}

/// One step a deploy would take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlannedAction {
    /// Create the function.
    Create {
        /// The function.
        function: String,
    },
    /// Replace the code.
    UpdateCode {
        /// The current code sha256.
        from: String,
        /// The new code sha256.
        to: String,
    },
    /// Update configuration fields.
    UpdateConfig {
        /// The differing fields.
        diffs: Vec<ConfigDiff>,
    },
    /// Publish a new version.
    Publish,
    /// Point a label somewhere else.
    Route {
        /// The label.
        label: String,
        /// Its current routing, if it exists.
        from: Option<Routing>,
        /// The new routing (`"(new)"` stands for the version being published).
        to: Routing,
    },
}

/// What a deploy would do, in order, and what it was planned against. An empty plan means
/// nothing would change.
///
/// A plan made by [`Provider::plan`](crate::Provider::plan) carries what the provider observed
/// (its revision or etag, and the state it read), so that
/// [`Provider::apply`](crate::Provider::apply) carries out exactly this plan without reading
/// or comparing again, and fails with [`Error::Conflict`](crate::Error::Conflict) where the
/// cloud can tell that the function changed since. That basis is kept in memory only: it is
/// never serialized nor shown (it may hold the old configuration, secrets included), and a
/// plan read back from JSON or made with [`Plan::new`] can be shown but not applied.
///
/// ```
/// use faas_core::{Plan, PlannedAction};
/// let plan = Plan::new("f", vec![PlannedAction::Publish]);
/// assert_eq!(plan.to_string(), "f: publish a new version\n");
/// assert!(!plan.can_apply());
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// The function.
    pub function: String,
    /// The steps.
    pub actions: Vec<PlannedAction>,
    /// The sha256 of the code the plan deploys (empty for a plan only shown).
    #[serde(default)]
    pub code_sha256: String,
    /// The revision or etag the provider reported when planning; `None` when the function
    /// did not exist or the provider keeps none.
    #[serde(default)]
    pub observed_revision: Option<String>,
    /// What the deploy should know but does not stop it (a deprecated runtime).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip)]
    basis: Option<Basis>,
}

/// What a plan was made against: in memory only.
#[derive(Clone)]
struct Basis {
    provider: ProviderName,
    spec: Arc<FunctionSpec>,
    /// The provider's own record of what it read (`None`: the function did not exist).
    observed: Option<Arc<dyn Any + Send + Sync>>,
}

impl Plan {
    /// A plan to show (a dry run's publish or label move, a report): it cannot be applied.
    pub fn new(function: impl Into<String>, actions: Vec<PlannedAction>) -> Plan {
        Plan {
            function: function.into(),
            actions,
            code_sha256: String::new(),
            observed_revision: None,
            warnings: Vec::new(),
            basis: None,
        }
    }

    /// For providers: the plan for a function that does not exist yet — create it from
    /// `spec` with the code `code_sha256`.
    pub fn to_create(spec: &FunctionSpec, code_sha256: &str) -> Plan {
        Plan {
            function: spec.name.clone(),
            actions: vec![PlannedAction::Create {
                function: spec.name.clone(),
            }],
            code_sha256: code_sha256.to_string(),
            observed_revision: None,
            warnings: Vec::new(),
            basis: Some(Basis {
                provider: ProviderName::NONE,
                spec: Arc::new(spec.clone()),
                observed: None,
            }),
        }
    }

    /// For providers: the plan for a function that exists, with what was `observed` (the
    /// provider's own type, read back in [`ProviderBackend::apply`](crate::ProviderBackend::apply)
    /// with [`Plan::observed`]) and its `revision`. Add the differences with
    /// [`Plan::push`]; none means nothing changes.
    pub fn to_update<T: Any + Send + Sync>(
        spec: &FunctionSpec,
        code_sha256: &str,
        revision: Option<String>,
        observed: T,
    ) -> Plan {
        Plan {
            function: spec.name.clone(),
            actions: Vec::new(),
            code_sha256: code_sha256.to_string(),
            observed_revision: revision,
            warnings: Vec::new(),
            basis: Some(Basis {
                provider: ProviderName::NONE,
                spec: Arc::new(spec.clone()),
                observed: Some(Arc::new(observed)),
            }),
        }
    }

    /// Adds a step.
    pub fn push(&mut self, action: PlannedAction) {
        self.actions.push(action);
    }

    /// Whether this plan was made by a provider and can be applied.
    pub fn can_apply(&self) -> bool {
        self.basis.is_some()
    }

    /// For providers: what was observed when planning, as the type given to
    /// [`Plan::to_update`]; `None` for a plan to create (or a plan of another type).
    pub fn observed<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.basis.as_ref()?.observed.as_deref()?.downcast_ref::<T>()
    }

    /// The spec the plan deploys, for a plan that can be applied.
    pub fn spec(&self) -> Option<&FunctionSpec> {
        self.basis.as_ref().map(|b| b.spec.as_ref())
    }

    /// The provider that made the plan ([`ProviderName::NONE`] for a plan only shown).
    pub fn planned_by(&self) -> ProviderName {
        self.basis.as_ref().map(|b| b.provider).unwrap_or_default()
    }

    pub(crate) fn stamp(&mut self, provider: ProviderName) {
        if let Some(b) = &mut self.basis {
            b.provider = provider;
        }
    }

    /// Whether nothing would change.
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }

    /// Whether the plan creates the function.
    pub fn creates(&self) -> bool {
        self.actions.iter().any(|a| matches!(a, PlannedAction::Create { .. }))
    }

    /// Whether the plan replaces the code.
    pub fn updates_code(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, PlannedAction::UpdateCode { .. }))
    }

    /// Whether the plan changes the configuration.
    pub fn updates_config(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, PlannedAction::UpdateConfig { .. }))
    }

    /// What applying the plan changes.
    pub fn change(&self) -> Change {
        Change {
            created: self.creates(),
            code_updated: self.updates_code(),
            config_updated: self.updates_config(),
        }
    }

    /// The configuration differences, if any.
    pub fn config_diffs(&self) -> &[ConfigDiff] {
        self.actions
            .iter()
            .find_map(|a| match a {
                PlannedAction::UpdateConfig { diffs } => Some(diffs.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Whether the configuration field `field` (`memory_mb`, `environment.K`, or a prefix
    /// such as `environment.`) differs.
    pub fn changes_field(&self, field: &str) -> bool {
        self.config_diffs().iter().any(|d| d.field.starts_with(field))
    }
}

/// Shows what is public; the basis (which may hold old secret values) never.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("function", &self.function)
            .field("actions", &self.actions)
            .field("code_sha256", &self.code_sha256)
            .field("observed_revision", &self.observed_revision)
            .field("can_apply", &self.can_apply())
            .finish()
    }
}

/// Plans are equal when they show the same: the basis is not compared.
impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        (
            &self.function,
            &self.actions,
            &self.code_sha256,
            &self.observed_revision,
        ) == (
            &other.function,
            &other.actions,
            &other.code_sha256,
            &other.observed_revision,
        )
    }
}

fn routing_text(r: &Routing) -> String {
    let mut s = r.primary.clone();
    for (v, w) in &r.weights {
        s.push_str(&format!(" + {v}@{:.0}%", w * 100.0));
    }
    s
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "{}: warning: {w}", self.function)?;
        }
        if self.actions.is_empty() {
            return writeln!(f, "{}: no changes", self.function);
        }
        for a in &self.actions {
            match a {
                PlannedAction::Create { function } => writeln!(f, "{}: create function {function}", self.function)?,
                PlannedAction::UpdateCode { from, to } => {
                    writeln!(f, "{}: update code {} -> {}", self.function, short(from), short(to))?
                }
                PlannedAction::UpdateConfig { diffs } => {
                    writeln!(f, "{}: update configuration", self.function)?;
                    for d in diffs {
                        writeln!(
                            f,
                            "    {}: {} -> {}",
                            d.field,
                            d.from.as_deref().unwrap_or("(none)"),
                            d.to.as_deref().unwrap_or("(removed)")
                        )?;
                    }
                }
                PlannedAction::Publish => writeln!(f, "{}: publish a new version", self.function)?,
                PlannedAction::Route { label, from, to } => writeln!(
                    f,
                    "{}: route {label}: {} -> {}",
                    self.function,
                    from.as_ref().map(routing_text).unwrap_or_else(|| "(new label)".into()),
                    routing_text(to)
                )?,
            }
        }
        Ok(())
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Compares the provider-neutral fields of two specs (name excluded). Providers add their own.
///
/// An environment value is shown as `***` when its key is secret in **either** spec: a
/// variable that stops being secret (or is removed) never prints its old value. A provider
/// whose stored configuration cannot say which variables were secret calls
/// [`diff_config_unknown_secrets`] instead.
///
/// ```
/// use faas_core::{FunctionSpec, diff_config};
/// let old = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").secret_env("K", "hunter2");
/// let new = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").env("K", "plain");
/// let d = diff_config(&old, &new);
/// assert_eq!(d[0].from.as_deref(), Some("***"));
/// ```
pub fn diff_config(current: &FunctionSpec, desired: &FunctionSpec) -> Vec<ConfigDiff> {
    diff_specs(current, desired, false)
}

/// [`diff_config`] for a `current` spec read from a cloud that keeps no record of which
/// variables were secret: every old environment value is shown as `***` (new values are
/// masked by `desired`'s secret set).
///
/// ```
/// use faas_core::{FunctionSpec, diff_config_unknown_secrets};
/// let seen = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").env("K", "maybe-secret");
/// let want = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").env("K", "plain");
/// let d = diff_config_unknown_secrets(&seen, &want);
/// assert_eq!((d[0].from.as_deref(), d[0].to.as_deref()), (Some("***"), Some("plain")));
/// ```
pub fn diff_config_unknown_secrets(current: &FunctionSpec, desired: &FunctionSpec) -> Vec<ConfigDiff> {
    diff_specs(current, desired, true)
}

fn diff_specs(current: &FunctionSpec, desired: &FunctionSpec, old_secrets_unknown: bool) -> Vec<ConfigDiff> {
    let mut diffs = Vec::new();
    let mut cmp = |field: &str, from: String, to: String| {
        if from != to {
            diffs.push(ConfigDiff {
                field: field.to_string(),
                from: Some(from),
                to: Some(to),
            });
        }
    };
    cmp("runtime", current.runtime.to_string(), desired.runtime.to_string());
    cmp("handler", current.handler.clone(), desired.handler.clone());
    cmp(
        "memory_mb",
        current.memory_mb.to_string(),
        desired.memory_mb.to_string(),
    );
    cmp(
        "timeout_s",
        current.timeout_s.to_string(),
        desired.timeout_s.to_string(),
    );
    cmp("description", current.description.clone(), desired.description.clone());
    cmp("architecture", desired_arch(current), desired_arch(desired));
    let shown = |k: &str, v: &String, old: bool| {
        if (old && old_secrets_unknown) || current.is_secret(k) || desired.is_secret(k) {
            REDACTED.to_string()
        } else {
            v.clone()
        }
    };
    let keys: std::collections::BTreeSet<&String> =
        current.environment.keys().chain(desired.environment.keys()).collect();
    for k in keys {
        let (a, b) = (current.environment.get(k), desired.environment.get(k));
        if a != b {
            diffs.push(ConfigDiff {
                field: format!("environment.{k}"),
                from: a.map(|v| shown(k, v, true)),
                to: b.map(|v| shown(k, v, false)),
            });
        }
    }
    let keys: std::collections::BTreeSet<&String> = current.tags.keys().chain(desired.tags.keys()).collect();
    for k in keys {
        let (a, b) = (current.tags.get(k), desired.tags.get(k));
        if a != b {
            diffs.push(ConfigDiff {
                field: format!("tags.{k}"),
                from: a.cloned(),
                to: b.cloned(),
            });
        }
    }
    diffs
}

fn desired_arch(spec: &FunctionSpec) -> String {
    spec.architecture.lambda_name().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_fields_and_hides_secrets() {
        let a = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h")
            .env("A", "1")
            .secret_env("K", "old-secret");
        let b = a.clone().memory_mb(256).env("A", "2").secret_env("K", "new-secret");
        let d = diff_config(&a, &b);
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, vec!["memory_mb", "environment.A", "environment.K"]);
        let plan = Plan::new("f", vec![PlannedAction::UpdateConfig { diffs: d }]);
        let text = plan.to_string();
        assert!(
            !text.contains("secret") && text.contains("***") && text.contains("128 -> 256"),
            "{text}"
        );
        assert!(diff_config(&a, &a).is_empty());
    }

    #[test]
    fn a_secret_that_becomes_plain_or_is_removed_stays_hidden() {
        let old = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h")
            .secret_env("K", "old-canary-value")
            .secret_env("GONE", "gone-canary-value");
        let new = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").env("K", "now-plain");
        let d = diff_config(&old, &new);
        let plan = Plan::new("f", vec![PlannedAction::UpdateConfig { diffs: d.clone() }]);
        let shown = format!("{plan}{}", serde_json::to_string(&plan).unwrap());
        assert!(!shown.contains("canary"), "{shown}");
        assert_eq!(d.len(), 2, "{d:?}");
        // A cloud that cannot say which values were secret masks every old value.
        let plain_old = FunctionSpec::new("f", "python3.12".parse().unwrap(), "h.h").env("K", "was-secret-canary");
        let d = diff_config_unknown_secrets(&plain_old, &new);
        assert_eq!(d[0].from.as_deref(), Some(REDACTED));
        assert_eq!(d[0].to.as_deref(), Some("now-plain"));
    }
}
