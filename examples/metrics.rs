//! Shows what a function did — invocations, errors, durations, cold starts — on any provider
//! (the local one by default), with a sparkline per figure, an SVG chart, and alert rules.
//!
//! ```text
//! cargo run -p examples --example metrics -- --function hello [--qualifier live] [--since 1h] \
//!     [--start 2026-12-01T10:00:00Z --end 2026-12-01T11:00:00Z] [--period 5m] \
//!     [--svg chart.svg] [--alert 'error_rate>1%' ...] [--json] [--provider local|aws|gcp|azure]
//! ```
//!
//! Exit codes: 0, 2 when an alert rule fired, 1 on an error (with `--json`, one JSON object on
//! stderr). A rule without enough invocations to judge does not fire, and says so.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use examples::Target;
use faas_core::observe::{AlertRule, Finding, Metrics, MetricsQuery, TimeWindow, Verdict, parse_span};

/// Show a function's metrics over a window.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// A version or label (default: all invocations).
    #[arg(long)]
    qualifier: Option<String>,
    /// The window up to now: 90s, 10m, 2h, 1d.
    #[arg(long, default_value = "1h", conflicts_with_all = ["start", "end"])]
    since: String,
    /// The window's start (RFC 3339), with --end.
    #[arg(long, requires = "end")]
    start: Option<String>,
    /// The window's end (RFC 3339), with --start.
    #[arg(long, requires = "start")]
    end: Option<String>,
    /// The period of each point of the series (default: a thirtieth of the window).
    #[arg(long)]
    period: Option<String>,
    /// Write a chart of the series to this SVG file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// An alert rule (repeatable): `error_rate > 1%`, `p99_ms > 800 over 5m min 20`.
    #[arg(long = "alert")]
    alerts: Vec<String>,
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
    let rules: Vec<AlertRule> = args.alerts.iter().map(|r| r.parse()).collect::<Result<_, _>>()?;
    let window = window(&args)?;
    let period = match &args.period {
        Some(p) => parse_span("period", p)?,
        None => Duration::from_millis((window.span().as_millis() as u64 / 30).max(1000)),
    };
    let provider = args.target.connect().await?;
    let mut query = MetricsQuery::new(&args.function, window).period(period);
    query.qualifier = args.qualifier.clone();
    let metrics = provider.metrics(&query).await?;
    let series = provider.metric_series(&query).await?;
    let mut findings = Vec::new();
    for rule in &rules {
        let judged = match rule.window {
            Some(w) => {
                let mut q = query.clone();
                q.window = TimeWindow::last(w);
                provider.metrics(&q).await?
            }
            None => metrics.clone(),
        };
        findings.push(rule.evaluate(&judged));
    }
    if let Some(path) = &args.svg {
        chart(path, &args.function, &series).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        let out = serde_json::json!({"metrics": metrics, "series": series, "findings": findings});
        examples::say(&serde_json::to_string(&out)?);
    } else {
        show(&metrics, &series, &findings, args.svg.as_deref());
    }
    let fired = findings.iter().any(|f| f.verdict == Verdict::Fired);
    Ok(if fired { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn window(args: &Args) -> anyhow::Result<TimeWindow> {
    Ok(match (&args.start, &args.end) {
        (Some(s), Some(e)) => {
            let at = |name: &str, v: &str| {
                humantime::parse_rfc3339_weak(v)
                    .map_err(|_| faas_core::Error::invalid(name, v, "expected an RFC 3339 time: 2026-12-01T10:00:00Z"))
            };
            TimeWindow::between(at("start", s)?, at("end", e)?)?
        }
        _ => TimeWindow::last(parse_span("since", &args.since)?),
    })
}

fn show(m: &Metrics, series: &[Metrics], findings: &[Finding], svg: Option<&Path>) {
    let what = m
        .qualifier
        .as_deref()
        .map_or("all versions".to_string(), |q| format!("qualifier {q}"));
    examples::say(&format!(
        "{} ({what}), {} .. {}  [{}]",
        m.function,
        examples::utc(m.window.start_ms),
        examples::utc(m.window.end_ms),
        m.source
    ));
    for line in figures(m) {
        examples::say(&format!("  {line}"));
    }
    for (figure, why) in &m.unavailable {
        examples::say(&format!("  {figure}: not available ({why})"));
    }
    for (version, v) in &m.by_version {
        examples::say(&format!("  version {version}: {}", figures(v).join("; ")));
    }
    if !series.is_empty() {
        let count = |f: fn(&Metrics) -> Option<f64>| series.iter().map(f).collect::<Vec<_>>();
        examples::say(&format!(
            "  invocations {}",
            sparkline(&count(|s| s.invocations.map(|n| n as f64)))
        ));
        examples::say(&format!(
            "  errors      {}",
            sparkline(&count(|s| s.errors.map(|n| n as f64)))
        ));
        examples::say(&format!(
            "  p99 ms      {}",
            sparkline(&count(|s| s.duration.map(|d| d.p99_ms)))
        ));
    }
    for f in findings {
        let verdict = match &f.verdict {
            Verdict::Fired => "FIRED".to_string(),
            Verdict::Ok => "ok".to_string(),
            Verdict::NotEnoughData => "not enough data".to_string(),
            Verdict::Unavailable(why) => format!("unavailable: {why}"),
            _ => "?".to_string(),
        };
        let value = f.value.map_or("-".into(), |v| format!("{v:.2}"));
        examples::say(&format!("  alert {}: {verdict} (value {value})", f.rule));
    }
    if let Some(p) = svg {
        examples::say(&format!("  chart: {}", p.display()));
    }
}

fn figures(m: &Metrics) -> Vec<String> {
    let n = |x: Option<u64>| x.map_or("-".into(), |v| v.to_string());
    let pct = |r: Option<f64>| r.map_or(String::new(), |r| format!(" ({:.1}%)", r * 100.0));
    let mut out = vec![
        format!("invocations {}", n(m.invocations)),
        format!("errors {}{}", n(m.errors), pct(m.error_rate())),
        format!("throttles {}", n(m.throttles)),
    ];
    if let Some(d) = m.duration {
        out.push(format!(
            "duration avg {:.1} ms, p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
            d.avg_ms, d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms
        ));
    }
    let init = m.init_duration.map_or(String::new(), |d| {
        format!(", init p50 {:.1} ms, p99 {:.1}", d.p50_ms, d.p99_ms)
    });
    out.push(format!(
        "cold starts {}{}{init}",
        n(m.cold_starts),
        pct(m.cold_start_rate())
    ));
    out.push(format!("peak concurrency {}", n(m.peak_concurrency)));
    if let Some(mb) = m.max_memory_used_mb {
        out.push(format!("max memory {mb} MB"));
    }
    out
}

/// `▁▃█▅` — one block per point, scaled to the largest; `·` where the figure is unknown.
fn sparkline(values: &[Option<f64>]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    values
        .iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max <= 0.0 => BLOCKS[0],
            Some(x) => BLOCKS[((x / max) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// Two stacked charts: invocations and errors per period, and the p99 duration.
fn chart(path: &Path, function: &str, series: &[Metrics]) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(280);
    let minutes = |m: &Metrics| (m.window.start_ms.saturating_sub(series[0].window.start_ms)) as f64 / 60_000.0;
    let last = series.last().map_or(1.0, |m| minutes(m).max(1e-3));
    let counts: Vec<(f64, f64, f64)> = series
        .iter()
        .map(|m| {
            (
                minutes(m),
                m.invocations.unwrap_or(0) as f64,
                m.errors.unwrap_or(0) as f64,
            )
        })
        .collect();
    let peak = counts.iter().map(|c| c.1).fold(1.0, f64::max);
    let mut c = ChartBuilder::on(&top)
        .caption(
            format!("{function}: invocations and errors per period"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last, 0.0..peak * 1.1)?;
    c.configure_mesh().x_desc("minutes from the window's start").draw()?;
    c.draw_series(LineSeries::new(counts.iter().map(|p| (p.0, p.1)), &BLUE))?
        .label("invocations")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    c.draw_series(LineSeries::new(counts.iter().map(|p| (p.0, p.2)), &RED))?
        .label("errors")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    c.configure_series_labels().border_style(BLACK).draw()?;
    let p99: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|m| m.duration.map(|d| (minutes(m), d.p99_ms)))
        .collect();
    let slowest = p99.iter().map(|p| p.1).fold(1.0, f64::max);
    let mut d = ChartBuilder::on(&bottom)
        .caption("p99 duration (ms)", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..last, 0.0..slowest * 1.1)?;
    d.configure_mesh().x_desc("minutes from the window's start").draw()?;
    d.draw_series(LineSeries::new(p99, &GREEN))?;
    root.present()?;
    Ok(())
}
