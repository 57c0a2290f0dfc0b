//! `tunnel`: keep an SSH tunnel to the env's Airflow open for a browser
//! (on AWS Airflow's port is private), until Ctrl-C.

use super::existing;
use crate::error::Failure;
use crate::supervise;
use crate::tunnel::{split_url, Tunnel};
use anyhow::Result;
use std::time::Duration;

pub fn run(raw: &str, port: u16) -> Result<i32> {
    let dir = existing(raw)?;
    let shadow = dir.contract().ok_or_else(|| {
        Failure::usage(format!(
            "env {raw} has no host yet (not provisioned, or destroyed)"
        ))
    })?;
    let (remote, path) = split_url(&shadow.airflow.url)?;
    // Airflow as the host sees it (the local target's URL is the host's own address).
    let remote = if shadow.airflow.tunnel {
        remote
    } else {
        format!("127.0.0.1:{}", remote.rsplit(':').next().unwrap_or("8080"))
    };
    let logs = std::env::temp_dir();
    let mut tunnel = Tunnel::open(&dir, &shadow, &remote, port, &logs)?;
    // The URL is the command's result: stdout, one line.
    println!("{}", tunnel.url(&path));
    crate::ui::info(&format!(
        "Airflow of env {raw} at {} (user admin, password in {}); Ctrl-C closes the tunnel",
        tunnel.url(&path),
        dir.airflow_password_file().display()
    ));
    // Until Ctrl-C (exit 0: closing it is how one uses it) or ssh ends.
    loop {
        match supervise::pause(Duration::from_millis(500)) {
            Err(e) if matches!(e.downcast_ref::<Failure>(), Some(Failure::Interrupted)) => {
                return Ok(0);
            }
            Err(e) => return Err(e),
            Ok(()) if !tunnel.alive() => {
                anyhow::bail!("ssh ended; the tunnel to {remote} is closed")
            }
            Ok(()) => {}
        }
    }
}
