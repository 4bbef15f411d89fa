//! The `monitor` step: reads a function's metrics over a recent window and fails the run when
//! an alert rule fires; each rule is a test case in the report and the JUnit output.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::step::{Step, StepOutcome};
use crate::observe::{AlertRule, MetricsQuery, TimeWindow, Verdict, parse_span};
use crate::pipeline::context::RunContext;
use crate::testcase::TestResult;
use crate::{Error, Provider, Result};

/// The step's `config` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorFile {
    function_name: String,
    #[serde(default)]
    qualifier: Option<String>,
    /// How far back to look (`10m`).
    #[serde(default = "ten_minutes")]
    since: String,
    /// Alert rules (`error_rate > 1%`, `p99_ms > 800 min 20`).
    rules: Vec<String>,
}

fn ten_minutes() -> String {
    "10m".into()
}

/// `monitor`: `function_name`, optional `qualifier`, `since` (default `10m`) and `rules`.
/// The rules and the span are checked when the pipeline loads, before anything runs.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    function_name: String,
    qualifier: Option<String>,
    since: Duration,
    rules: Vec<AlertRule>,
}

impl MonitorConfig {
    /// Reads and checks a step's config.
    pub(crate) fn from_config(config: &super::StepConfig) -> Result<MonitorConfig> {
        let file: MonitorFile = config.deserialize()?;
        if file.rules.is_empty() {
            return Err(Error::invalid(
                "config.rules",
                "[]",
                "a monitor step needs at least one rule",
            ));
        }
        let rules = file
            .rules
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<AlertRule>>>()?;
        Ok(MonitorConfig {
            since: parse_span("config.since", &file.since)?,
            function_name: file.function_name,
            qualifier: file.qualifier,
            rules,
        })
    }
}

#[async_trait]
impl Step for MonitorConfig {
    fn mutates(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &mut RunContext<'_>, provider: Arc<dyn Provider>) -> Result<StepOutcome> {
        let started = std::time::Instant::now();
        let mut tests = Vec::new();
        for rule in &self.rules {
            let mut query = MetricsQuery::new(&self.function_name, TimeWindow::last(rule.window.unwrap_or(self.since)));
            query.qualifier = self.qualifier.clone();
            let metrics = provider.metrics(&query).await?;
            let finding = rule.evaluate(&metrics);
            let fired = finding.verdict == Verdict::Fired;
            let failures = if fired {
                vec![format!(
                    "{}: the value is {} over {} invocations",
                    finding.rule,
                    finding.value.map_or("-".into(), |v| format!("{v:.2}")),
                    finding.invocations.map_or("?".into(), |n| n.to_string())
                )]
            } else {
                Vec::new()
            };
            tests.push(TestResult {
                name: finding.rule.clone(),
                passed: !fired,
                status: None,
                duration: started.elapsed(),
                failures,
                response: ctx
                    .redactor()
                    .redact_json(&serde_json::to_value(&finding).unwrap_or_default()),
                report: None,
            });
        }
        let fired = tests.iter().filter(|t| !t.passed).count();
        Ok(StepOutcome {
            summary: format!("{} rules on {}: {fired} fired", tests.len(), self.function_name),
            tests,
            ..StepOutcome::default()
        })
    }
}
