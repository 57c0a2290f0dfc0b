//! Progress and messages on stderr. Spinners only on a TTY (plain lines in
//! CI logs); `NO_COLOR` is honoured; stdout is left for data and `--json`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static VERBOSE: AtomicBool = AtomicBool::new(false);
static FANCY: AtomicBool = AtomicBool::new(false);
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

pub fn init(verbose: bool) {
    VERBOSE.store(verbose, Ordering::SeqCst);
    let fancy = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    FANCY.store(fancy, Ordering::SeqCst);
    let _ = MULTI.set(MultiProgress::with_draw_target(if fancy {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }));
}

fn color() -> bool {
    FANCY.load(Ordering::SeqCst) && std::env::var_os("NO_COLOR").is_none()
}

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::hidden()))
}

fn emit(line: &str) {
    if FANCY.load(Ordering::SeqCst) {
        let _ = multi().println(line);
    } else {
        eprintln!("{line}");
    }
}

fn paint(code: &str, s: &str) -> String {
    if color() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub fn info(msg: &str) {
    emit(msg);
}
pub fn phase(name: &str, msg: &str) {
    emit(&format!("{} {msg}", paint("1;36", &format!("==> {name}:"))));
}
pub fn ok(msg: &str) {
    emit(&format!("{} {msg}", paint("32", "  ok")));
}
pub fn warn(msg: &str) {
    emit(&format!("{} {msg}", paint("33", "warning:")));
}
pub fn fail(msg: &str) {
    emit(&format!("{} {msg}", paint("1;31", "FAILED:")));
}
pub fn debug(msg: &str) {
    if VERBOSE.load(Ordering::SeqCst) {
        emit(&paint("2", msg));
    }
}

/// One line per item in flight (a resource being created, a task running),
/// each with its elapsed time; finished items become plain log lines.
pub struct Activity {
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
}

impl Activity {
    pub fn new() -> Self {
        Activity {
            bars: Mutex::new(HashMap::new()),
        }
    }

    pub fn start(&self, key: &str, label: &str) {
        let started = Instant::now();
        let bar = if FANCY.load(Ordering::SeqCst) {
            let bar = multi().add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
                    .expect("static template"),
            );
            bar.set_message(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            emit(&format!("  .. {label}"));
            ProgressBar::hidden()
        };
        self.bars
            .lock()
            .unwrap()
            .insert(key.to_string(), (bar, started));
    }

    /// Finish an item; `outcome` is e.g. "created", "changed", "failed".
    pub fn finish(&self, key: &str, label: &str, outcome: &str, failed: bool) {
        let entry = self.bars.lock().unwrap().remove(key);
        let elapsed = entry.as_ref().map(|(_, t)| t.elapsed()).unwrap_or_default();
        if let Some((bar, _)) = entry {
            bar.finish_and_clear();
            multi().remove(&bar);
        }
        let mark = if failed {
            paint("1;31", "  !!")
        } else {
            paint("32", "  ok")
        };
        emit(&format!(
            "{mark} {label}: {outcome} ({:.1}s)",
            elapsed.as_secs_f64()
        ));
    }

    pub fn clear(&self) {
        for (_, (bar, _)) in self.bars.lock().unwrap().drain() {
            bar.finish_and_clear();
            multi().remove(&bar);
        }
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.clear();
    }
}
