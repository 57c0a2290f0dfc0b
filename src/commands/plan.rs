//! `plan`: `terraform plan` with the env's recorded inputs.

use super::existing;
use crate::cli::Target;
use crate::error::Failure;
use crate::paths;
use anyhow::Result;

pub fn run(raw: &str, target: Target) -> Result<i32> {
    let dir = existing(raw).map_err(|_| {
        Failure::usage(format!(
            "env {raw:?} has no inputs yet: `shadowops up --env {raw} --until provision` generates them (plan reads an env's recorded variables)"
        ))
    })?;
    if !dir.tfvars().exists() {
        return Err(Failure::usage(format!(
            "env {raw} has no terraform.tfvars.json (destroyed?)"
        )));
    }
    let state = dir.load_state()?.unwrap_or_default();
    let target = state.target.unwrap_or(target);
    let assets = paths::assets()?;
    let tools = crate::tools::require(target, false)?;
    let tf = crate::terraform::for_env(&dir, target, tools.terraform, &assets);
    // init's logs are of no interest here; the directory goes when dropped,
    // also when init fails.
    let scratch = tempfile::Builder::new()
        .prefix("shadowops-plan-")
        .tempdir()?;
    tf.init(scratch.path())?;
    let done = tf.plan()?;
    Ok(done.code().unwrap_or(1))
}
