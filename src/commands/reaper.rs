//! `reaper` (hidden): the detached process `up` arms. It re-reads env.json
//! every second (so `extend` and `destroy` are honoured) and destroys the env
//! at its deadline.

use crate::env::{EnvDir, Status};
use crate::lease::rfc3339;
use anyhow::Result;
use std::time::{Duration, SystemTime};

/// The reaper's loop: re-read env.json (so `extend` is honoured), destroy at
/// the deadline, exit when the env is gone or another reaper took over.
pub fn run(dir: &EnvDir) -> Result<i32> {
    let me = std::process::id();
    eprintln!(
        "[{}] reaper {me} watching env {}",
        rfc3339(SystemTime::now()),
        dir.name
    );
    loop {
        let Some(state) = dir.load_state()? else {
            eprintln!("reaper: env {} is gone; exiting", dir.name);
            return Ok(0);
        };
        if state.status == Status::Destroyed {
            return Ok(0);
        }
        if state.reaper_pid.is_some_and(|p| p != me) {
            eprintln!("reaper: superseded by pid {:?}; exiting", state.reaper_pid);
            return Ok(0);
        }
        let Some(deadline) = state.expires_at else {
            return Ok(0);
        };
        let now = SystemTime::now();
        if now >= deadline {
            eprintln!(
                "[{}] reaper: lease expired at {}; destroying",
                rfc3339(now),
                rfc3339(deadline)
            );
            let code = crate::teardown::destroy_taking_lock(dir, false, true)?;
            eprintln!(
                "[{}] reaper: destroy finished with {code}",
                rfc3339(SystemTime::now())
            );
            return Ok(code);
        }
        // Re-read the lease every second: `extend` and `destroy` change it.
        let left = deadline.duration_since(now).unwrap_or_default();
        crate::supervise::pause(left.min(Duration::from_secs(1)))?;
    }
}
