//! Phase 2, provision: `terraform init` + `apply -json`, skipped when its
//! inputs did not change since the last successful apply.

use super::{message_detail, Ctx};
use crate::env::Status;
use crate::report::{FailureReport, Phase};
use crate::targets::aws::existing;
use crate::terraform::{self, Terraform};
use crate::ui;
use anyhow::Result;
use std::time::Instant;

pub fn run(ctx: &mut Ctx, tf: &Terraform, digest: &str) -> Result<()> {
    if ctx.state.phase_done(Phase::Provision, digest) && !ctx.forced(Phase::Provision) {
        ui::phase(
            "provision",
            "unchanged since the last apply; skipping terraform apply",
        );
        return Ok(());
    }
    let start = Instant::now();
    ui::phase(
        "provision",
        &format!("terraform apply ({})", tf.module.display()),
    );
    ctx.state.status = Status::Provisioning;
    // Forget the old record first: a failed apply must be redone.
    ctx.state.phases.remove(Phase::Provision.as_str());
    ctx.dir.save_state(&ctx.state)?;
    if let Err(e) = tf.init(&ctx.run.dir) {
        return Err(ctx.fail(
            FailureReport::new(Phase::Provision, "terraform init failed")
                .with_detail(message_detail(&e)),
            Some(ctx.run.file("terraform-init.log")),
        ));
    }
    let outcome = tf.apply(&ctx.run.dir, false)?;
    if !outcome.finished.success() {
        let report = terraform::run::failure(&outcome, Phase::Provision, "apply failed");
        return Err(ctx.fail(report, Some(outcome.log.clone())));
    }
    if let Some((add, change, remove)) = outcome.summary {
        ui::ok(&format!(
            "apply complete: {add} added, {change} changed, {remove} destroyed"
        ));
    }
    // --warehouse existing: the env's database and login in the team's
    // warehouse, made now that the state records where they go (destroy
    // reads them from there, also on another machine).
    if let Err(e) = env_database(ctx, tf) {
        return Err(ctx.fail(
            FailureReport::new(
                Phase::Provision,
                "creating the env's database in the team's warehouse failed",
            )
            .with_detail(message_detail(&e)),
            None,
        ));
    }
    ctx.state.status = Status::Provisioned;
    ctx.mark(
        Phase::Provision,
        digest.to_string(),
        start.elapsed().as_secs_f64(),
    )
}

/// Creates the env's database when the state says it lives in a team's
/// warehouse (targets/aws/existing.rs); nothing for any other env.
fn env_database(ctx: &Ctx, tf: &Terraform) -> Result<()> {
    if tf.target != crate::cli::Target::Aws {
        return Ok(());
    }
    let Some(db) = existing::from_state(tf)? else {
        return Ok(());
    };
    let password = std::fs::read_to_string(ctx.dir.secrets_dir().join("warehouse-password"))?;
    ui::info(&format!(
        "  warehouse: database {} for login {} in {} (Redshift Data API)",
        db.database.as_str(),
        db.user.as_str(),
        db.target
            .cluster_identifier
            .as_deref()
            .or(db.target.workgroup_name.as_deref())
            .unwrap_or("?")
    ));
    let aws = crate::targets::aws::Aws::from_env()?;
    existing::create(
        &aws,
        &db,
        ctx.dir.name.as_str(),
        password.trim(),
        existing::Waits::default(),
    )?;
    Ok(())
}
