//! Cloud Run Admin v2 schemas: the `GoogleCloudRunV2Service` behind each function and its
//! traffic (what is asked for, and what is observed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `GoogleCloudRunV2Service`, the parts we read — and, as the body of `services.patch` (with
/// `updateMask=annotations,traffic`), the parts we write: `name`, `etag`, `annotations` and
/// `traffic`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Service {
    /// `projects/{project}/locations/{region}/services/{service}`.
    pub name: String,
    /// A fingerprint of this version of the service (output only; sent back, a patch fails
    /// with `ABORTED` when the service changed since).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Free-form metadata, kept whole on a patch (ours is `faas.dev/versions`).
    pub annotations: BTreeMap<String, String>,
    /// How traffic should be split (tags included).
    pub traffic: Vec<TrafficTarget>,
    /// The output-only fields: read, never sent.
    #[serde(flatten, skip_serializing)]
    pub output: ServiceOutput,
}

/// The output-only fields of `GoogleCloudRunV2Service` we read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ServiceOutput {
    /// How traffic is split, with each tag's URI.
    pub traffic_statuses: Vec<TrafficTargetStatus>,
    /// The latest revision that is ready to serve.
    pub latest_ready_revision: Option<String>,
    /// The main URI (the serving split's).
    pub uri: Option<String>,
    /// Whether the service is still being brought to what was last asked of it (an operation
    /// on it runs): a patch meanwhile is refused with `409 ABORTED`.
    pub reconciling: bool,
}

/// `GoogleCloudRunV2TrafficTarget`: one entry of the traffic split. An empty `revision` or
/// `tag` is absent. Fields we do not know are kept (`extra`): entries someone else set are
/// written back as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TrafficTarget {
    /// By revision, or the latest ready revision.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AllocationType>,
    /// The revision, for `TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The whole percent of traffic it takes.
    #[serde(default)]
    pub percent: u32,
    /// A tag, which gets a URL of its own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// What else the entry holds.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TrafficTarget {
    /// Whether the entry follows the latest ready revision.
    pub fn is_latest(&self) -> bool {
        self.kind == Some(AllocationType::Latest)
    }
}

/// `GoogleCloudRunV2TrafficTargetStatus`: how one entry of the traffic split is observed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct TrafficTargetStatus {
    /// By revision, or the latest ready revision.
    #[serde(rename = "type")]
    pub kind: Option<AllocationType>,
    /// The revision the traffic goes to.
    pub revision: String,
    /// The whole percent of traffic it takes.
    pub percent: u32,
    /// Its tag, if any.
    pub tag: String,
    /// The tag's URI.
    pub uri: String,
}

impl TrafficTargetStatus {
    /// Whether the entry follows the latest ready revision.
    pub fn is_latest(&self) -> bool {
        self.kind == Some(AllocationType::Latest)
    }
}

api_enum! {
    /// `GoogleCloudRunV2TrafficTarget.type` (and the status's): the latest ready revision, or a
    /// revision by name.
    AllocationType {
        Unspecified = "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED",
        Latest = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST",
        Revision = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn foreign_traffic_entries_survive_a_read_and_write() {
        let entry = json!({"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": "f-1", "percent": 5,
            "futureField": {"x": 1}});
        let t: TrafficTarget = serde_json::from_value(entry.clone()).unwrap();
        assert_eq!(t.kind, Some(AllocationType::Revision));
        assert_eq!(serde_json::to_value(&t).unwrap(), entry);
        let latest: TrafficTarget =
            serde_json::from_value(json!({"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"})).unwrap();
        assert!(latest.is_latest());
        let odd: TrafficTarget = serde_json::from_value(json!({"type": "SOMETHING_NEW", "percent": 1})).unwrap();
        assert_eq!(odd.kind, Some(AllocationType::Other("SOMETHING_NEW".into())));
    }
}
