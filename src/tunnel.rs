//! SSH tunnels over the env's pinned-host-key connection. On AWS no Airflow
//! port is open to the internet: the contract says `airflow.tunnel = true`,
//! its URL is Airflow as the host sees it (http://127.0.0.1:8080), and the
//! driver reaches it through `ssh -L` with the same key, user and pinned host
//! key as `shadowops ssh`. `shadowops tunnel` keeps one open for a browser.

use crate::contract::Shadow;
use crate::env::EnvDir;
use crate::supervise::{self, Background, Cmd, Probe};
use anyhow::{anyhow, bail, Context, Result};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// An open `ssh -L 127.0.0.1:<local_port>:<remote>`; closed when dropped.
pub struct Tunnel {
    ssh: Background,
    pub local_port: u16,
    log: std::path::PathBuf,
}

/// `SHADOWOPS_AIRFLOW_TUNNEL=always` tunnels even where the contract does
/// not ask for it (the local target: how the tunnel is tested end to end).
pub fn forced() -> bool {
    std::env::var("SHADOWOPS_AIRFLOW_TUNNEL").is_ok_and(|v| v == "always")
}

impl Tunnel {
    /// Open a tunnel to `remote` ("127.0.0.1:8080" as the host sees it) and
    /// wait until it carries a connection. `local_port` 0 picks a free one.
    pub fn open(
        dir: &EnvDir,
        shadow: &Shadow,
        remote: &str,
        local_port: u16,
        log_dir: &Path,
    ) -> Result<Tunnel> {
        let port = if local_port == 0 {
            free_port()?
        } else {
            local_port
        };
        let log = log_dir.join(format!("ssh-tunnel-{port}.log"));
        let cmd = ssh(dir, shadow)
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "ServerAliveInterval=15",
            ])
            .arg("-L")
            .arg(format!("127.0.0.1:{port}:{remote}"))
            .arg(ssh_destination(shadow))
            .logs(log.with_extension("out.log"), &log)
            .grace(Duration::from_secs(3));
        let ssh = supervise::spawn_background(&cmd)?;
        let mut tunnel = Tunnel {
            ssh,
            local_port: port,
            log,
        };
        tunnel.wait_listening(Duration::from_secs(30))?;
        Ok(tunnel)
    }

    /// ssh listens on the local port once it is authenticated and the
    /// forward is set up; if it exits first, its log says why.
    fn wait_listening(&mut self, limit: Duration) -> Result<()> {
        let port = self.local_port;
        let up = supervise::wait(
            &format!("the SSH tunnel on 127.0.0.1:{port}"),
            limit,
            Duration::from_millis(100),
            move || match TcpStream::connect(("127.0.0.1", port)) {
                Ok(_) => Probe::Ready(()),
                Err(e) => Probe::Pending(e.to_string()),
            },
        );
        if up.is_ok() && self.ssh.running() {
            return Ok(());
        }
        let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(5).collect();
        let why = if tail.is_empty() {
            "no output".into()
        } else {
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        };
        match up {
            Err(e) => Err(e.context(format!(
                "`{}`: {why} (log {})",
                self.ssh.command,
                self.log.display()
            ))),
            Ok(()) => bail!(
                "`{}` exited: {why} (log {})",
                self.ssh.command,
                self.log.display()
            ),
        }
    }

    /// Is ssh still running?
    pub fn alive(&mut self) -> bool {
        self.ssh.running()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.local_port)
    }
}

/// `ssh` to the env's host with its key and pinned host key, never
/// prompting (BatchMode) and never accepting an unknown host key. Add
/// options, then [`ssh_destination`] and the remote command.
pub fn ssh(dir: &EnvDir, shadow: &Shadow) -> Cmd {
    Cmd::new("ssh")
        .args(["-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.known_hosts().display()
        ))
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=15",
        ])
        .arg("-i")
        .arg(&shadow.host.ssh_private_key_file)
        .arg("-p")
        .arg(shadow.host.ssh_port.to_string())
}

pub fn ssh_destination(shadow: &Shadow) -> String {
    format!("{}@{}", shadow.host.ssh_user, shadow.host.address)
}

fn free_port() -> Result<u16> {
    // Bound and released at once; ExitOnForwardFailure reports the rare race.
    let l = TcpListener::bind(("127.0.0.1", 0)).context("finding a free local port")?;
    Ok(l.local_addr()?.port())
}

/// "http://127.0.0.1:8080/x" -> ("127.0.0.1:8080", "/x").
pub fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("{url:?}: only http:// URLs are tunnelled"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    Ok((hostport, path.trim_end_matches('/').to_string()))
}

/// Airflow's base URL as this driver reaches it: the contract's URL, or a
/// tunnel to it when the contract (or SHADOWOPS_AIRFLOW_TUNNEL) asks for one.
pub fn airflow(dir: &EnvDir, shadow: &Shadow, log_dir: &Path) -> Result<(String, Option<Tunnel>)> {
    if !(shadow.airflow.tunnel || forced()) {
        return Ok((shadow.airflow.url.clone(), None));
    }
    let (remote, path) = split_url(&shadow.airflow.url)?;
    // The host's view of Airflow: reachable from the host itself.
    let remote = if shadow.airflow.tunnel {
        remote
    } else {
        format!("127.0.0.1:{}", remote.rsplit(':').next().unwrap_or("8080"))
    };
    let t = Tunnel::open(dir, shadow, &remote, 0, log_dir)
        .context("opening the SSH tunnel to Airflow")?;
    let url = t.url(&path);
    crate::ui::debug(&format!("Airflow through {url} (ssh -L to {remote})"));
    Ok((url, Some(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_the_remote_and_the_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1:8080".into(), "".into())
        );
        assert_eq!(
            split_url("http://10.0.0.5:8080/airflow/").unwrap(),
            ("10.0.0.5:8080".into(), "/airflow".into())
        );
        assert_eq!(
            split_url("http://host").unwrap(),
            ("host:80".into(), "".into())
        );
        assert!(split_url("https://x").is_err());
    }
}
