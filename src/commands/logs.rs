//! `logs`: the run records: list them, print one run's logs, follow them.

use super::existing;
use crate::error::Failure;
use crate::runrec;
use anyhow::Result;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

fn phase_of(file: &str) -> &'static str {
    if file.starts_with("terraform-destroy") {
        "destroy"
    } else if file.starts_with("terraform") || file.starts_with("images") {
        "provision"
    } else if file.starts_with("contract") {
        "handoff"
    } else if file.starts_with("ansible") || file == "inventory.yml" || file == "vars.yml" {
        "configure"
    } else if file.starts_with("task-") || file.starts_with("pipeline") {
        "pipeline"
    } else {
        "run"
    }
}

pub fn run(
    raw: &str,
    run: Option<String>,
    phase: Option<String>,
    follow: bool,
    list: bool,
) -> Result<i32> {
    let dir = existing(raw)?;
    let runs = runrec::list(&dir.runs_dir())?;
    if list {
        for id in &runs {
            let s = runrec::load_summary(&dir.runs_dir().join(id));
            println!(
                "{id}  {}",
                s.map(|s| format!(
                    "{} {} (exit {}, {:.1}s)",
                    s.command, s.outcome, s.exit_code, s.total_s
                ))
                .unwrap_or_default()
            );
        }
        return Ok(0);
    }
    let id = match run {
        Some(r) => {
            if !runs.contains(&r) {
                return Err(Failure::usage(format!(
                    "no run {r:?} for env {raw} (shadowops logs --env {raw} --list)"
                )));
            }
            r
        }
        None => runs
            .last()
            .cloned()
            .ok_or_else(|| Failure::usage(format!("env {raw} has no runs yet")))?,
    };
    if let Some(p) = &phase {
        let known = [
            "vars",
            "provision",
            "handoff",
            "configure",
            "pipeline",
            "destroy",
            "run",
        ];
        if !known.contains(&p.as_str()) {
            return Err(Failure::usage(format!(
                "unknown phase {p:?} (one of {})",
                known.join(", ")
            )));
        }
    }
    let run_dir = dir.runs_dir().join(&id);
    let mut files: Vec<_> = std::fs::read_dir(&run_dir)?
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| !f.starts_with('.'))
        .filter(|f| phase.as_deref().is_none_or(|p| phase_of(f) == p))
        .collect();
    files.sort();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut offsets = std::collections::BTreeMap::new();
    for f in &files {
        writeln!(out, "==> {} <==", run_dir.join(f).display())?;
        let mut file = std::fs::File::open(run_dir.join(f))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        out.write_all(&buf)?;
        offsets.insert(f.clone(), buf.len() as u64);
    }
    drop(out);
    if !follow {
        return Ok(0);
    }
    // --follow: print what is appended until the run finishes.
    loop {
        let running = runrec::load_summary(&run_dir).is_some_and(|s| s.outcome == "running");
        let mut names: Vec<String> = std::fs::read_dir(&run_dir)?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| !f.starts_with('.'))
            .filter(|f| phase.as_deref().is_none_or(|p| phase_of(f) == p))
            .collect();
        names.sort();
        for f in names {
            let path = run_dir.join(&f);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let off = offsets.entry(f.clone()).or_insert(0);
            if len > *off {
                let mut file = std::fs::File::open(&path)?;
                file.seek(SeekFrom::Start(*off))?;
                let mut buf = Vec::new();
                file.read_to_end(&mut buf)?;
                print!("{}", String::from_utf8_lossy(&buf));
                *off = len;
            }
        }
        std::io::stdout().flush()?;
        if !running {
            return Ok(0);
        }
        // Ctrl-C ends the follow: that is how a user stops it.
        if crate::supervise::pause(Duration::from_millis(500)).is_err() {
            return Ok(0);
        }
    }
}
