//! What a rollout tells: [`RolloutEvent`]s as it goes, and the [`RolloutReport`] at the end.

use serde::{Deserialize, Serialize};

use super::gates::{GateResult, HookResult};
use super::strategy::{RolloutPlan, Step};
use crate::Routing;

/// How a rollout ended (or stands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RolloutStatus {
    /// Still moving traffic (a runner holds the lease, or one died holding it).
    Running,
    /// All traffic is on the new version and every gate and hook passed.
    Succeeded,
    /// A gate, a hook or an abort put the label back to its starting routing.
    RolledBack,
    /// Stopped on request with the traffic left split where it was.
    Stopped,
}

impl RolloutStatus {
    /// Whether the rollout is over.
    pub fn is_final(self) -> bool {
        self != RolloutStatus::Running
    }

    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Running => "running",
            RolloutStatus::Succeeded => "succeeded",
            RolloutStatus::RolledBack => "rolled back",
            RolloutStatus::Stopped => "stopped",
        }
    }
}

/// Why a rollout rolled back: the gate or hook, what it saw and what it allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The gate (`error_rate > 5% min 10`, `alarm:HighErrors`) or hook (`pre_traffic:smoke`),
    /// or `abort` when asked.
    pub gate: String,
    /// What it saw, in words.
    pub reason: String,
    /// The observed figure, when it was a number.
    pub observed: Option<f64>,
    /// The threshold it was held to, when it is a number.
    pub threshold: Option<f64>,
    /// The step (0-based) it happened at; `None` before any traffic moved.
    pub step: Option<usize>,
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step (0-based).
    pub index: usize,
    /// The new version's share, percent.
    pub percent: f64,
    /// When its traffic was set (Unix ms).
    pub started_ms: u64,
    /// When it ended (Unix ms).
    pub ended_ms: Option<u64>,
    /// The gates checked at its end (and before it).
    pub gates: Vec<GateResult>,
}

/// What a rollout did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RolloutReport {
    /// The rollout's id.
    pub id: String,
    /// The function.
    pub function: String,
    /// The label whose traffic moved.
    pub label: String,
    /// The version it moved to.
    pub version: String,
    /// The plan.
    pub plan: RolloutPlan,
    /// How it ended.
    pub status: RolloutStatus,
    /// The label's routing before the rollout (`None`: the rollout created the label).
    pub starting_routing: Option<Routing>,
    /// The label's routing now.
    pub final_routing: Option<Routing>,
    /// The steps that ran.
    pub steps: Vec<StepReport>,
    /// The hooks that ran.
    pub hooks: Vec<HookResult>,
    /// Why it rolled back, if it did.
    pub failure: Option<Failure>,
    /// A dry run: the schedule only, nothing moved.
    pub dry_run: bool,
    /// The schedule (each step's share and wait).
    pub schedule: Vec<Step>,
}

impl RolloutReport {
    /// A one-line summary: `hello@live -> 7: succeeded (2 steps, Canary10Percent5Minutes)`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}@{} -> {}: {} ({} step{}, {})",
            self.function,
            self.label,
            self.version,
            self.status.as_str(),
            self.steps.len(),
            if self.steps.len() == 1 { "" } else { "s" },
            self.plan
        );
        if let Some(f) = &self.failure {
            s.push_str(&format!(" — {}: {}", f.gate, f.reason));
        }
        s
    }
}

/// What a rollout tells its observer as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum RolloutEvent {
    /// The rollout holds the lease and is about to start (or resume at `step`).
    Started {
        /// Its id.
        id: String,
        /// The schedule.
        schedule: Vec<Step>,
        /// The step it starts at.
        step: usize,
    },
    /// A hook ran.
    Hook(HookResult),
    /// A step set the traffic.
    StepStarted {
        /// The step (0-based).
        index: usize,
        /// The new version's share.
        percent: f64,
        /// The label's routing now.
        routing: Routing,
        /// When its wait ends (Unix ms).
        until_ms: u64,
    },
    /// A gate was checked.
    Gate(GateResult),
    /// Too little traffic: the wait was extended.
    Extended {
        /// The step.
        index: usize,
        /// The new end of its wait (Unix ms).
        until_ms: u64,
    },
    /// The label is back to its starting routing.
    RolledBack(Failure),
    /// The rollout ended.
    Finished {
        /// How.
        status: RolloutStatus,
    },
}

/// Receives [`RolloutEvent`]s; any `Fn(&RolloutEvent) + Send + Sync` is one.
pub trait RolloutObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &RolloutEvent);
}

impl<F: Fn(&RolloutEvent) + Send + Sync> RolloutObserver for F {
    fn event(&self, event: &RolloutEvent) {
        self(event)
    }
}
