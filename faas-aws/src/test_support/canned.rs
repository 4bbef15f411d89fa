//! Narrowly scoped fakes for the Lambda operations moto 5.2 does not implement, answered by
//! the proxy with the response shapes of the Lambda API reference:
//!
//! * `ListProvisionedConcurrencyConfigs` (`GET /2019-09-30/functions/{name}/provisioned-concurrency?List=ALL`):
//!   `{"ProvisionedConcurrencyConfigs": [...]}` — by default an empty list, as for a function
//!   without provisioned concurrency; [`Proxy::provisioned_concurrency`](super::Proxy::provisioned_concurrency)
//!   sets the items (`FunctionArn`, `RequestedProvisionedConcurrentExecutions`,
//!   `AllocatedProvisionedConcurrentExecutions`, `AvailableProvisionedConcurrentExecutions`,
//!   `Status`, `LastModified`).
//! * `GetAccountSettings` (`GET /2016-08-19/account-settings`): `AccountLimit` and
//!   `AccountUsage`, set with [`Proxy::account_settings`](super::Proxy::account_settings);
//!   unset, the proxy forwards to moto (which answers 404).

use std::collections::HashMap;

/// SnapStart as Lambda reports it, which moto does not (it always answers `ApplyOn=None`,
/// `OptimizationStatus=Off`): for `function`, every configuration read says
/// `SnapStart.ApplyOn=PublishedVersions`; `$LATEST` has `OptimizationStatus=Off`, and a
/// published version is `State=Pending`, `Off` (also in PublishVersion's answer) for its
/// first `pending_reads` reads, then
/// `Active`, `On` (the snapshot taken).
#[derive(Debug, Default)]
pub(crate) struct SnapView {
    pub function: String,
    pub pending_reads: usize,
    pub version_reads: usize,
}

impl SnapView {
    /// Rewrites a Lambda answer `v` (a configuration, or GetFunction's `{Configuration}`);
    /// only reads (`read`) of a version count towards its snapshot.
    pub fn rewrite(&mut self, read: bool, v: &mut serde_json::Value) {
        let config = if v.get("Configuration").is_some() {
            &mut v["Configuration"]
        } else {
            v
        };
        if config["FunctionName"] != self.function.as_str() {
            return;
        }
        let published = config["Version"].as_str().is_some_and(|v| v != "$LATEST");
        if published && read {
            self.version_reads += 1;
        }
        let on = published && self.version_reads > self.pending_reads;
        if published {
            config["State"] = if on { "Active" } else { "Pending" }.into();
        }
        config["SnapStart"] = serde_json::json!({
            "ApplyOn": "PublishedVersions",
            "OptimizationStatus": if on { "On" } else { "Off" },
        });
    }
}

/// What the proxy answers itself.
#[derive(Debug, Default)]
pub(crate) struct Canned {
    /// Function name → `ProvisionedConcurrencyConfigs` items.
    pub provisioned: HashMap<String, Vec<serde_json::Value>>,
    /// The `GetAccountSettings` answer.
    pub account: Option<serde_json::Value>,
    /// SnapStart as Lambda reports it, for one function.
    pub snap: Option<SnapView>,
}

impl Canned {
    /// The answer to `method path`, when the proxy gives it instead of moto.
    pub fn answer(&self, method: &str, path: &str) -> Option<serde_json::Value> {
        if method != "GET" {
            return None;
        }
        if path.ends_with("/account-settings") {
            return self.account.clone();
        }
        let name = path
            .strip_prefix("/2019-09-30/functions/")?
            .strip_suffix("/provisioned-concurrency")?;
        let items = self.provisioned.get(name).cloned().unwrap_or_default();
        Some(serde_json::json!({ "ProvisionedConcurrencyConfigs": items }))
    }
}

/// A `ProvisionedConcurrencyConfigs` item for `function_arn:qualifier` (READY, fully allocated).
pub fn provisioned_item(function_arn: &str, qualifier: &str, executions: u32) -> serde_json::Value {
    serde_json::json!({
        "FunctionArn": format!("{function_arn}:{qualifier}"),
        "RequestedProvisionedConcurrentExecutions": executions,
        "AllocatedProvisionedConcurrentExecutions": executions,
        "AvailableProvisionedConcurrentExecutions": executions,
        "Status": "READY",
        "LastModified": "2026-12-01T00:00:00.000+0000",
    })
}

/// A `GetAccountSettings` answer with `TotalCodeSize` limit and usage in bytes (the other
/// fields at Lambda's defaults).
pub fn account_settings(limit_bytes: i64, used_bytes: i64) -> serde_json::Value {
    serde_json::json!({
        "AccountLimit": {
            "TotalCodeSize": limit_bytes,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": 1000,
        },
        "AccountUsage": { "TotalCodeSize": used_bytes, "FunctionCount": 1 },
    })
}
