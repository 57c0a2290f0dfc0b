//! Phase 5, pipeline: trigger the DAG over Airflow's REST API once Airflow
//! parsed the deployed file, follow every task, keep their logs, confirm the
//! success e-mail, write JUnit. Skipped when nothing changed since a pass.

use super::{message_detail, Ctx};
use crate::airflow::Airflow;
use crate::contract::Shadow;
use crate::dag_run::{self, PipelineRun};
use crate::digest::Hasher;
use crate::env::Status;
use crate::report::{FailureReport, Phase};
use crate::ui;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub fn run(ctx: &mut Ctx, shadow: &Shadow) -> Result<()> {
    let dag = ctx.args.dag_id.clone();
    // The DAG run is the proof; when the play changed nothing and the
    // same inputs already passed, that proof still stands.
    let digest = Hasher::new()
        .str(
            "configure",
            ctx.configured.as_ref().map(|c| c.0.as_str()).unwrap_or(""),
        )
        .str("dag", &dag)
        .finish();
    let unchanged = ctx.configured.as_ref().is_some_and(|c| c.1 == 0);
    let passed = ctx
        .state
        .pipeline
        .as_ref()
        .is_some_and(|p| p["state"] == "success" && p["email_seen"] != false);
    if unchanged
        && passed
        && ctx.state.phase_done(Phase::Pipeline, &digest)
        && !ctx.forced(Phase::Pipeline)
    {
        let run = ctx
            .state
            .pipeline
            .as_ref()
            .and_then(|p| p["run_id"].as_str())
            .unwrap_or("?")
            .to_string();
        ui::phase(
            "pipeline",
            &format!(
                "unchanged since DAG run {run} passed; skipping (--from pipeline runs it again)"
            ),
        );
        ctx.state.status = Status::Ready;
        return Ok(());
    }
    ui::phase(
        "pipeline",
        &format!("trigger DAG {dag} and follow every task"),
    );
    ctx.state.phases.remove(Phase::Pipeline.as_str());
    let started = Instant::now();
    let since = SystemTime::now();
    let pw = std::fs::read_to_string(ctx.dir.airflow_password_file())?
        .trim()
        .to_string();
    let mut airflow = Airflow::new(&shadow.airflow.url);
    let run_id = format!("shadowops__{}", ctx.run.id);
    let dags_dir = ctx.pipeline_src.join("dags");
    let prep = (|| -> Result<crate::airflow::ParsedDag> {
        airflow.login("admin", &pw)?;
        let parsed = airflow.wait_dag(&dag, &dags_dir, Duration::from_secs(120))?;
        airflow.trigger(&dag, &run_id)?;
        Ok(parsed)
    })();
    if let Ok(p) = &prep {
        ui::info(&format!(
            "  DAG {dag} version {} ({}, sha256 {}) triggered as {run_id}",
            p.version.map(|v| v.to_string()).unwrap_or("?".into()),
            p.file,
            &p.sha256[..12]
        ));
    }
    if let Err(e) = prep {
        let report = FailureReport::new(Phase::Pipeline, format!("could not start DAG {dag}"))
            .with_detail(message_detail(&e));
        return Err(ctx.fail(report, None));
    }
    let (state, mut tasks) = match airflow.follow(&dag, &run_id, Duration::from_secs(1800)) {
        Ok(x) => x,
        Err(e) => {
            let report = FailureReport::new(Phase::Pipeline, format!("following DAG run {run_id}"))
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    // Keep every task's log in the run record; tails go in the report.
    for t in tasks.iter_mut() {
        if t.state == "none" || t.state == "upstream_failed" || t.state == "skipped" {
            continue;
        }
        if let Ok(text) = airflow.task_log(&dag, &run_id, &t.task_id, t.try_number) {
            let f = ctx.run.file(&format!("task-{}.log", t.task_id));
            let _ = std::fs::write(&f, &text);
            t.log_file = Some(f);
            if t.state != "success" {
                t.log_tail = dag_run::tail(&text, 30);
            }
        }
    }
    let mut run = PipelineRun {
        dag_id: dag.clone(),
        run_id: run_id.clone(),
        state: state.clone(),
        duration_s: 0.0,
        tasks,
        email_seen: None,
        email_subject: None,
        email_summary: None,
    };
    if state == "success" {
        if let Some(inbox) = &shadow.mail.inbox_dir {
            let mail =
                dag_run::wait_for_mail(Path::new(inbox), &run_id, since, Duration::from_secs(60))?;
            run.email_seen = Some(mail.is_some());
            if let Some(m) = mail {
                run.email_subject = Some(m.subject.clone());
                run.email_summary = Some(m.body_text.chars().take(400).collect());
                ui::ok(&format!(
                    "success e-mail: {} ({})",
                    m.subject,
                    m.file.display()
                ));
            }
        } else {
            ui::info(&format!(
                "  e-mail sent via {}; this target has no inbox to check",
                shadow.mail.smtp_host
            ));
        }
    }
    run.duration_s = started.elapsed().as_secs_f64();
    std::fs::write(
        ctx.run.file("pipeline.json"),
        serde_json::to_vec_pretty(&run)?,
    )?;
    ctx.state.pipeline = Some(serde_json::to_value(&run)?);
    ctx.dir.save_state(&ctx.state)?;
    if let Some(j) = &ctx.args.junit {
        dag_run::write_junit(j, &run)?;
    }
    if !ctx.args.json {
        print!("{}", dag_run::table(&run));
    }
    if state != "success" {
        let report = dag_run::failure(&run, &format!("DAG run {run_id} ended {state}"));
        return Err(ctx.fail(report, None));
    }
    if run.email_seen == Some(false) {
        let report = dag_run::failure(
            &run,
            "all tasks succeeded but the success e-mail never arrived: do not deploy",
        );
        return Err(ctx.fail(report, shadow.mail.inbox_dir.as_ref().map(PathBuf::from)));
    }
    ctx.state.status = Status::Ready;
    ctx.mark(Phase::Pipeline, digest, run.duration_s)
}
