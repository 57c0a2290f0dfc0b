//! Airflow's REST API (v2), typed: health, token, DAG, DAG source, import
//! errors, DAG runs and task instances.
//!
//! Every call is classified: transient failures (no answer, 429, 5xx) are
//! retried within a budget; authentication failures (401/403) never are;
//! anything else fails at once. Waits (health, the DAG's parse, following a
//! run) go through [`crate::supervise::wait`], so Ctrl-C ends them at once.

use crate::dag_run::TaskOutcome;
use crate::supervise::{self, Probe};
use crate::ui::Activity;
use anyhow::{anyhow, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long transient errors may go on before a call (or a wait) gives up.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// How often [`Airflow::follow`] asks for a running DAG run's task instances.
const TASKS_EVERY: Duration = Duration::from_millis(400);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Airflow refused the credentials (HTTP {code} from {url}): {body}")]
    Auth {
        code: u16,
        url: String,
        body: String,
    },
    #[error("HTTP {code} from {url}: {body}")]
    Status {
        code: u16,
        url: String,
        body: String,
    },
    #[error("no answer from {url}: {msg}")]
    Transport { url: String, msg: String },
    #[error("unexpected answer from {url}: {msg}")]
    Decode { url: String, msg: String },
}

impl ApiError {
    /// Worth another try: nobody answered, or the server said "later".
    pub fn transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
    fn not_found(&self) -> bool {
        matches!(self, ApiError::Status { code: 404, .. })
    }
}

#[derive(Clone)]
pub struct Airflow {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
    retry_budget: Duration,
}

// ---- typed answers (only the fields we use) ----

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct Component {
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Dag {
    pub is_paused: bool,
    pub fileloc: String,
    #[serde(default)]
    pub relative_fileloc: Option<String>,
}

#[derive(Deserialize)]
struct DagSource {
    content: Option<String>,
    version_number: Option<u64>,
}

#[derive(Deserialize)]
struct ImportErrors {
    import_errors: Vec<ImportError>,
}

#[derive(Deserialize)]
struct ImportError {
    filename: String,
    stack_trace: String,
}

#[derive(Deserialize)]
struct DagRun {
    state: String,
}

#[derive(Deserialize)]
struct TaskInstances {
    task_instances: Vec<TaskInstance>,
}

#[derive(Deserialize, Clone)]
struct TaskInstance {
    task_id: String,
    state: Option<String>,
    duration: Option<f64>,
    #[serde(default)]
    try_number: u64,
}

#[derive(Deserialize)]
struct TaskLog {
    content: Value,
}

/// The DAG as Airflow parsed it, once it matches the deployed file.
#[derive(Debug, Clone)]
pub struct ParsedDag {
    pub version: Option<u64>,
    /// The file as Airflow knows it (relative to the DAGs folder).
    pub file: String,
    pub sha256: String,
}

impl Airflow {
    pub fn new(base: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build();
        Airflow {
            base: base.trim_end_matches('/').to_string(),
            agent,
            token: None,
            retry_budget: DEFAULT_RETRY_BUDGET,
        }
    }

    #[cfg(test)]
    pub fn with_retry_budget(mut self, budget: Duration) -> Self {
        self.retry_budget = budget;
        self
    }

    /// One request, no retry.
    fn call_once<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.request(method, &url);
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        };
        match resp {
            Ok(r) => r.into_json::<T>().map_err(|e| ApiError::Decode {
                url,
                msg: e.to_string(),
            }),
            Err(ureq::Error::Status(code, r)) => {
                let body: String = r
                    .into_string()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                Err(if code == 401 || code == 403 {
                    ApiError::Auth { code, url, body }
                } else {
                    ApiError::Status { code, url, body }
                })
            }
            Err(e) => Err(ApiError::Transport {
                url,
                msg: e.to_string(),
            }),
        }
    }

    /// One request, retried on transient errors within the budget.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(250);
        loop {
            match self.call_once(method, path, body) {
                Ok(v) => return Ok(v),
                Err(e) if e.transient() && start.elapsed() + delay < self.retry_budget => {
                    crate::ui::debug(&format!("{e}; trying again in {delay:?}"));
                    supervise::pause(delay)?;
                    delay = (delay * 2).min(Duration::from_secs(4));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Wait until every component reports healthy; returns when it did.
    /// `stop` ends the wait early (nobody needs the answer any more).
    pub fn wait_healthy(&self, limit: Duration, stop: Arc<AtomicBool>) -> Result<Instant> {
        let me = self.clone();
        supervise::wait(
            &format!("Airflow at {} healthy", self.base),
            limit,
            // A refused connection costs nothing: poll often, so the DAG is
            // triggered soon after Airflow becomes healthy.
            Duration::from_millis(250),
            move || match me.call_once::<BTreeMap<String, Component>>(
                "GET",
                "/api/v2/monitor/health",
                None,
            ) {
                _ if stop.load(Ordering::SeqCst) => {
                    Probe::Failed(anyhow!("no longer waiting for Airflow's health"))
                }
                Ok(components) => {
                    let unhealthy: Vec<String> = components
                        .iter()
                        .filter(|(_, c)| c.status.as_deref() != Some("healthy"))
                        .map(|(k, c)| format!("{k}={}", c.status.as_deref().unwrap_or("?")))
                        .collect();
                    if unhealthy.is_empty() {
                        Probe::Ready(Instant::now())
                    } else {
                        Probe::Pending(unhealthy.join(", "))
                    }
                }
                Err(e) => Probe::Pending(e.to_string()),
            },
        )
    }

    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let t: Token = self
            .call(
                "POST",
                "/auth/token",
                Some(&json!({"username": user, "password": password})),
            )
            .map_err(|e| e.context("getting an Airflow API token"))?;
        self.token = Some(t.access_token);
        Ok(())
    }

    /// The DAG as Airflow has it now, if that is exactly the deployed file
    /// (one look: no wait, and anything else, import errors included, is
    /// `None`, since they may be those of an older version of the file).
    pub fn parsed_now(&self, dag_id: &str, dags_dir: &Path) -> Option<ParsedDag> {
        match self.look_at_dag(dag_id, dags_dir) {
            Ok(Probe::Ready(p)) => Some(p),
            _ => None,
        }
    }

    /// Wait until Airflow has parsed the DAG from exactly the file deployed
    /// from `dags_dir` (a changed DAG is never run at its previous version);
    /// fail on that file's import errors, at `limit`, or once `stop` is set
    /// (whoever set it no longer needs the DAG). Unpausing is
    /// [`Airflow::unpause`], after the pipeline's tests passed.
    pub fn wait_parsed(
        &self,
        dag_id: &str,
        dags_dir: &Path,
        limit: Duration,
        stop: Arc<AtomicBool>,
    ) -> Result<ParsedDag> {
        let me = self.clone();
        let dag_id_owned = dag_id.to_string();
        let dags_dir = dags_dir.to_path_buf();
        let mut transient_since: Option<Instant> = None;
        let budget = self.retry_budget;
        supervise::wait(
            &format!("DAG {dag_id} parsed from the deployed file"),
            limit,
            Duration::from_millis(400),
            move || {
                if stop.load(Ordering::SeqCst) {
                    return Probe::Failed(anyhow!("no longer waiting for DAG {dag_id_owned}"));
                }
                let look = me.look_at_dag(&dag_id_owned, &dags_dir);
                match look {
                    Err(e) if e.transient() => {
                        let since = *transient_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > budget {
                            Probe::Failed(e.into())
                        } else {
                            Probe::Pending(e.to_string())
                        }
                    }
                    Err(e) => Probe::Failed(e.into()),
                    Ok(p) => {
                        transient_since = None;
                        p
                    }
                }
            },
        )
    }

    /// Unpause this DAG (only this one: every other DAG stays paused as
    /// created), if it is paused.
    pub fn unpause(&self, dag_id: &str) -> Result<()> {
        let dag: Dag = self.call("GET", &format!("/api/v2/dags/{dag_id}"), None)?;
        if dag.is_paused {
            let _: Value = self.call(
                "PATCH",
                &format!("/api/v2/dags/{dag_id}"),
                Some(&json!({"is_paused": false})),
            )?;
        }
        Ok(())
    }

    /// Ask the task execution API (a sub-application of the API server) for
    /// its health, once, and say how long that took. The API server builds
    /// that application's routes on its first request, which costs ~2 s
    /// (4 s on a loaded machine); without this the first task of the first
    /// DAG run after Airflow started waits for it. Best effort: an error
    /// only means the first task pays that cost itself.
    pub fn warm_up(&self) -> Result<Duration, ApiError> {
        let started = Instant::now();
        let _: Value = self.call_once("GET", "/execution/health", None)?;
        Ok(started.elapsed())
    }

    /// One look for [`Airflow::wait_parsed`].
    fn look_at_dag(&self, dag_id: &str, dags_dir: &Path) -> Result<Probe<ParsedDag>, ApiError> {
        let dag: Dag = match self.call_once("GET", &format!("/api/v2/dags/{dag_id}"), None) {
            Ok(d) => d,
            Err(e) if e.not_found() => {
                // Not (yet) parsed. If its file fails to import, say so now.
                let file = find_dag_file(dags_dir, dag_id);
                if let Some(errs) = self.import_errors_for(file.as_deref())? {
                    return Ok(Probe::Failed(anyhow!(
                        "DAG {dag_id} has import errors:\n{errs}"
                    )));
                }
                return Ok(Probe::Pending(match file {
                    Some(f) => format!("{dag_id} (in {f}) not parsed yet"),
                    None => format!("no file in {} mentions {dag_id}", dags_dir.display()),
                }));
            }
            Err(e) => return Err(e),
        };
        let rel = dag
            .relative_fileloc
            .clone()
            .unwrap_or_else(|| file_name(&dag.fileloc));
        let local = dags_dir.join(&rel);
        let Ok(deployed) = std::fs::read(&local) else {
            return Ok(Probe::Pending(format!(
                "Airflow knows {dag_id} from {rel}, which {} does not have (waiting for a re-parse)",
                dags_dir.display()
            )));
        };
        let want = hex::encode(Sha256::digest(&deployed));
        if let Some(errs) = self.import_errors_for(Some(&rel))? {
            return Ok(Probe::Failed(anyhow!(
                "DAG {dag_id} ({rel}) has import errors:\n{errs}"
            )));
        }
        let src: DagSource =
            self.call_once("GET", &format!("/api/v2/dagSources/{dag_id}"), None)?;
        let got = src
            .content
            .as_deref()
            .map(|c| hex::encode(Sha256::digest(c.as_bytes())));
        if got.as_deref() != Some(want.as_str()) {
            return Ok(Probe::Pending(format!(
                "Airflow's parsed version {} of {rel} is not the deployed file yet",
                src.version_number
                    .map(|v| v.to_string())
                    .unwrap_or("?".into())
            )));
        }
        Ok(Probe::Ready(ParsedDag {
            version: src.version_number,
            file: rel,
            sha256: want,
        }))
    }

    /// Import errors of one DAG file (errors of other files are not ours).
    fn import_errors_for(&self, file: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(file) = file else { return Ok(None) };
        let all: ImportErrors = self.call_once("GET", "/api/v2/importErrors", None)?;
        Ok(import_errors_of(&all.import_errors, file))
    }

    pub fn trigger(&self, dag_id: &str, run_id: &str) -> Result<String> {
        let v: Value = self.call(
            "POST",
            &format!("/api/v2/dags/{dag_id}/dagRuns"),
            Some(&json!({"dag_run_id": run_id, "logical_date": null, "conf": {}})),
        )?;
        Ok(v["dag_run_id"].as_str().unwrap_or(run_id).to_string())
    }

    /// The task's log (Airflow 3 answers structured JSON lines).
    pub fn task_log(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        try_number: u64,
    ) -> Result<String> {
        let v: TaskLog = self.call(
            "GET",
            &format!(
                "/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{}?full_content=true",
                try_number.max(1)
            ),
            None,
        )?;
        Ok(log_text(&v.content))
    }

    /// Follow a run to its end, one progress line per task. Transient API
    /// errors are ridden out within the retry budget (a 30-minute run is not
    /// lost to one dropped connection).
    ///
    /// The run's state is asked for every 200 ms (its end is what the rest of
    /// the phase waits for), its task instances at most every 400 ms (for
    /// the progress lines; the larger answer) and once more at the end.
    pub fn follow(
        &self,
        dag_id: &str,
        run_id: &str,
        limit: Duration,
    ) -> Result<(String, Vec<TaskOutcome>)> {
        let me = self.clone();
        let (dag_id, run_id) = (dag_id.to_string(), run_id.to_string());
        let activity = Activity::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut started = BTreeSet::new();
        let mut transient_since: Option<Instant> = None;
        let mut tasks_seen_at: Option<Instant> = None;
        let budget = self.retry_budget;
        supervise::wait(
            &format!("DAG run {run_id}"),
            limit,
            Duration::from_millis(200),
            move || {
                let look = me
                    .call_once::<DagRun>(
                        "GET",
                        &format!("/api/v2/dags/{dag_id}/dagRuns/{run_id}"),
                        None,
                    )
                    .and_then(|run| {
                        let ended = run.state == "success" || run.state == "failed";
                        if !ended && tasks_seen_at.is_some_and(|t| t.elapsed() < TASKS_EVERY) {
                            return Ok((run.state, None));
                        }
                        let tis: TaskInstances = me.call_once(
                            "GET",
                            &format!("/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"),
                            None,
                        )?;
                        tasks_seen_at = Some(Instant::now());
                        Ok((run.state, Some(tis.task_instances)))
                    });
                let (state, tasks) = match look {
                    Ok(x) => {
                        transient_since = None;
                        x
                    }
                    Err(e) if e.transient() => {
                        let since = *transient_since.get_or_insert_with(Instant::now);
                        return if since.elapsed() > budget {
                            Probe::Failed(anyhow!(e).context(format!(
                                "Airflow's API kept failing for {}s",
                                budget.as_secs()
                            )))
                        } else {
                            Probe::Pending(e.to_string())
                        };
                    }
                    Err(e) => return Probe::Failed(e.into()),
                };
                for t in tasks.iter().flatten() {
                    let st = t.state.clone().unwrap_or_else(|| "none".into());
                    if seen.insert(t.task_id.clone(), st.clone()).as_deref() == Some(st.as_str()) {
                        continue;
                    }
                    let label = format!("task {}", t.task_id);
                    match st.as_str() {
                        "running" | "queued" | "scheduled" | "deferred" | "up_for_retry"
                            if started.insert(t.task_id.clone()) =>
                        {
                            activity.start(&t.task_id, &label)
                        }
                        "success" => activity.finish(&t.task_id, &label, "success", false),
                        "failed" | "upstream_failed" | "skipped" => {
                            activity.finish(&t.task_id, &label, &st, st != "skipped")
                        }
                        _ => {}
                    }
                }
                if state == "success" || state == "failed" {
                    let tasks = tasks.unwrap_or_default();
                    Probe::Ready((state, tasks.iter().map(outcome).collect()))
                } else {
                    Probe::Pending(format!("run {state}"))
                }
            },
        )
    }
}

fn outcome(t: &TaskInstance) -> TaskOutcome {
    TaskOutcome {
        task_id: t.task_id.clone(),
        state: t.state.clone().unwrap_or_else(|| "none".into()),
        duration_s: t.duration,
        try_number: t.try_number.max(1),
        log_file: None,
        log_tail: String::new(),
    }
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The stack traces of `file`'s import errors. Airflow names files relative
/// to the DAG bundle, or absolute: compare by path suffix.
fn import_errors_of(errors: &[ImportError], file: &str) -> Option<String> {
    let file = file.trim_start_matches("./");
    let errs: Vec<&str> = errors
        .iter()
        .filter(|e| {
            let f = e.filename.trim_start_matches("./");
            !f.is_empty() && (f == file || f.ends_with(&format!("/{file}")))
        })
        .map(|e| e.stack_trace.as_str())
        .collect();
    (!errs.is_empty()).then(|| errs.join("\n"))
}

/// The file under `dags_dir` that defines `dag_id` (the first one whose text
/// names it in quotes), relative to `dags_dir`.
pub fn find_dag_file(dags_dir: &Path, dag_id: &str) -> Option<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "__pycache__") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|e| e == "py") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dags_dir, &mut files);
    let quoted = [format!("\"{dag_id}\""), format!("'{dag_id}'")];
    files.into_iter().find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        quoted
            .iter()
            .any(|q| text.contains(q.as_str()))
            .then(|| {
                p.strip_prefix(dags_dir)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
            .flatten()
    })
}

/// Airflow 3 log content: a list of structured records, or plain text.
pub fn log_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    let ts = o.get("timestamp").and_then(Value::as_str).unwrap_or("");
                    let lvl = o.get("level").and_then(Value::as_str).unwrap_or("");
                    let ev = o.get("event").and_then(Value::as_str).unwrap_or("");
                    format!("{ts} {lvl} {ev}").trim().to_string()
                }
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
