//! Reads a function's logs, on any provider (the local one by default), and follows them.
//!
//! ```text
//! cargo run -p examples --example logs -- --function hello [--qualifier live] [--since 10m] \
//!     [--filter TEXT] [--limit 100] [--follow] [--json] [--provider local|aws|gcp|azure]
//! ```
//!
//! Exit codes: 0 when the records were read (none is not an error), 1 on an error (with
//! `--json`, one JSON object on stderr).
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::Target;
use faas_core::ProviderExt;
use faas_core::observe::{LogQuery, LogRecord, TimeWindow, parse_span};

/// Show a function's log records, oldest first.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// A version or label (default: all).
    #[arg(long)]
    qualifier: Option<String>,
    /// How far back to look: 90s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    since: String,
    /// Only records containing this text.
    #[arg(long)]
    filter: Option<String>,
    /// At most this many records (before following).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Keep going: print new records as they arrive (Ctrl-C stops).
    #[arg(long)]
    follow: bool,
    /// How often to look for new records when following, in milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// One JSON object per record, one per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

fn main() -> ExitCode {
    examples::main_with(|a: &Args| a.json, run)
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let provider = args.target.connect().await?;
    let since = parse_span("since", &args.since)?;
    let mut query = LogQuery::new(&args.function, TimeWindow::last(since)).limit(args.limit);
    query.qualifier = args.qualifier.clone();
    query.filter = args.filter.clone();
    let json = args.json;
    let print = move |r: &LogRecord| {
        if json {
            examples::say(&serde_json::to_string(r).unwrap_or_default());
        } else {
            examples::say(&line(r));
        }
    };
    if args.follow {
        let mut sink = |r: LogRecord| {
            print(&r);
            ControlFlow::Continue(())
        };
        provider
            .follow_logs(&query, Duration::from_millis(args.poll_ms.max(10)), &mut sink)
            .await?;
    } else {
        let page = provider.logs(&query).await?;
        for r in &page.records {
            print(r);
        }
        if !json && page.records.is_empty() {
            eprintln!("no records in the last {}", args.since);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-01T10:00:00.123Z [1] a1b2c3d4 message`.
fn line(r: &LogRecord) -> String {
    let id = r.request_id.as_deref().map(|i| &i[..i.len().min(8)]).unwrap_or("-");
    format!(
        "{} [{}] {id} {}",
        examples::utc(r.time_ms),
        r.version.as_deref().unwrap_or("?"),
        r.message
    )
}
