//! What differs between a function as read and a spec: the code (by sha256) and each
//! configuration field, with the `updateMask` path a patch names for it.

use std::collections::BTreeMap;

use faas_core::{ConfigDiff, FunctionSpec};

use crate::resources::Function;
use crate::spec_mapping::{code_sha, entry_point, parse_memory, user_env, user_labels};

/// What a deploy would change: code, and the configuration fields with their mask paths.
#[derive(Debug, Clone, Default)]
pub(crate) struct Differences {
    /// The code's sha256, from → to.
    pub code: Option<(String, String)>,
    /// Each configuration field that differs, and its `updateMask` path.
    pub config: Vec<(ConfigDiff, &'static str)>,
}

impl Differences {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.code.is_none() && self.config.is_empty()
    }

    /// The `updateMask` of a patch that makes the change: every path, once, sorted.
    pub fn mask(&self) -> String {
        let mut paths: Vec<&str> = self.config.iter().map(|(_, p)| *p).collect();
        if self.code.is_some() {
            paths.extend(["buildConfig.source", "buildConfig.environmentVariables"]);
        }
        paths.sort_unstable();
        paths.dedup();
        paths.join(",")
    }
}

/// How the function's configuration differs from `spec`, and whether its code differs from `sha256`.
pub(crate) fn differences(f: &Function, spec: &FunctionSpec, sha256: &str) -> Differences {
    let mut d = Differences::default();
    let current = code_sha(f);
    if current != sha256 {
        d.code = Some((current, sha256.to_string()));
    }
    let mut diff = |field: &str, from: Option<String>, to: Option<String>, path: &'static str| {
        if from != to {
            d.config.push((
                ConfigDiff {
                    field: field.to_string(),
                    from,
                    to,
                },
                path,
            ));
        }
    };
    let build = &f.build_config;
    let service = &f.service_config;
    diff(
        "runtime",
        build.runtime.clone(),
        spec.runtime.gcp_name(),
        "buildConfig.runtime",
    );
    diff(
        "handler",
        build.entry_point.clone(),
        Some(entry_point(&spec.handler).to_string()),
        "buildConfig.entryPoint",
    );
    diff(
        "memory_mb",
        service
            .available_memory
            .as_deref()
            .and_then(parse_memory)
            .map(|m| m.to_string()),
        Some(spec.memory_mb.to_string()),
        "serviceConfig.availableMemory",
    );
    diff(
        "timeout_s",
        service.timeout_seconds.map(|t| t.to_string()),
        Some(spec.timeout_s.to_string()),
        "serviceConfig.timeoutSeconds",
    );
    let env = user_env(f);
    diff(
        "description",
        f.description.clone().filter(|d| !d.is_empty()),
        Some(spec.description.clone()).filter(|d| !d.is_empty()),
        "description",
    );
    let labels = user_labels(f);
    if labels != spec.tags {
        diff(
            "tags",
            Some(format!("{labels:?}")),
            Some(format!("{:?}", spec.tags)),
            "labels",
        );
    }
    if let Some(sa) = &spec.gcp.service_account {
        diff(
            "gcp.service_account",
            service.service_account_email.clone(),
            Some(sa.clone()),
            "serviceConfig.serviceAccountEmail",
        );
    }
    // Instance counts are compared only where the spec sets them (unset: the platform's choice).
    for (field, wanted, current, path) in [
        (
            "gcp.max_instances",
            spec.gcp.max_instances,
            service.max_instance_count,
            "serviceConfig.maxInstanceCount",
        ),
        (
            "gcp.min_instances",
            spec.gcp.min_instances,
            service.min_instance_count,
            "serviceConfig.minInstanceCount",
        ),
    ] {
        if let Some(n) = wanted {
            diff(field, current.map(|c| c.to_string()), Some(n.to_string()), path);
        }
    }
    if env != spec.environment {
        // Pushed directly: with secrets redacted, both sides can read the same.
        let mut to = env_text(Some(spec), &spec.environment);
        if spec.secret_env.iter().any(|k| env.get(k) != spec.environment.get(k)) {
            to.push_str(" (a secret value changed)");
        }
        d.config.push((
            ConfigDiff {
                field: "environment".into(),
                // Cloud Functions keeps no record of which old values were secret: mask them all.
                from: Some(env_text(None, &env)),
                to: Some(to),
            },
            "serviceConfig.environmentVariables",
        ));
    }
    d
}

/// `K=V,…` with secret values as `***`; `None`: which values are secret is unknown, so all are.
fn env_text(spec: Option<&FunctionSpec>, env: &BTreeMap<String, String>) -> String {
    env.iter()
        .map(|(k, v)| {
            let secret = spec.is_none_or(|s| s.is_secret(k));
            format!("{k}={}", if secret { faas_core::REDACTED } else { v })
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec_mapping::tests::{artifact, spec};
    use crate::spec_mapping::{function_body, observed_spec};

    #[test]
    fn unchanged_function_has_no_differences_and_changes_make_a_mask() {
        let artifact = artifact("gs://b/o.zip", "ab");
        let mut f = function_body("projects/p/locations/r/functions/hello", &spec(), &artifact, false).unwrap();
        // What Cloud Functions adds by itself.
        f.service_config
            .environment_variables
            .insert("LOG_EXECUTION_ID".into(), "true".into());
        f.labels.insert("goog-managed".into(), "x".into());
        f.service_config.available_memory = Some("256Mi".into());
        assert!(differences(&f, &spec(), &artifact.sha256).is_empty());
        let changed = spec().memory_mb(512).secret_env("TOKEN", "other");
        let d = differences(&f, &changed, &"cd".repeat(32));
        assert_eq!(
            d.mask(),
            "buildConfig.environmentVariables,buildConfig.source,serviceConfig.availableMemory,serviceConfig.environmentVariables"
        );
        let shown = format!("{:?}", d.config);
        assert!(!shown.contains("s3cr3t") && !shown.contains("other"), "{shown}");
        let seen = observed_spec(&f, "hello", Some(&spec()));
        assert!(
            faas_core::diff_config(&seen, &spec()).is_empty(),
            "{:?}",
            faas_core::diff_config(&seen, &spec())
        );
    }
}
