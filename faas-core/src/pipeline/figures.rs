//! A run's own figures — how long it and each step took, deploys, test pass rate, failures —
//! published where the pipeline's `monitoring.cloudwatch` block says, through a
//! [`FigureSink`] (faas-aws has one for CloudWatch `PutMetricData`).

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::report::{PipelineReport, StepStatus};
use crate::{Error, Result};

/// The unit of a figure (CloudWatch's `StandardUnit` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum FigureUnit {
    /// Milliseconds.
    Milliseconds,
    /// A count.
    Count,
    /// A percentage.
    Percent,
}

/// One figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFigure {
    /// `RunDuration`, `StepDuration`, `Deploys`, `TestPassRate`, ...
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: FigureUnit,
    /// `Environment`, `Stage`, `Step`, `StepType`, where they apply.
    pub dimensions: BTreeMap<String, String>,
}

/// Where a run's figures go. Implement it for your own monitoring; faas-aws's
/// `CloudWatchFigures` sends them to CloudWatch.
#[async_trait]
pub trait FigureSink: Send + Sync + Debug {
    /// Publishes `figures` under `namespace`.
    async fn publish(&self, namespace: &str, figures: &[RunFigure]) -> Result<()>;
}

/// The `monitoring.cloudwatch` block of `aws_lambda_integration`, checked: `None` when it
/// is absent or `enabled: false`; the namespace (default `faas/pipeline`) otherwise.
pub(crate) fn cloudwatch_namespace(aws: Option<&BTreeMap<String, Value>>) -> Result<Option<String>> {
    let Some(block) = aws.and_then(|s| s.get("monitoring")).and_then(|m| m.get("cloudwatch")) else {
        return Ok(None);
    };
    let field = "aws_lambda_integration.monitoring.cloudwatch";
    let enabled = match block.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(Error::invalid(format!("{field}.enabled"), other, "true or false")),
    };
    if !enabled {
        return Ok(None);
    }
    let namespace = match block.get("namespace") {
        None => "faas/pipeline".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(Error::invalid(format!("{field}.namespace"), other, "a string")),
    };
    if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with("AWS/") || namespace.starts_with(':') {
        return Err(Error::invalid(
            format!("{field}.namespace"),
            &namespace,
            "1–255 characters, not starting with AWS/ or ':' (CloudWatch keeps AWS/ for its own services)",
        ));
    }
    Ok(Some(namespace))
}

/// The figures of a finished run.
///
/// ```
/// # use faas_core::pipeline::{run_figures, PipelineReport};
/// # fn f(report: &PipelineReport) {
/// let figures = run_figures(report);
/// assert!(figures.iter().any(|f| f.name == "RunDuration"));
/// # }
/// ```
pub fn run_figures(report: &PipelineReport) -> Vec<RunFigure> {
    let env: BTreeMap<String, String> = report
        .environment
        .iter()
        .map(|e| ("Environment".to_string(), e.clone()))
        .collect();
    let figure = |name: &str, value: f64, unit: FigureUnit, extra: &[(&str, &str)]| {
        let mut dimensions = env.clone();
        dimensions.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        RunFigure {
            name: name.to_string(),
            value,
            unit,
            dimensions,
        }
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut out = vec![
        figure("RunDuration", ms(report.duration), FigureUnit::Milliseconds, &[]),
        figure("RunPassed", f64::from(u8::from(report.passed)), FigureUnit::Count, &[]),
    ];
    let ran: Vec<_> = report
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Skipped)
        .collect();
    let failed = ran.iter().filter(|s| s.status == StepStatus::Failed).count();
    out.push(figure("FailedSteps", failed as f64, FigureUnit::Count, &[]));
    let mut stages: BTreeMap<&str, std::time::Duration> = BTreeMap::new();
    for s in &ran {
        *stages.entry(s.stage.as_str()).or_default() += s.duration;
        out.push(figure(
            "StepDuration",
            ms(s.duration),
            FigureUnit::Milliseconds,
            &[("Stage", &s.stage), ("Step", &s.step), ("StepType", &s.kind)],
        ));
    }
    for (stage, d) in stages {
        out.push(figure(
            "StageDuration",
            ms(d),
            FigureUnit::Milliseconds,
            &[("Stage", stage)],
        ));
    }
    let deploys = ran
        .iter()
        .filter(|s| s.status == StepStatus::Passed && s.plans.iter().any(|p| !p.is_noop()))
        .count();
    out.push(figure("Deploys", deploys as f64, FigureUnit::Count, &[]));
    let (total, passed) = report.test_counts();
    out.push(figure("TestCases", total as f64, FigureUnit::Count, &[]));
    if total > 0 {
        out.push(figure(
            "TestPassRate",
            passed as f64 * 100.0 / total as f64,
            FigureUnit::Percent,
            &[],
        ));
    }
    out
}
