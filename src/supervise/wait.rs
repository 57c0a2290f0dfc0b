//! Waits: poll something until it is ready, fails, times out, or a signal
//! arrives.

use super::{block_on, check_interrupted, interruption};
use crate::error::Failure;
use anyhow::{Context, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let mut probe = probe;
    if limit.is_zero() {
        // No time to wait: one look, here.
        return match probe() {
            Probe::Ready(v) => Ok(v),
            Probe::Failed(e) => Err(e),
            Probe::Pending(last) => Err(WaitTimedOut {
                what: what.into(),
                limit,
                last,
            }
            .into()),
        };
    }
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
