//! A simulated fleet: 2,000 functions (500 in each of 4 regions) delivered against a fake
//! Lambda control plane that throttles at Lambda's documented rates, with the adaptive
//! limiter (`fleet::deliver`) and with a fixed concurrency (`deploy_many`, the retry policy
//! alone), in the same run. Then an unchanged redeploy of the whole fleet.
//!
//! The rates (AWS Lambda Developer Guide, "Lambda quotas", API requests —
//! <https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>), per Region,
//! not increasable: GetFunction 100 requests per second; GetPolicy 15; every other control
//! plane API (CreateFunction, UpdateFunctionCode, PublishVersion, CreateAlias, GetAlias,
//! ListVersionsByFunction, GetFunctionConfiguration, ...) 15 together. A throttled call is a
//! 429 `TooManyRequestsException`; this fake sends no `Retry-After`, the harder case.
//!
//! Time is tokio's paused clock: every call takes a simulated 40 ms and a created function is
//! `Pending` for 2 s, and the figures are simulated seconds, so the run measures the
//! algorithm, not this machine. Run: `cargo bench -p faas-core --bench fleet`
//! (`FAAS_BENCH_FLEET=N` functions per region, default 500; `FAAS_BENCH_CONCURRENCY`, the
//! fixed run's concurrency and the adaptive run's ceiling, default 16).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use faas_core::fleet::{FleetEvent, FleetOptions, Limits, Target, deliver};
use faas_core::{
    ArtifactRef, Capability, DeployJob, DeployOptions, DeployOutcome, DeployState, Deployment, Error, FunctionSpec,
    Invocation, InvokeRequest, Label, Package, PackageBuilder, Plan, PlannedAction, Provider, ProviderBackend,
    ProviderInfo, PublishRequest, Qualifier, Result, RetryConfig, Routing, Version, deploy_many,
};
use tokio::time::Instant;

const LATENCY: Duration = Duration::from_millis(40);
const PENDING: Duration = Duration::from_secs(2);
/// Lambda's per-Region rates (see the module docs).
const GET_FUNCTION_RATE: f64 = 100.0;
const CONTROL_RATE: f64 = 15.0;

/// A token bucket holding one second of its rate.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct Function {
    spec: FunctionSpec,
    code: String,
    pending_until: Instant,
    versions: Vec<String>,
    aliases: BTreeMap<String, String>,
}

#[derive(Default)]
struct Counts {
    control_ok: AtomicU64,
    get_ok: AtomicU64,
    /// Of `control_ok`, the calls that change something.
    writes: AtomicU64,
    throttled: AtomicU64,
}

const WRITES: &[&str] = &[
    "CreateFunction",
    "UpdateFunctionCode",
    "PublishVersion",
    "UpdateAlias",
    "DeleteFunction",
    "DeleteAlias",
];

/// One Region of the fake control plane.
struct Region {
    functions: Mutex<BTreeMap<String, Function>>,
    get_bucket: Mutex<Bucket>,
    control_bucket: Mutex<Bucket>,
    counts: Counts,
    retry: RetryConfig,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Region")
    }
}

impl Region {
    fn new() -> Region {
        Region {
            functions: Mutex::default(),
            get_bucket: Mutex::new(Bucket::new(GET_FUNCTION_RATE)),
            control_bucket: Mutex::new(Bucket::new(CONTROL_RATE)),
            counts: Counts::default(),
            retry: RetryConfig::default(),
        }
    }

    /// One API call: its latency, its bucket, then `act` on the state; retried by the policy
    /// (which paces through the fleet's limiter when one is in scope).
    async fn call<T>(&self, api: &str, act: impl Fn(&mut BTreeMap<String, Function>) -> Result<T>) -> Result<T> {
        let get = api == "GetFunction";
        self.retry
            .retry(api, || async {
                tokio::time::sleep(LATENCY).await;
                let bucket = if get { &self.get_bucket } else { &self.control_bucket };
                if !bucket.lock().unwrap().take() {
                    self.counts.throttled.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::throttled(None, "Rate exceeded"));
                }
                let counter = if get {
                    &self.counts.get_ok
                } else {
                    &self.counts.control_ok
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if WRITES.contains(&api) {
                    self.counts.writes.fetch_add(1, Ordering::Relaxed);
                }
                act(&mut self.functions.lock().unwrap())
            })
            .await
    }
}

fn missing(name: &str) -> Error {
    Error::not_found(faas_core::ResourceKind::Function, name.to_string(), None)
}

fn deployment(f: &Function, version: &str, code: &str) -> Deployment {
    let state = if Instant::now() < f.pending_until {
        DeployState::Pending
    } else {
        DeployState::Active
    };
    Deployment {
        spec: f.spec.clone(),
        code_sha256: code.to_string(),
        state,
        revision: None,
        url: None,
        version: version.to_string(),
    }
}

#[async_trait]
impl ProviderBackend for Region {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new("simulated-lambda", Capability::LAMBDA, faas_core::Limits::LAMBDA)
    }

    async fn upload(&self, _function: &str, package: &Package) -> Result<ArtifactRef> {
        // S3 is not the bottleneck here: its latency only.
        tokio::time::sleep(LATENCY).await;
        Ok(ArtifactRef {
            uri: format!("s3://sim/{}.zip", package.sha256),
            sha256: package.sha256.clone(),
            size: package.size,
            local_path: None,
        })
    }

    async fn plan(&self, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<Plan> {
        let found = self.call("GetFunction", |fs| Ok(fs.get(&spec.name).cloned())).await?;
        Ok(match found {
            None => Plan::to_create(spec, &artifact.sha256),
            Some(f) => {
                let mut plan = Plan::to_update(spec, &artifact.sha256, None, ());
                if f.code != artifact.sha256 {
                    plan.push(PlannedAction::UpdateCode {
                        from: f.code.clone(),
                        to: artifact.sha256.clone(),
                    });
                }
                plan
            }
        })
    }

    async fn apply(&self, plan: &Plan, spec: &FunctionSpec, artifact: &ArtifactRef) -> Result<DeployOutcome> {
        let api = if plan.creates() {
            "CreateFunction"
        } else {
            "UpdateFunctionCode"
        };
        let sha = artifact.sha256.clone();
        self.call(api, |fs| {
            let f = fs.entry(spec.name.clone()).or_insert_with(|| Function {
                spec: spec.clone(),
                code: String::new(),
                pending_until: Instant::now(),
                versions: Vec::new(),
                aliases: BTreeMap::new(),
            });
            f.code = sha.clone();
            f.spec = spec.clone();
            f.pending_until = Instant::now() + PENDING;
            Ok(())
        })
        .await?;
        // The waiter: GetFunction until Active, as the AWS provider waits.
        let deployment = faas_core::PollPolicy::default()
            .poll("function active", || async {
                let f = self
                    .call("GetFunction", |fs| {
                        fs.get(&spec.name).cloned().ok_or_else(|| missing(&spec.name))
                    })
                    .await?;
                let d = deployment(&f, "$LATEST", &f.code);
                Ok(match d.state {
                    DeployState::Active => faas_core::PollStatus::Done(d),
                    _ => faas_core::PollStatus::Pending("State=Pending".into()),
                })
            })
            .await?;
        Ok(DeployOutcome {
            deployment,
            change: plan.change(),
        })
    }

    async fn get(&self, function: &str) -> Result<Deployment> {
        let f = self
            .call("GetFunction", |fs| {
                fs.get(function).cloned().ok_or_else(|| missing(function))
            })
            .await?;
        Ok(deployment(&f, "$LATEST", &f.code))
    }

    async fn get_qualified(&self, function: &str, qualifier: &Qualifier) -> Result<Deployment> {
        let q = qualifier.to_string();
        let f = self
            .call("GetFunction", |fs| {
                fs.get(function).cloned().ok_or_else(|| missing(function))
            })
            .await?;
        let version = f.aliases.get(&q).cloned().unwrap_or(q.clone());
        let code = f
            .versions
            .iter()
            .enumerate()
            .find(|(i, _)| (i + 1).to_string() == version)
            .map(|(_, c)| c.clone())
            .ok_or_else(|| missing(&format!("{function}:{q}")))?;
        Ok(deployment(&f, &version, &code))
    }

    async fn delete(&self, function: &str) -> Result<()> {
        self.call("DeleteFunction", |fs| {
            fs.remove(function).map(|_| ()).ok_or_else(|| missing(function))
        })
        .await
    }

    async fn publish(&self, function: &str, _request: &PublishRequest) -> Result<Version> {
        self.call("PublishVersion", |fs| {
            let f = fs.get_mut(function).ok_or_else(|| missing(function))?;
            // Lambda publishes nothing new when the code has not changed since the last one.
            if f.versions.last() != Some(&f.code) {
                f.versions.push(f.code.clone());
            }
            Ok(Version {
                id: f.versions.len().to_string(),
                code_sha256: f.code.clone(),
                description: String::new(),
                code_size: None,
            })
        })
        .await
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<Version>> {
        self.call("ListVersionsByFunction", |fs| {
            let f = fs.get(function).ok_or_else(|| missing(function))?;
            Ok(f.versions
                .iter()
                .enumerate()
                .map(|(i, c)| Version {
                    id: (i + 1).to_string(),
                    code_sha256: c.clone(),
                    description: String::new(),
                    code_size: None,
                })
                .collect())
        })
        .await
    }

    async fn delete_version(&self, _function: &str, _version: &str) -> Result<()> {
        Err(Error::other("Unsupported", "the simulation keeps versions", false))
    }

    async fn set_label(&self, function: &str, label: &str, routing: &Routing) -> Result<Label> {
        self.call("UpdateAlias", |fs| {
            let f = fs.get_mut(function).ok_or_else(|| missing(function))?;
            f.aliases.insert(label.to_string(), routing.primary.clone());
            Ok(Label {
                name: label.to_string(),
                routing: routing.clone(),
            })
        })
        .await
    }

    async fn get_label(&self, function: &str, label: &str) -> Result<Label> {
        self.call("GetAlias", |fs| {
            let f = fs.get(function).ok_or_else(|| missing(function))?;
            let v = f.aliases.get(label).ok_or_else(|| missing(label))?;
            Ok(Label {
                name: label.to_string(),
                routing: Routing::to(v),
            })
        })
        .await
    }

    async fn list_labels(&self, function: &str) -> Result<Vec<Label>> {
        self.call("ListAliases", |fs| {
            let f = fs.get(function).ok_or_else(|| missing(function))?;
            Ok(f.aliases
                .iter()
                .map(|(n, v)| Label {
                    name: n.clone(),
                    routing: Routing::to(v),
                })
                .collect())
        })
        .await
    }

    async fn delete_label(&self, function: &str, label: &str) -> Result<()> {
        self.call("DeleteAlias", |fs| {
            let f = fs.get_mut(function).ok_or_else(|| missing(function))?;
            f.aliases.remove(label).map(|_| ()).ok_or_else(|| missing(label))
        })
        .await
    }

    async fn invoke(&self, _function: &str, _qualifier: &Qualifier, _request: &InvokeRequest) -> Result<Invocation> {
        Err(Error::other("Unsupported", "the simulation runs no code", false))
    }
}

fn jobs(packages: &[Package]) -> Vec<DeployJob> {
    packages
        .iter()
        .enumerate()
        .map(|(i, package)| DeployJob {
            spec: FunctionSpec::new(format!("fn-{i}"), "python3.12".parse().unwrap(), "app.handler")
                .role("arn:aws:iam::123456789012:role/exec"),
            package: package.clone(),
            options: DeployOptions {
                publish: true,
                label: Some("live".into()),
                ..DeployOptions::default()
            },
        })
        .collect()
}

struct Figures {
    seconds: f64,
    converged: usize,
    control_ok: u64,
    get_ok: u64,
    writes: u64,
    throttled: u64,
}

fn figures(regions: &[Arc<Region>], seconds: f64, converged: usize) -> Figures {
    let sum = |f: fn(&Counts) -> u64| regions.iter().map(|r| f(&r.counts)).sum::<u64>();
    Figures {
        seconds,
        converged,
        control_ok: sum(|c| c.control_ok.load(Ordering::Relaxed)),
        get_ok: sum(|c| c.get_ok.load(Ordering::Relaxed)),
        writes: sum(|c| c.writes.load(Ordering::Relaxed)),
        throttled: sum(|c| c.throttled.load(Ordering::Relaxed)),
    }
}

fn print(name: &str, f: &Figures, regions: usize, total: usize) {
    // The binding limit: 15 control-plane calls a second in each Region.
    let limit = CONTROL_RATE * regions as f64 * f.seconds;
    println!(
        "  {name:<34} {:>8.1} s  {:>5}/{total} converged  {:>6} control calls ({:>5.1} % of the 15/s limit)  {:>6} GetFunction  {:>6} throttled",
        f.seconds,
        f.converged,
        f.control_ok,
        100.0 * f.control_ok as f64 / limit,
        f.get_ok,
        f.throttled
    );
}

async fn adaptive(regions: &[Arc<Region>], jobs: &[DeployJob], ceiling: usize) -> Figures {
    let targets: Vec<Target> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let provider: Arc<dyn Provider> = r.clone();
            Target::new(format!("region-{i}"), provider).limits(Limits::ceiling(ceiling))
        })
        .collect();
    let start = Instant::now();
    let report = deliver(
        targets,
        jobs.to_vec(),
        &FleetOptions::default(),
        Arc::new(|_: &FleetEvent<'_>| {}),
    )
    .await
    .unwrap();
    let converged = report.tally.delivered + report.tally.unchanged;
    figures(regions, start.elapsed().as_secs_f64(), converged)
}

async fn fixed(regions: &[Arc<Region>], jobs: &[DeployJob], concurrency: usize) -> Figures {
    let start = Instant::now();
    let runs = regions.iter().map(|r| {
        let provider: Arc<dyn Provider> = r.clone();
        deploy_many(provider, jobs.to_vec(), concurrency)
    });
    let results = futures::future::join_all(runs).await;
    let converged = results.iter().flatten().filter(|(_, r)| r.is_ok()).count();
    figures(regions, start.elapsed().as_secs_f64(), converged)
}

fn main() {
    let per_region: usize = std::env::var("FAAS_BENCH_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let concurrency: usize = std::env::var("FAAS_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let packages: Vec<Package> = (0..per_region)
        .map(|i| {
            let src = dir.path().join(format!("src-{i}"));
            std::fs::create_dir_all(&src).unwrap();
            std::fs::write(src.join("app.py"), format!("def handler(e, c):\n    return {i}\n")).unwrap();
            PackageBuilder::new(&src)
                .output(dir.path().join(format!("fn-{i}.zip")))
                .no_cache()
                .build()
                .unwrap()
        })
        .collect();
    let jobs = jobs(&packages);
    let total = per_region * 4;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "simulated fleet: {total} functions in 4 regions (create, wait Active, publish, alias), Lambda's rates (GetFunction 100/s, other control plane 15/s per Region), {LATENCY:?} a call, {PENDING:?} Pending; simulated time"
        );
        let fresh = || (0..4).map(|_| Arc::new(Region::new())).collect::<Vec<_>>();
        let regions = fresh();
        let a = adaptive(&regions, &jobs, concurrency).await;
        print(&format!("adaptive (ceiling {concurrency})"), &a, 4, total);
        let before = figures(&regions, 0.0, 0);
        let again = adaptive(&regions, &jobs, concurrency).await;
        let writes = again.writes - before.writes;
        let reads = (again.get_ok - before.get_ok) + (again.control_ok - before.control_ok) - writes;
        println!(
            "  unchanged redeploy (adaptive)      {:>8.1} s  {:>5}/{total} converged  {:.2} reads per function, {} writes, {} throttled",
            again.seconds,
            again.converged,
            reads as f64 / total as f64,
            writes,
            again.throttled - before.throttled
        );
        let regions = fresh();
        let f = fixed(&regions, &jobs, concurrency).await;
        print(&format!("fixed concurrency {concurrency} (deploy_many)"), &f, 4, total);
        println!(
            "  adaptive / fixed time: {:.2}×; throttled calls {} against {}",
            a.seconds / f.seconds,
            a.throttled,
            f.throttled
        );
    });
}
