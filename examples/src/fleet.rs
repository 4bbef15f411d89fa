//! The deploy example's `--targets FILE`: a target file's targets built through each
//! provider's builder, and a fleet delivery shown as one progress bar per target.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use faas_core::fleet::targets::{TargetSpec, parse};
use faas_core::fleet::{FleetEvent, FleetObserver, Target};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reads `path` and builds every target's provider: clouds from their keys (after the
/// builder's `from_env()`, so emulator endpoints still apply), `local` under
/// `{state_dir}/{target name}`. Nothing is delivered if any target is refused.
pub async fn load(path: &Path, state_dir: &Path) -> anyhow::Result<Vec<Target>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let specs = parse(&path.display().to_string(), &text)?;
    let mut targets = Vec::new();
    for spec in specs {
        targets.push(
            build(&spec, state_dir)
                .await
                .with_context(|| format!("target {} ({})", spec.name, spec.at))?,
        );
    }
    Ok(targets)
}

async fn build(spec: &TargetSpec, state_dir: &Path) -> anyhow::Result<Target> {
    let provider: Arc<dyn faas_core::Provider> = match spec.provider.as_str() {
        "local" => Arc::new(
            faas_core::local::LocalProvider::builder()
                .state_dir(state_dir.join(&spec.name))
                .build()?,
        ),
        cloud => crate::blocks::build(cloud, spec.config.as_ref()).await?.provider,
    };
    let mut target = Target::new(&spec.name, provider).limits(spec.limits);
    target.execution_role = spec.execution_role.clone();
    Ok(target)
}

/// One bar per target: functions done of all, the last outcome as its message.
pub struct Bars {
    multi: MultiProgress,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on stderr (hidden with `--json`, and when stderr is not a terminal).
    pub fn new(json: bool) -> Bars {
        let target = if json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            bars: std::sync::Mutex::default(),
        }
    }

    fn bar(&self, target: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(target).cloned()
    }
}

impl FleetObserver for Bars {
    fn event(&self, e: &FleetEvent<'_>) {
        match e {
            FleetEvent::TargetStarted { target, functions } => {
                let bar = self.multi.add(ProgressBar::new(*functions as u64));
                if let Ok(style) = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} {msg}") {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(target.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(target.to_string(), bar);
                }
            }
            FleetEvent::Started { target, function } => {
                if let Some(bar) = self.bar(target) {
                    bar.set_message(format!("{function}…"));
                }
            }
            FleetEvent::Finished {
                target,
                function,
                outcome,
            } => {
                if let Some(bar) = self.bar(target) {
                    bar.inc(1);
                    bar.set_message(format!("{function}: {}", outcome.name()));
                }
            }
            FleetEvent::TargetFinished { report } => {
                if let Some(bar) = self.bar(&report.target) {
                    bar.finish_with_message(format!(
                        "{} delivered, {} unchanged, {} failed",
                        report.tally.delivered, report.tally.unchanged, report.tally.failed
                    ));
                }
            }
            _ => {}
        }
    }
}
