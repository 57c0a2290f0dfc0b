//! `ssh`: to the env's host with its pinned host key (never unchecked).

use super::existing;
use crate::error::Failure;
use anyhow::{Context, Result};

pub fn run(raw: &str, cmd: Vec<String>) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let dir = existing(raw)?;
    let shadow = dir.contract().ok_or_else(|| {
        Failure::usage(format!(
            "env {raw} has no host yet (not provisioned, or destroyed)"
        ))
    })?;
    let mut c = std::process::Command::new("ssh");
    c.arg("-i")
        .arg(&shadow.host.ssh_private_key_file)
        .arg("-p")
        .arg(shadow.host.ssh_port.to_string())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.known_hosts().display()
        ))
        .arg("-o")
        .arg("StrictHostKeyChecking=yes")
        .arg("-o")
        .arg("IdentitiesOnly=yes")
        .arg(format!("{}@{}", shadow.host.ssh_user, shadow.host.address));
    if !cmd.is_empty() {
        c.arg("--").args(&cmd);
    }
    // Replace ourselves: the user's terminal talks to ssh directly.
    let err = c.exec();
    Err(err).context("running ssh")
}
