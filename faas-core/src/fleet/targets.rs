//! Target files (feature `pipeline`): the YAML or JSON list of targets a fleet delivery goes
//! to, each a provider block of the pipeline files (the same keys, the same `auth` kinds, the
//! same builder config keys — see [`crate::pipeline::keys_markdown`]) plus a name and limits.
//!
//! ```yaml
//! - name: prod-us
//!   provider: aws
//!   region: us-east-1
//!   auth: { type: iam_role, role_arn: "arn:aws:iam::111111111111:role/deployer", external_id: ci }
//!   deployment: { bucket: artifacts-111111111111 }
//!   execution_role: "arn:aws:iam::111111111111:role/exec"   # AWS: each account's own
//!   ceiling: 16        # deliveries in flight at most (default 8)
//!   initial_rate: 10   # calls per second each API starts from (default 10)
//! - name: prod-eu
//!   provider: gcp
//!   project_id: my-project
//!   region: europe-west1
//!   auth: { type: default }
//! - name: laptop
//!   provider: local
//! ```
//!
//! A cloud target must say where (`region`; GCP also `project_id`; Azure `location` and
//! `subscription_id`) and how it authenticates (`auth`, `type: default` for the environment's
//! chain). Unknown providers and keys, missing ones, two targets of one name, a ceiling of 0:
//! typed errors naming the target (and `file:line:column`) before anything is built or
//! delivered. Values of `auth` never appear in errors or Debug output.
//!
//! ```
//! let file = "- name: a\n  provider: aws\n  region: us-east-1\n  auth: { type: default }\n";
//! let targets = faas_core::fleet::targets::parse("targets.yaml", file).unwrap();
//! assert_eq!(targets[0].name, "a");
//! assert_eq!(targets[0].config.as_ref().unwrap().get("region"), Some("us-east-1"));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Limits;
use crate::pipeline::ProviderConfig;
use crate::pipeline::blocks::{Locator, auth_kinds, find_key, translate_for};
use crate::{Error, Result};

/// The providers a target may name.
pub const PROVIDERS: &[&str] = &["aws", "gcp", "azure", "local"];

/// The keys a target has besides its provider block's.
const OWN_KEYS: &[&str] = &[
    "name",
    "provider",
    "ceiling",
    "initial_rate",
    "max_rate",
    "execution_role",
];

/// One target, as its file describes it: build its provider from `config` with the
/// provider crate's builder (`with_config` for each key, after `from_env()`).
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// Its name.
    pub name: String,
    /// `aws`, `gcp`, `azure` or `local`.
    pub provider: String,
    /// The builder keys (`None` for `local`).
    pub config: Option<ProviderConfig>,
    /// Its limits.
    pub limits: Limits,
    /// AWS: the execution role of every function delivered there (`execution_role:`).
    pub execution_role: Option<String>,
    /// Where it is written (`file:line:column`).
    pub at: String,
}

/// Reads a target file (YAML, or JSON, which is YAML): a list of targets, or a map with a
/// `targets:` list.
pub fn parse(file: &str, source: &str) -> Result<Vec<TargetSpec>> {
    let value: Value = crate::pipeline::config::from_yaml(file, source)?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut map) if map.contains_key("targets") => match map.remove("targets") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(Error::invalid(
                    format!("{file}: targets"),
                    "(not a list)",
                    "`targets:` must be a list",
                ));
            }
        },
        _ => {
            return Err(Error::invalid(
                file,
                "(not a list)",
                "a target file is a list of targets (`- name: ...`) or a map with a `targets:` list",
            ));
        }
    };
    if list.is_empty() {
        return Err(Error::invalid(file, "[]", "a target file names at least one target"));
    }
    let locator = Locator { file, source };
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    // Where each entry starts: its `name:` key, searched in order.
    let mut from = 0;
    for (i, entry) in list.into_iter().enumerate() {
        let Value::Object(map) = entry else {
            return Err(Error::invalid(
                format!("{file}: target {}", i + 1),
                "(not a map)",
                "each target is a map with name, provider, ...",
            ));
        };
        let name = match map.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
            _ => {
                return Err(Error::invalid(
                    format!("{file}: target {}", i + 1),
                    "(no name)",
                    "every target needs a `name:`",
                ));
            }
        };
        let start = find_key(&source[from..], "name").map_or(from, |o| from + o);
        from = start + "name:".len();
        let at = |path: &[&str]| locator.at_from(start, path);
        if !names.insert(name.clone()) {
            return Err(Error::invalid(
                format!("{}: targets.{name}", at(&[])),
                &name,
                "two targets have this name: give each target its own",
            ));
        }
        out.push(target(name, map, &at)?);
    }
    Ok(out)
}

fn target(name: String, mut map: serde_json::Map<String, Value>, at: &dyn Fn(&[&str]) -> String) -> Result<TargetSpec> {
    let field = |key: &str| format!("{}: targets.{name}.{key}", at(&[key]));
    let provider = match map.get("provider") {
        Some(Value::String(p)) if PROVIDERS.contains(&p.as_str()) => p.clone(),
        Some(other) => {
            return Err(Error::invalid(
                field("provider"),
                other.as_str().map(str::to_string).unwrap_or_else(|| other.to_string()),
                format!("unknown provider: one of {}", PROVIDERS.join(", ")),
            ));
        }
        None => {
            return Err(Error::invalid(
                field("provider"),
                "(unset)",
                format!("every target needs a provider: one of {}", PROVIDERS.join(", ")),
            ));
        }
    };
    let mut limits = Limits::default();
    if let Some(v) = map.get("ceiling") {
        limits.ceiling = v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::invalid(field("ceiling"), v, "must be a whole number of deliveries (≥ 1)"))?;
    }
    for (key, slot) in [
        ("initial_rate", &mut limits.initial_rate),
        ("max_rate", &mut limits.max_rate),
    ] {
        if let Some(v) = map.get(key) {
            *slot = v
                .as_f64()
                .ok_or_else(|| Error::invalid(field(key), v, "must be a number of calls per second"))?;
        }
    }
    if map.get("initial_rate").is_some() && map.get("max_rate").is_none() {
        limits.max_rate = limits.max_rate.max(limits.initial_rate);
    }
    limits.validate(&name).map_err(|e| match e {
        Error::InvalidInput {
            field: f,
            value,
            reason,
            ..
        } => {
            let key = f.rsplit('.').next().unwrap_or_default().to_string();
            Error::invalid(field(&key), value, reason)
        }
        other => other,
    })?;
    let execution_role = match map.get("execution_role") {
        None => None,
        Some(Value::String(r)) if provider == "aws" && r.starts_with("arn:") => Some(r.clone()),
        Some(v) if provider == "aws" => {
            return Err(Error::invalid(
                field("execution_role"),
                v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                "must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) in the target's account",
            ));
        }
        Some(_) => {
            return Err(Error::invalid(
                field("execution_role"),
                &provider,
                "execution_role is for aws targets (Lambda's execution role)",
            ));
        }
    };
    for key in OWN_KEYS {
        map.remove(*key);
    }
    let settings: BTreeMap<String, Value> = map.into_iter().collect();
    let target_at = at(&[]);
    if provider == "local" {
        if let Some(key) = settings.keys().next() {
            return Err(Error::invalid(
                field(key),
                key,
                "a local target takes only name, provider and limits (the local provider's state comes from the environment)",
            ));
        }
        return Ok(TargetSpec {
            name,
            provider,
            config: None,
            limits,
            execution_role,
            at: target_at,
        });
    }
    let required: &[&str] = match provider.as_str() {
        "aws" => &["region"],
        "gcp" => &["project_id", "region"],
        _ => &["subscription_id", "location"],
    };
    for key in required {
        if !settings
            .get(*key)
            .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
        {
            return Err(Error::invalid(
                field(key),
                "(unset)",
                format!("a {provider} target must say where it delivers: set `{key}`"),
            ));
        }
    }
    if !settings.contains_key("auth") {
        return Err(Error::invalid(
            field("auth"),
            "(unset)",
            format!(
                "a {provider} target must say how it authenticates: `auth: {{ type: ... }}`, one of {} (`default` for the environment's credential chain)",
                auth_kinds(&provider).join(", ")
            ),
        ));
    }
    let locate = |path: &[&str]| at(path);
    let config = translate_for(&provider, &settings, &locate)
        .ok_or_else(|| Error::invalid(field("provider"), &provider, "has no provider block"))?
        .map_err(|e| match e {
            // The block's errors are `file:line:column` and the key's path (never its value):
            // `aws_lambda_integration.auth.role_arn` → `targets.NAME.auth.role_arn`.
            Error::InvalidInput {
                field: f,
                value,
                reason,
                ..
            } => Error::invalid(
                f,
                value.replacen(&format!("{}.", block_name(&provider)), &format!("targets.{name}."), 1),
                reason,
            ),
            other => other,
        })?;
    Ok(TargetSpec {
        name,
        provider,
        config: Some(config),
        limits,
        execution_role,
        at: target_at,
    })
}

fn block_name(provider: &str) -> &'static str {
    crate::pipeline::blocks::block_of(provider).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(source: &str) -> (String, String) {
        match parse("targets.yaml", source) {
            Err(Error::InvalidInput { field, reason, .. }) => (field, reason),
            other => panic!("expected an error for {source:?}: {other:?}"),
        }
    }

    #[test]
    fn two_aws_accounts_and_a_gcp_project() {
        let file = r#"
- name: prod-a
  provider: aws
  region: us-east-1
  auth: { type: iam_role, role_arn: "arn:aws:iam::111111111111:role/deployer", external_id: "s3cr3t-ext" }
  execution_role: "arn:aws:iam::111111111111:role/exec"
  ceiling: 4
- name: prod-b
  provider: aws
  region: eu-west-1
  auth: { type: iam_role, role_arn: "arn:aws:iam::222222222222:role/deployer" }
- name: gcp-eu
  provider: gcp
  project_id: p
  region: europe-west1
  auth: { type: default }
  initial_rate: 20
"#;
        let t = parse("targets.yaml", file).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].limits.ceiling, 4);
        assert_eq!(
            t[0].execution_role.as_deref(),
            Some("arn:aws:iam::111111111111:role/exec")
        );
        let a = t[0].config.as_ref().unwrap();
        assert_eq!(a.get("role_arn"), Some("arn:aws:iam::111111111111:role/deployer"));
        assert_eq!(a.get("external_id"), Some("s3cr3t-ext"));
        assert!(!format!("{a:?}").contains("s3cr3t-ext"), "Debug masks auth values");
        assert_eq!(t[1].config.as_ref().unwrap().get("region"), Some("eu-west-1"));
        assert_eq!(t[2].limits.initial_rate, 20.0);
        assert_eq!(t[2].config.as_ref().unwrap().get("project"), Some("p"));
        assert!(t[1].at.starts_with("targets.yaml:8:"), "{}", t[1].at);
    }

    #[test]
    fn json_lists_and_a_targets_map_are_read_too() {
        let json = r#"[{"name": "l", "provider": "local"}]"#;
        assert_eq!(parse("t.json", json).unwrap()[0].provider, "local");
        let map = "targets:\n  - name: l\n    provider: local\n";
        assert_eq!(parse("t.yaml", map).unwrap()[0].name, "l");
    }

    #[test]
    fn bad_targets_are_named() {
        let aws = "  region: us-east-1\n  auth: { type: default }\n";
        let (f, r) = err(&format!("- name: a\n  provider: openwhisk\n{aws}"));
        assert!(
            f.ends_with("targets.a.provider") && f.starts_with("targets.yaml:2:"),
            "{f}"
        );
        assert!(r.contains("unknown provider"), "{r}");
        let (f, r) = err("- name: a\n  provider: aws\n  auth: { type: default }\n");
        assert!(
            f.ends_with("targets.a.region") && r.contains("set `region`"),
            "{f}: {r}"
        );
        let (f, r) = err("- name: a\n  provider: aws\n  region: us-east-1\n");
        assert!(f.ends_with("targets.a.auth") && r.contains("iam_role"), "{f}: {r}");
        let (f, r) = err(&format!(
            "- name: a\n  provider: aws\n{aws}- name: a\n  provider: aws\n{aws}"
        ));
        assert!(f.contains("targets.a") && r.contains("two targets"), "{f}: {r}");
        assert!(f.starts_with("targets.yaml:5:"), "the second one is named: {f}");
        let (f, r) = err(&format!("- name: a\n  provider: aws\n{aws}  ceiling: 0\n"));
        assert!(f.ends_with("targets.a.ceiling") && r.contains("at least 1"), "{f}: {r}");
        let e = parse("t.yaml", &format!("- name: a\n  provider: aws\n{aws}  regoin: x\n")).unwrap_err();
        assert!(e.to_string().contains("targets.a.regoin"), "{e}");
        let (f, _) = err("- name: g\n  provider: gcp\n  region: r\n  auth: { type: default }\n");
        assert!(f.ends_with("targets.g.project_id"), "{f}");
        let (f, _) = err("- name: z\n  provider: azure\n  subscription_id: s\n  auth: { type: default }\n");
        assert!(f.ends_with("targets.z.location"), "{f}");
        let (f, r) = err("- name: l\n  provider: local\n  execution_role: arn:aws:iam::1:role/x\n");
        assert!(
            f.ends_with("targets.l.execution_role") && r.contains("aws targets"),
            "{f}: {r}"
        );
        let (f, _) = err(&format!("- name: a\n  provider: aws\n{aws}  execution_role: exec\n"));
        assert!(f.ends_with("targets.a.execution_role"), "{f}");
        let (f, _) = err("- provider: local\n");
        assert!(f.contains("target 1"), "{f}");
        let (f, _) = err("[]");
        assert_eq!(f, "targets.yaml");
    }

    #[test]
    fn a_secret_in_a_bad_target_is_never_quoted() {
        let file = "- name: a\n  provider: aws\n  region: us-east-1\n  auth: { type: access_key, access_key_id: AKIAEXAMPLE, secret_access_key: 1234567890 }\n";
        let e = parse("t.yaml", file).unwrap_err();
        let text = format!("{e} {e:?} {}", e.to_json());
        assert!(!text.contains("1234567890"), "{text}");
        assert!(text.contains("targets.a.auth.secret_access_key"), "{text}");
    }
}
