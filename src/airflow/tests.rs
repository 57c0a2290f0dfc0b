//! The client against a stub Airflow: a real HTTP server on 127.0.0.1 whose
//! answers each test scripts, counting what it was asked.

use super::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Handler = dyn Fn(&str, &str, usize) -> (u16, String) + Send + Sync;

/// Serves until the test ends; `handler(method, path, nth call of that path)`.
struct Stub {
    base: String,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    fn start(handler: impl Fn(&str, &str, usize) -> (u16, String) + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = calls.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let nth = {
                    let mut c = seen.lock().unwrap();
                    c.push(format!("{method} {path}"));
                    c.iter()
                        .filter(|x| **x == format!("{method} {path}"))
                        .count()
                };
                let (code, text) = handler(&method, &path, nth);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Stub { base, calls }
    }
    fn count(&self, what: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with(what))
            .count()
    }
}

const DAG_V2: &str = "with DAG(dag_id=\"demo\") as dag: pass  # v2\n";
const DAG_V1: &str = "with DAG(dag_id=\"demo\") as dag: pass  # v1\n";

fn dags_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("demo.py"), DAG_V2).unwrap();
    std::fs::write(d.path().join("other.py"), "broken = (\n").unwrap();
    d
}

fn dag_json(paused: bool) -> String {
    json!({"dag_id": "demo", "is_paused": paused, "fileloc": "/opt/airflow/dags/demo.py",
           "relative_fileloc": "demo.py"})
    .to_string()
}

/// The DAG's source as Airflow serves it: `content` parsed as `version`.
fn source(content: &str, version: u32) -> String {
    json!({"content": content, "dag_id": "demo", "version_number": version}).to_string()
}

/// An Airflow that parsed `content` as `version` of DAG demo, without
/// import errors.
fn parsed_as(content: &'static str, version: u32, paused: bool) -> Stub {
    Stub::start(move |m, p, _| match (m, p) {
        ("GET", "/api/v2/dags/demo") => (200, dag_json(paused)),
        ("GET", "/api/v2/importErrors") => (200, json!({"import_errors": []}).to_string()),
        ("GET", "/api/v2/dagSources/demo") => (200, source(content, version)),
        _ => (404, "{}".into()),
    })
}

fn fast(a: Airflow) -> Airflow {
    a.with_retry_budget(Duration::from_secs(5))
}

/// What the pipeline phase does once the tests passed: parsed, then unpaused.
fn wait_dag(a: &Airflow, dir: &Path, limit: Duration) -> Result<ParsedDag> {
    let parsed = a.wait_parsed("demo", dir, limit, Arc::default())?;
    a.unpause("demo")?;
    Ok(parsed)
}

#[test]
fn import_errors_of_another_file_are_not_the_dags() {
    let dir = dags_dir();
    let stub = Stub::start(|m, p, _| {
        match (m, p) {
        ("GET", "/api/v2/dags/demo") => (200, dag_json(true)),
        ("PATCH", "/api/v2/dags/demo") => (200, dag_json(false)),
        ("GET", "/api/v2/importErrors") => (200, json!({"import_errors": [
            {"filename": "other.py", "stack_trace": "SyntaxError in other.py"}], "total_entries": 1}).to_string()),
        ("GET", "/api/v2/dagSources/demo") => (200, source(DAG_V2, 2)),
        _ => (404, "{}".into()),
    }
    });
    let parsed = wait_dag(
        &fast(Airflow::new(&stub.base)),
        dir.path(),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(parsed.version, Some(2));
    assert_eq!(parsed.file, "demo.py");
    // Only the DAG under test is unpaused.
    assert_eq!(stub.count("PATCH /api/v2/dags/demo"), 1);
    assert_eq!(stub.count("PATCH"), 1);
}

#[test]
fn import_errors_of_the_dags_own_file_fail_at_once() {
    let dir = dags_dir();
    let stub = Stub::start(|m, p, _| match (m, p) {
        ("GET", "/api/v2/importErrors") => (
            200,
            json!({"import_errors": [
            {"filename": "demo.py", "stack_trace": "NameError: name 'DAG' is not defined"}]})
            .to_string(),
        ),
        _ => (404, "{\"detail\": \"not found\"}".into()),
    });
    let started = Instant::now();
    let err = wait_dag(
        &fast(Airflow::new(&stub.base)),
        dir.path(),
        Duration::from_secs(30),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = format!("{err:#}");
    assert!(
        text.contains("NameError") && text.contains("import errors"),
        "{text}"
    );
}

#[test]
fn a_changed_dag_is_triggered_only_after_airflow_parsed_the_new_file() {
    let dir = dags_dir();
    let stub = Stub::start(|m, p, nth| match (m, p) {
        ("GET", "/api/v2/dags/demo") => (200, dag_json(false)),
        ("GET", "/api/v2/importErrors") => (200, json!({"import_errors": []}).to_string()),
        // The old version three times, then the deployed one.
        ("GET", "/api/v2/dagSources/demo") if nth <= 3 => (200, source(DAG_V1, 1)),
        ("GET", "/api/v2/dagSources/demo") => (200, source(DAG_V2, 2)),
        _ => (404, "{}".into()),
    });
    let parsed = wait_dag(
        &fast(Airflow::new(&stub.base)),
        dir.path(),
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(parsed.version, Some(2), "ran the old version");
    assert_eq!(stub.count("GET /api/v2/dagSources/demo"), 4);
    // Never the previous version: a wait that ends first is an error.
    let stub = parsed_as(DAG_V1, 1, false);
    let err = wait_dag(
        &fast(Airflow::new(&stub.base)),
        dir.path(),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("not the deployed file"),
        "{err:#}"
    );
}

#[test]
fn only_the_deployed_version_counts_as_parsed_now_and_import_errors_are_no_verdict() {
    let dir = dags_dir();
    // Parsed from the deployed file: no reserialize needed.
    let stub = parsed_as(DAG_V2, 2, true);
    let parsed = fast(Airflow::new(&stub.base)).parsed_now("demo", dir.path());
    assert_eq!(parsed.map(|p| p.version), Some(Some(2)));
    // One look, and nothing unpaused by it.
    assert_eq!(stub.count("GET /api/v2/dagSources/demo"), 1);
    assert_eq!(stub.count("PATCH"), 0);
    // An older version, or import errors (maybe of an older version of the
    // file): not parsed now, whatever the cause; the caller reparses.
    let stub = parsed_as(DAG_V1, 1, true);
    assert!(fast(Airflow::new(&stub.base))
        .parsed_now("demo", dir.path())
        .is_none());
    let stub = Stub::start(|m, p, _| match (m, p) {
        ("GET", "/api/v2/importErrors") => (
            200,
            json!({"import_errors": [{"filename": "demo.py", "stack_trace": "NameError"}]})
                .to_string(),
        ),
        _ => (404, "{}".into()),
    });
    assert!(fast(Airflow::new(&stub.base))
        .parsed_now("demo", dir.path())
        .is_none());
}

#[test]
fn a_wait_for_the_parse_ends_when_told_to_stop() {
    let dir = dags_dir();
    let stub = parsed_as(DAG_V1, 1, true);
    let stop = Arc::new(AtomicBool::new(false));
    let a = fast(Airflow::new(&stub.base));
    let waiting = {
        let stop = stop.clone();
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || a.wait_parsed("demo", &dir, Duration::from_secs(60), stop))
    };
    while stub.count("GET /api/v2/dagSources/demo") == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let err = waiting.join().unwrap().unwrap_err();
    assert!(format!("{err:#}").contains("no longer waiting"), "{err:#}");
    assert_eq!(stub.count("PATCH"), 0);
}

#[test]
fn warming_up_asks_the_task_api_once() {
    let stub = Stub::start(|m, p, _| match (m, p) {
        ("GET", "/execution/health") => (200, json!({"status": "healthy"}).to_string()),
        _ => (404, "{}".into()),
    });
    fast(Airflow::new(&stub.base)).warm_up().unwrap();
    assert_eq!(stub.count("GET /execution/health"), 1);
    // An API server without it: an error to log, not to retry.
    let stub = Stub::start(|_, _, _| (503, "{}".into()));
    assert!(fast(Airflow::new(&stub.base)).warm_up().is_err());
    assert_eq!(stub.count("GET /execution/health"), 1);
}

#[test]
fn a_401_is_not_retried() {
    let stub = Stub::start(|_, _, _| (401, "{\"detail\": \"Invalid credentials\"}".into()));
    let mut a = fast(Airflow::new(&stub.base));
    let started = Instant::now();
    let err = a.login("admin", "wrong").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        format!("{err:#}").contains("refused the credentials"),
        "{err:#}"
    );
    assert_eq!(stub.count("POST /auth/token"), 1);
}

#[test]
fn a_503_while_following_a_run_is_retried() {
    let polls = Arc::new(AtomicUsize::new(0));
    let p2 = polls.clone();
    let stub = Stub::start(move |m, p, nth| match (m, p) {
        ("GET", "/api/v2/dags/demo/dagRuns/r1") if nth == 2 || nth == 3 => {
            (503, "{\"detail\": \"busy\"}".into())
        }
        ("GET", "/api/v2/dags/demo/dagRuns/r1") => {
            let n = p2.fetch_add(1, Ordering::SeqCst);
            let state = if n >= 2 { "success" } else { "running" };
            (200, json!({"state": state}).to_string())
        }
        ("GET", "/api/v2/dags/demo/dagRuns/r1/taskInstances") => (
            200,
            json!({"task_instances": [
            {"task_id": "extract", "state": "success", "duration": 1.5, "try_number": 1}]})
            .to_string(),
        ),
        _ => (404, "{}".into()),
    });
    let (state, tasks) = fast(Airflow::new(&stub.base))
        .follow("demo", "r1", Duration::from_secs(20))
        .unwrap();
    assert_eq!(state, "success");
    assert_eq!(tasks[0].task_id, "extract");
    assert!(
        stub.count("GET /api/v2/dags/demo/dagRuns/r1 ")
            + stub.count("GET /api/v2/dags/demo/dagRuns/r1")
            >= 5
    );
}

#[test]
fn following_asks_for_the_run_often_and_for_its_tasks_less_often_and_at_the_end() {
    let stub = Stub::start(|m, p, nth| match (m, p) {
        ("GET", "/api/v2/dags/demo/dagRuns/r1") => {
            let state = if nth > 8 { "success" } else { "running" };
            (200, json!({"state": state}).to_string())
        }
        ("GET", "/api/v2/dags/demo/dagRuns/r1/taskInstances") => (
            200,
            json!({"task_instances": [
            {"task_id": "notify", "state": if nth > 1 { "success" } else { "running" },
             "duration": 0.1, "try_number": 1}]})
            .to_string(),
        ),
        _ => (404, "{}".into()),
    });
    let (state, tasks) = fast(Airflow::new(&stub.base))
        .follow("demo", "r1", Duration::from_secs(20))
        .unwrap();
    assert_eq!(state, "success");
    // The outcome comes from task instances read after the run ended.
    assert_eq!(tasks[0].state, "success");
    let tis = stub.count("GET /api/v2/dags/demo/dagRuns/r1/taskInstances");
    let runs = stub.count("GET /api/v2/dags/demo/dagRuns/r1") - tis;
    assert_eq!(runs, 9);
    assert!((2..runs).contains(&tis), "{tis} task instance reads");
}

#[test]
fn a_404_while_following_is_not_retried_forever() {
    let stub = Stub::start(|_, _, _| (404, "{\"detail\": \"no such run\"}".into()));
    let started = Instant::now();
    let err = fast(Airflow::new(&stub.base))
        .follow("demo", "r1", Duration::from_secs(20))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(format!("{err:#}").contains("404"), "{err:#}");
}

#[test]
fn finds_the_file_that_defines_a_dag() {
    let dir = dags_dir();
    assert_eq!(
        find_dag_file(dir.path(), "demo").as_deref(),
        Some("demo.py")
    );
    assert_eq!(find_dag_file(dir.path(), "absent"), None);
}

#[test]
fn structured_log_content_is_flattened() {
    let v = json!([{"timestamp": "t1", "level": "info", "event": "hello"}, "plain"]);
    assert_eq!(log_text(&v), "t1 info hello\nplain");
}
