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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    let reach = if shadow.airflow.tunnel {
        format!(
            "private; `shadowops tunnel --env {}` opens it for a browser",
            ctx.dir.name
        )
    } else {
        shadow.airflow.url.clone()
    };
    // The play started Airflow's four services, which boot for ~10 s on 2
    // cores. Neither migrate nor the pipeline's tests need them, so their
    // health is waited for on a thread while those run, and checked by the
    // first step that needs Airflow (issue 17).
    ctx.airflow_boot = Some(AirflowBoot::start(airflow, digest, start, reach));
    ctx.state.status = Status::Configured;
    if ctx.until(crate::cli::UntilPhase::Configure) {
        airflow_ready(ctx, Phase::Configure)?;
    }
    Ok(())
}

/// How long the health wait may take, from the end of the play: twice
/// the readiness bound (`SHADOWOPS_READY_TIMEOUT`), 180 s by default.
fn health_limit() -> Duration {
    ready_timeout() * 2
}

/// Airflow's health, waited for on a thread of its own after the play.
/// Dropping it stops the wait (a later step failed; nobody will ask).
pub struct AirflowBoot {
    wait: Option<std::thread::JoinHandle<Result<Instant>>>,
    outcome: Option<std::result::Result<Instant, String>>,
    stop: Arc<AtomicBool>,
    digest: String,
    started: Instant,
    play_done: Instant,
    reach: String,
}

impl AirflowBoot {
    fn start(
        airflow: crate::airflow::Airflow,
        digest: String,
        started: Instant,
        reach: String,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let wait = std::thread::spawn({
            let stop = stop.clone();
            move || airflow.wait_healthy(health_limit(), stop)
        });
        AirflowBoot {
            wait: Some(wait),
            outcome: None,
            stop,
            digest,
            started,
            play_done: Instant::now(),
            reach,
        }
    }

    /// Block until the wait ended: when Airflow became healthy, or why it
    /// did not. The same answer on every call.
    pub fn join(&mut self) -> std::result::Result<Instant, String> {
        if let Some(w) = self.wait.take() {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the wait for Airflow's health panicked")));
            self.outcome = Some(r.map_err(|e| format!("{e:#}")));
        }
        self.outcome
            .clone()
            .unwrap_or_else(|| Err("never waited for".into()))
    }

    /// Ends the wait early (the caller's own step failed).
    pub fn stopper(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }
}

impl Drop for AirflowBoot {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The end of configure: Airflow healthy. Called by the first step that
/// needs Airflow (`--until configure|migrate`, a pipeline phase with
/// nothing to run; the pipeline phase itself joins the wait beside its
/// tests and calls [`finish`]); a no-op once done.
pub fn airflow_ready(ctx: &mut Ctx, awaited_in: Phase) -> Result<()> {
    match ctx.airflow_boot.take() {
        Some(boot) => finish(ctx, boot, Instant::now(), None, awaited_in),
        None => Ok(()),
    }
}

/// Report Airflow's health and record configure as done; a failure is
/// configure's (exit 12), whichever phase noticed it. For the run record:
/// `needed_since`, when the run had nothing else to do but wait for
/// Airflow; `ready_at`, when it was ready for what that step needed (the
/// pipeline's: its task API warm and the DAG parsed), if later than health.
pub fn finish(
    ctx: &mut Ctx,
    mut boot: AirflowBoot,
    needed_since: Instant,
    ready_at: Option<Instant>,
    awaited_in: Phase,
) -> Result<()> {
    let healthy_at = match boot.join() {
        Ok(at) => at,
        Err(e) => {
            let report = FailureReport::new(
                Phase::Configure,
                "Airflow did not become healthy after the play",
            )
            .with_detail(crate::report::Detail::Message {
                message: e,
                tail: Vec::new(),
            });
            return Err(ctx.fail(report, None));
        }
    };
    let after_play = healthy_at
        .saturating_duration_since(boot.play_done)
        .as_secs_f64();
    let waited = ready_at
        .map_or(healthy_at, |r| r.max(healthy_at))
        .saturating_duration_since(needed_since)
        .as_secs_f64();
    ctx.run.summary.airflow_boot = Some(crate::runrec::AirflowBootSummary {
        healthy_after_play_s: after_play,
        waited_s: waited,
        awaited_in,
    });
    let _ = ctx.run.save();
    ui::ok(&format!(
        "Airflow is healthy, {after_play:.1}s after the play (waited {waited:.1}s for it): {} (user admin, password in {})",
        boot.reach,
        ctx.dir.airflow_password_file().display()
    ));
    let secs = healthy_at
        .saturating_duration_since(boot.started)
        .as_secs_f64();
    let digest = std::mem::take(&mut boot.digest);
    ctx.mark(Phase::Configure, digest, secs)
}
