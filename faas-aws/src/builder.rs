//! [`AwsBuilder`]: one SDK configuration for Lambda, S3, STS, CloudWatch and CloudWatch Logs.

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use faas_core::{Error, PollPolicy, Result, RetryConfig, Timeouts};

use crate::AwsProvider;
use crate::NAME;
use crate::web_identity::{AWS_AUDIENCE, WebIdentity, WebIdentityCredentials, WebIdentityToken};

/// A role to assume through STS before calling Lambda and S3.
#[derive(Clone, PartialEq, Eq)]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// The session name (default `faas`).
    pub session_name: Option<String>,
    /// How long each session lasts (default one hour); credentials are refreshed before they expire.
    pub duration: Option<Duration>,
}

impl fmt::Debug for AssumeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRole")
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "***"))
            .field("session_name", &self.session_name)
            .field("duration", &self.duration)
            .finish()
    }
}

/// The keys [`AwsBuilder::with_config`] takes (besides `faas_core::settings::COMMON_KEYS`).
pub const CONFIG_KEYS: &[&str] = &[
    "region",
    "profile",
    "endpoint_url",
    "bucket",
    "prefix",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "role_arn",
    "external_id",
    "session_name",
    "role_duration_s",
    "inline_limit_bytes",
    "auth",
    "web_identity_token_file",
    "audience",
];

/// How the builder's `auth` key chose to authenticate (resolved by `build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum AuthKind {
    /// Static keys when given, else aws-config's default chain.
    #[default]
    Default,
    /// `AssumeRoleWithWebIdentity` with a token file.
    WebIdentity,
    /// `AssumeRoleWithWebIdentity` with the GitHub Actions job's ID token.
    GithubOidc,
}

/// Static credentials. `Debug` never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StaticKeys {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary keys.
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Builds an [`AwsProvider`].
///
/// ```no_run
/// # async fn t() -> Result<(), faas_core::Error> {
/// let aws = faas_aws::AwsBuilder::from_env()
///     .region("eu-west-1")
///     .bucket("my-artifacts")
///     .prefix("functions/")
///     .assume_role(faas_aws::AssumeRole {
///         role_arn: "arn:aws:iam::123456789012:role/deployer".into(),
///         external_id: Some("ci".into()),
///         session_name: None,
///         duration: None,
///     })
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AwsBuilder {
    pub(crate) region: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) keys: Option<StaticKeys>,
    pub(crate) assume_role: Option<AssumeRole>,
    pub(crate) web_identity: Option<WebIdentity>,
    pub(crate) auth: AuthKind,
    pub(crate) web_identity_token_file: Option<std::path::PathBuf>,
    pub(crate) audience: Option<String>,
    pub(crate) bucket: Option<String>,
    pub(crate) prefix: String,
    pub(crate) inline_limit: u64,
    pub(crate) multipart_threshold: u64,
    pub(crate) part_size: u64,
    pub(crate) retry: RetryConfig,
    pub(crate) poll: PollPolicy,
    pub(crate) timeouts: Timeouts,
    pub(crate) sdk_config: Option<aws_config::SdkConfig>,
    /// A bad environment value, reported by `build`.
    pub(crate) env_problem: faas_core::settings::EnvProblem,
}

impl Default for AwsBuilder {
    fn default() -> Self {
        AwsBuilder {
            region: None,
            profile: None,
            endpoint_url: None,
            keys: None,
            assume_role: None,
            web_identity: None,
            auth: AuthKind::Default,
            web_identity_token_file: None,
            audience: None,
            bucket: None,
            prefix: String::new(),
            inline_limit: 50 * 1024 * 1024,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            retry: RetryConfig::default(),
            poll: PollPolicy::default(),
            timeouts: Timeouts::default(),
            sdk_config: None,
            env_problem: Default::default(),
        }
    }
}

impl AwsBuilder {
    /// Reads `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`,
    /// `FAAS_AWS_BUCKET` and `FAAS_AWS_PREFIX`; credentials come from the standard chain
    /// (environment, profile, SSO, web identity, container and instance metadata). Strict:
    /// an `AWS_ENDPOINT_URL` that is not an http(s) URL makes [`AwsBuilder::build`] fail
    /// with [`Error::InvalidConfig`] naming the variable.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut b = AwsBuilder {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            profile: var("AWS_PROFILE"),
            bucket: var("FAAS_AWS_BUCKET"),
            prefix: var("FAAS_AWS_PREFIX").unwrap_or_default(),
            ..AwsBuilder::default()
        };
        // Strict: a bad value fails `build`, naming the variable.
        if let Some(v) = var("AWS_ENDPOINT_URL") {
            let mut problem = std::mem::take(&mut b.env_problem);
            b = problem.apply(b, "AWS_ENDPOINT_URL", &v, |b| b.with_config("endpoint_url", &v));
            b.env_problem = problem;
        }
        b
    }

    /// The region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A named profile from `~/.aws/config`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// One endpoint for every service (an emulator such as moto); S3 then uses path-style URLs.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Static keys instead of the default credential chain.
    pub fn static_keys(mut self, keys: StaticKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Assume this role (with the base credentials) for every call.
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }

    /// Assume a role with a web identity token (a token file, or the GitHub Actions job's ID
    /// token) instead of other credentials: `sts:AssumeRoleWithWebIdentity`, refreshed before
    /// each session expires. `assume_role` and static keys do not combine with it.
    pub fn web_identity(mut self, identity: WebIdentity) -> Self {
        self.web_identity = Some(identity);
        self
    }

    /// The S3 bucket for artifacts. Without one, packages go inline (up to the inline limit).
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// The key prefix in the bucket (`functions/`); keys are `{prefix}{function}/{sha256}.zip`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Packages below this size are sent inline as `ZipFile` (default 50 MB, Lambda's limit).
    pub fn inline_limit(mut self, bytes: u64) -> Self {
        self.inline_limit = bytes;
        self
    }

    /// Uploads at or above this size use S3 multipart (default 16 MB), in parts of `part_size`
    /// bytes (default 8 MB, at least 5 MB as S3 requires), one part in memory at a time.
    pub fn multipart(mut self, threshold: u64, part_size: u64) -> Self {
        self.multipart_threshold = threshold;
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }

    /// Retries: drives the SDK's standard retry mode (throttling — `429` with or without an
    /// error code, S3 included —, 5xx, transport errors; a `Retry-After` is waited, up to the
    /// deadline) and faas's own retries of `ResourceConflictException`, which the SDK does not
    /// retry. One layer retries each error: they never multiply.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// How long waits for `State`/`LastUpdateStatus` poll.
    pub fn poll(mut self, poll: PollPolicy) -> Self {
        self.poll = poll;
        self
    }

    /// Defaults, without reading the environment (the SDK's credential chain still does).
    pub fn new() -> Self {
        AwsBuilder::default()
    }

    /// One setting by name — so a YAML block, a map or the environment configures the
    /// provider like the methods do. Keys (the environment variable `from_env` reads, if any):
    ///
    /// | key | meaning |
    /// |---|---|
    /// | `region` (`AWS_REGION`) | the region |
    /// | `profile` (`AWS_PROFILE`) | a profile of `~/.aws/config` |
    /// | `endpoint_url` (`AWS_ENDPOINT_URL`) | one endpoint for every service (an emulator) |
    /// | `bucket` (`FAAS_AWS_BUCKET`), `prefix` (`FAAS_AWS_PREFIX`) | the S3 artifact store |
    /// | `access_key_id`, `secret_access_key`, `session_token` | static keys |
    /// | `role_arn`, `external_id`, `session_name`, `role_duration_s` | assume this role |
    /// | `inline_limit_bytes` | packages below this go inline (50 MB) |
    /// | `auth` | `default`, `web_identity` or `github_oidc` (below) |
    /// | `web_identity_token_file` (`AWS_WEB_IDENTITY_TOKEN_FILE`) | the token file of `auth = web_identity` |
    /// | `audience` | the `aud` of `auth = github_oidc`'s token (`sts.amazonaws.com`) |
    ///
    /// `auth` picks how to authenticate:
    ///
    /// | `auth` | credentials | keys it uses |
    /// |---|---|---|
    /// | `default` (unset) | static keys when given, else aws-config's chain (environment, profile, SSO, `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, container, instance) | `access_key_id`…, `profile` |
    /// | `web_identity` | `sts:AssumeRoleWithWebIdentity` with the token read from a file at each refresh | `role_arn` (`AWS_ROLE_ARN`), `web_identity_token_file` (`AWS_WEB_IDENTITY_TOKEN_FILE`), `session_name` (`AWS_ROLE_SESSION_NAME`), `role_duration_s` |
    /// | `github_oidc` | `sts:AssumeRoleWithWebIdentity` with the GitHub Actions job's ID token (`ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN`; the job needs `permissions: id-token: write`) | `role_arn`, `audience`, `session_name`, `role_duration_s` |
    ///
    /// With `web_identity` or `github_oidc`, `role_arn` names the role assumed with the token
    /// (no second `AssumeRole` on top), and `external_id` or static keys are refused.
    ///
    /// plus the keys every builder takes (`faas_core::settings`: retries, polling, timeouts).
    /// An unknown key or a bad value is `Error::InvalidConfig` naming it.
    ///
    /// ```
    /// let b = faas_aws::AwsBuilder::new().with_config("region", "eu-west-1").unwrap();
    /// assert!(b.with_config("colour", "blue").is_err());
    /// ```
    pub fn with_config(self, key: &str, value: &str) -> Result<Self> {
        self.set_config(key, value).map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::with_config`], before the error names the provider.
    fn set_config(mut self, key: &str, value: &str) -> Result<Self> {
        use faas_core::settings;
        let text = || value.to_string();
        match key {
            "region" => self.region = Some(text()),
            "profile" => self.profile = Some(text()),
            "endpoint_url" => self.endpoint_url = Some(settings::url(key, value)?),
            "bucket" => self.bucket = Some(text()),
            "prefix" => self.prefix = text(),
            "access_key_id" => self.keys.get_or_insert_with(StaticKeys::default).access_key_id = text(),
            "secret_access_key" => self.keys.get_or_insert_with(StaticKeys::default).secret_access_key = text(),
            "session_token" => self.keys.get_or_insert_with(StaticKeys::default).session_token = Some(text()),
            "role_arn" => self.role_mut().role_arn = text(),
            "external_id" => self.role_mut().external_id = Some(text()),
            "session_name" => self.role_mut().session_name = Some(text()),
            "role_duration_s" => self.role_mut().duration = Some(settings::seconds(key, value)?),
            "inline_limit_bytes" => self.inline_limit = settings::parse(key, value, "a number of bytes")?,
            "auth" => {
                self.auth = match value.trim() {
                    "default" => AuthKind::Default,
                    "web_identity" => AuthKind::WebIdentity,
                    "github_oidc" => AuthKind::GithubOidc,
                    _ => {
                        return Err(Error::config(
                            key,
                            value,
                            "one of default, web_identity (a token file), github_oidc (the GitHub Actions job's ID token)",
                        ));
                    }
                }
            }
            "web_identity_token_file" => self.web_identity_token_file = Some(text().into()),
            "audience" => self.audience = Some(text()),
            _ => {
                if !settings::apply_common(key, value, &mut self.retry, &mut self.poll, &mut self.timeouts)? {
                    return Err(settings::unknown_key("aws", key, CONFIG_KEYS, true));
                }
            }
        }
        if self
            .keys
            .as_ref()
            .is_some_and(|k| k.access_key_id.is_empty() && k.secret_access_key.is_empty() && k.session_token.is_none())
        {
            self.keys = None;
        }
        Ok(self)
    }

    /// The web identity to assume — set with [`Self::web_identity`] or chosen by the `auth`
    /// key (the role and token file then from the keys or the `AWS_*` variables) — checked
    /// before any call. Taking it clears the role, which then is not assumed a second time.
    fn resolve_web_identity(&mut self) -> Result<Option<WebIdentity>> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let kind = if self.web_identity.is_some() {
            "web_identity"
        } else {
            match self.auth {
                AuthKind::Default => return Ok(None),
                AuthKind::WebIdentity => "auth = web_identity",
                AuthKind::GithubOidc => "auth = github_oidc",
            }
        };
        if self.keys.is_some() {
            return Err(Error::config(
                "access_key_id",
                "(set)",
                format!("{kind} assumes a role with a token: remove the static keys, or leave auth unset"),
            ));
        }
        let role = self.assume_role.take();
        if role.as_ref().is_some_and(|r| r.external_id.is_some()) {
            return Err(Error::config(
                "external_id",
                "(set)",
                format!(
                    "{kind}: AssumeRoleWithWebIdentity takes no external id; the role's trust policy checks the token's claims instead"
                ),
            ));
        }
        if let Some(identity) = self.web_identity.clone() {
            check_token_file(&identity.token)?;
            return Ok(Some(identity));
        }
        let (role_arn, session_name, duration) = match role {
            Some(r) => (Some(r.role_arn).filter(|a| !a.is_empty()), r.session_name, r.duration),
            None => (None, None, None),
        };
        let token = if self.auth == AuthKind::WebIdentity {
            let path = self
                .web_identity_token_file
                .clone()
                .or_else(|| var("AWS_WEB_IDENTITY_TOKEN_FILE").map(Into::into))
                .ok_or_else(|| {
                    Error::config(
                        "web_identity_token_file",
                        "(unset)",
                        "auth = web_identity needs the token file: set web_identity_token_file or AWS_WEB_IDENTITY_TOKEN_FILE",
                    )
                })?;
            WebIdentityToken::File(path)
        } else {
            let oidc = faas_core::ci_token::GithubOidc::from_env().map_err(|e| {
                Error::config(
                    "auth",
                    "github_oidc",
                    format!("{e}; outside GitHub Actions use auth = web_identity with a token file"),
                )
            })?;
            let audience = self.audience.clone().unwrap_or_else(|| AWS_AUDIENCE.into());
            WebIdentityToken::GithubOidc { oidc, audience }
        };
        let role_arn = role_arn
            .or_else(|| {
                (self.auth == AuthKind::WebIdentity)
                    .then(|| var("AWS_ROLE_ARN"))
                    .flatten()
            })
            .ok_or_else(|| {
                Error::config(
                    "role_arn",
                    "(unset)",
                    format!("{kind} needs the role to assume: set role_arn (or AWS_ROLE_ARN for web_identity)"),
                )
            })?;
        let session_name = session_name.or_else(|| var("AWS_ROLE_SESSION_NAME"));
        check_token_file(&token)?;
        Ok(Some(WebIdentity {
            role_arn,
            token,
            session_name,
            duration,
        }))
    }

    fn role_mut(&mut self) -> &mut AssumeRole {
        self.assume_role.get_or_insert_with(|| AssumeRole {
            role_arn: String::new(),
            external_id: None,
            session_name: None,
            duration: None,
        })
    }

    /// Use an `SdkConfig` you already have (credentials, region, endpoint, retry and timeout
    /// settings included) instead of loading one; `assume_role` still applies on top. The
    /// builder's region, profile, endpoint, keys, retry and timeouts are then not used.
    pub fn sdk_config(mut self, config: aws_config::SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self
    }

    /// Connect, read and whole-request timeouts of every SDK call (see [`Timeouts`]); a call
    /// that runs out of them is `Error::Timeout` naming it (`lambda:GetFunction`).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Loads the SDK configuration and builds the provider.
    pub async fn build(self) -> Result<AwsProvider> {
        self.build_provider().await.map_err(|e| e.with_provider(NAME))
    }

    /// [`Self::build`], before the error names the provider.
    async fn build_provider(mut self) -> Result<AwsProvider> {
        self.env_problem.check()?;
        if let Some(k) = &self.keys
            && (k.access_key_id.is_empty() || k.secret_access_key.is_empty())
        {
            let missing = if k.access_key_id.is_empty() {
                "access_key_id"
            } else {
                "secret_access_key"
            };
            return Err(Error::config(
                missing,
                "(unset)",
                "static keys need both access_key_id and secret_access_key",
            ));
        }
        let web_identity = self.resolve_web_identity()?;
        if self.assume_role.as_ref().is_some_and(|r| r.role_arn.is_empty()) {
            return Err(Error::config(
                "role_arn",
                "(unset)",
                "assuming a role needs its role_arn",
            ));
        }
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(self.retry.max_attempts.max(1))
            .with_initial_backoff(self.retry.initial_backoff)
            // The SDK caps a server's Retry-After at its max backoff: allow up to the deadline,
            // as faas-core's own retries do (the exponential backoff never gets near it with
            // the attempts allowed).
            .with_max_backoff(self.retry.max_backoff.max(self.retry.deadline));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.timeouts.connect)
            .read_timeout(self.timeouts.read)
            .operation_attempt_timeout(self.timeouts.operation)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(keys) = &self.keys {
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.clone(),
                keys.session_token.clone(),
                None,
                "faas-static",
            ));
        }
        let mut config = match self.sdk_config.clone() {
            Some(c) => c,
            None => loader.load().await,
        };
        if config.region().is_none() {
            return Err(Error::config(
                "region",
                "(none)",
                "no AWS region: set AWS_REGION or call AwsBuilder::region",
            ));
        }
        if let Some(identity) = web_identity {
            let provider = WebIdentityCredentials::new(identity, &config);
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        } else if let Some(role) = &self.assume_role {
            let mut provider = AssumeRoleProvider::builder(role.role_arn.clone())
                .session_name(role.session_name.clone().unwrap_or_else(|| "faas".into()))
                .configure(&config);
            if let Some(id) = &role.external_id {
                provider = provider.external_id(id.clone());
            }
            if let Some(d) = role.duration {
                provider = provider.session_length(d);
            }
            let provider = provider.build().await;
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }
        // Inside a fleet delivery, every SDK attempt is paced by the target's limiter.
        let config = crate::paced::wrap(config);
        Ok(AwsProvider::new(self, &config))
    }
}

/// A token file that is not there is refused before any call (it is read again at each
/// refresh, so one that exists now and is rotated later is fine).
fn check_token_file(token: &WebIdentityToken) -> Result<()> {
    match token {
        WebIdentityToken::File(path) if !path.is_file() => Err(Error::config(
            "web_identity_token_file",
            path.display(),
            "no such file: the runner (EKS, CI) writes the token there before the job starts; check the path",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_that_is_not_a_url_is_refused_naming_the_key() {
        let e = AwsBuilder::new()
            .with_config("endpoint_url", "localhost:4566")
            .unwrap_err();
        assert_eq!((e.kind(), e.provider()), ("invalid_config", crate::NAME));
        assert!(e.to_string().contains("endpoint_url"), "{e}");
    }
}
