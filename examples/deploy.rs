//! Packages and deploys a function, then optionally publishes it, moves an alias and prunes.
//!
//! ```text
//! cargo run -p examples --example deploy -- --provider local --function hello \
//!     --src examples/functions/hello-python --runtime python3.12 \
//!     --handler lambda_function.lambda_handler --alias live --publish --json
//! cargo run -p examples --features aws --example deploy -- --provider aws --function hello \
//!     --src examples/functions/hello-python --runtime python3.12 \
//!     --handler lambda_function.lambda_handler --role arn:aws:iam::123456789012:role/exec \
//!     --bucket my-artifacts --alias live --publish --keep-versions 5
//! cargo run -p examples --features gcp --example deploy -- --provider gcp --project my-project \
//!     --region europe-west1 --function hello --src examples/functions/hello-gcp \
//!     --runtime python312 --entry-point main --alias live --json
//! cargo run -p examples --features azure --example deploy -- --provider azure \
//!     --subscription S --resource-group G --app my-functions --function hello \
//!     --src examples/functions/hello-azure --runtime python3.12 --slot staging --json
//! ```
//! With `--targets FILE` (a YAML or JSON list of targets: see `faas_core::fleet::targets`)
//! the function goes to every target in one run — two AWS accounts through their roles, a
//! GCP project, an Azure subscription — with a progress bar per target and a summary;
//! exit code 2 when a delivery failed (the others still ran):
//!
//! ```text
//! cargo run -p examples --features aws --example deploy -- --targets targets.yaml \
//!     --function hello --src examples/functions/hello-python --runtime python3.12 \
//!     --handler lambda_function.lambda_handler --role arn:aws:iam::123456789012:role/exec \
//!     --alias live --json
//! ```
//! The AWS provider honours `AWS_ENDPOINT_URL` (moto), `AWS_REGION`, `AWS_PROFILE` and the
//! standard credential chain. The GCP provider uses application default credentials
//! (`GOOGLE_APPLICATION_CREDENTIALS` first) and honours `GOOGLE_CLOUD_PROJECT`,
//! `GOOGLE_CLOUD_REGION`, `FAAS_GCP_BUCKET` and the endpoint overrides `FAAS_GCP_FUNCTIONS_URL`,
//! `FAAS_GCP_RUN_URL`, `FAAS_GCP_IAM_CREDENTIALS_URL`, `FAAS_GCP_STORAGE_URL`. The Azure provider
//! takes credentials from `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`, workload
//! identity, a managed identity or `az login`, and honours `FAAS_AZURE_PLAN`,
//! `FAAS_AZURE_STORAGE_ACCOUNT`, `FAAS_AZURE_ARM_URL`, `FAAS_AZURE_KUDU_URL`,
//! `FAAS_AZURE_BLOB_ENDPOINT` and `AZURE_AUTHORITY_HOST`.
use anyhow::Context;
use clap::Parser;
use examples::{Target, Which};
use faas_core::{DeployOptions, FunctionSpec, ProviderExt, Runtime};
use faas_package::PackageBuilder;
use std::path::PathBuf;
use std::process::ExitCode;

/// Package, deploy, publish and route a function.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where to deploy, and how to reach it.
    #[command(flatten)]
    target: Target,
    /// The function's name.
    #[arg(long)]
    function: String,
    /// The source directory.
    #[arg(long)]
    src: PathBuf,
    /// The runtime (python3.12, nodejs22.x, provided.al2023; python312, nodejs22 ...).
    #[arg(long)]
    runtime: Runtime,
    /// The handler (`module.function`; Azure: `function_app.app` by default).
    #[arg(long)]
    handler: Option<String>,
    /// The entry point (GCP): the function's name in main.py (Python) or index.js (Node).
    #[arg(long, conflicts_with = "handler")]
    entry_point: Option<String>,
    /// The execution role ARN (AWS).
    #[arg(long)]
    role: Option<String>,
    /// Memory in MB (default 128; 256 on GCP).
    #[arg(long)]
    memory: Option<u32>,
    /// Timeout in seconds (default 3; 60 on GCP, 300 on Azure).
    #[arg(long)]
    timeout: Option<u32>,
    /// Environment variables, KEY=VALUE (repeatable).
    #[arg(long = "env", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// Secret environment variables, KEY=VALUE: never printed.
    #[arg(long = "secret-env", value_parser = key_value)]
    secret_env: Vec<(String, String)>,
    /// Publish a version after deploying.
    #[arg(long)]
    publish: bool,
    /// Point this alias at the published version (implies --publish).
    #[arg(long)]
    alias: Option<String>,
    /// The deployment slot to run the published version (Azure; same as --alias).
    #[arg(long, conflicts_with = "alias")]
    slot: Option<String>,
    /// Keep the newest N versions (routed ones are always kept).
    #[arg(long)]
    keep_versions: Option<usize>,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Deliver to every target of this YAML or JSON file instead of `--provider`'s.
    #[arg(long, conflicts_with_all = ["dry_run", "keep_versions"])]
    targets: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Where to write the zip.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl Args {
    /// The handler: `--handler`, or `--entry-point` in the module Cloud Functions loads.
    fn handler(&self) -> String {
        match (&self.handler, &self.entry_point) {
            (Some(h), _) => h.clone(),
            (None, Some(ep)) => match self.runtime.family() {
                faas_core::RuntimeFamily::Node => format!("index.{ep}"),
                _ => format!("main.{ep}"),
            },
            (None, None) if self.target.provider == Which::Azure => "function_app.app".into(),
            (None, None) => String::new(),
        }
    }
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

fn main() -> ExitCode {
    examples::main_with(|a: &Args| a.json, run)
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let gcp = args.target.provider == Which::Gcp;
    let mut spec = FunctionSpec::new(&args.function, args.runtime.clone(), args.handler())
        .memory_mb(args.memory.unwrap_or(if gcp { 256 } else { 128 }))
        .timeout_s(args.timeout.unwrap_or(match args.target.provider {
            Which::Gcp => 60,
            Which::Azure => 300,
            _ => 3,
        }));
    spec.aws.role_arn = args.role.clone();
    for (k, v) in &args.env {
        spec = spec.env(k, v);
    }
    for (k, v) in &args.secret_env {
        spec = spec.secret_env(k, v);
    }
    if let Some(file) = &args.targets {
        return deliver_to_targets(&args, file, spec).await;
    }
    let provider = args.target.connect().await?;
    spec.validate(&provider.info().limits)?;
    // A dry run writes nothing: its package goes to a temporary directory, removed at the end.
    let scratch = tempfile::tempdir()?;
    let out = match (&args.out, args.dry_run) {
        (_, true) => scratch.path().join(format!("{}.zip", args.function)),
        (Some(out), false) => out.clone(),
        (None, false) => PathBuf::from(format!("dist/{}.zip", args.function)),
    };
    let package = PackageBuilder::new(&args.src)
        .runtime(spec.runtime.clone())
        .handler(&spec.handler)
        .limits(provider.info().limits.package_limits())
        .output(&out)
        .build()
        .with_context(|| format!("packaging {}", args.src.display()))?;
    let label = args.alias.clone().or_else(|| args.slot.clone());
    let opts = DeployOptions {
        publish: args.publish || label.is_some(),
        label: label.clone(),
        keep_versions: args.keep_versions,
        dry_run: args.dry_run,
        description: String::new(),
    };
    let report = provider.deploy_package(&spec, &package, &opts).await?;
    if args.json {
        let v = serde_json::json!({
            "function": report.function,
            "provider": provider.info().name,
            "dry_run": report.dry_run,
            "change": report.change.to_string(),
            "created": report.change.created,
            "code_updated": report.change.code_updated,
            "config_updated": report.change.config_updated,
            "unchanged": report.change.is_noop(),
            "version": report.version.as_ref().map(|v| v.id.clone()),
            "alias": label,
            "alias_moved": report.label.is_some(),
            "code_sha256": report.code_sha256,
            "pruned": report.pruned,
            "plan": report.plan,
        });
        examples::say(&serde_json::to_string(&v)?);
    } else {
        if report.dry_run {
            examples::say("dry run: nothing was changed");
        }
        examples::say(report.plan.to_string().trim_end());
        examples::say(&format!("{}: {}", report.function, report.change));
        if let Some(v) = &report.version {
            examples::say(&format!("version {}", v.id));
        }
        if let (Some(alias), Some(v)) = (&label, &report.version) {
            examples::say(&format!("{alias} -> {}", v.id));
        }
        if !report.pruned.is_empty() {
            examples::say(&format!("pruned versions {}", report.pruned.join(", ")));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--targets`: the function, packaged once, to every target of the file.
async fn deliver_to_targets(args: &Args, file: &std::path::Path, spec: FunctionSpec) -> anyhow::Result<ExitCode> {
    use faas_core::fleet::{FleetOptions, deliver};
    let targets = examples::fleet::load(file, &args.target.state_dir).await?;
    let limits = targets[0].provider.info().limits;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("dist/{}.zip", args.function)));
    let package = PackageBuilder::new(&args.src)
        .runtime(spec.runtime.clone())
        .handler(&spec.handler)
        .limits(limits.package_limits())
        .output(&out)
        .build()
        .with_context(|| format!("packaging {}", args.src.display()))?;
    let label = args.alias.clone().or_else(|| args.slot.clone());
    let job = faas_core::DeployJob {
        spec,
        package,
        options: DeployOptions {
            publish: args.publish || label.is_some(),
            label,
            ..DeployOptions::default()
        },
    };
    let bars = std::sync::Arc::new(examples::fleet::Bars::new(args.json));
    let report = deliver(targets, vec![job], &FleetOptions::default(), bars).await?;
    if args.json {
        examples::say(&serde_json::to_string(&report)?);
    } else {
        examples::say(&report.to_string());
    }
    Ok(if report.converged() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
