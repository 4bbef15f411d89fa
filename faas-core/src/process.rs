//! Child processes that stop with everything they started (handlers, pipeline scripts).

/// Kills a process group and everything in it. `leader` is the group leader's pid, taken at
/// spawn: once the leader is reaped its id is gone, but its group lives on while anything it
/// started does (and the kernel reuses no pid meanwhile).
#[cfg(unix)]
pub(crate) fn kill_group(leader: Option<u32>) {
    if let Some(pid) = leader
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// See the Unix version: without process groups only the child itself is stopped (by
/// `kill_on_drop`), not what it started.
#[cfg(not(unix))]
pub(crate) fn kill_group(leader: Option<u32>) {
    let _ = leader;
}
