//! `reap`: destroy every env whose lease expired and whose reaper is gone,
//! then sweep expired local containers and networks by their labels.

use crate::env;
use crate::targets::local;
use anyhow::Result;

/// Destroy every env whose lease expired and whose reaper is gone, then
/// sweep local containers/networks whose expiry label is past.
pub fn run(dry_run: bool) -> Result<i32> {
    let home = env::home()?;
    let now = std::time::SystemTime::now();
    let mut failures = 0;
    for dir in env::all_envs(&home)? {
        let Some(state) = dir.load_state()? else {
            continue;
        };
        if state.status == env::Status::Destroyed {
            continue;
        }
        let expired = state.expires_at.is_some_and(|t| t <= now);
        let reaper = state
            .reaper_pid
            .is_some_and(|p| crate::lease::reaper_alive(p, dir.name.as_str()));
        if !expired || reaper {
            continue;
        }
        if dry_run {
            println!(
                "would destroy env {} (expired {})",
                dir.name,
                state
                    .expires_at
                    .map(crate::lease::rfc3339)
                    .unwrap_or_default()
            );
            continue;
        }
        // Another command (an `up`, a destroy, another reap) holds the env:
        // leave it to them rather than race.
        let Some(lock) = dir.try_lock()? else {
            crate::ui::info(&format!("env {} is busy; skipping", dir.name));
            continue;
        };
        // Re-check under the lock: a concurrent reap may have finished it.
        let state = dir.load_state()?.unwrap_or_default();
        if state.status == env::Status::Destroyed || state.expires_at.is_none_or(|t| t > now) {
            continue;
        }
        crate::ui::phase("reap", &format!("env {} expired; destroying", dir.name));
        match crate::teardown::destroy_locked(&dir, lock, false, false) {
            Ok(0) => println!("destroyed env {}", dir.name),
            Ok(code) => {
                failures += 1;
                eprintln!("destroy of env {} ended with {code}", dir.name)
            }
            Err(e) => {
                failures += 1;
                eprintln!("destroy of env {} failed: {e:#}", dir.name)
            }
        }
    }
    failures += local::sweep_expired(&home, dry_run)?;
    Ok(if failures > 0 { 1 } else { 0 })
}
