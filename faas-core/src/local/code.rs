//! Unpacked code trees (`code/<sha256>/`): sealed read-only, and verified before every use.
//!
//! A function must not be able to change the code it runs from — on Lambda `/var/task` is
//! read-only — because one tree serves every version and function with the same hash.
//!
//! * **Sealed**: after unpacking, files are `0444` (`0555` when executable) and directories
//!   `0555`. When faas runs as root (CI containers), where modes alone stop nothing, the
//!   tree and the `code/` directory are owned by `nobody` (65534) and handlers run without
//!   capabilities (see the runner), so a handler can neither write the tree nor replace it.
//! * **Verified**: a manifest beside the tree (`code/<sha256>.manifest`) records every
//!   entry's inode, size, mode and change time (which no unprivileged process can set back).
//!   Before each use the tree is compared with it; a tree that differs in any way, or has no
//!   manifest, is set aside and unpacked again from the artifact, whose sha256 is checked
//!   first. A directory is never trusted because it exists.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The uid and gid that own sealed trees when faas runs as root.
pub(crate) const NOBODY: u32 = 65_534;

/// Whether this process runs as root, where file modes alone do not stop a writer.
pub(crate) fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// One entry of a sealed tree, as `lstat` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    path: String,
    ino: u64,
    size: u64,
    mode: u32,
    ctime: (i64, i64),
}

/// What a sealed tree looked like when it was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    sha256: String,
    entries: Vec<Entry>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path.display(), e)
}

/// Every entry below `root` (the root itself first), in a stable order.
fn walk(root: &Path) -> std::io::Result<Vec<(PathBuf, fs::Metadata)>> {
    let mut out = vec![(root.to_path_buf(), fs::symlink_metadata(root)?)];
    let mut i = 0;
    while i < out.len() {
        if out[i].1.is_dir() {
            let mut children: Vec<PathBuf> = fs::read_dir(&out[i].0)?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()?;
            children.sort();
            for c in children {
                let meta = fs::symlink_metadata(&c)?;
                out.push((c, meta));
            }
        }
        i += 1;
    }
    Ok(out)
}

fn entries(root: &Path) -> std::io::Result<Vec<Entry>> {
    Ok(walk(root)?
        .into_iter()
        .map(|(p, m)| Entry {
            path: p.strip_prefix(root).unwrap_or(&p).display().to_string(),
            ino: m.ino(),
            size: m.len(),
            mode: m.mode(),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
        .collect())
}

fn manifest_path(dir: &Path) -> PathBuf {
    dir.with_extension("manifest")
}

/// Whether the tree at `dir` is exactly as it was sealed for `sha256`.
pub(crate) fn verify(dir: &Path, sha256: &str) -> bool {
    let Ok(bytes) = fs::read(manifest_path(dir)) else {
        return false;
    };
    let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
        return false;
    };
    m.sha256 == sha256 && entries(dir).is_ok_and(|e| e == m.entries)
}

/// Makes an unpacked tree read-only (and owned by `nobody` when running as root); the root
/// directory last, so that it can still be renamed into place before.
fn seal(dir: &Path, include_root: bool) -> Result<()> {
    let root = running_as_root();
    for (path, meta) in walk(dir).map_err(io(dir))?.into_iter().rev() {
        if !include_root && path == dir {
            continue;
        }
        if meta.file_type().is_symlink() {
            continue;
        }
        if root {
            std::os::unix::fs::lchown(&path, Some(NOBODY), Some(NOBODY)).map_err(io(&path))?;
        }
        let mode = if meta.is_dir() || meta.mode() & 0o111 != 0 {
            0o555
        } else {
            0o444
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io(&path))?;
    }
    Ok(())
}

/// Removes a tree that may be sealed (restoring the owner's write bits first, for a
/// non-root process).
pub(crate) fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if !running_as_root() {
        for (path, meta) in walk(dir)?.into_iter().filter(|(_, m)| m.is_dir()) {
            fs::set_permissions(&path, fs::Permissions::from_mode(meta.mode() | 0o700))?;
        }
    }
    fs::remove_dir_all(dir)
}

/// The `code/` directory: when running as root, owned by `nobody` so that a handler without
/// capabilities can neither rename a tree nor rewrite a manifest.
pub(crate) fn prepare_parent(parent: &Path) -> Result<()> {
    if running_as_root() {
        std::os::unix::fs::chown(parent, Some(NOBODY), Some(NOBODY)).map_err(io(parent))?;
        fs::set_permissions(parent, fs::Permissions::from_mode(0o755)).map_err(io(parent))?;
    }
    Ok(())
}

/// Unpacks `zip` (whose sha256 the caller checked) into `dir`, replacing whatever is there,
/// seals it and writes its manifest. The caller holds the state lock.
pub(crate) fn unpack(zip: &Path, dir: &Path, sha256: &str, max_unzipped: u64) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    // Whatever stands at `dir` is not trusted: set it aside (a running invocation keeps its
    // working directory) and remove it.
    if fs::symlink_metadata(dir).is_ok() {
        let stale = parent.join(format!(".stale-{}-{}", sha256, fastrand::u64(..)));
        fs::rename(dir, &stale).map_err(io(dir))?;
        if let Err(e) = remove_tree(&stale) {
            tracing::warn!(path = %stale.display(), error = %e, "could not remove a replaced code tree");
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    faas_package::Package::extract_limited(zip, tmp.path(), Some(max_unzipped))?;
    seal(tmp.path(), false)?;
    let staged = tmp.keep();
    if let Err(e) = fs::rename(&staged, dir) {
        let _ = remove_tree(&staged);
        return Err(Error::io(dir.display(), e));
    }
    seal(dir, true)?;
    let manifest = Manifest {
        sha256: sha256.to_string(),
        entries: entries(dir).map_err(io(dir))?,
    };
    let data = serde_json::to_vec(&manifest).map_err(|e| Error::io(dir.display(), std::io::Error::other(e)))?;
    let path = manifest_path(dir);
    super::store::write_atomic(&path, &data, 0o444)?;
    if running_as_root() {
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).map_err(io(&path))?;
    }
    Ok(())
}
