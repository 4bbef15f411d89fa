//! CI identity tokens: the GitHub Actions job's OIDC ID token, which each cloud's federation
//! flow (AWS `AssumeRoleWithWebIdentity`, GCP Workload Identity Federation, Azure workload
//! identity) exchanges for short-lived credentials — no long-lived secret in the repository.
//!
//! The job needs `permissions: id-token: write`; GitHub then sets
//! `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`. A token is requested
//! with `GET {ACTIONS_ID_TOKEN_REQUEST_URL}&audience={audience}` and
//! `Authorization: Bearer {ACTIONS_ID_TOKEN_REQUEST_TOKEN}`; the answer is JSON
//! `{"value": "<JWT>"}` (GitHub's documented flow, the one `@actions/core`'s `getIDToken`
//! follows). Neither the request token nor the ID token ever appears in `Debug`, an error or a
//! log line.
//!
//! ```no_run
//! # async fn t() -> Result<(), faas_core::ci_token::CiTokenError> {
//! use faas_core::ci_token::GithubOidc;
//! let oidc = GithubOidc::from_env()?;
//! let token = oidc.id_token("sts.amazonaws.com").await?;
//! assert_eq!(format!("{token:?}"), "CiIdToken(***)");
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

#[cfg(feature = "ci-token-fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "ci-token-fake")))]
pub mod fake;

/// The variable holding the URL ID tokens are requested from.
pub const REQUEST_URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The variable holding the bearer token that authorizes the request.
pub const REQUEST_TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// The longest audience accepted (GitHub documents none; STS and Entra audiences are URLs or
/// URNs far below this).
pub const MAX_AUDIENCE_LEN: usize = 1024;

/// An OIDC ID token from CI (a JWT). Never printed: `Debug` shows `***`.
///
/// ```
/// let t = faas_core::ci_token::CiIdToken::new("eyJhbGciOi.x.y");
/// assert_eq!(format!("{t:?}"), "CiIdToken(***)");
/// assert_eq!(t.secret(), "eyJhbGciOi.x.y");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CiIdToken(String);

impl CiIdToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> CiIdToken {
        CiIdToken(token.into())
    }

    /// The token, to hand to a federation exchange.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CiIdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CiIdToken(***)")
    }
}

/// Why no CI ID token could be had. No variant holds a token or the request URL's query.
#[derive(Debug, thiserror::Error)]
pub enum CiTokenError {
    /// Not in a GitHub Actions job that may request ID tokens.
    #[error("{variable} is not set: not a GitHub Actions job, or the job lacks `permissions: id-token: write`")]
    NotAvailable {
        /// The missing variable.
        variable: &'static str,
    },
    /// The request URL is not an http(s) URL.
    #[error("invalid {variable}: {reason}")]
    InvalidRequestUrl {
        /// The variable (or argument) at fault.
        variable: &'static str,
        /// What is wrong (the URL itself is not repeated: its query is GitHub's).
        reason: String,
    },
    /// The audience is empty, too long or holds characters an audience cannot.
    #[error("invalid audience {audience:?}: {reason}")]
    InvalidAudience {
        /// The audience asked for.
        audience: String,
        /// The rule it breaks and what to use.
        reason: String,
    },
    /// The request did not get an answer.
    #[error("requesting the GitHub Actions ID token from {host} failed")]
    Request {
        /// The token service's host.
        host: String,
        /// The transport error (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// The token service answered with an error status.
    #[error("GitHub Actions refused an ID token ({status}) at {host}: {message}")]
    Refused {
        /// The token service's host.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The first line of its answer (tokens masked).
        message: String,
    },
    /// The answer was not `{"value": "<token>"}`.
    #[error("GitHub Actions answered without an ID token at {host}: {reason}")]
    InvalidResponse {
        /// The token service's host.
        host: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl From<CiTokenError> for crate::Error {
    fn from(e: CiTokenError) -> crate::Error {
        match e {
            CiTokenError::InvalidAudience { audience, reason } => crate::Error::config("audience", audience, reason),
            CiTokenError::InvalidRequestUrl { variable, reason } => {
                crate::Error::config(variable, "(not shown)", reason)
            }
            other => crate::Error::unauthenticated(other.to_string()).with_source(other),
        }
    }
}

/// Requests the GitHub Actions job's OIDC ID token. `Debug` shows the host only.
#[derive(Clone)]
pub struct GithubOidc {
    request_url: reqwest::Url,
    request_token: String,
    http: reqwest::Client,
}

impl fmt::Debug for GithubOidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubOidc")
            .field("host", &self.host())
            .field("request_token", &"***")
            .finish()
    }
}

impl GithubOidc {
    /// Reads `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; either unset
    /// (or blank) is [`CiTokenError::NotAvailable`] naming it.
    pub fn from_env() -> Result<GithubOidc, CiTokenError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`Self::from_env`] over any variable lookup.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<GithubOidc, CiTokenError> {
        let get = |variable: &'static str| {
            var(variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or(CiTokenError::NotAvailable { variable })
        };
        let url = get(REQUEST_URL_VAR)?;
        let token = get(REQUEST_TOKEN_VAR)?;
        Self::parse(REQUEST_URL_VAR, &url, token)
    }

    /// The token service at `request_url` (GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL`, or a fake),
    /// authorized by `request_token`.
    ///
    /// ```
    /// let oidc = faas_core::ci_token::GithubOidc::new("http://127.0.0.1:9/idtoken?api-version=2.0", "t").unwrap();
    /// assert!(!format!("{oidc:?}").contains("api-version"));
    /// assert!(faas_core::ci_token::GithubOidc::new("ftp://x", "t").is_err());
    /// ```
    pub fn new(request_url: &str, request_token: impl Into<String>) -> Result<GithubOidc, CiTokenError> {
        Self::parse("request_url", request_url, request_token.into())
    }

    fn parse(variable: &'static str, url: &str, request_token: String) -> Result<GithubOidc, CiTokenError> {
        let request_url = reqwest::Url::parse(url.trim()).map_err(|e| CiTokenError::InvalidRequestUrl {
            variable,
            reason: format!("not a URL ({e}); GitHub sets it when the job has `permissions: id-token: write`"),
        })?;
        if !matches!(request_url.scheme(), "http" | "https") || request_url.host_str().is_none() {
            return Err(CiTokenError::InvalidRequestUrl {
                variable,
                reason: format!(
                    "scheme {:?}: an http(s) URL with a host is needed",
                    request_url.scheme()
                ),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CiTokenError::Request {
                host: host_of(&request_url),
                source: e.without_url(),
            })?;
        Ok(GithubOidc {
            request_url,
            request_token,
            http,
        })
    }

    /// The token service's host (what errors and logs name).
    pub fn host(&self) -> String {
        host_of(&self.request_url)
    }

    /// The request an ID token for `audience` comes from — the URL (with `audience`) and the
    /// `Authorization` header's value — for credential libraries that fetch the token
    /// themselves (an `external_account` configuration's `credential_source.url` and
    /// `headers`, as google-github-actions/auth writes it). The header holds the request
    /// token: a secret, never to be logged. A bad audience is
    /// [`CiTokenError::InvalidAudience`].
    pub fn token_request(&self, audience: &str) -> Result<(String, String), CiTokenError> {
        check_audience(audience)?;
        let mut url = self.request_url.clone();
        url.query_pairs_mut().append_pair("audience", audience);
        Ok((url.to_string(), format!("Bearer {}", self.request_token)))
    }

    /// An ID token whose `aud` claim is `audience` (`sts.amazonaws.com` for AWS, the workload
    /// identity provider's resource name for GCP, `api://AzureADTokenExchange` for Azure). A
    /// bad audience is [`CiTokenError::InvalidAudience`] before any request.
    pub async fn id_token(&self, audience: &str) -> Result<CiIdToken, CiTokenError> {
        check_audience(audience)?;
        let mut url = self.request_url.clone();
        url.query_pairs_mut().append_pair("audience", audience);
        let host = self.host();
        tracing::debug!(%host, audience, "requesting the GitHub Actions ID token");
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.request_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| CiTokenError::Request {
                host: host.clone(),
                source: e.without_url(),
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| CiTokenError::Request {
            host: host.clone(),
            source: e.without_url(),
        })?;
        if !status.is_success() {
            let line = text.lines().next().unwrap_or("").chars().take(300).collect::<String>();
            return Err(CiTokenError::Refused {
                host,
                status: status.as_u16(),
                message: line.replace(self.request_token.as_str(), "***"),
            });
        }
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| CiTokenError::InvalidResponse {
            host: host.clone(),
            reason: format!("not JSON ({e})"),
        })?;
        match body.get("value").and_then(serde_json::Value::as_str) {
            Some(token) if !token.is_empty() => {
                tracing::debug!(%host, audience, "got the GitHub Actions ID token");
                Ok(CiIdToken(token.to_string()))
            }
            _ => Err(CiTokenError::InvalidResponse {
                host,
                reason: "no `value` string in the JSON answer".into(),
            }),
        }
    }
}

fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "(no host)".into(),
    }
}

fn check_audience(audience: &str) -> Result<(), CiTokenError> {
    let bad = |reason: String| {
        Err(CiTokenError::InvalidAudience {
            audience: audience.chars().take(80).collect(),
            reason,
        })
    };
    if audience.trim().is_empty() {
        return bad("empty: name the cloud's audience (sts.amazonaws.com, api://AzureADTokenExchange, or the GCP workload identity provider)".into());
    }
    if audience.len() > MAX_AUDIENCE_LEN {
        return bad(format!(
            "{} bytes, over the {MAX_AUDIENCE_LEN}-byte limit: use the cloud's audience URL or URN",
            audience.len()
        ));
    }
    if audience.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("holds whitespace or a control character: an audience is a URL or URN".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let e = GithubOidc::from_vars(|_| None).unwrap_err();
        assert!(
            matches!(
                e,
                CiTokenError::NotAvailable {
                    variable: REQUEST_URL_VAR
                }
            ),
            "{e}"
        );
        let e = GithubOidc::from_vars(|k| (k == REQUEST_URL_VAR).then(|| "https://x/idtoken?a=1".into())).unwrap_err();
        assert!(
            matches!(
                e,
                CiTokenError::NotAvailable {
                    variable: REQUEST_TOKEN_VAR
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("id-token: write"), "{e}");
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let e = GithubOidc::from_vars(|k| {
            Some(
                if k == REQUEST_URL_VAR {
                    "file:///sig=canary"
                } else {
                    "tok"
                }
                .into(),
            )
        })
        .unwrap_err();
        assert!(matches!(e, CiTokenError::InvalidRequestUrl { .. }), "{e}");
        assert!(!e.to_string().contains("canary"), "{e}");
    }

    #[test]
    fn audiences_are_checked() {
        assert!(check_audience("sts.amazonaws.com").is_ok());
        assert!(
            check_audience("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/gh")
                .is_ok()
        );
        for bad in ["", "  ", "a b", "a\nb"] {
            assert!(check_audience(bad).is_err(), "{bad:?}");
        }
        let long = "a".repeat(MAX_AUDIENCE_LEN + 1);
        let e = check_audience(&long).unwrap_err();
        assert!(e.to_string().contains("1024"), "{e}");
    }
}
