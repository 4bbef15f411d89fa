//! Cloud Functions v2 schemas: `Function` with its `BuildConfig` and `ServiceConfig`, the
//! source it builds from, its state, and the `generateUploadUrl` request and answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Function`: the body of `functions.create` and `functions.patch`, and what
/// `functions.get` answers. A body always names, describes and labels the function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Function {
    /// `projects/{project}/locations/{region}/functions/{function}`.
    pub name: Option<String>,
    /// User-provided description.
    pub description: Option<String>,
    /// 1st or 2nd gen; we create `GEN_2`.
    pub environment: Option<Environment>,
    /// Labels, ours and the platform's (`goog-…`, `deployment-tool`).
    pub labels: BTreeMap<String, String>,
    /// How the source is built.
    pub build_config: BuildConfig,
    /// The Cloud Run service that runs it.
    pub service_config: ServiceConfig,
    /// The output-only fields: read, never sent.
    #[serde(flatten, skip_serializing)]
    pub output: FunctionOutput,
}

/// The output-only fields of `Function`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct FunctionOutput {
    /// Whether it serves, deploys, failed, ….
    pub state: Option<State>,
    /// Why the function is in its state.
    pub state_messages: Vec<StateMessage>,
    /// The deployed URL.
    pub url: Option<String>,
    /// The last update timestamp.
    pub update_time: Option<String>,
}

impl Function {
    /// Whether an operation runs on the function (`DEPLOYING` or `DELETING`): another is refused.
    pub fn busy(&self) -> bool {
        matches!(self.output.state, Some(State::Deploying | State::Deleting))
    }

    /// The state as the API spells it, `?` when the answer has none.
    pub fn state_text(&self) -> &str {
        self.output.state.as_ref().map_or("?", State::as_str)
    }
}

/// `BuildConfig`: the build step that makes a container from the source. A body always names
/// the runtime and the entry point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct BuildConfig {
    /// `python312`, `nodejs22`, ….
    pub runtime: Option<String>,
    /// The function in the source that is called.
    pub entry_point: Option<String>,
    /// Where the source is (left out of a body without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Build-time variables (we keep the package's sha256 here).
    pub environment_variables: BTreeMap<String, String>,
}

/// `Source`: where the function's source code is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Source {
    /// An archive in Cloud Storage.
    pub storage_source: Option<StorageSource>,
}

/// `StorageSource`: an archive in Cloud Storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct StorageSource {
    /// The bucket.
    pub bucket: String,
    /// The object.
    pub object: String,
    /// The object's generation (an int64 as a string); without it, the latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

/// `ServiceConfig`: the Cloud Run service deployed for the function. A body always sets the
/// memory, the timeout and the variables; the settings a spec may leave to the platform are
/// left out of it when unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServiceConfig {
    /// Memory with a unit (`k`, `M`, `G`, `Mi`, `Gi`; bytes without one).
    pub available_memory: Option<String>,
    /// The execution timeout in seconds.
    pub timeout_seconds: Option<u32>,
    /// Run-time environment variables, ours and the platform's (`LOG_EXECUTION_ID`).
    pub environment_variables: BTreeMap<String, String>,
    /// The identity the function runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_email: Option<String>,
    /// The most instances at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instance_count: Option<u32>,
    /// The fewest instances kept warm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_instance_count: Option<u32>,
    /// On create and update, `false` deploys a revision without moving traffic to it; on get,
    /// whether the latest revision serves all traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_traffic_on_latest_revision: Option<bool>,
    /// The output-only fields: read, never sent.
    #[serde(flatten, skip_serializing)]
    pub output: ServiceConfigOutput,
}

/// The output-only fields of `ServiceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct ServiceConfigOutput {
    /// `projects/{project}/locations/{region}/services/{service}`.
    pub service: Option<String>,
    /// The service's URI.
    pub uri: Option<String>,
    /// The name of the service revision.
    pub revision: Option<String>,
}

/// `GoogleCloudFunctionsV2StateMessage`: a message about a function's or a stage's state.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct StateMessage {
    /// How bad it is.
    pub severity: Option<Severity>,
    /// One CamelCase word (`BuildFailed`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The message.
    pub message: Option<String>,
}

/// `GenerateUploadUrlRequest`: the body of `functions.generateUploadUrl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GenerateUploadUrlRequest {
    /// Which generation the upload URL is for.
    pub environment: Environment,
}

/// `GenerateUploadUrlResponse`: the signed URL, and the `storageSource` a deploy then names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct GenerateUploadUrlResponse {
    /// The signed URL to `PUT` the zip to.
    pub upload_url: Option<String>,
    /// Where the upload lands.
    pub storage_source: Option<StorageSource>,
}

api_enum! {
    /// `Function.environment` (and `GenerateUploadUrlRequest.environment`): 1st or 2nd gen.
    Environment { Unspecified = "ENVIRONMENT_UNSPECIFIED", Gen1 = "GEN_1", Gen2 = "GEN_2", }
}

api_enum! {
    /// `Function.state`. `FAILED`: the deploy failed, not serving; `UNKNOWN`: the deploy failed
    /// and whether it serves is undefined; `DETACH_FAILED`: detaching failed, still serving.
    State {
        Unspecified = "STATE_UNSPECIFIED", Active = "ACTIVE", Failed = "FAILED", Deploying = "DEPLOYING",
        Deleting = "DELETING", Unknown = "UNKNOWN", Detaching = "DETACHING", DetachFailed = "DETACH_FAILED",
    }
}

api_enum! {
    /// `GoogleCloudFunctionsV2StateMessage.severity`.
    Severity { Unspecified = "SEVERITY_UNSPECIFIED", Error = "ERROR", Warning = "WARNING", Info = "INFO", }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_enum_values_are_kept_and_known_ones_read() {
        let f: Function = serde_json::from_value(json!({
            "state": "HIBERNATING",
            "stateMessages": [{"severity": "ERROR", "type": "BuildFailed", "message": "m"}],
            "serviceConfig": {"timeoutSeconds": 60, "unknownField": true},
        }))
        .unwrap();
        assert_eq!(f.output.state, Some(State::Other("HIBERNATING".into())));
        assert_eq!(f.state_text(), "HIBERNATING");
        assert_eq!(f.output.state_messages[0].severity, Some(Severity::Error));
        assert_eq!(f.service_config.timeout_seconds, Some(60));
        let active: Function = serde_json::from_value(json!({"state": "DEPLOYING"})).unwrap();
        assert!(active.busy());
        assert_eq!(
            serde_json::to_value(State::DetachFailed).unwrap(),
            json!("DETACH_FAILED")
        );
        assert_eq!(serde_json::to_value(State::Other("NEW".into())).unwrap(), json!("NEW"));
    }
}
