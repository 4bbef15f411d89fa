//! Memory and CPU of an execution environment, limited as Lambda limits them.
//!
//! * **With cgroups** (v1 `memory` and `cpu` controllers, or v2 `memory.max` / `cpu.max`,
//!   writable: as root, or delegated), every environment gets a cgroup of its own under
//!   this process's, named `faas-<pid>-<n>`, which its runtime joins before it runs (a
//!   `sh` wrapper writes its pid to `cgroup.procs`, then `exec`s it):
//!   - memory: the kernel's hard limit is the function's memory plus its `/tmp` when that
//!     is a tmpfs (tmpfs pages are charged to the writer; on Lambda `/tmp` is not memory),
//!     and the environment's anonymous memory (`total_rss` / `anon`), sampled every 10 ms,
//!     may not exceed the function's memory: beyond either the runtime is killed and the
//!     invocation fails as on Lambda, `Runtime.OutOfMemory` / "Runtime exited with error:
//!     signal: killed".
//!   - CPU: a CFS quota proportional to memory, 1,769 MB = one vCPU (`cpu.cfs_quota_us` over
//!     a 100 ms `cpu.cfs_period_us`, or `cpu.max`): 885 MB runs at half a CPU, 3,008 MB at
//!     1.7 CPUs (which a single thread cannot use beyond one).
//!   - cleanup: the cgroup is removed with the environment (its processes killed first);
//!     cgroups that a killed faas process left are removed by the next one to look.
//! * **Without**: memory is enforced by the same 10 ms sampling of the runtime's resident
//!   memory (`VmRSS`; what it starts is not counted, and a burst between two samples can
//!   overshoot); CPU is not limited. A warning says so once, and
//!   [`LocalProvider::resource_controls`](super::LocalProvider::resource_controls) tells
//!   which is in force.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Megabytes of memory that buy one vCPU, as on Lambda.
pub const MB_PER_VCPU: u32 = 1769;
/// The CFS period, in microseconds.
const PERIOD_US: u64 = 100_000;
const MIB: u64 = 1024 * 1024;

/// How a limit is enforced on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enforcement {
    /// By a cgroup per execution environment, under `parent` (cgroup `version` 1 or 2).
    Cgroup {
        /// 1 or 2.
        version: u8,
        /// The directory the environments' cgroups are made in.
        parent: PathBuf,
    },
    /// By sampling the runtime's resident memory every 10 ms (memory only).
    Watchdog,
    /// Not enforced, and why.
    Unenforced(String),
}

impl std::fmt::Display for Enforcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Enforcement::Cgroup { version, parent } => write!(f, "cgroup v{version} under {}", parent.display()),
            Enforcement::Watchdog => f.write_str("a 10 ms watchdog on the runtime's resident memory"),
            Enforcement::Unenforced(why) => write!(f, "not enforced: {why}"),
        }
    }
}

/// What limits an execution environment's memory and CPU here
/// ([`LocalProvider::resource_controls`](super::LocalProvider::resource_controls)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceControls {
    /// Memory: the function's `memory_mb`.
    pub memory: Enforcement,
    /// CPU: a share proportional to memory (1,769 MB = one vCPU).
    pub cpu: Enforcement,
}

/// Where environments' cgroups are made: the cgroup version and the parent directories of
/// the memory and CPU cgroups (one directory for both in v2).
#[derive(Debug, Clone)]
struct Parents {
    version: u8,
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
}

/// The cgroup parents found usable (probed once).
#[derive(Debug)]
struct Hierarchy {
    parents: Parents,
    controls: ResourceControls,
}

/// Making and removing cgroup directories: the kernel's cgroupfs makes a new cgroup's
/// control files itself and removes a cgroup (files and all) once no process is in it, which
/// plain directories do not; the tests lay out a temporary directory like cgroupfs with
/// their own implementation.
pub(crate) trait CgroupFs: std::fmt::Debug + Send + Sync {
    /// `mkdir`: a new cgroup.
    fn make(&self, dir: &Path) -> std::io::Result<()>;
    /// `rmdir`: removes an empty cgroup.
    fn remove(&self, dir: &Path) -> std::io::Result<()>;
}

/// The real cgroupfs.
#[derive(Debug)]
struct Kernel;

impl CgroupFs for Kernel {
    fn make(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir(dir)
    }

    fn remove(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(dir)
    }
}

static KERNEL: Kernel = Kernel;

/// `(hierarchy id, controllers, path)` of this process's cgroups.
fn own_cgroups() -> Vec<(String, Vec<String>, String)> {
    std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (id, ctl, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((
                id.to_string(),
                ctl.split(',').map(str::to_string).collect(),
                path.to_string(),
            ))
        })
        .collect()
}

/// `(mount root, mount point, super options)` of the cgroup (`v2` false) or cgroup2 mounts.
fn cgroup_mounts(v2: bool) -> Vec<(String, PathBuf, String)> {
    let wanted = if v2 { "cgroup2" } else { "cgroup" };
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let mut r = right.split(' ');
            if r.next()? != wanted {
                return None;
            }
            let options = r.nth(1).unwrap_or_default();
            Some((
                fields.get(3)?.to_string(),
                PathBuf::from(fields.get(4)?),
                options.to_string(),
            ))
        })
        .collect()
}

/// `mount point + (own path − mount root)`.
fn under_mount(root: &str, point: &Path, own: &str) -> PathBuf {
    let rel = own.strip_prefix(root).unwrap_or(own).trim_start_matches('/');
    point.join(rel)
}

/// Whether a cgroup can be made (and removed) under `parent`, with `file` in it.
fn writable(parent: &Path, file: &str) -> bool {
    let probe = parent.join(format!("faas-probe-{}", std::process::id()));
    let made = std::fs::create_dir(&probe).is_ok();
    let ok = made && probe.join(file).exists();
    if made {
        let _ = std::fs::remove_dir(&probe);
    }
    ok
}

fn v1_parent(controller: &str, file: &str) -> Option<PathBuf> {
    let own = own_cgroups()
        .into_iter()
        .find(|(_, ctl, _)| ctl.iter().any(|c| c == controller))?;
    let (root, point, _) = cgroup_mounts(false)
        .into_iter()
        .find(|(_, _, opts)| opts.split(',').any(|o| o == controller))?;
    let parent = under_mount(&root, &point, &own.2);
    writable(&parent, file).then_some(parent)
}

fn v2_parent() -> Option<PathBuf> {
    let own = own_cgroups().into_iter().find(|(id, _, _)| id == "0")?;
    let (root, point, _) = cgroup_mounts(true).into_iter().next()?;
    let parent = under_mount(&root, &point, &own.2);
    let available = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    if !available.split_whitespace().any(|c| c == "memory") {
        return None;
    }
    // Children get the controllers only when the parent hands them down (which a cgroup
    // holding processes, other than the root, may not do).
    let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory +cpu");
    writable(&parent, "memory.max").then_some(parent)
}

fn hierarchy() -> &'static Hierarchy {
    static FOUND: OnceLock<Hierarchy> = OnceLock::new();
    FOUND.get_or_init(|| {
        let (memory, cpu) = (
            v1_parent("memory", "memory.limit_in_bytes"),
            v1_parent("cpu", "cpu.cfs_quota_us"),
        );
        let (version, memory, cpu) = if memory.is_some() || cpu.is_some() {
            (1, memory, cpu)
        } else {
            let v2 = v2_parent();
            let cpu = v2.clone().filter(|p| writable(p, "cpu.max"));
            (2, v2, cpu)
        };
        for parent in memory.iter().chain(cpu.iter()) {
            sweep(&KERNEL, parent);
        }
        let none = "no writable cgroup (v1 memory/cpu controller or v2 memory.max/cpu.max) for this process";
        let controls = ResourceControls {
            memory: match &memory {
                Some(p) => Enforcement::Cgroup { version, parent: p.clone() },
                None => Enforcement::Watchdog,
            },
            cpu: match &cpu {
                Some(p) => Enforcement::Cgroup { version, parent: p.clone() },
                None => Enforcement::Unenforced(none.into()),
            },
        };
        if memory.is_none() || cpu.is_none() {
            tracing::warn!(memory = %controls.memory, cpu = %controls.cpu, "{none}: execution environments are limited less strictly than on Lambda");
        } else {
            tracing::info!(memory = %controls.memory, cpu = %controls.cpu, "execution environments are limited by cgroups");
        }
        Hierarchy {
            parents: Parents { version, memory, cpu },
            controls,
        }
    })
}

/// What limits environments on this machine.
pub(crate) fn controls() -> ResourceControls {
    hierarchy().controls.clone()
}

/// Kills what is in the cgroup at `dir` and removes it, trying for up to `patience`.
fn remove(fs: &dyn CgroupFs, dir: &Path, patience: Duration) -> bool {
    let until = std::time::Instant::now() + patience;
    loop {
        for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            if let Some(pid) = pid.trim().parse().ok().and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        match fs.remove(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
            Err(_) if std::time::Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "could not remove an execution environment's cgroup");
                return false;
            }
        }
    }
}

/// Removes the cgroups that faas processes no longer running left under `parent`.
fn sweep(fs: &dyn CgroupFs, parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let owner = name
            .strip_prefix("faas-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(owner) = owner
            && !Path::new(&format!("/proc/{owner}")).exists()
        {
            remove(fs, &e.path(), Duration::from_millis(200));
        }
    }
}

/// One environment's cgroup(s): removed, with whatever is in them, when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    version: u8,
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    fs: &'static dyn CgroupFs,
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let mut dirs: Vec<&PathBuf> = self.memory.iter().chain(self.cpu.iter()).collect();
        dirs.dedup();
        for d in dirs {
            remove(self.fs, d, Duration::from_secs(1));
        }
    }
}

fn write(dir: &Path, file: &str, value: impl std::fmt::Display) -> std::io::Result<()> {
    std::fs::write(dir.join(file), value.to_string())
}

impl Cgroup {
    /// A cgroup for an environment of `memory_mb` (plus `tmp_mb` of tmpfs `/tmp`, which the
    /// kernel charges as memory), with a CPU share of `memory_mb / 1769`; `None` where
    /// cgroups cannot be used (then the watchdog limits memory).
    pub fn create(memory_mb: u32, tmp_mb: u32) -> Option<Cgroup> {
        Cgroup::create_in(&KERNEL, &hierarchy().parents, memory_mb, tmp_mb)
    }

    /// [`Cgroup::create`] under `parents`, through `fs`.
    fn create_in(fs: &'static dyn CgroupFs, h: &Parents, memory_mb: u32, tmp_mb: u32) -> Option<Cgroup> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        if h.memory.is_none() && h.cpu.is_none() {
            return None;
        }
        let name = format!("faas-{}-{}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed));
        let make = |parent: &Option<PathBuf>| -> Option<PathBuf> {
            let dir = parent.as_ref()?.join(&name);
            match fs.make(&dir) {
                Ok(()) => Some(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Some(dir),
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e, "could not make a cgroup");
                    None
                }
            }
        };
        let memory = make(&h.memory);
        let cpu = if h.version == 2 {
            memory.clone().filter(|_| h.cpu.is_some())
        } else {
            make(&h.cpu)
        };
        let cg = Cgroup {
            version: h.version,
            memory,
            cpu,
            fs,
        };
        let ceiling = u64::from(memory_mb + tmp_mb) * MIB;
        let quota = (PERIOD_US * u64::from(memory_mb) / u64::from(MB_PER_VCPU)).max(1000);
        let set = || -> std::io::Result<()> {
            match (cg.version, &cg.memory, &cg.cpu) {
                (1, m, c) => {
                    if let Some(m) = m {
                        write(m, "memory.limit_in_bytes", ceiling)?;
                        if m.join("memory.memsw.limit_in_bytes").exists() {
                            write(m, "memory.memsw.limit_in_bytes", ceiling)?;
                        }
                    }
                    if let Some(c) = c {
                        write(c, "cpu.cfs_period_us", PERIOD_US)?;
                        write(c, "cpu.cfs_quota_us", quota)?;
                    }
                }
                (_, m, c) => {
                    if let Some(m) = m {
                        write(m, "memory.max", ceiling)?;
                        let _ = write(m, "memory.swap.max", 0);
                    }
                    if let Some(c) = c {
                        write(c, "cpu.max", format!("{quota} {PERIOD_US}"))?;
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = set() {
            tracing::warn!(error = %e, "could not set an execution environment's cgroup limits");
            return None;
        }
        Some(cg)
    }

    /// The `cgroup.procs` files the runtime joins.
    pub fn procs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<&PathBuf> = self.memory.iter().chain(self.cpu.iter()).collect();
        dirs.dedup();
        dirs.into_iter().map(|d| d.join("cgroup.procs")).collect()
    }

    fn stat(&self, keys: &[&str]) -> Option<u64> {
        let text = std::fs::read_to_string(self.memory.as_ref()?.join("memory.stat")).ok()?;
        let mut sum = None;
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(' ')
                && keys.contains(&k)
            {
                *sum.get_or_insert(0) += v.trim().parse::<u64>().ok()?;
            }
        }
        sum
    }

    /// The environment's anonymous memory in bytes (what the function itself allocated:
    /// not the page cache, not `/tmp`), when a memory cgroup measures it.
    pub fn anon_bytes(&self) -> Option<u64> {
        match self.version {
            1 => self.stat(&["total_rss"]),
            _ => self.stat(&["anon"]),
        }
    }

    /// How many times the kernel's OOM killer struck in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        let Some(m) = &self.memory else { return 0 };
        let file = if self.version == 1 {
            "memory.oom_control"
        } else {
            "memory.events"
        };
        std::fs::read_to_string(m.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    }

    /// Whether a memory cgroup measures the environment.
    pub fn measures_memory(&self) -> bool {
        self.memory.is_some()
    }
}

/// The runtime's resident memory in bytes (`VmRSS`), for the watchdog without cgroups.
pub(crate) fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// The shell that puts itself into the cgroups named before `--`, then becomes the runtime.
pub(crate) const JOIN: &str = r#"while [ "$1" != -- ]; do echo $$ > "$1" || { echo "faas: cannot join cgroup $1" >&2; exit 125; }; shift; done; shift; exec "$@""#;

impl super::LocalProvider {
    /// What limits the execution environments' memory and CPU on this machine: cgroups
    /// (which version, under which directory), the memory watchdog, or nothing (and why).
    ///
    /// ```no_run
    /// # fn f(p: faas_core::local::LocalProvider) {
    /// let c = p.resource_controls();
    /// println!("memory: {}; cpu: {}", c.memory, c.cpu);
    /// # }
    /// ```
    pub fn resource_controls(&self) -> ResourceControls {
        if !self.inner.pool.cgroups() {
            return ResourceControls {
                memory: Enforcement::Watchdog,
                cpu: Enforcement::Unenforced("cgroups turned off (LocalBuilder::cgroups)".into()),
            };
        }
        controls()
    }
}

#[cfg(test)]
mod tests;
