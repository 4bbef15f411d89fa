//! Runs a YAML delivery pipeline with progress bars and a summary table.
//!
//! ```text
//! cargo run -p examples --example pipeline -- examples/pipelines/lambda.yaml --env dev \
//!     [--dry-run] [--report-dir DIR] [--provider local|aws|gcp|azure] [--state-dir .faas]
//! ```
//! Exits 0 when every step passed, 1 when a step or test case failed, 2 when the file is wrong.
//! `--provider` picks the provider of steps that name none; a step's `provider: aws|gcp|azure`
//! picks its own. Each cloud a step acts on is built (with `--features aws|gcp|azure`) from its
//! block — `aws_lambda_integration`, `gcp_functions_integration`, `azure_functions_integration`,
//! keys in the README — or, when the file has no block for it, from the environment as the
//! deploy example does. `AWS_ENDPOINT_URL`, `FAAS_GCP_*_URL` and `FAAS_AZURE_*` point them at
//! emulators and fakes.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use examples::Which;
use faas_core::Provider;
use faas_core::local::LocalProvider;
use faas_core::pipeline::{Event, Pipeline, PipelineReport, ProviderSet, StepStatus, write_reports};
use faas_core::rollout::RolloutEvent;
use indicatif::{ProgressBar, ProgressStyle};

/// Run a delivery pipeline.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The pipeline file.
    file: PathBuf,
    /// The environment (`environments.<name>` in the file).
    #[arg(long)]
    env: Option<String>,
    /// Plan deploys and label moves; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write report.json and junit.xml here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// The default provider for steps that name none.
    #[arg(long, value_enum, default_value = "local")]
    provider: Which,
    /// The local provider's state directory.
    #[arg(long, default_value = ".faas")]
    state_dir: PathBuf,
}

fn progress(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Above the bar on a terminal; plain lines when output is redirected (CI logs).
fn line(bar: &ProgressBar, text: String) {
    if bar.is_hidden() {
        examples::say(&text);
    } else {
        bar.println(text);
    }
}

fn observe(bar: &ProgressBar, e: &Event) {
    match e {
        Event::StageStarted { stage, .. } => line(bar, format!("== {stage}")),
        Event::StepStarted { step, kind, .. } => bar.set_message(format!("{step} ({kind})")),
        Event::Log { line: text, .. } => line(bar, format!("   | {text}")),
        Event::Upload { bytes, .. } => bar.set_message(format!("uploading {bytes} bytes")),
        Event::TestCase { result, .. } => {
            let mark = if result.passed { "ok  " } else { "FAIL" };
            line(
                bar,
                format!(
                    "   {mark} {} ({:.0} ms)",
                    result.name,
                    result.duration.as_secs_f64() * 1000.0
                ),
            );
            for f in &result.failures {
                line(bar, format!("        {f}"));
            }
        }
        Event::Rollout { step, event } => match event {
            RolloutEvent::StepStarted { percent, routing, .. } => line(
                bar,
                format!("   {step}: {percent}% to the new version, routing {routing}"),
            ),
            RolloutEvent::RolledBack(f) => line(bar, format!("   {step}: rolled back by {}: {}", f.gate, f.reason)),
            _ => {}
        },
        Event::StepFinished { report } if report.status != StepStatus::Skipped => bar.inc(1),
        _ => {}
    }
}

fn summary(report: &PipelineReport) {
    let w = report.steps.iter().map(|s| s.step.len()).max().unwrap_or(4).max(4);
    examples::say(&format!(
        "\n{:<10} {:<w$} {:<14} {:<7} {:>8}  summary",
        "stage", "step", "type", "status", "time"
    ));
    for s in &report.steps {
        let status = match s.status {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
            _ => "other",
        };
        examples::say(&format!(
            "{:<10} {:<w$} {:<14} {:<7} {:>7.2}s  {}",
            s.stage,
            s.step,
            s.kind,
            status,
            s.duration.as_secs_f64(),
            s.summary
        ));
    }
    let (tests, passed) = report.test_counts();
    let rate = if tests == 0 {
        100.0
    } else {
        passed as f64 * 100.0 / tests as f64
    };
    examples::say(&format!(
        "\n{} in {:.1}s{}; tests {passed}/{tests} passed ({rate:.0}%)",
        if report.passed {
            "pipeline passed"
        } else {
            "pipeline FAILED"
        },
        report.duration.as_secs_f64(),
        if report.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    ));
    if let Some(m) = &report.monitoring {
        examples::say(&format!("monitoring: {m}"));
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init_tracing();
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<bool> {
    let pipeline = Pipeline::load(&args.file)?.dry_run(args.dry_run);
    let resolved = pipeline.resolve(args.env.as_deref())?;
    let local: Arc<dyn Provider> = Arc::new(LocalProvider::builder().state_dir(&args.state_dir).build()?);
    let default = match args.provider {
        Which::Local => "local",
        Which::Aws => "aws",
        Which::Gcp => "gcp",
        Which::Azure => "azure",
    };
    let mut providers = ProviderSet::new("local", local).default_to(default);
    // Every cloud a step acts on, from its block (or the environment when the file has none).
    for name in resolved.providers_used(default) {
        if name == "local" {
            continue;
        }
        let built = examples::blocks::build(&name, resolved.provider_configs.get(&name))
            .await
            .map_err(|e| e.context(format!("building the {name} provider")))?;
        providers = providers.with(&name, built.provider);
        if let Some(figures) = built.figures {
            providers = providers.publish_figures_to(figures);
        }
    }
    let bar = progress(resolved.step_count());
    let report = resolved.run(&providers, &|e: &Event| observe(&bar, e)).await;
    bar.finish_and_clear();
    summary(&report);
    if let Some(dir) = &args.report_dir {
        let (json, junit) = write_reports(&report, dir)?;
        examples::say(&format!("reports: {} {}", json.display(), junit.display()));
    }
    Ok(report.passed)
}
