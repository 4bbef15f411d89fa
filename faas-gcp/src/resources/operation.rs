//! `Operation` (`google.longrunning.Operation`), which every change on either API answers
//! with, its `Status`, and the deploy stages Cloud Functions reports in its metadata.

use serde::Deserialize;
use serde_json::Value;

use super::StateMessage;

/// `Operation`: a long-running change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Operation {
    /// `projects/{project}/locations/{region}/operations/{id}`.
    pub name: String,
    /// Whether it finished (then `error` or `response` is set).
    pub done: bool,
    /// Why it failed.
    pub error: Option<Status>,
    /// Service-specific progress: Cloud Functions' `GoogleCloudFunctionsV2OperationMetadata`,
    /// something else for Cloud Run; read through [`Operation::stages`].
    pub metadata: Value,
    /// The result of a change that succeeded.
    pub response: Value,
}

impl Operation {
    /// Cloud Functions' deploy stages (`metadata.stages`); none for other metadata.
    pub fn stages(&self) -> Vec<Stage> {
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct Metadata {
            stages: Vec<Stage>,
        }
        serde_json::from_value::<Metadata>(self.metadata.clone())
            .map(|m| m.stages)
            .unwrap_or_default()
    }
}

/// `Status` (`google.rpc.Status`): an operation's error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct Status {
    /// A `google.rpc.Code` (6 `ALREADY_EXISTS`, 7 `PERMISSION_DENIED`, 10 `ABORTED`, …).
    pub code: i32,
    /// What went wrong, in English.
    pub message: String,
}

/// `GoogleCloudFunctionsV2Stage`: one stage of a deploy (`BUILD`, `SERVICE`, …).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Stage {
    /// Which stage.
    pub name: Option<StageName>,
    /// How far it got.
    pub state: Option<StageState>,
    /// What it says about itself.
    pub message: Option<String>,
    /// A link to the stage's resource (the build's logs).
    pub resource_uri: Option<String>,
    /// Its messages (errors among them).
    pub state_messages: Vec<StateMessage>,
}

impl Stage {
    /// The stage's name, `?` when it has none.
    pub fn name_text(&self) -> &str {
        self.name.as_ref().map_or("?", StageName::as_str)
    }
}

api_enum! {
    /// `GoogleCloudFunctionsV2Stage.name`.
    StageName {
        Unspecified = "NAME_UNSPECIFIED", ArtifactRegistry = "ARTIFACT_REGISTRY", Build = "BUILD",
        Service = "SERVICE", Trigger = "TRIGGER", ServiceRollback = "SERVICE_ROLLBACK",
        TriggerRollback = "TRIGGER_ROLLBACK",
    }
}

api_enum! {
    /// `GoogleCloudFunctionsV2Stage.state`.
    StageState {
        Unspecified = "STATE_UNSPECIFIED", NotStarted = "NOT_STARTED", InProgress = "IN_PROGRESS",
        Complete = "COMPLETE",
    }
}
