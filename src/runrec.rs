//! Run records: `runs/<run-id>/` with the raw event streams of every phase,
//! the masked inputs and `summary.json` (phases, durations, outcome).

use crate::report::Phase;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// How many runs an env keeps; older ones are pruned at the start of a run.
pub const KEEP_RUNS: usize = 20;

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct PhaseSummary {
    pub phase: Phase,
    pub outcome: String,
    pub duration_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Summary {
    pub run: String,
    pub command: String,
    pub env: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub exit_code: i32,
    pub phases: Vec<PhaseSummary>,
    pub total_s: f64,
    /// Wall time not spent waiting for children: the driver's own overhead.
    pub driver_overhead_s: f64,
    /// Airflow's boot after the play: configure's last step, waited for
    /// beside migrate and the pipeline's tests (what of it the run spent
    /// doing nothing else is in `waited_s`, counted in the phase that waited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airflow_boot: Option<AirflowBootSummary>,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct AirflowBootSummary {
    /// From the end of the play to Airflow reporting healthy.
    pub healthy_after_play_s: f64,
    /// How long the run had nothing else to do but wait for it (in the
    /// pipeline phase: until its task API was warm and the DAG parsed).
    pub waited_s: f64,
    /// The phase during which it became healthy was awaited.
    pub awaited_in: Phase,
}

pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    started: Instant,
    pub summary: Summary,
}

impl Run {
    pub fn start(runs_dir: &Path, env: &str, command: &str) -> Result<Run> {
        std::fs::create_dir_all(runs_dir)?;
        prune(runs_dir, KEEP_RUNS - 1)?;
        let now = SystemTime::now();
        let stamp = humantime::format_rfc3339_seconds(now).to_string();
        let id = new_id(runs_dir, now, command);
        let dir = runs_dir.join(&id);
        std::fs::create_dir_all(&dir)?;
        let summary = Summary {
            run: id.clone(),
            command: command.into(),
            env: env.into(),
            started_at: stamp,
            finished_at: None,
            outcome: "running".into(),
            exit_code: -1,
            phases: Vec::new(),
            total_s: 0.0,
            driver_overhead_s: 0.0,
            airflow_boot: None,
        };
        let run = Run {
            id,
            dir,
            started: Instant::now(),
            summary,
        };
        run.save()?;
        Ok(run)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn phase(&mut self, phase: Phase, outcome: &str, duration_s: f64, note: Option<String>) {
        self.summary.phases.push(PhaseSummary {
            phase,
            outcome: outcome.into(),
            duration_s,
            note,
        });
        let _ = self.save();
    }

    pub fn finish(&mut self, outcome: &str, exit_code: i32, child_time_s: f64) -> Result<()> {
        self.summary.outcome = outcome.into();
        self.summary.exit_code = exit_code;
        self.summary.finished_at =
            Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
        self.summary.total_s = self.started.elapsed().as_secs_f64();
        self.summary.driver_overhead_s = (self.summary.total_s - child_time_s).max(0.0);
        self.save()
    }

    pub fn save(&self) -> Result<()> {
        crate::env::write_atomic(
            &self.dir.join("summary.json"),
            &serde_json::to_vec_pretty(&self.summary)?,
            0o644,
        )?;
        Ok(())
    }
}

/// A run id that sorts by time as a string: UTC to the millisecond
/// (`20261207T033418.123-up`), and `-02`, `-03`... for another run of the
/// same millisecond (zero-padded, so `-10` sorts after `-09`).
fn new_id(runs_dir: &Path, now: SystemTime, command: &str) -> String {
    let stamp = humantime::format_rfc3339_millis(now)
        .to_string()
        .replace([':', '-'], "")
        .trim_end_matches('Z')
        .to_string();
    let mut id = format!("{stamp}-{command}");
    let mut n = 1;
    while runs_dir.join(&id).exists() {
        n += 1;
        id = format!("{stamp}-{command}-{n:02}");
    }
    id
}

/// Run ids, oldest first.
pub fn list(runs_dir: &Path) -> Result<Vec<String>> {
    let mut ids: Vec<String> = match std::fs::read_dir(runs_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    ids.sort();
    Ok(ids)
}

pub fn load_summary(run_dir: &Path) -> Option<Summary> {
    serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).ok()?).ok()
}

/// Keep the newest `keep` runs.
fn prune(runs_dir: &Path, keep: usize) -> Result<()> {
    let ids = list(runs_dir)?;
    if ids.len() > keep {
        for id in &ids[..ids.len() - keep] {
            let _ = std::fs::remove_dir_all(runs_dir.join(id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_recorded_and_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        for _ in 0..(KEEP_RUNS + 3) {
            let mut r = Run::start(tmp.path(), "e", "up").unwrap();
            r.phase(Phase::Vars, "ok", 0.1, None);
            r.finish("ok", 0, 0.0).unwrap();
        }
        let ids = list(tmp.path()).unwrap();
        assert_eq!(ids.len(), KEEP_RUNS);
        let s = load_summary(&tmp.path().join(&ids[0])).unwrap();
        assert_eq!(s.phases[0].phase, Phase::Vars);
    }

    /// Ids sort as they were made, also many in one millisecond.
    #[test]
    fn run_ids_sort_by_time() {
        let tmp = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut made = Vec::new();
        for _ in 0..12 {
            let id = new_id(tmp.path(), now, "up");
            std::fs::create_dir(tmp.path().join(&id)).unwrap();
            made.push(id);
        }
        let later = new_id(
            tmp.path(),
            now + std::time::Duration::from_millis(1),
            "destroy",
        );
        std::fs::create_dir(tmp.path().join(&later)).unwrap();
        made.push(later);
        assert!(made[9].ends_with("-up-10"), "{made:?}");
        assert_eq!(list(tmp.path()).unwrap(), made);
    }
}
