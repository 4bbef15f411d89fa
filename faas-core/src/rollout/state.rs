//! A rollout's durable state — plan, step, starting routing, deadline — and its lease on the
//! label, kept as one record (`rollouts/<function>/<label>.json`) through the provider's
//! conditional writes: creating it needs no record there, every later write needs the one
//! last read, so of two runners only one ever holds the lease.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::gates::Gate;
use super::report::RolloutStatus;
use super::strategy::RolloutPlan;
use crate::observe::now_ms;
use crate::records::{RecordTag, WriteCondition};
use crate::{Error, Provider, Result, Routing};

/// A request made to a running rollout from elsewhere (another process's `--promote-now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Skip the remaining waits: all traffic to the new version now (post-traffic hooks run).
    PromoteNow,
    /// Roll back to the starting routing.
    Abort,
    /// Stop, leaving the traffic split as it is.
    Stop,
}

/// What is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RolloutRecord {
    pub id: String,
    pub function: String,
    pub label: String,
    pub version: String,
    pub plan: RolloutPlan,
    /// The gates, so a resumed rollout checks what the first runner checked.
    pub gates: Vec<Gate>,
    pub starting_routing: Option<Routing>,
    /// The step being run (its traffic set or about to be).
    pub step: usize,
    /// When the current step's traffic was set (Unix ms; 0 before).
    pub step_started_ms: u64,
    /// When the current step's wait ends (Unix ms).
    pub deadline_ms: u64,
    pub started_ms: u64,
    pub status: RolloutStatus,
    pub holder: String,
    pub lease_until_ms: u64,
    #[serde(default)]
    pub command: Option<Command>,
    /// Why it ended, when it ended badly.
    #[serde(default)]
    pub failure: Option<super::report::Failure>,
}

impl RolloutRecord {
    pub(crate) fn key(function: &str, label: &str) -> String {
        format!("rollouts/{function}/{label}.json")
    }

    /// Whether a live runner holds it.
    pub(crate) fn is_held(&self, now: u64) -> bool {
        !self.status.is_final() && self.lease_until_ms > now
    }

    /// `Conflict` naming the holder and its start.
    pub(crate) fn held_error(&self) -> Error {
        Error::conflict(
            format!("{}@{}", self.function, self.label),
            format!(
                "rollout {} of version {} by {} holds it (started {} ms ago, lease for {} ms more): \
                 wait for it, or stop it with abort",
                self.id,
                self.version,
                self.holder,
                now_ms().saturating_sub(self.started_ms),
                self.lease_until_ms.saturating_sub(now_ms()),
            ),
        )
    }

    /// `Conflict` for a rollout left mid-way by a runner that stopped renewing its lease.
    pub(crate) fn orphaned_error(&self) -> Error {
        Error::conflict(
            format!("{}@{}", self.function, self.label),
            format!(
                "rollout {} of version {} by {} was left at step {} (its lease ran out {} ms ago): \
                 resume it or abort it",
                self.id,
                self.version,
                self.holder,
                self.step,
                now_ms().saturating_sub(self.lease_until_ms),
            ),
        )
    }
}

/// The record and the tag of its last write, as one runner holds it.
#[derive(Debug)]
pub(crate) struct Held {
    pub record: RolloutRecord,
    pub tag: RecordTag,
    pub lease: Duration,
}

/// Reads the record of `function@label`, if any.
pub(crate) async fn load(p: &dyn Provider, function: &str, label: &str) -> Result<Option<(RolloutRecord, RecordTag)>> {
    let key = RolloutRecord::key(function, label);
    let Some(stored) = p.read_record(&key).await? else {
        return Ok(None);
    };
    let record: RolloutRecord = serde_json::from_slice(&stored.body).map_err(|e| {
        Error::other(
            "InvalidRecord",
            format!("rollout record {key} is not readable: {e}"),
            false,
        )
    })?;
    Ok(Some((record, stored.tag)))
}

/// Writes `record` under `condition`; a lost race is `Conflict`.
pub(crate) async fn store(p: &dyn Provider, record: &RolloutRecord, condition: &WriteCondition) -> Result<RecordTag> {
    let body = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::other("InvalidRecord", format!("rollout record: {e}"), false))?;
    p.write_record(&RolloutRecord::key(&record.function, &record.label), &body, condition)
        .await
}

impl Held {
    /// Writes the record (renewing the lease) if nobody else wrote it since — except a
    /// command left for this runner (another process's promote, abort or stop), which is
    /// kept for the next [`Held::poll`] and the write made again.
    pub(crate) async fn save(&mut self, p: &dyn Provider) -> Result<()> {
        loop {
            self.record.lease_until_ms = if self.record.status.is_final() {
                0
            } else {
                now_ms() + self.lease.as_millis() as u64
            };
            match store(p, &self.record, &WriteCondition::Matches(self.tag.clone())).await {
                Ok(tag) => {
                    self.tag = tag;
                    return Ok(());
                }
                Err(e @ Error::Conflict { .. }) => match load(p, &self.record.function, &self.record.label).await? {
                    Some((now, tag))
                        if now.id == self.record.id
                            && now.holder == self.record.holder
                            && now.command.is_some()
                            && self.record.command.is_none() =>
                    {
                        self.record.command = now.command;
                        self.tag = tag;
                    }
                    _ => return Err(lost(e, &self.record)),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the record again for a command from elsewhere, then renews the lease. A record
    /// someone else took over (or removed) means this runner lost it: `Conflict`.
    pub(crate) async fn poll(&mut self, p: &dyn Provider) -> Result<Option<Command>> {
        let Some((now, tag)) = load(p, &self.record.function, &self.record.label).await? else {
            return Err(lost(Error::conflict("rollout", "its record was removed"), &self.record));
        };
        if now.id != self.record.id || now.holder != self.record.holder {
            return Err(lost(
                Error::conflict("rollout", "another runner took it over"),
                &self.record,
            ));
        }
        let command = now.command;
        self.tag = tag;
        self.record.command = None;
        self.save(p).await?;
        Ok(command)
    }
}

fn lost(e: Error, r: &RolloutRecord) -> Error {
    match e {
        Error::Conflict { .. } => Error::conflict(
            format!("{}@{}", r.function, r.label),
            format!("rollout {} lost its lease (the record changed underneath): {e}", r.id),
        ),
        other => other,
    }
}

/// A holder id for this process: host, pid and a random part.
pub(crate) fn holder_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
}
