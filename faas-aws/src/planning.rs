//! What Lambda reports against the spec: the provider-neutral view of a function, what
//! differs (split by the call that changes it), and the plan that carries it out.

use std::collections::HashMap;

use aws_sdk_lambda::types::{Architecture, FunctionConfiguration, PackageType};
use faas_core::{ArtifactRef, ConfigDiff, FunctionSpec, Plan, PlannedAction, diff_config_unknown_secrets};

use crate::lambda::{Observed, b64_to_hex};

pub(crate) fn arch_name(spec: &FunctionSpec) -> &'static str {
    spec.architecture.lambda_name()
}

/// The provider-neutral view of what Lambda reports; fields Lambda does not report are
/// taken from `desired` (or defaults), so they never show up as differences.
pub(crate) fn observed_spec(o: &Observed, desired: Option<&FunctionSpec>) -> FunctionSpec {
    let c = &o.config;
    let name = c.function_name().unwrap_or_default().to_string();
    let runtime = c
        .runtime()
        .and_then(|r| r.as_str().parse().ok())
        .or_else(|| desired.map(|d| d.runtime.clone()))
        .unwrap_or_else(|| {
            "provided.al2023"
                .parse()
                .unwrap_or_else(|_| unreachable!("known runtime"))
        });
    // An image function has no runtime or handler of its own: the image's are the spec's.
    let handler = match (c.handler(), desired) {
        (None, Some(d)) if is_image(c) => d.handler.clone(),
        (h, _) => h.unwrap_or_default().to_string(),
    };
    let mut spec = FunctionSpec::new(name, runtime, handler);
    spec.memory_mb = c.memory_size().unwrap_or(128) as u32;
    spec.timeout_s = c.timeout().unwrap_or(3) as u32;
    spec.description = c.description().unwrap_or_default().to_string();
    spec.environment = c
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    spec.architecture = match c.architectures().first() {
        Some(Architecture::Arm64) => faas_core::Architecture::Arm64,
        _ => faas_core::Architecture::X86_64,
    };
    spec.tags = o.tags.clone();
    spec.aws.role_arn = c.role().map(str::to_string);
    spec.aws.layers = c.layers().iter().filter_map(|l| l.arn().map(str::to_string)).collect();
    spec.aws.ephemeral_storage_mb = c.ephemeral_storage().map(|e| e.size() as u32);
    spec.aws.snap_start = crate::snapstart::enabled(c);
    if let Some(d) = desired {
        spec.secret_env = d.secret_env.clone();
        spec.gcp = d.gcp.clone();
        spec.azure = d.azure.clone();
    }
    spec
}

/// Whether the function runs a container image (`PackageType=Image`).
pub(crate) fn is_image(c: &FunctionConfiguration) -> bool {
    matches!(c.package_type(), Some(PackageType::Image))
}

/// What differs between the function and the spec, split by the call that changes it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Differences {
    pub code: bool,
    /// Fields UpdateFunctionConfiguration changes.
    pub config: Vec<ConfigDiff>,
    /// Architecture changes through UpdateFunctionCode.
    pub architecture: bool,
    pub tags_to_set: HashMap<String, String>,
    pub tags_to_remove: Vec<String>,
}

pub(crate) fn differences(o: &Observed, desired: &FunctionSpec, sha256: &str) -> Differences {
    let current = observed_spec(o, Some(desired));
    let code = o.config.code_sha256().map(b64_to_hex).as_deref() != Some(sha256);
    // Lambda keeps no record of which variables were secret: every old value is masked.
    let mut all = diff_config_unknown_secrets(&current, desired);
    let architecture = all.iter().any(|d| d.field == "architecture");
    let tags: Vec<ConfigDiff> = all.iter().filter(|d| d.field.starts_with("tags.")).cloned().collect();
    all.retain(|d| d.field != "architecture" && !d.field.starts_with("tags."));
    let mut cmp = |field: &str, from: String, to: String| {
        if from != to {
            all.push(ConfigDiff {
                field: field.into(),
                from: Some(from),
                to: Some(to),
            });
        }
    };
    if let Some(role) = &desired.aws.role_arn {
        cmp(
            "aws.role_arn",
            current.aws.role_arn.clone().unwrap_or_default(),
            role.clone(),
        );
    }
    cmp("aws.layers", current.aws.layers.join(","), desired.aws.layers.join(","));
    if let Some(mb) = desired.aws.ephemeral_storage_mb {
        cmp(
            "aws.ephemeral_storage_mb",
            current.aws.ephemeral_storage_mb.unwrap_or(512).to_string(),
            mb.to_string(),
        );
    }
    cmp(
        "aws.snap_start",
        current.aws.snap_start.to_string(),
        desired.aws.snap_start.to_string(),
    );
    let mut d = Differences {
        code,
        config: all,
        architecture,
        ..Differences::default()
    };
    for t in tags {
        let key = t.field.trim_start_matches("tags.").to_string();
        match t.to {
            Some(v) => {
                d.tags_to_set.insert(key, v);
            }
            None => d.tags_to_remove.push(key),
        }
    }
    d
}

/// What a plan read and decided: kept in the [`Plan`] so that applying it calls exactly what
/// was planned, against the revision that was read.
pub(crate) struct Planned {
    pub observed: Observed,
    pub differences: Differences,
}

/// The plan for a spec against what Lambda reports (`None`: the function does not exist).
pub(crate) fn plan(observed: Option<Observed>, desired: &FunctionSpec, artifact: &ArtifactRef) -> Plan {
    let Some(o) = observed else {
        return Plan::to_create(desired, &artifact.sha256);
    };
    let d = differences(&o, desired, &artifact.sha256);
    let mut actions = Vec::new();
    if d.code || d.architecture {
        actions.push(PlannedAction::UpdateCode {
            from: o.config.code_sha256().map(b64_to_hex).unwrap_or_default(),
            to: artifact.sha256.clone(),
        });
    }
    let mut diffs = d.config.clone();
    if d.architecture {
        diffs.push(ConfigDiff {
            field: "architecture".into(),
            from: o.config.architectures().first().map(|a| a.as_str().to_string()),
            to: Some(arch_name(desired).into()),
        });
    }
    for (k, v) in &d.tags_to_set {
        diffs.push(ConfigDiff {
            field: format!("tags.{k}"),
            from: o.tags.get(k).cloned(),
            to: Some(v.clone()),
        });
    }
    for k in &d.tags_to_remove {
        diffs.push(ConfigDiff {
            field: format!("tags.{k}"),
            from: o.tags.get(k).cloned(),
            to: None,
        });
    }
    if !diffs.is_empty() {
        diffs.sort_by(|a, b| a.field.cmp(&b.field));
        actions.push(PlannedAction::UpdateConfig { diffs });
    }
    let revision = o.config.revision_id().map(str::to_string);
    let mut plan = Plan::to_update(
        desired,
        &artifact.sha256,
        revision,
        Planned {
            observed: o,
            differences: d,
        },
    );
    for a in actions {
        plan.push(a);
    }
    plan
}
