//! `status`: phase, last error, resources in state, addresses, time left,
//! the last DAG run.

use super::existing;
use crate::ansible::render;
use crate::cli::Target;
use crate::contract::Shadow;
use crate::dag_run::PipelineRun;
use crate::env::{EnvDir, EnvState, Status};
use crate::lease;
use crate::paths;
use anyhow::Result;
use serde_json::json;

pub fn run(raw: &str, json_out: bool) -> Result<i32> {
    let dir = existing(raw)?;
    let state = dir.load_state()?.unwrap_or_default();
    let shadow = dir.contract().map(|s| render::masked(&s));
    let resources = if state.status != Status::Destroyed && dir.tfvars().exists() {
        let assets = paths::assets()?;
        let target = state.target.unwrap_or(Target::Local);
        crate::tools::require(target, false)
            .ok()
            .and_then(|tools| {
                crate::terraform::for_env(&dir, target, tools.terraform, &assets)
                    .state_list()
                    .ok()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let reaper_alive = state
        .reaper_pid
        .is_some_and(|p| lease::reaper_alive(p, raw));
    if json_out {
        print_json(&state, &shadow, &resources, reaper_alive)?;
        return Ok(0);
    }
    print!(
        "{}",
        text(raw, &dir, &state, &shadow, &resources, reaper_alive)?
    );
    Ok(0)
}

fn print_json(
    state: &EnvState,
    shadow: &Option<Shadow>,
    resources: &[String],
    reaper_alive: bool,
) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "env": state.env,
            "target": state.target,
            "status": state.status,
            "owner": state.owner,
            "expires_at": state.expires_at.map(lease::rfc3339),
            "time_left_s": state.time_left().map(|d| d.as_secs()),
            "reaper": {"pid": state.reaper_pid, "alive": reaper_alive},
            "phases": state.phases,
            "durations": state.durations,
            "last_failure": state.last_failure,
            "interrupted": state.interrupted,
            "last_run": state.last_run,
            "resources": resources,
            "host": shadow.as_ref().map(|s| &s.host),
            "airflow_url": shadow.as_ref().map(|s| &s.airflow.url),
            "warehouse": shadow.as_ref().map(|s| json!({"kind": s.warehouse.kind, "host": s.warehouse.host, "port": s.warehouse.port, "database": s.warehouse.database, "user": s.warehouse.user})),
            "pipeline": state.pipeline,
        }))?
    );
    Ok(())
}

fn text(
    raw: &str,
    dir: &EnvDir,
    state: &EnvState,
    shadow: &Option<Shadow>,
    resources: &[String],
    reaper_alive: bool,
) -> Result<String> {
    let mut out = String::new();
    out.push_str(&format!(
        "env:       {} (target {})\n",
        state.env,
        state.target.map(|t| t.as_str()).unwrap_or("-")
    ));
    out.push_str(&format!(
        "status:    {}\n",
        serde_json::to_value(state.status)?.as_str().unwrap_or("?")
    ));
    let done: Vec<&str> = crate::report::Phase::UP
        .iter()
        .map(|p| p.as_str())
        .filter(|p| state.phases.contains_key(*p))
        .collect();
    out.push_str(&format!(
        "completed: {}\n",
        if done.is_empty() {
            "-".into()
        } else {
            done.join(", ")
        }
    ));
    if let Some(f) = &state.last_failure {
        out.push_str(&format!(
            "last error: {} phase: {} (run {})\n",
            f.phase,
            f.message.lines().next().unwrap_or(""),
            f.run
        ));
    }
    if state.interrupted {
        out.push_str("interrupted: yes (run `shadowops up` to resume)\n");
    }
    out.push_str(&format!(
        "expires:   {} ({} left; reaper {})\n",
        state
            .expires_at
            .map(lease::rfc3339)
            .unwrap_or_else(|| "-".into()),
        lease::format_left(state.time_left()),
        match (state.reaper_pid, reaper_alive) {
            (Some(p), true) => format!("pid {p}"),
            (Some(p), false) =>
                format!("pid {p} gone — `shadowops reap` will collect it once expired"),
            (None, _) => "not armed".into(),
        }
    ));
    if let Some(s) = &shadow {
        out.push_str(&format!(
            "host:      ssh {}@{} -p {} (shadowops ssh --env {raw})\n",
            s.host.ssh_user, s.host.address, s.host.ssh_port
        ));
        out.push_str(&format!(
            "warehouse: {} {}:{} db {} user {}\n",
            s.warehouse.kind,
            s.warehouse.host,
            s.warehouse.port,
            s.warehouse.database,
            s.warehouse.user
        ));
        out.push_str(&format!(
            "airflow:   {} (admin password in {})\n",
            s.airflow.url,
            dir.airflow_password_file().display()
        ));
    }
    if !resources.is_empty() {
        out.push_str(&format!(
            "resources: {} in Terraform state\n",
            resources.len()
        ));
        for r in resources {
            out.push_str(&format!("  - {r}\n"));
        }
    }
    if !state.durations.is_empty() {
        let d: Vec<String> = crate::report::Phase::UP
            .iter()
            .filter_map(|p| {
                state
                    .durations
                    .get(p.as_str())
                    .map(|v| format!("{p} {v:.1}s"))
            })
            .collect();
        out.push_str(&format!("durations: {}\n", d.join(", ")));
    }
    if let Some(p) = &state.pipeline {
        out.push_str(&pipeline_lines(p));
    }
    if let Some(r) = &state.last_run {
        out.push_str(&format!(
            "last run:  {r} ({})\n",
            dir.runs_dir().join(r).display()
        ));
    }
    Ok(out)
}

fn pipeline_lines(p: &PipelineRun) -> String {
    let mut out = format!(
        "pipeline:  {} {} (e-mail {})\n",
        p.run_id,
        p.state,
        match p.email_seen {
            Some(true) => "received",
            Some(false) => "NOT received",
            None => "not checked",
        }
    );
    for t in &p.tasks {
        let d = t
            .duration_s
            .map(|d| format!("{d:.1}s"))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!("  {:<20} {:<15} {d}\n", t.task_id, t.state));
    }
    out
}
