//! Version clean-up: the versions no label routes to, the code storage they take and what
//! pruning them would free.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::AdviceInput;

/// How a provider counts code storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageModel {
    /// Every version's code counts (Lambda's code storage quota, 75 GB a region).
    PerVersion,
    /// Artifacts are stored once per sha256 (the local store): pruning frees an artifact
    /// only when no remaining version, and not `$LATEST`, has the same code.
    ContentAddressed,
}

/// A version no label routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnroutedVersion {
    /// Its id.
    pub id: String,
    /// The sha256 of its code.
    pub code_sha256: String,
    /// Its code storage in bytes; `None`: the provider does not say (GCP, Azure).
    pub code_size: Option<u64>,
}

/// What pruning would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionAdvice {
    /// Published versions.
    pub total: usize,
    /// The versions a label routes to (primary or weighted).
    pub routed: Vec<String>,
    /// The others, oldest first.
    pub unrouted: Vec<UnroutedVersion>,
    /// The bytes the unrouted versions with a known size take.
    pub unrouted_bytes: u64,
    /// How many unrouted versions have no known size.
    pub unknown_sizes: usize,
    /// The bytes pruning every unrouted version would free (of those with a known size).
    pub freed_bytes: u64,
    /// How the provider counts storage.
    pub storage: StorageModel,
}

impl VersionAdvice {
    /// Whether the sizes are all known (or there is nothing to prune).
    ///
    /// ```
    /// use faas_core::cost::advice::{StorageModel, VersionAdvice};
    /// let v = VersionAdvice { total: 0, routed: vec![], unrouted: vec![], unrouted_bytes: 0,
    ///     unknown_sizes: 0, freed_bytes: 0, storage: StorageModel::PerVersion };
    /// assert!(v.sizes_known());
    /// ```
    pub fn sizes_known(&self) -> bool {
        self.unknown_sizes == 0
    }
}

pub(super) fn advice(input: &AdviceInput<'_>) -> VersionAdvice {
    let routed: BTreeSet<&str> = input.labels.iter().flat_map(|l| l.routing.versions()).collect();
    let storage = if input.provider == "local" {
        StorageModel::ContentAddressed
    } else {
        StorageModel::PerVersion
    };
    let unrouted: Vec<UnroutedVersion> = input
        .versions
        .iter()
        .filter(|v| !routed.contains(v.id.as_str()))
        .map(|v| UnroutedVersion {
            id: v.id.clone(),
            code_sha256: v.code_sha256.clone(),
            code_size: v.code_size,
        })
        .collect();
    let unrouted_bytes = unrouted.iter().filter_map(|v| v.code_size).sum();
    let freed_bytes = match storage {
        StorageModel::PerVersion => unrouted_bytes,
        StorageModel::ContentAddressed => {
            let kept: BTreeSet<&str> = input
                .versions
                .iter()
                .filter(|v| routed.contains(v.id.as_str()))
                .map(|v| v.code_sha256.as_str())
                .chain(input.latest_code_sha256)
                .collect();
            let mut seen = BTreeSet::new();
            unrouted
                .iter()
                .filter(|v| !kept.contains(v.code_sha256.as_str()) && seen.insert(v.code_sha256.as_str()))
                .filter_map(|v| v.code_size)
                .sum()
        }
    };
    VersionAdvice {
        total: input.versions.len(),
        routed: input
            .versions
            .iter()
            .filter(|v| routed.contains(v.id.as_str()))
            .map(|v| v.id.clone())
            .collect(),
        unknown_sizes: unrouted.iter().filter(|v| v.code_size.is_none()).count(),
        unrouted,
        unrouted_bytes,
        freed_bytes,
        storage,
    }
}
