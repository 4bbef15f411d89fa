//! Invokes a function on the local provider.
//!
//! ```text
//! cargo run -p examples --example invoke -- --function hello-python --qualifier live \
//!     --payload '{"name": "you"}' [--state-dir .faas] [--json]
//! ```
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use faas_core::local::LocalProvider;
use faas_core::{InvokeMode, InvokeRequest, Provider};

/// Invoke a deployed function and show its answer, log tail and REPORT figures.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// A version or label (default: the latest code).
    #[arg(long)]
    qualifier: Option<String>,
    /// The event, as JSON.
    #[arg(long, default_value = "{}")]
    payload: String,
    /// Where the local provider keeps its state.
    #[arg(long, default_value = ".faas")]
    state_dir: PathBuf,
    /// Invoke asynchronously (202 at once, as Lambda answers); the program waits for the
    /// event to run before it exits.
    #[arg(long)]
    r#async: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    examples::main_with(|a: &Args| a.json, run)
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let provider = LocalProvider::builder().state_dir(&args.state_dir).build()?;
    let request = InvokeRequest {
        qualifier: args.qualifier.clone(),
        payload: args.payload.clone().into_bytes(),
        mode: if args.r#async {
            InvokeMode::Async
        } else {
            InvokeMode::Sync
        },
        log_tail: true,
        ..InvokeRequest::default()
    };
    let inv = provider.invoke(&args.function, &request).await?;
    if args.r#async {
        // The event runs in this process: let it finish before the process exits (a queued
        // event is answered with 202 at once; the program returns when it has run).
        provider.wait_for_async().await;
    }
    let payload: serde_json::Value = serde_json::from_slice(&inv.payload)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&inv.payload).into_owned()));
    if args.json {
        let out = serde_json::json!({
            "status": inv.status,
            "payload": payload,
            "function_error": inv.function_error,
            "executed_version": inv.executed_version,
            "report": inv.report,
            "log_tail": inv.log_tail,
        });
        examples::say(&serde_json::to_string(&out)?);
    } else {
        examples::say(&format!(
            "status {} (version {})",
            inv.status,
            inv.executed_version.as_deref().unwrap_or("?")
        ));
        examples::say(&serde_json::to_string_pretty(&payload)?);
        if let Some(fe) = &inv.function_error {
            examples::say(&format!("function error {}: {}", fe.error_type, fe.message));
        }
        if let Some(tail) = &inv.log_tail {
            examples::say("--- log tail ---");
            examples::say(tail.trim_end());
        }
    }
    Ok(if inv.function_error.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
