//! Leases with the real binary on the fixture module: the detached reaper,
//! extend, destroy disarming, and reap racing other commands.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn status(sb: &Sandbox, env: &str) -> serde_json::Value {
    json(&sb.run(&["status", "--env", env, "--json"]).expect(0).stdout)
}

fn pid_alive(pid: u64) -> bool {
    // A zombie is not alive: look at the state in /proc.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

fn destroy_runs(sb: &Sandbox, env: &str) -> usize {
    std::fs::read_dir(sb.env_dir(env).join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("destroy"))
        .count()
}

#[test]
fn the_reaper_destroys_at_the_deadline_and_then_exits() {
    let sb = Sandbox::fixture();
    sb.run(&[
        "up",
        "--env",
        "reaped",
        "--until",
        "provision",
        "--ttl",
        // Long enough that a slow `up` on a loaded machine ends well before it.
        "8s",
    ])
    .expect(0);
    let s = status(&sb, "reaped");
    let pid = s["reaper"]["pid"].as_u64().unwrap();
    assert!(pid_alive(pid));
    // The lease began before `up` returned: this is a bound on its end.
    let deadline = Instant::now() + Duration::from_secs(8);
    assert!(
        wait_for(Duration::from_secs(30), || status(&sb, "reaped")["status"]
            == "destroyed"),
        "the reaper did not destroy the env"
    );
    assert!(
        Instant::now() < deadline + Duration::from_secs(10),
        "destroyed more than 10 s after the deadline"
    );
    assert!(
        wait_for(Duration::from_secs(5), || !pid_alive(pid)),
        "the reaper stayed behind"
    );
    let logs = sb.run(&["logs", "--env", "reaped"]);
    assert!(
        logs.stdout.contains("lease expired"),
        "reaper log is kept with the destroy run:\n{}",
        logs.stdout
    );
}

#[test]
fn extend_postpones_and_destroy_disarms() {
    let sb = Sandbox::fixture();
    sb.run(&[
        "up",
        "--env",
        "extended",
        "--until",
        "provision",
        "--ttl",
        "12s",
    ])
    .expect(0);
    let before = status(&sb, "extended");
    let pid = before["reaper"]["pid"].as_u64().unwrap();
    let first_deadline =
        Instant::now() + Duration::from_secs(before["time_left_s"].as_u64().unwrap());
    sb.run(&["extend", "--env", "extended", "40s"]).expect(0);
    // Past the first deadline (and the reaper's 1 s re-read), not destroyed.
    wait_for(Duration::from_secs(60), || {
        Instant::now() > first_deadline + Duration::from_secs(2)
    });
    let s = status(&sb, "extended");
    assert_eq!(s["status"], "provisioned", "destroyed despite extend");
    assert!(s["time_left_s"].as_u64().unwrap() > 10);
    assert!(pid_alive(pid), "the same reaper keeps watching");
    // The lease file (read by the local backstops) moved too.
    let lease: u64 = std::fs::read_to_string(sb.env_dir("extended").join("lease"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(lease > now + 10);
    sb.run(&["destroy", "--env", "extended"]).expect(0);
    assert!(
        wait_for(Duration::from_secs(5), || !pid_alive(pid)),
        "destroy left the reaper running"
    );
    for bad in ["0s", "-1m", "later", "48h"] {
        let r = sb.run(&["extend", "--env", "extended", bad]);
        r.expect(2);
    }
}

#[test]
fn reap_collects_expired_envs_whose_reaper_is_gone_exactly_once() {
    let sb = Sandbox::fixture();
    for env in ["orphan-a", "orphan-b"] {
        // Long enough that a slow `up` on a loaded machine ends before its lease.
        sb.run(&["up", "--env", env, "--until", "provision", "--ttl", "25s"])
            .expect(0);
        let pid = status(&sb, env)["reaper"]["pid"].as_u64().unwrap();
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(wait_for(Duration::from_secs(5), || !pid_alive(pid)));
    }
    // Both leases end while no reaper is left to act on them.
    assert!(wait_for(Duration::from_secs(60), || [
        "orphan-a", "orphan-b"
    ]
    .iter()
    .all(|e| status(&sb, e)["time_left_s"] == 0)));
    let dry = sb.run(&["reap", "--dry-run"]);
    dry.expect(0);
    assert!(
        dry.stdout.contains("would destroy env orphan-a")
            && dry.stdout.contains("would destroy env orphan-b"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        status(&sb, "orphan-a")["status"],
        "provisioned",
        "dry run destroyed something"
    );
    // Two reaps at once: each env is destroyed once.
    let mut children: Vec<_> = (0..2).map(|_| sb.cmd(&["reap"]).spawn().unwrap()).collect();
    for c in children.iter_mut() {
        assert!(c.wait().unwrap().success());
    }
    for env in ["orphan-a", "orphan-b"] {
        assert_eq!(status(&sb, env)["status"], "destroyed");
        assert_eq!(
            destroy_runs(&sb, env),
            1,
            "env {env} destroyed more than once"
        );
    }
}

#[test]
fn reap_leaves_an_env_alone_while_up_holds_its_lock() {
    let mut sb = Sandbox::fixture();
    // The lease ends while the (slow) apply still runs and holds the lock.
    sb.set("TF_VAR_slow_seconds", "25");
    let up = sb
        .cmd(&["up", "--env", "busy", "--until", "provision", "--ttl", "2s"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = sb.env_dir("busy").join("env.json");
    assert!(wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&state)
            .unwrap_or_default()
            .contains("\"provisioning\"")
    }));
    // The lease has ended while the apply still holds the lock.
    assert!(wait_for(Duration::from_secs(20), || {
        status(&sb, "busy")["time_left_s"].as_u64() == Some(0)
    }));
    sb.envs.clear();
    let r = sb.run(&["reap"]);
    r.expect(0);
    assert!(
        r.stderr.contains("env busy is busy; skipping"),
        "{}",
        r.stderr
    );
    let out = up.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "up was disturbed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its lease is long past: the reaper it armed collects it promptly.
    assert!(wait_for(Duration::from_secs(30), || status(&sb, "busy")
        ["status"]
        == "destroyed"));
}

#[test]
fn up_wait_destroys_at_the_deadline_and_on_ctrl_c() {
    let sb = Sandbox::fixture();
    let r = sb.run(&[
        "up",
        "--env",
        "waiter",
        "--until",
        "provision",
        "--ttl",
        "8s",
        "--wait",
    ]);
    r.expect(0);
    assert!(r.stderr.contains("staying up until"), "{}", r.stderr);
    assert_eq!(status(&sb, "waiter")["status"], "destroyed");
    assert!(
        status(&sb, "waiter")["reaper"]["pid"].is_null(),
        "--wait arms no reaper"
    );

    let mut child = sb
        .cmd(&[
            "up",
            "--env",
            "waiter2",
            "--until",
            "provision",
            "--ttl",
            "10m",
            "--wait",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = sb.env_dir("waiter2").join("env.json");
    assert!(wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&state)
            .unwrap_or_default()
            .contains("\"provisioned\"")
    }));
    // Ctrl-C once the countdown runs (its first line is on stderr).
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("staying up until") {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0,
            "{seen}"
        );
        seen.push_str(&line);
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(&sb, "waiter2")["status"], "destroyed");
}
