//! Steering a recorded rollout: resume one a dead runner left, and the commands
//! (promote now, abort, stop) — left in the record for a live runner, carried out here for a
//! dead one.

use std::time::Duration;

use tokio::time::Instant;

use super::Rollout;
use super::engine::{abort_failure, blank_report, current_routing, drive, finish, roll_back, schedule_of};
use super::report::{RolloutReport, RolloutStatus};
use super::state::{self, Command, Held, RolloutRecord};
use crate::observe::now_ms;
use crate::records::{RecordTag, WriteCondition};
use crate::{Error, ResourceKind, Result};

pub(super) async fn resume(mut r: Rollout<'_>) -> Result<RolloutReport> {
    let p = r.provider;
    let (record, tag) = existing(&r).await?;
    if record.status.is_final() {
        return Err(Error::invalid(
            "rollout",
            &record.id,
            format!(
                "it already ended ({}): there is nothing to resume",
                record.status.as_str()
            ),
        ));
    }
    if record.is_held(now_ms()) {
        return Err(record.held_error().with_provider(p.info().name));
    }
    adopt(&mut r, &record);
    r.check_input()?;
    let mut held = take_over(&r, record, tag).await?;
    let report = held_report(&r, &held);
    let promote = held.record.command == Some(Command::PromoteNow);
    held.record.command = None;
    drive(&r, &mut held, report, promote).await
}

pub(super) async fn command(mut r: Rollout<'_>, command: Command) -> Result<RolloutReport> {
    let p = r.provider;
    for _ in 0..5 {
        let (mut record, tag) = existing(&r).await?;
        adopt(&mut r, &record);
        let mut report = blank_report(&r, record.id.clone(), record.starting_routing.clone(), &[]);
        if record.status.is_final() {
            if command == Command::Abort && record.status == RolloutStatus::Stopped {
                let mut held = take_over(&r, record, tag).await?;
                return roll_back(&r, &mut held, report, abort_failure(None)).await;
            }
            report.status = record.status;
            report.failure = record.failure;
            report.final_routing = current_routing(&r).await?;
            return Ok(report);
        }
        if record.is_held(now_ms()) {
            // A live runner: leave it the command, then watch it act on it.
            record.command = Some(command);
            match state::store(p, &record, &WriteCondition::Matches(tag)).await {
                Ok(_) => return watch(&r, report).await,
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        r.check_input()?;
        let mut held = take_over(&r, record, tag).await?;
        let report = held_report(&r, &held);
        return match command {
            Command::Abort => {
                let step = Some(held.record.step);
                roll_back(&r, &mut held, report, abort_failure(step)).await
            }
            Command::PromoteNow => drive(&r, &mut held, report, true).await,
            Command::Stop => finish(&r, &mut held, report, RolloutStatus::Stopped).await,
        };
    }
    Err(Error::conflict(
        format!("{}@{}", r.function, r.label),
        "the rollout's record kept changing while the command was written: try again",
    ))
}

/// The report of a rollout taken over from its record.
fn held_report(r: &Rollout<'_>, held: &Held) -> RolloutReport {
    blank_report(
        r,
        held.record.id.clone(),
        held.record.starting_routing.clone(),
        &schedule_of(held),
    )
}

/// The label's rollout record, or `NotFound`.
pub(super) async fn existing(r: &Rollout<'_>) -> Result<(RolloutRecord, RecordTag)> {
    state::load(r.provider, &r.function, &r.label).await?.ok_or_else(|| {
        Error::not_found(
            ResourceKind::Rollout,
            format!("{}@{}", r.function, r.label),
            Some("no rollout of this label was ever started here".into()),
        )
        .with_provider(r.provider.info().name)
    })
}

/// Takes the version, plan and gates of a recorded rollout (gates given here are added).
pub(super) fn adopt(r: &mut Rollout<'_>, record: &RolloutRecord) {
    r.version = record.version.clone();
    r.plan = record.plan.clone();
    for g in &record.gates {
        if !r.gates.contains(g) {
            r.gates.push(g.clone());
        }
    }
}

/// Becomes the holder of a record whose runner is gone.
async fn take_over(r: &Rollout<'_>, mut record: RolloutRecord, tag: RecordTag) -> Result<Held> {
    record.holder = state::holder_id();
    record.lease_until_ms = now_ms() + r.lease.as_millis() as u64;
    let tag = state::store(r.provider, &record, &WriteCondition::Matches(tag)).await?;
    Ok(Held {
        record,
        tag,
        lease: r.lease,
    })
}

/// Waits for a live runner to act on a command, then reports how its rollout ended.
async fn watch(r: &Rollout<'_>, mut report: RolloutReport) -> Result<RolloutReport> {
    let give_up = Instant::now() + r.lease * 2;
    while Instant::now() < give_up {
        tokio::time::sleep(r.poll.min(Duration::from_secs(1))).await;
        let (record, _) = existing(r).await?;
        if record.status.is_final() {
            report.status = record.status;
            report.failure = record.failure;
            report.final_routing = current_routing(r).await?;
            return Ok(report);
        }
    }
    Err(Error::timeout(
        format!("rollout of {}@{}", r.function, r.label),
        r.lease * 2,
        "the runner took the command but has not finished acting on it",
    ))
}
