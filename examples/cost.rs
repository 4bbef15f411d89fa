//! What a function costs and how to cut it, from what it did: the estimate (per invocation,
//! per million, per month, by component) at the measured usage, and advice on its timeout,
//! memory, cold starts and unrouted versions — on any provider (the local one by default).
//!
//! ```text
//! cargo run -p examples --example cost -- --function hello [--since 7d] [--monthly N] \
//!     [--pricing my-prices.json] [--region us-east-1] [--timeout-headroom 1.5] \
//!     [--memory-headroom 1.25] [--json] [--provider local|aws|gcp|azure]
//! ```
//!
//! `--region` is the pricing region (and, on GCP, the function's region too); without it:
//! `AWS_REGION` on AWS, `GOOGLE_CLOUD_REGION` on GCP, else the pricing file's usual region
//! (`us-east-1`, `us-central1`, `eastus`). The local provider is priced as Lambda.
//!
//! Exit codes: 0, 3 when the advice warns (a timeout at or below the longest invocation, an
//! invocation that used all its memory), 1 on an error (with `--json`, one JSON object on
//! stderr).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use examples::{Target, Which};
use faas_core::Error;
use faas_core::cost::advice::{Advice, AdviceInput, AdviceOptions, advise};
use faas_core::cost::{Cloud, EstimateOptions, Pricing};
use faas_core::observe::{MetricsQuery, TimeWindow, parse_span};

/// Estimate a function's cost from its metrics and advise on cutting it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// The window up to now: 90s, 10m, 2h, 7d.
    #[arg(long, default_value = "7d")]
    since: String,
    /// Invocations a month (default: the window's, extrapolated to a 730-hour month).
    #[arg(long)]
    monthly: Option<u64>,
    /// A pricing file of your own (negotiated prices, other regions).
    #[arg(long)]
    pricing: Option<PathBuf>,
    /// The recommended timeout is the longest invocation times this.
    #[arg(long, default_value_t = 1.5)]
    timeout_headroom: f64,
    /// The recommended memory is the most used times this.
    #[arg(long, default_value_t = 1.25)]
    memory_headroom: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

fn main() -> ExitCode {
    examples::main_with(|a: &Args| a.json, run)
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Everything the user typed is checked before the first call.
    let window = TimeWindow::last(parse_span("since", &args.since)?);
    let provider_name = match args.target.provider {
        Which::Local => "local",
        Which::Aws => "aws",
        Which::Gcp => "gcp",
        Which::Azure => "azure",
    };
    let pricing = match &args.pricing {
        Some(path) => Pricing::from_path(path)?,
        None => Pricing::default_for(Cloud::of_provider(provider_name)?),
    };
    let region = region(&args, pricing.file().cloud);
    pricing.region(&region)?;
    if args.monthly == Some(0) {
        return Err(Error::invalid("monthly", 0, "give at least one invocation a month").into());
    }
    let options = AdviceOptions {
        timeout_headroom: args.timeout_headroom,
        memory_headroom: args.memory_headroom,
        // A rate the file lacks (Azure's executions) is listed as unpriced, not fatal.
        estimate: EstimateOptions {
            allow_unpriced: true,
            ..Default::default()
        },
        ..Default::default()
    };
    options.check()?;

    let provider = args.target.connect().await?;
    let deployment = provider.get(&args.function).await?;
    let metrics = provider.metrics(&MetricsQuery::new(&args.function, window)).await?;
    let versions = or_none(provider.list_versions(&args.function).await)?;
    let labels = or_none(provider.list_labels(&args.function).await)?;
    let info = provider.info();
    let mut input = AdviceInput::new(
        info.name.as_str(),
        &deployment.spec,
        &info.limits,
        &metrics,
        &pricing,
        &region,
    )
    .versions(&versions, &labels)
    .latest_code(&deployment.code_sha256)
    .options(options);
    input.monthly_invocations = args.monthly;
    let advice = advise(&input)?;
    if args.json {
        let out = serde_json::json!({"metrics": metrics, "advice": advice});
        examples::say(&serde_json::to_string(&out)?);
    } else {
        show(&advice);
    }
    Ok(if advice.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// `--region`, else the provider's region from the environment, else the cloud's usual one.
fn region(args: &Args, cloud: Cloud) -> String {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    args.target
        .region
        .clone()
        .or_else(|| match args.target.provider {
            Which::Aws => env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            Which::Gcp => env("GOOGLE_CLOUD_REGION"),
            _ => None,
        })
        .unwrap_or_else(|| cloud.default_region().to_string())
}

/// A listing the provider cannot make (no labels on a plan) is an empty one here.
fn or_none<T>(listed: faas_core::Result<Vec<T>>) -> faas_core::Result<Vec<T>> {
    match listed {
        Err(Error::Unsupported { .. }) => Ok(Vec::new()),
        other => other,
    }
}

fn show(advice: &Advice) {
    for line in advice.to_string().lines() {
        examples::say(line);
    }
    if let Some(e) = &advice.estimate {
        if !e.unpriced.is_empty() {
            examples::say(&format!("  unpriced (counted as 0): {}", e.unpriced.join(", ")));
        }
        examples::say(&format!("  prices from: {}", e.sources.join(", ")));
    }
}
