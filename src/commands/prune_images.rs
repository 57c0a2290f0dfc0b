//! `prune-images`: local base images (rebuilt on the next `up`), or the
//! AMIs of older AWS bakes with their snapshots (src/targets/aws/images.rs).

use crate::cli::Target;
use crate::error::Failure;
use crate::targets::{aws, baked, local};
use crate::ui;
use anyhow::Result;

pub fn run(target: Target, keep: usize, dry_run: bool, owner: Option<String>) -> Result<i32> {
    if target == Target::Local {
        if dry_run || owner.is_some() {
            return Err(Failure::usage(
                "--dry-run and --owner are for --target aws; the local target removes every cached base image",
            ));
        }
        return local::prune_images();
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
