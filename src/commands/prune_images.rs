//! `prune-images`: local host images of older software stamps (and with
//! --all every base image, rebuilt on the next `up`), or the AMIs of older
//! AWS bakes with their snapshots (src/targets/aws/images.rs).

use crate::cli::Target;
use crate::error::Failure;
use crate::targets::{aws, baked, host_cache, local};
use crate::ui;
use anyhow::Result;

pub fn run(
    target: Target,
    keep: usize,
    dry_run: bool,
    owner: Option<String>,
    all: bool,
) -> Result<i32> {
    if target == Target::Local {
        if owner.is_some() {
            return Err(Failure::usage("--owner is for --target aws"));
        }
        let assets = crate::paths::assets()?;
        let removed = host_cache::prune(&assets, keep, dry_run)?;
        if !dry_run {
            ui::ok(&format!(
                "removed {removed} host image(s) of older software stamps"
            ));
        }
        if all {
            if dry_run {
                ui::info("--all: every shadowops image not in use would go too");
                return Ok(0);
            }
            return local::prune_images();
        }
        return Ok(0);
    }
    if all {
        return Err(Failure::usage("--all is for --target local"));
    }
    let client = aws::Aws::from_env()?;
    let owner = owner.unwrap_or_else(crate::env::default_owner);
    let amis = aws::images::baked_amis(&client, &owner)?;
    let in_use = baked::baked_ami(&client.region).ok();
    let going = aws::images::to_prune(&amis, keep, in_use.as_deref());
    for a in &amis {
        let fate = if going.iter().any(|g| g.id == a.id) {
            if dry_run {
                "would go"
            } else {
                "goes"
            }
        } else if Some(a.id.as_str()) == in_use.as_deref() {
            "kept (up --image baked uses it)"
        } else {
            "kept"
        };
        println!("{}  {}  {}  {fate}", a.id, a.created, a.name);
    }
    if dry_run || going.is_empty() {
        ui::info(&format!(
            "  {} baked AMI(s) of {owner} in {}; {} to prune{}",
            amis.len(),
            client.region,
            going.len(),
            if dry_run {
                " (dry run: nothing deleted)"
            } else {
                ""
            }
        ));
        return Ok(0);
    }
    let gone = aws::images::prune(&client, &going)?;
    ui::ok(&format!(
        "deregistered {} AMI(s) and deleted their snapshots: {}",
        gone.len(),
        gone.join(", ")
    ));
    Ok(0)
}
