//! `destroy`: wait for a running command on the env, then tear it down
//! (teardown.rs).

use crate::env::{self, EnvDir};
use crate::teardown;
use crate::ui;
use anyhow::Result;
use std::time::Duration;

pub fn run(raw: &str, json: bool) -> Result<i32> {
    let name = env::parse_name(raw)?;
    let dir = EnvDir::new(&env::home()?, name);
    if !dir.root.exists() {
        teardown::report_json(json, raw, "absent");
        ui::info(&format!("env {raw}: nothing to destroy"));
        return Ok(0);
    }
    // Wait for a running `up` (it may be mid-apply) rather than race it.
    let lock = dir.lock(Duration::from_secs(900))?;
    teardown::destroy_locked(&dir, lock, json, false)
}
