//! Memory power tuning of a deployed function on any provider (the local one by default):
//! tries each memory size, prints duration and cost per size with the winner, and removes
//! every version and label it made — also on Ctrl-C, and a rerun after a kill cleans up what
//! the killed run left.
//!
//! ```text
//! cargo run -p examples --example tune -- --function F \
//!     [--memory 128,256,512,1024,1769,3008] [--invocations 20] [--payload '{...}' | --payloads '[{"payload": {...}, "weight": 2}, ...]'] \
//!     [--strategy cost|speed|balanced:0.5] [--parallel 4] [--cold-starts-only] [--trim 0.2] \
//!     [--price-region us-east-1] [--pricing FILE] [--monthly 1000000] [--apply | --apply-label live] \
//!     [--svg chart.svg] [--json] [--provider local|aws|gcp|azure]
//! ```
//!
//! Exit codes: 0; 3 when every size failed (nothing to choose); 130 when interrupted (after
//! removing what the run made); 1 on an error (with `--json`, one JSON object on stderr).
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use examples::Target;
use faas_core::Provider;
use faas_core::cost::Pricing;
use faas_core::cost::tune::{ApplyTo, TuneEvent, TuneOptions, TuningReport, WeightedPayload, clean_up, tune_observed};
use indicatif::{ProgressBar, ProgressStyle};

/// Tune a function's memory.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// Memory sizes in MB, comma-separated (default: the provider's set).
    #[arg(long, value_delimiter = ',')]
    memory: Vec<u32>,
    /// Invocations per size.
    #[arg(long, default_value_t = 10)]
    invocations: u32,
    /// The event (JSON).
    #[arg(long, conflicts_with = "payloads")]
    payload: Option<String>,
    /// Weighted events: a JSON array of {"payload": ..., "weight": N}, or @FILE holding one.
    #[arg(long)]
    payloads: Option<String>,
    /// cost, speed, balanced or balanced:W (W between 0 = speed and 1 = cost).
    #[arg(long, default_value = "cost")]
    strategy: String,
    /// At most this many invocations at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Make every invocation a cold start (a fresh version per invocation).
    #[arg(long)]
    cold_starts_only: bool,
    /// The share of the slowest and of the fastest invocations discarded.
    #[arg(long, default_value_t = faas_core::cost::tune::DEFAULT_TRIM)]
    trim: f64,
    /// The region whose prices apply (default: us-east-1, us-central1, eastus by cloud).
    #[arg(long)]
    price_region: Option<String>,
    /// A pricing file of your own (negotiated prices, other regions).
    #[arg(long)]
    pricing: Option<PathBuf>,
    /// The monthly volume the price tiers are applied at.
    #[arg(long, default_value_t = 1_000_000)]
    monthly: u64,
    /// Leave the function at the winning memory.
    #[arg(long, conflicts_with = "apply_label")]
    apply: bool,
    /// Leave the function at the winning memory, publish it and point this label at it.
    #[arg(long)]
    apply_label: Option<String>,
    /// Write a chart of duration and cost against memory to this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
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
    let options = options(&args)?;
    let provider = args.target.connect().await?;
    let bar = progress(args.json);
    let observer = |e: &TuneEvent| observe(&bar, e);
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    let report = tokio::select! {
        r = tune_observed(provider.as_ref(), &args.function, &options, &observer) => r,
        signal = &mut interrupted => {
            bar.finish_and_clear();
            return stopped(provider.as_ref(), &args.function, signal, args.json).await;
        }
    };
    bar.finish_and_clear();
    let report = report?;
    if let Some(path) = &args.svg {
        chart(path, &report).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        examples::say(&serde_json::to_string(&report)?);
    } else {
        examples::say(&report.to_string());
        if let Some(path) = &args.svg {
            examples::say(&format!("chart: {}", path.display()));
        }
    }
    Ok(match report.chosen_memory_mb {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::from(3),
    })
}

/// Everything the user typed, checked before the first call (the library checks the rest
/// against the provider before it changes anything).
fn options(args: &Args) -> anyhow::Result<TuneOptions> {
    let mut o = TuneOptions::new()
        .memory(args.memory.iter().copied())
        .invocations(args.invocations)
        .parallel(args.parallel)
        .cold_starts_only(args.cold_starts_only)
        .strategy(args.strategy.parse()?)
        .trim(args.trim)
        .monthly_invocations(args.monthly);
    if let Some(p) = &args.payload {
        o = o.payload(
            serde_json::from_str(p).map_err(|e| faas_core::Error::invalid("payload", p, format!("not JSON: {e}")))?,
        );
    }
    if let Some(p) = &args.payloads {
        let text = match p.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
            None => p.clone(),
        };
        let weighted: Vec<WeightedPayload> = serde_json::from_str(&text).map_err(|e| {
            faas_core::Error::invalid(
                "payloads",
                p,
                format!("expected [{{\"payload\": ..., \"weight\": N}}, ...]: {e}"),
            )
        })?;
        o = o.weighted_payloads(weighted);
    }
    if let Some(r) = &args.price_region {
        o = o.region(r);
    }
    if let Some(path) = &args.pricing {
        o = o.pricing(Pricing::from_path(path)?);
    }
    if args.apply {
        o = o.apply(ApplyTo::Latest);
    }
    if let Some(label) = &args.apply_label {
        o = o.apply(ApplyTo::Label(label.clone()));
    }
    Ok(o)
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, with the signal's name.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Interrupted: removes what the run made, says what, exits 130.
async fn stopped(provider: &dyn Provider, function: &str, signal: &str, json: bool) -> anyhow::Result<ExitCode> {
    let cleaned = clean_up(provider, function)
        .await
        .context("interrupted, and removing what the run made failed: run tune again to finish it")?;
    if json {
        let out = serde_json::json!({"interrupted": signal, "cleaned_up": cleaned});
        examples::say(&out.to_string());
    } else {
        examples::say(&format!(
            "interrupted ({signal}): removed {} versions and {} labels{}",
            cleaned.versions.len(),
            cleaned.labels.len(),
            cleaned
                .restored_memory_mb
                .map_or(String::new(), |mb| format!(", memory back to {mb} MB"))
        ));
    }
    Ok(ExitCode::from(130))
}

fn progress(json: bool) -> ProgressBar {
    let bar = match json {
        true => ProgressBar::hidden(),
        false => ProgressBar::new(0),
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} invocations {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn observe(bar: &ProgressBar, e: &TuneEvent) {
    match e {
        TuneEvent::CleanedUp(c) => bar.println(format!(
            "removed what an interrupted run left: {} versions, {} labels",
            c.versions.len(),
            c.labels.len()
        )),
        TuneEvent::Started { memory_mb, invocations } => {
            bar.set_length(*invocations);
            bar.set_message(format!("sizes {memory_mb:?} MB"));
        }
        TuneEvent::Prepared { memory_mb, version } => {
            bar.set_message(match version {
                Some(v) => format!("{memory_mb} MB ready as version {v}"),
                None => format!("{memory_mb} MB set"),
            });
        }
        TuneEvent::Invoked { .. } => bar.inc(1),
        TuneEvent::Applied { memory_mb } => bar.println(format!("applied {memory_mb} MB")),
        _ => {}
    }
}

/// Duration (left axis) and cost per million (right axis) against memory, the winner marked.
fn chart(path: &Path, report: &TuningReport) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let ok: Vec<_> = report.values.iter().filter(|v| v.failed.is_none()).collect();
    anyhow::ensure!(!ok.is_empty(), "every size failed: nothing to chart");
    let n = ok.len() as f64;
    let max_ms = ok.iter().map(|v| v.duration_ms).fold(1e-9, f64::max);
    let max_cost = ok.iter().map(|v| v.cost_per_million).fold(1e-12, f64::max);
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(
            format!("{}: duration and cost by memory ({})", report.function, report.strategy),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .right_y_label_area_size(80)
        .build_cartesian_2d(-0.5..n - 0.5, 0.0..max_ms * 1.15)?
        .set_secondary_coord(-0.5..n - 0.5, 0.0..max_cost * 1.15);
    let label = |x: &f64| {
        let i = x.round();
        match (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < ok.len() {
            true => format!("{} MB", ok[i as usize].memory_mb),
            false => String::new(),
        }
    };
    c.configure_mesh()
        .x_labels(ok.len() * 2 + 1)
        .x_label_formatter(&label)
        .x_desc("memory")
        .y_desc("duration (ms, trimmed mean)")
        .draw()?;
    c.configure_secondary_axes()
        .y_desc(format!("{} per million invocations", report.currency))
        .draw()?;
    let ms: Vec<(f64, f64)> = ok.iter().enumerate().map(|(i, v)| (i as f64, v.duration_ms)).collect();
    let cost: Vec<(f64, f64)> = ok
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, v.cost_per_million))
        .collect();
    c.draw_series(LineSeries::new(ms.clone(), &BLUE))?
        .label("duration")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    c.draw_series(ms.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
    c.draw_secondary_series(LineSeries::new(cost.clone(), &RED))?
        .label("cost per million")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    c.draw_secondary_series(cost.iter().map(|&p| Circle::new(p, 4, RED.filled())))?;
    if let Some(i) = ok.iter().position(|v| Some(v.memory_mb) == report.chosen_memory_mb) {
        c.draw_series(std::iter::once(Circle::new(ms[i], 9, GREEN.stroke_width(2))))?
            .label("chosen")
            .legend(|(x, y)| Circle::new((x + 10, y), 5, GREEN.stroke_width(2)));
    }
    c.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
