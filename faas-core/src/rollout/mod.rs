//! Gradual rollouts that roll themselves back: a [`RolloutPlan`] (canary, linear, all at
//! once — CodeDeploy's names or `canary:10%:30s`) moves a label's traffic to a new version
//! step by step, checking [`Gate`]s (alert rules on the new version's own metrics, cloud
//! alarms) at the end of each wait and [`Hook`]s before traffic moves and after all of it
//! has. A failed gate or hook puts the label back to exactly the routing it had.
//!
//! A rollout is durable and exclusive: its state and a lease live in a record next to the
//! provider's artifacts (see [`records`](crate::records)), so a second rollout of the same
//! label fails at once with [`Error::Conflict`] naming the holder, and one whose runner was
//! killed is found by the next: [`Rollout::resume`] continues from its step,
//! [`Rollout::abort`] restores the starting routing. [`Rollout::promote_now`],
//! [`Rollout::abort`] and [`Rollout::stop`] also steer a rollout running in another process.
//!
//! Waits use tokio's clock, so tests run a 30-minute canary in milliseconds with a paused
//! clock; records and metric windows use the wall clock.
//!
//! ```no_run
//! # async fn f(p: &dyn faas_core::Provider) -> faas_core::Result<()> {
//! use faas_core::rollout::{Gate, Rollout};
//! let report = Rollout::new(p, "hello", "live", "7", "Canary10Percent5Minutes".parse()?)
//!     .gate(Gate::Alert("error_rate > 1% min 20".parse()?))
//!     .run()
//!     .await?;
//! println!("{}", report.summary());
//! # Ok(()) }
//! ```

mod commands;
mod engine;
mod gates;
mod report;
mod state;
mod strategy;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

pub use gates::{
    FnHook, Gate, GateResult, Hook, HookContext, HookFuture, HookPhase, HookResult, NotEnoughData, TestCaseHook,
};
pub use report::{Failure, RolloutEvent, RolloutObserver, RolloutReport, RolloutStatus, StepReport};
pub use state::Command;
pub use strategy::{CODEDEPLOY_NAMES, RolloutPlan, Step};

use crate::{Error, Provider, Result};

/// The default lease: a runner renews it at every check, so it only runs out when the runner
/// is gone.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// The default time between checks during a wait (commands, lease renewal).
pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

/// A rollout of `version` on `function@label`, configured, then [`run`](Rollout::run) (or
/// resumed, aborted, promoted).
pub struct Rollout<'a> {
    pub(crate) provider: &'a dyn Provider,
    pub(crate) function: String,
    pub(crate) label: String,
    pub(crate) version: String,
    pub(crate) plan: RolloutPlan,
    pub(crate) gates: Vec<Gate>,
    pub(crate) pre_traffic: Vec<Arc<dyn Hook>>,
    pub(crate) post_traffic: Vec<Arc<dyn Hook>>,
    pub(crate) not_enough_data: NotEnoughData,
    pub(crate) lease: Duration,
    pub(crate) poll: Duration,
    pub(crate) wait_for_lease: Option<Duration>,
    pub(crate) create_label: bool,
    pub(crate) repair_split: bool,
    pub(crate) dry_run: bool,
    pub(crate) observer: Option<&'a dyn RolloutObserver>,
}

impl std::fmt::Debug for Rollout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollout")
            .field("function", &self.function)
            .field("label", &self.label)
            .field("version", &self.version)
            .field("plan", &self.plan)
            .field("gates", &self.gates)
            .finish_non_exhaustive()
    }
}

impl<'a> Rollout<'a> {
    /// A rollout of `version` on `function@label` following `plan`. No gates by default;
    /// too little traffic for a gate rolls back unless [`Rollout::not_enough_data`] says to
    /// wait longer.
    pub fn new(
        provider: &'a dyn Provider,
        function: impl Into<String>,
        label: impl Into<String>,
        version: impl Into<String>,
        plan: RolloutPlan,
    ) -> Rollout<'a> {
        Rollout {
            provider,
            function: function.into(),
            label: label.into(),
            version: version.into(),
            plan,
            gates: Vec::new(),
            pre_traffic: Vec::new(),
            post_traffic: Vec::new(),
            not_enough_data: NotEnoughData::Fail,
            lease: DEFAULT_LEASE,
            poll: DEFAULT_POLL,
            wait_for_lease: None,
            create_label: false,
            repair_split: false,
            dry_run: false,
            observer: None,
        }
    }

    /// The rollout of `function@label` already recorded — to [`resume`](Rollout::resume),
    /// [`abort`](Rollout::abort), [`promote_now`](Rollout::promote_now) or
    /// [`stop`](Rollout::stop) it: its version, plan and gates come from the record.
    pub fn existing(provider: &'a dyn Provider, function: impl Into<String>, label: impl Into<String>) -> Rollout<'a> {
        Rollout::new(provider, function, label, String::new(), RolloutPlan::AllAtOnce)
    }

    /// Adds a gate.
    pub fn gate(mut self, gate: Gate) -> Self {
        self.gates.push(gate);
        self
    }

    /// Adds a hook run on the new version before any traffic moves.
    pub fn pre_traffic(mut self, hook: impl Hook + 'static) -> Self {
        self.pre_traffic.push(Arc::new(hook));
        self
    }

    /// Adds a hook run after all traffic has moved.
    pub fn post_traffic(mut self, hook: impl Hook + 'static) -> Self {
        self.post_traffic.push(Arc::new(hook));
        self
    }

    /// What to do when a gate sees too little traffic (default: roll back).
    pub fn not_enough_data(mut self, policy: NotEnoughData) -> Self {
        self.not_enough_data = policy;
        self
    }

    /// How long the lease lasts without renewal (default [`DEFAULT_LEASE`]); it must be
    /// longer than the poll interval.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often a wait looks for commands and renews the lease (default [`DEFAULT_POLL`]).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// When another rollout holds the label, wait up to `wait` for it to end instead of
    /// failing at once with [`Error::Conflict`].
    pub fn wait_for_lease(mut self, wait: Duration) -> Self {
        self.wait_for_lease = Some(wait);
        self
    }

    /// Create the label (pointing at the new version, all at once) when it does not exist;
    /// otherwise a missing label is [`Error::NotFound`].
    pub fn create_label(mut self, yes: bool) -> Self {
        self.create_label = yes;
        self
    }

    /// A label already split by something else is an error before anything moves; with this,
    /// the split is dropped first (all traffic back on its primary) and the rollout starts
    /// from there.
    pub fn repair_split(mut self, yes: bool) -> Self {
        self.repair_split = yes;
        self
    }

    /// Only check everything and report the schedule: no mutating call.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Where progress goes.
    pub fn observer(mut self, observer: &'a dyn RolloutObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs the rollout to its end: [`RolloutStatus::Succeeded`], or
    /// [`RolloutStatus::RolledBack`] with the [`Failure`] in the report. Errors (bad input,
    /// another rollout holding the label, a failed call) come back before anything moves or,
    /// mid-way, after the label was put back where it started where that was possible.
    pub async fn run(self) -> Result<RolloutReport> {
        engine::run(self).await
    }

    /// Continues the rollout of this label that a dead runner left mid-way, from its step and
    /// with its recorded gates (plus any given here). [`Error::Conflict`] while a live runner
    /// holds it; [`Error::NotFound`] when there is none to resume.
    pub async fn resume(self) -> Result<RolloutReport> {
        commands::resume(self).await
    }

    /// Stops the label's rollout and restores its starting routing: a live runner is told to
    /// (and does it at its next check), a dead one's is restored here.
    pub async fn abort(self) -> Result<RolloutReport> {
        commands::command(self, Command::Abort).await
    }

    /// Skips the remaining waits of the label's rollout: all traffic to the new version
    /// now, post-traffic hooks still run.
    pub async fn promote_now(self) -> Result<RolloutReport> {
        commands::command(self, Command::PromoteNow).await
    }

    /// Stops the label's rollout and leaves the traffic split as it is (the record says so;
    /// `abort` later still restores the starting routing).
    pub async fn stop(self) -> Result<RolloutReport> {
        commands::command(self, Command::Stop).await
    }

    pub(crate) fn emit(&self, event: RolloutEvent) {
        tracing::info!(function = %self.function, label = %self.label, ?event, "rollout");
        if let Some(o) = self.observer {
            o.event(&event);
        }
    }

    /// How this rollout moves traffic on its provider.
    pub(crate) fn traffic(&self) -> Result<traffic::Traffic<'_>> {
        let info = self.provider.info();
        Ok(traffic::Traffic {
            mode: traffic::mode(&info, &self.label, self.plan != RolloutPlan::AllAtOnce)?,
            provider: self.provider,
            function: &self.function,
            label: &self.label,
            new: &self.version,
        })
    }

    /// The checks that need no call.
    pub(crate) fn check_input(&self) -> Result<()> {
        let info = self.provider.info();
        let named = |e: Error| e.with_provider(info.name);
        crate::names::check_function(&self.function).map_err(named)?;
        crate::names::check_label(&self.label).map_err(named)?;
        crate::names::check_version(&self.version).map_err(named)?;
        self.plan.check(info.capability.whole_percent).map_err(named)?;
        self.traffic()?;
        if self.poll.is_zero() || self.lease <= self.poll {
            return Err(Error::invalid(
                "lease",
                format!("{:?} (poll every {:?})", self.lease, self.poll),
                "the lease must outlast the time between checks, which is longer than zero",
            ));
        }
        if let NotEnoughData::WaitLonger { every, .. } = self.not_enough_data
            && every.is_zero()
        {
            return Err(Error::invalid(
                "not_enough_data.every",
                "0s",
                "look again after a while, e.g. 30s",
            ));
        }
        Ok(())
    }
}
