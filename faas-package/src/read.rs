//! Reading existing zips: describing one as a [`Package`] and unpacking one safely.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache::HashWriter;
use crate::{ManifestEntry, Package, PackageError, hex};

fn open(path: &Path) -> Result<zip::ZipArchive<File>, PackageError> {
    let f = File::open(path).map_err(|e| PackageError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    zip::ZipArchive::new(f).map_err(|e| PackageError::zip(path, e))
}

/// The entry's path inside a directory, or an error when it is absolute or climbs with `..`.
fn safe_name(zip_path: &Path, name: &str) -> Result<PathBuf, PackageError> {
    let unsafe_entry = || PackageError::UnsafeEntry {
        path: zip_path.to_path_buf(),
        entry: name.to_string(),
    };
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(unsafe_entry()),
        }
    }
    if name.contains('\\') || out.as_os_str().is_empty() {
        return Err(unsafe_entry());
    }
    Ok(out)
}

impl Package {
    /// Describes an existing zip: its digests, sizes and manifest. Rejects entries whose names
    /// are absolute or contain `..`. No size limit: prefer [`Package::from_zip_limited`] for a
    /// zip you did not build.
    pub fn from_zip(path: impl AsRef<Path>) -> Result<Package, PackageError> {
        Package::from_zip_limited(path, None)
    }

    /// [`Package::from_zip`], stopping with [`PackageError::TooLarge`] as soon as the bytes
    /// read out of the entries reach `max_unzipped` (counted while streaming: the sizes the
    /// zip declares are not trusted).
    pub fn from_zip_limited(path: impl AsRef<Path>, max_unzipped: Option<u64>) -> Result<Package, PackageError> {
        let path = path.as_ref();
        let limit = max_unzipped.unwrap_or(u64::MAX);
        let mut total = 0u64;
        let mut archive = open(path)?;
        let mut manifest = Vec::with_capacity(archive.len());
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| PackageError::zip(path, e))?;
            let name = entry.name().map_err(|e| PackageError::zip(path, e))?.to_string();
            safe_name(path, &name)?;
            if entry.is_dir() {
                continue;
            }
            let mut sha = Sha256::new();
            let room = limit - total;
            let size = io::copy(
                &mut (&mut entry).take(room.saturating_add(1)),
                &mut HashWriter(&mut sha),
            )
            .map_err(|e| PackageError::zip(path, e))?;
            total += size;
            if size > room {
                return Err(PackageError::TooLarge {
                    what: "unzipped",
                    size: total,
                    limit,
                    over: total - limit,
                    largest: format!("{name} (at least {size} bytes)"),
                });
            }
            manifest.push(ManifestEntry {
                executable: entry.unix_mode().is_some_and(|m| m & 0o111 != 0),
                path: name,
                size,
                sha256: hex(&sha.finalize()),
            });
        }
        manifest.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(w) = manifest.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(PackageError::DuplicateEntry {
                path: path.to_path_buf(),
                entry: w[0].path.clone(),
            });
        }
        let (sha, size) = hash_file(path)?;
        Ok(Package::assemble(path.to_path_buf(), sha, size, manifest))
    }

    /// Unpacks the zip at `zip_path` into `dest` (created if missing), keeping the executable
    /// bit. Every entry name is checked first: nothing is written when one is unsafe. No size
    /// limit: prefer [`Package::extract_limited`] for a zip you did not build.
    pub fn extract(zip_path: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<(), PackageError> {
        Package::extract_limited(zip_path, dest, None)
    }

    /// [`Package::extract`], stopping with [`PackageError::TooLarge`] as soon as the bytes
    /// written reach `max_unzipped` (counted while streaming, so a zip bomb never fills the
    /// disk; the declared sizes in the zip are not trusted).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), faas_package::PackageError> {
    /// faas_package::Package::extract_limited("dist/fn.zip", "/tmp/fn", Some(250 << 20))?;
    /// # Ok(()) }
    /// ```
    pub fn extract_limited(
        zip_path: impl AsRef<Path>,
        dest: impl AsRef<Path>,
        max_unzipped: Option<u64>,
    ) -> Result<(), PackageError> {
        let (zip_path, dest) = (zip_path.as_ref(), dest.as_ref());
        let limit = max_unzipped.unwrap_or(u64::MAX);
        let mut written = 0u64;
        let mut archive = open(zip_path)?;
        let mut names = Vec::with_capacity(archive.len());
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(|e| PackageError::zip(zip_path, e))?;
            let name = entry.name().map_err(|e| PackageError::zip(zip_path, e))?;
            names.push(safe_name(zip_path, &name)?);
        }
        fs::create_dir_all(dest).map_err(|e| PackageError::io(dest, e))?;
        for (i, rel) in names.into_iter().enumerate() {
            let mut entry = archive.by_index(i).map_err(|e| PackageError::zip(zip_path, e))?;
            let target = dest.join(&rel);
            if entry.is_dir() {
                fs::create_dir_all(&target).map_err(|e| PackageError::io(&target, e))?;
                continue;
            }
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
            }
            let mut out = File::create(&target).map_err(|e| PackageError::io(&target, e))?;
            let room = limit - written;
            let n = io::copy(&mut (&mut entry).take(room.saturating_add(1)), &mut out)
                .map_err(|e| PackageError::io(&target, e))?;
            written += n;
            if n > room {
                return Err(PackageError::TooLarge {
                    what: "unzipped",
                    size: written,
                    limit,
                    over: written - limit,
                    largest: format!("{} (at least {n} bytes)", rel.display()),
                });
            }
            // Unix keeps the executable bit; elsewhere files have no mode to set.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = if entry.unix_mode().is_some_and(|m| m & 0o111 != 0) {
                    0o755
                } else {
                    0o644
                };
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(|e| PackageError::io(&target, e))?;
            }
        }
        Ok(())
    }
}

/// The sha256 and size of the file at `path`.
fn hash_file(path: &Path) -> Result<([u8; 32], u64), PackageError> {
    let mut f = File::open(path).map_err(|e| PackageError::io(path, e))?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| PackageError::io(path, e))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((sha.finalize().into(), size))
}
