//! Runs a YAML delivery pipeline with progress bars and a summary table.
//!
//! ```text
//! cargo run -p examples --example pipeline -- examples/pipelines/lambda.yaml --env dev \
//!     [--dry-run] [--report-dir DIR] [--provider local|aws] [--state-dir .faas]
//! ```
//! Exits 0 when every step passed, 1 when a step or test case failed, 2 when the file is wrong.
//! `--provider aws` (build with `--features aws`) reads `aws_lambda_integration`: region,
//! `auth` (`access_key` or `iam_role` with `external_id`), `deployment.bucket`/`prefix`;
//! without that block, the environment's settings (as the deploy example). `AWS_ENDPOINT_URL`
//! points it at an emulator such as moto.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use examples::Which;
use faas_core::Provider;
use faas_core::local::LocalProvider;
use faas_core::pipeline::{
    Event, FigureSink, Pipeline, PipelineReport, ProviderSet, Resolved, StepStatus, write_reports,
};
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

#[cfg(feature = "aws")]
/// The AWS provider from the pipeline's `aws_lambda_integration` block, and the CloudWatch
/// sink for the run's own figures (`monitoring.cloudwatch`).
async fn aws(resolved: &Resolved) -> anyhow::Result<(Arc<dyn Provider>, Arc<dyn FigureSink>)> {
    use faas_aws::{AssumeRole, AwsBuilder, StaticKeys};
    let Some(block) = resolved.integrations.get("aws_lambda_integration") else {
        // No block (the file names no account): the environment's, as the deploy example
        // takes it — region, profile or keys, AWS_ENDPOINT_URL, FAAS_AWS_BUCKET.
        let aws = AwsBuilder::from_env().build().await?;
        let sink = Arc::new(aws.figure_sink());
        return Ok((Arc::new(aws), sink));
    };
    // A setting that is there but not a string (`secret_access_key: 12345`) is an error naming
    // the key — never its value, which may be a secret — not an empty string.
    let mut wrong_type = None;
    let mut s = |path: &[&str]| -> Option<String> {
        let mut v = block.settings.get(path[0])?;
        for p in &path[1..] {
            v = v.get(*p)?;
        }
        let text = v.as_str().map(str::to_string);
        if text.is_none() && !v.is_null() {
            wrong_type.get_or_insert_with(|| format!("aws_lambda_integration.{}", path.join(".")));
        }
        text
    };
    let mut b = AwsBuilder::from_env();
    if let Some(r) = s(&["region"]) {
        b = b.region(r);
    }
    if let Some(bucket) = s(&["deployment", "bucket"]) {
        b = b.bucket(bucket);
    }
    if let Some(prefix) = s(&["deployment", "prefix"]) {
        b = b.prefix(prefix);
    }
    match s(&["auth", "type"]).as_deref() {
        Some("access_key") => {
            let required = |v: Option<String>, key: &str| {
                v.filter(|v| !v.is_empty()).ok_or_else(|| {
                    anyhow::anyhow!("aws_lambda_integration.auth.{key} is missing: access_key auth needs it")
                })
            };
            let access_key_id = s(&["auth", "access_key_id"]);
            let secret_access_key = s(&["auth", "secret_access_key"]);
            let session_token = s(&["auth", "session_token"]);
            if let Some(key) = wrong_type.take() {
                anyhow::bail!("{key} must be a string: quote the value in the pipeline file");
            }
            b = b.static_keys(StaticKeys {
                access_key_id: required(access_key_id, "access_key_id")?,
                secret_access_key: required(secret_access_key, "secret_access_key")?,
                session_token,
            })
        }
        Some("iam_role") => {
            b = b.assume_role(AssumeRole {
                role_arn: s(&["auth", "role_arn"]).ok_or_else(|| anyhow::anyhow!("auth.role_arn is missing"))?,
                external_id: s(&["auth", "external_id"]),
                session_name: s(&["auth", "session_name"]),
                duration: None,
            })
        }
        Some(other) => anyhow::bail!("aws_lambda_integration.auth.type {other:?}: expected access_key or iam_role"),
        None => {}
    }
    if let Some(key) = wrong_type {
        anyhow::bail!("{key} must be a string: quote the value in the pipeline file");
    }
    let aws = b.build().await?;
    let sink = Arc::new(aws.figure_sink());
    Ok((Arc::new(aws), sink))
}

#[cfg(not(feature = "aws"))]
async fn aws(_: &Resolved) -> anyhow::Result<(Arc<dyn Provider>, Arc<dyn FigureSink>)> {
    anyhow::bail!("this build has no AWS support: run with `--features aws`")
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
    let mut providers = ProviderSet::new("local", local);
    match args.provider {
        Which::Local => {}
        Which::Aws => {
            let (aws, figures) = aws(&resolved).await?;
            providers = providers.with("aws", aws).default_to("aws").publish_figures_to(figures);
        }
        Which::Gcp | Which::Azure => anyhow::bail!(
            "the pipeline example runs on the local and AWS providers; deploy to GCP or Azure with the deploy example"
        ),
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
