//! Terraform's machine-readable UI (`-json`): one JSON object per line.

use crate::report::Detail;
use serde_json::Value;

#[derive(Debug, PartialEq)]
pub enum Event {
    /// A resource operation started (create, delete, update...).
    Start {
        addr: String,
        action: String,
    },
    Complete {
        addr: String,
        action: String,
        elapsed: f64,
    },
    Errored {
        addr: String,
        action: String,
    },
    /// A line of provisioner output.
    ProvisionOutput {
        addr: String,
        output: String,
    },
    Diagnostic {
        severity: String,
        detail: Detail,
    },
    ChangeSummary {
        add: u64,
        change: u64,
        remove: u64,
        operation: String,
    },
    Other,
}

pub fn parse(line: &str) -> Option<Event> {
    let v: Value = serde_json::from_str(line).ok()?;
    let ty = v.get("type")?.as_str()?;
    let hook = &v["hook"];
    let addr = || hook["resource"]["addr"].as_str().unwrap_or("").to_string();
    let action = || hook["action"].as_str().unwrap_or("").to_string();
    Some(match ty {
        "apply_start" => Event::Start {
            addr: addr(),
            action: action(),
        },
        "apply_complete" => Event::Complete {
            addr: addr(),
            action: action(),
            elapsed: hook["elapsed_seconds"].as_f64().unwrap_or(0.0),
        },
        "apply_errored" => Event::Errored {
            addr: addr(),
            action: action(),
        },
        "provision_progress" => Event::ProvisionOutput {
            addr: addr(),
            output: hook["output"].as_str().unwrap_or("").to_string(),
        },
        "diagnostic" => {
            let d = &v["diagnostic"];
            let range = &d["range"];
            let location = range["filename"]
                .as_str()
                .map(|f| format!("{f}:{}", range["start"]["line"].as_u64().unwrap_or(0)));
            Event::Diagnostic {
                severity: d["severity"].as_str().unwrap_or("").to_string(),
                detail: Detail::Terraform {
                    address: d["address"].as_str().map(str::to_string),
                    summary: d["summary"].as_str().unwrap_or("").to_string(),
                    detail: d["detail"].as_str().unwrap_or("").to_string(),
                    location,
                },
            }
        }
        "change_summary" => {
            let c = &v["changes"];
            Event::ChangeSummary {
                add: c["add"].as_u64().unwrap_or(0),
                change: c["change"].as_u64().unwrap_or(0),
                remove: c["remove"].as_u64().unwrap_or(0),
                operation: c["operation"].as_str().unwrap_or("").to_string(),
            }
        }
        _ => Event::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_events_we_use() {
        let start = r#"{"@level":"info","@message":"terraform_data.host: Creating...","type":"apply_start","hook":{"resource":{"addr":"terraform_data.host","resource_type":"terraform_data"},"action":"create"}}"#;
        assert_eq!(
            parse(start),
            Some(Event::Start {
                addr: "terraform_data.host".into(),
                action: "create".into()
            })
        );
        let diag = r#"{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"local-exec provisioner error","detail":"Error running command 'false': exit status 1.","address":"terraform_data.warehouse","range":{"filename":"main.tf","start":{"line":40}}}}"#;
        match parse(diag) {
            Some(Event::Diagnostic {
                severity,
                detail:
                    Detail::Terraform {
                        address,
                        summary,
                        location,
                        ..
                    },
            }) => {
                assert_eq!(severity, "error");
                assert_eq!(address.as_deref(), Some("terraform_data.warehouse"));
                assert_eq!(summary, "local-exec provisioner error");
                assert_eq!(location.as_deref(), Some("main.tf:40"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("not json"), None);
    }
}
