//! What killed runs leave behind: temporary files and directories, removed by later runs.

use std::fs;
use std::path::Path;
use std::time::Duration;

/// How old a temporary must be before a later run removes it: older than any run still
/// writing it could be.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// Removes the entries of `dir` whose names start with one of `prefixes` and that were last
/// modified more than [`STALE_AFTER`] ago — temporaries a killed run left (a run that is
/// still writing one keeps touching it). Returns how many it removed; what it cannot remove
/// is logged and left.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join(".faas-package-x.zip.tmp"), b"fresh").unwrap();
/// assert_eq!(faas_package::remove_stale(dir.path(), &[".faas-package-"]), 0, "too fresh to remove");
/// ```
pub fn remove_stale(dir: &Path, prefixes: &[&str]) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_AFTER));
        if !old {
            continue;
        }
        let path = e.path();
        let result = if path.is_dir() {
            make_writable(&path).and_then(|()| fs::remove_dir_all(&path))
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => {
                removed += 1;
                tracing::debug!(path = %path.display(), "removed a stale temporary");
            }
            Err(err) => tracing::warn!(path = %path.display(), error = %err, "could not remove a stale temporary"),
        }
    }
    removed
}

/// Restores the owner's write bit on every directory below `dir` (a sealed tree).
fn make_writable(dir: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(meta.permissions().mode() | 0o700))?;
    }
    #[cfg(not(unix))]
    {
        let mut permissions = meta.permissions();
        permissions.set_readonly(false);
        fs::set_permissions(dir, permissions)?;
    }
    for e in fs::read_dir(dir)?.flatten() {
        make_writable(&e.path())?;
    }
    Ok(())
}
