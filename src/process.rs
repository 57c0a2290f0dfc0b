//! The one child-process runner every phase uses.
//!
//! It streams stdout and stderr line by line to callbacks (progress, event
//! parsing) and to log files in the run record, keeps the tail of both for
//! error reports, runs each child in its own process group, and forwards
//! Ctrl-C / SIGTERM to that group and then *waits* for the child: Terraform
//! must get the chance to release its state lock.

use crate::error::Failure;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Process group of the running child (0 when none): the signal thread forwards to it.
static CHILD_PGID: AtomicI32 = AtomicI32::new(0);
/// Set once SIGINT/SIGTERM arrived; every phase checks it before starting.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

const TAIL_LINES: usize = 40;

/// Install the SIGINT/SIGTERM forwarding thread. Called once from main.
pub fn install_signal_forwarding() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            INTERRUPTED.store(true, Ordering::SeqCst);
            let pgid = CHILD_PGID.load(Ordering::SeqCst);
            if pgid > 0 {
                // Terraform handles SIGINT gracefully (stops, writes state,
                // unlocks); a second Ctrl-C from the user is passed on too.
                let sig =
                    nix::sys::signal::Signal::try_from(sig).unwrap_or(nix::sys::signal::SIGINT);
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), sig);
            } else {
                crate::ui::warn("interrupt received: stopping after the current step");
            }
        }
    });
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

fn tail_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", tail.join("\n  "))
    }
}

enum Line {
    Out(String),
    Err(String),
}

/// Run `cmd` to completion, calling `on_line(is_stderr, line)` for each line.
pub fn run(cmd: &Cmd, mut on_line: impl FnMut(bool, &str)) -> Result<Finished> {
    check_interrupted()?;
    let mut command = Command::new(&cmd.program);
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
    crate::ui::debug(&format!("run: {}", cmd.display()));
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", cmd.program.display()))?;
    CHILD_PGID.store(child.id() as i32, Ordering::SeqCst);
    if interrupted() {
        // The signal may have landed between the check above and the store.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::SIGINT,
        );
    }

    let (tx, rx) = mpsc::channel::<Line>();
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let tx2 = tx.clone();
    let t_out = std::thread::spawn(move || pump(out, tx, Line::Out));
    let t_err = std::thread::spawn(move || pump(err, tx2, Line::Err));

    let mut out_log = open_log(cmd.stdout_log.as_deref())?;
    let mut err_log = open_log(cmd.stderr_log.as_deref())?;
    let mut stdout = String::new();
    let mut out_tail = VecDeque::with_capacity(TAIL_LINES);
    let mut err_tail = VecDeque::with_capacity(TAIL_LINES);
    for line in rx {
        let (is_err, text) = match line {
            Line::Out(t) => (false, t),
            Line::Err(t) => (true, t),
        };
        let (log, tail) = if is_err {
            (&mut err_log, &mut err_tail)
        } else {
            (&mut out_log, &mut out_tail)
        };
        if let Some(f) = log.as_mut() {
            let _ = writeln!(f, "{text}");
        }
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.clone());
        if !is_err && cmd.capture_stdout {
            stdout.push_str(&text);
            stdout.push('\n');
        }
        on_line(is_err, &text);
    }
    let _ = t_out.join();
    let _ = t_err.join();
    let status = child.wait().context("waiting for child")?;
    CHILD_PGID.store(0, Ordering::SeqCst);
    if let Some(f) = out_log.as_mut() {
        let _ = f.flush();
    }
    if let Some(f) = err_log.as_mut() {
        let _ = f.flush();
    }
    let finished = Finished {
        status,
        stdout,
        stdout_tail: out_tail.into(),
        stderr_tail: err_tail.into(),
        elapsed: start.elapsed(),
    };
    crate::ui::debug(&format!(
        "{} after {:.1}s",
        finished.describe(),
        finished.elapsed.as_secs_f64()
    ));
    if interrupted() {
        return Err(Failure::Interrupted.into());
    }
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

fn pump<R: std::io::Read>(r: R, tx: mpsc::Sender<Line>, wrap: fn(String) -> Line) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                if tx
                    .send(wrap(String::from_utf8_lossy(&buf).into_owned()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}

fn open_log(path: Option<&Path>) -> Result<Option<File>> {
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
}
