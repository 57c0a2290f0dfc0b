//! Running `ansible-playbook` with the project's config and callback,
//! turning its events into progress lines, stats and failure details.

use super::events::{self, Event, HostStats, TaskResult};
use super::render::Files;
use crate::process::{self, Cmd, Finished};
use crate::report::{Detail, FailureReport, Phase};
use crate::ui::{self, Activity};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Playbook {
    pub bin: PathBuf,
    pub assets: PathBuf,
    pub playbook: PathBuf,
}

pub struct PlayOutcome {
    pub finished: Finished,
    pub stats: BTreeMap<String, HostStats>,
    pub failures: Vec<TaskResult>,
    pub tasks: u64,
}

impl PlayOutcome {
    pub fn changed(&self) -> u64 {
        self.stats.values().map(|s| s.changed).sum()
    }
}

impl Playbook {
    pub fn new(bin: PathBuf, assets: &Path) -> Self {
        Playbook { bin, assets: assets.to_path_buf(), playbook: assets.join("ansible/site.yml") }
    }

    pub fn command(&self, files: &Files, extra: &[&str]) -> Cmd {
        let ansible = self.assets.join("ansible");
        Cmd::new(&self.bin)
            .arg("-i")
            .arg(&files.inventory)
            .arg("-e")
            .arg(format!("@{}", files.vars.display()))
            // A path to a 0600 file: the secrets themselves never reach argv.
            .arg("-e")
            .arg(format!("@{}", files.secrets.display()))
            .args(extra)
            .arg(&self.playbook)
            .env("ANSIBLE_CONFIG", ansible.join("ansible.cfg"))
            .env("ANSIBLE_STDOUT_CALLBACK", "shadowops_jsonl")
            .env("ANSIBLE_CALLBACK_PLUGINS", ansible.join("plugins/callback"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("PYTHONUNBUFFERED", "1")
    }

    pub fn run(&self, files: &Files, log_dir: &Path, extra: &[&str]) -> Result<PlayOutcome> {
        let cmd = self
            .command(files, extra)
            .logs(log_dir.join("ansible-playbook.jsonl"), log_dir.join("ansible-playbook.stderr.log"));
        let activity = Activity::new();
        let mut stats = BTreeMap::new();
        let mut failures = Vec::new();
        let mut tasks = 0;
        let mut current: Option<String> = None;
        let finished = process::run(&cmd, |is_err, line| {
            if is_err {
                ui::debug(line);
                return;
            }
            match events::parse(line) {
                Some(Event::TaskStart { task, .. }) => {
                    if let Some(prev) = current.take() {
                        activity.finish(&prev, &prev, "ok", false);
                    }
                    tasks += 1;
                    activity.start(&task, &task);
                    current = Some(task);
                }
                Some(Event::TaskResult(r)) => {
                    let failed = (r.status == "failed" && !r.ignore_errors) || r.status == "unreachable";
                    if current.as_deref() == Some(r.task.as_str()) {
                        current = None;
                        activity.finish(&r.task, &r.task, &r.status, failed);
                    } else if failed {
                        ui::fail(&format!("{}: {}", r.task, r.status));
                    }
                    if failed {
                        failures.push(r);
                    }
                }
                Some(Event::Stats { hosts }) => stats = hosts,
                Some(_) => {}
                None => ui::debug(line),
            }
        })?;
        if let Some(prev) = current.take() {
            activity.finish(&prev, &prev, "done", false);
        }
        Ok(PlayOutcome { finished, stats, failures, tasks })
    }
}

/// The report of a failed play: host, task, module message, output tails.
pub fn failure(outcome: &PlayOutcome) -> FailureReport {
    let code = outcome.finished.code();
    let what = match code {
        Some(4) => "a host was unreachable",
        Some(2) => "a task failed",
        _ => "ansible-playbook failed",
    };
    let mut r = FailureReport::new(Phase::Configure, format!("{what} ({})", outcome.finished.describe()));
    if let Some(first) = outcome.failures.first() {
        r.summary = format!("{} on {}: {}", first.task, first.host, first.msg.as_deref().unwrap_or(&first.status));
    }
    for f in &outcome.failures {
        r = r.with_detail(Detail::Ansible {
            host: f.host.clone(),
            task: f.task.clone(),
            status: f.status.clone(),
            msg: f.msg.clone().unwrap_or_default(),
            stdout_tail: f.stdout_tail.clone().unwrap_or_default(),
            stderr_tail: f.stderr_tail.clone().unwrap_or_default(),
        });
    }
    if outcome.failures.is_empty() {
        r = r.with_detail(Detail::Message {
            message: "ansible-playbook reported no failed task; its last output was:".into(),
            tail: [outcome.finished.stdout_tail.clone(), outcome.finished.stderr_tail.clone()].concat(),
        });
    }
    r
}
