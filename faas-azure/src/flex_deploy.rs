//! Flex Consumption after a OneDeploy: ARM's deployment status for the site, followed until
//! it succeeds or fails (`WebApps_GetProductionSiteDeploymentStatus`, `CsmDeploymentStatus`),
//! then the functions the host found (`WebApps_ListFunctions`): "deployment succeeded" with
//! zero functions is a failure that says so.

use faas_core::{Error, PollStatus, Result};
use reqwest::Method;
use serde_json::Value;

use crate::site::{Sites, Where};

/// `DeploymentBuildStatus` values that end a deployment well.
const SUCCEEDED: &[&str] = &["RuntimeSuccessful"];
/// `DeploymentBuildStatus` values that end it badly.
const FAILED: &[&str] = &["RuntimeFailed", "BuildFailed", "BuildAborted", "TimedOut"];

/// What a `CsmDeploymentStatus` says: done, failed (why), or still going (its status).
pub(crate) fn judge(status: &Value) -> PollStatus<std::result::Result<(), String>> {
    let p = &status["properties"];
    let s = p["status"].as_str().unwrap_or("");
    if SUCCEEDED.contains(&s) {
        return PollStatus::Done(Ok(()));
    }
    if FAILED.contains(&s) {
        let mut why: Vec<String> = Vec::new();
        for e in p["errors"].as_array().into_iter().flatten() {
            if let Some(m) = e["message"].as_str() {
                why.push(m.to_string());
            }
        }
        for l in p["failedInstancesLogs"].as_array().into_iter().flatten() {
            if let Some(l) = l.as_str() {
                why.push(format!("instance log {l}"));
            }
        }
        let failed = p["numberOfInstancesFailed"].as_i64().unwrap_or(0);
        return PollStatus::Done(Err(format!(
            "{s} ({failed} instance(s) failed){}",
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        )));
    }
    PollStatus::Pending(if s.is_empty() { "accepted".into() } else { s.into() })
}

impl Sites {
    /// Follows the ARM deployment status of Kudu deployment `id` on the Flex app `at` within
    /// the poll policy's deadline, then checks that the app lists at least one function.
    pub(crate) async fn follow_flex_deployment(&self, at: Where<'_>, id: &str) -> Result<()> {
        let name = at.name();
        let suffix = format!("/deploymentStatus/{id}");
        let outcome = self
            .arm
            .poll
            .poll(&format!("the deployment status of {name}"), || async {
                match self.call(Method::GET, at, &suffix, None).await {
                    Ok(v) if v.is_null() => Ok(PollStatus::Pending("accepted".into())),
                    Ok(v) => Ok(judge(&v)),
                    Err(e) => Err(e),
                }
            })
            .await?;
        if let Err(why) = outcome {
            return Err(Error::other(
                "DeploymentFailed",
                format!("the deployment to {name} failed: {why}"),
                false,
            ));
        }
        let listed = self.call(Method::GET, at, "/functions", None).await?;
        let functions: Vec<&str> = listed["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str())
            .collect();
        if functions.is_empty() {
            return Err(Error::other(
                "NoFunctions",
                format!(
                    "the deployment to {name} succeeded but the app lists no functions: the Functions host found none in the package (check the entry file — function_app.py's decorators, or function.json folders — and FUNCTIONS_WORKER_RUNTIME)"
                ),
                false,
            ));
        }
        tracing::info!(app = %name, functions = ?functions, "Flex deployment running");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_statuses_map_to_results() {
        let at = |s: &str| json!({"properties": {"status": s}});
        assert!(matches!(judge(&at("RuntimeSuccessful")), PollStatus::Done(Ok(()))));
        for pending in [
            "BuildRequestReceived",
            "BuildInProgress",
            "BuildSuccessful",
            "RuntimeStarting",
            "StartPolling",
        ] {
            assert!(matches!(judge(&at(pending)), PollStatus::Pending(_)), "{pending}");
        }
        let failed = json!({"properties": {"status": "RuntimeFailed", "numberOfInstancesFailed": 1,
            "errors": [{"message": "worker crashed"}], "failedInstancesLogs": ["https://logs/1"]}});
        match judge(&failed) {
            PollStatus::Done(Err(why)) => {
                assert!(why.contains("worker crashed") && why.contains("1 instance"), "{why}")
            }
            _ => panic!("not a failure"),
        }
    }
}
