//! Rolls a label out to a new version gradually — canary or linear, CodeDeploy's names or
//! `canary:10%:30s` — gated on the new version's own metrics and the cloud's alarms, rolling
//! back by itself when a gate fires; and resumes, aborts or promotes a rollout another run
//! started (or left behind when it was killed).
//!
//! ```text
//! cargo run -p examples --example rollout -- --function hello --label live --version 7 \
//!     --strategy Canary10Percent5Minutes --alert 'error_rate>1%' [--min-invocations 20] \
//!     [--wait-for-traffic 10m] [--alarm NAME] [--pre-traffic cases.json] [--post-traffic cases.json] \
//!     [--dry-run] [--json] [--provider local|aws|gcp|azure]
//! cargo run -p examples --example rollout -- --function hello --label live --resume
//! cargo run -p examples --example rollout -- --function hello --label live --abort
//! cargo run -p examples --example rollout -- --function hello --label live --promote-now
//! ```
//!
//! Exit codes: 0 when the rollout succeeded (or a dry run, or a command, was done), 3 when it
//! rolled back, 4 when it was stopped with the traffic left split, 1 on an error (another
//! rollout holding the label included; with `--json`, one JSON object on stderr).
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use examples::Target;
use faas_core::observe::{AlertRule, parse_span};
use faas_core::rollout::{
    Gate, NotEnoughData, Rollout, RolloutEvent, RolloutPlan, RolloutReport, RolloutStatus, TestCaseHook,
};
use faas_core::testcase::TestCase;
use indicatif::{ProgressBar, ProgressStyle};

/// Roll a label out to a new version, gated on health. (`--version` is the function's
/// version, so the program's own has no flag.)
#[derive(Parser, Debug)]
#[command(about, disable_version_flag = true)]
struct Args {
    /// The function's name.
    #[arg(long)]
    function: String,
    /// The label whose traffic moves.
    #[arg(long)]
    label: String,
    /// The version to move to (not with --resume, --abort, --promote-now, --stop).
    #[arg(long, required_unless_present_any = ["resume", "abort", "promote_now", "stop"])]
    version: Option<String>,
    /// Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce, canary:10%:30s,
    /// linear:20%:10s, all-at-once.
    #[arg(long, default_value = "Canary10Percent5Minutes")]
    strategy: String,
    /// An alert rule on the new version's metrics (repeatable): `error_rate>1%`.
    #[arg(long = "alert")]
    alerts: Vec<String>,
    /// The fewest invocations of the new version a rule judges (default: the rule's own).
    #[arg(long)]
    min_invocations: Option<u64>,
    /// With too little traffic to judge, keep the step running up to this much longer
    /// (default: roll back at once).
    #[arg(long)]
    wait_for_traffic: Option<String>,
    /// A cloud alarm that must not be in ALARM (repeatable; AWS CloudWatch).
    #[arg(long = "alarm")]
    alarms: Vec<String>,
    /// Test cases (a JSON array, the pipeline's format) run on the new version before any
    /// traffic moves.
    #[arg(long)]
    pre_traffic: Option<PathBuf>,
    /// Test cases run after all traffic has moved.
    #[arg(long)]
    post_traffic: Option<PathBuf>,
    /// How often to check for commands and renew the lease.
    #[arg(long, default_value = "10s")]
    poll: String,
    /// Create the label when it does not exist.
    #[arg(long)]
    create_label: bool,
    /// Drop a split someone else left on the label before starting.
    #[arg(long)]
    repair: bool,
    /// Continue the label's rollout that a killed run left mid-way.
    #[arg(long, conflicts_with_all = ["abort", "promote_now", "stop", "dry_run"])]
    resume: bool,
    /// Stop the label's rollout and restore its starting routing.
    #[arg(long, conflicts_with_all = ["promote_now", "stop", "dry_run"])]
    abort: bool,
    /// Skip the remaining waits of the label's rollout.
    #[arg(long, conflicts_with_all = ["stop", "dry_run"])]
    promote_now: bool,
    /// Stop the label's rollout, leaving the traffic split.
    #[arg(long, conflicts_with = "dry_run")]
    stop: bool,
    /// Only show the schedule: nothing moves.
    #[arg(long)]
    dry_run: bool,
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
    let plan: RolloutPlan = args.strategy.parse()?;
    let mut gates = Vec::new();
    for text in &args.alerts {
        let mut rule: AlertRule = text.parse()?;
        if let Some(n) = args.min_invocations {
            rule.min_invocations = n;
        }
        gates.push(Gate::Alert(rule));
    }
    gates.extend(args.alarms.iter().cloned().map(Gate::Alarm));
    let poll = parse_span("poll", &args.poll)?;
    let policy = match &args.wait_for_traffic {
        Some(t) => NotEnoughData::WaitLonger {
            up_to: parse_span("wait-for-traffic", t)?,
            every: poll,
        },
        None => NotEnoughData::Fail,
    };
    let pre = args.pre_traffic.as_deref().map(cases).transpose()?;
    let post = args.post_traffic.as_deref().map(cases).transpose()?;
    let provider = args.target.connect().await?;
    let progress = Progress::new(args.json);
    let observer = |e: &RolloutEvent| progress.event(e);
    let version = args.version.clone().unwrap_or_default();
    let mut rollout = Rollout::new(provider.as_ref(), &args.function, &args.label, version, plan)
        .not_enough_data(policy)
        .poll_every(poll)
        .lease(poll * 6)
        .create_label(args.create_label)
        .repair_split(args.repair)
        .dry_run(args.dry_run)
        .observer(&observer);
    for g in gates {
        rollout = rollout.gate(g);
    }
    if let Some(c) = pre {
        rollout = rollout.pre_traffic(TestCaseHook(c));
    }
    if let Some(c) = post {
        rollout = rollout.post_traffic(TestCaseHook(c));
    }
    let report = if args.resume {
        rollout.resume().await?
    } else if args.abort {
        rollout.abort().await?
    } else if args.promote_now {
        rollout.promote_now().await?
    } else if args.stop {
        rollout.stop().await?
    } else {
        rollout.run().await?
    };
    progress.done();
    if args.json {
        examples::say(&serde_json::to_string(&report)?);
    } else {
        show(&report);
    }
    Ok(match report.status {
        RolloutStatus::RolledBack => ExitCode::from(3),
        RolloutStatus::Stopped => ExitCode::from(4),
        _ => ExitCode::SUCCESS,
    })
}

fn cases(path: &std::path::Path) -> anyhow::Result<Vec<TestCase>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: a JSON array of test cases", path.display()))
}

fn show(r: &RolloutReport) {
    examples::say(&r.summary());
    if r.dry_run {
        let mut at = Duration::ZERO;
        for s in &r.schedule {
            examples::say(&format!(
                "  +{:>6}s  {:>5.1}% to {}",
                at.as_secs(),
                s.percent,
                r.version
            ));
            at += s.wait;
        }
    }
    for s in &r.steps {
        examples::say(&format!(
            "  step {}: {}% from {}",
            s.index + 1,
            s.percent,
            examples::utc(s.started_ms)
        ));
        for g in &s.gates {
            examples::say(&format!("    {} — {} ({})", g.gate, g.verdict, g.detail));
        }
    }
    for h in &r.hooks {
        let verdict = if h.passed { "passed" } else { "FAILED" };
        examples::say(&format!("  hook {} {verdict}: {}", h.name, h.detail));
    }
    if let Some(f) = &r.failure {
        let figures = match (f.observed, f.threshold) {
            (Some(o), Some(t)) => format!(" (observed {o:.2}, threshold {t})"),
            _ => String::new(),
        };
        examples::say(&format!("  rolled back by {}: {}{figures}", f.gate, f.reason));
    }
    if let Some(routing) = &r.final_routing {
        examples::say(&format!("  {} now routes {}", r.label, routing));
    }
}

/// A progress bar per step (none with --json).
struct Progress {
    bar: Mutex<Option<ProgressBar>>,
    json: bool,
}

impl Progress {
    fn new(json: bool) -> Progress {
        Progress {
            bar: Mutex::new(None),
            json,
        }
    }

    fn event(&self, e: &RolloutEvent) {
        if self.json {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match e {
            RolloutEvent::StepStarted {
                index,
                percent,
                until_ms,
                routing,
            } => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                let wait = until_ms.saturating_sub(faas_core::observe::now_ms()) / 1000;
                let b = ProgressBar::new_spinner();
                b.set_style(
                    ProgressStyle::with_template(&format!("  {{spinner}} step {{msg}} {{elapsed}} of {wait}s"))
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b.set_message(format!("{}: {percent}% ({})", index + 1, routing));
                b.enable_steady_tick(Duration::from_secs(1));
                *bar = Some(b);
            }
            RolloutEvent::Gate(g) => {
                if let Some(b) = bar.as_ref() {
                    b.println(format!("    {} — {}", g.gate, g.verdict));
                }
            }
            RolloutEvent::RolledBack(f) => {
                if let Some(b) = bar.take() {
                    b.abandon_with_message(format!("rolled back: {}", f.gate));
                }
            }
            _ => {}
        }
    }

    fn done(&self) {
        if let Some(b) = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            b.finish_and_clear();
        }
    }
}
