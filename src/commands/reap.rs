//! `reap`: destroy every env whose lease expired and whose reaper is gone,
//! then sweep expired local containers and networks by their labels;
//! `reap --target aws`: the tag sweep of the region (targets/aws).

use crate::cli::Target;
use crate::env;
use crate::error::Failure;
use crate::targets::{aws, local};
use anyhow::Result;
use std::time::{Duration, SystemTime};

pub fn run(dry_run: bool, target: Target, margin: Duration, json: bool) -> Result<i32> {
    match target {
        Target::Local if json => Err(Failure::usage(
            "reap --json reports the aws tag sweep: use it with --target aws",
        )),
        Target::Local => reap_local(dry_run),
        Target::Aws => reap_aws(dry_run, margin, json),
    }
}

/// The tag sweep: expired resources tagged `managed-by=shadowops` (at least
/// `margin` past `expires_at`) deleted in dependency order, state or not.
/// Exit 1 when any delete failed (the report says which and why).
fn reap_aws(dry_run: bool, margin: Duration, json: bool) -> Result<i32> {
    let client = aws::Aws::from_env()?;
    crate::ui::phase(
        "reap",
        &format!(
            "aws tag sweep in {} (margin {}){}",
            client.region,
            humantime::format_duration(margin),
            if dry_run { ", dry run" } else { "" }
        ),
    );
    let report = aws::sweep(&client, SystemTime::now(), margin, dry_run)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}

/// Destroy every env whose lease expired and whose reaper is gone, then
/// sweep local containers/networks whose expiry label is past.
fn reap_local(dry_run: bool) -> Result<i32> {
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
