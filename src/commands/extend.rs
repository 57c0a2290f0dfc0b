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
    let now = std::time::SystemTime::now();
    if state.target == Some(crate::cli::Target::Aws) {
        refuse_after_backstops(raw, state.expires_at, backstop_grace(&dir), now)?;
    }
    let expires = now + lease;
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

/// terraform/aws's default `backstop_grace`: the backstops fire this long
/// after the lease's end.
/// terraform/aws's default `backstop_grace`.
const AWS_BACKSTOP_GRACE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The env's own grace: `backstop_grace` in its tfvars (`up
/// --backstop-grace`), else the module's default. A value that does not
/// parse (the module would have refused it) counts as the default.
fn backstop_grace(dir: &EnvDir) -> std::time::Duration {
    std::fs::read(dir.tfvars())
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("backstop_grace")?.as_str().map(str::to_string))
        .and_then(|g| humantime::parse_duration(&g).ok())
        .unwrap_or(AWS_BACKSTOP_GRACE)
}

/// Past the backstops the instance has powered itself off (and is gone) and
/// the cluster is paused: a re-apply would quietly build a new instance
/// beside a paused cluster. Refuse, and say what to do instead.
fn refuse_after_backstops(
    raw: &str,
    expires_at: Option<std::time::SystemTime>,
    grace: std::time::Duration,
    now: std::time::SystemTime,
) -> Result<()> {
    match expires_at {
        Some(t) if now >= t + grace => Err(Failure::usage(format!(
            "env {raw}'s lease ended at {} and its backstops have fired (instance powered off, \
             cluster paused): extending would build a new instance beside a paused cluster; \
             run `shadowops destroy --env {raw}` and `shadowops up` again",
            crate::lease::rfc3339(t)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn an_aws_env_past_its_backstops_is_not_extended() {
        let now = SystemTime::now();
        let ended = |ago| Some(now - Duration::from_secs(ago));
        let grace = AWS_BACKSTOP_GRACE;
        assert!(refuse_after_backstops("e", ended(10 * 60), grace, now).is_ok());
        let err = refuse_after_backstops("e", ended(31 * 60), grace, now).unwrap_err();
        assert!(err.to_string().contains("backstops have fired"), "{err}");
        assert!(refuse_after_backstops("e", None, grace, now).is_ok());
        // `up --backstop-grace 2h`: 31 minutes after the lease is still in time.
        let two_h = Duration::from_secs(7200);
        assert!(refuse_after_backstops("e", ended(31 * 60), two_h, now).is_ok());
        assert!(refuse_after_backstops("e", ended(121 * 60), two_h, now).is_err());
    }

    #[test]
    fn the_envs_own_grace_is_read_from_its_tfvars() {
        let home = tempfile::tempdir().unwrap();
        let dir = EnvDir::new(home.path(), env::EnvName::parse("g").unwrap());
        std::fs::create_dir_all(&dir.root).unwrap();
        assert_eq!(
            backstop_grace(&dir),
            AWS_BACKSTOP_GRACE,
            "no tfvars: the default"
        );
        std::fs::write(dir.tfvars(), r#"{"backstop_grace": "1h30m"}"#).unwrap();
        assert_eq!(backstop_grace(&dir), Duration::from_secs(5400));
        std::fs::write(dir.tfvars(), r#"{"env_name": "g"}"#).unwrap();
        assert_eq!(backstop_grace(&dir), AWS_BACKSTOP_GRACE);
    }
}
