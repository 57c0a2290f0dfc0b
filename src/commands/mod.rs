//! One module per subcommand, each with one entry point `run`.

pub mod bake;
pub mod compare;
pub mod destroy;
pub mod doctor;
pub mod extend;
pub mod init;
pub mod inventory;
pub mod list;
pub mod logs;
pub mod plan;
pub mod prune_images;
pub mod reap;
pub mod reaper;
pub mod ssh;
pub mod status;
pub mod tunnel;
pub mod up;

use crate::cli::{Cli, Command};
use crate::env::{self, EnvDir};
use crate::error::Failure;
use anyhow::Result;

pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Up(args) => up::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Destroy {
            env,
            json,
            target,
            owner,
        } => destroy::run(&env.name, json, target, owner.as_deref()),
        Command::Status { env, json } => status::run(&env.name, json),
        Command::List { json, all } => list::run(json, all),
        Command::Plan { env, target } => plan::run(&env.name, target),
        Command::Inventory { env, write } => inventory::run(&env.name, write),
        Command::Logs {
            env,
            run,
            phase,
            follow,
            list,
        } => logs::run(&env.name, run, phase, follow, list),
        Command::Ssh { env, cmd } => ssh::run(&env.name, cmd),
        Command::Tunnel { env, port } => tunnel::run(&env.name, port),
        Command::Extend {
            env,
            duration,
            max_ttl,
        } => extend::run(&env.name, duration, max_ttl),
        Command::Reap {
            dry_run,
            target,
            margin,
            json,
        } => reap::run(dry_run, target, margin, json),
        Command::Doctor { json } => doctor::run(json),
        Command::Init { dir } => init::run(&dir),
        Command::Bake {
            target,
            allow_cidr,
            auto,
        } => bake::run(target, allow_cidr.as_deref(), auto),
        Command::PruneImages {
            target,
            keep,
            dry_run,
            owner,
            all,
        } => prune_images::run(target, keep, dry_run, owner, all),
        Command::Reaper { env } => {
            let dir = existing(&env.name)?;
            reaper::run(&dir)
        }
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
