//! How a handler process is started: its own process group, its own `/tmp`, and — when faas
//! runs as root — no capabilities.
//!
//! * **Process group**: the runtime leads a group of its own, killed as a whole when its
//!   execution environment ends (a timeout, a crash, idle eviction, the provider dropped),
//!   so nothing a handler starts outlives it. `/tmp` lives as long as the environment:
//!   warm invocations see what earlier ones wrote there, as on Lambda.
//! * **Private `/tmp`**: where util-linux's `unshare` can make a mount namespace (as root, or
//!   through an unprivileged user namespace), `/tmp` becomes an overlay whose writable layer
//!   is a fresh tmpfs of the function's ephemeral storage size (`aws.ephemeral_storage_mb`,
//!   default 512 MB, as on Lambda): writes beyond it fail with "No space left on device",
//!   what the handler writes no other function and not the host sees, and it is gone when
//!   the environment's processes are. (The host's `/tmp` stays readable underneath: an
//!   interpreter or a state directory may live there.) Where no namespace can be made,
//!   `TMPDIR` points at a private directory under the state directory, removed with the
//!   environment (a handler writing to the literal path `/tmp` then reaches the host's; a
//!   warning says so once).
//! * **No capabilities as root**: through `setpriv`, so the sealed code tree (owned by
//!   `nobody`, read-only) is read-only to the handler too (see the `code` module).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tokio::process::Command;

use super::code::running_as_root;

/// Lambda's default ephemeral storage, in MB.
pub(crate) const DEFAULT_TMP_MB: u32 = 512;

/// The shell run inside the new mount namespace: a tmpfs of the ephemeral storage size on a
/// directory of faas's own (`$upper`, under the state directory), and an overlay on `/tmp`
/// whose writable layer is that tmpfs. The handler reads what the host's `/tmp` holds (its
/// interpreter or code may live there), but everything it writes there goes to its own
/// bounded layer, which no other function sees and which vanishes with the environment.
const SETUP: &str = r#"task=$1; size=$2; upper=$3; shift 3
fail() { echo "faas: cannot make a private /tmp: $1" >&2; exit 126; }
mount -t tmpfs -o "size=${size}m,mode=0700" faas-tmp "$upper" || fail "tmpfs"
mkdir -p "$upper/u" "$upper/w" && chmod 1777 "$upper/u" || fail "layer"
mount -t overlay faas-tmp -o "lowerdir=/tmp,upperdir=$upper/u,workdir=$upper/w" /tmp || fail "overlay"
cd "$task" || exit 126
exec "$@""#;

fn find(candidates: &[&'static str]) -> Option<&'static str> {
    candidates.iter().copied().find(|p| Path::new(p).is_file())
}

/// `setpriv`, when faas runs as root (and it is installed).
fn setpriv() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        if !running_as_root() {
            return None;
        }
        let found = find(&["/usr/bin/setpriv", "/bin/setpriv"]);
        if found.is_none() {
            tracing::warn!(
                "running as root without util-linux's setpriv: handlers keep root's capabilities and could write their code tree (it is still verified before every use)"
            );
        }
        found
    })
}

/// The `unshare` arguments that make a mount namespace here, if any do (probed once).
fn namespace() -> Option<(&'static str, &'static [&'static str])> {
    static FOUND: OnceLock<Option<(&'static str, &'static [&'static str])>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        let unshare = find(&["/usr/bin/unshare", "/bin/unshare"])?;
        let args: &'static [&'static str] = if running_as_root() {
            &["--mount", "--propagation", "private", "--"]
        } else {
            &["--user", "--map-root-user", "--mount", "--propagation", "private", "--"]
        };
        let probe = tempfile::tempdir().ok()?;
        let works = std::process::Command::new(unshare)
            .args(args)
            .args(["/bin/sh", "-c", SETUP, "faas-probe", "/", "1"])
            .arg(probe.path())
            .arg("/bin/true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !works {
            tracing::warn!(
                "no mount namespace can be made here (unshare): handlers get a private TMPDIR, but the literal /tmp is the host's"
            );
        }
        works.then_some((unshare, args))
    })
}

/// Where a handler's temporary files go, and what is left to remove afterwards.
#[derive(Debug)]
pub(crate) struct Tmp {
    /// `TMPDIR` for the handler.
    pub dir: PathBuf,
    /// A private directory to remove when the environment ends (no namespace).
    owned: Option<PathBuf>,
}

impl Drop for Tmp {
    fn drop(&mut self) {
        if let Some(dir) = self.owned.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %dir.display(), error = %e, "could not remove an environment's temporary directory");
        }
    }
}

/// What the sandbox needs to know about one execution environment.
pub(crate) struct Launch<'a> {
    /// The state directory.
    pub state: &'a Path,
    /// The code tree the handler runs in.
    pub task: &'a Path,
    /// The private `/tmp` size in MB.
    pub tmp_mb: u32,
    /// The execution environment's id (names the fallback temporary directory).
    pub env_id: &'a str,
    /// The `cgroup.procs` files the runtime joins before it starts (see the `limits` module).
    pub cgroups: &'a [PathBuf],
}

/// Whether handlers get a tmpfs `/tmp` here (which the kernel charges as their memory).
pub(crate) fn tmpfs_tmp() -> bool {
    namespace().is_some()
}

/// The command that starts `program` in the sandbox (arguments follow with `.arg`), and its
/// temporary directory.
pub(crate) fn command(launch: &Launch<'_>, program: impl AsRef<std::ffi::OsStr>) -> std::io::Result<(Command, Tmp)> {
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if !launch.cgroups.is_empty() {
        argv.extend(["/bin/sh", "-c", super::limits::JOIN, "faas-cgroup"].map(Into::into));
        argv.extend(launch.cgroups.iter().map(Into::into));
        argv.push("--".into());
    }
    let private = launch.state.join("tmp").join(launch.env_id);
    std::fs::create_dir_all(&private)?;
    let tmp = match namespace() {
        Some((unshare, args)) => {
            argv.push(unshare.into());
            argv.extend(args.iter().map(Into::into));
            argv.extend(["/bin/sh", "-c", SETUP, "faas-sandbox"].map(Into::into));
            argv.push(launch.task.as_os_str().into());
            argv.push(launch.tmp_mb.to_string().into());
            argv.push(private.as_os_str().into());
            Tmp {
                dir: PathBuf::from("/tmp"),
                owned: Some(private),
            }
        }
        None => Tmp {
            dir: private.clone(),
            owned: Some(private),
        },
    };
    if let Some(setpriv) = setpriv() {
        argv.push(setpriv.into());
        argv.extend(["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"].map(Into::into));
    }
    argv.push(program.as_ref().into());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    Ok((group(cmd), tmp))
}

/// Its own process group, so that whatever the handler starts is stopped with it.
fn group(mut cmd: Command) -> Command {
    cmd.process_group(0);
    cmd
}
