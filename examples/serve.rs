//! Serves the local provider's functions over HTTP: Lambda's Invoke API (for the aws-cli,
//! boto3 and the AWS SDKs, with `--endpoint-url`) and function URLs.
//!
//! ```text
//! cargo run -p examples --example serve -- --port 9001 [--host 127.0.0.1] [--state-dir .faas]
//! ```
//!
//! Ctrl-C stops it gracefully: running invocations finish (within their timeouts) first.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use faas_core::local::{LocalProvider, ServeConfig};

/// Serve the Lambda Invoke API and function URLs for the functions deployed locally.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The port (0 picks a free one).
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// The address to listen on (loopback by default: requests are not authenticated).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Where the local provider keeps its state.
    #[arg(long, default_value = ".faas")]
    state_dir: PathBuf,
    /// Synchronous invocations at once; more are throttled (429 TooManyRequestsException).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::init_tracing();
    let args = Args::parse();
    run(args).await.unwrap_or_else(|e| examples::fail(&e, false))
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let provider = LocalProvider::builder().state_dir(&args.state_dir).build()?;
    let config = ServeConfig::default().concurrency(args.concurrency);
    let server = provider.serve_with((args.host.as_str(), args.port), config).await?;
    let url = server.url();
    examples::say(&format!("serving {} on {url}", args.state_dir.display()));
    examples::say(&format!(
        "  aws lambda invoke --endpoint-url {url} --function-name hello --cli-binary-format raw-in-base64-out --payload '{{}}' out.json"
    ));
    examples::say(&format!(
        "  curl -s -X POST {url}/2015-03-31/functions/hello/invocations -H 'X-Amz-Log-Type: Tail' -d '{{}}'"
    ));
    examples::say(&format!(
        "  curl -s {url}/url/hello/any/path?x=1     (a function URL, payload format 2.0)"
    ));
    examples::say("Ctrl-C stops.");
    tokio::signal::ctrl_c().await?;
    examples::say("stopping: waiting for running invocations");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
