//! Local-target specifics the driver does before Terraform (subnet, images)
//! and after it (sweeping leftovers by label), plus bake and image pruning.

use crate::env::{self, EnvDir, EnvState};
use crate::paths;
use crate::supervise::{self, Cmd};
use crate::ui;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub fn containers_conf(assets: &Path) -> PathBuf {
    assets.join("podman/containers.conf")
}

pub fn podman(assets: &Path) -> Cmd {
    Cmd::new("podman")
        .env("CONTAINERS_CONF", containers_conf(assets))
        // One podman call (inspect, rm, commit) is seconds; a hung one must
        // not hold the env lock.
        .deadline(std::time::Duration::from_secs(600))
}

/// Image tags from `images/build.sh` (builds what is missing; cached by recipe hash).
#[derive(Debug, Deserialize)]
pub struct Images {
    pub host: String,
    pub warehouse: String,
    pub mail: String,
}

pub fn build_images(assets: &Path, log_dir: &Path) -> Result<Images> {
    let cmd = Cmd::new("bash")
        .arg(assets.join("images/build.sh"))
        .env("CONTAINERS_CONF", containers_conf(assets))
        .env("SHADOWOPS_CACHE", paths::cache())
        // debootstrap of three images on a cold machine: a few minutes.
        .deadline(std::time::Duration::from_secs(1800))
        .logs(
            log_dir.join("images.log"),
            log_dir.join("images.stderr.log"),
        )
        .capture();
    let out = supervise::run_ok(&cmd, |is_err, l| {
        if is_err {
            ui::info(&format!("  images: {l}"));
        }
    })
    .context("building the local base images")?;
    let json = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(json).with_context(|| {
        format!(
            "images/build.sh printed no image JSON (got {:?})",
            out.stdout
        )
    })
}

/// Pick a free /24 in 10.213.0.0/16: not used by any podman network nor by
/// another env under this home. Chosen once per env and kept in env.json.
pub fn allocate_subnet(assets: &Path, home: &Path, me: &str) -> Result<String> {
    let mut used = BTreeSet::new();
    let out = supervise::run_ok(
        &podman(assets)
            .args(["network", "ls", "--format", "json"])
            .capture(),
        |_, _| {},
    )?;
    let nets: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    for net in nets.as_array().into_iter().flatten() {
        for s in net["subnets"].as_array().into_iter().flatten() {
            if let Some(sub) = s["subnet"].as_str() {
                used.insert(sub.to_string());
            }
        }
    }
    for dir in env::all_envs(home)? {
        if dir.name.as_str() == me {
            continue;
        }
        if let Some(st) = dir.load_state()? {
            if st.status != env::Status::Destroyed {
                if let Some(s) = st.subnet_cidr {
                    used.insert(s);
                }
            }
        }
    }
    // Start from a hash of the name so parallel homes rarely collide.
    let seed = me
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
        % 250;
    for i in 0..250 {
        let n = 1 + (seed + i) % 250;
        let cidr = format!("10.213.{n}.0/24");
        if !used.contains(&cidr) {
            return Ok(cidr);
        }
    }
    bail!("no free /24 left in 10.213.0.0/16 for env {me}: destroy some envs (shadowops list)")
}

/// Remove containers and networks labelled for this env that Terraform no
/// longer knows about (state lost in a crash, resources made by hand...).
pub fn sweep_env(assets: &Path, env: &str) -> Result<usize> {
    let label = format!("label=shadowops.env={env}");
    let mut removed = 0;
    let ps = supervise::run(
        &podman(assets)
            .args(["ps", "-a", "-q", "--filter", &label])
            .capture(),
        |_, _| {},
    )?;
    let ids: Vec<&str> = ps.stdout.split_whitespace().collect();
    if !ids.is_empty() {
        supervise::run_ok(
            &podman(assets).args(["rm", "-f", "-t", "0"]).args(&ids),
            |_, _| {},
        )?;
        removed += ids.len();
    }
    let nets = supervise::run(
        &podman(assets)
            .args(["network", "ls", "-q", "--filter", &label])
            .capture(),
        |_, _| {},
    )?;
    for n in nets.stdout.split_whitespace() {
        supervise::run_ok(&podman(assets).args(["network", "rm", "-f", n]), |_, _| {})?;
        removed += 1;
    }
    Ok(removed)
}

#[derive(Deserialize)]
struct PsEntry {
    #[serde(rename = "Names", default)]
    names: Vec<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<std::collections::HashMap<String, String>>,
}

/// `reap`'s sweep: containers/networks with a past `shadowops.expires_at`
/// label whose env (under this home) is gone, destroyed or also expired.
pub fn sweep_expired(home: &Path, dry_run: bool) -> Result<usize> {
    if which::which("podman").is_err() {
        return Ok(0);
    }
    let assets = paths::assets()?;
    let now = SystemTime::now();
    let out = supervise::run(
        &podman(&assets)
            .args([
                "ps",
                "-a",
                "--filter",
                "label=shadowops.managed=true",
                "--format",
                "json",
            ])
            .capture(),
        |_, _| {},
    )?;
    let entries: Vec<PsEntry> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    let mut envs = BTreeSet::new();
    for e in entries {
        let labels = e.labels.unwrap_or_default();
        let (Some(env_name), Some(exp)) = (
            labels.get("shadowops.env"),
            labels.get("shadowops.expires_at"),
        ) else {
            continue;
        };
        let expired = humantime::parse_rfc3339_weak(exp)
            .map(|t| t <= now)
            .unwrap_or(false);
        if !expired {
            continue;
        }
        // An env that was extended carries the old label: trust its env.json.
        if let Ok(name) = env::EnvName::parse(env_name) {
            let dir = EnvDir::new(home, name);
            if let Some(st) = dir.load_state()? {
                let alive =
                    st.status != env::Status::Destroyed && st.expires_at.is_some_and(|t| t > now);
                if alive {
                    continue;
                }
            }
        }
        ui::debug(&format!(
            "expired container {:?} of env {env_name}",
            e.names
        ));
        envs.insert(env_name.clone());
    }
    let mut failures = 0;
    for env_name in envs {
        if dry_run {
            println!("would remove leftover containers and network of env {env_name}");
            continue;
        }
        match sweep_env(&assets, &env_name) {
            Ok(n) => println!("swept {n} leftover container(s)/network(s) of env {env_name}"),
            Err(e) => {
                failures += 1;
                eprintln!("sweeping env {env_name}: {e:#}")
            }
        }
    }
    Ok(failures)
}

/// The tag `bake` records and `up --image baked` uses.
pub fn baked_tag_file() -> PathBuf {
    paths::cache().join("baked-host-image")
}

pub fn baked_image() -> Result<String> {
    let f = baked_tag_file();
    let tag = std::fs::read_to_string(&f).map_err(|_| {
        crate::error::Failure::usage(format!(
            "no baked image yet ({} missing): run `shadowops bake` first",
            f.display()
        ))
    })?;
    Ok(tag.trim().to_string())
}

pub fn prune_images() -> Result<i32> {
    let assets = paths::assets()?;
    let cmd = Cmd::new("bash")
        .arg(assets.join("images/build.sh"))
        .arg("--prune")
        .env("CONTAINERS_CONF", containers_conf(&assets));
    supervise::run_ok(&cmd, |_, l| eprintln!("{l}"))?;
    let _ = std::fs::remove_file(baked_tag_file());
    Ok(0)
}

/// Used by `up` for the local host image choice.
pub fn host_image(choice: crate::cli::ImageChoice, images: &Images) -> Result<String> {
    match choice {
        crate::cli::ImageChoice::Base => Ok(images.host.clone()),
        crate::cli::ImageChoice::Baked => baked_image(),
    }
}

#[allow(dead_code)]
pub fn state_subnet(state: &EnvState) -> Option<&str> {
    state.subnet_cidr.as_deref()
}
