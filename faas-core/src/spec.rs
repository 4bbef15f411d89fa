//! [`FunctionSpec`]: what a function should look like, and [`Limits`] to check it against.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use faas_package::{Architecture, Runtime};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The desired configuration of a function, provider-neutral with a typed section per cloud.
///
/// ```
/// use faas_core::{FunctionSpec, Limits};
/// let spec = FunctionSpec::new("hello", "python3.12".parse().unwrap(), "lambda_function.lambda_handler")
///     .memory_mb(256)
///     .timeout_s(10)
///     .env("LOG_LEVEL", "INFO")
///     .secret_env("API_KEY", "s3cr3t");
/// spec.validate(&Limits::LAMBDA).unwrap();
/// assert!(!format!("{spec:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The function's name.
    pub name: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The handler or entry point (`lambda_function.lambda_handler`, `index.handler`, `main`).
    pub handler: String,
    /// Memory in MB.
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    /// Environment variables.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Names of environment variables whose values are secret: shown as `***` everywhere.
    #[serde(default)]
    pub secret_env: BTreeSet<String>,
    /// Tags (AWS) or labels (GCP, Azure).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The CPU architecture.
    #[serde(default)]
    pub architecture: Architecture,
    /// A description.
    #[serde(default)]
    pub description: String,
    /// AWS Lambda settings.
    #[serde(default)]
    pub aws: AwsSettings,
    /// Google Cloud Functions settings.
    #[serde(default)]
    pub gcp: GcpSettings,
    /// Azure Functions settings.
    #[serde(default)]
    pub azure: AzureSettings,
}

fn default_memory() -> u32 {
    128
}
fn default_timeout() -> u32 {
    3
}

/// AWS Lambda specifics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsSettings {
    /// The execution role ARN (required to create a function).
    pub role_arn: Option<String>,
    /// Layer version ARNs.
    #[serde(default)]
    pub layers: Vec<String>,
    /// `/tmp` size in MB (512–10240).
    pub ephemeral_storage_mb: Option<u32>,
    /// Reserved concurrency: at most this many invocations run at once (0 stops the
    /// function); beyond it a synchronous call is throttled. `None`: unreserved. The local
    /// provider enforces it with its execution environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// A function URL: an HTTPS endpoint Lambda serves the function on, created or updated
    /// to match, its address in [`Deployment::url`](crate::Deployment::url). `None`: faas
    /// manages no URL (one made by hand is left alone). Providers without
    /// [`Capability::function_urls`](crate::Capability::function_urls) refuse it as
    /// [`Error::Unsupported`] before any call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_url: Option<FunctionUrl>,
    /// Lambda SnapStart (`ApplyOn=PublishedVersions`): published versions start from a
    /// snapshot; publishing waits until the version's `OptimizationStatus` is `On`. Lambda
    /// offers it for Java 11+, Python 3.12+ and .NET 8+ (of faas's runtimes: Python 3.12+),
    /// not with ephemeral storage over 512 MB (nor provisioned concurrency or EFS, and never
    /// on `$LATEST`); faas-aws refuses a runtime or storage it does not allow before any call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snap_start: bool,
}

/// A Lambda function URL's settings (`CreateFunctionUrlConfig`).
///
/// ```
/// use faas_core::{FunctionSpec, FunctionUrl, UrlAuth};
/// let spec = FunctionSpec::new("api", "python3.12".parse().unwrap(), "app.handler")
///     .function_url(FunctionUrl::public().cors_origins(["https://example.com"]));
/// assert_eq!(spec.aws.function_url.unwrap().auth, UrlAuth::None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionUrl {
    /// Who may call it.
    pub auth: UrlAuth,
    /// Cross-origin resource sharing, when browsers call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<UrlCors>,
}

impl FunctionUrl {
    /// A public URL (`AuthType=NONE`): faas-aws adds the two resource-policy statements
    /// Lambda requires for it (`lambda:InvokeFunctionUrl` and `lambda:InvokeFunction`).
    pub fn public() -> FunctionUrl {
        FunctionUrl {
            auth: UrlAuth::None,
            cors: None,
        }
    }

    /// A URL only IAM-signed requests may call (`AuthType=AWS_IAM`).
    pub fn iam() -> FunctionUrl {
        FunctionUrl {
            auth: UrlAuth::AwsIam,
            cors: None,
        }
    }

    /// Allows these origins (CORS, with Lambda's defaults for the rest).
    pub fn cors_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> FunctionUrl {
        let cors = self.cors.get_or_insert_with(UrlCors::default);
        cors.allow_origins = origins.into_iter().map(Into::into).collect();
        self
    }
}

/// A function URL's `AuthType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UrlAuth {
    /// `NONE`: anyone may call it (public).
    None,
    /// `AWS_IAM`: only callers with `lambda:InvokeFunctionUrl` (SigV4-signed requests).
    AwsIam,
}

/// A function URL's CORS settings (Lambda's `Cors`); empty lists are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlCors {
    /// `AllowOrigins`: origins allowed to call it (`*` for any).
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// `AllowMethods`: HTTP methods (`GET`, `POST`, `*`).
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// `AllowHeaders`: request headers allowed.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// `ExposeHeaders`: response headers exposed to the browser.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `AllowCredentials`: cookies and authorization headers allowed.
    #[serde(default)]
    pub allow_credentials: bool,
    /// `MaxAge`: seconds a browser may cache the preflight answer (0–86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_s: Option<u32>,
}

/// The largest reserved concurrency accepted: Lambda's default account concurrency.
pub const MAX_RESERVED_CONCURRENCY: u32 = 1000;

/// Google Cloud Functions (2nd gen) specifics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcpSettings {
    /// The runtime service account e-mail.
    pub service_account: Option<String>,
    /// Minimum instances.
    pub min_instances: Option<u32>,
    /// Maximum instances.
    pub max_instances: Option<u32>,
}

/// Azure Functions specifics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSettings {
    /// The App Service plan resource id (`serverFarmId`).
    pub plan_id: Option<String>,
    /// The functions extension version (default `~4`).
    pub extension_version: Option<String>,
}

impl fmt::Debug for FunctionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionSpec")
            .field("name", &self.name)
            .field("runtime", &self.runtime.to_string())
            .field("handler", &self.handler)
            .field("memory_mb", &self.memory_mb)
            .field("timeout_s", &self.timeout_s)
            .field("environment", &self.redacted_env())
            .field("tags", &self.tags)
            .field("architecture", &self.architecture)
            .field("description", &self.description)
            .field("aws", &self.aws)
            .field("gcp", &self.gcp)
            .field("azure", &self.azure)
            .finish()
    }
}

/// What a secret value is shown as.
pub const REDACTED: &str = "***";

impl FunctionSpec {
    /// A spec with Lambda's defaults: 128 MB, 3 s, x86_64.
    pub fn new(name: impl Into<String>, runtime: Runtime, handler: impl Into<String>) -> Self {
        FunctionSpec {
            name: name.into(),
            runtime,
            handler: handler.into(),
            memory_mb: default_memory(),
            timeout_s: default_timeout(),
            environment: BTreeMap::new(),
            secret_env: BTreeSet::new(),
            tags: BTreeMap::new(),
            architecture: Architecture::default(),
            description: String::new(),
            aws: AwsSettings::default(),
            gcp: GcpSettings::default(),
            azure: AzureSettings::default(),
        }
    }

    /// Sets the memory in MB.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Sets the timeout in seconds.
    pub fn timeout_s(mut self, s: u32) -> Self {
        self.timeout_s = s;
        self
    }

    /// Sets the reserved concurrency (`aws.reserved_concurrency`, 0–1000).
    pub fn reserved_concurrency(mut self, n: u32) -> Self {
        self.aws.reserved_concurrency = Some(n);
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Adds an environment variable whose value is secret.
    pub fn secret_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.secret_env.insert(key.clone());
        self.environment.insert(key, value.into());
        self
    }

    /// Asks for a function URL (`aws.function_url`).
    pub fn function_url(mut self, url: FunctionUrl) -> Self {
        self.aws.function_url = Some(url);
        self
    }

    /// Sets the execution role (AWS).
    pub fn role(mut self, arn: impl Into<String>) -> Self {
        self.aws.role_arn = Some(arn.into());
        self
    }

    /// The environment with secret values replaced by `***`.
    pub fn redacted_env(&self) -> BTreeMap<String, String> {
        self.environment
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_env.contains(k) {
                    REDACTED.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect()
    }

    /// Whether the variable `key` is secret.
    pub fn is_secret(&self, key: &str) -> bool {
        self.secret_env.contains(key)
    }

    /// Checks the spec against `limits`, naming the field, the value and the limit.
    pub fn validate(&self, limits: &Limits) -> Result<()> {
        validate_name(&self.name, limits)?;
        let (lo, hi) = limits.memory_mb;
        if self.memory_mb < lo || self.memory_mb > hi {
            return Err(Error::invalid(
                "memory_mb",
                self.memory_mb,
                format!("memory must be {lo}–{hi} MB"),
            ));
        }
        if let Some(step) = limits.memory_step_mb.filter(|s| !self.memory_mb.is_multiple_of(*s)) {
            return Err(Error::invalid(
                "memory_mb",
                self.memory_mb,
                format!("memory must be a multiple of {step} MB"),
            ));
        }
        let (lo, hi) = limits.timeout_s;
        if self.timeout_s < lo || self.timeout_s > hi {
            return Err(Error::invalid(
                "timeout_s",
                self.timeout_s,
                format!("timeout must be {lo}–{hi} seconds"),
            ));
        }
        self.validate_env(limits)?;
        if self.description.chars().count() > limits.description_max {
            return Err(Error::invalid(
                "description",
                format!("{} characters", self.description.chars().count()),
                format!("at most {} characters", limits.description_max),
            ));
        }
        if let (Some(mb), Some((lo, hi))) = (self.aws.ephemeral_storage_mb, limits.ephemeral_storage_mb)
            && (mb < lo || mb > hi)
        {
            return Err(Error::invalid(
                "aws.ephemeral_storage_mb",
                mb,
                format!("ephemeral storage must be {lo}–{hi} MB"),
            ));
        }
        if let Some(n) = self.aws.reserved_concurrency.filter(|n| *n > MAX_RESERVED_CONCURRENCY) {
            return Err(Error::invalid(
                "aws.reserved_concurrency",
                n,
                format!(
                    "reserved concurrency must be 0–{MAX_RESERVED_CONCURRENCY} (Lambda's default account concurrency)"
                ),
            ));
        }
        if self.handler.trim().is_empty() {
            return Err(Error::invalid("handler", "\"\"", "the handler must not be empty"));
        }
        Ok(())
    }

    fn validate_env(&self, limits: &Limits) -> Result<()> {
        let mut total = 0usize;
        for (k, v) in &self.environment {
            let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::invalid(
                    "environment",
                    format!("{k:?}"),
                    "variable names must start with a letter and hold only letters, digits and _",
                ));
            }
            if limits.reserved_env.contains(&k.as_str()) {
                return Err(Error::invalid(
                    "environment",
                    k,
                    "this variable is reserved by the platform; choose another name",
                ));
            }
            total += k.len() + v.len();
        }
        if total > limits.env_total_bytes {
            return Err(Error::invalid(
                "environment",
                format!("{total} bytes in {} variables", self.environment.len()),
                format!(
                    "the environment may hold at most {} bytes (names plus values); it is {} bytes over: move large values to a parameter store or secret manager",
                    limits.env_total_bytes,
                    total - limits.env_total_bytes
                ),
            ));
        }
        Ok(())
    }
}

fn validate_name(name: &str, limits: &Limits) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if name.is_empty() || name.len() > limits.name_max || !ok_chars {
        return Err(Error::invalid(
            "name",
            format!("{name:?}"),
            format!("a function name is 1–{} characters of [a-zA-Z0-9-_]", limits.name_max),
        ));
    }
    Ok(())
}

/// The limits a provider enforces, checked before any upload or API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory range in MB.
    pub memory_mb: (u32, u32),
    /// Memory must be a multiple of this, when set.
    pub memory_step_mb: Option<u32>,
    /// Timeout range in seconds.
    pub timeout_s: (u32, u32),
    /// Total bytes of environment names plus values.
    pub env_total_bytes: usize,
    /// Environment variable names the platform reserves.
    pub reserved_env: &'static [&'static str],
    /// Longest function name.
    pub name_max: usize,
    /// Longest description, in characters.
    pub description_max: usize,
    /// Ephemeral storage range in MB, where configurable.
    pub ephemeral_storage_mb: Option<(u32, u32)>,
    /// Largest zip uploaded inline, in bytes.
    pub inline_zip_bytes: u64,
    /// Largest unzipped package, in bytes.
    pub unzipped_bytes: u64,
    /// Largest event of a synchronous invocation, in bytes (Lambda: 6 MB; larger ones are
    /// refused before any call, as Lambda answers `413 RequestEntityTooLargeException`).
    pub payload_bytes: u64,
}

/// Environment variables Lambda sets itself and refuses in a function's configuration.
pub const LAMBDA_RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

impl Limits {
    /// AWS Lambda's documented quotas.
    pub const LAMBDA: Limits = Limits {
        memory_mb: (128, 10_240),
        memory_step_mb: None,
        timeout_s: (1, 900),
        env_total_bytes: 4 * 1024,
        reserved_env: LAMBDA_RESERVED_ENV,
        name_max: 64,
        description_max: 256,
        ephemeral_storage_mb: Some((512, 10_240)),
        inline_zip_bytes: 50 * 1024 * 1024,
        unzipped_bytes: 250 * 1024 * 1024,
        payload_bytes: 6 * 1024 * 1024,
    };

    /// The size limits as [`faas_package::PackageLimits`].
    pub fn package_limits(&self) -> faas_package::PackageLimits {
        faas_package::PackageLimits {
            max_zipped: None,
            max_unzipped: Some(self.unzipped_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec::new("fn-1", "python3.12".parse().unwrap(), "lambda_function.lambda_handler")
    }

    fn field(err: Error) -> (String, String) {
        match err {
            Error::InvalidInput { field, reason, .. } => (field, reason),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn valid_spec_passes() {
        spec().validate(&Limits::LAMBDA).unwrap();
    }

    #[test]
    fn memory_and_timeout_limits() {
        for mb in [64, 20_000] {
            let (f, r) = field(spec().memory_mb(mb).validate(&Limits::LAMBDA).unwrap_err());
            assert_eq!(f, "memory_mb");
            assert!(r.contains("128–10240 MB"), "{r}");
        }
        for s in [0, 901] {
            let (f, r) = field(spec().timeout_s(s).validate(&Limits::LAMBDA).unwrap_err());
            assert_eq!(f, "timeout_s");
            assert!(r.contains("1–900"), "{r}");
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "has space", "a/b", &"x".repeat(65)] {
            let mut s = spec();
            s.name = bad.to_string();
            let (f, r) = field(s.validate(&Limits::LAMBDA).unwrap_err());
            assert_eq!(f, "name");
            assert!(r.contains("1–64"), "{r}");
        }
    }

    #[test]
    fn environment_size_says_by_how_much() {
        let s = spec().env("BIG", "x".repeat(4096));
        let err = s.validate(&Limits::LAMBDA).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("4096 bytes") && msg.contains("3 bytes over"), "{msg}");
        let (f, _) = field(spec().env("AWS_REGION", "x").validate(&Limits::LAMBDA).unwrap_err());
        assert_eq!(f, "environment");
        let (f, _) = field(spec().env("1BAD", "x").validate(&Limits::LAMBDA).unwrap_err());
        assert_eq!(f, "environment");
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let s = spec().secret_env("TOKEN", "hunter2-secret").env("PLAIN", "visible");
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("hunter2") && dbg.contains("visible") && dbg.contains(REDACTED),
            "{dbg}"
        );
        let big = spec().secret_env("TOKEN", "s".repeat(5000));
        let msg = big.validate(&Limits::LAMBDA).unwrap_err().to_string();
        assert!(!msg.contains("sssss"), "{msg}");
    }
}
