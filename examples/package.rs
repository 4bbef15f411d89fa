//! Packages a function's source directory into a reproducible zip.
//!
//! ```text
//! cargo run -p examples --example package -- <src-dir> --runtime python3.12 \
//!     --handler lambda_function.lambda_handler --out dist/function.zip [--json] [--no-cache]
//! ```
//!
//! Compressed entries are cached (`--cache-dir`, else `FAAS_PACKAGE_CACHE`, else the user's
//! cache directory), so a rebuild compresses only what changed; `--json` says how many
//! entries came from the cache (`reused`: of them, copied from the previous zip of the same
//! tree) and how many files were not even read.
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use faas_package::{Architecture, DependencyOptions, PackageBuilder, PackageLimits, Runtime};

/// Build a reproducible deployment zip from a source directory.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The directory holding the function's code.
    src: PathBuf,
    /// The runtime (python3.12, nodejs22.x, provided.al2023, python312 ...).
    #[arg(long)]
    runtime: Option<Runtime>,
    /// The handler (lambda_function.lambda_handler, index.handler); its file must be in the zip.
    #[arg(long)]
    handler: Option<String>,
    /// Where to write the zip (outside the source directory).
    #[arg(long, default_value = "dist/function.zip")]
    out: PathBuf,
    /// Print one JSON object on stdout instead of a summary.
    #[arg(long)]
    json: bool,
    /// Include the manifest (path, size, sha256 per file) in the JSON.
    #[arg(long)]
    manifest: bool,
    /// Do not install requirements.txt / package-lock.json dependencies.
    #[arg(long)]
    no_deps: bool,
    /// Target architecture for native dependencies.
    #[arg(long, value_parser = ["x86_64", "arm64"], default_value = "x86_64")]
    arch: String,
    /// Enforce Lambda's size limits (50 MB zipped, 250 MB unzipped).
    #[arg(long)]
    lambda_limits: bool,
    /// A cold build: neither the entry cache nor the stat index is used.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// The entry cache's directory (default: FAAS_PACKAGE_CACHE, else ~/.cache/faas/package).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => examples::fail(&e, json),
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut builder = PackageBuilder::new(&args.src).output(&args.out);
    if let Some(rt) = args.runtime.clone() {
        builder = builder.runtime(rt);
    }
    if let Some(h) = &args.handler {
        builder = builder.handler(h);
    }
    if args.lambda_limits {
        builder = builder.limits(PackageLimits::LAMBDA);
    }
    if args.no_cache {
        builder = builder.no_cache();
    }
    if let Some(dir) = &args.cache_dir {
        builder = builder.cache_dir(dir);
    }
    builder = builder.dependencies(DependencyOptions {
        enabled: !args.no_deps,
        architecture: if args.arch == "arm64" {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        },
        ..DependencyOptions::default()
    });
    let report = builder
        .build_report()
        .with_context(|| format!("packaging {}", args.src.display()))?;
    let (package, stats) = (&report.package, &report.stats);
    if args.json {
        let mut v = serde_json::json!({
            "path": package.path,
            "sha256": package.sha256,
            "code_sha256": package.code_sha256,
            "size": package.size,
            "unzipped_size": package.unzipped_size,
            "files": package.files,
            "cache": {
                "dir": report.cache_dir,
                "hits": stats.cache_hits,
                "misses": stats.cache_misses,
                "corrupt": stats.cache_corrupt,
                "files_unread": stats.files_unread,
                "reused": stats.reused,
                "written_bytes": stats.cache_written_bytes,
            },
        });
        if args.manifest {
            v["manifest"] = serde_json::to_value(&package.manifest)?;
        }
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string(&v)?);
        }
    } else {
        #[allow(clippy::print_stdout)]
        {
            println!(
                "{}\n  sha256       {}\n  code_sha256  {}\n  size         {} bytes ({} unzipped)\n  files        {}\n  cache        {}",
                package.path.display(),
                package.sha256,
                package.code_sha256,
                package.size,
                package.unzipped_size,
                package.files,
                match &report.cache_dir {
                    Some(dir) => format!(
                        "{} hits ({} copied from the previous zip), {} compressed, {} not read ({})",
                        stats.cache_hits,
                        stats.reused,
                        stats.cache_misses,
                        stats.files_unread,
                        dir.display()
                    ),
                    None => "off".to_string(),
                }
            );
        }
    }
    Ok(())
}
