//! The traffic layout: how published versions and labels live in a Cloud Run service — versions
//! are revisions, labels are traffic tags, and the serving label is the service URL's split.
//!
//! The layout kept in `traffic[]`:
//! * every published version `N`: `{REVISION, revision, tag: vN, percent: 0}` — its own URL;
//! * every other label `L`: `{REVISION, revision, tag: L, percent: 0}`;
//! * the serving label `S`: `{REVISION, primary, tag: S, percent: P}` plus one untagged
//!   `{REVISION, revision, percent: p}` per weighted version — or, while no serving label
//!   exists, `{LATEST, percent: 100}` (the latest revision takes all traffic).
//!
//! Published versions (number, revision, code sha256, configuration) are recorded in the
//! service annotation `faas.dev/versions`, written in the same `services.patch` (guarded by
//! the service's `etag`) that adds the version's tag.

use std::collections::BTreeMap;

use faas_core::{Error, FunctionSpec, ResourceKind, Result, Routing};
use serde::{Deserialize, Serialize};

use crate::resources::{AllocationType, Service, TrafficTarget};

/// The annotation holding the version registry.
pub(crate) const VERSIONS_ANNOTATION: &str = "faas.dev/versions";

/// What a service's traffic means in our model.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Layout {
    /// The published versions (from the annotation).
    pub versions: Vec<VersionRecord>,
    /// Non-serving labels: name → revision.
    pub tags: BTreeMap<String, String>,
    /// The serving label's routing in revisions (primary, weighted extras in percent).
    pub serving: Option<(String, BTreeMap<String, u32>)>,
    /// Traffic someone else set (untagged revisions with percent and no serving tag); kept.
    pub foreign: Vec<TrafficTarget>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    /// The version number (`N`, tagged `vN`).
    pub id: u64,
    /// The revision's short name.
    pub revision: String,
    /// The sha256 of the code it runs.
    pub sha256: String,
    /// What the publisher said of it.
    #[serde(default)]
    pub description: String,
    /// The configuration it was published with (secret values redacted).
    pub spec: FunctionSpec,
}

impl Layout {
    /// The layout a service's traffic and version annotation hold.
    pub fn read(service: &Service, serving_label: &str) -> Result<Layout> {
        let versions = match service.annotations.get(VERSIONS_ANNOTATION) {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                Error::other(
                    "invalid_annotation",
                    format!(
                        "{}: annotation {VERSIONS_ANNOTATION} is not ours or was edited: {e}",
                        service.name
                    ),
                    false,
                )
            })?,
            None => Vec::new(),
        };
        let mut layout = Layout {
            versions,
            ..Layout::default()
        };
        let mut primary = None;
        let mut weights = BTreeMap::new();
        let mut untagged = Vec::new();
        for t in &service.traffic {
            if t.is_latest() {
                if t.percent > 0 && t.percent < 100 {
                    untagged.push(t.clone());
                }
                continue;
            }
            let revision = short(&t.revision).to_string();
            if t.tag == serving_label {
                primary = Some((revision, t.percent));
            } else if t.tag.is_empty() {
                if t.percent > 0 {
                    *weights.entry(revision).or_insert(0) += t.percent;
                    untagged.push(t.clone());
                }
            } else if !is_version_tag(&t.tag) {
                layout.tags.insert(t.tag.clone(), revision);
            }
        }
        match primary {
            Some((rev, _)) => layout.serving = Some((rev, weights)),
            None => layout.foreign = untagged,
        }
        Ok(layout)
    }

    /// The `services.patch` body that writes this layout over `service` (guarded by its etag,
    /// other annotations kept).
    pub fn patch_body(&self, service: &Service, serving_label: &str) -> Result<Service> {
        let mut annotations = service.annotations.clone();
        annotations.insert(
            VERSIONS_ANNOTATION.to_string(),
            serde_json::to_string(&self.versions).map_err(|e| Error::other("serialize", e.to_string(), false))?,
        );
        Ok(Service {
            name: service.name.clone(),
            etag: service.etag.clone(),
            annotations,
            traffic: self.traffic(serving_label),
            ..Service::default()
        })
    }

    /// The traffic list for this layout.
    pub fn traffic(&self, serving_label: &str) -> Vec<TrafficTarget> {
        let mut out: Vec<TrafficTarget> = self
            .versions
            .iter()
            .map(|v| to_revision(&v.revision, 0, &version_tag(v.id)))
            .collect();
        out.extend(self.tags.iter().map(|(tag, rev)| to_revision(rev, 0, tag)));
        match &self.serving {
            Some((primary, weights)) => {
                let extra: u32 = weights.values().sum();
                out.push(to_revision(primary, 100 - extra.min(100), serving_label));
                out.extend(weights.iter().map(|(rev, p)| to_revision(rev, *p, "")));
            }
            None if !self.foreign.is_empty() => out.extend(self.foreign.iter().cloned()),
            None => out.push(TrafficTarget {
                kind: Some(AllocationType::Latest),
                percent: 100,
                ..TrafficTarget::default()
            }),
        }
        out
    }

    /// Whether traffic is pinned (a deploy must then not move it to the new revision).
    pub fn pinned(&self) -> bool {
        self.serving.is_some() || !self.foreign.is_empty()
    }

    /// The published version `id` (`3` or `v3`).
    pub fn version(&self, id: &str) -> Option<&VersionRecord> {
        let n: u64 = id.trim_start_matches('v').parse().ok()?;
        self.versions.iter().find(|v| v.id == n)
    }

    /// The version id of a revision (its number), or the revision's name when unpublished.
    pub fn id_of(&self, revision: &str) -> String {
        self.versions
            .iter()
            .find(|v| v.revision == revision)
            .map(|v| v.id.to_string())
            .unwrap_or_else(|| revision.to_string())
    }

    /// The revision a version id (or a revision name) stands for.
    pub fn revision_of(&self, function: &str, id: &str) -> Result<String> {
        if let Some(v) = self.version(id) {
            return Ok(v.revision.clone());
        }
        Err(Error::not_found(
            ResourceKind::Version,
            format!("{function}:{id}"),
            Some("publish a version first; list_versions shows the published ones".into()),
        ))
    }

    /// A label's routing in version ids.
    pub fn routing(&self, label: &str, serving_label: &str) -> Option<Routing> {
        if label == serving_label {
            let (primary, weights) = self.serving.as_ref()?;
            return Some(Routing {
                primary: self.id_of(primary),
                weights: weights
                    .iter()
                    .map(|(rev, p)| (self.id_of(rev), f64::from(*p) / 100.0))
                    .collect(),
            });
        }
        self.tags.get(label).map(|rev| Routing::to(self.id_of(rev)))
    }

    /// Every revision some label routes to.
    pub fn routed_revisions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.tags.values().map(String::as_str).collect();
        if let Some((p, w)) = &self.serving {
            out.push(p);
            out.extend(w.keys().map(String::as_str));
        }
        out.extend(self.foreign.iter().map(|t| short(&t.revision)));
        out
    }
}

/// Checks that the service routes as `layout` says (its `trafficStatuses`, not its wish list).
pub(crate) fn verify(service: &Service, layout: &Layout, serving_label: &str) -> Result<()> {
    let mut want: BTreeMap<String, u32> = BTreeMap::new();
    let mut got: BTreeMap<String, u32> = BTreeMap::new();
    let latest = short(service.output.latest_ready_revision.as_deref().unwrap_or_default()).to_string();
    for t in layout.traffic(serving_label).iter().filter(|t| t.percent > 0) {
        let rev = if t.is_latest() {
            latest.clone()
        } else {
            t.revision.clone()
        };
        *want.entry(rev).or_insert(0) += t.percent;
    }
    for s in service.output.traffic_statuses.iter().filter(|s| s.percent > 0) {
        let rev = if s.is_latest() {
            latest.clone()
        } else {
            short(&s.revision).to_string()
        };
        *got.entry(rev).or_insert(0) += s.percent;
    }
    if want != got {
        return Err(Error::conflict(
            service.name.clone(),
            format!(
                "traffic did not settle as asked: wanted {want:?}, the service reports {got:?}; another deployer may have changed it"
            ),
        ));
    }
    Ok(())
}

/// The URL serving a tag, from `trafficStatuses`.
pub(crate) fn tag_url(service: &Service, tag: &str) -> Option<String> {
    service
        .output
        .traffic_statuses
        .iter()
        .find(|s| s.tag == tag && !s.uri.is_empty())
        .map(|s| s.uri.clone())
}

/// Weights as whole percents: Cloud Run splits traffic in whole percents.
pub(crate) fn percents(routing: &Routing) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for (v, w) in &routing.weights {
        let p = (w * 100.0).round();
        if (w * 100.0 - p).abs() > 1e-6 || p < 1.0 {
            return Err(Error::invalid(
                "routing.weights",
                format!("{v}={w}"),
                "Cloud Run splits traffic in whole percents: use weights like 0.05 or 0.3",
            ));
        }
        out.insert(v.clone(), p as u32);
    }
    Ok(out)
}

/// The short name of a revision (`fn-00003-abc` from `projects/…/revisions/fn-00003-abc`).
pub(crate) fn short(revision: &str) -> &str {
    revision.rsplit('/').next().unwrap_or(revision)
}

/// The tag of published version `id` (`v3`).
pub(crate) fn version_tag(id: u64) -> String {
    format!("v{id}")
}

/// Whether `tag` names a published version (`vN`, reserved).
pub(crate) fn is_version_tag(tag: &str) -> bool {
    tag.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A traffic entry for a revision by name (`tag` empty: untagged).
fn to_revision(revision: &str, percent: u32, tag: &str) -> TrafficTarget {
    TrafficTarget {
        kind: Some(AllocationType::Revision),
        revision: revision.to_string(),
        percent,
        tag: tag.to_string(),
        ..TrafficTarget::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const LATEST: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST";
    const REVISION: &str = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION";

    fn service(traffic: Value, annotations: Value) -> Service {
        serde_json::from_value(json!({
            "name": "projects/p/locations/r/services/f",
            "traffic": traffic,
            "annotations": annotations,
            "latestReadyRevision": "projects/p/locations/r/services/f/revisions/f-00003-ccc",
        }))
        .unwrap()
    }

    #[test]
    fn layout_round_trips_through_traffic() {
        let s = service(
            json!([
                {"type": REVISION, "revision": "f-00001-aaa", "percent": 0, "tag": "v1"},
                {"type": REVISION, "revision": "f-00002-bbb", "percent": 0, "tag": "staging"},
                {"type": REVISION, "revision": "f-00001-aaa", "percent": 70, "tag": "live"},
                {"type": REVISION, "revision": "f-00002-bbb", "percent": 30},
            ]),
            json!({}),
        );
        let l = Layout::read(&s, "live").unwrap();
        assert_eq!(l.tags.get("staging").map(String::as_str), Some("f-00002-bbb"));
        assert_eq!(l.serving.as_ref().unwrap().1.get("f-00002-bbb"), Some(&30));
        assert!(l.pinned());
        let again = Layout::read(
            &service(serde_json::to_value(l.traffic("live")).unwrap(), json!({})),
            "live",
        )
        .unwrap();
        assert_eq!(again, l);
        let fresh = Layout::read(&service(json!([{"type": LATEST, "percent": 100}]), json!({})), "live").unwrap();
        assert!(!fresh.pinned());
        assert_eq!(
            fresh.traffic("live"),
            vec![TrafficTarget {
                kind: Some(AllocationType::Latest),
                percent: 100,
                ..TrafficTarget::default()
            }]
        );
    }

    #[test]
    fn weights_are_whole_percents() {
        assert!(percents(&Routing::to("1").with("2", 0.3)).is_ok());
        assert!(percents(&Routing::to("1").with("2", 0.255)).is_err());
    }
}
