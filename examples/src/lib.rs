//! Helpers shared by the runnable examples (see the `[[example]]` targets).
#![allow(clippy::print_stdout)]

pub mod blocks;
pub mod fleet;

/// Targets whose debug and trace output dumps requests (headers with session tokens,
/// signatures, bearer tokens, SAS, function keys): capped at `info` unless `RUST_LOG` names
/// them explicitly.
pub const CAPPED_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sigv4",
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "azure_core",
    "azure_identity",
    "gcp_auth",
];

/// The `tracing` filter of the examples: `RUST_LOG` (default `warn`), with every target of
/// [`CAPPED_TARGETS`] capped at `info` unless `RUST_LOG` names it.
pub fn log_filter(rust_log: Option<&str>) -> String {
    let mut directives = rust_log.filter(|s| !s.trim().is_empty()).unwrap_or("warn").to_string();
    for target in CAPPED_TARGETS {
        let named = directives
            .split(',')
            .any(|d| d.trim().split(['=', '[']).next() == Some(*target));
        if !named {
            directives.push_str(&format!(",{target}=info"));
        }
    }
    directives
}

/// Sends `tracing` output to stderr, filtered by [`log_filter`].
pub fn init_tracing() {
    let directives = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(None)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reports a failed run and returns its exit code (1): with `json`, one JSON object on stderr,
/// `{"error": {...}}` — for faas errors [`faas_core::Error::to_json`] (`kind`, `provider`,
/// `message`, `retryable`, the fields), so CI tools can branch on the kind; as text otherwise,
/// with every cause.
pub fn fail(err: &anyhow::Error, json: bool) -> std::process::ExitCode {
    if json {
        let error = match err.chain().find_map(|e| e.downcast_ref::<faas_core::Error>()) {
            Some(e) => {
                let mut v = e.to_json();
                v["message"] = serde_json::Value::String(format!("{err:#}"));
                v
            }
            None => {
                serde_json::json!({"kind": "other", "provider": null, "message": format!("{err:#}"), "retryable": false, "fields": {}})
            }
        };
        eprintln!("{}", serde_json::json!({ "error": error }));
    } else {
        eprintln!("error: {err:#}");
    }
    std::process::ExitCode::FAILURE
}

/// The `main` of an example with `--json`: tracing set up, the arguments parsed, `run` on a
/// multi-threaded runtime, and an error reported by [`fail`] (as JSON when `json` says the
/// user asked for it).
pub fn main_with<A, F, Fut>(json: fn(&A) -> bool, run: F) -> std::process::ExitCode
where
    A: clap::Parser,
    F: FnOnce(A) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<std::process::ExitCode>>,
{
    init_tracing();
    let args = A::parse();
    let json = json(&args);
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(args)).unwrap_or_else(|e| fail(&e, json)),
        Err(e) => fail(&anyhow::Error::new(e).context("starting the async runtime"), json),
    }
}

/// A time in ms since the Unix epoch as RFC 3339 in UTC, to the millisecond.
pub fn utc(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_dumping_targets_are_capped_unless_named() {
        let f = log_filter(Some("trace"));
        assert!(f.starts_with("trace,") && f.contains(",aws_smithy_runtime=info") && f.contains(",h2=info"));
        let f = log_filter(Some("debug,aws_smithy_runtime=trace"));
        assert!(
            !f.contains("aws_smithy_runtime=info") && f.contains("hyper=info"),
            "{f}"
        );
        assert!(log_filter(None).starts_with("warn,"));
    }
}

/// Which provider an example talks to, and how to reach it: the flags every example shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The provider.
    #[arg(long, value_enum, default_value = "local")]
    pub provider: Which,
    /// The local provider's state directory.
    #[arg(long, default_value = ".faas")]
    pub state_dir: std::path::PathBuf,
    /// The bucket for artifacts (S3 on AWS, default FAAS_AWS_BUCKET; GCS on GCP, default
    /// FAAS_GCP_BUCKET, else packages go through a signed upload URL).
    #[arg(long)]
    pub bucket: Option<String>,
    /// The project (GCP; default GOOGLE_CLOUD_PROJECT).
    #[arg(long)]
    pub project: Option<String>,
    /// The region (GCP; default GOOGLE_CLOUD_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// The subscription (Azure; default AZURE_SUBSCRIPTION_ID).
    #[arg(long)]
    pub subscription: Option<String>,
    /// The resource group (Azure; default AZURE_RESOURCE_GROUP).
    #[arg(long)]
    pub resource_group: Option<String>,
    /// The function app (Azure; default: an app named after the function).
    #[arg(long)]
    pub app: Option<String>,
}

impl Target {
    /// The provider, built from these flags and the environment (`from_env`).
    pub async fn connect(&self) -> anyhow::Result<std::sync::Arc<dyn faas_core::Provider>> {
        use std::sync::Arc;
        Ok(match self.provider {
            Which::Local => Arc::new(
                faas_core::local::LocalProvider::builder()
                    .state_dir(&self.state_dir)
                    .build()?,
            ),
            #[cfg(feature = "aws")]
            Which::Aws => {
                let mut b = faas_aws::AwsBuilder::from_env();
                if let Some(bucket) = &self.bucket {
                    b = b.bucket(bucket);
                }
                Arc::new(b.build().await?)
            }
            #[cfg(not(feature = "aws"))]
            Which::Aws => anyhow::bail!("this build has no AWS support: run with `--features aws`"),
            #[cfg(feature = "gcp")]
            Which::Gcp => {
                let mut b = faas_gcp::GcpBuilder::from_env();
                if let Some(project) = &self.project {
                    b = b.project(project);
                }
                if let Some(region) = &self.region {
                    b = b.region(region);
                }
                if let Some(bucket) = &self.bucket {
                    b = b.bucket(bucket);
                }
                Arc::new(b.build().await?)
            }
            #[cfg(not(feature = "gcp"))]
            Which::Gcp => anyhow::bail!("this build has no GCP support: run with `--features gcp`"),
            #[cfg(feature = "azure")]
            Which::Azure => {
                let mut b = faas_azure::AzureBuilder::from_env();
                if let Some(s) = &self.subscription {
                    b = b.subscription(s);
                }
                if let Some(g) = &self.resource_group {
                    b = b.resource_group(g);
                }
                if let Some(app) = &self.app {
                    b = b.app(app);
                }
                Arc::new(b.build().await?)
            }
            #[cfg(not(feature = "azure"))]
            Which::Azure => anyhow::bail!("this build has no Azure support: run with `--features azure`"),
        })
    }
}
