//! Phase 4, configure: inventory and vars rendered from the contract, SSH
//! readiness, the playbook, then Airflow's health.

use super::{message_detail, ready_timeout, wait_ssh, Ctx};
use crate::ansible::{render, run::Playbook};
use crate::contract::Shadow;
use crate::digest::Hasher;
use crate::env::Status;
use crate::report::{FailureReport, Phase};
use crate::ui;
use anyhow::Result;
use std::time::{Duration, Instant};

pub fn run(ctx: &mut Ctx, shadow: &Shadow) -> Result<()> {
    let start = Instant::now();
    ui::phase("configure", "inventory + ansible-playbook site.yml");
    let airflow_pw = std::fs::read_to_string(ctx.dir.airflow_password_file())?
        .trim()
        .to_string();
    let rendered = render::render(
        &ctx.assets.join("templates"),
        shadow,
        &ctx.dir.known_hosts(),
        &ctx.pipeline_src,
        &airflow_pw,
    )?;
    let files = render::write(&ctx.dir.ansible_dir(), &ctx.dir.known_hosts(), &rendered)?;
    // Masked copies for the run record (what was fed to Ansible).
    let masked = render::render(
        &ctx.assets.join("templates"),
        &render::masked(shadow),
        &ctx.dir.known_hosts(),
        &ctx.pipeline_src,
        render::MASK,
    )?;
    std::fs::write(ctx.run.file("inventory.yml"), &masked.inventory)?;
    std::fs::write(ctx.run.file("vars.yml"), &masked.vars)?;

    if let Err(e) = wait_ssh(&shadow.host.address, shadow.host.ssh_port, ready_timeout()) {
        let report = FailureReport::new(
            Phase::Configure,
            format!("host {} unreachable over SSH", shadow.host.address),
        )
        .with_detail(message_detail(&e));
        return Err(ctx.fail(report, None));
    }
    let digest = Hasher::new()
        .str("inventory", &rendered.inventory)
        .str("vars", &rendered.vars)
        .str("secrets", &rendered.secrets)
        .tree(&ctx.assets.join("ansible"))
        .tree(&ctx.pipeline_src)
        .finish();
    let playbook = Playbook::new(ctx.tools.ansible_playbook.clone(), &ctx.assets);
    // A forced configure (--from configure or earlier) checks every task
    // instead of trusting the host's stamp of its last full run.
    let extra: &[&str] = if ctx.forced(Phase::Configure) {
        &["-e", "shadow_fast_converge=false"]
    } else {
        &[]
    };
    let outcome = playbook.run(&files, &ctx.run.dir, extra)?;
    if !outcome.finished.success() {
        let report = crate::ansible::run::failure(&outcome);
        return Err(ctx.fail(report, Some(ctx.run.file("ansible-playbook.jsonl"))));
    }
    ui::ok(&format!(
        "playbook: {} tasks, changed={}",
        outcome.tasks,
        outcome.changed()
    ));
    ctx.configured = Some((digest.clone(), outcome.changed()));
    std::fs::write(
        ctx.run.file("ansible-stats.json"),
        serde_json::to_vec_pretty(&outcome.stats)?,
    )?;

    let airflow = match ctx.airflow(shadow) {
        Ok(a) => a,
        Err(e) => {
            let report = FailureReport::new(Phase::Configure, "cannot reach Airflow's API")
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    if let Err(e) = airflow.wait_healthy(Duration::from_secs(180)) {
        let report = FailureReport::new(
            Phase::Configure,
            "Airflow did not become healthy after the play",
        )
        .with_detail(message_detail(&e));
        return Err(ctx.fail(report, None));
    }
    let reach = if shadow.airflow.tunnel {
        format!(
            "private; `shadowops tunnel --env {}` opens it for a browser",
            ctx.dir.name
        )
    } else {
        shadow.airflow.url.clone()
    };
    ui::ok(&format!(
        "Airflow is healthy: {reach} (user admin, password in {})",
        ctx.dir.airflow_password_file().display()
    ));
    ctx.state.status = Status::Configured;
    ctx.mark(Phase::Configure, digest, start.elapsed().as_secs_f64())
}
