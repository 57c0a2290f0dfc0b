//! Helpers shared by the integration tests: run the real `shadowops` binary
//! with its own SHADOWOPS_HOME, and build asset trees around fixtures.
#![allow(dead_code)]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shadowops"))
}

/// PATH with the project venv first (ansible, the terraform launcher).
pub fn path_with_venv() -> String {
    format!(
        "{}:{}",
        repo().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub assets: PathBuf,
    pub envs: Vec<(String, String)>,
}

impl Sandbox {
    /// Assets = the real repo.
    pub fn real() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("shadowops-test-")
            .tempdir()
            .unwrap();
        Sandbox {
            dir,
            assets: repo(),
            envs: Vec::new(),
        }
    }

    /// Assets whose terraform/local is the tf-contract fixture module (no
    /// containers), with the real templates, playbook and pipeline.
    pub fn fixture() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("shadowops-test-")
            .tempdir()
            .unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir_all(assets.join("terraform")).unwrap();
        std::fs::create_dir_all(assets.join("images")).unwrap();
        symlink(
            repo().join("tests/fixtures/tf-contract"),
            assets.join("terraform/local"),
        )
        .unwrap();
        symlink(
            repo().join("terraform/cli.tfrc"),
            assets.join("terraform/cli.tfrc"),
        )
        .unwrap();
        symlink(
            repo().join("tests/fixtures/images-stub/build.sh"),
            assets.join("images/build.sh"),
        )
        .unwrap();
        for d in ["ansible", "templates", "pipeline", "podman"] {
            symlink(repo().join(d), assets.join(d)).unwrap();
        }
        Sandbox {
            dir,
            assets,
            envs: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn env_dir(&self, env: &str) -> PathBuf {
        self.home().join("envs").join(env)
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("SHADOWOPS_HOME", self.home())
            .env("SHADOWOPS_ASSETS", &self.assets)
            .env("PATH", path_with_venv())
            .env("TF_CLI_CONFIG_FILE", repo().join("terraform/cli.tfrc"))
            .env_remove("CI")
            .env_remove("SHADOWOPS_ENV")
            .env_remove("SHADOWOPS_TERRAFORM")
            // The base image unless a test asks for the software cache
            // (`--image auto` would start background bakes in every test).
            .env("SHADOWOPS_IMAGE", "base");
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// The newest run directory of an env (panics when it has none).
    pub fn latest_run(&self, env: &str) -> PathBuf {
        latest_run(&self.env_dir(env)).expect("no run record")
    }

    /// Destroys `envs` when dropped, also when the test fails.
    pub fn cleanup(&self, envs: Vec<&'static str>) -> Cleanup<'_> {
        Cleanup { sb: self, envs }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd(args).output().expect("running shadowops");
        Run::from(out, args)
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub args: String,
}

impl Run {
    fn from(out: Output, args: &[&str]) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args: args.join(" "),
        }
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "`shadowops {}` exited {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Every regular file under `dir`.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            } else if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Destroys the named envs when dropped, so a failing test leaves nothing
/// running behind it (containers, networks, reapers).
pub struct Cleanup<'a> {
    pub sb: &'a Sandbox,
    pub envs: Vec<&'static str>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for env in &self.envs {
            let _ = self
                .sb
                .cmd(&["destroy", "--env", env])
                .env_remove("TF_VAR_fail_resource")
                .output();
        }
    }
}

/// Poll `f` until it holds (true) or `limit` passes (false): tests wait for
/// the event they need, never for a fixed time.
pub fn wait_for(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f()
}

/// The newest run directory of an env (run ids sort by time).
pub fn latest_run(env_dir: &Path) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(env_dir.join("runs"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    runs.sort();
    runs.pop()
}

/// Copy a directory tree (a pipeline folder to change in a test).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// `podman ARGS` with shadowops' containers.conf; its stdout.
pub fn podman(args: &[&str]) -> String {
    let out = Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", repo().join("podman/containers.conf"))
        .output()
        .expect("podman");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn contract(sb: &Sandbox, env: &str) -> serde_json::Value {
    json(&std::fs::read_to_string(sb.env_dir(env).join("contract.json")).unwrap())
}

/// psql against the env's warehouse, the password in a 0600 PGPASSFILE (never argv).
pub fn psql(sb: &Sandbox, env: &str, sql: &str) -> Result<String, String> {
    let c = contract(sb, env);
    let w = &c["warehouse"];
    let pgpass = sb.dir.path().join(format!("pgpass-{env}"));
    std::fs::write(
        &pgpass,
        format!("*:*:*:*:{}\n", w["password"].as_str().unwrap()),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            w["host"].as_str().unwrap(),
            "-p",
            &w["port"].to_string(),
            "-U",
            w["user"].as_str().unwrap(),
            "-d",
            w["database"].as_str().unwrap(),
            "-c",
            sql,
        ])
        .env("PGPASSFILE", &pgpass)
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .expect("psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Status of each task of a run's play (the last result per task name),
/// from the project's JSONL callback.
pub fn play_statuses(run: &Path) -> std::collections::HashMap<String, String> {
    let events: Vec<serde_json::Value> =
        std::fs::read_to_string(run.join("ansible-playbook.jsonl"))
            .unwrap_or_else(|e| panic!("no play events in {}: {e}", run.display()))
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect();
    task_statuses(&events)
}

/// Each task's status by name. A task the play holds twice (site.yml runs
/// Airflow's configuration first on a host that has its software, and skips
/// the same tasks later) reports what the copy that ran did: a `skipped`
/// never hides another status.
pub fn task_statuses(events: &[serde_json::Value]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for e in events.iter().filter(|e| e["event"] == "task_result") {
        let task = e["task"].as_str().unwrap_or("").to_string();
        let status = e["status"].as_str().unwrap_or("").to_string();
        match out.get(&task) {
            Some(seen) if status == "skipped" && seen != "skipped" => {}
            _ => {
                out.insert(task, status);
            }
        }
    }
    out
}
