//! Kudu, the deployment service beside every app: zipdeploy and OneDeploy (`/api/publish`)
//! pushes, deployment polling, and the deployment log when one fails. Kudu takes the ARM
//! bearer token; the publishing credentials (basic auth) are only a fallback for apps that
//! refuse it.

use faas_core::{Error, PollStatus, ResourceKind, Result};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::arm::{Target, map_error, shown, transport};
use crate::hosting::DeployMethod;
use crate::resources::{Site, User, parse};
use crate::site::{Sites, Where};

/// How a Kudu request authenticates. Never printed.
#[derive(Clone)]
enum Auth {
    Bearer(String),
    Basic(String, String),
}

impl Auth {
    fn apply(&self, req: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(user, password) => req.basic_auth(user, Some(password)),
        }
    }
}

/// Kudu's terminal deployment states: 3 failed, 4 succeeded, 5 (partially) failed.
fn terminal(status: Option<i64>, complete: Option<bool>) -> bool {
    matches!(status, Some(3..=5)) || complete == Some(true)
}

impl Sites {
    fn kudu_base(&self, at: Where<'_>, site: &Site) -> Result<String> {
        let label = match at.slot {
            Some(s) => format!("{}-{s}", at.app),
            None => at.app.to_string(),
        };
        if let Some(t) = &self.kudu_url {
            return Ok(t.replace("{app}", &label).trim_end_matches('/').to_string());
        }
        let scm = site
            .properties
            .as_ref()
            .and_then(|p| p.enabled_host_names.as_ref())
            .into_iter()
            .flatten()
            .find(|h| h.contains(".scm."))
            .cloned()
            .ok_or_else(|| {
                Error::other(
                    "NoScmHost",
                    format!("{} reports no SCM (Kudu) host name", at.name()),
                    false,
                )
            })?;
        Ok(format!("https://{scm}"))
    }

    /// The app's publishing credentials (`config/publishingcredentials/list`).
    async fn publishing_credentials(&self, at: Where<'_>) -> Result<Auth> {
        let name = at.name();
        let answer = self
            .call(Method::POST, at, "/config/publishingcredentials/list", None)
            .await?;
        let user: User = parse(&format!("the publishing credentials of {name}"), answer)?;
        let p = user.properties.unwrap_or_default();
        match (p.publishing_user_name, p.publishing_password) {
            (Some(u), Some(pw)) => Ok(Auth::Basic(u, pw)),
            _ => Err(Error::permission_denied(
                Some("Microsoft.Web/sites/config/list/action".into()),
                format!("{name}: Kudu refused the bearer token and no publishing credentials came back"),
            )),
        }
    }

    /// Pushes the zip, sending it again (the file reopened) after throttling, 5xx or a dropped
    /// connection: a push whose answer was lost started a deployment of the same zip, which
    /// the retry then meets as `409` (waited on by the caller) or deploys again — the same
    /// code either way.
    async fn push(
        &self,
        url: &str,
        auth: &Auth,
        zip: &std::path::Path,
        size: u64,
        target: Target<'_>,
    ) -> Result<reqwest::Response> {
        let what = format!("POST {}", shown(url));
        self.arm
            .retry
            .retry_if(&what, Error::is_transient, || async {
                let file = tokio::fs::File::open(zip)
                    .await
                    .map_err(|e| Error::io(zip.display().to_string(), e))?;
                let resp = auth
                    .apply(self.arm.http.post(url))
                    .header("content-type", "application/zip")
                    .header("content-length", size)
                    .body(reqwest::Body::from(file))
                    .send()
                    .await
                    .map_err(|e| transport(&what, e))?;
                transient_as_error(resp, target).await
            })
            .await
    }

    /// Pushes a zip through Kudu (zipdeploy, or OneDeploy's `/api/publish`) and waits for the
    /// deployment; `409` (a deployment in progress) is waited on and retried; a failed
    /// deployment (status 3 or 5) reports its log.
    pub async fn kudu_deploy(&self, at: Where<'_>, site: &Site, zip: &std::path::Path, size: u64) -> Result<()> {
        let base = self.kudu_base(at, site)?;
        let url = match self.method {
            DeployMethod::OneDeploy => format!("{base}/api/publish?type=zip&RemoteBuild=false"),
            _ => format!("{base}/api/zipdeploy?isAsync=true"),
        };
        let name = at.name();
        let target = Target {
            kind: ResourceKind::Function,
            name: &name,
        };
        let mut auth = Auth::Bearer(self.arm.token().await?);
        let mut attempt = 0;
        let location = loop {
            attempt += 1;
            let resp = self.push(&url, &auth, zip, size, target).await?;
            let status = resp.status().as_u16();
            if matches!(status, 401 | 403) && matches!(auth, Auth::Bearer(_)) {
                tracing::info!(app = %name, "Kudu refused the bearer token; falling back to publishing credentials");
                auth = self.publishing_credentials(at).await?;
                continue;
            }
            if status == 409 && attempt < self.arm.retry.max_attempts {
                tracing::info!(app = %name, attempt, "a Kudu deployment is in progress; waiting");
                tokio::time::sleep(self.arm.poll.interval * attempt).await;
                continue;
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await.map_err(|e| transport("Kudu answer", e))?;
            if !(200..300).contains(&status) {
                return Err(map_error(status, None, &body, target));
            }
            break location.unwrap_or_else(|| format!("{base}/api/deployments/latest"));
        };
        let http = self.arm.http.clone();
        let deployment = self
            .arm
            .poll
            .poll(&format!("Kudu deployment to {name}"), || async {
                // A look that fails on its way (throttled, 5xx, dropped) is taken again.
                let seen = self
                    .arm
                    .retry
                    .retry_if("Kudu deployment status", Error::is_transient, || async {
                        let resp = auth
                            .apply(http.get(&location))
                            .send()
                            .await
                            .map_err(|e| transport("Kudu deployment status", e))?;
                        let resp = transient_as_error(resp, target).await?;
                        if resp.status().as_u16() == 202 {
                            return Ok(None);
                        }
                        let v: Value = resp.json().await.map_err(|e| transport("Kudu deployment status", e))?;
                        Ok(Some(v))
                    })
                    .await?;
                let Some(v) = seen else {
                    return Ok(PollStatus::Pending("accepted".into()));
                };
                Ok(if terminal(v["status"].as_i64(), v["complete"].as_bool()) {
                    PollStatus::Done(v)
                } else {
                    PollStatus::Pending(format!(
                        "status {} {}",
                        v["status"].as_i64().unwrap_or(-1),
                        v["status_text"].as_str().unwrap_or("")
                    ))
                })
            })
            .await?;
        if deployment["status"].as_i64() == Some(4) {
            return match (self.method, deployment["id"].as_str()) {
                (DeployMethod::OneDeploy, Some(id)) => self.follow_flex_deployment(at, id).await,
                _ => Ok(()),
            };
        }
        let mut log = Vec::new();
        if let Some(log_url) = deployment["log_url"].as_str()
            && let Ok(resp) = auth.apply(self.arm.http.get(log_url)).send().await
            && let Ok(entries) = resp.json::<Vec<Value>>().await
        {
            log = entries
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect();
        }
        Err(Error::other(
            "DeploymentFailed",
            format!(
                "the Kudu deployment to {name} failed (status {}): {}{}",
                deployment["status"],
                deployment["status_text"].as_str().unwrap_or(""),
                if log.is_empty() {
                    String::new()
                } else {
                    format!("; log: {}", log.join(" | "))
                }
            ),
            false,
        ))
    }
}

/// A Kudu answer of throttling (429) or a server error (5xx) as its retryable error; any other
/// answer as it came.
async fn transient_as_error(resp: reqwest::Response, target: Target<'_>) -> Result<reqwest::Response> {
    let status = resp.status().as_u16();
    if status != 429 && status < 500 {
        return Ok(resp);
    }
    let retry_after = crate::arm::retry_after(&resp);
    let body = resp.bytes().await.unwrap_or_default();
    Err(map_error(status, retry_after, &body, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kudu_statuses() {
        assert!(!terminal(Some(1), Some(false)));
        assert!(terminal(Some(3), None) && terminal(Some(4), None) && terminal(Some(5), None));
        assert!(terminal(Some(2), Some(true)));
    }
}
