//! Kudu, the deployment service beside every app: zipdeploy and OneDeploy (`/api/publish`)
//! pushes, deployment polling, and the deployment log when one fails.

use faas_core::{Error, PollStatus, ResourceKind, Result};
use serde_json::Value;

use crate::arm::{Target, map_error, shown, transport};
use crate::builder::DeployMethod;
use crate::site::{Sites, Where};

impl Sites {
    fn kudu_base(&self, at: Where<'_>, site: &Value) -> Result<String> {
        let label = match at.slot {
            Some(s) => format!("{}-{s}", at.app),
            None => at.app.to_string(),
        };
        if let Some(t) = &self.kudu_url {
            return Ok(t.replace("{app}", &label).trim_end_matches('/').to_string());
        }
        let scm = site["properties"]["enabledHostNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|h| h.contains(".scm."))
            .map(str::to_string)
            .ok_or_else(|| Error::Provider {
                provider: "azure".into(),
                code: "NoScmHost".into(),
                message: format!("{} reports no SCM (Kudu) host name", at.name()),
                retryable: false,
            })?;
        Ok(format!("https://{scm}"))
    }

    /// Pushes a zip through Kudu (zipdeploy, or OneDeploy's `/api/publish`) and waits for the
    /// deployment; `409` (a deployment in progress) is waited on and retried; a failed
    /// deployment (status 3) reports its log.
    pub async fn kudu_deploy(&self, at: Where<'_>, site: &Value, zip: &std::path::Path, size: u64) -> Result<()> {
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
        let mut attempt = 0;
        let location = loop {
            attempt += 1;
            let file = tokio::fs::File::open(zip).await.map_err(|e| Error::Io {
                path: zip.display().to_string(),
                source: e,
            })?;
            let resp = self
                .arm
                .http
                .post(&url)
                .bearer_auth(self.arm.token().await?)
                .header("content-type", "application/zip")
                .header("content-length", size)
                .body(reqwest::Body::from(file))
                .send()
                .await
                .map_err(|e| transport(&format!("POST {}", shown(&url)), e))?;
            let status = resp.status().as_u16();
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
        let token = self.arm.token().await?;
        let http = self.arm.http.clone();
        let deployment = self
            .arm
            .poll
            .poll(&format!("Kudu deployment to {name}"), || async {
                let resp = http
                    .get(&location)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .map_err(|e| transport("Kudu deployment status", e))?;
                if resp.status().as_u16() == 202 {
                    return Ok(PollStatus::Pending("accepted".into()));
                }
                let v: Value = resp.json().await.map_err(|e| transport("Kudu deployment status", e))?;
                Ok(match (v["status"].as_i64(), v["complete"].as_bool()) {
                    (Some(3 | 4), _) | (_, Some(true)) => PollStatus::Done(v),
                    (s, _) => PollStatus::Pending(format!(
                        "status {} {}",
                        s.unwrap_or(-1),
                        v["status_text"].as_str().unwrap_or("")
                    )),
                })
            })
            .await?;
        if deployment["status"].as_i64() == Some(4) {
            return Ok(());
        }
        let mut log = Vec::new();
        if let Some(log_url) = deployment["log_url"].as_str()
            && let Ok(resp) = self.arm.http.get(log_url).bearer_auth(&token).send().await
            && let Ok(entries) = resp.json::<Vec<Value>>().await
        {
            log = entries
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect();
        }
        Err(Error::Provider {
            provider: "azure".into(),
            code: "DeploymentFailed".into(),
            message: format!(
                "the Kudu deployment to {name} failed (status {}): {}{}",
                deployment["status"],
                deployment["status_text"].as_str().unwrap_or(""),
                if log.is_empty() {
                    String::new()
                } else {
                    format!("; log: {}", log.join(" | "))
                }
            ),
            retryable: false,
        })
    }
}
