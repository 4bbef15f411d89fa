//! Helpers shared by the runnable examples (see the `[[example]]` targets).
#![allow(clippy::print_stdout)]

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (default `warn`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Prints a line for the person running the example.
pub fn say(line: &str) {
    println!("{line}");
}

/// The providers the examples can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The embedded local provider (the default; no credentials).
    Local,
    /// AWS Lambda (build with `--features aws`; honours `AWS_ENDPOINT_URL`).
    Aws,
    /// Google Cloud Functions 2nd gen (build with `--features gcp`; honours `FAAS_GCP_*_URL`).
    Gcp,
    /// Azure Functions (build with `--features azure`; honours `FAAS_AZURE_*`).
    Azure,
}
