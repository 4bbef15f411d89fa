//! Function URLs: the URL configuration created or updated to match the spec's
//! `aws.function_url`, and, for a public URL (`AuthType=NONE`), the two resource-policy
//! statements Lambda requires for it. Since October 2025 a public URL needs both
//! `lambda:InvokeFunctionUrl` (with `FunctionUrlAuthType=NONE`) and `lambda:InvokeFunction`
//! (with `InvokedViaFunctionUrl=true`, the SDK's `AddPermission::invoked_via_function_url`,
//! which Lambda turns into the `lambda:InvokedViaFunctionUrl` condition): without the second
//! every request is refused with 403.
//!
//! Idempotent: `GetFunctionUrlConfig` and `GetPolicy` are read first and only what is
//! missing or different is written. A statement counts as present when it has faas's
//! statement id or, added by hand or by the console, the same action, principal `*` and
//! condition. When the URL is IAM-only, faas's two public statements are removed: with
//! `AWS_IAM` auth, `lambda:InvokeFunction` for principal `*` through the URL would let
//! any signed caller of any account in.

use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType};
use faas_core::{ConfigDiff, Error, FunctionUrl, Result, UrlAuth, UrlCors};

use crate::error::map;
use crate::lambda::{Functions, fn_target};

/// faas's statement for `lambda:InvokeFunctionUrl` on a public URL.
pub(crate) const SID_URL: &str = "faas-function-url-public";
/// faas's statement for `lambda:InvokeFunction` through a public URL.
pub(crate) const SID_INVOKE: &str = "faas-function-url-invoke";

fn auth_type(auth: UrlAuth) -> FunctionUrlAuthType {
    match auth {
        UrlAuth::None => FunctionUrlAuthType::None,
        UrlAuth::AwsIam => FunctionUrlAuthType::AwsIam,
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// The SDK's `Cors` for the spec's, lists sorted so that equal settings compare equal.
fn cors(c: &UrlCors) -> Cors {
    let list = |v: &[String]| (!v.is_empty()).then(|| sorted(v));
    Cors::builder()
        .set_allow_origins(list(&c.allow_origins))
        .set_allow_methods(list(&c.allow_methods))
        .set_allow_headers(list(&c.allow_headers))
        .set_expose_headers(list(&c.expose_headers))
        .set_allow_credentials(c.allow_credentials.then_some(true))
        .set_max_age(c.max_age_s.map(|s| s as i32))
        .build()
}

/// Lambda's `Cors` in the same normal form (empty lists and `false` as absent).
fn normal(c: Option<&Cors>) -> Option<Cors> {
    let c = c?;
    let list = |v: &[String]| (!v.is_empty()).then(|| sorted(v));
    let n = Cors::builder()
        .set_allow_origins(list(c.allow_origins()))
        .set_allow_methods(list(c.allow_methods()))
        .set_allow_headers(list(c.allow_headers()))
        .set_expose_headers(list(c.expose_headers()))
        .set_allow_credentials(c.allow_credentials().filter(|b| *b))
        .set_max_age(c.max_age())
        .build();
    (n != Cors::builder().build()).then_some(n)
}

/// Checks a URL's settings against the API's limits, before any call.
pub(crate) fn validate(url: &FunctionUrl) -> Result<()> {
    if let Some(c) = &url.cors {
        if let Some(s) = c.max_age_s.filter(|s| *s > 86_400) {
            return Err(Error::invalid(
                "aws.function_url.cors.max_age_s",
                s,
                "Lambda's MaxAge is 0–86400 seconds",
            ));
        }
        if let Some(m) = c.allow_methods.iter().find(|m| m.is_empty() || m.len() > 6) {
            return Err(Error::invalid(
                "aws.function_url.cors.allow_methods",
                format!("{m:?}"),
                "an HTTP method (GET, POST, …) or *, at most 6 characters",
            ));
        }
        if let Some(o) = c.allow_origins.iter().find(|o| o.is_empty() || o.len() > 253) {
            return Err(Error::invalid(
                "aws.function_url.cors.allow_origins",
                format!("{o:?}"),
                "an origin (https://example.com) or *, 1–253 characters",
            ));
        }
    }
    Ok(())
}

/// Whether the policy `statements` grant `action` to `*` under `condition_key` (or carry
/// faas's `sid`).
fn granted(statements: &[serde_json::Value], sid: &str, action: &str, condition_key: &str) -> bool {
    statements.iter().any(|s| {
        s["Sid"] == sid
            || (s["Action"] == action
                && s["Principal"] == "*"
                && s["Condition"]
                    .as_object()
                    .is_some_and(|c| c.values().any(|ops| ops.get(condition_key).is_some())))
    })
}

/// What a function's URL is now: its configuration (`None`: no URL) and its policy's
/// statements.
pub(crate) struct UrlState {
    config: Option<aws_sdk_lambda::operation::get_function_url_config::GetFunctionUrlConfigOutput>,
    statements: Vec<serde_json::Value>,
}

impl UrlState {
    /// The URL configuration differs from `want` (or is missing).
    fn config_differs(&self, want: &FunctionUrl) -> bool {
        match &self.config {
            Some(c) => *c.auth_type() != auth_type(want.auth) || normal(c.cors()) != want.cors.as_ref().map(cors),
            None => true,
        }
    }

    /// Which of the public statements are missing (`NONE`), or which of faas's are left over
    /// (`AWS_IAM`).
    fn statements_to_change(&self, want: &FunctionUrl) -> Vec<&'static str> {
        match want.auth {
            UrlAuth::None => [
                (SID_URL, "lambda:InvokeFunctionUrl", "lambda:FunctionUrlAuthType"),
                (SID_INVOKE, "lambda:InvokeFunction", "lambda:InvokedViaFunctionUrl"),
            ]
            .into_iter()
            .filter(|(sid, action, key)| !granted(&self.statements, sid, action, key))
            .map(|(sid, ..)| sid)
            .collect(),
            UrlAuth::AwsIam => [SID_URL, SID_INVOKE]
                .into_iter()
                .filter(|sid| self.statements.iter().any(|s| s["Sid"] == *sid))
                .collect(),
        }
    }

    /// The plan's entry for the URL, when anything is to change.
    pub(crate) fn diff(&self, want: &FunctionUrl) -> Option<ConfigDiff> {
        let statements = self.statements_to_change(want);
        if !self.config_differs(want) && statements.is_empty() {
            return None;
        }
        let from = match &self.config {
            Some(c) => format!(
                "{}{}",
                c.auth_type().as_str(),
                if c.cors().is_some() { " with CORS" } else { "" }
            ),
            None => "(none)".into(),
        };
        let verb = if want.auth == UrlAuth::None { "add" } else { "remove" };
        let mut to = format!(
            "{}{}",
            auth_type(want.auth).as_str(),
            if want.cors.is_some() { " with CORS" } else { "" }
        );
        if !statements.is_empty() {
            to.push_str(&format!(" ({verb} policy statements {})", statements.join(", ")));
        }
        Some(ConfigDiff {
            field: "aws.function_url".into(),
            from: Some(from),
            to: Some(to),
        })
    }
}

impl Functions {
    /// Reads the function's URL configuration and resource policy (two reads).
    pub(crate) async fn url_state(&self, name: &str) -> Result<UrlState> {
        let config = match self.client.get_function_url_config().function_name(name).send().await {
            Ok(out) => Some(out),
            Err(e) => match map(e, fn_target(name)) {
                Error::NotFound { .. } => None,
                other => return Err(other),
            },
        };
        Ok(UrlState {
            config,
            statements: self.statements(name).await?,
        })
    }

    /// Makes the function URL of `name` match `want`; returns the URL and whether anything
    /// was written.
    pub(crate) async fn ensure_url(&self, name: &str, want: &FunctionUrl) -> Result<(String, bool)> {
        let auth = auth_type(want.auth);
        let wanted_cors = want.cors.as_ref().map(cors);
        let state = self.url_state(name).await?;
        let mut wrote = false;
        let url = match &state.config {
            Some(c) if !state.config_differs(want) => c.function_url().to_string(),
            Some(_) => {
                wrote = true;
                let out = self
                    .retry
                    .retry_if("UpdateFunctionUrlConfig", crate::error::conflicts_only, || async {
                        self.client
                            .update_function_url_config()
                            .function_name(name)
                            .auth_type(auth.clone())
                            .cors(wanted_cors.clone().unwrap_or_else(|| Cors::builder().build()))
                            .send()
                            .await
                            .map_err(|e| map(e, fn_target(name)))
                    })
                    .await?;
                out.function_url().to_string()
            }
            None => {
                wrote = true;
                let out = self
                    .client
                    .create_function_url_config()
                    .function_name(name)
                    .auth_type(auth.clone())
                    .set_cors(wanted_cors.clone())
                    .send()
                    .await
                    .map_err(|e| map(e, fn_target(name)))?;
                out.function_url().to_string()
            }
        };
        for sid in state.statements_to_change(want) {
            wrote |= self.change_statement(name, sid, want.auth).await?;
        }
        tracing::info!(function = name, %url, auth = auth.as_str(), "function URL");
        Ok((url, wrote))
    }

    /// The statements of the function's resource policy (none when it has no policy).
    async fn statements(&self, name: &str) -> Result<Vec<serde_json::Value>> {
        let policy = match self.client.get_policy().function_name(name).send().await {
            Ok(out) => out.policy().unwrap_or("{}").to_string(),
            Err(e) => match map(e, fn_target(name)) {
                Error::NotFound { .. } => return Ok(Vec::new()),
                other => return Err(other),
            },
        };
        let v: serde_json::Value = serde_json::from_str(&policy).map_err(|e| {
            Error::other(
                "Policy",
                format!("GetPolicy of {name} answered a policy that is not JSON: {e}"),
                false,
            )
        })?;
        Ok(v["Statement"].as_array().cloned().unwrap_or_default())
    }

    /// Adds faas's statement `sid` (public URL) or removes it (IAM-only); whether anything
    /// was written.
    async fn change_statement(&self, name: &str, sid: &str, auth: UrlAuth) -> Result<bool> {
        if auth == UrlAuth::AwsIam {
            self.client
                .remove_permission()
                .function_name(name)
                .statement_id(sid)
                .send()
                .await
                .map_err(|e| map(e, fn_target(name)))?;
            return Ok(true);
        }
        let req = self
            .client
            .add_permission()
            .function_name(name)
            .statement_id(sid)
            .principal("*");
        let req = if sid == SID_URL {
            req.action("lambda:InvokeFunctionUrl")
                .function_url_auth_type(FunctionUrlAuthType::None)
        } else {
            req.action("lambda:InvokeFunction").invoked_via_function_url(true)
        };
        tolerate_existing(req.send().await.map_err(|e| map(e, fn_target(name))))
    }
}

/// An `AddPermission` answered `ResourceConflictException` (the statement id exists: another
/// deployer added it meanwhile) counts as done; `true` when it was written now.
fn tolerate_existing<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_count_by_sid_or_by_what_they_grant() {
        let by_hand = serde_json::json!([{
            "Sid": "FunctionURLAllowPublicAccess",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "lambda:InvokeFunctionUrl",
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
        }]);
        let s = by_hand.as_array().unwrap();
        assert!(granted(
            s,
            SID_URL,
            "lambda:InvokeFunctionUrl",
            "lambda:FunctionUrlAuthType"
        ));
        assert!(!granted(
            s,
            SID_INVOKE,
            "lambda:InvokeFunction",
            "lambda:InvokedViaFunctionUrl"
        ));
        let ours = serde_json::json!([{"Sid": SID_INVOKE}]);
        assert!(granted(ours.as_array().unwrap(), SID_INVOKE, "x", "y"));
    }

    #[test]
    fn cors_compares_in_normal_form_and_is_checked() {
        let spec = UrlCors {
            allow_origins: vec!["https://b".into(), "https://a".into()],
            ..UrlCors::default()
        };
        let lambda = Cors::builder()
            .allow_origins("https://a")
            .allow_origins("https://b")
            .allow_credentials(false)
            .build();
        assert_eq!(normal(Some(&lambda)), Some(cors(&spec)));
        assert_eq!(normal(Some(&Cors::builder().build())), None);
        let bad = FunctionUrl {
            auth: UrlAuth::None,
            cors: Some(UrlCors {
                max_age_s: Some(90_000),
                ..UrlCors::default()
            }),
        };
        assert!(
            matches!(validate(&bad), Err(Error::InvalidInput { field, .. }) if field == "aws.function_url.cors.max_age_s")
        );
    }
}
