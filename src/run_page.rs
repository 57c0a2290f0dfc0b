//! `runs/<id>/run.html`: one self-contained page per `up` or `compare` run
//! that a person opens from CI artifacts: the phase timeline as bars, the
//! pipeline's tests and tasks with durations and links to their logs, the
//! success e-mail, the failure if any, and every file of the run record.
//! No external assets; every value escaped.

use crate::compare::report::escape;
use crate::dag_run::PipelineRun;
use crate::report::FailureReport;
use crate::runrec::Summary;
use anyhow::Result;
use std::path::{Path, PathBuf};

pub fn write(
    run_dir: &Path,
    summary: &Summary,
    pipeline: Option<&PipelineRun>,
    failure: Option<&FailureReport>,
) -> Result<PathBuf> {
    let path = run_dir.join("run.html");
    std::fs::write(&path, render(run_dir, summary, pipeline, failure))?;
    Ok(path)
}

fn render(
    run_dir: &Path,
    s: &Summary,
    pipeline: Option<&PipelineRun>,
    failure: Option<&FailureReport>,
) -> String {
    let mut h = String::new();
    let ok = s.exit_code == 0;
    h.push_str(&format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>shadowops {} {}: {}</title><style>{CSS}</style></head><body>",
        escape(&s.env),
        escape(&s.command),
        escape(&s.outcome)
    ));
    h.push_str(&format!(
        "<h1>shadowops {} <span class=\"{}\">{}</span></h1><p>env <b>{}</b>, run <code>{}</code>, started {}, {:.1}s, exit {}</p>",
        escape(&s.command),
        if ok { "ok" } else { "bad" },
        escape(&s.outcome),
        escape(&s.env),
        escape(&s.run),
        escape(&s.started_at),
        s.total_s,
        s.exit_code
    ));
    if let Some(f) = failure {
        h.push_str(&format!(
            "<h2>Failure</h2><pre class=\"bad\">{}</pre>",
            escape(&f.render())
        ));
    }
    // The timeline: each phase a bar at its offset, as wide as its duration.
    let total: f64 = s
        .phases
        .iter()
        .map(|p| p.duration_s)
        .sum::<f64>()
        .max(0.001);
    h.push_str("<h2>Phases</h2><div class=\"timeline\">");
    let mut at = 0.0;
    for p in &s.phases {
        let left = 100.0 * at / total;
        let width = (100.0 * p.duration_s / total).max(0.5);
        h.push_str(&format!(
            "<div class=\"row\"><span class=\"label\">{}</span><span class=\"track\"><span class=\"bar {}\" style=\"margin-left:{left:.2}%;width:{width:.2}%\"></span></span><span class=\"num\">{:.1}s {}</span></div>",
            escape(p.phase.as_str()),
            if p.outcome == "ok" { "ok" } else { "bad" },
            p.duration_s,
            escape(&p.outcome)
        ));
        at += p.duration_s;
    }
    h.push_str("</div>");
    if let Some(run) = pipeline {
        if !run.tests.is_empty() {
            h.push_str("<h2>The pipeline's tests</h2><table><tr><th>file</th><th>test</th><th>outcome</th><th>s</th><th>message</th></tr>");
            for t in &run.tests {
                h.push_str(&format!(
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                    if t.failed() { "bad" } else { "" },
                    escape(&t.file),
                    escape(&t.test),
                    escape(&t.outcome),
                    t.seconds,
                    escape(&t.message)
                ));
            }
            h.push_str("</table>");
        }
        h.push_str(&format!(
            "<h2>DAG {} run <code>{}</code>: {}</h2><table><tr><th>task</th><th>state</th><th>s</th><th>log</th></tr>",
            escape(&run.dag_id),
            escape(&run.run_id),
            escape(&run.state)
        ));
        for t in &run.tasks {
            let log = t
                .log_file
                .as_ref()
                .and_then(|f| f.file_name())
                .map(|n| {
                    let n = n.to_string_lossy();
                    format!("<a href=\"{}\">{}</a>", escape(&n), escape(&n))
                })
                .unwrap_or_default();
            h.push_str(&format!(
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{log}</td></tr>",
                if t.state == "success" { "" } else { "bad" },
                escape(&t.task_id),
                escape(&t.state),
                t.duration_s.map(|d| format!("{d:.1}")).unwrap_or_default()
            ));
        }
        h.push_str("</table>");
        match (&run.email_seen, &run.email_subject) {
            (Some(true), Some(subject)) => h.push_str(&format!(
                "<h2>Success e-mail</h2><p class=\"ok\">{}</p><pre>{}</pre>",
                escape(subject),
                escape(run.email_summary.as_deref().unwrap_or(""))
            )),
            (Some(false), _) => h.push_str(
                "<h2>Success e-mail</h2><p class=\"bad\">not received: do not deploy</p>",
            ),
            _ => {}
        }
    }
    if run_dir.join("compare/compare.html").is_file() {
        h.push_str("<h2>Comparison</h2><p><a href=\"compare/compare.html\">compare.html</a></p>");
    }
    h.push_str("<h2>Run record</h2><ul>");
    let mut files: Vec<String> = std::fs::read_dir(run_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "run.html")
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for f in files {
        h.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>",
            escape(&f),
            escape(&f)
        ));
    }
    h.push_str("</ul></body></html>\n");
    h
}

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}\
code,pre{font:12px ui-monospace,monospace}pre{background:#f6f6f6;padding:.8em;white-space:pre-wrap}\
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}\
.ok{color:#176b2c}.bad{color:#a11}tr.bad td{background:#fdecec}\
.timeline .row{display:flex;align-items:center;margin:.2em 0}.label{width:7em}\
.track{flex:1;background:#f0f0f0;height:1em;display:flex}.bar{display:block;height:1em;background:#4a7bd0}\
.bar.bad{background:#c33}.num{width:10em;text-align:right;font-variant-numeric:tabular-nums}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Phase;
    use crate::runrec::PhaseSummary;

    #[test]
    fn the_page_has_the_phases_tasks_and_escapes_values() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("task-load.log"), "x").unwrap();
        let s = Summary {
            run: "r1".into(),
            command: "up".into(),
            env: "demo".into(),
            started_at: "2026-12-07T00:00:00Z".into(),
            finished_at: None,
            outcome: "ok".into(),
            exit_code: 0,
            phases: vec![
                PhaseSummary {
                    phase: Phase::Configure,
                    outcome: "ok".into(),
                    duration_s: 30.0,
                    note: None,
                },
                PhaseSummary {
                    phase: Phase::Pipeline,
                    outcome: "ok".into(),
                    duration_s: 10.0,
                    note: None,
                },
            ],
            total_s: 40.0,
            driver_overhead_s: 0.0,
            airflow_boot: None,
        };
        let run = PipelineRun {
            dag_id: "d".into(),
            run_id: "<script>".into(),
            state: "success".into(),
            duration_s: 1.0,
            tasks: vec![crate::dag_run::TaskOutcome {
                task_id: "load".into(),
                state: "success".into(),
                duration_s: Some(2.0),
                try_number: 1,
                log_file: Some(t.path().join("task-load.log")),
                log_tail: String::new(),
            }],
            tests: Vec::new(),
            email_seen: Some(true),
            email_subject: Some("ok & done".into()),
            email_summary: None,
        };
        let p = write(t.path(), &s, Some(&run), None).unwrap();
        let html = std::fs::read_to_string(p).unwrap();
        assert!(html.contains("configure") && html.contains("width:75.00%"));
        assert!(html.contains("<a href=\"task-load.log\">"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("ok &amp; done"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
