//! The pipeline phase: trigger the DAG over Airflow's REST API, follow every
//! task, fetch failed tasks' logs, confirm the success e-mail, write JUnit.

use crate::report::{Detail, FailureReport, Phase};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskOutcome {
    pub task_id: String,
    pub state: String,
    pub duration_s: Option<f64>,
    pub try_number: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRun {
    pub dag_id: String,
    pub run_id: String,
    pub state: String,
    pub duration_s: f64,
    pub tasks: Vec<TaskOutcome>,
    /// The pipeline's own tests, run before the DAG.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<crate::on_host::TestCase>,
    pub email_seen: Option<bool>,
    pub email_subject: Option<String>,
    pub email_summary: Option<String>,
}

pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The per-task table printed at the end (stdout: it is the result).
pub fn table(run: &PipelineRun) -> String {
    let mut s = String::new();
    if !run.tests.is_empty() {
        let n = |o: &str| run.tests.iter().filter(|t| t.outcome == o).count();
        s.push_str(&format!(
            "tests: {} passed, {} failed, {} skipped\n",
            n("passed"),
            n("failed") + n("error"),
            n("skipped")
        ));
        for t in run.tests.iter().filter(|t| t.failed()) {
            s.push_str(&format!("  FAILED {}: {}: {}\n", t.file, t.test, t.message));
        }
    }
    s.push_str(&format!(
        "DAG {} run {}: {}\n",
        run.dag_id, run.run_id, run.state
    ));
    s.push_str(&format!(
        "  {:<24} {:<16} {:>9}\n",
        "TASK", "STATE", "DURATION"
    ));
    for t in &run.tasks {
        let d = t
            .duration_s
            .map(|d| format!("{d:.1}s"))
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!("  {:<24} {:<16} {:>9}\n", t.task_id, t.state, d));
    }
    match (run.email_seen, &run.email_subject) {
        (Some(true), Some(subj)) => s.push_str(&format!("  e-mail: received: {subj}\n")),
        (Some(false), _) => s.push_str("  e-mail: NOT received\n"),
        _ => {}
    }
    if let Some(sum) = &run.email_summary {
        s.push_str(&format!("  summary: {sum}\n"));
    }
    s
}

/// A failed pipeline's report: every failed task with its log tail.
pub fn failure(run: &PipelineRun, why: &str) -> FailureReport {
    let failed: Vec<&TaskOutcome> = run.tasks.iter().filter(|t| t.state == "failed").collect();
    let mut r = FailureReport::new(Phase::Pipeline, why.to_string());
    if let Some(first) = failed.first() {
        r.summary = format!("task {} failed in DAG run {}", first.task_id, run.run_id);
    }
    for t in run.tasks.iter().filter(|t| t.state != "success") {
        r = r.with_detail(Detail::Task {
            task: t.task_id.clone(),
            state: t.state.clone(),
            log_tail: t.log_tail.clone(),
            log_file: t.log_file.clone(),
        });
    }
    r
}

/// One JUnit test case per task; failures carry the task's log tail.
pub fn write_junit(path: &Path, run: &PipelineRun) -> Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("shadowops");
    let mut suite = TestSuite::new(format!("{}.{}", run.dag_id, run.run_id));
    for t in &run.tasks {
        let status = match t.state.as_str() {
            "success" => TestCaseStatus::success(),
            "skipped" => TestCaseStatus::skipped(),
            state => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("task {} ended {state}", t.task_id));
                s.set_description(t.log_tail.clone());
                s
            }
        };
        let mut case = TestCase::new(t.task_id.clone(), status);
        case.set_classname(run.dag_id.clone());
        if let Some(d) = t.duration_s {
            case.set_time(Duration::from_secs_f64(d.max(0.0)));
        }
        suite.add_test_case(case);
    }
    if run.email_seen == Some(false) {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message("the success e-mail did not arrive");
        let mut case = TestCase::new("success-email", s);
        case.set_classname(run.dag_id.clone());
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    if !run.tests.is_empty() {
        let mut tests = TestSuite::new(format!("{}.tests", run.dag_id));
        for t in &run.tests {
            let status = match t.outcome.as_str() {
                "passed" => TestCaseStatus::success(),
                "skipped" => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(t.message.clone());
                    s
                }
                o => {
                    let kind = if o == "error" {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    let mut s = TestCaseStatus::non_success(kind);
                    s.set_message(t.message.clone());
                    s
                }
            };
            let mut case = TestCase::new(t.test.clone(), status);
            case.set_classname(format!("{}.{}", run.dag_id, t.file.trim_end_matches(".R")));
            case.set_time(Duration::from_secs_f64(t.seconds.max(0.0)));
            tests.add_test_case(case);
        }
        report.add_test_suite(tests);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, report.to_string()?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A success e-mail found in the inbox.
#[derive(Debug, Clone)]
pub struct Mail {
    pub file: PathBuf,
    pub subject: String,
    pub body_text: String,
}

/// Wait for an `.eml` in `inbox` newer than `since` whose subject names
/// `run_id`; parse it with a real MIME parser (multipart, base64 HTML).
pub fn wait_for_mail(
    inbox: &Path,
    run_id: &str,
    since: SystemTime,
    limit: Duration,
) -> Result<Option<Mail>> {
    let (inbox, run) = (inbox.to_path_buf(), run_id.to_string());
    let found = crate::supervise::wait(
        &format!("the success e-mail for {run_id} in {}", inbox.display()),
        limit,
        Duration::from_millis(500),
        move || match find_mail(&inbox, &run, since) {
            Some(m) => crate::supervise::Probe::Ready(m),
            None => crate::supervise::Probe::Pending("no matching message".into()),
        },
    );
    match found {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.downcast_ref::<crate::supervise::WaitTimedOut>().is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// One look into the inbox for a message that names `run_id`.
fn find_mail(inbox: &Path, run_id: &str, since: SystemTime) -> Option<Mail> {
    for e in std::fs::read_dir(inbox).ok()?.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("eml") {
            continue;
        }
        let newer = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|m| m >= since - Duration::from_secs(2))
            .unwrap_or(true);
        if !newer {
            continue;
        }
        if let Some(mail) = parse_mail(&p) {
            if mail.subject.contains(run_id) || mail.body_text.contains(run_id) {
                return Some(mail);
            }
        }
    }
    None
}

pub fn parse_mail(path: &Path) -> Option<Mail> {
    let raw = std::fs::read(path).ok()?;
    let msg = mail_parser::MessageParser::default().parse(&raw)?;
    let subject = msg.subject().unwrap_or("").to_string();
    let body_text = msg
        .body_text(0)
        .map(|t| t.into_owned())
        .or_else(|| msg.body_html(0).map(|h| strip_tags(&h)))
        .unwrap_or_default();
    Some(Mail {
        file: path.to_path_buf(),
        subject,
        body_text,
    })
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_airflow_multipart_base64_html_mail() {
        let tmp = tempfile::tempdir().unwrap();
        let html = "<p>shadow_pipeline run <b>manual__x1</b> ok: 1200 orders, revenue 98765.43</p>";
        let b64 = {
            use std::fmt::Write;
            // Minimal base64 for the test fixture (RFC 4648 alphabet).
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let bytes = html.as_bytes();
            let mut s = String::new();
            for chunk in bytes.chunks(3) {
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
                for i in 0..4 {
                    if i <= chunk.len() {
                        let _ = write!(s, "{}", A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                    } else {
                        s.push('=');
                    }
                }
            }
            s
        };
        let eml = format!(
            "From: a@b\r\nTo: c@d\r\nSubject: [shadowops] shadow: shadow_pipeline succeeded (manual__x1)\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--XX--\r\n"
        );
        std::fs::write(tmp.path().join("1.eml"), eml).unwrap();
        let m = wait_for_mail(
            tmp.path(),
            "manual__x1",
            SystemTime::now() - Duration::from_secs(60),
            Duration::ZERO,
        )
        .unwrap()
        .expect("mail found");
        assert!(m.subject.contains("succeeded"));
        assert!(
            m.body_text.contains("1200 orders, revenue 98765.43"),
            "{}",
            m.body_text
        );
        assert!(
            wait_for_mail(tmp.path(), "other-run", SystemTime::now(), Duration::ZERO)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn junit_has_a_case_per_task_and_failure_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let run = PipelineRun {
            dag_id: "shadow_pipeline".into(),
            run_id: "r1".into(),
            state: "failed".into(),
            duration_s: 3.0,
            tasks: vec![
                TaskOutcome {
                    task_id: "extract".into(),
                    state: "success".into(),
                    duration_s: Some(1.0),
                    try_number: 1,
                    log_file: None,
                    log_tail: String::new(),
                },
                TaskOutcome {
                    task_id: "analyse".into(),
                    state: "failed".into(),
                    duration_s: Some(1.0),
                    try_number: 1,
                    log_file: None,
                    log_tail: "Error: relation missing_table does not exist".into(),
                },
            ],
            tests: vec![
                crate::on_host::TestCase {
                    file: "test-sums.R".into(),
                    test: "sums add up".into(),
                    outcome: "passed".into(),
                    seconds: 0.1,
                    message: String::new(),
                },
                crate::on_host::TestCase {
                    file: "test-schema.R".into(),
                    test: "the column exists".into(),
                    outcome: "failed".into(),
                    seconds: 0.2,
                    message: "Expected TRUE, got FALSE".into(),
                },
            ],
            email_seen: Some(false),
            email_subject: None,
            email_summary: None,
        };
        let p = tmp.path().join("j/junit.xml");
        write_junit(&p, &run).unwrap();
        let xml = std::fs::read_to_string(p).unwrap();
        assert!(xml.contains("name=\"extract\"") && xml.contains("name=\"analyse\""));
        assert!(xml.contains("relation missing_table does not exist"));
        assert!(xml.contains("success-email"));
        assert!(
            xml.contains("name=\"the column exists\"") && xml.contains("Expected TRUE, got FALSE")
        );
        assert!(xml.contains("classname=\"shadow_pipeline.test-sums\""));
        let text = table(&run);
        assert!(
            text.contains("tests: 1 passed, 1 failed") && text.contains("FAILED test-schema.R")
        );
        assert!(text.contains("analyse") && text.contains("NOT received"));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
    }
}
