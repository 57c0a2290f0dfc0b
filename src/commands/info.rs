//! Read-mostly commands: status, list, plan, inventory, logs, ssh, doctor.

use super::existing;
use crate::ansible::render;
use crate::cli::Target;
use crate::contract::Shadow;
use crate::env::{self, EnvDir, Status};
use crate::error::Failure;
use crate::paths;
use crate::runrec;
use crate::ttl;
use anyhow::{Context, Result};
use serde_json::json;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

fn contract(dir: &EnvDir) -> Option<Shadow> {
    serde_json::from_slice(&std::fs::read(dir.root.join("contract.json")).ok()?).ok()
}

pub fn status(raw: &str, json_out: bool) -> Result<i32> {
    let dir = existing(raw)?;
    let state = dir.load_state()?.unwrap_or_default();
    let shadow = contract(&dir).map(|s| render::masked(&s));
    let resources = if state.status != Status::Destroyed && dir.tfvars().exists() {
        let assets = paths::assets()?;
        let target = state.target.unwrap_or(Target::Local);
        crate::tools::require(target, false)
            .ok()
            .and_then(|tools| {
                super::env_terraform(&dir, target, tools.terraform, &assets)
                    .state_list()
                    .ok()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let reaper_alive = state.reaper_pid.is_some_and(|p| ttl::reaper_alive(p, raw));
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "env": state.env,
                "target": state.target,
                "status": state.status,
                "owner": state.owner,
                "expires_at": state.expires_at.map(ttl::rfc3339),
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
        return Ok(0);
    }
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
            .map(ttl::rfc3339)
            .unwrap_or_else(|| "-".into()),
        ttl::format_left(state.time_left()),
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
        for r in &resources {
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
        out.push_str(&format!(
            "pipeline:  {} {} (e-mail {})\n",
            p["run_id"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?"),
            match p["email_seen"].as_bool() {
                Some(true) => "received",
                Some(false) => "NOT received",
                None => "not checked",
            }
        ));
        for t in p["tasks"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  {:<20} {:<15} {}\n",
                t["task_id"].as_str().unwrap_or("?"),
                t["state"].as_str().unwrap_or("?"),
                t["duration_s"]
                    .as_f64()
                    .map(|d| format!("{d:.1}s"))
                    .unwrap_or_else(|| "-".into())
            ));
        }
    }
    if let Some(r) = &state.last_run {
        out.push_str(&format!(
            "last run:  {r} ({})\n",
            dir.runs_dir().join(r).display()
        ));
    }
    print!("{out}");
    Ok(0)
}

pub fn list(json_out: bool, all: bool) -> Result<i32> {
    let home = env::home()?;
    let mut rows = Vec::new();
    for dir in env::all_envs(&home)? {
        let Some(st) = dir.load_state()? else {
            continue;
        };
        if st.status == Status::Destroyed && !all {
            continue;
        }
        rows.push(st);
    }
    if json_out {
        let v: Vec<_> = rows
            .iter()
            .map(|s| json!({"env": s.env, "target": s.target, "status": s.status, "expires_at": s.expires_at.map(ttl::rfc3339), "time_left_s": s.time_left().map(|d| d.as_secs()), "owner": s.owner}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!("no envs under {}", home.display());
        return Ok(0);
    }
    println!(
        "{:<30} {:<7} {:<13} {:<12} OWNER",
        "ENV", "TARGET", "STATUS", "TIME LEFT"
    );
    for s in rows {
        println!(
            "{:<30} {:<7} {:<13} {:<12} {}",
            s.env,
            s.target.map(|t| t.as_str()).unwrap_or("-"),
            serde_json::to_value(s.status)?.as_str().unwrap_or("?"),
            if s.status == Status::Destroyed {
                "-".into()
            } else {
                ttl::format_left(s.time_left())
            },
            s.owner
        );
    }
    Ok(0)
}

pub fn plan(raw: &str, target: Target) -> Result<i32> {
    let dir = existing(raw).map_err(|_| {
        Failure::usage(format!(
            "env {raw:?} has no inputs yet: `shadowops up --env {raw} --until provision` generates them (plan reads an env's recorded variables)"
        ))
    })?;
    if !dir.tfvars().exists() {
        return Err(Failure::usage(format!(
            "env {raw} has no terraform.tfvars.json (destroyed?)"
        )));
    }
    let state = dir.load_state()?.unwrap_or_default();
    let target = state.target.unwrap_or(target);
    let assets = paths::assets()?;
    let tools = crate::tools::require(target, false)?;
    let tf = super::env_terraform(&dir, target, tools.terraform, &assets);
    let tmp = std::env::temp_dir().join(format!("shadowops-plan-{}", std::process::id()));
    tf.init(&tmp)?;
    let _ = std::fs::remove_dir_all(&tmp);
    let done = tf.plan()?;
    Ok(done.code().unwrap_or(1))
}

pub fn inventory(raw: &str, write: bool) -> Result<i32> {
    let dir = existing(raw)?;
    let shadow = contract(&dir).ok_or_else(|| {
        Failure::usage(format!("env {raw} has no contract yet (it is written by the handoff phase: shadowops up --env {raw} --until provision)"))
    })?;
    let state = dir.load_state()?.unwrap_or_default();
    let assets = paths::assets()?;
    let pipeline = state
        .pipeline_src
        .unwrap_or_else(|| assets.join("pipeline/example"));
    let r = render::render(
        &assets.join("templates"),
        &render::masked(&shadow),
        &dir.known_hosts(),
        &pipeline,
        render::MASK,
    )?;
    println!(
        "# {}\n{}",
        dir.ansible_dir().join("inventory.yml").display(),
        r.inventory
    );
    println!(
        "# {}\n{}",
        dir.ansible_dir().join("vars.yml").display(),
        r.vars
    );
    println!(
        "# {} (mode 0600; values masked)\n{}",
        dir.ansible_dir().join("secrets.yml").display(),
        r.secrets
    );
    println!("# {}\n{}", dir.known_hosts().display(), r.known_hosts);
    if write {
        let pw = std::fs::read_to_string(dir.airflow_password_file())?
            .trim()
            .to_string();
        let real = render::render(
            &assets.join("templates"),
            &shadow,
            &dir.known_hosts(),
            &pipeline,
            &pw,
        )?;
        let files = render::write(&dir.ansible_dir(), &dir.known_hosts(), &real)?;
        let cmd = crate::ansible::run::Playbook::new(
            std::path::PathBuf::from("ansible-playbook"),
            &assets,
        )
        .command(&files, &[]);
        eprintln!(
            "wrote {} (secrets.yml is 0600); to run the play by hand:",
            dir.ansible_dir().display()
        );
        eprintln!(
            "  ANSIBLE_CONFIG={} {}",
            assets.join("ansible/ansible.cfg").display(),
            cmd.display()
        );
    }
    Ok(0)
}

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

pub fn logs(
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

pub fn ssh(raw: &str, cmd: Vec<String>) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let dir = existing(raw)?;
    let shadow = contract(&dir).ok_or_else(|| {
        Failure::usage(format!(
            "env {raw} has no host yet (not provisioned, or destroyed)"
        ))
    })?;
    let mut c = std::process::Command::new("ssh");
    c.arg("-i")
        .arg(&shadow.host.ssh_private_key_file)
        .arg("-p")
        .arg(shadow.host.ssh_port.to_string())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            dir.known_hosts().display()
        ))
        .arg("-o")
        .arg("StrictHostKeyChecking=yes")
        .arg("-o")
        .arg("IdentitiesOnly=yes")
        .arg(format!("{}@{}", shadow.host.ssh_user, shadow.host.address));
    if !cmd.is_empty() {
        c.arg("--").args(&cmd);
    }
    // Replace ourselves: the user's terminal talks to ssh directly.
    let err = c.exec();
    Err(err).context("running ssh")
}

pub fn doctor(json_out: bool) -> Result<i32> {
    let checks = crate::tools::check_all(Target::Local);
    let missing = checks.iter().any(|c| c.required && c.problem.is_some());
    // The engine checks need podman and the assets; without them the tool
    // checks above already say what to install.
    let engine = match (paths::assets(), missing) {
        (Ok(a), false) => crate::targets::local::engine_checks(&a),
        _ => Vec::new(),
    };
    let engine_bad = engine.iter().any(|c| !c.ok);
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": !missing && !engine_bad, "tools": checks, "engine": engine,
                        "assets": paths::assets().ok(), "cache": paths::cache()})
            )?
        );
    } else {
        for c in &checks {
            let state = match (&c.problem, c.required) {
                (None, _) => "ok     ",
                (Some(_), true) => "MISSING",
                (Some(_), false) => "absent ",
            };
            println!(
                "{state} {:<17} {:<45} {}",
                c.name,
                c.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "-".into()),
                c.version.as_deref().unwrap_or("")
            );
            if let Some(p) = &c.problem {
                println!("        {p}\n        install: {}", c.install);
            }
        }
        match paths::assets() {
            Ok(a) => println!("ok      assets            {}", a.display()),
            Err(e) => println!("MISSING assets            {e}"),
        }
        println!("        cache             {}", paths::cache().display());
        for c in &engine {
            println!("{} {:<17} {}", if c.ok { "ok     " } else { "BAD    " }, c.name, c.found);
            if !c.ok {
                println!("        fix: {}", c.fix);
            }
        }
    }
    Ok(if missing || engine_bad { 1 } else { 0 })
}
