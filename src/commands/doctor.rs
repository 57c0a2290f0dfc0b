//! `doctor`: the tools found and their versions, podman's engine choices and
//! an internal network end to end; each problem with its fix.

use crate::cli::Target;
use crate::paths;
use anyhow::Result;
use serde_json::json;

pub fn run(json_out: bool) -> Result<i32> {
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
            println!(
                "{} {:<17} {}",
                if c.ok { "ok     " } else { "BAD    " },
                c.name,
                c.found
            );
            if !c.ok {
                println!("        fix: {}", c.fix);
            }
        }
    }
    Ok(if missing || engine_bad { 1 } else { 0 })
}
