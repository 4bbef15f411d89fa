//! Running a loaded pipeline: the providers steps name, and the loop over stages and steps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::Resolved;
use super::context::{Event, Observer, RunContext};
use super::figures::FigureSink;
use super::report::{PipelineReport, StepReport, StepStatus};
use super::steps::StepOutcome;
use crate::{Error, Provider, Result};

/// The providers steps can name, and the one they get when they name none.
#[derive(Debug, Clone)]
pub struct ProviderSet {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    default: String,
    figures: Option<Arc<dyn FigureSink>>,
}

impl ProviderSet {
    /// A set whose default is `name`.
    pub fn new(name: impl Into<String>, provider: Arc<dyn Provider>) -> ProviderSet {
        let name = name.into();
        ProviderSet {
            providers: BTreeMap::from([(name.clone(), provider)]),
            default: name,
            figures: None,
        }
    }

    /// Where the run publishes its own figures when the pipeline's
    /// `aws_lambda_integration.monitoring.cloudwatch` block is enabled (faas-aws's
    /// `CloudWatchFigures`, or a sink of your own).
    pub fn publish_figures_to(mut self, sink: Arc<dyn FigureSink>) -> ProviderSet {
        self.figures = Some(sink);
        self
    }

    /// Adds a provider steps can select with `provider: <name>`.
    pub fn with(mut self, name: impl Into<String>, provider: Arc<dyn Provider>) -> ProviderSet {
        self.providers.insert(name.into(), provider);
        self
    }

    /// Makes `name` the default.
    pub fn default_to(mut self, name: impl Into<String>) -> ProviderSet {
        self.default = name.into();
        self
    }

    /// The name a step's `provider:` resolves to (the default when it names none).
    pub(crate) fn name_of(&self, name: Option<&str>) -> String {
        name.unwrap_or(&self.default).to_string()
    }

    pub(crate) fn get(&self, name: Option<&str>) -> Result<Arc<dyn Provider>> {
        let name = name.unwrap_or(&self.default);
        self.providers.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                "provider",
                name,
                format!(
                    "no such provider in this run; available: {}",
                    self.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

/// Runs every stage; the first failure stops the run (later steps are reported as skipped).
pub(crate) async fn run(pipeline: &Resolved, providers: &ProviderSet, observer: &dyn Observer) -> PipelineReport {
    let started = Instant::now();
    let mut ctx = RunContext {
        base_dir: pipeline.base_dir.clone(),
        dry_run: pipeline.dry_run,
        step: String::new(),
        observer,
        redactor: &pipeline.redactor,
        packages: BTreeMap::new(),
        last_package: None,
        versions: BTreeMap::new(),
        deployed: Default::default(),
        provider: String::new(),
        uploads: BTreeMap::new(),
    };
    let mut reports = Vec::new();
    // Every step's provider is in the set before anything runs: a pipeline that would stop
    // half-way for want of one does not start.
    let unavailable = pipeline.stages.iter().flat_map(|s| &s.steps).find_map(|step| {
        providers
            .get(step.provider.as_deref().or(pipeline.provider.as_deref()))
            .err()
            .map(|e| (step.name.clone(), e))
    });
    let mut failed = unavailable.is_some();
    for stage in &pipeline.stages {
        let stage_span = tracing::info_span!("stage", stage = %stage.name);
        observer.event(&Event::StageStarted {
            stage: stage.name.clone(),
            steps: stage.steps.len(),
        });
        let mut stage_passed = true;
        for step in &stage.steps {
            let mut report = StepReport {
                stage: stage.name.clone(),
                step: step.name.clone(),
                kind: step.kind.clone(),
                status: StepStatus::Skipped,
                duration: Duration::ZERO,
                summary: "skipped: an earlier step failed".into(),
                tests: Vec::new(),
                plans: Vec::new(),
            };
            if let Some((name, e)) = &unavailable {
                if *name == step.name {
                    report.status = StepStatus::Failed;
                    report.summary = ctx.redact(&format!("{e}: nothing ran"));
                } else {
                    report.summary = format!("skipped: step {name} names a provider this run does not have");
                }
            } else if !failed {
                observer.event(&Event::StepStarted {
                    stage: stage.name.clone(),
                    step: step.name.clone(),
                    kind: step.kind.clone(),
                });
                ctx.step = step.name.clone();
                ctx.provider = providers.name_of(step.provider.as_deref().or(pipeline.provider.as_deref()));
                let t = Instant::now();
                let span = tracing::info_span!(parent: &stage_span, "step", step = %step.name, kind = %step.kind);
                let result = match providers.get(step.provider.as_deref().or(pipeline.provider.as_deref())) {
                    Ok(provider) => step.behaviour.run(&mut ctx, provider).instrument(span).await,
                    Err(e) => Err(e),
                };
                report.duration = t.elapsed();
                match result {
                    Ok(StepOutcome { summary, tests, plans }) => {
                        let tests_failed = tests.iter().any(|t| !t.passed);
                        report.status = if tests_failed {
                            StepStatus::Failed
                        } else {
                            StepStatus::Passed
                        };
                        report.summary = ctx.redact(&summary);
                        report.tests = tests;
                        report.plans = plans;
                    }
                    Err(e) => {
                        report.status = StepStatus::Failed;
                        // The whole cause chain (an SDK's or HTTP client's error is a `source`).
                        report.summary = ctx.redact(
                            &e.to_json()["message"]
                                .as_str()
                                .map_or_else(|| e.to_string(), str::to_string),
                        );
                    }
                }
                if report.status == StepStatus::Failed {
                    failed = true;
                    stage_passed = false;
                    tracing::error!(stage = %stage.name, step = %step.name, "step failed: {}", report.summary);
                }
            }
            observer.event(&Event::StepFinished { report: report.clone() });
            reports.push(report);
        }
        observer.event(&Event::StageFinished {
            stage: stage.name.clone(),
            passed: stage_passed && !failed,
        });
    }
    let mut report = PipelineReport {
        environment: pipeline.environment.clone(),
        dry_run: pipeline.dry_run,
        passed: !failed,
        steps: reports,
        duration: started.elapsed(),
        monitoring: None,
    };
    report.monitoring = publish(pipeline, providers, &report).await;
    report
}

/// Publishes the run's figures where the pipeline asks; what happened, for the report. A
/// failed publish does not fail the run (its deploys happened) but is said, never silent.
async fn publish(pipeline: &Resolved, providers: &ProviderSet, report: &PipelineReport) -> Option<String> {
    let namespace = pipeline.monitoring.as_ref()?;
    if pipeline.dry_run {
        return Some(format!("dry run: no figures published to {namespace}"));
    }
    let Some(sink) = &providers.figures else {
        tracing::warn!(%namespace, "monitoring.cloudwatch is enabled but the run has no figure sink");
        return Some(format!(
            "not published: monitoring.cloudwatch is enabled ({namespace}) but this run has no figure sink (ProviderSet::publish_figures_to)"
        ));
    };
    let figures = super::run_figures(report);
    Some(match sink.publish(namespace, &figures).await {
        Ok(()) => format!("published {} figures to {namespace}", figures.len()),
        Err(e) => {
            tracing::error!(%namespace, error = %e, "could not publish the run's figures");
            pipeline.redactor.redact(&format!("not published to {namespace}: {e}"))
        }
    })
}
