//! Phase 2, provision: `terraform init` + `apply -json`, skipped when its
//! inputs did not change since the last successful apply.

use super::{message_detail, Ctx};
use crate::env::Status;
use crate::report::{FailureReport, Phase};
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
    ctx.state.status = Status::Provisioned;
    ctx.mark(
        Phase::Provision,
        digest.to_string(),
        start.elapsed().as_secs_f64(),
    )
}
