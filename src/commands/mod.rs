//! One function per subcommand; `up` and `destroy` have modules of their own.

pub mod bake;
pub mod destroy;
pub mod info;
pub mod up;

use crate::cli::{Cli, Command};
use crate::env::{self, EnvDir};
use crate::targets::local;
use crate::error::Failure;
use anyhow::Result;

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Destroy { env, json } => destroy::run(&env.name, json),
        Command::Status { env, json } => info::status(&env.name, json),
        Command::List { json, all } => info::list(json, all),
        Command::Plan { env, target } => info::plan(&env.name, target),
        Command::Inventory { env, write } => info::inventory(&env.name, write),
        Command::Logs {
            env,
            run,
            phase,
            follow,
            list,
        } => info::logs(&env.name, run, phase, follow, list),
        Command::Ssh { env, cmd } => info::ssh(&env.name, cmd),
        Command::Extend {
            env,
            duration,
            max_ttl,
        } => extend(&env.name, &duration, &max_ttl),
        Command::Reap { dry_run } => reap(dry_run),
        Command::Doctor { json } => info::doctor(json),
        Command::Bake { target, allow_cidr } => bake::run(target, allow_cidr.as_deref()),
        Command::PruneImages => local::prune_images(),
        Command::Reaper { env } => {
            let dir = existing(&env.name)?;
            crate::ttl::reaper_loop(&dir)
        }
    }
}

/// Environment every Terraform child gets besides the runner's defaults.
/// The AWS region envs are made in: `AWS_REGION`, else eu-west-1.
pub fn aws_region() -> String {
    std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-west-1".into())
}

pub fn tf_env(target: crate::cli::Target, assets: &std::path::Path) -> Vec<(String, String)> {
    let mut v = vec![
        (
            "CONTAINERS_CONF".to_string(),
            local::containers_conf(assets).display().to_string(),
        ),
        (
            "SHADOWOPS_CACHE".to_string(),
            crate::paths::cache().display().to_string(),
        ),
    ];
    if target == crate::cli::Target::Aws {
        for k in [
            "AWS_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            if let Ok(val) = std::env::var(k) {
                v.push((k.to_string(), val));
            }
        }
    }
    v
}

/// Terraform for an existing env: its target's module, its state and the
/// var files it recorded (destroy, plan, status and extend use the same).
pub fn env_terraform(
    dir: &EnvDir,
    target: crate::cli::Target,
    bin: std::path::PathBuf,
    assets: &std::path::Path,
) -> crate::terraform::Terraform {
    crate::terraform::Terraform {
        bin,
        module: assets.join("terraform").join(target.as_str()),
        tf_dir: dir.tf_dir(),
        var_files: [
            dir.tfvars(),
            dir.secret_tfvars(),
            dir.root.join("extra.tfvars.json"),
        ]
        .into_iter()
        .filter(|f| f.exists())
        .collect(),
        extra_env: tf_env(target, assets),
    }
}

/// The env directory of an env that must already exist.
pub fn existing(raw: &str) -> Result<EnvDir> {
    let name = env::parse_name(raw)?;
    let dir = EnvDir::new(&env::home()?, name);
    if !dir.exists() {
        return Err(Failure::usage(format!(
            "no env named {raw:?} under {} (shadowops list shows the envs)",
            env::home()?.display()
        )));
    }
    Ok(dir)
}

fn extend(raw: &str, duration: &str, max_ttl: &str) -> Result<i32> {
    let lease = crate::ttl::parse_lease(duration, max_ttl)?;
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
    crate::ttl::write_lease_file(&dir, expires)?;
    // The running reaper re-reads env.json each second; re-arm only if it died.
    if !state
        .reaper_pid
        .is_some_and(|p| crate::ttl::reaper_alive(p, raw))
    {
        crate::ttl::arm(&dir, &mut state)?;
    }
    dir.save_state(&state)?;
    println!(
        "env {raw} now expires at {} (in {})",
        crate::ttl::rfc3339(expires),
        crate::ttl::format_left(Some(lease))
    );
    Ok(0)
}

fn retag_expiry(dir: &EnvDir, expires: std::time::SystemTime) -> Result<()> {
    let path = dir.tfvars();
    let mut vars: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    vars["expires_at"] = serde_json::Value::String(crate::ttl::rfc3339(expires));
    std::fs::write(&path, serde_json::to_vec_pretty(&vars)?)?;
    let assets = crate::paths::assets()?;
    let tools = crate::tools::require(crate::cli::Target::Aws, false)?;
    let tf = env_terraform(dir, crate::cli::Target::Aws, tools.terraform, &assets);
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

/// Destroy every env whose lease expired and whose reaper is gone, then
/// sweep local containers/networks whose expiry label is past.
fn reap(dry_run: bool) -> Result<i32> {
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
            .is_some_and(|p| crate::ttl::reaper_alive(p, dir.name.as_str()));
        if !expired || reaper {
            continue;
        }
        if dry_run {
            println!(
                "would destroy env {} (expired {})",
                dir.name,
                state
                    .expires_at
                    .map(crate::ttl::rfc3339)
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
        match destroy::destroy_locked(&dir, lock, false, false) {
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
