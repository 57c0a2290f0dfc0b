//! Events of the `shadowops_jsonl` stdout callback (ansible/plugins/callback).

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        #[serde(default)]
        playbook: String,
    },
    PlayStart {
        #[serde(default)]
        play: String,
    },
    TaskStart {
        task: String,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        path: Option<String>,
    },
    TaskResult(TaskResult),
    Stats {
        hosts: BTreeMap<String, HostStats>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct TaskResult {
    pub status: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub task: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default)]
    pub stdout_tail: Option<String>,
    #[serde(default)]
    pub stderr_tail: Option<String>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    #[serde(default)]
    pub ignore_errors: bool,
}

#[derive(Debug, Deserialize, PartialEq, Clone, Default, serde::Serialize)]
pub struct HostStats {
    #[serde(default)]
    pub ok: u64,
    #[serde(default)]
    pub changed: u64,
    #[serde(default)]
    pub failures: u64,
    #[serde(default)]
    pub unreachable: u64,
    #[serde(default)]
    pub skipped: u64,
}

pub fn parse(line: &str) -> Option<Event> {
    serde_json::from_str(line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callback_lines() {
        let r = parse(r#"{"event":"task_result","status":"failed","host":"shadow","task":"r : Install R","role":"r","msg":"No package matching 'x'","stdout_tail":"","stderr_tail":"E: boom","duration_s":1.5,"ignore_errors":false}"#).unwrap();
        match r {
            Event::TaskResult(t) => {
                assert_eq!(t.status, "failed");
                assert_eq!(t.msg.as_deref(), Some("No package matching 'x'"));
            }
            other => panic!("{other:?}"),
        }
        let s = parse(r#"{"event":"stats","hosts":{"shadow":{"ok":3,"changed":0,"failures":0,"unreachable":0,"skipped":1,"rescued":0,"ignored":0}}}"#).unwrap();
        assert!(matches!(s, Event::Stats { .. }));
        assert_eq!(parse(r#"{"event":"something_new"}"#), Some(Event::Other));
        assert_eq!(parse("PLAY [x] ****"), None);
    }
}
