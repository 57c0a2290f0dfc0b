//! What the driver runs on the env's host over SSH (pinned host key), through
//! `shadowops-pipeline`, the entry point the pipeline role installs: the
//! DAG parse (`airflow dags reserialize`) and the pipeline's own testthat
//! tests against the shadow warehouse. Both run as the Airflow user with the
//! environment the DAG's tasks get.

use crate::contract::Shadow;
use crate::env::EnvDir;
use crate::supervise::{self, Cmd, Finished};
use crate::tunnel::{ssh, ssh_destination};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

const ENTRY: &str = "/usr/local/bin/shadowops-pipeline";

/// One testthat test's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TestCase {
    pub file: String,
    pub test: String,
    /// passed, failed, error or skipped.
    pub outcome: String,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl TestCase {
    pub fn failed(&self) -> bool {
        self.outcome == "failed" || self.outcome == "error"
    }
}

fn remote(dir: &EnvDir, shadow: &Shadow, args: &[&str]) -> Cmd {
    ssh(dir, shadow)
        .arg(ssh_destination(shadow))
        .arg("--")
        .args(["sudo", "-n", ENTRY])
        .args(args)
}

/// Parse and store every DAG now, so the trigger never waits for the DAG
/// processor's next pass.
pub fn reserialize(dir: &EnvDir, shadow: &Shadow, log_dir: &Path) -> Result<()> {
    let cmd = remote(dir, shadow, &["reserialize"])
        .logs(
            log_dir.join("reserialize.out.log"),
            log_dir.join("reserialize.err.log"),
        )
        .deadline(Duration::from_secs(300))
        .grace(Duration::from_secs(5));
    supervise::run_ok(&cmd, |_, _| {}).context("airflow dags reserialize on the host")?;
    Ok(())
}

/// Point the R code on the host at `schema` (None: the default schema).
pub fn set_schema(
    dir: &EnvDir,
    shadow: &Shadow,
    schema: Option<&str>,
    log_dir: &Path,
) -> Result<()> {
    let mut args = vec!["schema"];
    if let Some(s) = schema {
        args.push(s);
    }
    let cmd = remote(dir, shadow, &args)
        .logs(
            log_dir.join("schema.out.log"),
            log_dir.join("schema.err.log"),
        )
        .deadline(Duration::from_secs(60));
    supervise::run_ok(&cmd, |_, _| {}).context("setting the warehouse schema on the host")?;
    Ok(())
}

/// A note to the pipeline's recipients through its own SMTP connection
/// (the compare verdict). Subject and body travel base64-encoded: safe in
/// the remote shell's command line, and nothing in them is secret.
pub fn send_mail(
    dir: &EnvDir,
    shadow: &Shadow,
    subject: &str,
    body: &str,
    log_dir: &Path,
) -> Result<()> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let (s, b) = (b64(subject), b64(body));
    let cmd = remote(dir, shadow, &["mail", &s, &b])
        .logs(log_dir.join("mail.out.log"), log_dir.join("mail.err.log"))
        .deadline(Duration::from_secs(120));
    supervise::run_ok(&cmd, |_, _| {}).context("mailing through the env's SMTP relay")?;
    Ok(())
}

/// The pipeline's tests in `tests_dir` (relative to the deployed pipeline).
/// Returns every test's result and the runner's exit; the full output is in
/// `log_dir/pipeline-tests.log`.
pub fn run_tests(
    dir: &EnvDir,
    shadow: &Shadow,
    tests_dir: &str,
    run_id: &str,
    log_dir: &Path,
) -> Result<(Vec<TestCase>, Finished)> {
    let results = format!("/tmp/shadowops-tests-{run_id}.tsv");
    let deadline =
        supervise::deadline_from_env("SHADOWOPS_TESTS_TIMEOUT", Duration::from_secs(1800))?;
    let cmd = remote(dir, shadow, &["test", tests_dir, &results])
        .logs(
            log_dir.join("pipeline-tests.log"),
            log_dir.join("pipeline-tests.log"),
        )
        .deadline(deadline)
        .grace(Duration::from_secs(10));
    let done = supervise::run(&cmd, |_, line| crate::ui::debug(&format!("  test: {line}")))?;
    let fetch = ssh(dir, shadow)
        .arg(ssh_destination(shadow))
        .args(["--", "sudo", "-n", "cat", &results])
        .capture()
        .deadline(Duration::from_secs(60));
    let tsv = supervise::run_ok(&fetch, |_, _| {})
        .map(|f| f.stdout)
        .unwrap_or_default();
    Ok((parse_results(&tsv), done))
}

/// The runner's TSV: a header, then file, test, outcome, seconds, message.
pub fn parse_results(tsv: &str) -> Vec<TestCase> {
    tsv.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.splitn(5, '\t');
            Some(TestCase {
                file: f.next()?.to_string(),
                test: f.next()?.to_string(),
                outcome: f.next()?.to_string(),
                seconds: f.next()?.parse().unwrap_or(0.0),
                message: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_results_parse() {
        let tsv = "file\ttest\toutcome\tseconds\tmessage\n\
                   test-a.R\tsums add up\tpassed\t0.01\t\n\
                   test-b.R\tthe column exists\tfailed\t0.2\tExpected TRUE, got FALSE\n";
        let r = parse_results(tsv);
        assert_eq!(r.len(), 2);
        assert!(!r[0].failed() && r[1].failed());
        assert_eq!(r[1].message, "Expected TRUE, got FALSE");
        assert!(parse_results("").is_empty());
    }
}
