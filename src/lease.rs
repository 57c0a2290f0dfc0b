//! Leases: parsing durations, the deadline in the lease file the local
//! backstops read, and arming/disarming the detached reaper (its loop is
//! `commands/reaper.rs`; `extend` and `reap` are commands of their own).

use crate::env::{EnvDir, EnvState};
use crate::error::Failure;
use anyhow::{Context, Result};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A lease (already a positive duration, see cli::lease_duration) within its
/// cap: a lease that would outlive the cap is refused unless raised on purpose.
pub fn within_cap(lease: Duration, max: Duration) -> Result<Duration> {
    if lease > max {
        return Err(Failure::usage(format!(
            "lease {} is longer than the cap of {} (raise it with --max-ttl if you mean it)",
            humantime::format_duration(lease),
            humantime::format_duration(max)
        )));
    }
    Ok(lease)
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

pub fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `<env>/lease`: the deadline as Unix seconds, read by the in-container
/// watchdogs of the local target (the backstop that needs no process of ours).
/// Rewritten in place, not renamed over: the containers bind-mount this very
/// inode, and a rename would leave them reading the old deadline. The
/// watchdogs ignore an empty or partial read.
pub fn write_lease_file(dir: &EnvDir, expires_at: SystemTime) -> Result<()> {
    std::fs::create_dir_all(&dir.root)?;
    std::fs::write(dir.lease_file(), format!("{}\n", epoch(expires_at)))?;
    Ok(())
}

pub fn format_left(left: Option<Duration>) -> String {
    match left {
        None => "-".into(),
        Some(d) if d.is_zero() => "expired".into(),
        Some(d) => humantime::format_duration(Duration::from_secs(d.as_secs())).to_string(),
    }
}

/// Is `pid` a live shadowops reaper for this env? (Guards against pid reuse.)
pub fn reaper_alive(pid: u32, env: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // A zombie has an empty cmdline: not alive for our purposes.
    args.iter().any(|a| a == "reaper") && args.iter().any(|a| a == env)
}

/// Start the detached reaper: its own session (survives the terminal, the
/// CI step and the driver), output to `<env>/reaper.log`.
pub fn spawn_reaper(dir: &EnvDir) -> Result<u32> {
    let exe = std::env::current_exe().context("locating the shadowops binary")?;
    let home = dir
        .root
        .parent()
        .and_then(|p| p.parent())
        .context("env dir has no home")?;
    let mut cmd = Command::new(exe);
    cmd.args(["reaper", "--env", dir.name.as_str()])
        .env("SHADOWOPS_HOME", home);
    crate::supervise::spawn_detached(cmd, &dir.reaper_log()).context("starting the reaper")
}

/// Stop the env's reaper, unless it is us.
pub fn disarm(state: &mut EnvState) {
    if let Some(pid) = state.reaper_pid.take() {
        if pid != std::process::id() && reaper_alive(pid, &state.env) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::SIGTERM,
            );
        }
    }
}

/// Re-arm: stop the old reaper, start a new one, record its pid.
pub fn arm(dir: &EnvDir, state: &mut EnvState) -> Result<u32> {
    disarm(state);
    let pid = spawn_reaper(dir)?;
    state.reaper_pid = Some(pid);
    dir.save_state(state)?;
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_beyond_the_cap_are_refused() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(within_cap(h(2), h(24)).unwrap(), h(2));
        let err = within_cap(h(25), h(24)).unwrap_err().to_string();
        assert!(err.contains("cap of 1day"), "{err}");
        assert!(within_cap(h(30), h(48)).is_ok());
    }
}
