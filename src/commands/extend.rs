//! `extend`: move an env's deadline (the running reaper honours it; on AWS
//! the expiry tags and backstops move with a targeted re-apply).

use super::existing;
use crate::env::{self, EnvDir};
use crate::error::Failure;
use anyhow::Result;

pub fn run(raw: &str, duration: std::time::Duration, max_ttl: std::time::Duration) -> Result<i32> {
    let lease = crate::lease::within_cap(duration, max_ttl)?;
    let dir = existing(raw)?;
    let _lock = dir.lock(std::time::Duration::from_secs(30))?;
    let mut state = dir.load_state()?.unwrap_or_default();
    if state.status == env::Status::Destroyed {
        return Err(Failure::usage(format!(
            "env {raw} is destroyed; nothing to extend"
        )));
    }
    let expires = std::time::SystemTime::now() + lease;
    if state.target == Some(crate::cli::Target::Aws) && dir.tfvars().exists() {
        // On AWS the backstops (instance shutdown, Redshift pause) read the
        // expiry tags: move them with a targeted re-apply of the new value.
        retag_expiry(&dir, expires)?;
    }
    state.expires_at = Some(expires);
    crate::lease::write_lease_file(&dir, expires)?;
    // The running reaper re-reads env.json each second; re-arm only if it died.
    if !state
        .reaper_pid
        .is_some_and(|p| crate::lease::reaper_alive(p, raw))
    {
        crate::lease::arm(&dir, &mut state)?;
    }
    dir.save_state(&state)?;
    println!(
        "env {raw} now expires at {} (in {})",
        crate::lease::rfc3339(expires),
        crate::lease::format_left(Some(lease))
    );
    Ok(0)
}

fn retag_expiry(dir: &EnvDir, expires: std::time::SystemTime) -> Result<()> {
    let path = dir.tfvars();
    let mut vars: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    vars["expires_at"] = serde_json::Value::String(crate::lease::rfc3339(expires));
    std::fs::write(&path, serde_json::to_vec_pretty(&vars)?)?;
    let assets = crate::paths::assets()?;
    let tools = crate::tools::require(crate::cli::Target::Aws, false)?;
    let tf = crate::terraform::for_env(dir, crate::cli::Target::Aws, tools.terraform, &assets);
    let mut run = crate::runrec::Run::start(&dir.runs_dir(), dir.name.as_str(), "extend")?;
    crate::ui::phase(
        "extend",
        "terraform apply: moving the expiry tags and the Redshift pause",
    );
    tf.init(&run.dir)?;
    let out = tf.apply(&run.dir, false)?;
    if !out.finished.success() {
        let report = crate::terraform::run::failure(
            &out,
            crate::report::Phase::Provision,
            "apply of the new expiry failed",
        )
        .locate(
            dir.name.as_str(),
            run.dir.clone(),
            Some(out.log.clone()),
            true,
        );
        run.finish("failed", report.exit_code(), 0.0)?;
        eprint!("{}", report.render());
        return Err(Failure::Phase(Box::new(report)).into());
    }
    run.finish("ok", 0, 0.0)?;
    Ok(())
}
