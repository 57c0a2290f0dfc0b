//! `list`: the envs under $SHADOWOPS_HOME with status and time left.

use crate::env::{self, Status};
use crate::lease;
use anyhow::Result;
use serde_json::json;

pub fn run(json_out: bool, all: bool) -> Result<i32> {
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
            .map(|s| json!({"env": s.env, "target": s.target, "status": s.status, "expires_at": s.expires_at.map(lease::rfc3339), "time_left_s": s.time_left().map(|d| d.as_secs()), "owner": s.owner}))
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
                lease::format_left(s.time_left())
            },
            s.owner
        );
    }
    Ok(0)
}
