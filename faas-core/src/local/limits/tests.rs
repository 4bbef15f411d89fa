//! The cgroup setup and teardown, v1 and v2, against a temporary directory laid out like cgroupfs.

use std::sync::Mutex;

use super::*;

/// A temporary directory laid out like cgroupfs: `make` adds the control files the kernel
/// would (v2 in every cgroup; v1 the memory or the cpu controller's, by parent), `remove`
/// refuses a cgroup a live process is in, as `rmdir` does, and takes the files with it.
#[derive(Debug)]
struct FakeFs {
    version: u8,
    cpu_parent: PathBuf,
    made: Mutex<Vec<PathBuf>>,
}

impl FakeFs {
    fn new(version: u8, cpu_parent: &Path) -> &'static FakeFs {
        Box::leak(Box::new(FakeFs {
            version,
            cpu_parent: cpu_parent.to_path_buf(),
            made: Mutex::new(Vec::new()),
        }))
    }

    fn made(&self) -> Vec<PathBuf> {
        self.made.lock().unwrap().clone()
    }
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

impl CgroupFs for FakeFs {
    fn make(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir(dir)?;
        let files: &[(&str, &str)] = match self.version {
            2 => &[
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("cpu.max", "max 100000"),
            ],
            _ if dir.starts_with(&self.cpu_parent) => &[("cpu.cfs_quota_us", "-1"), ("cpu.cfs_period_us", "100000")],
            _ => &[
                ("memory.limit_in_bytes", "9223372036854771712"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ],
        };
        for (file, value) in files.iter().chain(&[("cgroup.procs", "")]) {
            std::fs::write(dir.join(file), value)?;
        }
        self.made.lock().unwrap().push(dir.to_path_buf());
        Ok(())
    }

    fn remove(&self, dir: &Path) -> std::io::Result<()> {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs"))?;
        if procs.lines().any(alive) {
            return Err(std::io::Error::from_raw_os_error(16)); // EBUSY
        }
        std::fs::remove_dir_all(dir)
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

fn parents_of(version: u8, memory: Option<&Path>, cpu: Option<&Path>) -> Parents {
    Parents {
        version,
        memory: memory.map(Path::to_path_buf),
        cpu: cpu.map(Path::to_path_buf),
    }
}

/// (memory MB, CPU quota in µs per 100 ms): 1,769 MB is one vCPU, 885 MB about half.
const QUOTAS: [(u32, u64); 4] = [(1769, 100_000), (885, 50_028), (3008, 170_039), (128, 7_235)];

#[test]
fn v2_writes_memory_max_and_cpu_max_and_removes_its_cgroup() {
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("faas.slice");
    std::fs::create_dir(&parent).unwrap();
    let fs = FakeFs::new(2, &parent);
    let parents = parents_of(2, Some(&parent), Some(&parent));
    for (mb, quota) in QUOTAS {
        let cg = Cgroup::create_in(fs, &parents, mb, 0).unwrap();
        let dir = cg.memory.clone().unwrap();
        assert_eq!(cg.cpu.as_ref(), Some(&dir), "v2: one cgroup for memory and CPU");
        assert_eq!(read(&dir, "memory.max"), (u64::from(mb) * MIB).to_string());
        assert_eq!(read(&dir, "memory.swap.max"), "0");
        assert_eq!(read(&dir, "cpu.max"), format!("{quota} 100000"), "{mb} MB");
        assert_eq!(cg.procs(), [dir.join("cgroup.procs")]);
        std::fs::write(dir.join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n").unwrap();
        std::fs::write(dir.join("memory.stat"), "anon 4096\nfile 8192\n").unwrap();
        assert_eq!((cg.oom_kills(), cg.anon_bytes()), (2, Some(4096)));
        drop(cg);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // A tmpfs /tmp is charged as memory: the hard limit includes it.
    let cg = Cgroup::create_in(fs, &parents, 512, 256).unwrap();
    assert_eq!(read(cg.memory.as_ref().unwrap(), "memory.max"), (768 * MIB).to_string());
    drop(cg);
    assert_eq!(fs.made().len(), QUOTAS.len() + 1);
    assert!(fs.made().iter().all(|d| !d.exists()));
    assert!(empty(&parent), "every cgroup made was removed");
}

#[test]
fn v1_writes_the_memory_and_cpu_controllers_and_removes_both_cgroups() {
    let root = tempfile::tempdir().unwrap();
    let (memory, cpu) = (root.path().join("memory/user"), root.path().join("cpu,cpuacct/user"));
    std::fs::create_dir_all(&memory).unwrap();
    std::fs::create_dir_all(&cpu).unwrap();
    let fs = FakeFs::new(1, &cpu);
    let parents = parents_of(1, Some(&memory), Some(&cpu));
    for (mb, quota) in QUOTAS {
        let cg = Cgroup::create_in(fs, &parents, mb, 0).unwrap();
        let (m, c) = (cg.memory.clone().unwrap(), cg.cpu.clone().unwrap());
        assert!(m.starts_with(&memory) && c.starts_with(&cpu), "{m:?} {c:?}");
        let bytes = (u64::from(mb) * MIB).to_string();
        assert_eq!(read(&m, "memory.limit_in_bytes"), bytes);
        assert_eq!(
            read(&m, "memory.memsw.limit_in_bytes"),
            bytes,
            "no swapping past the limit"
        );
        assert_eq!(read(&c, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(&c, "cpu.cfs_quota_us"), quota.to_string(), "{mb} MB");
        assert_eq!(cg.procs(), [m.join("cgroup.procs"), c.join("cgroup.procs")]);
        std::fs::write(
            m.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            m.join("memory.stat"),
            "cache 10\nrss 5\ntotal_cache 10\ntotal_rss 7000\n",
        )
        .unwrap();
        assert_eq!((cg.oom_kills(), cg.anon_bytes()), (1, Some(7000)));
        drop(cg);
        assert!(!m.exists() && !c.exists(), "{m:?} {c:?} left behind");
    }
    assert_eq!(fs.made().len(), 2 * QUOTAS.len());
    assert!(empty(&memory) && empty(&cpu), "every cgroup made was removed");
}

#[test]
fn teardown_kills_what_is_in_the_cgroup_and_the_sweep_removes_dead_owners_cgroups() {
    let root = tempfile::tempdir().unwrap();
    let fs = FakeFs::new(2, root.path());
    let parents = parents_of(2, Some(root.path()), None);
    let cg = Cgroup::create_in(fs, &parents, 128, 0).unwrap();
    assert_eq!(cg.cpu, None, "no cpu controller: memory only");
    let dir = cg.memory.clone().unwrap();
    assert_eq!(read(&dir, "cpu.max"), "max 100000", "CPU left unlimited");
    let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(dir.join("cgroup.procs"), format!("{}\n", child.id())).unwrap();
    drop(cg);
    assert!(!dir.exists());
    assert!(!child.wait().unwrap().success(), "killed with its cgroup");

    // Left by a faas process that is gone (no pid is that large): removed; ours: kept.
    let dead = root.path().join("faas-4294967295-0");
    let ours = root.path().join(format!("faas-{}-999", std::process::id()));
    fs.make(&dead).unwrap();
    fs.make(&ours).unwrap();
    sweep(fs, root.path());
    assert!(!dead.exists() && ours.exists());
    assert!(
        Cgroup::create_in(fs, &parents_of(2, None, None), 128, 0).is_none(),
        "no controller: no cgroup"
    );
}
