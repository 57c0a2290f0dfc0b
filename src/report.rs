//! Phases, failure reports and the commands to go on from a failure.

use crate::phase;
pub use crate::phase::Phase;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One thing that went wrong, with what the user needs to find it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    /// A Terraform error diagnostic.
    Terraform {
        address: Option<String>,
        summary: String,
        detail: String,
        location: Option<String>,
    },
    /// An Ansible task that failed or a host that was unreachable.
    Ansible {
        host: String,
        task: String,
        status: String,
        msg: String,
        stdout_tail: String,
        stderr_tail: String,
    },
    /// A DAG task that did not succeed.
    Task {
        task: String,
        state: String,
        log_tail: String,
        log_file: Option<PathBuf>,
    },
    /// Terraform outputs that do not satisfy the contract.
    Contract { module: String, errors: Vec<String> },
    /// Anything else: a message and the child's stderr tail.
    Message { message: String, tail: Vec<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureReport {
    pub env: String,
    pub phase: Phase,
    pub summary: String,
    pub details: Vec<Detail>,
    /// The run record folder and the full log of the failing phase.
    pub run_dir: Option<PathBuf>,
    pub log: Option<PathBuf>,
    /// Commands to go on from here.
    pub next: Vec<String>,
    pub exit_code: i32,
}

impl FailureReport {
    pub fn new(phase: Phase, summary: impl Into<String>) -> Self {
        let exit_code = match phase {
            Phase::Provision | Phase::Destroy => phase::EXIT_PROVISION,
            Phase::Handoff => phase::EXIT_CONTRACT,
            Phase::Configure => phase::EXIT_CONFIGURE,
            Phase::Migrate => phase::EXIT_MIGRATE,
            Phase::Pipeline => phase::EXIT_PIPELINE,
            Phase::Vars | Phase::Lease => phase::EXIT_OTHER,
        };
        FailureReport {
            env: String::new(),
            phase,
            summary: summary.into(),
            details: Vec::new(),
            run_dir: None,
            log: None,
            next: Vec::new(),
            exit_code,
        }
    }

    pub fn with_detail(mut self, d: Detail) -> Self {
        self.details.push(d);
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.exit_code
    }

    pub fn headline(&self) -> String {
        format!("{} failed: {}", self.phase, self.summary)
    }

    /// Fill in where the logs are and what to run next.
    pub fn locate(mut self, env: &str, run_dir: PathBuf, log: Option<PathBuf>, kept: bool) -> Self {
        self.env = env.to_string();
        self.run_dir = Some(run_dir);
        self.log = log;
        let e = if env == "shadow" {
            String::new()
        } else {
            format!(" --env {env}")
        };
        let phase = self.phase.as_str();
        self.next = vec![format!("shadowops logs{e} --phase {phase}")];
        if kept {
            if self.phase >= Phase::Configure {
                self.next.push(format!("shadowops ssh{e}"));
            }
            self.next.push(format!("shadowops status{e}"));
            self.next.push(format!(
                "shadowops up{e}    # resumes from {phase} once fixed"
            ));
            self.next.push(format!("shadowops destroy{e}"));
        }
        self
    }

    /// The human report, for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "\nshadowops: {} — env {}\n",
            self.headline(),
            self.env
        ));
        for d in &self.details {
            match d {
                Detail::Terraform {
                    address,
                    summary,
                    detail,
                    location,
                } => {
                    s.push_str(&format!(
                        "  resource: {}\n  error:    {summary}\n",
                        address.as_deref().unwrap_or("(no resource)")
                    ));
                    if let Some(loc) = location {
                        s.push_str(&format!("  config:   {loc}\n"));
                    }
                    if !detail.is_empty() {
                        s.push_str(&indent(detail, "  | "));
                    }
                }
                Detail::Ansible {
                    host,
                    task,
                    status,
                    msg,
                    stdout_tail,
                    stderr_tail,
                } => {
                    s.push_str(&format!(
                        "  host:  {host}\n  task:  {task} ({status})\n  error: {msg}\n"
                    ));
                    if !stdout_tail.is_empty() {
                        s.push_str("  stdout:\n");
                        s.push_str(&indent(stdout_tail, "  | "));
                    }
                    if !stderr_tail.is_empty() {
                        s.push_str("  stderr:\n");
                        s.push_str(&indent(stderr_tail, "  | "));
                    }
                }
                Detail::Task {
                    task,
                    state,
                    log_tail,
                    log_file,
                } => {
                    s.push_str(&format!("  task:  {task} ({state})\n"));
                    if let Some(f) = log_file {
                        s.push_str(&format!("  full task log: {}\n", f.display()));
                    }
                    if !log_tail.is_empty() {
                        s.push_str("  log tail:\n");
                        s.push_str(&indent(log_tail, "  | "));
                    }
                }
                Detail::Contract { module, errors } => {
                    s.push_str(&format!("  module: {module}\n"));
                    for e in errors {
                        s.push_str(&format!("  - {e}\n"));
                    }
                }
                Detail::Message { message, tail } => {
                    s.push_str(&format!("  {message}\n"));
                    for l in tail {
                        s.push_str(&format!("  | {l}\n"));
                    }
                }
            }
        }
        if let Some(dir) = &self.run_dir {
            s.push_str(&format!("  run record: {}\n", dir.display()));
        }
        if let Some(log) = &self.log {
            s.push_str(&format!("  full log:   {}\n", log.display()));
        }
        if !self.next.is_empty() {
            s.push_str("  next:\n");
            for n in &self.next {
                s.push_str(&format!("    {n}\n"));
            }
        }
        s
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_resource_error_log_and_next_steps() {
        let r = FailureReport::new(Phase::Provision, "terraform apply failed")
            .with_detail(Detail::Terraform {
                address: Some("terraform_data.warehouse".into()),
                summary: "local-exec provisioner error".into(),
                detail: "Error running command".into(),
                location: Some("main.tf:12".into()),
            })
            .locate(
                "pr-1",
                "/h/envs/pr-1/runs/r1".into(),
                Some("/h/envs/pr-1/runs/r1/terraform-apply.jsonl".into()),
                true,
            );
        let text = r.render();
        for want in [
            "provision failed",
            "terraform_data.warehouse",
            "local-exec provisioner error",
            "main.tf:12",
            "terraform-apply.jsonl",
            "shadowops up --env pr-1",
            "shadowops destroy --env pr-1",
            "shadowops logs --env pr-1 --phase provision",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert_eq!(r.exit_code(), crate::phase::EXIT_PROVISION);
    }
}
