//! What a build did besides producing its [`Package`]: files, bytes and the cache's work.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::Package;
use crate::cache::Counters;

/// Counts of one build (see [`PackageBuilder::build_report`](crate::PackageBuilder::build_report)).
///
/// ```
/// let stats = faas_package::BuildStats::default();
/// assert_eq!(stats.cache_hits + stats.cache_misses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildStats {
    /// Files packaged.
    pub files: usize,
    /// Their uncompressed bytes.
    pub bytes: u64,
    /// Entries not compressed again: taken from the entry cache or copied from the previous
    /// zip (see `reused`).
    pub cache_hits: u64,
    /// Entries compressed (and stored in the cache when it is writable).
    pub cache_misses: u64,
    /// Cache entries whose bytes did not match their key: removed and compressed again.
    pub cache_corrupt: u64,
    /// Files not even read: the stat index vouched for them and the cache (or the previous
    /// zip) held their entry.
    pub files_unread: u64,
    /// Entries copied from the zip the previous build of this tree wrote (their bytes checked
    /// against the index's digest), without opening a cache entry.
    #[serde(default)]
    pub reused: u64,
    /// Bytes this build wrote into the cache.
    pub cache_written_bytes: u64,
}

impl BuildStats {
    pub(crate) fn from_counters(files: usize, bytes: u64, c: &Counters) -> BuildStats {
        BuildStats {
            files,
            bytes,
            cache_hits: c.hits.load(Ordering::Relaxed),
            cache_misses: c.misses.load(Ordering::Relaxed),
            cache_corrupt: c.corrupt.load(Ordering::Relaxed),
            files_unread: c.unread.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            cache_written_bytes: c.written_bytes.load(Ordering::Relaxed),
        }
    }
}

/// A [`Package`] with what building it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The package.
    pub package: Package,
    /// The counts.
    pub stats: BuildStats,
    /// The entry cache used, if any (`None`: a cold build, by choice or because it was
    /// unusable).
    pub cache_dir: Option<PathBuf>,
}
