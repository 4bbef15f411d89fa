//! Provider blocks (`aws_lambda_integration`, `gcp_functions_integration`,
//! `azure_functions_integration`) translated to their builders' config keys.
//!
//! faas-core cannot build the cloud providers (they depend on it), so a block becomes a
//! [`ProviderConfig`]: the provider's name and the `(key, value)` pairs its builder's
//! `with_config` takes (`AwsBuilder`, `GcpBuilder`, `AzureBuilder` document theirs). Every
//! key a block may hold is in the tables below; any other key, a value of the wrong type, or
//! an `auth.type` the block does not take is an error naming `file:line:column` and the key —
//! never the value, which may be a secret.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::{Error, Result};

/// The builtin provider names a step's `provider:` may give, with their blocks.
pub const BLOCKS: &[(&str, &str)] = &[
    ("aws", "aws_lambda_integration"),
    ("gcp", "gcp_functions_integration"),
    ("azure", "azure_functions_integration"),
];

/// The block of a builtin provider name (`aws` → `aws_lambda_integration`).
pub fn block_of(provider: &str) -> Option<&'static str> {
    BLOCKS.iter().find(|(p, _)| *p == provider).map(|(_, b)| *b)
}

/// One block's keys: its path in the block (`deployment.bucket`) and the builder key.
type Keys = &'static [(&'static str, &'static str)];

/// One `auth.type` a block takes: its name, the builder's `auth` value (none: the keys alone
/// say it), and the `auth.*` keys it reads.
struct AuthKind {
    name: &'static str,
    builder_value: Option<&'static str>,
    keys: Keys,
    /// The `auth.*` keys it cannot do without.
    required: &'static [&'static str],
}

struct BlockTable {
    provider: &'static str,
    block: &'static str,
    keys: Keys,
    /// Sub-blocks other parts of the pipeline read (`monitoring`): accepted, not passed on.
    read_elsewhere: &'static [&'static str],
    auth: &'static [AuthKind],
}

const AWS: BlockTable = BlockTable {
    provider: "aws",
    block: "aws_lambda_integration",
    keys: &[
        ("region", "region"),
        ("profile", "profile"),
        ("endpoint_url", "endpoint_url"),
        ("deployment.bucket", "bucket"),
        ("deployment.prefix", "prefix"),
    ],
    read_elsewhere: &["monitoring"],
    auth: &[
        AuthKind {
            name: "access_key",
            builder_value: None,
            keys: &[
                ("access_key_id", "access_key_id"),
                ("secret_access_key", "secret_access_key"),
                ("session_token", "session_token"),
            ],
            required: &["access_key_id", "secret_access_key"],
        },
        AuthKind {
            name: "iam_role",
            builder_value: None,
            keys: &[
                ("role_arn", "role_arn"),
                ("external_id", "external_id"),
                ("session_name", "session_name"),
                ("duration_seconds", "role_duration_s"),
            ],
            required: &["role_arn"],
        },
        AuthKind {
            name: "web_identity",
            builder_value: Some("web_identity"),
            keys: &[
                ("role_arn", "role_arn"),
                ("web_identity_token_file", "web_identity_token_file"),
                ("session_name", "session_name"),
                ("duration_seconds", "role_duration_s"),
            ],
            required: &["role_arn"],
        },
        AuthKind {
            name: "github_oidc",
            builder_value: Some("github_oidc"),
            keys: &[
                ("role_arn", "role_arn"),
                ("audience", "audience"),
                ("session_name", "session_name"),
                ("duration_seconds", "role_duration_s"),
            ],
            required: &["role_arn"],
        },
        AuthKind {
            name: "default",
            builder_value: None,
            keys: &[],
            required: &[],
        },
    ],
};

const GCP: BlockTable = BlockTable {
    provider: "gcp",
    block: "gcp_functions_integration",
    keys: &[
        ("project_id", "project"),
        ("region", "region"),
        ("deployment.bucket", "bucket"),
        ("deployment.prefix", "prefix"),
    ],
    read_elsewhere: &[],
    auth: &[
        AuthKind {
            name: "service_account",
            builder_value: None,
            keys: &[("key_file", "key_file"), ("credentials_file", "key_file")],
            required: &[],
        },
        AuthKind {
            name: "external_account",
            builder_value: None,
            keys: &[("credentials_file", "external_account_file")],
            required: &["credentials_file"],
        },
        AuthKind {
            name: "github_oidc",
            builder_value: Some("github_oidc"),
            keys: &[
                ("workload_identity_provider", "workload_identity_provider"),
                ("service_account", "service_account"),
            ],
            required: &["workload_identity_provider"],
        },
        AuthKind {
            name: "default",
            builder_value: None,
            keys: &[],
            required: &[],
        },
    ],
};

const AZURE: BlockTable = BlockTable {
    provider: "azure",
    block: "azure_functions_integration",
    keys: &[
        ("subscription_id", "subscription"),
        ("tenant_id", "tenant_id"),
        ("resource_group", "resource_group"),
        ("storage_account", "storage_account"),
        ("location", "location"),
        ("function_app", "app"),
        ("hosting", "hosting"),
        ("plan", "plan"),
        ("deployment.method", "deploy_method"),
        ("deployment.container", "container"),
    ],
    read_elsewhere: &[],
    auth: &[
        AuthKind {
            name: "service_principal",
            builder_value: Some("client_secret"),
            keys: &[
                ("client_id", "client_id"),
                ("client_secret", "client_secret"),
                ("tenant_id", "tenant_id"),
            ],
            required: &["client_id", "client_secret"],
        },
        AuthKind {
            name: "workload_identity",
            builder_value: Some("workload_identity"),
            keys: &[
                ("client_id", "client_id"),
                ("tenant_id", "tenant_id"),
                ("federated_token_file", "federated_token_file"),
            ],
            required: &[],
        },
        AuthKind {
            name: "github_oidc",
            builder_value: Some("github_oidc"),
            keys: &[
                ("client_id", "client_id"),
                ("tenant_id", "tenant_id"),
                ("audience", "audience"),
            ],
            required: &["client_id"],
        },
        AuthKind {
            name: "managed_identity",
            builder_value: Some("managed_identity"),
            keys: &[("client_id", "client_id")],
            required: &[],
        },
        AuthKind {
            name: "default",
            builder_value: None,
            keys: &[],
            required: &[],
        },
        AuthKind {
            name: "azure_cli",
            builder_value: Some("azure_cli"),
            keys: &[],
            required: &[],
        },
    ],
};

const TABLES: [&BlockTable; 3] = [&AWS, &GCP, &AZURE];

/// A provider block as builder config keys: apply [`ProviderConfig::keys`] with the builder's
/// `with_config`, in order, after `from_env()` (so endpoint overrides in the environment
/// still apply). Debug output masks every value from `auth`.
#[derive(Clone)]
pub struct ProviderConfig {
    /// `aws`, `gcp` or `azure`.
    pub provider: &'static str,
    /// The block it came from (`aws_lambda_integration`).
    pub block: &'static str,
    /// `(builder key, value, where the key is written)`.
    pub keys: Vec<ConfigKey>,
}

/// One builder setting from a block.
#[derive(Clone)]
pub struct ConfigKey {
    /// The builder's key (`bucket`).
    pub key: String,
    /// The value, after `${VAR}` interpolation.
    pub value: String,
    /// The key in the block (`aws_lambda_integration.deployment.bucket`).
    pub path: String,
    /// `file:line:column` of the key.
    pub at: String,
    /// Whether it came from `auth` (masked in Debug).
    pub secret: bool,
}

impl fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret { "***" } else { self.value.as_str() };
        write!(f, "{}={value:?} ({})", self.key, self.path)
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("provider", &self.provider)
            .field("block", &self.block)
            .field("keys", &self.keys)
            .finish()
    }
}

impl ProviderConfig {
    /// The value of a builder key, if the block sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.iter().find(|k| k.key == key).map(|k| k.value.as_str())
    }

    /// An error from the builder for `key`, placed at the line that set it: the builder's
    /// reason, with the block key and `file:line:column` — never the value.
    pub fn locate(&self, key: &str, reason: impl fmt::Display) -> Error {
        match self.keys.iter().find(|k| k.key == key) {
            Some(k) => Error::invalid(format!("{} ({})", k.at, k.path), "(see the file)", reason.to_string()),
            None => Error::invalid(self.block, "(block)", reason.to_string()),
        }
    }
}

/// Where a key of a block is written, found by walking its path through the text.
pub(crate) struct Locator<'a> {
    pub file: &'a str,
    pub source: &'a str,
}

impl Locator<'_> {
    /// `file:line:column` of `block.a.b` (the last segment found on the way down).
    pub(crate) fn at(&self, block: &str, path: &[&str]) -> String {
        match self.source.find(&format!("{block}:")) {
            Some(o) => self.at_from(o, path),
            None => self.file.to_string(),
        }
    }

    /// `file:line:column` of `a.b` in the map that starts at byte `offset`.
    pub(crate) fn at_from(&self, mut offset: usize, path: &[&str]) -> String {
        for segment in path {
            let rest = &self.source[offset..];
            if let Some(i) = find_key(rest, segment) {
                offset += i;
            }
        }
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{}:{line}:{column}", self.file)
    }
}

/// The first `key:` in `text` that is a whole key (not the end of a longer one).
pub(crate) fn find_key(text: &str, key: &str) -> Option<usize> {
    let needle = format!("{key}:");
    let mut from = 0;
    while let Some(i) = text[from..].find(&needle) {
        let at = from + i;
        let prev = text[..at].chars().next_back();
        if prev.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-')) {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// A scalar as the text a builder key takes; `None` for a map or list (a wrong type) — null
/// means "not set".
fn scalar(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        Value::Bool(b) => Some(Some(b.to_string())),
        Value::Number(n) => Some(Some(n.to_string())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Every enabled block of `integrations`, translated.
pub(crate) fn provider_configs(
    integrations: &BTreeMap<String, crate::pipeline::Integration>,
    locator: &Locator<'_>,
) -> Result<BTreeMap<String, ProviderConfig>> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        if let Some(block) = integrations.get(table.block) {
            let locate = |path: &[&str]| locator.at(table.block, path);
            out.insert(table.provider.to_string(), translate(table, &block.settings, &locate)?);
        }
    }
    Ok(out)
}

/// Where a key at a path of the block is written (`file:line:column`).
pub(crate) type Locate<'a> = &'a dyn Fn(&[&str]) -> String;

/// A provider's settings (a block's, or a fleet target's) as its builder's keys; `None` when
/// `provider` has no block.
pub(crate) fn translate_for(
    provider: &str,
    settings: &BTreeMap<String, Value>,
    locate: Locate<'_>,
) -> Option<Result<ProviderConfig>> {
    TABLES
        .iter()
        .find(|t| t.provider == provider)
        .map(|t| translate(t, settings, locate))
}

/// The `auth.type`s `provider`'s block takes.
pub(crate) fn auth_kinds(provider: &str) -> Vec<&'static str> {
    TABLES
        .iter()
        .filter(|t| t.provider == provider)
        .flat_map(|t| t.auth.iter().map(|a| a.name))
        .collect()
}

fn translate(table: &BlockTable, settings: &BTreeMap<String, Value>, locate: Locate<'_>) -> Result<ProviderConfig> {
    let block = table.block;
    let mut keys = Vec::new();
    let wrong_type = |path: &[&str], what: &str| {
        Error::invalid(
            locate(path),
            format!("{block}.{}", path.join(".")),
            format!("must be {what}: quote the value in the pipeline file"),
        )
    };
    let mut push = |path: &[&str], key: &str, v: &Value, secret: bool| -> Result<()> {
        match scalar(v) {
            // A credential written as a number (`secret_access_key: 98765432109876`) would
            // lose leading zeros or digits on the way: it must be quoted.
            Some(Some(_)) if secret && !v.is_string() => Err(wrong_type(path, "a string")),
            None => Err(wrong_type(path, "a single value, not a map or list")),
            // `"${FAAS_GCP_BUCKET:-}"`: an empty value is a key not set.
            Some(None) => Ok(()),
            Some(Some(value)) if value.is_empty() => Ok(()),
            Some(Some(value)) => {
                keys.push(ConfigKey {
                    key: key.to_string(),
                    value,
                    path: format!("{block}.{}", path.join(".")),
                    at: locate(path),
                    secret,
                });
                Ok(())
            }
        }
    };
    let accepted = || {
        let mut names: Vec<String> = table
            .keys
            .iter()
            .map(|(p, _)| p.split('.').next().unwrap_or(p).to_string())
            .chain(table.read_elsewhere.iter().map(|s| s.to_string()))
            .chain(["auth".to_string(), "settings".to_string()])
            .collect();
        names.sort();
        names.dedup();
        names.join(", ")
    };
    for (name, value) in settings {
        if table.read_elsewhere.contains(&name.as_str()) {
            continue;
        }
        match name.as_str() {
            "auth" => auth(table, value, locate, &mut push)?,
            // `settings: { max_attempts: 5, functions_url: ... }`: any key of the builder, as is.
            "settings" => {
                let Value::Object(map) = value else {
                    return Err(wrong_type(&["settings"], "a map of builder settings"));
                };
                for (k, v) in map {
                    // The builder checks the key's name.
                    push(&["settings", k], k, v, false)?;
                }
            }
            _ => {
                let prefix = format!("{name}.");
                let nested: Vec<&(&str, &str)> = table.keys.iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
                if let Some((_, key)) = table.keys.iter().find(|(p, _)| p == name) {
                    push(&[name], key, value, false)?;
                } else if !nested.is_empty() {
                    let Value::Object(map) = value else {
                        return Err(wrong_type(&[name], "a map"));
                    };
                    for (k, v) in map {
                        let path = format!("{name}.{k}");
                        match nested.iter().find(|(p, _)| *p == path) {
                            Some((_, key)) => push(&[name, k], key, v, false)?,
                            None => {
                                let known: Vec<&str> = nested.iter().map(|(p, _)| &p[prefix.len()..]).collect();
                                return Err(Error::invalid(
                                    locate(&[name, k]),
                                    format!("{block}.{path}"),
                                    format!("unknown key; {block}.{name} takes: {}", known.join(", ")),
                                ));
                            }
                        }
                    }
                } else {
                    return Err(Error::invalid(
                        locate(&[name]),
                        format!("{block}.{name}"),
                        format!("unknown key; {block} takes: {}", accepted()),
                    ));
                }
            }
        }
    }
    Ok(ProviderConfig {
        provider: table.provider,
        block,
        keys,
    })
}

type Push<'a> = dyn FnMut(&[&str], &str, &Value, bool) -> Result<()> + 'a;

fn auth(table: &BlockTable, value: &Value, locate: Locate<'_>, push: &mut Push<'_>) -> Result<()> {
    let block = table.block;
    let Value::Object(map) = value else {
        return Err(Error::invalid(
            locate(&["auth"]),
            format!("{block}.auth"),
            "must be a map with a `type`",
        ));
    };
    let names = || table.auth.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
    let kind = match map.get("type") {
        None => table.auth.iter().find(|k| k.name == "default"),
        Some(Value::String(t)) => Some(table.auth.iter().find(|k| k.name == t).ok_or_else(|| {
            Error::invalid(
                locate(&["auth", "type"]),
                format!("{block}.auth.type: {t}"),
                format!("{block} takes no such auth type; it takes: {}", names()),
            )
        })?),
        Some(_) => {
            return Err(Error::invalid(
                locate(&["auth", "type"]),
                format!("{block}.auth.type"),
                format!("must be a string, one of: {}", names()),
            ));
        }
    };
    let Some(kind) = kind else {
        return Err(Error::invalid(
            locate(&["auth"]),
            format!("{block}.auth"),
            format!("auth needs a `type`, one of: {}", names()),
        ));
    };
    if let Some(missing) = kind
        .required
        .iter()
        .find(|k| map.get(**k).is_none_or(|v| v.is_null() || v.as_str() == Some("")))
    {
        return Err(Error::invalid(
            locate(&["auth"]),
            format!("{block}.auth.{missing}"),
            format!("is missing: auth type {} needs it", kind.name),
        ));
    }
    if let Some(v) = kind.builder_value {
        push(&["auth", "type"], "auth", &Value::String(v.to_string()), false)?;
    }
    for (k, v) in map {
        if k == "type" {
            continue;
        }
        match kind.keys.iter().find(|(p, _)| p == k) {
            Some((_, key)) => push(&["auth", k], key, v, true)?,
            None => {
                let known: Vec<&str> = kind.keys.iter().map(|(p, _)| *p).collect();
                return Err(Error::invalid(
                    locate(&["auth", k]),
                    format!("{block}.auth.{k}"),
                    format!(
                        "auth type {} takes {}",
                        kind.name,
                        if known.is_empty() {
                            "no other keys".to_string()
                        } else {
                            format!("only: {}", known.join(", "))
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The table of every block's keys, as Markdown (the README's table is checked against it).
pub fn keys_markdown() -> String {
    let mut out = String::from("| block | key | builder key |\n|---|---|---|\n");
    for t in TABLES {
        for (path, key) in t.keys {
            out.push_str(&format!("| `{}` | `{path}` | `{key}` |\n", t.block));
        }
        for kind in t.auth {
            let mut keys: Vec<String> = kind.keys.iter().map(|(p, k)| format!("`{p}` → `{k}`")).collect();
            if let Some(v) = kind.builder_value {
                keys.insert(0, format!("`auth` = `{v}`"));
            }
            let shown = if keys.is_empty() {
                "(the environment's credentials)".to_string()
            } else {
                keys.join(", ")
            };
            out.push_str(&format!("| `{}` | `auth.type: {}` | {shown} |\n", t.block, kind.name));
        }
        for sub in t.read_elsewhere {
            out.push_str(&format!(
                "| `{}` | `{sub}` | (read by the pipeline itself, not the builder) |\n",
                t.block
            ));
        }
        out.push_str(&format!(
            "| `{}` | `settings.<key>` | `<key>` (any key the builder takes) |\n",
            t.block
        ));
    }
    out
}
