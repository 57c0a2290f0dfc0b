//! Child processes: spawned in their own process group, their output
//! streamed line by line, stopped at their deadline or on a signal.

use super::{check_interrupted, interrupted, signals, RUNNING};
use crate::error::Failure;
use anyhow::{Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

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
    let finished = super::block_on(supervise_child(cmd, on_line, out_log, err_log))?;
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

/// One output stream of the child: its log file and its tail.
struct Sink {
    log: Option<std::fs::File>,
    tail: VecDeque<String>,
}

impl Sink {
    fn new(log: Option<std::fs::File>) -> Sink {
        Sink {
            log,
            tail: VecDeque::with_capacity(TAIL_LINES),
        }
    }
    fn push(&mut self, text: &str) {
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{text}");
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(text.to_string());
    }
    fn flush(&mut self) {
        if let Some(f) = self.log.as_mut() {
            let _ = f.flush();
        }
    }
}

/// A running child under supervision: what it printed, and whether (and
/// why) we are stopping it.
struct Supervised<'a> {
    cmd: &'a Cmd,
    pgid: Pid,
    out: Sink,
    err: Sink,
    stdout: String,
    stop: Option<StopReason>,
    killed: bool,
    /// Signals already passed to the child's group.
    forwarded: u32,
}

impl Supervised<'_> {
    fn signal_group(&self, sig: Signal) {
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, sig);
        }
    }

    /// A stop goes into the child's stderr log: the run record says why it ended.
    fn note(&mut self, msg: String) {
        self.err.push(&format!("shadowops: {msg}"));
        crate::ui::debug(&msg);
    }

    fn line(&mut self, is_err: bool, bytes: &[u8], on_line: &mut impl FnMut(bool, &str)) {
        let text = clean(bytes);
        if is_err {
            self.err.push(&text);
        } else {
            self.out.push(&text);
            if self.cmd.capture_stdout {
                self.stdout.push_str(&text);
                self.stdout.push('\n');
            }
        }
        on_line(is_err, &text);
    }

    fn deadline_passed(&mut self) {
        self.note(format!(
            "deadline of {}s passed: sending SIGINT to process group {} (SIGKILL after {}s)",
            self.cmd.deadline.as_secs(),
            self.pgid,
            self.cmd.grace.as_secs()
        ));
        self.signal_group(Signal::SIGINT);
        self.stop = Some(StopReason::Deadline);
    }

    fn grace_passed(&mut self) {
        self.note(format!(
            "process group {} still running {}s after SIGINT: sending SIGKILL",
            self.pgid,
            self.cmd.grace.as_secs()
        ));
        self.signal_group(Signal::SIGKILL);
        self.killed = true;
    }

    /// Ctrl-C / SIGTERM (each one, also a second): passed to the child's
    /// group. Returns true when this starts the stop (arm the grace timer).
    fn signalled(&mut self, count: u32, sig: i32) -> bool {
        if count <= self.forwarded {
            return false;
        }
        self.forwarded = count;
        let sig = Signal::try_from(sig).unwrap_or(Signal::SIGINT);
        self.note(format!(
            "{sig} received: passing it to process group {}",
            self.pgid
        ));
        self.signal_group(sig);
        if self.stop.is_none() {
            self.stop = Some(StopReason::Interrupt);
            return true;
        }
        false
    }

    fn finish(mut self, status: ExitStatus, elapsed: Duration) -> Result<Finished> {
        self.out.flush();
        self.err.flush();
        let finished = Finished {
            status,
            stdout: self.stdout,
            stdout_tail: self.out.tail.into(),
            stderr_tail: self.err.tail.into(),
            elapsed,
        };
        match self.stop {
            None => Ok(finished),
            Some(StopReason::Interrupt) => Err(Failure::Interrupted.into()),
            Some(StopReason::Deadline) => Err(DeadlineExceeded {
                command: self.cmd.display(),
                deadline: self.cmd.deadline,
                how: if self.killed {
                    format!("SIGINT, then SIGKILL after {}s", self.cmd.grace.as_secs())
                } else {
                    "SIGINT".into()
                },
                stderr_tail: finished.stderr_tail.clone(),
            }
            .into()),
        }
    }
}

fn spawn(cmd: &Cmd) -> Result<tokio::process::Child> {
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
    command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd.program.display()))
}

/// Counts the children running, for the "no child to stop" note.
struct Running;
impl Running {
    fn enter() -> Running {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        Running
    }
}
impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn supervise_child(
    cmd: &Cmd,
    mut on_line: impl FnMut(bool, &str),
    out_log: Option<std::fs::File>,
    err_log: Option<std::fs::File>,
) -> Result<Finished> {
    let start = Instant::now();
    let mut child = spawn(cmd)?;
    let _running = Running::enter();
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).split(b'\n');
    let mut err = BufReader::new(child.stderr.take().expect("piped stderr")).split(b'\n');
    let mut s = Supervised {
        cmd,
        pgid: Pid::from_raw(child.id().map(|p| p as i32).unwrap_or(0)),
        out: Sink::new(out_log),
        err: Sink::new(err_log),
        stdout: String::new(),
        stop: None,
        killed: false,
        forwarded: 0,
    };
    let mut sig_rx = signals().subscribe();
    let far = Duration::from_secs(100 * 365 * 86400);
    let deadline = tokio::time::sleep(cmd.deadline.min(far));
    let grace = tokio::time::sleep(far);
    let drain = tokio::time::sleep(far);
    tokio::pin!(deadline, grace, drain);
    if interrupted() {
        // The signal landed between the check in `run` and the spawn.
        let (count, sig) = *sig_rx.borrow();
        if s.signalled(count.max(1), sig.max(Signal::SIGINT as i32)) {
            grace
                .as_mut()
                .reset(tokio::time::Instant::now() + cmd.grace);
        }
    }
    let (mut out_open, mut err_open) = (true, true);
    let mut status: Option<ExitStatus> = None;
    while status.is_none() || out_open || err_open {
        tokio::select! {
            line = out.next_segment(), if out_open => match line {
                Ok(Some(bytes)) => s.line(false, &bytes, &mut on_line),
                _ => out_open = false,
            },
            line = err.next_segment(), if err_open => match line {
                Ok(Some(bytes)) => s.line(true, &bytes, &mut on_line),
                _ => err_open = false,
            },
            st = child.wait(), if status.is_none() => {
                status = Some(st.context("waiting for child")?);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            },
            _ = &mut deadline, if s.stop.is_none() && status.is_none() => {
                s.deadline_passed();
                grace.as_mut().reset(tokio::time::Instant::now() + cmd.grace);
            },
            _ = &mut grace, if s.stop.is_some() && !s.killed && status.is_none() => s.grace_passed(),
            changed = sig_rx.changed(), if status.is_none() => {
                if changed.is_ok() {
                    let (count, sig) = *sig_rx.borrow_and_update();
                    if s.signalled(count, sig) {
                        grace.as_mut().reset(tokio::time::Instant::now() + cmd.grace);
                    }
                }
            },
            // The child is gone but something it started holds its pipes
            // open: what that writes from now on is not the child's.
            _ = &mut drain, if status.is_some() => (out_open, err_open) = (false, false),
        }
    }
    s.finish(status.expect("loop ends with a status"), start.elapsed())
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

/// A child that runs beside the phase that needs it (an SSH tunnel), not to
/// completion: its output goes to its log files, and dropping the handle
/// stops its process group (SIGTERM, then SIGKILL after the grace) and
/// waits for it, so no tunnel outlives the command that opened it.
pub struct Background {
    child: Option<tokio::process::Child>,
    pgid: Pid,
    grace: Duration,
    pub command: String,
}

/// Start `cmd` in the background; stdout/stderr go to its log files.
pub fn spawn_background(cmd: &Cmd) -> Result<Background> {
    check_interrupted()?;
    let out = open_log(cmd.stdout_log.as_deref())?;
    let err = open_log(cmd.stderr_log.as_deref())?;
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .envs(cmd.envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.map(Stdio::from).unwrap_or_else(Stdio::null))
        .stderr(err.map(Stdio::from).unwrap_or_else(Stdio::null))
        .process_group(0);
    // tokio's child reaper needs the runtime.
    let _guard = super::runtime().enter();
    let child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd.program.display()))?;
    let pgid = Pid::from_raw(child.id().map(|p| p as i32).unwrap_or(0));
    crate::ui::debug(&format!("background: {} (pid {pgid})", cmd.display()));
    Ok(Background {
        child: Some(child),
        pgid,
        grace: cmd.grace,
        command: cmd.display(),
    })
}

impl Background {
    /// Still running? (A tunnel whose ssh exited is reported with its log.)
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Background {
    // No `block_on` here: a drop may happen anywhere. SIGTERM, poll the exit
    // for the grace period, then SIGKILL and reap.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, Signal::SIGTERM);
        }
        let until = Instant::now() + self.grace;
        while Instant::now() < until {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.pgid.as_raw() > 0 {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
        let _ = child.start_kill();
        let until = Instant::now() + Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
