//! End to end: what an interruption or a crash leaves behind, on the real
//! local target. Ctrl-C in a wait ends in 130 within 2 s; a SIGKILL of the
//! driver and every process under it, in any phase, is followed by an `up`
//! that reaches the e-mail; `destroy` then leaves nothing.

mod common;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn leftovers(env: &str) -> Vec<String> {
    let filter = format!("label=shadowops.env={env}");
    let mut left: Vec<String> =
        podman(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
            .lines()
            .map(str::to_string)
            .collect();
    left.extend(
        podman(&[
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ])
        .lines()
        .map(str::to_string),
    );
    left
}

/// `up` with stderr read line by line into a channel (and kept for messages).
struct Driver {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Driver {
    fn start(sb: &Sandbox, args: &[&str]) -> Driver {
        let mut child = sb
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Driver {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read stderr until a line contains `marker` (panics after `limit`).
    fn wait_for(&mut self, marker: &str, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let hit = l.contains(marker);
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "no line with {marker:?} within {limit:?}; stderr so far:\n{}",
            self.seen.join("\n")
        );
    }

    /// Wait for the exit; returns (code, how long it took).
    fn exit(&mut self, limit: Duration) -> (i32, Duration) {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                return (st.code().unwrap_or(-1), start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "driver still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        self.seen.join("\n")
    }
}

/// Every process under `pid` (children, their children...), from /proc.
fn descendants(pid: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let after = stat.rsplit(')').next().unwrap_or("");
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<i32>().ok())
        {
            parent_of.push((p, ppid));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parent_of {
            if *pp == p && !out.contains(c) {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out
}

/// A crash of the driver's machine side: the driver and everything it
/// started (Terraform, provisioners, podman, ansible, ssh) get SIGKILL at
/// once. Stopped first so nothing reacts to the others dying.
fn crash(driver: &mut Driver) {
    let root = driver.child.id() as i32;
    let mut all = vec![root];
    for _ in 0..3 {
        for p in &all {
            let _ = kill(Pid::from_raw(*p), Signal::SIGSTOP);
        }
        for p in descendants(root) {
            if !all.contains(&p) {
                all.push(p);
            }
        }
    }
    for p in &all {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    let _ = driver.child.wait();
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_ctrl_c_in_the_health_wait_and_while_following_the_dag_ends_in_130() {
    let sb = Sandbox::real();
    let env = "e2e-int";
    let _cleanup = sb.cleanup(vec![env]);

    // 1. Ctrl-C right after the play: the driver is in Airflow's health wait
    //    (or, on a fast machine, already past it): 130 within 2 s either way.
    let mut up = Driver::start(&sb, &["up", "--env", env, "--ttl", "30m"]);
    up.wait_for("playbook:", Duration::from_secs(600));
    kill(Pid::from_raw(up.child.id() as i32), Signal::SIGINT).unwrap();
    let (code, took) = up.exit(Duration::from_secs(30));
    assert_eq!(code, 130, "{}", up.stderr());
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} to stop:\n{}",
        up.stderr()
    );
    let st = json(&sb.run(&["status", "--env", env, "--json"]).expect(0).stdout);
    assert_eq!(st["status"], "interrupted", "{st:#}");

    // 2. The next up resumes; Ctrl-C while it follows the DAG run.
    let mut up = Driver::start(&sb, &["up", "--env", env, "--ttl", "30m"]);
    up.wait_for("triggered as", Duration::from_secs(300));
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(up.child.id() as i32), Signal::SIGINT).unwrap();
    let (code, took) = up.exit(Duration::from_secs(30));
    assert_eq!(code, 130, "{}", up.stderr());
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} to stop:\n{}",
        up.stderr()
    );
    assert!(!up.stderr().contains("pipeline failed"), "{}", up.stderr());

    // 3. `shadowops tunnel` serves Airflow on a local port until Ctrl-C.
    let mut tun = sb
        .cmd(&["tunnel", "--env", env])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(tun.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");
    let health: serde_json::Value = ureq::get(&format!("{url}/api/v2/monitor/health"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert!(health.get("metadatabase").is_some(), "{health}");
    kill(Pid::from_raw(tun.id() as i32), Signal::SIGINT).unwrap();
    let start = Instant::now();
    let st = tun.wait().unwrap();
    assert!(
        st.success() && start.elapsed() < Duration::from_secs(3),
        "{st:?}"
    );
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "tunnel still open"
    );

    // 4. destroy leaves nothing.
    sb.run(&["destroy", "--env", env]).expect(0);
    assert_eq!(leftovers(env), Vec::<String>::new());
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_a_crash_in_any_phase_is_followed_by_an_up_that_reaches_the_email() {
    let sb = Sandbox::real();
    let env = "e2e-crash";
    let _cleanup = sb.cleanup(vec![env]);
    let up_args = ["up", "--env", env, "--ttl", "30m"];
    // (marker on stderr, then how long to let it run before the crash)
    let crashes = [
        ("==> provision", Duration::from_secs(2)),
        ("==> configure", Duration::from_secs(2)),
        // The longest install task of the play, in its middle.
        ("Install Airflow and its providers", Duration::from_secs(3)),
        ("==> pipeline", Duration::from_secs(2)),
    ];
    for (marker, after) in crashes {
        let mut up = Driver::start(&sb, &up_args);
        up.wait_for(marker, Duration::from_secs(600));
        std::thread::sleep(after);
        crash(&mut up);
        eprintln!("crashed {after:?} after {marker:?}");
    }
    // The last up reaches Airflow through an SSH tunnel, as on AWS.
    let out = sb
        .cmd(&up_args)
        .env("SHADOWOPS_AIRFLOW_TUNNEL", "always")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("success e-mail:"), "{stderr}");
    let run = latest_run(&sb.env_dir(env)).unwrap();
    let tunnels: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ssh-tunnel-"))
        .collect();
    assert!(
        !tunnels.is_empty(),
        "no tunnel was used in {}",
        run.display()
    );
    // ... and closed it: no ssh -L of this env is left running.
    let host = json(&std::fs::read_to_string(sb.env_dir(env).join("contract.json")).unwrap())
        ["host"]["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !descendants(1)
            .iter()
            .any(|p| std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("-L")
                    && String::from_utf8_lossy(&c).contains(&host))
                .unwrap_or(false)),
        "an ssh tunnel to {host} outlived the up"
    );
    let st = json(&sb.run(&["status", "--env", env, "--json"]).expect(0).stdout);
    assert_eq!(st["status"], "ready", "{st:#}");
    sb.run(&["destroy", "--env", env]).expect(0);
    assert_eq!(leftovers(env), Vec::<String>::new());
}
