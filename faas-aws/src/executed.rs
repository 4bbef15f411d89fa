//! A version's invocations through aliases. Lambda counts an invocation of `name:alias` under
//! `Resource=name:alias` and, with `ExecutedVersion=<version>`, under the version it ran —
//! never under `Resource=name:<version>`, which holds only the version's own invocations
//! (`Invoke` with the version as qualifier). A version's figures (a rollout's gate on the new
//! version, which gets its traffic through an alias) therefore add the `ExecutedVersion`
//! series of each of the function's aliases.

use faas_core::{ProviderBackend, Result};

use crate::AwsProvider;

/// The most aliases whose series one query adds (4 metrics each; `GetMetricData` takes 500).
const MAX_ALIASES: usize = 120;

impl AwsProvider {
    /// The dimensions under which Lambda counted `version`'s invocations through an alias: one
    /// set per alias of `function` (`ListAliases`), at most [`MAX_ALIASES`].
    pub(crate) async fn executed_version_dims(
        &self,
        function: &str,
        version: &str,
    ) -> Result<Vec<Vec<(&'static str, String)>>> {
        let mut out: Vec<_> = ProviderBackend::list_labels(self, function)
            .await?
            .into_iter()
            .map(|alias| {
                vec![
                    ("FunctionName", function.to_string()),
                    ("Resource", format!("{function}:{}", alias.name)),
                    ("ExecutedVersion", version.to_string()),
                ]
            })
            .collect();
        if out.len() > MAX_ALIASES {
            tracing::warn!(
                function,
                aliases = out.len(),
                "only the first {MAX_ALIASES} aliases' invocations of version {version} are counted"
            );
            out.truncate(MAX_ALIASES);
        }
        Ok(out)
    }
}
