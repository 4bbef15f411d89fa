//! What Cloud Functions (2nd gen) allows: its capability and quotas, and the rules for names,
//! labels and specs, checked before any call.

use std::collections::BTreeMap;

use faas_core::{Capability, Error, FunctionSpec, LabelModel, Limits, Result};
use faas_package::RuntimeFamily;

use crate::layout::is_version_tag;

/// What Cloud Functions (2nd gen) can do: immutable revisions as versions, traffic tags as
/// labels with weighted splits on the serving label in whole percents, no asynchronous
/// invoke, no log tail with the response (logs go to Cloud Logging), deletable revisions, no
/// inline packages, and records (a rollout's state and lease) as objects in the artifact
/// bucket with generation preconditions — which needs a bucket configured.
pub const CAPABILITY: Capability = Capability::new(LabelModel::TrafficTag)
    .weighted_versions(8)
    .metrics(true)
    .logs(true)
    .records(true)
    .whole_percent(true);

/// Environment variables Cloud Functions and Cloud Run set themselves.
pub const GCP_RESERVED_ENV: &[&str] = &[
    "PORT",
    "K_SERVICE",
    "K_REVISION",
    "K_CONFIGURATION",
    "FUNCTION_TARGET",
    "FUNCTION_SIGNATURE_TYPE",
];

/// Cloud Functions (2nd gen) quotas: 128 MiB–32 GiB, 1–3600 s for HTTP functions, 32 KiB of
/// environment, 63-character names, 500 MiB unzipped source.
pub const LIMITS: Limits = Limits {
    memory_mb: (128, 32_768),
    memory_step_mb: None,
    timeout_s: (1, 3600),
    env_total_bytes: 32 * 1024,
    reserved_env: GCP_RESERVED_ENV,
    name_max: 63,
    description_max: 4096,
    ephemeral_storage_mb: None,
    inline_zip_bytes: 0,
    unzipped_bytes: 500 * 1024 * 1024,
    // Cloud Run's HTTP/1 request size limit (32 MiB).
    payload_bytes: 32 * 1024 * 1024,
};

/// What GCP needs beyond the generic limits, checked before any call.
pub(crate) fn check_spec(spec: &FunctionSpec) -> Result<()> {
    spec.validate(&LIMITS)?;
    check_name(&spec.name)?;
    check_label_map("tags", &spec.tags)?;
    if spec.runtime.gcp_name().is_none() {
        return Err(Error::invalid(
            "runtime",
            &spec.runtime,
            "Cloud Functions has no custom runtimes: use python3xx, nodejsNN or ruby3x",
        ));
    }
    if spec.runtime.family() == RuntimeFamily::Python
        && let Some((module, _)) = spec.handler.rsplit_once('.')
        && module != "main"
    {
        return Err(Error::invalid(
            "handler",
            &spec.handler,
            "Cloud Functions loads Python functions from main.py: name the handler main.<function>",
        ));
    }
    Ok(())
}

/// Checks a function name against Cloud Functions' rules.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = (4..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(Error::invalid(
        "name",
        format!("{name:?}"),
        "a Cloud Functions name is 4–63 lowercase letters, digits and hyphens, starting with a letter",
    ))
}

/// Checks a label name against Cloud Run's tag rules and our reserved `vN` names.
pub(crate) fn check_label(label: &str) -> Result<()> {
    let ok = label.len() <= 46
        && label.starts_with(|c: char| c.is_ascii_lowercase())
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !label.ends_with('-');
    if !ok {
        return Err(Error::invalid(
            "label",
            label,
            "a GCP label is a Cloud Run traffic tag: 1–46 lowercase letters, digits and hyphens, starting with a letter",
        ));
    }
    if is_version_tag(label) {
        return Err(Error::invalid(
            "label",
            label,
            "tags vN name published versions here: choose another label name",
        ));
    }
    Ok(())
}

/// Checks GCP label keys and values (a spec's `tags`).
fn check_label_map(field: &str, map: &BTreeMap<String, String>) -> Result<()> {
    let ok_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    for (k, v) in map {
        if k.is_empty() || k.len() > 63 || !k.starts_with(|c: char| c.is_ascii_lowercase()) || !ok_chars(k) {
            return Err(Error::invalid(
                field,
                k,
                "GCP label keys are 1–63 lowercase letters, digits, _ and -, starting with a letter",
            ));
        }
        if v.len() > 63 || !ok_chars(v) {
            return Err(Error::invalid(
                field,
                format!("{k}={v}"),
                "GCP label values are at most 63 lowercase letters, digits, _ and -",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_checked() {
        assert!(check_label("live").is_ok());
        assert!(check_label("v3").is_err());
        assert!(check_label("Live").is_err());
    }

    #[test]
    fn gcp_rules_are_checked_before_any_call() {
        let ok = FunctionSpec::new("hello-fn", "python312".parse().unwrap(), "main.handle");
        assert!(check_spec(&ok).is_ok());
        let field = |s: FunctionSpec| match check_spec(&s) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(FunctionSpec {
                name: "Hello_Fn".into(),
                ..ok.clone()
            }),
            "name"
        );
        assert_eq!(
            field(FunctionSpec {
                handler: "app.handle".into(),
                ..ok.clone()
            }),
            "handler"
        );
        assert_eq!(field(ok.clone().memory_mb(65_536)), "memory_mb");
        let mut tagged = ok.clone();
        tagged.tags.insert("Team".into(), "x".into());
        assert_eq!(field(tagged), "tags");
        assert_eq!(
            field(FunctionSpec {
                runtime: "provided.al2023".parse().unwrap(),
                ..ok
            }),
            "runtime"
        );
    }
}
