//! `up`: the phases of design.md in order, each recorded, resumable.

use crate::targets::local;
use crate::ansible::{render, run::Playbook};
use crate::cli::{FromPhase, ImageChoice, OnFailure, Target, UntilPhase, UpArgs};
use crate::contract::{self, Shadow};
use crate::digest::Hasher;
use crate::env::{self, EnvDir, EnvState, PhaseRecord, Status};
use crate::error::Failure;
use crate::keys;
use crate::paths;
use crate::airflow::Airflow;
use crate::pipeline::{self, PipelineRun};
use crate::supervise::Probe;
use crate::report::{Detail, FailureReport, Phase};
use crate::runrec::Run;
use crate::terraform::{self, vars, Terraform};
use crate::tools::{self, Tools};
use crate::lease;
use crate::ui;
use anyhow::{anyhow, Result};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Everything an `up` knows once its input is validated.
struct Up {
    args: UpArgs,
    dir: EnvDir,
    home: PathBuf,
    assets: PathBuf,
    tools: Tools,
    lease: Duration,
    pipeline_src: PathBuf,
    state: EnvState,
    run: Run,
    force_from: Option<Phase>,
    var_file: Option<PathBuf>,
    /// What configure did in this run: its input digest and changed count.
    configured: Option<(String, u64)>,
}

pub fn run(args: UpArgs) -> Result<i32> {
    // 1. Validate every input before anything is created.
    let name = env::parse_name(&args.env.name)?;
    let lease = lease::parse_lease(&args.ttl, &args.max_ttl)?;
    crate::terraform::transient::RetryPolicy::from_env()
        .map_err(|e| Failure::usage(format!("{e:#}")))?;
    let assets = paths::assets()?;
    let pipeline_src = match &args.pipeline {
        Some(p) => std::fs::canonicalize(p)
            .map_err(|e| Failure::usage(format!("--pipeline {}: {e}", p.display())))?,
        None => assets.join("pipeline/example"),
    };
    if !pipeline_src.join("dags").is_dir() {
        return Err(Failure::usage(format!(
            "pipeline folder {} has no dags/ directory (expected dags/, R/, sql/ as in pipeline/example)",
            pipeline_src.display()
        )));
    }
    // A baked image that does not exist is bad input, found before anything
    // is made.
    if args.image == ImageChoice::Baked {
        let made_from = match args.target {
            Target::Local => local::baked_image()?,
            Target::Aws => super::bake::baked_ami(&crate::terraform::aws_region())?,
        };
        // Still usable when older (the play installs what changed), but slower.
        if args.target == Target::Local
            && !made_from.ends_with(&super::bake::recipe_stamp(&paths::assets()?))
        {
            ui::warn(&format!(
                "the baked image {made_from} was made from an older playbook or base image: configure will redo the installs; run `shadowops bake` to refresh it"
            ));
        }
    }
    if args.target == Target::Aws {
        let cidr = args.allow_cidr.as_deref().ok_or_else(|| {
            Failure::usage("--target aws needs --allow-cidr (the CIDR allowed to reach SSH and Airflow, e.g. 203.0.113.7/32)")
        })?;
        validate_cidr(cidr)?;
    }
    let var_file = match &args.var_file {
        Some(f) => {
            let abs = std::fs::canonicalize(f)
                .map_err(|e| Failure::usage(format!("--var-file {}: {e}", f.display())))?;
            let text = std::fs::read_to_string(&abs)
                .map_err(|e| Failure::usage(format!("--var-file {}: {e}", f.display())))?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(_)) => Some(abs),
                _ => {
                    return Err(Failure::usage(format!(
                        "--var-file {}: expected a JSON object of Terraform variables",
                        f.display()
                    )))
                }
            }
        }
        None => None,
    };
    if args.dag_id.is_empty()
        || !args
            .dag_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Failure::usage(format!(
            "invalid --dag-id {:?}",
            args.dag_id
        )));
    }
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
    }

    // 2. From here on the env directory exists.
    let _lock = dir.lock(Duration::from_secs(10))?;
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
    state.owner = owner();
    state.interrupted = false;
    let run = Run::start(&dir.runs_dir(), dir.name.as_str(), "up")?;
    state.last_run = Some(run.id.clone());
    dir.save_state(&state)?;
    let force_from = args.from.map(|f| match f {
        FromPhase::Vars => Phase::Vars,
        FromPhase::Provision => Phase::Provision,
        FromPhase::Configure => Phase::Configure,
        FromPhase::Pipeline => Phase::Pipeline,
    });
    state.pipeline_src = Some(pipeline_src.clone());
    state.dag_id = Some(args.dag_id.clone());
    let mut up = Up {
        args,
        dir,
        home,
        assets,
        tools,
        lease,
        pipeline_src,
        state,
        run,
        force_from,
        var_file,
        configured: None,
    };
    let outcome = up.phases();
    up.finish(outcome)
}

impl Up {
    fn until(&self, phase: UntilPhase) -> bool {
        self.args.until.is_some_and(|u| u == phase)
    }

    fn forced(&self, phase: Phase) -> bool {
        self.force_from.is_some_and(|f| f <= phase)
    }

    fn phases(&mut self) -> Result<()> {
        ui::phase(
            "up",
            &format!(
                "env {} on target {} (run {})",
                self.dir.name,
                self.args.target.as_str(),
                self.run.id
            ),
        );
        let (tf, provision_digest) = self.timed(Phase::Vars, |up| up.vars())?;
        self.timed(Phase::Provision, |up| up.provision(&tf, &provision_digest))?;
        let shadow = self.timed(Phase::Handoff, |up| up.handoff(&tf))?;
        if !self.until(UntilPhase::Provision) {
            self.timed(Phase::Configure, |up| up.configure(&shadow))?;
            if !self.until(UntilPhase::Configure) {
                self.timed(Phase::Pipeline, |up| up.pipeline(&shadow))?;
            }
        }
        self.timed(Phase::Lease, |up| up.arm_lease())?;
        Ok(())
    }

    /// Run one phase: progress header, duration in summary and env.json.
    fn timed<T>(&mut self, phase: Phase, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        crate::supervise::check_interrupted()?;
        let start = Instant::now();
        let out = f(self);
        let secs = start.elapsed().as_secs_f64();
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) => {
                "interrupted"
            }
            Err(_) => "failed",
        };
        self.run.phase(phase, outcome, secs, None);
        self.state.durations.insert(phase.as_str().into(), secs);
        let _ = self.dir.save_state(&self.state);
        out
    }

    fn mark(&mut self, phase: Phase, digest: String, secs: f64) -> Result<()> {
        self.state.phases.insert(
            phase.as_str().into(),
            PhaseRecord {
                digest,
                completed_at: Some(SystemTime::now()),
                duration_s: secs,
            },
        );
        self.state.updated_at = Some(SystemTime::now());
        self.dir.save_state(&self.state)
    }

    // ---- 1. vars ---------------------------------------------------------

    fn vars(&mut self) -> Result<(Terraform, String)> {
        let start = Instant::now();
        ui::phase("vars", "keys, secrets and Terraform variables");
        let keys = keys::ensure(&self.dir)?;
        let warehouse_password =
            keys::ensure_secret(&self.dir.secrets_dir().join("warehouse-password"))?;
        keys::ensure_secret(&self.dir.airflow_password_file())?;
        let expires_at = SystemTime::now() + self.lease;
        self.state.expires_at = Some(expires_at);
        lease::write_lease_file(&self.dir, expires_at)?;
        let common = vars::Common {
            env_name: self.dir.name.to_string(),
            owner: self.state.owner.clone(),
            expires_at: lease::rfc3339(expires_at),
            ssh_public_key: keys.client_public.clone(),
            ssh_private_key_file: keys.client_private.display().to_string(),
            ssh_host_key_private_file: keys.host_private.display().to_string(),
            ssh_host_key_public: keys.host_public.clone(),
            warehouse_database: "analytics".into(),
            warehouse_user: "shadow".into(),
            mail_from: std::env::var("SHADOWOPS_MAIL_FROM")
                .unwrap_or_else(|_| "shadowops@localhost".into()),
            mail_to: std::env::var("SHADOWOPS_MAIL_TO").unwrap_or_else(|_| "team@localhost".into()),
        };
        let mut secrets = vars::Secrets {
            warehouse_password,
            smtp_password: None,
        };
        let extra_env = crate::terraform::env_vars(self.args.target, &self.assets);
        let inputs = match self.args.target {
            Target::Local => {
                std::fs::create_dir_all(self.dir.inbox_dir())?;
                let images = local::build_images(&self.assets, &self.run.dir)?;
                let host_image = local::host_image(self.args.image, &images)?;
                let subnet = match &self.state.subnet_cidr {
                    Some(s) => s.clone(),
                    None => {
                        local::allocate_subnet(&self.assets, &self.home, self.dir.name.as_str())?
                    }
                };
                self.state.subnet_cidr = Some(subnet.clone());
                self.state.host_image = Some(host_image.clone());
                let max = humantime::parse_duration(&self.args.max_ttl).unwrap_or(self.lease);
                vars::Inputs::Local(vars::Local {
                    common,
                    env_dir: self.dir.root.display().to_string(),
                    subnet_cidr: subnet,
                    host_image,
                    warehouse_image: images.warehouse,
                    mail_image: images.mail,
                    lease_file: self.dir.lease_file().display().to_string(),
                    // Hard cap for `podman run --timeout`: the longest an
                    // extended lease may last, plus a margin for destroy.
                    max_lifetime_seconds: max.as_secs() + 600,
                    wheelhouse_dir: paths::cache().join("wheelhouse").display().to_string(),
                })
            }
            Target::Aws => {
                secrets.smtp_password = std::env::var("SHADOWOPS_SMTP_PASSWORD").ok();
                vars::Inputs::Aws(vars::Aws {
                    common,
                    region: crate::terraform::aws_region(),
                    operator_cidr: self.args.allow_cidr.clone().unwrap_or_default(),
                    host_ami_id: match self.args.image {
                        ImageChoice::Baked => super::bake::baked_ami(&crate::terraform::aws_region())?,
                        ImageChoice::Base => String::new(),
                    },
                    smtp_host: std::env::var("SHADOWOPS_SMTP_HOST")
                        .unwrap_or_else(|_| "email-smtp.eu-west-1.amazonaws.com".into()),
                    smtp_port: std::env::var("SHADOWOPS_SMTP_PORT")
                        .ok()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(587),
                    smtp_user: std::env::var("SHADOWOPS_SMTP_USER").unwrap_or_default(),
                })
            }
        };
        let tfvars = serde_json::to_vec_pretty(&inputs)?;
        std::fs::write(self.dir.tfvars(), &tfvars)?;
        env::write_private(
            &self.dir.secret_tfvars(),
            &serde_json::to_vec_pretty(&secrets)?,
        )?;
        // The run record keeps the (non-secret) inputs as they were.
        std::fs::write(self.run.file("terraform.tfvars.json"), &tfvars)?;

        let module = self
            .assets
            .join("terraform")
            .join(self.args.target.as_str());
        // expires_at is left out: extending a lease must not re-provision.
        let mut for_digest: serde_json::Value = serde_json::from_slice(&tfvars)?;
        for_digest["expires_at"] = serde_json::Value::Null;
        let mut var_files = vec![self.dir.tfvars(), self.dir.secret_tfvars()];
        let mut h = Hasher::new();
        h.str("tfvars", &for_digest.to_string())
            .file(&self.dir.secret_tfvars())
            .tree(&module);
        if let Some(extra) = &self.var_file {
            // Copied into the env so destroy sees the same inputs later.
            let copy = self.dir.root.join("extra.tfvars.json");
            std::fs::copy(extra, &copy)?;
            std::fs::copy(extra, self.run.file("extra.tfvars.json"))?;
            h.file(&copy);
            var_files.push(copy);
        } else {
            let _ = std::fs::remove_file(self.dir.root.join("extra.tfvars.json"));
        }
        let digest = h.finish();
        let tf = Terraform {
            bin: self.tools.terraform.clone(),
            module,
            tf_dir: self.dir.tf_dir(),
            var_files,
            extra_env,
        };
        let secs = start.elapsed().as_secs_f64();
        self.mark(Phase::Vars, "-".into(), secs)?;
        Ok((tf, digest))
    }

    // ---- 2. provision ----------------------------------------------------

    fn provision(&mut self, tf: &Terraform, digest: &str) -> Result<()> {
        if self.state.phase_done(Phase::Provision, digest) && !self.forced(Phase::Provision) {
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
        self.state.status = Status::Provisioning;
        // Forget the old record first: a failed apply must be redone.
        self.state.phases.remove(Phase::Provision.as_str());
        self.dir.save_state(&self.state)?;
        if let Err(e) = tf.init(&self.run.dir) {
            return Err(self.fail(
                FailureReport::new(Phase::Provision, "terraform init failed")
                    .with_detail(message_detail(&e)),
                Some(self.run.file("terraform-init.log")),
            ));
        }
        let outcome = tf.apply(&self.run.dir, false)?;
        if !outcome.finished.success() {
            let report = terraform::run::failure(&outcome, Phase::Provision, "apply failed");
            return Err(self.fail(report, Some(outcome.log.clone())));
        }
        if let Some((add, change, remove)) = outcome.summary {
            ui::ok(&format!(
                "apply complete: {add} added, {change} changed, {remove} destroyed"
            ));
        }
        self.state.status = Status::Provisioned;
        self.mark(
            Phase::Provision,
            digest.to_string(),
            start.elapsed().as_secs_f64(),
        )
    }

    // ---- 3. handoff ------------------------------------------------------

    fn handoff(&mut self, tf: &Terraform) -> Result<Shadow> {
        ui::phase("handoff", "terraform output -> shadow contract");
        let json = match tf.output_json() {
            Ok(j) => j,
            Err(e) => {
                return Err(self.fail(
                    FailureReport::new(Phase::Handoff, "terraform output failed")
                        .with_detail(message_detail(&e)),
                    None,
                ))
            }
        };
        let module = format!("terraform/{}", self.args.target.as_str());
        let shadow = match contract::from_outputs(
            &json,
            self.dir.name.as_str(),
            self.args.target.as_str(),
        ) {
            Ok(s) => s,
            Err(errors) => {
                let n = errors.len();
                // The raw outputs hold secrets: record only which fields failed.
                let report = FailureReport::new(
                    Phase::Handoff,
                    format!("the outputs of {module} do not satisfy the shadow contract v{} ({n} problem{})", contract::CONTRACT_VERSION, if n == 1 { "" } else { "s" }),
                )
                .with_detail(Detail::Contract { module, errors });
                return Err(self.fail(report, None));
            }
        };
        env::write_private(
            &self.dir.root.join("contract.json"),
            &serde_json::to_vec_pretty(&shadow)?,
        )?;
        // The host key is pinned as soon as it is known, so `ssh` works
        // after `--until provision` too.
        std::fs::write(self.dir.known_hosts(), render::known_hosts_line(&shadow))?;
        std::fs::write(
            self.run.file("contract.masked.json"),
            serde_json::to_vec_pretty(&render::masked(&shadow))?,
        )?;
        ui::ok(&format!(
            "host {}:{}, warehouse {} ({}), airflow {}",
            shadow.host.address,
            shadow.host.ssh_port,
            shadow.warehouse.host,
            shadow.warehouse.kind,
            shadow.airflow.url
        ));
        Ok(shadow)
    }

    // ---- 4. configure ----------------------------------------------------

    fn configure(&mut self, shadow: &Shadow) -> Result<()> {
        let start = Instant::now();
        ui::phase("configure", "inventory + ansible-playbook site.yml");
        let airflow_pw = std::fs::read_to_string(self.dir.airflow_password_file())?
            .trim()
            .to_string();
        let rendered = render::render(
            &self.assets.join("templates"),
            shadow,
            &self.dir.known_hosts(),
            &self.pipeline_src,
            &airflow_pw,
        )?;
        let files = render::write(&self.dir.ansible_dir(), &self.dir.known_hosts(), &rendered)?;
        // Masked copies for the run record (what was fed to Ansible).
        let masked = render::render(
            &self.assets.join("templates"),
            &render::masked(shadow),
            &self.dir.known_hosts(),
            &self.pipeline_src,
            render::MASK,
        )?;
        std::fs::write(self.run.file("inventory.yml"), &masked.inventory)?;
        std::fs::write(self.run.file("vars.yml"), &masked.vars)?;

        if let Err(e) = wait_ssh(&shadow.host.address, shadow.host.ssh_port, ready_timeout()) {
            let report = FailureReport::new(
                Phase::Configure,
                format!("host {} unreachable over SSH", shadow.host.address),
            )
            .with_detail(message_detail(&e));
            return Err(self.fail(report, None));
        }
        let digest = Hasher::new()
            .str("inventory", &rendered.inventory)
            .str("vars", &rendered.vars)
            .str("secrets", &rendered.secrets)
            .tree(&self.assets.join("ansible"))
            .tree(&self.pipeline_src)
            .finish();
        let playbook = Playbook::new(self.tools.ansible_playbook.clone(), &self.assets);
        // A forced configure (--from configure or earlier) checks every task
        // instead of trusting the host's stamp of its last full run.
        let extra: &[&str] = if self.forced(Phase::Configure) {
            &["-e", "shadow_fast_converge=false"]
        } else {
            &[]
        };
        let outcome = playbook.run(&files, &self.run.dir, extra)?;
        if !outcome.finished.success() {
            let report = crate::ansible::run::failure(&outcome);
            return Err(self.fail(report, Some(self.run.file("ansible-playbook.jsonl"))));
        }
        ui::ok(&format!(
            "playbook: {} tasks, changed={}",
            outcome.tasks,
            outcome.changed()
        ));
        self.configured = Some((digest.clone(), outcome.changed()));
        std::fs::write(
            self.run.file("ansible-stats.json"),
            serde_json::to_vec_pretty(&outcome.stats)?,
        )?;

        let airflow = Airflow::new(&shadow.airflow.url);
        if let Err(e) = airflow.wait_healthy(Duration::from_secs(180)) {
            let report = FailureReport::new(
                Phase::Configure,
                "Airflow did not become healthy after the play",
            )
            .with_detail(message_detail(&e));
            return Err(self.fail(report, None));
        }
        ui::ok(&format!(
            "Airflow is healthy: {} (user admin, password in {})",
            shadow.airflow.url,
            self.dir.airflow_password_file().display()
        ));
        self.state.status = Status::Configured;
        self.mark(Phase::Configure, digest, start.elapsed().as_secs_f64())
    }

    // ---- 5. pipeline -----------------------------------------------------

    fn pipeline(&mut self, shadow: &Shadow) -> Result<()> {
        let dag = self.args.dag_id.clone();
        // The DAG run is the proof; when the play changed nothing and the
        // same inputs already passed, that proof still stands.
        let digest = Hasher::new()
            .str(
                "configure",
                self.configured.as_ref().map(|c| c.0.as_str()).unwrap_or(""),
            )
            .str("dag", &dag)
            .finish();
        let unchanged = self.configured.as_ref().is_some_and(|c| c.1 == 0);
        let passed = self
            .state
            .pipeline
            .as_ref()
            .is_some_and(|p| p["state"] == "success" && p["email_seen"] != false);
        if unchanged
            && passed
            && self.state.phase_done(Phase::Pipeline, &digest)
            && !self.forced(Phase::Pipeline)
        {
            let run = self
                .state
                .pipeline
                .as_ref()
                .and_then(|p| p["run_id"].as_str())
                .unwrap_or("?")
                .to_string();
            ui::phase("pipeline", &format!("unchanged since DAG run {run} passed; skipping (--from pipeline runs it again)"));
            self.state.status = Status::Ready;
            return Ok(());
        }
        ui::phase(
            "pipeline",
            &format!("trigger DAG {dag} and follow every task"),
        );
        self.state.phases.remove(Phase::Pipeline.as_str());
        let started = Instant::now();
        let since = SystemTime::now();
        let pw = std::fs::read_to_string(self.dir.airflow_password_file())?
            .trim()
            .to_string();
        let mut airflow = Airflow::new(&shadow.airflow.url);
        let run_id = format!("shadowops__{}", self.run.id);
        let dags_dir = self.pipeline_src.join("dags");
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
            return Err(self.fail(report, None));
        }
        let (state, mut tasks) = match airflow.follow(&dag, &run_id, Duration::from_secs(1800)) {
            Ok(x) => x,
            Err(e) => {
                let report =
                    FailureReport::new(Phase::Pipeline, format!("following DAG run {run_id}"))
                        .with_detail(message_detail(&e));
                return Err(self.fail(report, None));
            }
        };
        // Keep every task's log in the run record; tails go in the report.
        for t in tasks.iter_mut() {
            if t.state == "none" || t.state == "upstream_failed" || t.state == "skipped" {
                continue;
            }
            if let Ok(text) = airflow.task_log(&dag, &run_id, &t.task_id, t.try_number) {
                let f = self.run.file(&format!("task-{}.log", t.task_id));
                let _ = std::fs::write(&f, &text);
                t.log_file = Some(f);
                if t.state != "success" {
                    t.log_tail = pipeline::tail(&text, 30);
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
                let mail = pipeline::wait_for_mail(
                    Path::new(inbox),
                    &run_id,
                    since,
                    Duration::from_secs(60),
                )?;
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
            self.run.file("pipeline.json"),
            serde_json::to_vec_pretty(&run)?,
        )?;
        self.state.pipeline = Some(serde_json::to_value(&run)?);
        self.dir.save_state(&self.state)?;
        if let Some(j) = &self.args.junit {
            pipeline::write_junit(j, &run)?;
        }
        if !self.args.json {
            print!("{}", pipeline::table(&run));
        }
        if state != "success" {
            let report = pipeline::failure(&run, &format!("DAG run {run_id} ended {state}"));
            return Err(self.fail(report, None));
        }
        if run.email_seen == Some(false) {
            let report = pipeline::failure(
                &run,
                "all tasks succeeded but the success e-mail never arrived: do not deploy",
            );
            return Err(self.fail(report, shadow.mail.inbox_dir.as_ref().map(PathBuf::from)));
        }
        self.state.status = Status::Ready;
        self.mark(Phase::Pipeline, digest, run.duration_s)
    }

    // ---- 6. lease --------------------------------------------------------

    fn arm_lease(&mut self) -> Result<()> {
        let expires = self
            .state
            .expires_at
            .ok_or_else(|| anyhow!("no expiry recorded"))?;
        if self.args.wait {
            return Ok(()); // handled in finish(): foreground countdown
        }
        let pid = lease::arm(&self.dir, &mut self.state)?;
        ui::phase(
            "lease",
            &format!(
                "expires at {} (in {}); reaper pid {pid}, log {}",
                lease::rfc3339(expires),
                lease::format_left(self.state.time_left()),
                self.dir.reaper_log().display()
            ),
        );
        Ok(())
    }

    /// Record a phase failure in env.json and build the located report.
    fn fail(&mut self, report: FailureReport, log: Option<PathBuf>) -> anyhow::Error {
        // A step that failed because Ctrl-C stopped it was interrupted, not
        // broken: exit 130 and an env that says so (finish records it).
        if crate::supervise::interrupted() {
            return Failure::Interrupted.into();
        }
        let keep = self.on_failure() == OnFailure::Keep;
        let report = report.locate(self.dir.name.as_str(), self.run.dir.clone(), log, keep);
        self.state.last_failure = Some(env::LastFailure {
            phase: report.phase,
            message: report.summary.clone(),
            run: self.run.id.clone(),
            at: Some(SystemTime::now()),
        });
        self.state.status = Status::Failed;
        let _ = self.dir.save_state(&self.state);
        let _ = std::fs::write(
            self.run.file("failure.json"),
            serde_json::to_vec_pretty(&report).unwrap_or_default(),
        );
        Failure::Phase(Box::new(report)).into()
    }

    fn on_failure(&self) -> OnFailure {
        self.args.on_failure.unwrap_or(
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
                OnFailure::Destroy
            } else {
                OnFailure::Keep
            },
        )
    }

    fn finish(mut self, outcome: Result<()>) -> Result<i32> {
        let code = match &outcome {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<Failure>() {
                Some(f) => f.exit_code(),
                None => crate::error::EXIT_OTHER,
            },
        };
        let interrupted = matches!(
            outcome
                .as_ref()
                .err()
                .and_then(|e| e.downcast_ref::<Failure>()),
            Some(Failure::Interrupted)
        );
        if interrupted {
            self.state.interrupted = true;
            self.state.status = Status::Interrupted;
            self.state.last_failure = Some(env::LastFailure {
                phase: self
                    .run
                    .summary
                    .phases
                    .last()
                    .map(|p| p.phase)
                    .unwrap_or(Phase::Vars),
                message: "interrupted by a signal".into(),
                run: self.run.id.clone(),
                at: Some(SystemTime::now()),
            });
        } else if outcome.is_ok() {
            self.state.last_failure = None;
        } else if let Err(e) = &outcome {
            if e.downcast_ref::<Failure>().is_none() {
                // An unexpected error (not a phase report): still recorded.
                let phase = self
                    .run
                    .summary
                    .phases
                    .last()
                    .map(|p| p.phase)
                    .unwrap_or(Phase::Vars);
                self.state.status = Status::Failed;
                self.state.last_failure = Some(env::LastFailure {
                    phase,
                    message: format!("{e:#}"),
                    run: self.run.id.clone(),
                    at: Some(SystemTime::now()),
                });
            }
        }
        let _ = self.dir.save_state(&self.state);
        let usage = rusage_self();
        self.run.summary.driver_overhead_s = 0.0;
        let result_label = if code == 0 {
            "ok"
        } else if interrupted {
            "interrupted"
        } else {
            "failed"
        };
        self.run.finish(result_label, code, 0.0)?;
        // Driver CPU time, the honest measure of our own overhead.
        self.run.summary.driver_overhead_s = usage;
        self.run.save()?;

        if let Err(e) = &outcome {
            if let Some(Failure::Phase(report)) = e.downcast_ref::<Failure>() {
                if self.args.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"env": self.dir.name.as_str(), "outcome": "failed", "failure": report, "run": self.run.id})
                        )?
                    );
                }
                eprint!("{}", report.render());
            }
            let destroying = !interrupted && self.on_failure() == OnFailure::Destroy;
            if !destroying && self.state.expires_at.is_some() && !self.args.wait {
                // A kept env (failed or interrupted) still expires with its lease.
                match lease::arm(&self.dir, &mut self.state) {
                    Ok(pid) => ui::info(&format!(
                        "  env kept for inspection; it still expires at {} (reaper pid {pid})",
                        self.state.expires_at.map(lease::rfc3339).unwrap_or_default()
                    )),
                    Err(e) => ui::warn(&format!("could not arm the reaper: {e:#}")),
                }
            }
            if destroying {
                ui::phase("on-failure", "destroying the env (run records are kept)");
                if let Err(de) = crate::teardown::destroy_after_failure(&self.dir) {
                    ui::fail(&format!("destroy after failure: {de:#}"));
                }
            }
            return outcome.map(|_| code);
        }
        if self.args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "env": self.dir.name.as_str(),
                    "outcome": "ok",
                    "run": self.run.id,
                    "expires_at": self.state.expires_at.map(lease::rfc3339),
                    "durations": self.state.durations,
                    "pipeline": self.state.pipeline,
                }))?
            );
        }
        ui::ok(&format!(
            "env {} is up ({:.1}s)",
            self.dir.name, self.run.summary.total_s
        ));
        if self.args.wait {
            return self.wait_then_destroy();
        }
        Ok(0)
    }

    /// `--wait`: a countdown in the foreground, destroy at the deadline or on Ctrl-C.
    fn wait_then_destroy(self) -> Result<i32> {
        let deadline = self.state.expires_at.unwrap_or_else(SystemTime::now);
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
        let countdown = crate::supervise::wait("the lease's end", left, Duration::from_millis(250), move || {
            if last_print.elapsed() >= Duration::from_secs(30) {
                let left = deadline.duration_since(SystemTime::now()).ok();
                ui::info(&format!("  {} left", lease::format_left(left)));
                last_print = Instant::now();
            }
            Probe::<()>::Pending("waiting".into())
        });
        // Either way (deadline or Ctrl-C) the env goes now.
        if let Err(e) = countdown {
            if e.downcast_ref::<crate::supervise::WaitTimedOut>().is_none()
                && !matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted))
            {
                return Err(e);
            }
        }
        crate::supervise::reset_interrupt();
        crate::teardown::destroy_after_failure(&self.dir).map(|_| 0)
    }
}

fn message_detail(e: &anyhow::Error) -> Detail {
    match e.downcast_ref::<crate::supervise::ProcessError>() {
        Some(p) => Detail::Message {
            message: format!("`{}` failed ({})", p.command, p.status),
            tail: p.stderr_tail.clone(),
        },
        None => Detail::Message {
            message: format!("{e:#}"),
            tail: Vec::new(),
        },
    }
}

/// Wait for the SSH banner (not just an open port): sshd accepts connections
/// a moment before it can answer. Bounded backoff.
pub fn wait_ssh(host: &str, port: u16, limit: Duration) -> Result<()> {
    use std::io::Read;
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("cannot resolve {host}"))?;
    crate::supervise::wait(
        &format!("SSH banner from {addr}"),
        limit,
        Duration::from_millis(300),
        move || match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                let mut buf = [0u8; 8];
                match s.read(&mut buf) {
                    Ok(n) if n >= 4 && &buf[..4] == b"SSH-" => Probe::Ready(()),
                    Ok(_) => Probe::Pending("no SSH banner".into()),
                    Err(e) => Probe::Pending(e.to_string()),
                }
            }
            Err(e) => Probe::Pending(e.to_string()),
        },
    )
}

/// Bound of the readiness waits (SSH, Airflow): `SHADOWOPS_READY_TIMEOUT`
/// seconds, default 90.
fn ready_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("SHADOWOPS_READY_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(90),
    )
}

fn validate_cidr(cidr: &str) -> Result<()> {
    let bad = || {
        Failure::usage(format!(
            "invalid --allow-cidr {cidr:?}: expected IPv4 CIDR like 203.0.113.7/32"
        ))
    };
    let (ip, len) = cidr.split_once('/').ok_or_else(bad)?;
    ip.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    if len == 0 {
        return Err(Failure::usage("--allow-cidr 0.0.0.0/0 would open SSH and Airflow to the internet; give your own address"));
    }
    Ok(())
}

fn owner() -> String {
    std::env::var("SHADOWOPS_OWNER")
        .or_else(|_| std::env::var("CIRCLE_USERNAME"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-@".contains(*c))
        .collect()
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
    fn cidr_validation() {
        assert!(validate_cidr("203.0.113.7/32").is_ok());
        assert!(validate_cidr("10.0.0.0/8").is_ok());
        for bad in ["203.0.113.7", "1.2.3/24", "1.2.3.4/33", "0.0.0.0/0", "x/1"] {
            assert!(validate_cidr(bad).is_err(), "{bad}");
        }
    }
}
