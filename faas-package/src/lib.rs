//! Reproducible, streaming, parallel packaging of serverless function code.
//!
//! `faas-package` turns a source directory into a deployment zip and knows no cloud.
//!
//! * **Reproducible**: the same files give byte-identical zips whatever the mtimes, the
//!   directory order, the umask or the machine: entries sorted by name, one fixed timestamp
//!   (`SOURCE_DATE_EPOCH` when set, else 1980-01-01), modes 0644/0755 keeping the executable
//!   bit, no extra fields. The sha256 of the zip therefore says whether anything changed.
//! * **Ignore rules** in gitignore syntax from `.faasignore`, `.funcignore` and `.gcloudignore`,
//!   plus [`DEFAULT_IGNORES`].
//! * **Symlinks** inside the tree are stored as their target's content; a link leaving the
//!   tree is an error.
//! * **Dependencies** from `requirements.txt` (pip, Lambda platform wheels) or a Node lock
//!   file (`npm ci --omit=dev`), cached by the hash of their inputs (see [`DependencyOptions`]).
//! * **Streaming and parallel**: files are deflated on every core and written in order to a
//!   temporary file renamed into place; memory stays bounded whatever the tree's size.
//! * **Incremental**: compressed entries are kept in a content-addressed cache (key: the
//!   content's sha256, the level, the deflate engine and the entry format), so a rebuild
//!   compresses only files whose content changed, and writes the bytes a cold build would.
//!   Entries are checked by their digest on every read (a corrupt one is rebuilt and counted
//!   in [`BuildStats::cache_corrupt`]), written atomically (two builds may share a cache),
//!   and evicted least recently used first past [`PackageBuilder::cache_limit`]. A per-tree
//!   **stat index** (size, mtime, ctime, inode, mode → sha256) lets unchanged files go unread;
//!   a file changed within [`RACY_MARGIN`] of the indexing build is read again (the racy-git
//!   rule), and a change time differing catches an edit that kept size and mtime. The index
//!   also records where each entry's bytes are in the zip that build wrote: the next build
//!   copies unchanged entries from it (one read per stretch of adjacent entries, each checked
//!   against a digest bound to the content's sha256, and only while that zip's stat fields
//!   are as recorded; see [`BuildStats::reused`]). An
//!   unusable cache means a cold build and a warning, never a failed or different package.
//!   See [`PackageBuilder::cache_dir`], [`PackageBuilder::no_cache`],
//!   [`PackageBuilder::stat_index`] and [`PackageBuilder::build_report`].
//!
//! ```no_run
//! use faas_package::{PackageBuilder, PackageLimits};
//!
//! # fn main() -> Result<(), faas_package::PackageError> {
//! let package = PackageBuilder::new("./src")
//!     .runtime("python3.12".parse()?)
//!     .handler("lambda_function.lambda_handler")
//!     .limits(PackageLimits::LAMBDA)
//!     .output("./dist/function.zip")
//!     .build()?;
//! println!("{} {} bytes", package.sha256, package.size);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod archive;
mod builder;
mod cache;
mod deps;
mod entry;
mod error;
mod index;
mod many;
mod read;
mod report;
mod runtime;
mod stale;
mod unchanged;
mod walk;

pub use builder::PackageBuilder;
pub use cache::DEFAULT_CACHE_LIMIT;
pub use deps::{Architecture, DependencyOptions};
pub use error::PackageError;
pub use index::RACY_MARGIN;
pub use many::{PackageObserver, Progress, build_many};
pub use report::{BuildReport, BuildStats};
pub use runtime::{Runtime, RuntimeFamily};
pub use stale::{STALE_AFTER, remove_stale};
pub use walk::DEFAULT_IGNORES;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A built deployment package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Where the zip is.
    pub path: PathBuf,
    /// The sha256 of the zip, lowercase hex.
    pub sha256: String,
    /// The same digest in base64, as Lambda reports `CodeSha256`.
    pub code_sha256: String,
    /// The zip's size in bytes.
    pub size: u64,
    /// The sum of the entries' uncompressed sizes.
    pub unzipped_size: u64,
    /// The number of files.
    pub files: usize,
    /// One line per file, sorted by path.
    pub manifest: Vec<ManifestEntry>,
}

impl Package {
    /// Checks that the package can run `handler` on `runtime` before it is deployed: it holds
    /// files, the handler's module (or, for custom runtimes, an executable `bootstrap`), and
    /// no path twice. A zip built elsewhere gets the checks [`PackageBuilder`] makes.
    pub fn check_contents(&self, runtime: &Runtime, handler: &str) -> Result<(), PackageError> {
        if self.manifest.is_empty() {
            return Err(PackageError::EmptySource {
                path: self.path.clone(),
            });
        }
        if let Some(w) = self.manifest.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(PackageError::DuplicateEntry {
                path: self.path.clone(),
                entry: w[0].path.clone(),
            });
        }
        check_handler(
            self.manifest.iter().map(|m| (m.path.as_str(), m.executable)),
            runtime,
            handler,
        )
    }
}

/// The handler's module (or a custom runtime's executable `bootstrap`) is among `files`
/// (`(path in the zip, executable)`, sorted by path).
pub(crate) fn check_handler<'a>(
    files: impl Iterator<Item = (&'a str, bool)> + Clone,
    runtime: &Runtime,
    handler: &str,
) -> Result<(), PackageError> {
    let candidates = runtime.handler_candidates(handler)?;
    let Some((path, executable)) = candidates.iter().find_map(|c| files.clone().find(|(p, _)| p == c)) else {
        let top: Vec<&str> = files.map(|(p, _)| p).filter(|p| !p.contains('/')).take(10).collect();
        return Err(PackageError::HandlerMissing {
            handler: handler.to_string(),
            expected: candidates.join(", "),
            found: top.join(", "),
        });
    };
    if runtime.family() == RuntimeFamily::Custom && !executable {
        return Err(PackageError::NotExecutable {
            path: path.to_string(),
            runtime: runtime.to_string(),
        });
    }
    Ok(())
}

/// One file of a [`Package`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The path inside the zip.
    pub path: String,
    /// The uncompressed size.
    pub size: u64,
    /// The sha256 of the content, lowercase hex.
    pub sha256: String,
    /// Whether the entry is stored with mode 0755.
    pub executable: bool,
}

/// Size limits checked while packaging; `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageLimits {
    /// The largest zip allowed, in bytes.
    pub max_zipped: Option<u64>,
    /// The largest sum of uncompressed sizes allowed, in bytes.
    pub max_unzipped: Option<u64>,
}

impl PackageLimits {
    /// Lambda's limits for a zip uploaded inline: 50 MB zipped, 250 MB unzipped.
    pub const LAMBDA: PackageLimits = PackageLimits {
        max_zipped: Some(50 * 1024 * 1024),
        max_unzipped: Some(250 * 1024 * 1024),
    };
    /// No limits.
    pub const NONE: PackageLimits = PackageLimits {
        max_zipped: None,
        max_unzipped: None,
    };
}

impl Package {
    /// A package from its zip's digest and size and its sorted manifest.
    pub(crate) fn assemble(path: PathBuf, sha: [u8; 32], size: u64, manifest: Vec<ManifestEntry>) -> Package {
        use base64::Engine;
        Package {
            path,
            sha256: hex(&sha),
            code_sha256: base64::engine::general_purpose::STANDARD.encode(sha),
            size,
            unzipped_size: manifest.iter().map(|m| m.size).sum(),
            files: manifest.len(),
            manifest,
        }
    }
}

/// Hex of a digest (a table, not `write!` per byte: every manifest line takes one, and on a
/// warm build of 20,000 files the formatting machinery showed up at 3 % of the time).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Lists the largest of `(name, size)` for error messages.
pub(crate) fn largest(entries: impl Iterator<Item = (String, u64)>, n: usize) -> String {
    let mut all: Vec<(String, u64)> = entries.collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.iter()
        .take(n)
        .map(|(name, size)| format!("{name} ({size})"))
        .collect::<Vec<_>>()
        .join(", ")
}
