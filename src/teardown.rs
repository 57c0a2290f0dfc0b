//! Destroying an env: idempotent, works after any partial failure, leaves
//! only the run records and env.json (status "destroyed"). Used by the
//! `destroy` and `reap` commands, the reaper, and `up` (on failure, `--wait`).

use crate::env::{self, EnvDir, EnvLock, Status};
use crate::error::Failure;
use crate::paths;
use crate::report::{Detail, FailureReport, Phase};
use crate::runrec::Run;
use crate::targets::local;
use crate::ui;
use anyhow::Result;
use std::time::{Duration, Instant};

/// The reaper's entry: takes the lock itself.
pub fn destroy_taking_lock(dir: &EnvDir, json: bool, from_reaper: bool) -> Result<i32> {
    let lock = dir.lock(Duration::from_secs(900))?;
    destroy_locked(dir, lock, json, from_reaper)
}

pub fn destroy_locked(dir: &EnvDir, _lock: EnvLock, json: bool, from_reaper: bool) -> Result<i32> {
    destroy_inner(dir, json, from_reaper)
}

/// For `up` (which already holds the lock): on-failure destroy and `--wait`.
pub fn destroy_after_failure(dir: &EnvDir) -> Result<i32> {
    destroy_inner(dir, false, false)
}

fn destroy_inner(dir: &EnvDir, json: bool, from_reaper: bool) -> Result<i32> {
    let start = Instant::now();
    let mut state = dir.load_state()?.unwrap_or_default();
    if !from_reaper {
        crate::lease::disarm(&mut state);
    } else {
        state.reaper_pid = None;
    }
    if state.status == Status::Destroyed && !dir.tfvars().exists() && !dir.tf_dir().exists() {
        dir.save_state(&state)?;
        report_json(json, dir.name.as_str(), "already-destroyed");
        ui::info(&format!("env {}: already destroyed", dir.name));
        return Ok(0);
    }
    let mut run = Run::start(&dir.runs_dir(), dir.name.as_str(), "destroy")?;
    ui::phase("destroy", &format!("env {} (run {})", dir.name, run.id));
    state.status = Status::Destroying;
    state.last_run = Some(run.id.clone());
    dir.save_state(&state)?;
    let assets = paths::assets()?;
    let target = state.target.unwrap_or(crate::cli::Target::Local);

    if dir.tfvars().exists() {
        let tools = crate::tools::require(target, false)?;
        let tf = crate::terraform::for_env(dir, target, tools.terraform, &assets);
        let result = tf.init(&run.dir).and_then(|_| {
            if target == crate::cli::Target::Aws {
                drop_env_database(&tf, dir.name.as_str())?;
            }
            tf.apply(&run.dir, true)
        });
        let mut log = run.file("terraform-destroy.jsonl");
        let failed = match result {
            Ok(o) if o.finished.success() => None,
            Ok(o) => {
                log = o.log.clone();
                Some(crate::terraform::run::failure(
                    &o,
                    Phase::Destroy,
                    "destroy failed",
                ))
            }
            Err(e) if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) => {
                return Err(e)
            }
            Err(e) if e.downcast_ref::<crate::targets::aws::existing::DropFailed>().is_some() => {
                Some(
                    FailureReport::new(
                        Phase::Destroy,
                        "dropping the env's database from the team's warehouse failed; nothing was destroyed",
                    )
                    .with_detail(Detail::Message {
                        message: format!("{e:#}"),
                        tail: vec![],
                    }),
                )
            }
            Err(e) => Some(
                FailureReport::new(Phase::Destroy, "terraform destroy could not run").with_detail(
                    Detail::Message {
                        message: format!("{e:#}"),
                        tail: vec![],
                    },
                ),
            ),
        };
        if let Some(report) = failed {
            let report = report.locate(dir.name.as_str(), run.dir.clone(), Some(log), true);
            state.status = Status::Failed;
            state.last_failure = Some(env::LastFailure {
                phase: Phase::Destroy,
                message: report.summary.clone(),
                run: run.id.clone(),
                at: Some(std::time::SystemTime::now()),
            });
            dir.save_state(&state)?;
            run.phase(
                Phase::Destroy,
                "failed",
                start.elapsed().as_secs_f64(),
                None,
            );
            run.finish("failed", report.exit_code(), 0.0)?;
            eprint!("{}", report.render());
            return Err(Failure::Phase(Box::new(report)).into());
        }
    }
    if target == crate::cli::Target::Local && which::which("podman").is_ok() {
        // Backstop for state lost in a crash: anything still labelled for this env.
        match local::sweep_env(&assets, dir.name.as_str()) {
            Ok(0) => {}
            Ok(n) => ui::warn(&format!(
                "removed {n} leftover container(s)/network(s) Terraform did not know about"
            )),
            Err(e) => ui::warn(&format!("sweeping leftovers: {e:#}")),
        }
    }
    // Everything but the records goes: keys, secrets, state, inbox, inputs.
    for sub in [
        "keys",
        "secrets",
        "tf",
        "ansible",
        "inbox",
        "pipeline",
        "compare-base",
    ] {
        let _ = std::fs::remove_dir_all(dir.root.join(sub));
    }
    for f in [
        "contract.json",
        "known_hosts",
        "lease",
        "terraform.tfvars.json",
        "extra.tfvars.json",
        ".lease.tmp",
    ] {
        let _ = std::fs::remove_file(dir.root.join(f));
    }
    if dir.reaper_log().exists() {
        let _ = std::fs::rename(dir.reaper_log(), run.file("reaper.log"));
    }
    state.status = Status::Destroyed;
    state.reaper_pid = None;
    state.subnet_cidr = None;
    state.phases.clear();
    state.updated_at = Some(std::time::SystemTime::now());
    dir.save_state(&state)?;
    let secs = start.elapsed().as_secs_f64();
    run.phase(Phase::Destroy, "ok", secs, None);
    run.finish("ok", 0, 0.0)?;
    report_json(json, dir.name.as_str(), "destroyed");
    ui::ok(&format!(
        "env {} destroyed ({secs:.1}s); run records kept in {}",
        dir.name,
        dir.runs_dir().display()
    ));
    Ok(0)
}

pub fn report_json(json: bool, env: &str, outcome: &str) {
    if json {
        println!("{}", serde_json::json!({"env": env, "outcome": outcome}));
    }
}

/// `--warehouse existing`: drop the env's database and login from the
/// team's warehouse *before* Terraform destroys anything. The database has
/// no backstop and is found only through the state, while the instance
/// powers itself off and `reap` sweeps by tags: so a drop that fails stops
/// the destroy with the state (and the record of the database) intact, and
/// a second `destroy` tries again. Nothing for an env with its own cluster.
pub fn drop_env_database(tf: &crate::terraform::Terraform, env: &str) -> Result<()> {
    use crate::targets::aws::{existing, Aws};
    let Some(db) = existing::from_state(tf)? else {
        return Ok(());
    };
    ui::info(&format!(
        "  warehouse: dropping database {} and login {}",
        db.database.as_str(),
        db.user.as_str()
    ));
    Aws::from_env()
        .and_then(|aws| existing::remove(&aws, &db, env, existing::Waits::default()))
        .map_err(|e| {
            if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) {
                return e;
            }
            existing::DropFailed {
                database: db.database.as_str().to_string(),
                cause: format!("{e:#}"),
            }
            .into()
        })?;
    Ok(())
}
