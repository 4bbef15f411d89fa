//! Vendoring dependencies: pip for Python, npm for Node, cached by the hash of their inputs.
//!
//! Python: a `requirements.txt` at the top of the source is installed with
//! `python3 -m pip install --target` and Lambda's platform flags (`--platform
//! manylinux2014_x86_64|manylinux2014_aarch64 --only-binary=:all: --python-version X.Y
//! --implementation cp`), so native wheels match Lambda, not this machine.
//! Node: `package.json` plus `package-lock.json` (or `npm-shrinkwrap.json`) is installed with
//! `npm ci --omit=dev`, and its `node_modules/` replaces any in the source tree.
//!
//! The staging directory is kept under a key made from the sha256 of the requirements or
//! lock file together with the tool, platform, language version and extra arguments. A
//! rebuild whose key is already staged runs neither pip nor npm. Staging is atomic: installs
//! go to a temporary directory that is renamed into place only when the tool succeeded.
//! Note that only the top file is hashed: a `-r other.txt` include is not part of the key.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{PackageError, Runtime, RuntimeFamily};

/// The CPU architecture a function runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// x86-64 (Lambda's `x86_64`).
    #[default]
    X86_64,
    /// 64-bit ARM (Lambda's `arm64`).
    Arm64,
}

impl Architecture {
    /// The pip platform tag of Lambda's images for this architecture.
    pub fn pip_platform(self) -> &'static str {
        match self {
            Architecture::X86_64 => "manylinux2014_x86_64",
            Architecture::Arm64 => "manylinux2014_aarch64",
        }
    }

    /// The name Lambda uses (`x86_64`, `arm64`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// How dependencies are vendored into the package.
#[derive(Debug, Clone)]
pub struct DependencyOptions {
    /// Vendor when the source has a requirements or lock file (`true`, the default), or never.
    pub enabled: bool,
    /// The architecture to fetch native wheels for.
    pub architecture: Architecture,
    /// Where staged installs are cached; default `$FAAS_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/faas/deps`, else `~/.cache/faas/deps`.
    pub cache_dir: Option<PathBuf>,
    /// The Python interpreter that runs pip (default `python3`).
    pub python: String,
    /// The npm command (default `npm`).
    pub npm: String,
    /// The requirements file, relative to the source (default `requirements.txt`).
    pub requirements: PathBuf,
    /// Extra arguments for pip (an index, `--no-index --find-links DIR` ...); part of the cache key.
    pub pip_args: Vec<String>,
}

impl Default for DependencyOptions {
    fn default() -> Self {
        DependencyOptions {
            enabled: true,
            architecture: Architecture::default(),
            cache_dir: None,
            python: "python3".into(),
            npm: "npm".into(),
            requirements: PathBuf::from("requirements.txt"),
            pip_args: Vec::new(),
        }
    }
}

/// Installed dependencies to add to the package.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    /// The directory whose files are added.
    pub root: PathBuf,
    /// The zip-name prefix those files get.
    pub prefix: &'static str,
    /// A top-level source directory the staged files replace.
    pub replaces: Option<&'static str>,
    /// Whether pip or npm ran for this build (false: served from the cache).
    pub installed: bool,
}

/// Installs the dependencies `source` declares for `runtime`, or returns `None` when it declares none.
pub(crate) fn stage(
    source: &Path,
    runtime: &Runtime,
    opts: &DependencyOptions,
) -> Result<Option<Staged>, PackageError> {
    if !opts.enabled {
        return Ok(None);
    }
    match runtime.family() {
        RuntimeFamily::Python => stage_python(source, runtime, opts),
        RuntimeFamily::Node => stage_node(source, opts),
        _ => Ok(None),
    }
}

fn cache_root(opts: &DependencyOptions) -> PathBuf {
    if let Some(dir) = &opts.cache_dir {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("FAAS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("faas/deps");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache/faas/deps");
    }
    std::env::temp_dir().join("faas-deps")
}

fn key(parts: &[&[u8]]) -> String {
    let mut sha = Sha256::new();
    for p in parts {
        sha.update((p.len() as u64).to_le_bytes());
        sha.update(p);
    }
    let digest = sha.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, PackageError> {
    fs::read(path).map_err(|e| PackageError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn stage_python(source: &Path, runtime: &Runtime, opts: &DependencyOptions) -> Result<Option<Staged>, PackageError> {
    let req = source.join(&opts.requirements);
    if !req.is_file() {
        return Ok(None);
    }
    let content = read(&req)?;
    let declares = String::from_utf8_lossy(&content)
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !declares {
        return Ok(None);
    }
    let version = runtime.version().unwrap_or("3");
    let platform = opts.architecture.pip_platform();
    let extra = opts.pip_args.join("\u{0}");
    let dir = cache_root(opts).join(format!(
        "pip-{}",
        key(&[
            b"pip",
            version.as_bytes(),
            platform.as_bytes(),
            extra.as_bytes(),
            &content
        ])
    ));
    let installed = ensure_staged(&dir, |tmp| {
        let mut cmd = Command::new(&opts.python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-compile",
            "--quiet",
        ])
        // Absolute: pip runs in the source directory, where a relative path would not resolve.
        .arg("--requirement")
        .arg(std::path::absolute(&req).unwrap_or_else(|_| req.clone()))
        .arg("--target")
        .arg(std::path::absolute(tmp).unwrap_or_else(|_| tmp.to_path_buf()))
        .args(["--platform", platform, "--only-binary=:all:", "--implementation", "cp"])
        .args(["--python-version", version])
        .args(&opts.pip_args)
        .current_dir(source);
        cmd
    })?;
    Ok(Some(Staged {
        root: dir,
        prefix: "",
        replaces: None,
        installed,
    }))
}

fn stage_node(source: &Path, opts: &DependencyOptions) -> Result<Option<Staged>, PackageError> {
    let manifest = source.join("package.json");
    let lock = ["package-lock.json", "npm-shrinkwrap.json"]
        .iter()
        .map(|n| source.join(n))
        .find(|p| p.is_file());
    let (true, Some(lock)) = (manifest.is_file(), lock) else {
        if manifest.is_file() && declares_dependencies(&manifest) {
            tracing::warn!(
                source = %source.display(),
                "package.json has no package-lock.json: dependencies are packaged as found in node_modules; run `npm install` to create a lock file for reproducible builds"
            );
        }
        return Ok(None);
    };
    let manifest_bytes = read(&manifest)?;
    let lock_bytes = read(&lock)?;
    let lock_name = lock.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let dir = cache_root(opts).join(format!(
        "npm-{}",
        key(&[
            b"npm",
            opts.architecture.lambda_name().as_bytes(),
            &manifest_bytes,
            &lock_bytes
        ])
    ));
    let installed = ensure_staged(&dir, |tmp| {
        // npm ci installs from the copied manifest and lock only, never from the source tree.
        let _ = fs::write(tmp.join("package.json"), &manifest_bytes);
        let _ = fs::write(tmp.join(&lock_name), &lock_bytes);
        let mut cmd = Command::new(&opts.npm);
        cmd.args(["ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(tmp);
        cmd
    })?;
    Ok(Some(Staged {
        root: dir.join("node_modules"),
        prefix: "node_modules/",
        replaces: Some("node_modules"),
        installed,
    }))
}

fn declares_dependencies(manifest: &Path) -> bool {
    let parsed: Option<serde_json::Value> = fs::read(manifest).ok().and_then(|b| serde_json::from_slice(&b).ok());
    match parsed {
        Some(v) => v
            .get("dependencies")
            .and_then(|d| d.as_object())
            .is_some_and(|d| !d.is_empty()),
        None => true,
    }
}

/// Makes `dir` exist by running the command `make` builds in a temporary sibling directory and
/// renaming it into place. Returns whether the command ran.
fn ensure_staged(dir: &Path, make: impl FnOnce(&Path) -> Command) -> Result<bool, PackageError> {
    if dir.is_dir() {
        tracing::debug!(dir = %dir.display(), "dependencies served from the cache");
        return Ok(false);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
    crate::remove_stale(parent, &[".staging-"]);
    let tmp = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)
        .map_err(|e| PackageError::io(parent, e))?;
    let mut cmd = make(tmp.path());
    let shown = redact_urls(&format!("{cmd:?}"));
    tracing::info!(command = %shown, "installing dependencies");
    let output = cmd.output().map_err(|e| PackageError::Dependencies {
        command: shown.clone(),
        status: format!("could not start: {e}"),
        stderr_tail: String::new(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(PackageError::Dependencies {
            command: shown,
            status: output.status.to_string(),
            stderr_tail: redact_urls(&tail),
        });
    }
    let staged = tmp.keep();
    if let Err(e) = fs::rename(&staged, dir) {
        // Another build staged the same key first: theirs is as good as ours.
        let _ = fs::remove_dir_all(&staged);
        if !dir.is_dir() {
            return Err(PackageError::io(dir, e));
        }
    }
    Ok(true)
}

/// Removes `user:password@` from URLs so index credentials never reach logs or errors.
pub(crate) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***@");
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_credentials() {
        let s = redact_urls("pip --extra-index-url https://bob:s3cret@pypi.example/simple and http://plain/x");
        assert!(!s.contains("s3cret") && !s.contains("bob"), "{s}");
        assert!(
            s.contains("https://***@pypi.example/simple") && s.contains("http://plain/x"),
            "{s}"
        );
    }

    #[test]
    fn key_depends_on_every_part() {
        assert_ne!(key(&[b"a", b"bc"]), key(&[b"ab", b"c"]));
        assert_eq!(key(&[b"x"]), key(&[b"x"]));
    }
}
