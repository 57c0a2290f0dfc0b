//! `up`: the phases of design.md in order, each recorded, resumable.

use crate::cli::{FromPhase, ImageChoice, OnFailure, Target, UntilPhase, UpArgs, WarehouseChoice};
use crate::env::{self, EnvDir, EnvState, Status};
use crate::error::Failure;
use crate::paths;
use crate::phases::{self, configure, handoff, migrate, pipeline, provision, Ctx};
use crate::pipeline_folder::PipelineFolder;
use crate::report::Phase;
use crate::runrec::Run;
use crate::supervise::Probe;
use crate::targets::local;

use crate::lease;
use crate::tools::{self};
use crate::ui;
use anyhow::Result;
use std::time::{Duration, Instant, SystemTime};

/// What `up` knows once every input is checked, before anything is made.
struct Checked {
    dir: EnvDir,
    home: std::path::PathBuf,
    assets: std::path::PathBuf,
    tools: crate::tools::Tools,
    lease: Duration,
    pipeline: PipelineFolder,
    var_file: Option<std::path::PathBuf>,
}

/// Every check that needs more than one flag or the machine (clap's value
/// parsers did the single values): nothing is created before these pass.
fn check(args: &UpArgs) -> Result<Checked> {
    let name = env::parse_name(&args.env.name)?;
    let lease = lease::within_cap(args.ttl, args.max_ttl)?;
    crate::terraform::transient::RetryPolicy::from_env()
        .map_err(|e| Failure::usage(format!("{e:#}")))?;
    let assets = paths::assets()?;
    let pipeline = pipeline_folder(args, &assets)?;
    if args.image == ImageChoice::Baked {
        check_baked_image(args.target, &assets)?;
    }
    if args.target == Target::Aws && args.allow_cidr.is_none() {
        return Err(Failure::usage(
            "--target aws needs --allow-cidr (the CIDR allowed to reach SSH, e.g. 203.0.113.7/32)",
        ));
    }
    check_warehouse(args)?;
    let var_file = args.var_file.as_deref().map(var_file).transpose()?;
    let need_ansible = args.until != Some(UntilPhase::Provision);
    let tools = tools::require(args.target, need_ansible)?;
    if args.target == Target::Local && tools.podman.is_none() {
        return Err(Failure::usage(
            "the local target needs podman: run `make tools` (apt-get install podman runc)",
        ));
    }
    let home = env::home()?;
    let dir = EnvDir::new(&home, name);
    if let Some(st) = dir.load_state()? {
        if let Some(t) = st.target {
            if t != args.target && st.status != Status::Destroyed {
                return Err(Failure::usage(format!(
                    "env {} exists on target {}; destroy it first or pick another --env",
                    dir.name,
                    t.as_str()
                )));
            }
        }
        if st.status != Status::Destroyed && args.target == Target::Aws {
            same_warehouse(&dir, &args.warehouse)?;
        }
    }
    Ok(Checked {
        dir,
        home,
        assets,
        tools,
        lease,
        pipeline,
        var_file,
    })
}

/// The pipeline folder and its contract, checked; `--dag-id` overrides the
/// DAG it declares.
fn pipeline_folder(args: &UpArgs, assets: &std::path::Path) -> Result<PipelineFolder> {
    let src = match &args.pipeline {
        Some(p) => p.clone(),
        None => assets.join("pipeline/example"),
    };
    let mut folder = PipelineFolder::open(&src)
        .map_err(|e| Failure::usage(format!("--pipeline {}: {e}", src.display())))?;
    if let Some(d) = &args.dag_id {
        folder.spec.dag_id = d.clone();
    }
    Ok(folder)
}

/// A baked image that does not exist is bad input, found before anything is made.
fn check_baked_image(target: Target, assets: &std::path::Path) -> Result<()> {
    let made_from = match target {
        Target::Local => local::baked_image()?,
        Target::Aws => crate::targets::baked::baked_ami(&crate::terraform::aws_region())?,
    };
    // Still usable when older (the play installs what changed), but slower.
    if target == Target::Local && !made_from.ends_with(&crate::targets::baked::recipe_stamp(assets))
    {
        ui::warn(&format!(
            "the baked image {made_from} was made from an older playbook or base image: configure will redo the installs; run `shadowops bake` to refresh it"
        ));
    }
    Ok(())
}

/// `--warehouse`, `--warehouse-config` and `--backstop-grace` belong to the
/// aws target; `existing` needs the team's file, read and checked here, and
/// the AWS CLI for the Data API (a usage error, nothing created).
fn check_warehouse(args: &UpArgs) -> Result<()> {
    if args.target != Target::Aws {
        if args.warehouse != WarehouseChoice::New {
            return Err(Failure::usage(format!(
                "--warehouse {} is for --target aws (the local target's warehouse is a container)",
                args.warehouse.mode()
            )));
        }
        if args.backstop_grace.is_some() {
            return Err(Failure::usage(
                "--backstop-grace is for --target aws (the local target's backstop is podman's --timeout)",
            ));
        }
        return Ok(());
    }
    if args.warehouse == WarehouseChoice::Existing {
        let path = args.warehouse_config.as_deref().ok_or_else(|| {
            Failure::usage(
                "--warehouse existing needs --warehouse-config FILE (or SHADOWOPS_WAREHOUSE_CONFIG): the team's warehouse, docs/aws.md",
            )
        })?;
        crate::targets::aws::existing::ExistingWarehouse::load(path)?;
        if crate::targets::aws::find_cli().is_none() {
            return Err(Failure::usage(
                "--warehouse existing creates the env's database through the AWS CLI (redshift-data): run scripts/setup-aws.sh",
            ));
        }
    }
    Ok(())
}

/// A live env keeps its warehouse: switching between a cluster of its own
/// and a team's warehouse, or to another snapshot, would have Terraform
/// replace the network and the cluster under a running env (and, for
/// `existing`, orphan the database). What the env was made with is in its
/// tfvars; an env made before `--warehouse` existed has a cluster (`new`).
fn same_warehouse(dir: &EnvDir, want: &WarehouseChoice) -> Result<()> {
    let Ok(bytes) = std::fs::read(dir.tfvars()) else {
        return Ok(()); // never got as far as its inputs
    };
    let vars: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let mode = vars
        .get("warehouse_mode")
        .and_then(|m| m.as_str())
        .unwrap_or("new");
    let snapshot = vars
        .get("redshift_snapshot_identifier")
        .and_then(|s| s.as_str());
    let had = match (mode, snapshot) {
        ("snapshot", Some(s)) => format!("snapshot:{s}"),
        (m, _) => m.to_string(),
    };
    let wants = match want {
        WarehouseChoice::Snapshot(s) => format!("snapshot:{s}"),
        w => w.mode().to_string(),
    };
    if had != wants {
        return Err(Failure::usage(format!(
            "env {} was made with --warehouse {had}; destroy it first to use --warehouse {wants}, or pick another --env",
            dir.name
        )));
    }
    Ok(())
}

fn var_file(f: &std::path::Path) -> Result<std::path::PathBuf> {
    let bad = |e: String| Failure::usage(format!("--var-file {}: {e}", f.display()));
    let abs = std::fs::canonicalize(f).map_err(|e| bad(e.to_string()))?;
    let text = std::fs::read_to_string(&abs).map_err(|e| bad(e.to_string()))?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(abs),
        _ => Err(bad("expected a JSON object of Terraform variables".into())),
    }
}

pub fn run(mut args: UpArgs) -> Result<i32> {
    if let Some(base) = args.compare_to.take() {
        return super::compare::run(crate::cli::CompareArgs {
            up: args,
            base,
            noise_runs: 0,
            fail_on_diff: false,
            allow: Vec::new(),
            abs_tolerance: 0.0,
            rel_tolerance: 0.0,
            skip_columns: Vec::new(),
            out: None,
        });
    }
    let mut ctx = begin(args)?;
    let outcome = phases(&mut ctx);
    finish(ctx, outcome)
}

/// Check every input, then take the env's lock, start the run record and
/// stage the pipeline: the context the phases share (`up`, `compare`).
pub fn begin(args: UpArgs) -> Result<Ctx> {
    // 1. Validate every input before anything is created.
    let Checked {
        dir,
        home,
        assets,
        tools,
        lease,
        pipeline,
        var_file,
    } = check(&args)?;

    // 2. From here on the env directory exists.
    let lock = dir.lock(Duration::from_secs(10))?;
    let mut state = dir.load_state()?.unwrap_or_default();
    if state.status == Status::Destroyed {
        // A fresh life for a destroyed env: keep its run records, forget the rest.
        let runs = std::mem::take(&mut state.last_run);
        state = EnvState {
            last_run: runs,
            ..Default::default()
        };
    }
    if state.created_at.is_none() {
        state.created_at = Some(SystemTime::now());
    }
    state.env = dir.name.to_string();
    state.target = Some(args.target);
    state.owner = env::default_owner();
    state.interrupted = false;
    let run = Run::start(&dir.runs_dir(), dir.name.as_str(), "up")?;
    state.last_run = Some(run.id.clone());
    dir.save_state(&state)?;
    let force_from = args.from.map(|f| match f {
        FromPhase::Vars => Phase::Vars,
        FromPhase::Provision => Phase::Provision,
        FromPhase::Configure => Phase::Configure,
        FromPhase::Migrate => Phase::Migrate,
        FromPhase::Pipeline => Phase::Pipeline,
    });
    // What is deployed, hashed and tested: the folder minus ignored files.
    let pipeline_src = dir.pipeline_dir();
    let files = pipeline
        .stage(&pipeline_src)
        .map_err(|e| Failure::usage(format!("--pipeline {}: {e:#}", pipeline.src.display())))?;
    ui::debug(&format!(
        "pipeline {} staged: {files} files in {}",
        pipeline.src.display(),
        pipeline_src.display()
    ));
    state.pipeline_src = Some(pipeline.src.clone());
    state.dag_id = Some(pipeline.spec.dag_id.clone());
    let ctx = Ctx {
        _lock: lock,
        args,
        dir,
        home,
        assets,
        tools,
        lease,
        pipeline_src,
        spec: pipeline.spec,
        schema: None,
        run_label: None,
        state,
        run,
        force_from,
        var_file,
        configured: None,
        airflow: None,
        build_host_cache: false,
        airflow_boot: None,
    };
    Ok(ctx)
}

/// The phases in order; `--until` stops early.
fn phases(ctx: &mut Ctx) -> Result<()> {
    ui::phase(
        "up",
        &format!(
            "env {} on target {} (run {})",
            ctx.dir.name,
            ctx.args.target.as_str(),
            ctx.run.id
        ),
    );
    let shadow = infrastructure(ctx)?;
    if !ctx.until(UntilPhase::Provision) {
        ctx.timed(Phase::Configure, |c| configure::run(c, &shadow))?;
        if !ctx.until(UntilPhase::Configure) {
            ctx.timed(Phase::Migrate, |c| migrate::run(c, &shadow))?;
            if ctx.until(UntilPhase::Migrate) {
                configure::airflow_ready(ctx, Phase::Migrate)?;
            } else {
                ctx.timed(Phase::Pipeline, |c| pipeline::run(c, &shadow))?;
            }
        }
    }
    ctx.timed(Phase::Lease, phases::lease::run)?;
    Ok(())
}

/// vars, provision, handoff: the env exists and its contract is read.
pub fn infrastructure(ctx: &mut Ctx) -> Result<crate::contract::Shadow> {
    let (tf, provision_digest) = ctx.timed(Phase::Vars, phases::vars::run)?;
    ctx.timed(Phase::Provision, |c| {
        provision::run(c, &tf, &provision_digest)
    })?;
    ctx.timed(Phase::Handoff, |c| handoff::run(c, &tf))
}

/// The end of a run, whatever happened: env.json and the run record say
/// how it ended; a failure is reported and the env kept (it still expires)
/// or destroyed (`--on-failure destroy`, CI); success prints the result.
pub fn finish(mut ctx: Ctx, outcome: Result<()>) -> Result<i32> {
    let failure = outcome
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<Failure>());
    let interrupted = matches!(failure, Some(Failure::Interrupted));
    let code = match (&outcome, failure) {
        (Ok(()), _) => 0,
        (Err(_), Some(f)) => f.exit_code(),
        (Err(_), None) => crate::error::EXIT_OTHER,
    };
    record_end(&mut ctx, &outcome, interrupted);
    let label = match (code, interrupted) {
        (0, _) => "ok",
        (_, true) => "interrupted",
        _ => "failed",
    };
    let usage = rusage_self();
    ctx.run.finish(label, code, 0.0)?;
    // Driver CPU time, the honest measure of our own overhead.
    ctx.run.summary.driver_overhead_s = usage;
    ctx.run.save()?;
    // One page to open from CI artifacts, whatever happened.
    let report = match outcome
        .as_ref()
        .err()
        .and_then(|e| e.downcast_ref::<Failure>())
    {
        Some(Failure::Phase(r)) => Some(r.as_ref()),
        _ => None,
    };
    match crate::run_page::write(
        &ctx.run.dir,
        &ctx.run.summary,
        ctx.state.pipeline.as_ref(),
        report,
    ) {
        Ok(p) => ui::info(&format!("  run page: {}", p.display())),
        Err(e) => ui::warn(&format!("could not write the run page: {e:#}")),
    }
    if let Err(e) = &outcome {
        after_failure(&mut ctx, e, interrupted)?;
        return outcome.map(|_| code);
    }
    if ctx.args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "env": ctx.dir.name.as_str(),
                "outcome": "ok",
                "run": ctx.run.id,
                "expires_at": ctx.state.expires_at.map(lease::rfc3339),
                "durations": ctx.state.durations,
                "pipeline": ctx.state.pipeline,
            }))?
        );
    }
    ui::ok(&format!(
        "env {} is up ({:.1}s)",
        ctx.dir.name, ctx.run.summary.total_s
    ));
    start_host_cache(&ctx);
    if ctx.args.wait {
        return wait_then_destroy(ctx);
    }
    Ok(0)
}

/// After a full `up` that configured from the base image for want of a
/// software cache: make the cache in the background (after the e-mail, so
/// it never slows the user's DAG run). A failure to start it costs nothing
/// but speed next time.
fn start_host_cache(ctx: &Ctx) {
    if !ctx.build_host_cache || ctx.args.until.is_some() {
        return;
    }
    if phases::in_ci() {
        // The machine goes with the job: a bake would only compete with
        // the job's next steps for the CPU.
        ui::debug("CI: no software cache made (the machine is thrown away)");
        return;
    }
    match crate::targets::host_cache::spawn_build() {
        Ok(pid) => ui::info(&format!(
            "  software cache: none for this playbook yet; making it in the background (pid {pid}, log {}); later `up`s start from it",
            crate::targets::host_cache::log_file().display()
        )),
        Err(e) => ui::warn(&format!("could not start the background bake: {e:#}")),
    }
}

/// env.json: interrupted, failed by an unexpected error (a phase failure
/// recorded itself), or clean.
fn record_end(ctx: &mut Ctx, outcome: &Result<()>, interrupted: bool) {
    let last_phase = ctx
        .run
        .summary
        .phases
        .last()
        .map(|p| p.phase)
        .unwrap_or(Phase::Vars);
    let failure = |message: String, run: &str| env::LastFailure {
        phase: last_phase,
        message,
        run: run.to_string(),
        at: Some(SystemTime::now()),
    };
    match outcome {
        Ok(()) => ctx.state.last_failure = None,
        Err(_) if interrupted => {
            ctx.state.interrupted = true;
            ctx.state.status = Status::Interrupted;
            ctx.state.last_failure = Some(failure("interrupted by a signal".into(), &ctx.run.id));
        }
        Err(e) if e.downcast_ref::<Failure>().is_none() => {
            ctx.state.status = Status::Failed;
            ctx.state.last_failure = Some(failure(format!("{e:#}"), &ctx.run.id));
        }
        Err(_) => {}
    }
    let _ = ctx.dir.save_state(&ctx.state);
}

/// Print the report; keep the env with its reaper, or destroy it.
fn after_failure(ctx: &mut Ctx, e: &anyhow::Error, interrupted: bool) -> Result<()> {
    if let Some(Failure::Phase(report)) = e.downcast_ref::<Failure>() {
        if ctx.args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"env": ctx.dir.name.as_str(), "outcome": "failed", "failure": report, "run": ctx.run.id})
                )?
            );
        }
        eprint!("{}", report.render());
    }
    let destroying = !interrupted && ctx.on_failure() == OnFailure::Destroy;
    if destroying {
        ui::phase("on-failure", "destroying the env (run records are kept)");
        if let Err(de) = crate::teardown::destroy_after_failure(&ctx.dir) {
            ui::fail(&format!("destroy after failure: {de:#}"));
        }
    } else if ctx.state.expires_at.is_some() && !ctx.args.wait {
        // A kept env (failed or interrupted) still expires with its lease.
        match lease::arm(&ctx.dir, &mut ctx.state) {
            Ok(pid) => ui::info(&format!(
                "  env kept for inspection; it still expires at {} (reaper pid {pid})",
                ctx.state.expires_at.map(lease::rfc3339).unwrap_or_default()
            )),
            Err(e) => ui::warn(&format!("could not arm the reaper: {e:#}")),
        }
    }
    Ok(())
}

/// `--wait`: a countdown in the foreground, destroy at the deadline or on Ctrl-C.
fn wait_then_destroy(ctx: Ctx) -> Result<i32> {
    let deadline = ctx.state.expires_at.unwrap_or_else(SystemTime::now);
    ui::phase(
        "wait",
        &format!(
            "staying up until {} (Ctrl-C destroys now)",
            lease::rfc3339(deadline)
        ),
    );
    let mut last_print = Instant::now() - Duration::from_secs(3600);
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let countdown = crate::supervise::wait(
        "the lease's end",
        left,
        Duration::from_millis(250),
        move || {
            if last_print.elapsed() >= Duration::from_secs(30) {
                let left = deadline.duration_since(SystemTime::now()).ok();
                ui::info(&format!("  {} left", lease::format_left(left)));
                last_print = Instant::now();
            }
            Probe::<()>::Pending("waiting".into())
        },
    );
    // Either way (deadline or Ctrl-C) the env goes now.
    if let Err(e) = countdown {
        if e.downcast_ref::<crate::supervise::WaitTimedOut>().is_none()
            && !matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted))
        {
            return Err(e);
        }
    }
    crate::supervise::reset_interrupt();
    crate::teardown::destroy_after_failure(&ctx.dir).map(|_| 0)
}

/// CPU seconds (user + system) this process used.
fn rusage_self() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_env_keeps_its_warehouse() {
        let home = tempfile::tempdir().unwrap();
        let dir = EnvDir::new(home.path(), env::parse_name("w").unwrap());
        std::fs::create_dir_all(&dir.root).unwrap();
        let snap = |s: &str| WarehouseChoice::Snapshot(s.into());
        // No inputs yet: anything goes.
        assert!(same_warehouse(&dir, &WarehouseChoice::Existing).is_ok());
        // Made before --warehouse existed: a cluster of its own.
        std::fs::write(dir.tfvars(), r#"{"env_name": "w"}"#).unwrap();
        assert!(same_warehouse(&dir, &WarehouseChoice::New).is_ok());
        let e = same_warehouse(&dir, &WarehouseChoice::Existing).unwrap_err();
        assert!(e.to_string().contains("made with --warehouse new"), "{e}");
        std::fs::write(
            dir.tfvars(),
            r#"{"warehouse_mode": "snapshot", "redshift_snapshot_identifier": "prod-a"}"#,
        )
        .unwrap();
        assert!(same_warehouse(&dir, &snap("prod-a")).is_ok());
        let e = same_warehouse(&dir, &snap("prod-b")).unwrap_err();
        assert_eq!(
            e.downcast_ref::<Failure>().unwrap().exit_code(),
            crate::error::EXIT_USAGE
        );
        assert!(e.to_string().contains("snapshot:prod-a"), "{e}");
        std::fs::write(dir.tfvars(), r#"{"warehouse_mode": "existing"}"#).unwrap();
        assert!(same_warehouse(&dir, &WarehouseChoice::Existing).is_ok());
        assert!(same_warehouse(&dir, &WarehouseChoice::New).is_err());
    }
}
