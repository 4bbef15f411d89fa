//! Code storage: what `CodeStorageExceededException` advises, from the account's own quota.
//!
//! Lambda's code storage quota is per account and region and can be raised, so the advice
//! reads it with `GetAccountSettings` (`AccountLimit.TotalCodeSize`, `AccountUsage.TotalCodeSize`,
//! both in bytes) instead of assuming the default.

use faas_core::Error;

use crate::error::{STORAGE_EXCEEDED, map};
use crate::lambda::{Functions, fn_target};

/// Bytes as GB with one decimal (Lambda's console shows the quota in GB).
fn gb(bytes: i64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// The advice for a full code storage, given what `GetAccountSettings` answered.
pub(crate) fn advice(message: &str, quota: Result<(i64, i64), String>) -> String {
    let prune = "prune old versions (ProviderExt::prune_versions, or --keep-versions N) or ask AWS to raise the quota";
    match quota {
        Ok((used, limit)) => format!(
            "{message}: the account uses {} ({used} bytes) of its {} ({limit} bytes) code storage in this region (GetAccountSettings); {prune}",
            gb(used),
            gb(limit)
        ),
        Err(why) => format!(
            "{message}: the account's code storage in this region is full (its quota could not be read: {why}); {prune}"
        ),
    }
}

impl Functions {
    /// `e` itself, or, for `CodeStorageExceededException`, the same error with advice naming
    /// the account's usage and quota.
    pub(crate) async fn storage_advice(&self, e: Error) -> Error {
        let Error::Provider {
            provider,
            code,
            message,
            retryable,
            source,
        } = e
        else {
            return e;
        };
        if code != STORAGE_EXCEEDED {
            return Error::Provider {
                provider,
                code,
                message,
                retryable,
                source,
            };
        }
        let quota = match self.client.get_account_settings().send().await {
            Ok(out) => match (out.account_usage(), out.account_limit()) {
                (Some(usage), Some(limit)) => Ok((usage.total_code_size(), limit.total_code_size())),
                _ => Err("the answer held no AccountUsage or AccountLimit".to_string()),
            },
            Err(err) => Err(map(err, fn_target("lambda:GetAccountSettings")).to_string()),
        };
        Error::Provider {
            provider,
            message: advice(&message, quota),
            code,
            retryable,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_names_the_accounts_own_quota() {
        let a = advice("Code storage limit exceeded.", Ok((80_530_636_800, 161_061_273_600)));
        assert!(
            a.contains("80.5 GB") && a.contains("161.1 GB") && a.contains("prune"),
            "{a}"
        );
        assert!(!a.contains("75 GB"), "no assumed quota: {a}");
        let a = advice("Code storage limit exceeded.", Err("AccessDenied".into()));
        assert!(
            a.contains("could not be read: AccessDenied") && a.contains("prune"),
            "{a}"
        );
    }
}
