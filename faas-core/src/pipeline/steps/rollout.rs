//! The `rollout` step: moves a label to a version gradually, gated on health (see
//! [`crate::rollout`]); the rollout is a test case in the report and the JUnit output, and one
//! that rolled back fails the step. A dry run prints the schedule and moves nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::observe::{AlertRule, parse_span};
use crate::pipeline::context::{Event, RunContext};
use crate::rollout::{Gate, NotEnoughData, Rollout, RolloutEvent, RolloutPlan, RolloutStatus, TestCaseHook};
use crate::testcase::{TestCase, TestResult};
use crate::{Error, Provider, Result};

/// The step's `config` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutFile {
    function_name: String,
    #[serde(alias = "alias")]
    label: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default = "default_strategy")]
    strategy: String,
    /// Alert rules (`error_rate > 1% min 20`) and alarms (`alarm:HighErrors`).
    #[serde(default)]
    gates: Vec<String>,
    /// With too little traffic, keep a step running up to this much longer (`10m`).
    #[serde(default)]
    wait_for_traffic: Option<String>,
    #[serde(default = "default_poll")]
    poll: String,
    #[serde(default)]
    pre_traffic: Vec<TestCase>,
    #[serde(default)]
    post_traffic: Vec<TestCase>,
    /// Create the label (all at once) when it does not exist yet.
    #[serde(default)]
    create_label: bool,
}

fn default_strategy() -> String {
    "Canary10Percent5Minutes".into()
}

fn default_poll() -> String {
    "10s".into()
}

/// `rollout`: `function_name`, `label`, `version` (default: the version an earlier step
/// published), `strategy` (default `Canary10Percent5Minutes`), `gates`,
/// `wait_for_traffic`, `poll` (default `10s`), `pre_traffic` / `post_traffic` test cases,
/// `create_label`.
/// Checked when the pipeline loads, before anything runs.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    function_name: String,
    label: String,
    version: Option<String>,
    plan: RolloutPlan,
    gates: Vec<Gate>,
    not_enough_data: NotEnoughData,
    poll: Duration,
    pre_traffic: Vec<TestCase>,
    post_traffic: Vec<TestCase>,
    create_label: bool,
}

impl RolloutConfig {
    /// Reads and checks a step's config.
    pub(crate) fn from_config(config: &super::StepConfig) -> Result<RolloutConfig> {
        let file: RolloutFile = config.deserialize()?;
        let plan: RolloutPlan = file.strategy.parse().map_err(|e: Error| rename(e, "config.strategy"))?;
        let mut gates = Vec::new();
        for g in &file.gates {
            gates.push(match g.strip_prefix("alarm:") {
                Some(name) if !name.trim().is_empty() => Gate::Alarm(name.trim().to_string()),
                Some(_) => return Err(Error::invalid("config.gates", g, "name the alarm: alarm:NAME")),
                None => Gate::Alert(g.parse::<AlertRule>().map_err(|e| rename(e, "config.gates"))?),
            });
        }
        let poll = parse_span("config.poll", &file.poll)?;
        let not_enough_data = match &file.wait_for_traffic {
            Some(t) => NotEnoughData::WaitLonger {
                up_to: parse_span("config.wait_for_traffic", t)?,
                every: poll,
            },
            None => NotEnoughData::Fail,
        };
        Ok(RolloutConfig {
            function_name: file.function_name,
            label: file.label,
            version: file.version,
            plan,
            gates,
            not_enough_data,
            poll,
            pre_traffic: file.pre_traffic,
            post_traffic: file.post_traffic,
            create_label: file.create_label,
        })
    }
}

/// `+0s 10%, +300s 100%`: when each step starts and its share.
fn schedule_text(schedule: &[crate::rollout::Step]) -> String {
    let mut at = Duration::ZERO;
    let mut steps = Vec::new();
    for s in schedule {
        steps.push(format!("+{}s {}%", at.as_secs(), s.percent));
        at += s.wait;
    }
    steps.join(", ")
}

/// The error with the step's field name.
fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::InvalidInput { value, reason, .. } => Error::invalid(field, value, reason),
        other => other,
    }
}

#[async_trait]
impl Step for RolloutConfig {
    fn mutates(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        let version = self.version.clone().or_else(|| ctx.version_of(&self.function_name));
        if let (None, true) = (&version, ctx.dry_run()) {
            // The publish step before this one only said what it would do.
            return Ok(StepOutcome {
                summary: format!(
                    "would roll {}@{} out to the version published before ({}): {}",
                    self.function_name,
                    self.label,
                    self.plan,
                    schedule_text(&self.plan.schedule())
                ),
                ..StepOutcome::default()
            });
        }
        let version = version.ok_or_else(|| {
            Error::invalid(
                "config.version",
                &self.function_name,
                "no version to roll out: set `version` or publish in an earlier step",
            )
        })?;
        let started = std::time::Instant::now();
        let (observer, step) = (ctx.observer, ctx.step_name().to_string());
        let forward = move |event: &RolloutEvent| {
            observer.event(&Event::Rollout {
                step: step.clone(),
                event: event.clone(),
            })
        };
        let mut rollout = Rollout::new(
            provider.as_ref(),
            &self.function_name,
            &self.label,
            &version,
            self.plan.clone(),
        )
        .not_enough_data(self.not_enough_data)
        .poll_every(self.poll)
        .lease(self.poll * 6)
        .create_label(self.create_label)
        .dry_run(ctx.dry_run())
        .observer(&forward);
        for g in &self.gates {
            rollout = rollout.gate(g.clone());
        }
        if !self.pre_traffic.is_empty() {
            rollout = rollout.pre_traffic(TestCaseHook(self.pre_traffic.clone()));
        }
        if !self.post_traffic.is_empty() {
            rollout = rollout.post_traffic(TestCaseHook(self.post_traffic.clone()));
        }
        let report = rollout.run().await?;
        if report.dry_run {
            return Ok(StepOutcome {
                summary: format!(
                    "would roll {}@{} out to {version} ({}): {}",
                    self.function_name,
                    self.label,
                    self.plan,
                    schedule_text(&report.schedule)
                ),
                ..StepOutcome::default()
            });
        }
        let passed = report.status == RolloutStatus::Succeeded;
        let failures = report
            .failure
            .iter()
            .map(|f| ctx.redact(&format!("{}: {}", f.gate, f.reason)))
            .collect();
        let result = TestResult {
            name: format!("rollout {}@{} -> {version}", self.function_name, self.label),
            passed,
            status: None,
            duration: started.elapsed(),
            failures,
            response: ctx
                .redactor()
                .redact_json(&serde_json::to_value(&report).unwrap_or_default()),
            report: None,
        };
        Ok(StepOutcome {
            summary: ctx.redact(&report.summary()),
            tests: vec![result],
            ..StepOutcome::default()
        })
    }
}
