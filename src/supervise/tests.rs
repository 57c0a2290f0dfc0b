//! The supervision layer against real processes.

use super::*;
use std::time::Instant;

#[test]
fn streams_lines_and_keeps_tails() {
    let tmp = tempfile::tempdir().unwrap();
    let cmd = Cmd::new("sh")
        .args(["-c", "echo one; echo two >&2; echo three; exit 3"])
        .logs(tmp.path().join("o.log"), tmp.path().join("e.log"))
        .capture();
    let mut seen = Vec::new();
    let done = run(&cmd, |e, l| seen.push((e, l.to_string()))).unwrap();
    assert_eq!(done.code(), Some(3));
    assert_eq!(done.stdout, "one\nthree\n");
    assert_eq!(done.stderr_tail, vec!["two".to_string()]);
    assert!(seen.contains(&(true, "two".into())));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("o.log")).unwrap(),
        "one\nthree\n"
    );
    let err = run_ok(&cmd, |_, _| {}).unwrap_err().to_string();
    assert!(
        err.contains("exit status 3") && err.contains("two"),
        "{err}"
    );
}

#[test]
fn missing_program_is_a_clear_error() {
    let err = run(&Cmd::new("/nonexistent/tool"), |_, _| {}).unwrap_err();
    assert!(format!("{err:#}").contains("could not start `/nonexistent/tool`"));
}

#[test]
fn a_log_that_cannot_be_opened_starts_no_child() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    std::fs::write(tmp.path().join("file"), "").unwrap();
    let cmd = Cmd::new("touch")
        .arg(&marker)
        .logs(tmp.path().join("file/o.log"), tmp.path().join("e.log"));
    assert!(run(&cmd, |_, _| {}).is_err());
    assert!(!marker.exists(), "the child ran although its log failed");
}

/// A child that ignores SIGINT and its work past the deadline is killed,
/// reported with its deadline, and the stop is in its stderr log.
#[test]
fn a_child_past_its_deadline_is_stopped_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let pidfile = tmp.path().join("grandchild.pid");
    let script = format!(
        "trap '' INT; sleep 60 & echo $! > {}; echo working; wait",
        pidfile.display()
    );
    let cmd = Cmd::new("sh")
        .args(["-c", &script])
        .logs(tmp.path().join("o.log"), tmp.path().join("e.log"))
        .deadline(Duration::from_millis(500))
        .grace(Duration::from_millis(500));
    let started = Instant::now();
    let err = run(&cmd, |_, _| {}).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let e = err
        .downcast_ref::<DeadlineExceeded>()
        .expect("a deadline error");
    assert!(e.how.contains("SIGKILL"), "{}", e.how);
    let log = std::fs::read_to_string(tmp.path().join("e.log")).unwrap();
    assert!(log.contains("deadline of 0s passed"), "{log}");
    assert!(log.contains("sending SIGKILL"), "{log}");
    // The whole group went, the grandchild too.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Gone, or a zombie nobody reaped yet (PID 1 here may not reap).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    assert!(
        matches!(state, None | Some("Z") | Some("X")),
        "grandchild {pid} survived: {stat}"
    );
}

#[test]
fn a_child_that_stops_on_sigint_is_not_killed() {
    let cmd = Cmd::new("sleep")
        .arg("30")
        .deadline(Duration::from_millis(300))
        .grace(Duration::from_secs(20));
    let err = run(&cmd, |_, _| {}).unwrap_err();
    // How it ended is the proof (a child that ignored SIGINT would end by
    // SIGKILL after the grace), not how long it took: no timed assertion.
    let e = err.downcast_ref::<DeadlineExceeded>().unwrap();
    assert_eq!(e.how, "SIGINT");
}

#[test]
fn waits_end_ready_failed_or_timed_out() {
    let mut n = 0;
    let v = wait(
        "counting",
        Duration::from_secs(5),
        Duration::from_millis(1),
        move || {
            n += 1;
            if n == 3 {
                Probe::Ready(n)
            } else {
                Probe::Pending(format!("n={n}"))
            }
        },
    )
    .unwrap();
    assert_eq!(v, 3);
    let err = wait::<()>(
        "never",
        Duration::from_millis(200),
        Duration::from_millis(10),
        || Probe::Pending("still no".into()),
    )
    .unwrap_err();
    let t = err.downcast_ref::<WaitTimedOut>().expect("timed out");
    assert_eq!(t.last, "still no");
    let err = wait::<()>(
        "broken",
        Duration::from_secs(5),
        Duration::from_millis(10),
        || Probe::Failed(anyhow::anyhow!("401")),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "401");
}

/// A probe stuck in I/O does not hold the wait past its limit.
#[test]
fn a_blocked_probe_does_not_hold_the_wait() {
    let started = Instant::now();
    let err = wait::<()>(
        "stuck",
        Duration::from_millis(300),
        Duration::from_millis(10),
        || {
            std::thread::sleep(Duration::from_secs(5));
            Probe::Pending("slept".into())
        },
    )
    .unwrap_err();
    assert!(err.downcast_ref::<WaitTimedOut>().is_some());
    assert!(started.elapsed() < Duration::from_secs(2));
}
