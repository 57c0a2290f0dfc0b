//! Phase 5, pipeline: trigger the DAG over Airflow's REST API once Airflow
//! parsed the deployed file, follow every task, keep their logs, confirm the
//! success e-mail, write JUnit. Skipped when nothing changed since a pass.

use super::{message_detail, Ctx};
use crate::airflow::{Airflow, ParsedDag};
use crate::contract::Shadow;
use crate::dag_run::{self, PipelineRun, TaskOutcome};
use crate::digest::Hasher;
use crate::env::Status;
use crate::report::{FailureReport, Phase};
use crate::ui;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long one DAG run may take before the phase gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(1800);

pub fn run(ctx: &mut Ctx, shadow: &Shadow) -> Result<()> {
    let dag = ctx.spec.dag_id.clone();
    // The DAG run is the proof; when the play changed nothing and the
    // same inputs already passed, that proof still stands.
    let digest = Hasher::new()
        .str(
            "configure",
            ctx.configured.as_ref().map(|c| c.0.as_str()).unwrap_or(""),
        )
        .str("dag", &dag)
        .str("schema", ctx.schema.as_deref().unwrap_or(""))
        .str(
            "migrate",
            ctx.state
                .phases
                .get(Phase::Migrate.as_str())
                .map(|p| p.digest.as_str())
                .unwrap_or(""),
        )
        .finish();
    // Airflow may still be booting (configure ends with its health).
    let mut boot = ctx.airflow_boot.take();
    if let Some(passed) = still_proven(ctx, &digest) {
        if let Some(b) = boot {
            super::configure::finish(ctx, b, Instant::now(), None, Phase::Pipeline)?;
        }
        ui::phase(
            "pipeline",
            &format!(
                "unchanged since DAG run {passed} passed; skipping (--from pipeline runs it again)"
            ),
        );
        ctx.state.status = Status::Ready;
        return Ok(());
    }
    ui::phase(
        "pipeline",
        &format!("the pipeline's tests, then DAG {dag} and every task"),
    );
    ctx.state.phases.remove(Phase::Pipeline.as_str());
    let started = Instant::now();
    let run_id = match &ctx.run_label {
        Some(label) => format!("shadowops__{}__{label}", ctx.run.id),
        None => format!("shadowops__{}", ctx.run.id),
    };
    if let Err(e) =
        crate::on_host::set_schema(&ctx.dir, shadow, ctx.schema.as_deref(), &ctx.run.dir)
    {
        let report = FailureReport::new(
            Phase::Pipeline,
            "could not point the pipeline at its warehouse schema",
        )
        .with_detail(message_detail(&e));
        return Err(ctx.fail(report, None));
    }
    let mut run = PipelineRun {
        dag_id: dag.clone(),
        run_id: run_id.clone(),
        state: "none".into(),
        duration_s: 0.0,
        tasks: Vec::new(),
        tests: Vec::new(),
        email_seen: None,
        email_subject: None,
        email_summary: None,
    };
    // The pipeline's tests and getting the DAG ready (Airflow's health at
    // the end of its boot, warming its task API, logging in, the parse)
    // both wait on the host: side by side. The DAG is unpaused and
    // triggered only once the tests passed and Airflow is healthy.
    let prepared = match get_dag_ready(ctx, shadow, &dag) {
        Ok(prep) => {
            let stop = Arc::new(AtomicBool::new(false));
            let stop_boot = boot.as_ref().map(|b| b.stopper());
            let (tests, ready, ready_at) = std::thread::scope(|s| {
                let worker = s.spawn({
                    let stop = stop.clone();
                    let boot = boot.as_mut();
                    move || {
                        let ready = match boot.map(|b| b.join()) {
                            Some(Err(_)) => Err(anyhow!("Airflow did not become healthy")),
                            _ => prep.run(shadow, stop),
                        };
                        (ready, Instant::now())
                    }
                });
                let tests = pipeline_tests(ctx, shadow, &mut run);
                let tests_done = Instant::now();
                if tests.is_err() {
                    stop.store(true, Ordering::SeqCst);
                    if let Some(b) = &stop_boot {
                        b.store(true, Ordering::SeqCst);
                    }
                }
                let (ready, ready_at) = worker.join().unwrap_or_else(|_| {
                    (
                        Err(anyhow!("getting DAG {dag} ready panicked")),
                        Instant::now(),
                    )
                });
                (tests.map(|()| tests_done), ready, ready_at)
            });
            let tests_done = tests?;
            // Airflow's health is configure's: reported (and a failure
            // reported as configure's) before anything of the DAG.
            if let Some(b) = boot.take() {
                super::configure::finish(ctx, b, tests_done, Some(ready_at), Phase::Pipeline)?;
            }
            ready
        }
        Err(e) => {
            drop(boot);
            pipeline_tests(ctx, shadow, &mut run)?;
            Err(e)
        }
    };
    let since = SystemTime::now();
    let airflow = match prepared.and_then(|(airflow, parsed)| {
        airflow.unpause(&dag)?;
        airflow.trigger(&dag, &run_id)?;
        ui::info(&format!(
            "  DAG {dag} version {} ({}, sha256 {}) triggered as {run_id}",
            parsed.version.map(|v| v.to_string()).unwrap_or("?".into()),
            parsed.file,
            &parsed.sha256[..12]
        ));
        Ok(airflow)
    }) {
        Ok(a) => a,
        Err(e) => {
            let report = FailureReport::new(Phase::Pipeline, format!("could not start DAG {dag}"))
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    let (state, mut tasks) = match airflow.follow(&dag, &run_id, RUN_LIMIT) {
        Ok(x) => x,
        Err(e) => {
            let report = FailureReport::new(Phase::Pipeline, format!("following DAG run {run_id}"))
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, None));
        }
    };
    keep_task_logs(ctx, &airflow, &dag, &run_id, &mut tasks);
    run.state = state.clone();
    run.tasks = tasks;
    let mut missing = Vec::new();
    if state == "success" {
        missing = check_mail(ctx, shadow, &mut run, since)?;
    }
    run.duration_s = started.elapsed().as_secs_f64();
    record(ctx, &run)?;
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
    if !missing.is_empty() {
        let report = dag_run::failure(
            &run,
            &format!(
                "the success e-mail lacks what shadowops.toml [mail] must_contain asks for: {}",
                missing.join(", ")
            ),
        );
        return Err(ctx.fail(report, shadow.mail.inbox_dir.as_ref().map(PathBuf::from)));
    }
    ctx.state.status = Status::Ready;
    ctx.mark(Phase::Pipeline, digest, run.duration_s)
}

/// The id of the DAG run that still proves this env, if the play changed
/// nothing, the same inputs passed (e-mail included) and no rerun was asked.
fn still_proven(ctx: &Ctx, digest: &str) -> Option<String> {
    let unchanged = ctx.configured.as_ref().is_some_and(|c| c.1 == 0);
    let last = ctx.state.pipeline.as_ref()?;
    let passed = last.state == "success" && last.email_seen != Some(false);
    (unchanged
        && passed
        && ctx.state.phase_done(Phase::Pipeline, digest)
        && !ctx.forced(Phase::Pipeline))
    .then(|| last.run_id.clone())
}

/// What getting the DAG ready needs, owned, so that it runs on a thread of
/// its own while the pipeline's tests run.
struct DagPrep {
    airflow: Airflow,
    password: String,
    dag: String,
    dags_dir: PathBuf,
    dir: crate::env::EnvDir,
    log_dir: PathBuf,
}

/// The API client (opening a tunnel where Airflow is private) and the rest
/// of what [`DagPrep::run`] needs.
fn get_dag_ready(ctx: &mut Ctx, shadow: &Shadow, dag: &str) -> Result<DagPrep> {
    let password = std::fs::read_to_string(ctx.dir.airflow_password_file())?
        .trim()
        .to_string();
    Ok(DagPrep {
        airflow: ctx.airflow(shadow)?,
        password,
        dag: dag.to_string(),
        dags_dir: ctx.pipeline_src.join("dags"),
        dir: ctx.dir.clone(),
        log_dir: ctx.run.dir.clone(),
    })
}

impl DagPrep {
    /// Warm the task API, log in, and wait until Airflow has parsed exactly
    /// the deployed DAG file: at once when the DAG processor already did,
    /// else after `airflow dags reserialize` (rather than its next pass).
    /// `stop` (the tests failed) ends the wait early.
    fn run(mut self, shadow: &Shadow, stop: Arc<AtomicBool>) -> Result<(Airflow, ParsedDag)> {
        match self.airflow.warm_up() {
            Ok(took) => ui::debug(&format!("  Airflow's task API answered in {took:.1?}")),
            Err(e) => ui::debug(&format!("  warming Airflow's task API: {e}")),
        }
        self.airflow.login("admin", &self.password)?;
        if let Some(parsed) = self.airflow.parsed_now(&self.dag, &self.dags_dir) {
            ui::debug("  the DAG processor has parsed the deployed DAG file already");
            return Ok((self.airflow, parsed));
        }
        if stop.load(Ordering::SeqCst) {
            bail!("no longer getting DAG {} ready", self.dag);
        }
        crate::on_host::reserialize(&self.dir, shadow, &self.log_dir)?;
        let parsed =
            self.airflow
                .wait_parsed(&self.dag, &self.dags_dir, Duration::from_secs(120), stop)?;
        Ok((self.airflow, parsed))
    }
}

/// Every task's log goes into the run record; failed ones' tails into the report.
fn keep_task_logs(
    ctx: &Ctx,
    airflow: &Airflow,
    dag: &str,
    run_id: &str,
    tasks: &mut [TaskOutcome],
) {
    for t in tasks.iter_mut() {
        if t.state == "none" || t.state == "upstream_failed" || t.state == "skipped" {
            continue;
        }
        if let Ok(text) = airflow.task_log(dag, run_id, &t.task_id, t.try_number) {
            let f = ctx.run.file(&format!("task-{}.log", t.task_id));
            let _ = std::fs::write(&f, &text);
            t.log_file = Some(f);
            if t.state != "success" {
                t.log_tail = dag_run::tail(&text, 30);
            }
        }
    }
}

/// Read the success e-mail from the inbox (local target); no e-mail, no
/// deploy. Returns what `[mail] must_contain` asks for and the e-mail lacks.
fn check_mail(
    ctx: &Ctx,
    shadow: &Shadow,
    run: &mut PipelineRun,
    since: SystemTime,
) -> Result<Vec<String>> {
    let Some(inbox) = &shadow.mail.inbox_dir else {
        ui::info(&format!(
            "  e-mail sent via {}; this target has no inbox to check",
            shadow.mail.smtp_host
        ));
        return Ok(Vec::new());
    };
    let mail = dag_run::wait_for_mail(
        Path::new(inbox),
        &run.run_id,
        since,
        Duration::from_secs(60),
    )?;
    run.email_seen = Some(mail.is_some());
    let Some(m) = mail else {
        return Ok(Vec::new());
    };
    run.email_subject = Some(m.subject.clone());
    run.email_summary = Some(m.body_text.chars().take(400).collect());
    ui::ok(&format!(
        "success e-mail: {} ({})",
        m.subject,
        m.file.display()
    ));
    Ok(ctx
        .spec
        .mail_must_contain
        .iter()
        .map(|want| {
            want.replace("{run_id}", &run.run_id)
                .replace("{env}", ctx.dir.name.as_str())
        })
        .filter(|want| !m.subject.contains(want.as_str()) && !m.body_text.contains(want.as_str()))
        .map(|want| format!("{want:?}"))
        .collect())
}

/// The pipeline's own testthat tests, on the host against the shadow
/// warehouse (after its migrations), before the DAG: a failing test fails
/// the phase, names the test and keeps the DAG from running.
fn pipeline_tests(ctx: &mut Ctx, shadow: &Shadow, run: &mut PipelineRun) -> Result<()> {
    let Some(tests_dir) = ctx.spec.tests_dir.clone() else {
        return Ok(());
    };
    if !ctx.pipeline_src.join(&tests_dir).is_dir() {
        ui::debug(&format!("no {tests_dir}/ in the pipeline: no tests to run"));
        return Ok(());
    }
    ui::info(&format!(
        "  tests: {tests_dir} on the host, against the shadow warehouse"
    ));
    let log = ctx.run.file("pipeline-tests.log");
    let outcome =
        crate::on_host::run_tests(&ctx.dir, shadow, &tests_dir, &ctx.run.id, &ctx.run.dir);
    let done = match outcome {
        Ok((cases, done)) => {
            run.tests = cases;
            done
        }
        Err(e) => {
            let report = FailureReport::new(Phase::Pipeline, "could not run the pipeline's tests")
                .with_detail(message_detail(&e));
            return Err(ctx.fail(report, Some(log)));
        }
    };
    let count = |o: &str| run.tests.iter().filter(|t| t.outcome == o).count();
    if done.success() && run.tests.iter().all(|t| !t.failed()) {
        ui::ok(&format!(
            "tests: {} passed, {} skipped",
            count("passed"),
            count("skipped")
        ));
        return Ok(());
    }
    run.state = "tests_failed".into();
    record(ctx, run)?;
    let failed: Vec<_> = run.tests.iter().filter(|t| t.failed()).collect();
    let summary = if failed.is_empty() {
        format!(
            "the pipeline's tests in {tests_dir} did not run to the end ({})",
            done.describe()
        )
    } else {
        format!(
            "{} of the pipeline's tests failed: {}; the DAG was not run",
            failed.len(),
            failed
                .iter()
                .map(|t| format!("{} \"{}\"", t.file, t.test))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut report = FailureReport::new(Phase::Pipeline, summary);
    for t in &failed {
        report = report.with_detail(crate::report::Detail::Task {
            task: format!("test {}: {}", t.file, t.test),
            state: t.outcome.clone(),
            log_tail: t.message.clone(),
            log_file: Some(log.clone()),
        });
    }
    if failed.is_empty() {
        report = report.with_detail(crate::report::Detail::Message {
            message: format!("shadowops-pipeline test {tests_dir}: {}", done.describe()),
            tail: done
                .stdout_tail
                .iter()
                .chain(&done.stderr_tail)
                .cloned()
                .collect(),
        });
    }
    Err(ctx.fail(report, Some(log)))
}

/// The result in the run record, env.json, JUnit and the table on stdout.
fn record(ctx: &mut Ctx, run: &PipelineRun) -> Result<()> {
    std::fs::write(
        ctx.run.file("pipeline.json"),
        serde_json::to_vec_pretty(run)?,
    )?;
    ctx.state.pipeline = Some(run.clone());
    ctx.dir.save_state(&ctx.state)?;
    if let Some(j) = &ctx.args.junit {
        dag_run::write_junit(j, run)?;
    }
    if !ctx.args.json {
        print!("{}", dag_run::table(run));
    }
    Ok(())
}
