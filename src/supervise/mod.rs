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

mod child;
mod wait;

#[cfg(test)]
pub use child::DeadlineExceeded;
pub use child::{run, run_ok, spawn_background, Background, Cmd, Finished, ProcessError};
pub use wait::{wait, Probe, WaitTimedOut};

use crate::error::Failure;
use anyhow::Result;
use nix::sys::signal::Signal;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
/// (number of signals received so far, the last one). Every running child
/// and wait subscribes; the count tells a second Ctrl-C from the first.
static SIGNALS: OnceLock<watch::Sender<(u32, i32)>> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Children currently supervised (a signal with none running gets a note).
pub(crate) static RUNNING: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
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

pub(crate) fn signals() -> &'static watch::Sender<(u32, i32)> {
    SIGNALS.get_or_init(|| watch::channel((0, 0)).0)
}

/// Start listening for SIGINT and SIGTERM. Called once from main; also
/// safe to call again (tests).
/// Start a process that must outlive this one (the reaper, the background
/// bake): its own session, so it survives the terminal, the CI step and the
/// driver; stdin closed, stdout and stderr appended to `log`. Returns its pid.
pub fn spawn_detached(mut cmd: std::process::Command, log: &std::path::Path) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe and touches no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    Ok(cmd.spawn()?.id())
}

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
pub(crate) async fn interruption() {
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

pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}

/// Run `fut` (database I/O, say) to its end, at most `limit`, or stop at
/// once with `Failure::Interrupted` on a signal. The one way the driver
/// awaits something that is not a child process or a poll.
pub fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = Result<T>>) -> Result<T> {
    check_interrupted()?;
    block_on(async {
        tokio::select! {
            r = tokio::time::timeout(limit, fut) => match r {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("{what}: no answer within {}s", limit.as_secs())),
            },
            _ = interruption() => Err(Failure::Interrupted.into()),
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

#[cfg(test)]
mod tests;
