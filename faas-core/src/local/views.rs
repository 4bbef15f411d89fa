//! The local provider's views of a function record (its deployment, its versions) and the
//! checks and plans made against one.

use super::LATEST;
use super::store::{FunctionRecord, Store, VersionRecord};
use crate::{
    DeployState, Deployment, Error, FunctionSpec, Plan, PlannedAction, ResourceKind, Result, Routing, Version,
    diff_config,
};

pub(super) fn missing_function(name: &str) -> Error {
    Error::not_found(ResourceKind::Function, name, Some("deploy it first".into()))
}

/// The version as callers see it, with the size of its artifact in `store` (`None` when the
/// artifact cannot be read).
pub(super) fn to_version(v: &VersionRecord, store: &Store) -> Version {
    let code_size = store
        .artifact_path(&v.code_sha256)
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    Version {
        id: v.id.clone(),
        code_sha256: v.code_sha256.clone(),
        description: v.description.clone(),
        code_size,
    }
}

pub(super) fn deployment(rec: &FunctionRecord) -> Deployment {
    Deployment {
        spec: rec.spec.clone(),
        code_sha256: rec.code_sha256.clone(),
        state: DeployState::Active,
        revision: Some(rec.revision.to_string()),
        url: None,
        version: LATEST.into(),
    }
}

/// The record's revision a plan was made against.
pub(super) struct Revision(pub(super) u64);

pub(super) fn plan_for(rec: Option<&FunctionRecord>, spec: &FunctionSpec, sha256: &str) -> Plan {
    let Some(rec) = rec else {
        return Plan::to_create(spec, sha256);
    };
    let mut plan = Plan::to_update(spec, sha256, Some(rec.revision.to_string()), Revision(rec.revision));
    if rec.code_sha256 != sha256 {
        plan.push(PlannedAction::UpdateCode {
            from: rec.code_sha256.clone(),
            to: sha256.to_string(),
        });
    }
    let mut diffs = diff_config(&rec.spec, spec);
    let (was, now) = (&rec.spec.aws, &spec.aws);
    for (field, from, to) in [
        (
            "aws.ephemeral_storage_mb",
            was.ephemeral_storage_mb,
            now.ephemeral_storage_mb,
        ),
        (
            "aws.reserved_concurrency",
            was.reserved_concurrency,
            now.reserved_concurrency,
        ),
    ] {
        if from != to {
            let show = |v: Option<u32>| Some(v.map_or("(unset)".to_string(), |v| v.to_string()));
            diffs.push(crate::ConfigDiff {
                field: field.into(),
                from: show(from),
                to: show(to),
            });
        }
    }
    if !diffs.is_empty() || rec.spec.secret_env != spec.secret_env {
        plan.push(PlannedAction::UpdateConfig { diffs });
    }
    plan
}

/// The versions a routing names exist, and `$LATEST` takes no part in a split (the weights
/// and names themselves were checked in front of the provider).
pub(super) fn check_routing(rec: &FunctionRecord, routing: &Routing) -> Result<()> {
    for v in routing.versions() {
        if v == LATEST {
            if !routing.weights.is_empty() {
                return Err(Error::invalid(
                    "routing",
                    v,
                    "$LATEST cannot take part in weighted routing: publish a version",
                ));
            }
            continue;
        }
        if !rec.versions.iter().any(|x| x.id == v) {
            return Err(Error::not_found(
                ResourceKind::Version,
                format!("{}:{v}", rec.spec.name),
                Some("publish it first".into()),
            ));
        }
    }
    Ok(())
}
