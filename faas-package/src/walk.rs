//! Walking a source tree: ignore rules, symlinks, and the sorted list of files to store.
//!
//! Ignore rules use gitignore syntax and are read by the `ignore` crate from `.faasignore`,
//! `.funcignore` and `.gcloudignore` files anywhere in the tree. On top of them the
//! [`DEFAULT_IGNORES`] always apply.
//!
//! Symlinks: a link whose target stays inside the source tree is followed and stored as the
//! target's content (a zip cannot hold a link portably, and Lambda, Cloud Functions and
//! Azure all unpack links differently); a link that leaves the tree is an error naming it, so
//! that no file from outside the tree is ever shipped by accident.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ignore::overrides::OverrideBuilder;
use ignore::{WalkBuilder, WalkState};

use crate::PackageError;
use crate::index::Stat;

/// Paths never packaged, whatever the ignore files say (gitignore syntax).
pub const DEFAULT_IGNORES: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".DS_Store",
    ".faas/",
    ".faasignore",
    ".funcignore",
    ".gcloudignore",
];

/// One file that goes into the package.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    /// The name inside the zip, `/`-separated.
    pub name: String,
    /// The tree it is in (shared by all its files: a path per file cost 100 bytes each).
    pub root: Arc<Path>,
    /// How many leading bytes of `name` are not on disk (a prefix added to staged files).
    pub skip: usize,
    /// Its size when walked.
    pub size: u64,
    /// Whether any execute bit is set on it (or on a link's target).
    pub executable: bool,
    /// Its stat fields when walked (for the stat index).
    pub stat: Option<Stat>,
    /// Its content's sha256, when the stat index vouches for it.
    pub known: Option<[u8; 32]>,
}

impl SourceFile {
    /// Where to read it.
    pub fn disk_path(&self) -> PathBuf {
        self.root.join(self.name.get(self.skip..).unwrap_or(&self.name))
    }
}

/// Walks `root` and returns its files sorted by zip name (one `Vec`, no second copy of the
/// names: with 100,000 files a map keyed by name cost megabytes).
///
/// `skip_top` names top-level directories left out (e.g. `node_modules` when npm
/// re-installs them into a staging directory).
pub(crate) fn walk(root: &Path, skip_top: &[&str]) -> Result<Vec<SourceFile>, PackageError> {
    let canonical_root = fs::canonicalize(root).map_err(|e| PackageError::io(root, e))?;
    let mut overrides = OverrideBuilder::new(root);
    for glob in DEFAULT_IGNORES {
        overrides
            .add(&format!("!{glob}"))
            .map_err(|e| PackageError::io(root, std::io::Error::other(e.to_string())))?;
    }
    for dir in skip_top {
        overrides
            .add(&format!("!/{dir}/"))
            .map_err(|e| PackageError::io(root, std::io::Error::other(e.to_string())))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| PackageError::io(root, std::io::Error::other(e.to_string())))?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let walker = WalkBuilder::new(root)
        .standard_filters(false)
        .parents(false)
        .follow_links(true)
        .add_custom_ignore_filename(".faasignore")
        .add_custom_ignore_filename(".funcignore")
        .add_custom_ignore_filename(".gcloudignore")
        .overrides(overrides)
        .threads(threads)
        .build_parallel();

    let (tx, rx) = std::sync::mpsc::channel::<Result<SourceFile, PackageError>>();
    let shared_root: Arc<Path> = Arc::from(root);
    walker.run(|| {
        let tx = tx.clone();
        let canonical_root = canonical_root.clone();
        let shared_root = Arc::clone(&shared_root);
        Box::new(move |entry| match visit(&shared_root, &canonical_root, entry) {
            Ok(None) => WalkState::Continue,
            Ok(Some(file)) => {
                let _ = tx.send(Ok(file));
                WalkState::Continue
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                WalkState::Quit
            }
        })
    });
    drop(tx);
    let mut files = Vec::new();
    let mut first_error: Option<PackageError> = None;
    for item in rx {
        match item {
            Ok(file) => files.push(file),
            // Report the same error whatever order the threads found them in.
            Err(e) => {
                if first_error.as_ref().is_none_or(|f| e.to_string() < f.to_string()) {
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            files.shrink_to_fit();
            Ok(files)
        }
    }
}

fn visit(
    root: &Arc<Path>,
    canonical_root: &Path,
    entry: Result<ignore::DirEntry, ignore::Error>,
) -> Result<Option<SourceFile>, PackageError> {
    let entry = entry.map_err(|e| walk_error(root, e))?;
    let path = entry.path();
    if let Some(err) = entry.error() {
        warn_invalid_rules(err, None, None);
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    if rel.as_os_str().is_empty() {
        return Ok(None);
    }
    if entry.path_is_symlink() {
        let target = fs::canonicalize(path).map_err(|e| PackageError::Unreadable {
            path: path.to_path_buf(),
            reason: format!("broken symlink ({e})"),
        })?;
        if !target.starts_with(canonical_root) {
            return Err(PackageError::SymlinkEscapes {
                link: rel.to_path_buf(),
                target,
            });
        }
    }
    let Some(file_type) = entry.file_type() else {
        return Ok(None);
    };
    if file_type.is_dir() {
        return Ok(None);
    }
    if !file_type.is_file() {
        return Err(PackageError::Unreadable {
            path: path.to_path_buf(),
            reason: "not a regular file (a FIFO, socket or device cannot be packaged)".into(),
        });
    }
    let meta = entry.metadata().map_err(|e| walk_error(root, e))?;
    let name = zip_name(rel).ok_or_else(|| PackageError::Unreadable {
        path: path.to_path_buf(),
        reason: "the file name is not valid UTF-8".into(),
    })?;
    if name.contains('\\') {
        return Err(PackageError::UnportableName { name });
    }
    Ok(Some(SourceFile {
        name,
        root: Arc::clone(root),
        skip: 0,
        size: meta.len(),
        executable: is_executable(&meta),
        stat: Stat::of(&meta),
        known: None,
    }))
}

/// Whether the file's mode has an executable bit (Unix); elsewhere nothing is.
fn is_executable(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// A pattern the glob syntax rejects is dropped by the walk: say which file and line, or
/// files meant to be excluded are packaged without a word. The walk attaches these errors to
/// the directory whose ignore file held them (it reads ignore files only where its listing
/// shows one, so no file is probed for).
fn warn_invalid_rules(err: &ignore::Error, file: Option<&Path>, line: Option<u64>) {
    match err {
        ignore::Error::Partial(errs) => errs.iter().for_each(|e| warn_invalid_rules(e, file, line)),
        ignore::Error::WithPath { path, err } => warn_invalid_rules(err, Some(path), line),
        ignore::Error::WithLineNumber { line, err } => warn_invalid_rules(err, file, Some(*line)),
        ignore::Error::WithDepth { err, .. } => warn_invalid_rules(err, file, line),
        other => tracing::warn!(
            file = %file.map_or_else(|| "an ignore file".into(), |f| f.display().to_string()),
            line = line.unwrap_or(0),
            "ignore rule is invalid and was skipped: {other}"
        ),
    }
}

fn zip_name(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        parts.push(c.as_os_str().to_str()?);
    }
    Some(parts.join("/"))
}

fn walk_error(root: &Path, err: ignore::Error) -> PackageError {
    let path = error_path(&err).unwrap_or_else(|| root.to_path_buf());
    if let Some(io) = err.io_error() {
        return PackageError::Unreadable {
            path,
            reason: io.to_string(),
        };
    }
    PackageError::Unreadable {
        path,
        reason: err.to_string(),
    }
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}
