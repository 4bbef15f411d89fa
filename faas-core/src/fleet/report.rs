//! What a fleet delivery did: per target, per function, and what the observer hears meanwhile.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rate::ApiRate;
use crate::DeployReport;

/// How one function's delivery to one target ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Created or changed: what changed, the version published and the label moved.
    Delivered {
        /// Created, code replaced, configuration updated (as the deploy reported it).
        change: String,
        /// The deployed code's sha256.
        code_sha256: String,
        /// The version published, if one was.
        version: Option<String>,
        /// The label moved, if one was.
        label: Option<String>,
    },
    /// Already as asked (code, configuration and label): nothing written.
    Unchanged {
        /// The deployed code's sha256.
        code_sha256: String,
    },
    /// A dry run: what would change.
    Planned {
        /// The plan's change.
        change: String,
    },
    /// Failed; the others went on (unless `fail_fast`).
    Failed {
        /// The error's kind ([`Error::kind`](crate::Error::kind)).
        kind: String,
        /// The whole message, causes included.
        reason: String,
        /// Whether running again may succeed.
        retryable: bool,
    },
    /// Not tried: `fail_fast` stopped the delivery first.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    pub(super) fn failed(e: &crate::Error) -> Outcome {
        let json = e.to_json();
        Outcome::Failed {
            kind: e.kind().to_string(),
            reason: json["message"].as_str().unwrap_or_default().to_string(),
            retryable: e.is_retryable(),
        }
    }

    pub(super) fn delivered(report: &DeployReport) -> Outcome {
        if report.dry_run {
            return Outcome::Planned {
                change: report.plan.change().to_string(),
            };
        }
        Outcome::Delivered {
            change: report.change.to_string(),
            code_sha256: report.code_sha256.clone(),
            version: report.version.as_ref().map(|v| v.id.clone()),
            label: report.label.as_ref().map(|l| l.name.clone()),
        }
    }

    /// `delivered`, `unchanged`, `planned`, `failed` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Planned { .. } => "planned",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    /// Whether the function is where it was asked to be (delivered or already unchanged).
    pub fn converged(&self) -> bool {
        matches!(self, Outcome::Delivered { .. } | Outcome::Unchanged { .. })
    }
}

/// One function on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionResult {
    /// The function.
    pub function: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long its delivery took, in seconds.
    pub seconds: f64,
}

/// Counts of outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Created or changed.
    pub delivered: usize,
    /// Already as asked.
    pub unchanged: usize,
    /// Dry-run plans.
    pub planned: usize,
    /// Failed.
    pub failed: usize,
    /// Not tried (fail fast).
    pub skipped: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Delivered { .. } => self.delivered += 1,
            Outcome::Unchanged { .. } => self.unchanged += 1,
            Outcome::Planned { .. } => self.planned += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    /// All of them.
    pub fn total(&self) -> usize {
        self.delivered + self.unchanged + self.planned + self.failed + self.skipped
    }
}

/// One target's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The target's name.
    pub target: String,
    /// Its provider (`aws`, `gcp`, `azure`, `local`).
    pub provider: String,
    /// The counts.
    pub tally: Tally,
    /// Each function, in the order of the jobs.
    pub functions: Vec<FunctionResult>,
    /// Each API's rate as the limiter left it, with its calls and throttles.
    pub rates: Vec<ApiRate>,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl TargetReport {
    pub(super) fn new(
        target: String,
        provider: String,
        functions: Vec<FunctionResult>,
        rates: Vec<ApiRate>,
        took: Duration,
    ) -> Self {
        let mut tally = Tally::default();
        for f in &functions {
            tally.add(&f.outcome);
        }
        TargetReport {
            target,
            provider,
            tally,
            functions,
            rates,
            seconds: took.as_secs_f64(),
        }
    }

    /// Throttled calls the target answered.
    pub fn throttles(&self) -> u64 {
        self.rates.iter().map(|r| r.throttles).sum()
    }
}

/// A fleet delivery's results: functions × targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    /// Per target, in the order given.
    pub targets: Vec<TargetReport>,
    /// The counts over every target.
    pub tally: Tally,
    /// Wall time, in seconds.
    pub seconds: f64,
}

impl FleetReport {
    pub(super) fn new(targets: Vec<TargetReport>, took: Duration) -> Self {
        let mut tally = Tally::default();
        for t in &targets {
            for f in &t.functions {
                tally.add(&f.outcome);
            }
        }
        FleetReport {
            targets,
            tally,
            seconds: took.as_secs_f64(),
        }
    }

    /// Whether every function reached every target (nothing failed or skipped).
    pub fn converged(&self) -> bool {
        self.tally.failed == 0 && self.tally.skipped == 0
    }

    /// Every failure, as (target, function, reason).
    pub fn failures(&self) -> Vec<(&str, &str, &str)> {
        self.targets
            .iter()
            .flat_map(|t| {
                t.functions.iter().filter_map(|f| match &f.outcome {
                    Outcome::Failed { reason, .. } => Some((t.target.as_str(), f.function.as_str(), reason.as_str())),
                    _ => None,
                })
            })
            .collect()
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<20} {:<6} {:>9} {:>9} {:>6} {:>7} {:>9} {:>8}",
            "target", "cloud", "delivered", "unchanged", "failed", "skipped", "throttles", "seconds"
        )?;
        for t in &self.targets {
            writeln!(
                f,
                "{:<20} {:<6} {:>9} {:>9} {:>6} {:>7} {:>9} {:>8.1}",
                t.target,
                t.provider,
                t.tally.delivered,
                t.tally.unchanged + t.tally.planned,
                t.tally.failed,
                t.tally.skipped,
                t.throttles(),
                t.seconds
            )?;
        }
        for (target, function, reason) in self.failures() {
            writeln!(f, "failed: {function} on {target}: {reason}")?;
        }
        write!(
            f,
            "{} of {} delivered or unchanged in {:.1} s",
            self.tally.delivered + self.tally.unchanged,
            self.tally.total(),
            self.seconds
        )
    }
}

/// What happens during a fleet delivery, as it happens.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FleetEvent<'a> {
    /// A target's delivery starts, with this many functions.
    TargetStarted {
        /// The target.
        target: &'a str,
        /// Its function count.
        functions: usize,
    },
    /// A function's delivery to a target starts.
    Started {
        /// The target.
        target: &'a str,
        /// The function.
        function: &'a str,
    },
    /// A function's delivery to a target ended.
    Finished {
        /// The target.
        target: &'a str,
        /// The function.
        function: &'a str,
        /// How.
        outcome: &'a Outcome,
    },
    /// A target is done.
    TargetFinished {
        /// Its report.
        report: &'a TargetReport,
    },
}

/// Receives [`FleetEvent`]s (from several tasks at once).
pub trait FleetObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &FleetEvent<'_>);
}

impl<F: Fn(&FleetEvent<'_>) + Send + Sync> FleetObserver for F {
    fn event(&self, event: &FleetEvent<'_>) {
        self(event)
    }
}
