//! The local provider's state directory: content-addressed artifacts and code, one JSON record
//! per function, a lock file, atomic writes.
//!
//! ```text
//! <root>/lock                     exclusive lock for every read-modify-write (flock)
//! <root>/artifacts/<sha256>.zip   uploaded packages
//! <root>/code/<sha256>/           unpacked packages (shared by all functions and versions),
//!                                 sealed read-only and verified before use (`code` module)
//! <root>/code/<sha256>.manifest   what the sealed tree looked like
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

use super::code;
use crate::{Error, FunctionSpec, Limits, Result, Routing, names};

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

impl FunctionRecord {
    /// Everything read from a record is untrusted: names, hashes and version ids are checked
    /// before any of them becomes a path or a routing target.
    fn check(&self, name: &str) -> Result<()> {
        if self.spec.name != name {
            return Err(Error::invalid(
                "spec.name",
                format!("{:?}", self.spec.name),
                format!("the record of {name:?} names another function"),
            ));
        }
        names::check_sha256(&self.code_sha256)?;
        for v in &self.versions {
            names::check_version(&v.id)?;
            names::check_sha256(&v.code_sha256)?;
        }
        for (label, routing) in &self.labels {
            names::check_label(label)?;
            for v in routing.versions() {
                if v != names::LATEST {
                    names::check_version(v)?;
                }
            }
        }
        Ok(())
    }
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

/// The hex sha256 of a file's bytes.
pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut hasher = sha2::Sha256::new();
    let (mut file, mut buf) = (File::open(path)?, vec![0u8; 256 * 1024]);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
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
    /// Opens the state directory without creating it: it is made by the first write, so a
    /// read (an invoke, a plan, a dry run) against a missing directory leaves none behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        // Absolute, because children run in the code directory.
        let root = match fs::canonicalize(&root) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::path::absolute(&root).map_err(io(&root))?,
            Err(e) => return Err(Error::io(root.display(), e)),
        };
        let store = Store { root };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Creates the state directory's layout (idempotent).
    fn create(&self) -> Result<()> {
        for sub in ["artifacts", "code", "functions", "runtime"] {
            let d = self.root.join(sub);
            if !d.is_dir() {
                fs::create_dir_all(&d).map_err(io(&d))?;
                if sub == "code" {
                    code::prepare_parent(&d)?;
                }
            }
        }
        Ok(())
    }

    /// Whether the state directory exists yet.
    pub fn exists(&self) -> bool {
        self.root.join("functions").is_dir()
    }

    /// Removes what killed runs left behind (`.tmp-*` files, `.unpack-*` and `.stale-*`
    /// trees) once it is older than any run still writing it could be.
    fn remove_stale_temporaries(&self) {
        for sub in ["artifacts", "code", "functions", "runtime"] {
            faas_package::remove_stale(&self.root.join(sub), &[".tmp-", ".unpack-", ".stale-"]);
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the exclusive lock (blocks; call from a blocking thread), creating the state
    /// directory first if needed.
    pub fn lock(&self) -> Result<LockGuard> {
        self.create()?;
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

    /// The record's path; the name is checked first, so it never leaves `functions/`.
    fn record_path(&self, name: &str) -> Result<PathBuf> {
        names::check_function(name)?;
        Ok(self.root.join("functions").join(format!("{name}.json")))
    }

    pub fn read(&self, name: &str) -> Result<Option<FunctionRecord>> {
        let path = self.record_path(name)?;
        let damaged = |e: String| Error::io(path.display(), std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        match fs::read(&path) {
            Ok(bytes) => {
                let rec: FunctionRecord = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
                rec.check(name).map_err(|e| damaged(e.to_string()))?;
                Ok(Some(rec))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    /// Writes a record atomically; the caller holds the lock.
    pub fn write(&self, record: &FunctionRecord) -> Result<()> {
        let path = self.record_path(&record.spec.name)?;
        let data =
            serde_json::to_vec_pretty(record).map_err(|e| Error::io(path.display(), std::io::Error::other(e)))?;
        write_atomic(&path, &data, 0o600)
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        let path = self.record_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    /// The artifact's path; the hash is checked first, so it never leaves `artifacts/`.
    pub fn artifact_path(&self, sha256: &str) -> Result<PathBuf> {
        names::check_sha256(sha256)?;
        Ok(self.root.join("artifacts").join(format!("{sha256}.zip")))
    }

    /// Whether the stored artifact is there and really has this sha256.
    fn artifact_ok(&self, sha256: &str) -> Result<bool> {
        let path = self.artifact_path(sha256)?;
        if !path.is_file() {
            return Ok(false);
        }
        Ok(file_sha256(&path).is_ok_and(|h| h == sha256))
    }

    /// Copies a package into the artifact store unless it is there with the right content.
    /// Returns whether it copied. The caller checked that `source` has this sha256.
    pub fn put_artifact(&self, source: &Path, sha256: &str) -> Result<bool> {
        self.create()?;
        let dest = self.artifact_path(sha256)?;
        if self.artifact_ok(sha256)? {
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

    /// The unpacked code of an artifact, verified against what was unpacked (see the `code`
    /// module): a missing, altered or replaced tree is unpacked again from the artifact,
    /// whose hash is checked; an altered artifact is refused. Never call it holding the lock.
    pub fn code_dir(&self, sha256: &str) -> Result<PathBuf> {
        names::check_sha256(sha256)?;
        let dir = self.root.join("code").join(sha256);
        if code::verify(&dir, sha256) {
            return Ok(dir);
        }
        let _guard = self.lock()?;
        if code::verify(&dir, sha256) {
            return Ok(dir);
        }
        if !self.artifact_ok(sha256)? {
            return Err(Error::conflict(
                format!("artifact {sha256}"),
                "the stored package is missing or its content no longer has this sha256 (it was altered): upload or deploy the package again",
            ));
        }
        if dir.exists() {
            tracing::warn!(code = %sha256, "the unpacked code differs from what was unpacked: unpacking it again");
        }
        code::unpack(
            &self.artifact_path(sha256)?,
            &dir,
            sha256,
            Limits::LAMBDA.unzipped_bytes,
        )?;
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
