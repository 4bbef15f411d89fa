//! The rollout itself: take the lease, run the pre-traffic hooks, then each step — set the
//! traffic, wait (renewing the lease, taking commands), check the gates — then the
//! post-traffic hooks; roll back to the starting routing on the first failure.

use std::time::Duration;

use tokio::time::Instant;

use super::Rollout;
use super::gates::{self, GateResult, HookContext, HookPhase, HookResult, NotEnoughData};
use super::report::{Failure, RolloutEvent, RolloutReport, RolloutStatus, StepReport};
use super::state::{self, Command, Held, RolloutRecord};
use super::strategy::{RolloutPlan, Step};
use crate::observe::{TimeWindow, now_ms};
use crate::records::WriteCondition;
use crate::{Error, ResourceKind, Result, Routing};

/// What one run of the engine collects for the report.
struct Progress {
    steps: Vec<StepReport>,
    hooks: Vec<HookResult>,
    promote: bool,
}

pub(super) async fn run(r: Rollout<'_>) -> Result<RolloutReport> {
    r.check_input()?;
    let p = r.provider;
    // The state lives in a record: a provider without them says so (and why) here, before
    // anything else is read or changed.
    state::load(p, &r.function, &r.label).await?;
    let versions = p.list_versions(&r.function).await?;
    if !versions.iter().any(|v| v.id == r.version) {
        return Err(Error::not_found(
            ResourceKind::Version,
            format!("{}:{}", r.function, r.version),
            Some("publish it first; a rollout moves traffic to a published version".into()),
        )
        .with_provider(p.info().name));
    }
    if let Some(wait) = r.wait_for_lease {
        wait_until_free(&r, wait).await?;
    }
    let t = r.traffic()?;
    let starting = match t.starting().await? {
        Some(s) => Some(s),
        None if r.create_label => None,
        None => {
            return Err(Error::not_found(
                ResourceKind::Label,
                format!("{}@{}", r.function, r.label),
                Some("create it first, or ask the rollout to create it".into()),
            )
            .with_provider(p.info().name));
        }
    };
    if let Some(s) = &starting
        && !s.weights.is_empty()
        && !r.repair_split
    {
        // The split may be another rollout's, in which case that is what to report.
        if let Some((rec, _)) = state::load(p, &r.function, &r.label).await? {
            if rec.is_held(now_ms()) && r.wait_for_lease.is_none() {
                return Err(rec.held_error().with_provider(p.info().name));
            }
            if !rec.status.is_final() {
                return Err(rec.orphaned_error().with_provider(p.info().name));
            }
        }
        return Err(Error::conflict(
            format!("{}@{}", r.function, r.label),
            format!(
                "the label is already split ({} plus {:?}) by something other than a running rollout: \
                     repair it first (repair_split / --repair puts all traffic back on {})",
                s.primary, s.weights, s.primary
            ),
        )
        .with_provider(p.info().name));
    }
    gates::check_gates_possible(p, &r.function, t.measured(), &r.gates).await?;
    let schedule = schedule_for(&r.plan, starting.as_ref());
    let mut report = blank_report(&r, "(dry run)".into(), starting.clone(), &schedule);
    if r.dry_run {
        report.dry_run = true;
        return Ok(report);
    }
    if starting
        .as_ref()
        .is_some_and(|s| s.primary == r.version && s.weights.is_empty())
    {
        report.status = RolloutStatus::Succeeded;
        report.final_routing = starting;
        return Ok(report);
    }
    let mut held = acquire(&r, starting.clone()).await?;
    report.id = held.record.id.clone();
    if let (Some(s), true) = (&starting, r.repair_split)
        && !s.weights.is_empty()
    {
        let fixed = Routing::to(s.primary.clone());
        t.restore(Some(&fixed)).await?;
        held.record.starting_routing = Some(fixed.clone());
        report.starting_routing = Some(fixed);
        held.save(p).await?;
    }
    drive(&r, &mut held, report, false).await
}

/// The schedule: a label the rollout creates has nothing to split with, so all at once.
fn schedule_for(plan: &RolloutPlan, starting: Option<&Routing>) -> Vec<Step> {
    match starting {
        Some(_) => plan.schedule(),
        None => RolloutPlan::AllAtOnce.schedule(),
    }
}

pub(super) fn schedule_of(held: &Held) -> Vec<Step> {
    schedule_for(&held.record.plan, held.record.starting_routing.as_ref())
}

pub(super) fn blank_report(r: &Rollout<'_>, id: String, starting: Option<Routing>, schedule: &[Step]) -> RolloutReport {
    RolloutReport {
        id,
        function: r.function.clone(),
        label: r.label.clone(),
        version: r.version.clone(),
        plan: r.plan.clone(),
        status: RolloutStatus::Running,
        starting_routing: starting,
        final_routing: None,
        steps: Vec::new(),
        hooks: Vec::new(),
        failure: None,
        dry_run: false,
        schedule: schedule.to_vec(),
    }
}

pub(super) fn abort_failure(step: Option<usize>) -> Failure {
    Failure {
        gate: "abort".into(),
        reason: "aborted on request".into(),
        observed: None,
        threshold: None,
        step,
    }
}

/// Waits (up to `wait`) until no live runner holds the label's rollout.
async fn wait_until_free(r: &Rollout<'_>, wait: Duration) -> Result<()> {
    let give_up = Instant::now() + wait;
    loop {
        match state::load(r.provider, &r.function, &r.label).await? {
            Some((rec, _)) if rec.is_held(now_ms()) => {
                if Instant::now() >= give_up {
                    return Err(rec.held_error().with_provider(r.provider.info().name));
                }
                tokio::time::sleep(r.poll.min(give_up - Instant::now())).await;
            }
            _ => return Ok(()),
        }
    }
}

/// Creates the record and so takes the lease — or fails with `Conflict` naming who has it.
async fn acquire(r: &Rollout<'_>, starting: Option<Routing>) -> Result<Held> {
    let p = r.provider;
    let give_up = r.wait_for_lease.map(|w| Instant::now() + w);
    loop {
        let condition = match state::load(p, &r.function, &r.label).await? {
            None => WriteCondition::Absent,
            Some((rec, tag)) if rec.status.is_final() => WriteCondition::Matches(tag),
            Some((rec, _)) if rec.is_held(now_ms()) => match give_up {
                Some(t) if Instant::now() < t => {
                    tokio::time::sleep(r.poll.min(t - Instant::now())).await;
                    continue;
                }
                _ => return Err(rec.held_error().with_provider(p.info().name)),
            },
            Some((rec, _)) => return Err(rec.orphaned_error().with_provider(p.info().name)),
        };
        let now = now_ms();
        let record = RolloutRecord {
            id: format!("r-{now:x}-{:04x}", fastrand::u16(..)),
            function: r.function.clone(),
            label: r.label.clone(),
            version: r.version.clone(),
            plan: r.plan.clone(),
            gates: r.gates.clone(),
            starting_routing: starting.clone(),
            step: 0,
            step_started_ms: 0,
            deadline_ms: 0,
            started_ms: now,
            status: RolloutStatus::Running,
            holder: state::holder_id(),
            lease_until_ms: now + r.lease.as_millis() as u64,
            command: None,
            failure: None,
        };
        match state::store(p, &record, &condition).await {
            Ok(tag) => {
                return Ok(Held {
                    record,
                    tag,
                    lease: r.lease,
                });
            }
            // Someone else won the race for the record: say who.
            Err(Error::Conflict { .. }) => match state::load(p, &r.function, &r.label).await? {
                Some((rec, _)) if rec.is_held(now_ms()) && give_up.is_none() => {
                    return Err(rec.held_error().with_provider(p.info().name));
                }
                _ => continue,
            },
            Err(e) => return Err(e),
        }
    }
}

/// Runs the rollout from the held record's step to its end, rolling back on a failure or
/// on an error once traffic may have moved.
pub(super) async fn drive(
    r: &Rollout<'_>,
    held: &mut Held,
    report: RolloutReport,
    promote: bool,
) -> Result<RolloutReport> {
    let mut progress = Progress {
        steps: Vec::new(),
        hooks: Vec::new(),
        promote,
    };
    r.emit(RolloutEvent::Started {
        id: held.record.id.clone(),
        schedule: report.schedule.clone(),
        step: held.record.step,
    });
    let outcome = steps(r, held, &mut progress).await;
    let mut report = report;
    report.steps = progress.steps;
    report.hooks = progress.hooks;
    match outcome {
        Ok(None) => finish(r, held, report, RolloutStatus::Succeeded).await,
        Ok(Some(Outcome::Stopped)) => finish(r, held, report, RolloutStatus::Stopped).await,
        Ok(Some(Outcome::Failed(f))) => roll_back(r, held, report, f).await,
        // Another runner has the rollout now: touch nothing.
        Err(e @ Error::Conflict { .. }) => Err(e),
        Err(e) => {
            let f = Failure {
                gate: "error".into(),
                reason: e.to_string(),
                observed: None,
                threshold: None,
                step: Some(held.record.step),
            };
            tracing::warn!(error = %e, "rollout failed mid-way; rolling back");
            roll_back(r, held, report, f).await
        }
    }
}

enum Outcome {
    Failed(Failure),
    Stopped,
}

async fn steps(r: &Rollout<'_>, held: &mut Held, progress: &mut Progress) -> Result<Option<Outcome>> {
    let p = r.provider;
    let schedule = schedule_of(held);
    if held.record.step == 0
        && held.record.step_started_ms == 0
        && let Some(f) = hooks(r, HookPhase::PreTraffic, &r.pre_traffic, progress).await?
    {
        return Ok(Some(Outcome::Failed(f)));
    }
    let t = r.traffic()?;
    let old = held
        .record
        .starting_routing
        .as_ref()
        .map_or_else(|| r.version.clone(), |s| s.primary.clone());
    while held.record.step < schedule.len() {
        let index = held.record.step;
        let mut step = schedule[index];
        if progress.promote {
            step = *schedule.last().unwrap_or(&step);
        }
        let before = gates::check(p, &r.function, t.measured(), probe_window(held), &r.gates, index, true).await?;
        if let Some(f) = judge(&before, index) {
            return Ok(Some(Outcome::Failed(f)));
        }
        let resumed = held.record.step_started_ms > 0 && !progress.promote;
        if !resumed {
            held.record.step_started_ms = now_ms();
            held.record.deadline_ms = held.record.step_started_ms + step.wait.as_millis() as u64;
        }
        let routing = t.set(&old, step.percent).await?;
        held.save(p).await?;
        r.emit(RolloutEvent::StepStarted {
            index,
            percent: step.percent,
            routing,
            until_ms: held.record.deadline_ms,
        });
        let mut rep = StepReport {
            index,
            percent: step.percent,
            started_ms: held.record.step_started_ms,
            ended_ms: None,
            gates: before,
        };
        let verdict = wait_and_judge(r, held, index, step, &mut rep, progress).await;
        rep.ended_ms = Some(now_ms());
        progress.steps.push(rep);
        match verdict? {
            Some(o) => return Ok(Some(o)),
            None if step.percent >= 100.0 => break,
            None => {}
        }
        held.record.step = index + 1;
        held.record.step_started_ms = 0;
        held.save(p).await?;
    }
    if let Some(f) = hooks(r, HookPhase::PostTraffic, &r.post_traffic, progress).await? {
        return Ok(Some(Outcome::Failed(f)));
    }
    Ok(None)
}

/// Waits out a step (renewing the lease, taking commands), then checks its gates — longer,
/// when the policy allows, while they lack traffic.
async fn wait_and_judge(
    r: &Rollout<'_>,
    held: &mut Held,
    index: usize,
    step: Step,
    rep: &mut StepReport,
    progress: &mut Progress,
) -> Result<Option<Outcome>> {
    let p = r.provider;
    let mut extended = Duration::ZERO;
    loop {
        let remaining = Duration::from_millis(held.record.deadline_ms.saturating_sub(now_ms()));
        let until = Instant::now() + remaining;
        while !step.wait.is_zero() && Instant::now() < until {
            tokio::time::sleep(r.poll.min(until - Instant::now())).await;
            match held.poll(p).await? {
                Some(Command::Abort) => return Ok(Some(Outcome::Failed(abort_failure(Some(index))))),
                Some(Command::Stop) => return Ok(Some(Outcome::Stopped)),
                Some(Command::PromoteNow) => {
                    progress.promote = true;
                    return Ok(None);
                }
                None => {}
            }
        }
        if step.wait.is_zero() && step.percent >= 100.0 {
            return Ok(None);
        }
        let window = step_window(held);
        let results = gates::check(p, &r.function, r.traffic()?.measured(), window, &r.gates, index, false).await?;
        for g in &results {
            r.emit(RolloutEvent::Gate(g.clone()));
        }
        rep.gates.extend(results.iter().cloned());
        if let Some(f) = judge(&results, index) {
            return Ok(Some(Outcome::Failed(f)));
        }
        let Some(short) = results.iter().find(|g| g.lacks_data()) else {
            return Ok(None);
        };
        match r.not_enough_data {
            NotEnoughData::WaitLonger { up_to, every } if extended + every <= up_to => {
                extended += every;
                held.record.deadline_ms = now_ms() + every.as_millis() as u64;
                held.save(p).await?;
                r.emit(RolloutEvent::Extended {
                    index,
                    until_ms: held.record.deadline_ms,
                });
            }
            _ => {
                return Ok(Some(Outcome::Failed(Failure {
                    gate: short.gate.clone(),
                    reason: format!("not enough data: {} (waited {:?} longer)", short.detail, extended),
                    observed: short.invocations.map(|n| n as f64),
                    threshold: None,
                    step: Some(index),
                })));
            }
        }
    }
}

/// The first gate that fired (or could not be judged at all), as a failure.
fn judge(results: &[GateResult], index: usize) -> Option<Failure> {
    results
        .iter()
        .find(|g| !g.passed() && !g.lacks_data())
        .map(|g| Failure {
            gate: g.gate.clone(),
            reason: g.detail.clone(),
            observed: g.observed,
            threshold: g.threshold,
            step: Some(index),
        })
}

/// The window of the current step so far.
fn step_window(held: &Held) -> TimeWindow {
    let start = held.record.step_started_ms.max(1);
    let end = now_ms().max(start + 1);
    TimeWindow {
        start_ms: start,
        end_ms: end,
    }
}

/// The window alarms are read over before a step (only alarms are read there).
fn probe_window(held: &Held) -> TimeWindow {
    let end = now_ms().max(2);
    TimeWindow {
        start_ms: held.record.started_ms.min(end - 1),
        end_ms: end,
    }
}

async fn hooks(
    r: &Rollout<'_>,
    phase: HookPhase,
    list: &[std::sync::Arc<dyn super::Hook>],
    progress: &mut Progress,
) -> Result<Option<Failure>> {
    for h in list {
        let ctx = HookContext {
            provider: r.provider,
            function: &r.function,
            version: &r.version,
            label: &r.label,
            phase,
        };
        let (passed, detail) = match h.run(ctx).await {
            Ok(Ok(d)) => (true, d),
            Ok(Err(d)) => (false, d),
            Err(e) => (false, format!("the hook could not run: {e}")),
        };
        let result = HookResult {
            name: h.name(),
            phase,
            passed,
            detail: detail.clone(),
        };
        r.emit(RolloutEvent::Hook(result.clone()));
        progress.hooks.push(result);
        if !passed {
            let when = match phase {
                HookPhase::PreTraffic => "pre_traffic",
                HookPhase::PostTraffic => "post_traffic",
            };
            return Ok(Some(Failure {
                gate: format!("{when}:{}", h.name()),
                reason: detail,
                observed: None,
                threshold: None,
                step: None,
            }));
        }
    }
    Ok(None)
}

/// Puts the label back to its starting routing (removing it if the rollout created it) and
/// records why.
pub(super) async fn roll_back(
    r: &Rollout<'_>,
    held: &mut Held,
    mut report: RolloutReport,
    failure: Failure,
) -> Result<RolloutReport> {
    r.traffic()?.restore(held.record.starting_routing.as_ref()).await?;
    held.record.failure = Some(failure.clone());
    r.emit(RolloutEvent::RolledBack(failure.clone()));
    report.failure = Some(failure);
    finish(r, held, report, RolloutStatus::RolledBack).await
}

pub(super) async fn finish(
    r: &Rollout<'_>,
    held: &mut Held,
    mut report: RolloutReport,
    status: RolloutStatus,
) -> Result<RolloutReport> {
    held.record.status = status;
    held.record.command = None;
    held.save(r.provider).await?;
    report.status = status;
    report.final_routing = current_routing(r).await?;
    r.emit(RolloutEvent::Finished { status });
    Ok(report)
}

pub(super) async fn current_routing(r: &Rollout<'_>) -> Result<Option<Routing>> {
    r.traffic()?.current().await
}
