//! Running `ansible-playbook` with the project's config and callback,
//! turning its events into progress lines, stats and failure details.

use super::events::{self, Event, HostStats, TaskResult};
use super::render::Files;
use crate::report::{Detail, FailureReport, Phase};
use crate::supervise::{self, Cmd, Finished};
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
        Playbook {
            bin,
            assets: assets.to_path_buf(),
            playbook: assets.join("ansible/site.yml"),
        }
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
            .logs(
                log_dir.join("ansible-playbook.jsonl"),
                log_dir.join("ansible-playbook.stderr.log"),
            )
            .deadline(supervise::deadline_from_env(
                "SHADOWOPS_ANSIBLE_TIMEOUT",
                std::time::Duration::from_secs(45 * 60),
            )?)
            .grace(std::time::Duration::from_secs(15));
        let activity = Activity::new();
        let mut stats = BTreeMap::new();
        let mut failures = Vec::new();
        let mut tasks = 0;
        let mut current: Option<String> = None;
        let finished = supervise::run(&cmd, |is_err, line| {
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
                    let failed =
                        (r.status == "failed" && !r.ignore_errors) || r.status == "unreachable";
                    if current.as_deref() == Some(r.task.as_str()) {
                        current = None;
                        activity.finish(&r.task, &r.task, &r.status, failed);
                    } else if failed {
                        ui::fail(&format!("{}: {}", r.task, r.status));
                    }
                    // A role's `Report: ...` debug task carries a note for
                    // the user (R package versions that differ from renv.lock).
                    if r.status == "ok" && r.task.contains("Report:") {
                        if let Some(msg) = r.msg.as_deref().filter(|m| !m.trim().is_empty()) {
                            ui::warn(msg.trim());
                        }
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
        Ok(PlayOutcome {
            finished,
            stats,
            failures,
            tasks,
        })
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
    let mut r = FailureReport::new(
        Phase::Configure,
        format!("{what} ({})", outcome.finished.describe()),
    );
    if let Some(first) = outcome.failures.first() {
        r.summary = format!(
            "{} on {}: {}",
            first.task,
            first.host,
            first.msg.as_deref().unwrap_or(&first.status)
        );
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
            tail: [
                outcome.finished.stdout_tail.clone(),
                outcome.finished.stderr_tail.clone(),
            ]
            .concat(),
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ansible::render;

    fn ansible_playbook() -> PathBuf {
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/ansible-playbook");
        if venv.is_file() {
            return venv;
        }
        which::which("ansible-playbook").expect(
            "ansible-playbook not found: run `make tools` (it installs ansible-core into .venv)",
        )
    }

    fn setup(tmp: &Path) -> (Playbook, Files) {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut shadow: crate::contract::Shadow =
            serde_json::from_value(crate::contract::tests::valid()).unwrap();
        shadow.host.address = "127.0.0.1".into();
        let r = render::render(
            &repo.join("templates"),
            &shadow,
            &tmp.join("known_hosts"),
            &repo.join("pipeline/example"),
            "airflow-pw-xyz",
        )
        .unwrap();
        let files = render::write(&tmp.join("ansible"), &tmp.join("known_hosts"), &r).unwrap();
        let mut pb = Playbook::new(ansible_playbook(), &repo);
        pb.playbook = repo.join("tests/fixtures/ansible-local/site.yml");
        (pb, files)
    }

    #[test]
    #[ignore = "needs ansible-playbook (make tools); `make test` runs it"]
    fn a_play_streams_events_stats_and_no_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let (pb, files) = setup(tmp.path());
        let out = pb.run(&files, tmp.path(), &[]).unwrap();
        assert!(out.finished.success(), "{:?}", out.finished.stderr_tail);
        assert!(out.tasks >= 3, "task_start events seen: {}", out.tasks);
        assert_eq!(out.stats["shadow"].changed, 1);
        assert_eq!(out.stats["shadow"].failures, 0);
        let log = std::fs::read_to_string(tmp.path().join("ansible-playbook.jsonl")).unwrap();
        assert!(
            log.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
            "every stdout line is a JSON event:\n{log}"
        );
        assert!(
            !log.contains("s3cretvalue-do-not-print"),
            "no_log result leaked"
        );
        // The command line carries file paths, never secret values.
        let argv = pb.command(&files, &[]).display();
        assert!(
            !argv.contains("s3cretvalue") && !argv.contains("airflow-pw-xyz"),
            "{argv}"
        );
    }

    #[test]
    #[ignore = "needs ansible-playbook (make tools); `make test` runs it"]
    fn a_failed_task_is_reported_with_host_task_message_and_tails() {
        let tmp = tempfile::tempdir().unwrap();
        let (pb, files) = setup(tmp.path());
        let out = pb
            .run(&files, tmp.path(), &["-e", "fail_now=true"])
            .unwrap();
        assert_eq!(out.finished.code(), Some(2));
        let report = failure(&out);
        assert_eq!(report.exit_code(), crate::phase::EXIT_CONFIGURE);
        match &report.details[0] {
            Detail::Ansible {
                host,
                task,
                stdout_tail,
                stderr_tail,
                ..
            } => {
                assert_eq!(host, "shadow");
                assert!(task.contains("Fail on demand"), "{task}");
                assert!(stdout_tail.contains("to-stdout"), "{stdout_tail}");
                assert!(stderr_tail.contains("boom-on-stderr"), "{stderr_tail}");
            }
            other => panic!("{other:?}"),
        }
        assert!(report.summary.contains("Fail on demand"));
    }
}
