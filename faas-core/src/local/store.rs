//! The local provider's state directory: content-addressed artifacts and code, one JSON record
//! per function, a lock file, atomic writes.
//!
//! ```text
//! <root>/lock                     exclusive lock for every read-modify-write (flock)
//! <root>/artifacts/<sha256>.zip   uploaded packages
//! <root>/code/<sha256>/           unpacked packages (shared by all functions and versions)
//! <root>/functions/<name>.json    spec, code hash, revision, versions and labels of a function
//! <root>/runtime/                 the Python and Node bootstraps
//! ```
//! Every file is written to a temporary file in the same directory and renamed into place,
//! so a crash leaves either the old or the new content, never half of one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, FunctionSpec, Result, Routing};

/// A published version as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub id: String,
    pub spec: FunctionSpec,
    pub code_sha256: String,
    pub description: String,
}

/// Everything about one function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionRecord {
    pub spec: FunctionSpec,
    pub code_sha256: String,
    pub revision: u64,
    pub next_version: u64,
    pub versions: Vec<VersionRecord>,
    pub labels: BTreeMap<String, Routing>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

/// Holds the state lock until dropped.
pub(crate) struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path.display(), e)
}

/// Writes `data` to `path` atomically (temporary file in the same directory, then rename).
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(data).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::io(path.display(), e.error))?;
    Ok(())
}

impl Store {
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for sub in ["artifacts", "code", "functions", "runtime"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).map_err(io(&d))?;
        }
        // Absolute, because children run in the code directory.
        let root = fs::canonicalize(&root).map_err(io(&root))?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the exclusive lock (blocks; call from a blocking thread).
    pub fn lock(&self) -> Result<LockGuard> {
        let path = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        f.lock().map_err(io(&path))?;
        Ok(LockGuard(f))
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.root.join("functions").join(format!("{name}.json"))
    }

    pub fn read(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let path = self.record_path(name);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::io(path.display(), std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    /// Writes a record atomically; the caller holds the lock.
    pub fn write(&self, record: &FunctionRecord) -> Result<()> {
        let path = self.record_path(&record.spec.name);
        let data =
            serde_json::to_vec_pretty(record).map_err(|e| Error::io(path.display(), std::io::Error::other(e)))?;
        write_atomic(&path, &data, 0o600)
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        let path = self.record_path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    pub fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.root.join("artifacts").join(format!("{sha256}.zip"))
    }

    /// Copies a package into the artifact store unless it is there. Returns whether it copied.
    pub fn put_artifact(&self, source: &Path, sha256: &str) -> Result<bool> {
        let dest = self.artifact_path(sha256);
        if dest.is_file() {
            return Ok(false);
        }
        let dir = dest.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io(dir))?;
        fs::copy(source, tmp.path()).map_err(io(source))?;
        tmp.persist(&dest).map_err(|e| Error::io(dest.display(), e.error))?;
        Ok(true)
    }

    /// The unpacked code of an artifact, unpacking it first if needed.
    pub fn code_dir(&self, sha256: &str) -> Result<PathBuf> {
        let dir = self.root.join("code").join(sha256);
        if dir.is_dir() {
            return Ok(dir);
        }
        let zip = self.artifact_path(sha256);
        let parent = self.root.join("code");
        let tmp = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        faas_package::Package::extract(&zip, tmp.path())?;
        let staged = tmp.keep();
        if let Err(e) = fs::rename(&staged, &dir) {
            let _ = fs::remove_dir_all(&staged);
            if !dir.is_dir() {
                return Err(Error::io(dir.display(), e));
            }
        }
        Ok(dir)
    }

    /// Writes the bootstraps if they are missing or differ.
    pub fn install_bootstraps(&self) -> Result<PathBuf> {
        let dir = self.root.join("runtime");
        for (name, content) in [
            ("bootstrap.py", include_str!("bootstrap.py")),
            ("bootstrap.js", include_str!("bootstrap.js")),
        ] {
            let path = dir.join(name);
            if fs::read(&path).ok().as_deref() != Some(content.as_bytes()) {
                write_atomic(&path, content.as_bytes(), 0o644)?;
            }
        }
        Ok(dir)
    }
}
