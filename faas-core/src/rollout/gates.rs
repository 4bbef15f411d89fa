//! What a rollout checks: [`Gate`]s (alert rules on the new version's own metrics, the
//! cloud's alarms by name) and [`Hook`]s (test cases or your own code, run against the new
//! version before any traffic moves and after all of it has).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::observe::{AlarmValue, AlertRule, MetricsQuery, TimeWindow, Verdict};
use crate::testcase::{TestCase, run_case};
use crate::{Error, Provider, Result};

/// A health check at the end of each wait (alarms also before each step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// An alert rule on the new version's metrics over the step so far (its
    /// `min_invocations` decides when there is enough data).
    Alert(AlertRule),
    /// A cloud alarm by name: `ALARM` fails the gate.
    Alarm(String),
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gate::Alert(r) => write!(f, "{r}"),
            Gate::Alarm(n) => write!(f, "alarm:{n}"),
        }
    }
}

/// What to do when a gate has too little traffic to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum NotEnoughData {
    /// Roll back: an unproven version gets no more traffic.
    Fail,
    /// Keep the step running, checking every `every`, up to `up_to` longer; then roll back.
    WaitLonger {
        /// The most extra time a step may get.
        #[serde(with = "super::strategy::millis")]
        up_to: Duration,
        /// How often to look again.
        #[serde(with = "super::strategy::millis")]
        every: Duration,
    },
}

/// A gate's verdict at one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The gate, as text.
    pub gate: String,
    /// The step it was checked at.
    pub step: usize,
    /// `ok`, `fired`, `not_enough_data`, `unavailable`, `alarm`, `insufficient_data`.
    pub verdict: String,
    /// The observed figure.
    pub observed: Option<f64>,
    /// The threshold.
    pub threshold: Option<f64>,
    /// The new version's invocations in the window.
    pub invocations: Option<u64>,
    /// In words.
    pub detail: String,
}

impl GateResult {
    /// Whether the gate let the rollout go on.
    pub fn passed(&self) -> bool {
        self.verdict == "ok"
    }

    /// Whether it only lacked traffic.
    pub fn lacks_data(&self) -> bool {
        matches!(self.verdict.as_str(), "not_enough_data" | "insufficient_data")
    }
}

/// Checks `gates` for `version` over `window`: the alert rules on one metrics query, the
/// alarms on one call.
pub(crate) async fn check(
    p: &dyn Provider,
    function: &str,
    version: &str,
    window: TimeWindow,
    gates: &[Gate],
    step: usize,
    alarms_only: bool,
) -> Result<Vec<GateResult>> {
    let mut out = Vec::new();
    let rules: Vec<&AlertRule> = gates
        .iter()
        .filter_map(|g| match g {
            Gate::Alert(r) if !alarms_only => Some(r),
            _ => None,
        })
        .collect();
    if !rules.is_empty() {
        let m = p
            .metrics(&MetricsQuery::new(function, window).qualifier(version))
            .await?;
        for r in rules {
            let f = r.evaluate(&m);
            let verdict = match &f.verdict {
                Verdict::Fired => "fired",
                Verdict::Ok => "ok",
                Verdict::NotEnoughData => "not_enough_data",
                _ => "unavailable",
            };
            let detail = match &f.verdict {
                Verdict::Unavailable(why) => why.clone(),
                Verdict::NotEnoughData => format!(
                    "{} invocations of version {version}, the rule needs {}",
                    f.invocations.unwrap_or(0),
                    r.min_invocations
                ),
                _ => format!(
                    "{} = {} over {} invocations of version {version}",
                    r.figure.name(),
                    f.value.map_or("none".into(), |v| format!("{v:.3}")),
                    f.invocations.unwrap_or(0)
                ),
            };
            out.push(GateResult {
                gate: f.rule,
                step,
                verdict: verdict.into(),
                observed: f.value,
                threshold: Some(r.threshold),
                invocations: f.invocations,
                detail,
            });
        }
    }
    let names: Vec<String> = gates
        .iter()
        .filter_map(|g| match g {
            Gate::Alarm(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    if !names.is_empty() {
        for a in p.alarm_states(&names).await? {
            let verdict = match a.value {
                AlarmValue::Ok => "ok",
                AlarmValue::Alarm => "alarm",
                _ => "insufficient_data",
            };
            out.push(GateResult {
                gate: format!("alarm:{}", a.name),
                step,
                verdict: verdict.into(),
                observed: None,
                threshold: None,
                invocations: None,
                detail: a.reason,
            });
        }
    }
    Ok(out)
}

/// Before anything moves: the capability has what the gates need, each alarm exists (one
/// read of their states), and the provider can give each rule's figure for the new version
/// (one probe query, nothing changed).
pub(crate) async fn check_gates_possible(
    p: &dyn Provider,
    function: &str,
    version: &str,
    gates: &[Gate],
) -> Result<()> {
    let info = p.info();
    let rules: Vec<&AlertRule> = gates
        .iter()
        .filter_map(|g| if let Gate::Alert(r) = g { Some(r) } else { None })
        .collect();
    if gates.iter().any(|g| matches!(g, Gate::Alarm(_))) && !info.capability.alarms {
        return Err(Error::unsupported(
            "alarm gates",
            Some("gate on alert rules over the provider's metrics instead".into()),
        )
        .with_provider(info.name));
    }
    let alarms: Vec<String> = gates
        .iter()
        .filter_map(|g| if let Gate::Alarm(n) = g { Some(n.clone()) } else { None })
        .collect();
    if !alarms.is_empty() {
        // A misspelt alarm is bad input, not a failed gate mid-way.
        p.alarm_states(&alarms).await?;
    }
    if rules.is_empty() {
        return Ok(());
    }
    if !info.capability.metrics {
        return Err(
            Error::unsupported("alert-rule gates (the provider has no metrics)", None).with_provider(info.name),
        );
    }
    let probe = TimeWindow::last(Duration::from_secs(60));
    let m = p
        .metrics(&MetricsQuery::new(function, probe).qualifier(version))
        .await?;
    for r in rules {
        if let Some(why) = m.unavailable.get(r.figure.field()) {
            return Err(Error::invalid(
                "gate",
                r.to_string(),
                format!("{} cannot give {}: {why}", info.name, r.figure.name()),
            ));
        }
    }
    Ok(())
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPhase {
    /// Against the new version directly, before any traffic moves.
    PreTraffic,
    /// After all traffic has moved.
    PostTraffic,
}

/// What a hook said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookResult {
    /// The hook's name.
    pub name: String,
    /// When it ran.
    pub phase: HookPhase,
    /// Whether it passed.
    pub passed: bool,
    /// In words (a failed test case's expectations).
    pub detail: String,
}

/// What a hook is told.
#[derive(Debug, Clone, Copy)]
pub struct HookContext<'a> {
    /// The provider.
    pub provider: &'a dyn Provider,
    /// The function.
    pub function: &'a str,
    /// The new version.
    pub version: &'a str,
    /// The label being moved.
    pub label: &'a str,
    /// When it runs.
    pub phase: HookPhase,
}

/// A check of your own, run before traffic moves and after all of it has: `Ok(Err(why))`
/// fails the rollout (and rolls it back); an `Err` is a failure to run the check, which
/// rolls back too.
#[async_trait]
pub trait Hook: Send + Sync {
    /// The hook's name, in reports.
    fn name(&self) -> String;
    /// Runs it.
    async fn run(&self, ctx: HookContext<'_>) -> Result<std::result::Result<String, String>>;
}

/// Test cases (the pipeline's format) invoked on the new version directly.
#[derive(Debug, Clone)]
pub struct TestCaseHook(pub Vec<TestCase>);

#[async_trait]
impl Hook for TestCaseHook {
    fn name(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|c| c.name.as_str()).collect();
        format!("test cases {}", names.join(", "))
    }

    async fn run(&self, ctx: HookContext<'_>) -> Result<std::result::Result<String, String>> {
        let mut failures = Vec::new();
        for case in &self.0 {
            let r = run_case(ctx.provider, ctx.function, Some(ctx.version), case).await?;
            if !r.passed {
                failures.push(format!("{}: {}", r.name, r.failures.join("; ")));
            }
        }
        if failures.is_empty() {
            Ok(Ok(format!("{} passed", self.0.len())))
        } else {
            Ok(Err(failures.join(" | ")))
        }
    }
}

/// The future a [`FnHook`] returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<std::result::Result<String, String>>> + Send + 'a>>;

/// A closure as a hook: `FnHook::new("warm-up", |ctx| Box::pin(async move { … }))`.
#[derive(Clone)]
pub struct FnHook {
    name: String,
    f: Arc<dyn for<'a> Fn(HookContext<'a>) -> HookFuture<'a> + Send + Sync>,
}

impl FnHook {
    /// A hook named `name` that runs `f`.
    pub fn new(
        name: impl Into<String>,
        f: impl for<'a> Fn(HookContext<'a>) -> HookFuture<'a> + Send + Sync + 'static,
    ) -> FnHook {
        FnHook {
            name: name.into(),
            f: Arc::new(f),
        }
    }
}

impl fmt::Debug for FnHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnHook")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Hook for FnHook {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn run(&self, ctx: HookContext<'_>) -> Result<std::result::Result<String, String>> {
        (self.f)(ctx).await
    }
}
