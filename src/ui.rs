//! Progress and messages on stderr. Spinners only on a TTY (plain lines in
//! CI logs); colours through the `console` crate, off with `NO_COLOR` or
//! without a TTY; `--quiet` keeps only warnings, failures and reports;
//! stdout is left for data and `--json`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static VERBOSE: AtomicBool = AtomicBool::new(false);
static FANCY: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

pub fn init(verbose: bool, quiet: bool) {
    VERBOSE.store(verbose && !quiet, Ordering::SeqCst);
    QUIET.store(quiet, Ordering::SeqCst);
    let fancy = !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    FANCY.store(fancy, Ordering::SeqCst);
    // console decides colours from the terminal and CLICOLOR*; NO_COLOR
    // (any value, https://no-color.org) and a non-TTY turn them off.
    if !fancy || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled_stderr(false);
    }
    let _ = MULTI.set(MultiProgress::with_draw_target(if fancy {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }));
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

fn paint(style: console::Style, s: &str) -> String {
    style.for_stderr().apply_to(s).to_string()
}

fn quiet() -> bool {
    QUIET.load(Ordering::SeqCst)
}

pub fn info(msg: &str) {
    if !quiet() {
        emit(msg);
    }
}
pub fn phase(name: &str, msg: &str) {
    if !quiet() {
        emit(&format!(
            "{} {msg}",
            paint(console::Style::new().cyan().bold(), &format!("==> {name}:"))
        ));
    }
}
pub fn ok(msg: &str) {
    if !quiet() {
        emit(&format!(
            "{} {msg}",
            paint(console::Style::new().green(), "  ok")
        ));
    }
}
pub fn warn(msg: &str) {
    emit(&format!(
        "{} {msg}",
        paint(console::Style::new().yellow(), "warning:")
    ));
}
pub fn fail(msg: &str) {
    emit(&format!(
        "{} {msg}",
        paint(console::Style::new().red().bold(), "FAILED:")
    ));
}
pub fn debug(msg: &str) {
    if VERBOSE.load(Ordering::SeqCst) {
        emit(&paint(console::Style::new().dim(), msg));
    }
}

/// One line per item in flight (a resource being created, a task running),
/// each with its elapsed time; finished items become plain log lines.
pub struct Activity {
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    last_beat: Mutex<Instant>,
}

impl Activity {
    pub fn new() -> Self {
        Activity {
            bars: Mutex::new(HashMap::new()),
            last_beat: Mutex::new(Instant::now()),
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
            if !quiet() {
                emit(&format!("  .. {label}"));
            }
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
            paint(console::Style::new().red().bold(), "  !!")
        } else {
            paint(console::Style::new().green(), "  ok")
        };
        if failed || !quiet() {
            emit(&format!(
                "{mark} {label}: {outcome} ({:.1}s)",
                elapsed.as_secs_f64()
            ));
        }
    }

    /// Without a spinner (CI logs, no TTY) a long operation would print
    /// nothing for many minutes, and CI kills a step that is silent for too
    /// long: every 30 s, one line per item still in flight.
    pub fn heartbeat(&self) {
        if FANCY.load(Ordering::SeqCst) || quiet() {
            return;
        }
        let mut last = self.last_beat.lock().unwrap();
        if last.elapsed() < Duration::from_secs(30) {
            return;
        }
        *last = Instant::now();
        let bars = self.bars.lock().unwrap();
        let mut items: Vec<(&String, &Instant)> = bars.iter().map(|(k, (_, t))| (k, t)).collect();
        items.sort();
        for (key, started) in items {
            emit(&format!(
                "  .. {key}: still running ({}s)",
                started.elapsed().as_secs()
            ));
        }
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
