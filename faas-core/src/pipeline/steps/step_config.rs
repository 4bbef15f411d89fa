//! [`StepConfig`]: a step's `config` block, as a neutral JSON tree.

use crate::{Error, Result};

/// A step's `config` block as its [`StepFactory`](crate::pipeline::StepFactory) receives it: the environment's overrides
/// merged in and every `${VAR}` replaced. It holds a JSON tree, whatever the file's syntax,
/// so that no parser's type is part of this API; read it whole with
/// [`StepConfig::deserialize`] or look at single keys with [`StepConfig::get`].
///
/// A step type of your own, registered by name:
///
/// ```
/// use std::sync::Arc;
/// use faas_core::pipeline::{Pipeline, RunContext, Step, StepConfig, StepOutcome, StepRegistry};
/// use faas_core::{Provider, Result};
///
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Notify {
///     channel: String,
///     #[serde(default)]
///     retries: u32,
/// }
///
/// #[async_trait::async_trait]
/// impl Step for Notify {
///     fn mutates(&self) -> bool {
///         true
///     }
///
///     async fn run(&self, _: &mut RunContext<'_>, _: Arc<dyn Provider>) -> Result<StepOutcome> {
///         Ok(StepOutcome { summary: format!("notified {}", self.channel), ..Default::default() })
///     }
/// }
///
/// let mut registry = StepRegistry::default();
/// registry.register(
///     "notify",
///     Arc::new(|config: &StepConfig| Ok(Box::new(config.deserialize::<Notify>()?) as Box<dyn Step>)),
/// );
/// let yaml = "lambda_deployment_pipeline:\n  stages:\n    - name: s\n      steps:\n        - { name: tell, type: notify, config: { channel: '#releases', retries: many } }\n";
/// let pipeline = Pipeline::from_yaml_named("custom.yaml", yaml, ".".into(), registry)?;
/// // A config of the wrong shape is an error naming the step's place and the field.
/// let err = pipeline.resolve(None).unwrap_err().to_string();
/// assert!(err.contains("custom.yaml:5:") && err.contains("config.retries"), "{err}");
/// # Ok::<(), faas_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepConfig {
    value: serde_json::Value,
}

impl StepConfig {
    /// A config holding `value` (to test a step factory of your own without a file).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "channel": "#deploys" }));
    /// assert_eq!(config.get("channel"), Some(&serde_json::json!("#deploys")));
    /// ```
    pub fn new(value: serde_json::Value) -> StepConfig {
        StepConfig { value }
    }

    /// The config read as `T` (any `serde::Deserialize` type, typically a struct with
    /// `#[serde(deny_unknown_fields)]`). A mismatch is [`Error::InvalidInput`] whose `field`
    /// is the path of the key at fault (`config.memory_size`, `config.test_cases[0].name`;
    /// `config` for the block itself) and whose `reason` says what was expected; the
    /// pipeline adds the step's `file:line:column`.
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Deploy {
    ///     function_name: String,
    ///     #[serde(default)]
    ///     memory_size: Option<u32>,
    /// }
    ///
    /// let ok = StepConfig::new(serde_json::json!({ "function_name": "f", "memory_size": 256 }));
    /// assert_eq!(ok.deserialize::<Deploy>()?.memory_size, Some(256));
    ///
    /// let bad = StepConfig::new(serde_json::json!({ "function_name": "f", "memory_size": "lots" }));
    /// match bad.deserialize::<Deploy>() {
    ///     Err(faas_core::Error::InvalidInput { field, reason, .. }) => {
    ///         assert_eq!(field, "config.memory_size");
    ///         assert!(reason.contains("expected u32"), "{reason}");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), faas_core::Error>(())
    /// ```
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_path_to_error::deserialize(&self.value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path.is_empty() || path == "." {
                "config".to_string()
            } else {
                format!("config.{path}")
            };
            Error::invalid(field, "", e.into_inner().to_string())
        })
    }

    /// The value under `key` when the config is a map that has it (`None` for a missing
    /// key, and for a config that is not a map, such as an absent `config:`).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "channel": "#releases", "quiet": true }));
    /// assert_eq!(config.get("channel").and_then(|v| v.as_str()), Some("#releases"));
    /// assert_eq!(config.get("quiet").and_then(|v| v.as_bool()), Some(true));
    /// assert!(config.get("missing").is_none());
    /// assert!(StepConfig::default().get("channel").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.value.get(key)
    }

    /// Whether the step has no config (`config:` absent, empty or `null`).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// assert!(StepConfig::default().is_empty());
    /// assert!(StepConfig::new(serde_json::json!({})).is_empty());
    /// assert!(!StepConfig::new(serde_json::json!({ "a": 1 })).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        match &self.value {
            serde_json::Value::Null => true,
            serde_json::Value::Object(map) => map.is_empty(),
            _ => false,
        }
    }

    /// The whole config as a JSON tree (`null` when the step has none).
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::new(serde_json::json!({ "retries": 3 }));
    /// assert_eq!(config.as_json()["retries"], 3);
    /// assert!(StepConfig::default().as_json().is_null());
    /// ```
    pub fn as_json(&self) -> &serde_json::Value {
        &self.value
    }

    /// The config as its JSON tree, taken out.
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let tree = StepConfig::new(serde_json::json!([1, 2])).into_json();
    /// assert_eq!(tree, serde_json::json!([1, 2]));
    /// ```
    pub fn into_json(self) -> serde_json::Value {
        self.value
    }
}

impl From<serde_json::Value> for StepConfig {
    /// The same as [`StepConfig::new`].
    ///
    /// ```
    /// use faas_core::pipeline::StepConfig;
    ///
    /// let config = StepConfig::from(serde_json::json!({ "a": 1 }));
    /// assert_eq!(config, StepConfig::new(serde_json::json!({ "a": 1 })));
    /// ```
    fn from(value: serde_json::Value) -> StepConfig {
        StepConfig::new(value)
    }
}
