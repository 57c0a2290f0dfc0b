//! Running terraform for one env: init, apply / destroy with the JSON event
//! stream recorded and shown, output, plan, state list.

use super::events::{self, Event};
use super::transient::{transient_cause, RetryPolicy};
use crate::cli::Target;
use crate::report::{Detail, FailureReport, Phase};
use crate::supervise::{self, Cmd, Finished};
use crate::ui::{self, Activity};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Terraform {
    pub bin: PathBuf,
    /// The target's root module (`terraform/<target>` in the assets).
    pub module: PathBuf,
    /// Per-env: `TF_DATA_DIR` and the state file live here.
    pub tf_dir: PathBuf,
    pub var_files: Vec<PathBuf>,
    pub extra_env: Vec<(String, String)>,
    /// aws: the backend files and SHADOWOPS_TF_BACKEND_CONFIG must agree
    /// before init (targets::aws::check_backend_choice).
    pub target: Target,
    /// The env's key in a shared backend (SHADOWOPS_TF_BACKEND_CONFIG):
    /// per owner and env on aws, per env on local (for_env::state_key).
    pub state_key: String,
}

/// Result of an apply/destroy: ok, or the report of what failed.
pub struct ApplyOutcome {
    pub finished: Finished,
    pub diagnostics: Vec<Detail>,
    pub summary: Option<(u64, u64, u64)>,
    /// The event log of the last attempt (the one the outcome describes).
    pub log: PathBuf,
    /// How many times apply ran (more than 1 after transient errors).
    pub attempts: u32,
    /// The transient error that made it run again, if it did.
    pub transient: Option<&'static str>,
}

impl Terraform {
    pub fn state_path(&self) -> PathBuf {
        self.tf_dir.join("terraform.tfstate")
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        let assets = self
            .module
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut c = Cmd::new(&self.bin)
            .arg(format!("-chdir={}", self.module.display()))
            .args(args)
            .env("TF_DATA_DIR", self.tf_dir.join(".terraform"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", assets.join("terraform/cli.tfrc"))
            // Reads and small writes of the state: minutes at most.
            .deadline(Duration::from_secs(300));
        for (k, v) in &self.extra_env {
            c = c.env(k, v);
        }
        c
    }

    fn with_var_files(&self, mut c: Cmd) -> Cmd {
        for f in &self.var_files {
            c = c.arg(format!("-var-file={}", f.display()));
        }
        c
    }

    /// The state holds the warehouse password in clear: the directory is
    /// the owner's alone (0700) and the state files 0600, whatever the umask
    /// Terraform wrote them with.
    fn secure_state_dir(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.tf_dir)?;
        std::fs::set_permissions(&self.tf_dir, std::fs::Permissions::from_mode(0o700))?;
        for name in ["terraform.tfstate", "terraform.tfstate.backup"] {
            let p = self.tf_dir.join(name);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }

    pub fn init(&self, log_dir: &Path) -> Result<Finished> {
        let backend_config = self.backend_config()?;
        self.secure_state_dir()?;
        let c = self.cmd(&["init", "-input=false", "-no-color"]);
        let c = match backend_config {
            // A team backend (e.g. S3 with locking, docs/aws.md): its settings
            // file, and the env's own state key.
            Some(file) => c
                .arg(format!("-backend-config={}", file.display()))
                .arg(format!("-backend-config=key={}", self.state_key))
                .arg("-reconfigure"),
            None => c.arg(format!(
                "-backend-config=path={}",
                self.state_path().display()
            )),
        };
        let c = c.logs(
            log_dir.join("terraform-init.log"),
            log_dir.join("terraform-init.stderr.log"),
        );
        supervise::run_ok(&c, |_, l| ui::debug(l))
    }

    /// The team backend's settings file, if one is in use. On aws the
    /// module's backend files must agree with SHADOWOPS_TF_BACKEND_CONFIG
    /// (a usage error otherwise, before Terraform runs).
    fn backend_config(&self) -> Result<Option<PathBuf>> {
        match self.target {
            Target::Aws => crate::targets::aws::check_backend_choice(&self.module),
            Target::Local => Ok(std::env::var_os("SHADOWOPS_TF_BACKEND_CONFIG").map(PathBuf::from)),
        }
    }

    /// `apply -json` (or `apply -destroy -json`), streaming events; run
    /// again, after a pause, while every error it reports is a known
    /// transient cloud error (terraform/transient.rs). Each attempt keeps its
    /// own event log: `terraform-apply.jsonl`, `terraform-apply.2.jsonl`...
    pub fn apply(&self, log_dir: &Path, destroy: bool) -> Result<ApplyOutcome> {
        let policy = RetryPolicy::from_env()?;
        let mut attempt = 1;
        let mut transient = None;
        loop {
            let mut outcome = self.apply_once(log_dir, destroy, attempt)?;
            outcome.transient = transient;
            if outcome.finished.success() || attempt > policy.retries {
                return Ok(outcome);
            }
            let Some(cause) = transient_cause(&outcome.diagnostics) else {
                return Ok(outcome);
            };
            transient = Some(cause);
            let wait = policy.delay(attempt);
            ui::warn(&format!(
                "terraform {} hit a transient cloud error ({cause}); running it again in {} (attempt {} of {})",
                if destroy { "destroy" } else { "apply" },
                humantime::format_duration(wait),
                attempt + 1,
                policy.retries + 1
            ));
            // Ctrl-C during the pause stops here, not after it.
            supervise::pause(wait)?;
            attempt += 1;
        }
    }

    fn apply_once(&self, log_dir: &Path, destroy: bool, attempt: u32) -> Result<ApplyOutcome> {
        let stem = match (destroy, attempt) {
            (true, 1) => "terraform-destroy".to_string(),
            (false, 1) => "terraform-apply".to_string(),
            (true, n) => format!("terraform-destroy.{n}"),
            (false, n) => format!("terraform-apply.{n}"),
        };
        let log = log_dir.join(format!("{stem}.jsonl"));
        let mut args = vec![
            "apply",
            "-json",
            "-input=false",
            "-auto-approve",
            "-lock-timeout=60s",
        ];
        if destroy {
            args.push("-destroy");
        }
        // Creating or deleting a Redshift cluster takes many minutes; a
        // hung apply must still end (and release the env lock the reaper
        // holds). After SIGINT Terraform finishes the calls in flight and
        // writes its state: give it time before the group is killed.
        let c = self
            .with_var_files(self.cmd(&args))
            .logs(log.clone(), log_dir.join(format!("{stem}.stderr.log")))
            .deadline(supervise::deadline_from_env(
                "SHADOWOPS_TF_TIMEOUT",
                Duration::from_secs(3600),
            )?)
            .grace(Duration::from_secs(120));
        let activity = Activity::new();
        let mut diagnostics = Vec::new();
        let mut summary = None;
        let finished = supervise::run(&c, |is_err, line| {
            if is_err {
                ui::debug(line);
                return;
            }
            match events::parse(line) {
                Some(Event::Start { addr, action }) => {
                    activity.start(&addr, &format!("{addr}: {}", verb(&action)))
                }
                Some(Event::Complete { addr, action, .. }) => {
                    activity.finish(&addr, &addr, done_verb(&action), false)
                }
                Some(Event::Errored { addr, .. }) => activity.finish(&addr, &addr, "failed", true),
                Some(Event::ProvisionOutput { addr, output }) => {
                    ui::debug(&format!("{addr}: {output}"))
                }
                Some(Event::Diagnostic { severity, detail }) => {
                    if severity == "error" {
                        diagnostics.push(detail);
                    } else if let Detail::Terraform { summary, .. } = &detail {
                        ui::debug(&format!("terraform {severity}: {summary}"));
                    }
                }
                Some(Event::ChangeSummary {
                    add,
                    change,
                    remove,
                    ..
                }) => summary = Some((add, change, remove)),
                // apply_progress ("Still creating... [2m0s elapsed]") and the rest.
                _ => activity.heartbeat(),
            }
        })?;
        self.secure_state_dir()?;
        Ok(ApplyOutcome {
            finished,
            diagnostics,
            summary,
            log,
            attempts: attempt,
            transient: None,
        })
    }

    /// `output -json` — holds secrets in clear, so it is captured, never logged.
    pub fn output_json(&self) -> Result<String> {
        let c = self.cmd(&["output", "-json"]).capture();
        Ok(supervise::run_ok(&c, |_, _| {})?.stdout)
    }

    /// `output -json NAME`: one (non-secret) output's JSON value.
    pub fn output_value(&self, name: &str) -> Result<String> {
        let c = self.cmd(&["output", "-json", name]).capture();
        Ok(supervise::run_ok(&c, |_, _| {})?.stdout)
    }

    /// `state rm ADDR`: Terraform forgets an object without destroying it.
    pub fn state_rm(&self, addr: &str) -> Result<()> {
        let c = self.cmd(&["state", "rm", addr]).capture();
        supervise::run_ok(&c, |_, l| ui::debug(l))?;
        Ok(())
    }

    pub fn state_list(&self) -> Result<Vec<String>> {
        if !self.state_path().exists() {
            return Ok(Vec::new());
        }
        let c = self.cmd(&["state", "list"]).capture();
        let out = supervise::run_ok(&c, |_, _| {})?;
        Ok(out.stdout.lines().map(str::to_string).collect())
    }

    /// `plan` with the env's inputs, printed for the user.
    pub fn plan(&self) -> Result<Finished> {
        let c = self.with_var_files(self.cmd(&["plan", "-input=false", "-lock=false"]));
        supervise::run(&c, |is_err, l| {
            if is_err {
                eprintln!("{l}")
            } else {
                println!("{l}")
            }
        })
    }
}

/// Turn a failed apply into the report the user needs.
pub fn failure(outcome: &ApplyOutcome, phase: Phase, what: &str) -> FailureReport {
    let mut r = FailureReport::new(
        phase,
        format!("terraform {what} ({})", outcome.finished.describe()),
    );
    if outcome.diagnostics.is_empty() {
        r = r.with_detail(Detail::Message {
            message: "terraform reported no diagnostic; its last output was:".into(),
            tail: if outcome.finished.stderr_tail.is_empty() {
                outcome.finished.stdout_tail.clone()
            } else {
                outcome.finished.stderr_tail.clone()
            },
        });
    } else {
        if let Some(Detail::Terraform {
            address, summary, ..
        }) = outcome.diagnostics.first()
        {
            r.summary = format!(
                "{}{summary}",
                address
                    .as_ref()
                    .map(|a| format!("{a}: "))
                    .unwrap_or_default()
            );
        }
        r.details.extend(outcome.diagnostics.iter().cloned());
    }
    if let (Some(cause), n) = (outcome.transient, outcome.attempts) {
        r.details.push(Detail::Message {
            message: format!(
                "terraform ran {n} times: the earlier attempts failed with a transient cloud error ({cause}); their logs are next to this one"
            ),
            tail: vec![],
        });
    }
    r
}

fn verb(action: &str) -> &'static str {
    match action {
        "create" => "creating",
        "delete" => "destroying",
        "update" => "updating",
        "replace" => "replacing",
        _ => "working",
    }
}

fn done_verb(action: &str) -> &'static str {
    match action {
        "create" => "created",
        "delete" => "destroyed",
        "update" => "updated",
        "replace" => "replaced",
        _ => "done",
    }
}
