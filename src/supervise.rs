//! The one supervision layer: every child process and every wait of the
//! driver goes through here, and each ends one of three ways — completion,
//! its deadline, or an interruption (Ctrl-C / SIGTERM) — reported the same
//! way everywhere.
//!
//! Built on tokio. The phases themselves are plain synchronous code (blocking
//! HTTP, file I/O); they call [`run`], [`wait`] and [`pause`], which drive a
//! future to its end with `tokio::select!` over the work, a deadline and the
//! interrupt signal. The runtime has one worker thread so that signals are
//! received at any moment, also while the main thread is busy between two
//! supervised calls (a current-thread runtime would only notice them inside
//! the next call). See docs/architecture.md.
//!
//! Children run in their own process group: a terminal's Ctrl-C reaches only
//! the driver, which forwards it to the child's group and then *waits* for
//! the child (Terraform must get the chance to release its state lock),
//! within a grace period after which the group is killed.

use crate::error::Failure;
use anyhow::{Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

/// Lines of stdout/stderr kept for error reports.
const TAIL_LINES: usize = 40;
/// Every child has a deadline; this one applies when the caller sets none.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2 * 3600);
/// After SIGINT (deadline or Ctrl-C), how long a child may take to stop
/// before its process group is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// After a child exits, how long its pipes may stay open (a grandchild that
/// inherited them) before we stop reading.
const DRAIN: Duration = Duration::from_secs(2);

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
/// (number of signals received so far, the last one). Every running child
/// and wait subscribes; the count tells a second Ctrl-C from the first.
static SIGNALS: OnceLock<watch::Sender<(u32, i32)>> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Children currently supervised (a signal with none running gets a note).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

fn runtime() -> &'static tokio::runtime::Runtime {
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(8)
            .thread_name("shadowops-supervise")
            .enable_all()
            .build()
            .expect("building the tokio runtime")
    })
}

fn signals() -> &'static watch::Sender<(u32, i32)> {
    SIGNALS.get_or_init(|| watch::channel((0, 0)).0)
}

/// Start listening for SIGINT and SIGTERM. Called once from main; also
/// safe to call again (tests).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let rt = runtime();
        let tx = signals();
        // Registering inside the runtime: from here on the default action
        // (die at once, leaving children and locks behind) is replaced.
        let streams = rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            )
        });
        let (Ok(mut int), Ok(mut term)) = streams else {
            return;
        };
        rt.spawn(async move {
            loop {
                let sig = tokio::select! {
                    Some(()) = int.recv() => libc_signal(Signal::SIGINT),
                    Some(()) = term.recv() => libc_signal(Signal::SIGTERM),
                    else => break,
                };
                INTERRUPTED.store(true, Ordering::SeqCst);
                tx.send_modify(|(n, s)| {
                    *n += 1;
                    *s = sig;
                });
                if RUNNING.load(Ordering::SeqCst) == 0 {
                    crate::ui::warn("interrupt received: stopping after the current step");
                }
            }
        });
    });
}

fn libc_signal(s: Signal) -> i32 {
    s as i32
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Clear the flag after a Ctrl-C that we handled ourselves (`up --wait`
/// turns Ctrl-C into "destroy now", which must itself run to the end).
pub fn reset_interrupt() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// Fail fast with `Failure::Interrupted` if a signal arrived.
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(Failure::Interrupted.into())
    } else {
        Ok(())
    }
}

/// Resolves when a signal arrives (at once if one already has).
async fn interruption() {
    let mut rx = signals().subscribe();
    if interrupted() {
        return;
    }
    while rx.changed().await.is_ok() {
        if interrupted() {
            return;
        }
    }
    std::future::pending::<()>().await
}

fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}

// ---------------------------------------------------------------- children

/// A command to run. Secrets never go in `args` or `envs`: pass them in files.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub envs: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// Where to copy stdout / stderr lines (run record). None: not recorded.
    pub stdout_log: Option<PathBuf>,
    pub stderr_log: Option<PathBuf>,
    /// Keep the whole stdout in memory (for small outputs such as `output -json`).
    pub capture_stdout: bool,
    /// Past this the child is stopped: SIGINT to its group, then SIGKILL.
    pub deadline: Duration,
    /// How long a child may take to stop after SIGINT.
    pub grace: Duration,
}

impl Cmd {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            stdout_log: None,
            stderr_log: None,
            capture_stdout: false,
            deadline: DEFAULT_DEADLINE,
            grace: DEFAULT_GRACE,
        }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }
    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(it.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }
    pub fn logs(mut self, stdout: impl Into<PathBuf>, stderr: impl Into<PathBuf>) -> Self {
        self.stdout_log = Some(stdout.into());
        self.stderr_log = Some(stderr.into());
        self
    }
    pub fn capture(mut self) -> Self {
        self.capture_stdout = true;
        self
    }
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// The command line as a user would type it (for logs and "run this to retry").
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            let a = a.to_string_lossy();
            if a.contains(' ') || a.is_empty() {
                s.push_str(&format!("'{a}'"));
            } else {
                s.push_str(&a);
            }
        }
        s
    }
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stdout_tail: Vec<String>,
    pub stderr_tail: Vec<String>,
    pub elapsed: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// "exit status 1" / "killed by signal 9", for messages.
    pub fn describe(&self) -> String {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".into(),
        }
    }
}

/// A child that could not be started or ended in failure; carries the
/// command, its status and the stderr tail, like cargo's ProcessError.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed ({status}){}", tail_suffix(.stderr_tail))]
pub struct ProcessError {
    pub command: String,
    pub status: String,
    pub stderr_tail: Vec<String>,
}

/// A child stopped by us because it outlived its deadline.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` did not finish within {}s and was stopped ({how}){}", .deadline.as_secs(), tail_suffix(.stderr_tail))]
pub struct DeadlineExceeded {
    pub command: String,
    pub deadline: Duration,
    /// "SIGINT" or "SIGINT, then SIGKILL after 10s".
    pub how: String,
    pub stderr_tail: Vec<String>,
}

fn tail_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", tail.join("\n  "))
    }
}

/// Run `cmd` to completion, calling `on_line(is_stderr, line)` for each line.
///
/// Ends by completion (`Ok(Finished)`, whatever the exit status), by its
/// deadline (`DeadlineExceeded`) or by a signal (`Failure::Interrupted`,
/// after the child stopped). Stops are written into the stderr log.
pub fn run(cmd: &Cmd, on_line: impl FnMut(bool, &str)) -> Result<Finished> {
    check_interrupted()?;
    // Logs first: an error here must not leave a child nobody waits for.
    let out_log = open_log(cmd.stdout_log.as_deref())?;
    let err_log = open_log(cmd.stderr_log.as_deref())?;
    crate::ui::debug(&format!("run: {}", cmd.display()));
    let finished = block_on(supervise_child(cmd, on_line, out_log, err_log))?;
    crate::ui::debug(&format!(
        "{} after {:.1}s",
        finished.describe(),
        finished.elapsed.as_secs_f64()
    ));
    Ok(finished)
}

/// Run and require success; the error carries status and stderr tail.
pub fn run_ok(cmd: &Cmd, on_line: impl FnMut(bool, &str)) -> Result<Finished> {
    let done = run(cmd, on_line)?;
    if done.success() {
        Ok(done)
    } else {
        Err(ProcessError {
            command: cmd.display(),
            status: done.describe(),
            stderr_tail: if done.stderr_tail.is_empty() {
                done.stdout_tail.clone()
            } else {
                done.stderr_tail.clone()
            },
        }
        .into())
    }
}

/// Why we are stopping a child.
#[derive(Clone, Copy, PartialEq)]
enum StopReason {
    Deadline,
    Interrupt,
}

struct Sink {
    log: Option<std::fs::File>,
    tail: VecDeque<String>,
}

impl Sink {
    fn push(&mut self, text: &str) {
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{text}");
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.to_string());
    }
}

async fn supervise_child(
    cmd: &Cmd,
    mut on_line: impl FnMut(bool, &str),
    out_log: Option<std::fs::File>,
    err_log: Option<std::fs::File>,
) -> Result<Finished> {
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .envs(cmd.envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group: a terminal's Ctrl-C reaches only us, and we
        // decide how the child is stopped (and wait for it).
        .process_group(0);
    if let Some(dir) = &cmd.cwd {
        command.current_dir(dir);
    }
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd.program.display()))?;
    RUNNING.fetch_add(1, Ordering::SeqCst);
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _running = Running;
    let pgid = Pid::from_raw(child.id().map(|p| p as i32).unwrap_or(0));
    let signal_group = |sig: Signal| {
        if pgid.as_raw() > 0 {
            let _ = killpg(pgid, sig);
        }
    };

    let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).split(b'\n');
    let mut err = BufReader::new(child.stderr.take().expect("piped stderr")).split(b'\n');
    let mut out_sink = Sink {
        log: out_log,
        tail: VecDeque::with_capacity(TAIL_LINES),
    };
    let mut err_sink = Sink {
        log: err_log,
        tail: VecDeque::with_capacity(TAIL_LINES),
    };
    let mut stdout = String::new();
    let (mut out_open, mut err_open) = (true, true);
    let mut status: Option<ExitStatus> = None;

    let mut sig_rx = signals().subscribe();
    let mut forwarded = 0u32;
    if interrupted() {
        // The signal landed between the check in `run` and the spawn.
        signal_group(Signal::SIGINT);
        forwarded = sig_rx.borrow().0.max(1);
    }
    let mut stop: Option<(StopReason, Instant)> =
        interrupted().then(|| (StopReason::Interrupt, Instant::now()));
    let mut killed = false;
    let far = Duration::from_secs(100 * 365 * 86400);
    let deadline = tokio::time::sleep(cmd.deadline.min(far));
    tokio::pin!(deadline);
    let grace_timer = tokio::time::sleep(far);
    tokio::pin!(grace_timer);
    if stop.is_some() {
        grace_timer
            .as_mut()
            .reset(tokio::time::Instant::now() + cmd.grace);
    }
    let drain_timer = tokio::time::sleep(far);
    tokio::pin!(drain_timer);

    let note = |sink: &mut Sink, msg: String| {
        sink.push(&format!("shadowops: {msg}"));
        crate::ui::debug(&msg);
    };

    loop {
        tokio::select! {
            line = out.next_segment(), if out_open => match line {
                Ok(Some(bytes)) => {
                    let text = clean(&bytes);
                    out_sink.push(&text);
                    if cmd.capture_stdout {
                        stdout.push_str(&text);
                        stdout.push('\n');
                    }
                    on_line(false, &text);
                }
                _ => out_open = false,
            },
            line = err.next_segment(), if err_open => match line {
                Ok(Some(bytes)) => {
                    let text = clean(&bytes);
                    err_sink.push(&text);
                    on_line(true, &text);
                }
                _ => err_open = false,
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st.context("waiting for child")?);
                drain_timer.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            },
            _ = &mut deadline, if stop.is_none() && status.is_none() => {
                note(&mut err_sink, format!(
                    "deadline of {}s passed: sending SIGINT to process group {} (SIGKILL after {}s)",
                    cmd.deadline.as_secs(), pgid, cmd.grace.as_secs()));
                signal_group(Signal::SIGINT);
                stop = Some((StopReason::Deadline, Instant::now()));
                grace_timer.as_mut().reset(tokio::time::Instant::now() + cmd.grace);
            },
            _ = &mut grace_timer, if stop.is_some() && !killed && status.is_none() => {
                note(&mut err_sink, format!(
                    "process group {} still running {}s after SIGINT: sending SIGKILL",
                    pgid, cmd.grace.as_secs()));
                signal_group(Signal::SIGKILL);
                killed = true;
            },
            changed = sig_rx.changed(), if status.is_none() => {
                if changed.is_err() { continue; }
                let (count, sig) = *sig_rx.borrow_and_update();
                if count > forwarded {
                    forwarded = count;
                    let sig = Signal::try_from(sig).unwrap_or(Signal::SIGINT);
                    note(&mut err_sink, format!("{sig} received: passing it to process group {pgid}"));
                    signal_group(sig);
                    if stop.is_none() {
                        stop = Some((StopReason::Interrupt, Instant::now()));
                        grace_timer.as_mut().reset(tokio::time::Instant::now() + cmd.grace);
                    }
                }
            },
            _ = &mut drain_timer, if status.is_some() => {
                // The child is gone but something it started holds its
                // pipes open: what it writes from now on is not the child's.
                out_open = false;
                err_open = false;
            },
        }
        if status.is_some() && !out_open && !err_open {
            break;
        }
    }
    for sink in [&mut out_sink, &mut err_sink] {
        if let Some(f) = sink.log.as_mut() {
            let _ = f.flush();
        }
    }
    let finished = Finished {
        status: status.expect("loop ends with a status"),
        stdout,
        stdout_tail: out_sink.tail.into(),
        stderr_tail: err_sink.tail.into(),
        elapsed: start.elapsed(),
    };
    match stop {
        Some((StopReason::Interrupt, _)) => Err(Failure::Interrupted.into()),
        Some((StopReason::Deadline, _)) => Err(DeadlineExceeded {
            command: cmd.display(),
            deadline: cmd.deadline,
            how: if killed {
                format!("SIGINT, then SIGKILL after {}s", cmd.grace.as_secs())
            } else {
                "SIGINT".into()
            },
            stderr_tail: finished.stderr_tail.clone(),
        }
        .into()),
        None => Ok(finished),
    }
}

/// A deadline from the environment (`SHADOWOPS_TF_TIMEOUT=90m`), or
/// `default`; a value that is not a duration is a usage error naming it.
pub fn deadline_from_env(var: &str, default: Duration) -> Result<Duration> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(v) => match humantime::parse_duration(v.trim()) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(Failure::usage(format!(
                "{var}={v:?} is not a duration (e.g. 45m, 2h)"
            ))),
        },
    }
}

fn clean(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    while s.ends_with('\r') {
        s.pop();
    }
    s
}

fn open_log(path: Option<&Path>) -> Result<Option<std::fs::File>> {
    match path {
        None => Ok(None),
        Some(p) => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            Ok(Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening log {}", p.display()))?,
            ))
        }
    }
}

// ------------------------------------------------------------------- waits

/// One look at what a [`wait`] waits for.
pub enum Probe<T> {
    /// Done: the wait returns this.
    Ready(T),
    /// Not yet; the text says what was seen (the deadline error quotes the last one).
    Pending(String),
    /// Will never succeed: the wait ends with this error at once.
    Failed(anyhow::Error),
}

/// A wait that reached its time limit.
#[derive(Debug, thiserror::Error)]
#[error("{what}: not done after {}s (last seen: {last})", .limit.as_secs())]
pub struct WaitTimedOut {
    pub what: String,
    pub limit: Duration,
    pub last: String,
}

/// Call `probe` every `every` until it is ready, fails, `limit` passes or a
/// signal arrives (then `Failure::Interrupted` within a fraction of a
/// second, even while a probe is blocked in I/O: probes run on a blocking
/// thread, and a probe we stop waiting for is left to end by itself).
pub fn wait<T: Send + 'static>(
    what: &str,
    limit: Duration,
    every: Duration,
    probe: impl FnMut() -> Probe<T> + Send + 'static,
) -> Result<T> {
    check_interrupted()?;
    let probe = Arc::new(Mutex::new(probe));
    block_on(async {
        let give_up = tokio::time::sleep(limit.min(Duration::from_secs(100 * 365 * 86400)));
        tokio::pin!(give_up);
        let mut last = String::from("nothing yet");
        loop {
            let p = probe.clone();
            let look = tokio::task::spawn_blocking(move || (p.lock().expect("probe"))());
            let outcome = tokio::select! {
                r = look => r.context("a wait's probe panicked")?,
                _ = interruption() => return Err(Failure::Interrupted.into()),
                _ = &mut give_up => return Err(WaitTimedOut { what: what.into(), limit, last }.into()),
            };
            match outcome {
                Probe::Ready(v) => return Ok(v),
                Probe::Failed(e) => return Err(e),
                Probe::Pending(seen) => last = seen,
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = interruption() => return Err(Failure::Interrupted.into()),
                _ = &mut give_up => return Err(WaitTimedOut { what: what.into(), limit, last }.into()),
            }
        }
    })
}

/// Sleep for `d`, or end early with `Failure::Interrupted` on a signal.
pub fn pause(d: Duration) -> Result<()> {
    check_interrupted()?;
    block_on(async {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = interruption() => Err(Failure::Interrupted.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let started = Instant::now();
        let err = run(&cmd, |_, _| {}).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
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
}
