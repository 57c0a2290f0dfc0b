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

#[allow(dead_code)]
pub fn state_subnet(state: &EnvState) -> Option<&str> {
    state.subnet_cidr.as_deref()
}

/// One check of what the local target assumes about podman on this machine.
#[derive(Debug, serde::Serialize)]
pub struct EngineCheck {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub found: String,
    /// What to do when not ok.
    pub fix: String,
}

/// `doctor`'s engine checks: every podman choice the local target relies on
/// (network backend, runtime, cgroup manager, events logger), the rlimits
/// the containers ask for, and a throwaway --internal network whose gateway
/// a container reaches. Each failing check says what to install or change.
pub fn engine_checks(assets: &Path) -> Vec<EngineCheck> {
    let conf = containers_conf(assets);
    let setup = "run scripts/setup-local.sh (make tools)".to_string();
    let info = supervise::run_ok(
        &podman(assets)
            .args(["info", "--format", "json"])
            .capture()
            .deadline(std::time::Duration::from_secs(60)),
        |_, _| {},
    );
    let info: serde_json::Value = match info {
        Ok(out) => serde_json::from_str(&out.stdout).unwrap_or_default(),
        Err(e) => {
            return vec![EngineCheck {
                name: "podman info",
                ok: false,
                found: format!("{e:#}"),
                fix: setup,
            }]
        }
    };
    let host = &info["host"];
    let field = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let expect = |name, found: String, want: &str, why: &str| EngineCheck {
        name,
        ok: found == want,
        fix: format!(
            "{why}: set it to \"{want}\" in {} and {setup}",
            conf.display()
        ),
        found,
    };
    let mut checks = vec![
        expect(
            "network backend",
            field(&host["networkBackend"]),
            "netavark",
            "an --internal CNI bridge gets no address, so this machine cannot reach its containers ([network] network_backend)",
        ),
        expect(
            "OCI runtime",
            field(&host["ociRuntime"]["name"]),
            "runc",
            "crun refuses this kernel's hybrid cgroups ([engine] runtime)",
        ),
        expect(
            "cgroup manager",
            field(&host["cgroupManager"]),
            "cgroupfs",
            "PID 1 is not systemd here ([engine] cgroup_manager)",
        ),
        expect(
            "events logger",
            field(&host["eventLogger"]),
            "file",
            "there is no journald here ([engine] events_logger)",
        ),
    ];
    checks.push(ulimit_check(&conf));
    checks.push(internal_network_check(assets));
    checks
}

/// The containers ask for explicit nofile/nproc limits (root may not raise
/// its own here); they must fit under this machine's hard limits.
fn ulimit_check(conf: &Path) -> EngineCheck {
    use nix::sys::resource::{getrlimit, Resource};
    let want = [
        (Resource::RLIMIT_NOFILE, "nofile", 20000u64),
        (Resource::RLIMIT_NPROC, "nproc", 32768),
    ];
    let mut found = Vec::new();
    let mut ok = true;
    for (res, name, need) in want {
        let hard = getrlimit(res).map(|(_, h)| h).unwrap_or(0);
        found.push(format!("{name} hard {hard} (containers ask {need})"));
        ok &= hard >= need;
    }
    EngineCheck {
        name: "ulimits",
        ok,
        found: found.join(", "),
        fix: format!(
            "lower default_ulimits in {} to at most the hard limits shown",
            conf.display()
        ),
    }
}

/// Create a throwaway --internal network, start a container on it from the
/// base image, and have it open a TCP connection to a listener of ours on
/// the gateway address: the path every env's apt proxy and SSH rely on.
fn internal_network_check(assets: &Path) -> EngineCheck {
    let name = "internal network";
    let fix =
        "podman must use netavark (see the network backend check); then run shadowops doctor again"
            .to_string();
    let image = supervise::run_ok(
        &podman(assets)
            .args([
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                "reference=localhost/shadowops-base",
            ])
            .capture(),
        |_, _| {},
    )
    .ok()
    .and_then(|o| o.stdout.lines().next().map(str::to_string));
    let Some(image) = image else {
        return EngineCheck {
            name,
            ok: true,
            found: "not checked: no base image yet (the first `up` builds it)".into(),
            fix,
        };
    };
    let net = format!("shadowops-doctor-{}", std::process::id());
    let outcome = probe_internal_network(assets, &net, &image);
    let _ = supervise::run(
        &podman(assets).args(["rm", "-f", "-t", "0", &net]).capture(),
        |_, _| {},
    );
    let _ = supervise::run(
        &podman(assets).args(["network", "rm", "-f", &net]).capture(),
        |_, _| {},
    );
    match outcome {
        Ok(found) => EngineCheck {
            name,
            ok: true,
            found,
            fix,
        },
        Err(e) => EngineCheck {
            name,
            ok: false,
            found: format!("{e:#}"),
            fix,
        },
    }
}

fn probe_internal_network(assets: &Path, net: &str, image: &str) -> Result<String> {
    use std::time::Duration;
    let home = env::home()?;
    let subnet = allocate_subnet(assets, &home, net)?;
    let base = subnet.trim_end_matches(".0/24");
    let (gateway, ip) = (format!("{base}.1"), format!("{base}.2"));
    supervise::run_ok(
        &podman(assets)
            .args([
                "network",
                "create",
                "--internal",
                "--subnet",
                &subnet,
                "--gateway",
                &gateway,
                net,
            ])
            .capture(),
        |_, _| {},
    )?;
    supervise::run_ok(
        &podman(assets)
            .args([
                "run",
                "-d",
                "--name",
                net,
                "--network",
                net,
                "--ip",
                &ip,
                "--timeout",
                "60",
                image,
                "sleep",
                "60",
            ])
            .capture(),
        |_, _| {},
    )?;
    // The bridge has its address once a container is attached.
    let gw = gateway.clone();
    let listener = supervise::wait(
        &format!("gateway address {gateway} on this machine"),
        Duration::from_secs(3),
        Duration::from_millis(100),
        move || match std::net::TcpListener::bind((gw.as_str(), 0)) {
            Ok(l) => supervise::Probe::Ready(l),
            Err(e) => supervise::Probe::Pending(e.to_string()),
        },
    )?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    supervise::run_ok(
        &podman(assets)
            .args([
                "exec",
                net,
                "bash",
                "-c",
                &format!("exec 3<>/dev/tcp/{gateway}/{port}"),
            ])
            .capture()
            .deadline(Duration::from_secs(10)),
        |_, _| {},
    )
    .context("the container could not connect to the gateway")?;
    match listener.accept() {
        Ok(_) => Ok(format!(
            "a container on {subnet} reached this machine at {gateway}"
        )),
        Err(e) => Err(anyhow::anyhow!(
            "no connection arrived on {gateway}:{port}: {e}"
        )),
    }
}
