//! End to end, issue 12 (Ansible side): no secret reaches an R task's
//! environment, the env directory or a baked image; the converge shortcut
//! sees every change (an -e value, an extra CRAN package, a symlinked
//! pipeline file's target, a removed file); a play killed in the middle of an
//! install is followed by an `up` that converges. Slow (minutes each), so
//! `cargo test` skips them; run one at a time:
//! `cargo test --release --test e2e_hardening -- --include-ignored --test-threads 1`.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The host files that hold an env's own secrets and settings (the play's
/// `shadow_env_files`).
const ENV_FILES: [&str; 7] = [
    "/etc/airflow/airflow.cfg",
    "/etc/airflow/airflow.env",
    "/etc/airflow/connections.json",
    "/etc/airflow/variables.json",
    "/opt/airflow/simple_auth_manager_passwords.json",
    "/etc/shadowops/warehouse.dcf",
    "/etc/shadowops/warehouse.pgpass",
];

fn podman(args: &[&str]) -> (i32, String) {
    let out = Command::new("podman")
        .args(args)
        .env("CONTAINERS_CONF", repo().join("podman/containers.conf"))
        .output()
        .expect("podman");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A shell command on the env's host as root, through `shadowops ssh`.
fn host_sh(sb: &Sandbox, env: &str, cmd: &str) -> (i32, String) {
    let out = sb
        .cmd(&[
            "ssh",
            "--env",
            env,
            "--",
            &format!("sudo sh -c {}", sh_quote(cmd)),
        ])
        .output()
        .expect("shadowops ssh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn runs(sb: &Sandbox, env: &str) -> Vec<PathBuf> {
    let mut ids: Vec<_> = std::fs::read_dir(sb.env_dir(env).join("runs"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The callback's events (one JSON object per line).
fn events(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .collect()
}

/// Status of each task of a play (the last result per task name).
fn run_statuses(run: &Path) -> std::collections::HashMap<String, String> {
    play_statuses(run)
}

#[track_caller]
fn assert_status(tasks: &std::collections::HashMap<String, String>, task: &str, want: &[&str]) {
    let got = tasks.get(task).map(String::as_str).unwrap_or("(not run)");
    assert!(
        want.contains(&got),
        "{task}: {got}, wanted one of {want:?}\n{tasks:?}"
    );
}

/// Every secret value of an env: its generated passwords (secrets/ and
/// ansible/secrets.yml), the private halves of its SSH keys, and the keys the
/// play derived on the host (airflow.cfg, read by `read_host`).
fn env_secrets(env_dir: &Path, airflow_cfg: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files_under(&env_dir.join("secrets")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if f.extension().is_some_and(|x| x == "json") {
            if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&text) {
                for v in m.values() {
                    if let Some(s) = v.as_str() {
                        out.insert(s.to_string());
                    }
                }
            }
        } else {
            out.insert(text.trim().to_string());
        }
    }
    let yml = std::fs::read_to_string(env_dir.join("ansible/secrets.yml")).unwrap_or_default();
    for line in yml.lines().filter(|l| !l.starts_with('#')) {
        if let Some((_, v)) = line.split_once(": ") {
            if let Ok(serde_json::Value::String(s)) = serde_json::from_str(v.trim()) {
                out.insert(s);
            }
        }
    }
    for key in ["id_ed25519", "ssh_host_ed25519_key"] {
        let text = std::fs::read_to_string(env_dir.join("keys").join(key)).unwrap_or_default();
        // The base64 body lines of the OpenSSH private key that hold the
        // private half: the first line is a header every such key shares,
        // the second the public key.
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("-----")).collect();
        for l in body.iter().skip(2) {
            out.insert(l.trim().to_string());
        }
    }
    for line in airflow_cfg.lines() {
        for key in ["fernet_key", "secret_key", "jwt_secret"] {
            if let Some(v) = line.strip_prefix(&format!("{key} = ")) {
                out.insert(v.trim().replace("%%", "%"));
            }
        }
    }
    // Short or empty values (an empty SMTP password locally) prove nothing.
    out.retain(|s| s.len() >= 8);
    out
}

/// Files under `root` that contain any of `secrets`, as relative paths.
fn files_holding(root: &Path, secrets: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for f in files_under(root) {
        let Ok(data) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&data);
        for s in secrets {
            if text.contains(s.as_str()) {
                let rel = f.strip_prefix(root).unwrap().display().to_string();
                hits.push((rel, format!("{}...", &s[..4])));
            }
        }
    }
    hits
}

/// A copy of the example pipeline whose R entry point first writes the
/// task's whole environment (names and values) to /tmp on the host.
fn env_dumping_pipeline(dir: &Path) -> PathBuf {
    let p = dir.join("pipeline-envdump");
    copy_tree(&repo().join("pipeline/example"), &p);
    let run_r = p.join("R/run.R");
    let original = std::fs::read_to_string(&run_r).unwrap();
    std::fs::write(
        &run_r,
        format!(
            "# test fixture (tests/e2e_hardening.rs): this R task's environment, for the secrets check\n\
             try(local({{ e <- Sys.getenv(); writeLines(paste0(names(e), \"=\", e), \
             sprintf(\"/tmp/shadowops-r-env-%s.txt\", commandArgs(TRUE)[1])) }}), silent = TRUE)\n{original}"
        ),
    )
    .unwrap();
    p
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_secrets_stay_out_of_r_tasks_the_env_dir_and_the_baked_image() {
    let sb = Sandbox::real();
    let env = "hsec";
    let _cleanup = sb.cleanup(vec![env, "bake", "hsecb"]);
    let pipeline = env_dumping_pipeline(sb.dir.path());
    let r = sb.run(&[
        "up",
        "--env",
        env,
        "--ttl",
        "45m",
        "--pipeline",
        pipeline.to_str().unwrap(),
    ]);
    r.expect(0);
    assert!(r.stdout.contains("e-mail: received"), "{}", r.stdout);

    let (code, cfg) = host_sh(&sb, env, "cat /etc/airflow/airflow.cfg");
    assert_eq!(code, 0, "{cfg}");
    let secrets = env_secrets(&sb.env_dir(env), &cfg);
    assert!(
        secrets.len() >= 5,
        "too few secrets found to prove anything: {}",
        secrets.len()
    );

    // 1. The R tasks' environment: none of the service's secrets, by name or value.
    for task in ["extract", "analyse", "load"] {
        let (code, dump) = host_sh(&sb, env, &format!("cat /tmp/shadowops-r-env-{task}.txt"));
        assert_eq!(code, 0, "no environment dump of R task {task}: {dump}");
        assert!(dump.contains("SHADOW_WAREHOUSE_SETTINGS="), "{dump}");
        for name in [
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW_CONN_",
        ] {
            assert!(
                !dump.lines().any(|l| l.starts_with(name)),
                "R task {task} inherits {name}"
            );
        }
        for s in &secrets {
            assert!(
                !dump.contains(s.as_str()),
                "R task {task}'s environment holds a secret ({}...)",
                &s[..4]
            );
        }
    }
    // Files the services only read: 0640 root:airflow.
    let (_, modes) = host_sh(
        &sb,
        env,
        "stat -c '%n %a %U:%G' /etc/airflow/airflow.cfg /etc/airflow/airflow.env /etc/airflow/connections.json /etc/airflow/variables.json /etc/shadowops/warehouse.dcf",
    );
    for line in modes.lines() {
        assert!(line.ends_with(" 640 root:airflow"), "{modes}");
    }

    // 2. The env directory, outside the owner-only secret stores.
    let dir = sb.env_dir(env);
    let allowed = |rel: &str| {
        ["secrets/", "keys/", "local/secrets/", "tf/"]
            .iter()
            .any(|p| rel.starts_with(p))
            || ["contract.json", "ansible/secrets.yml"].contains(&rel)
    };
    for (rel, which) in files_holding(&dir, &secrets) {
        assert!(allowed(&rel), "{rel} holds a secret ({which})");
        let mode = std::fs::metadata(dir.join(&rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{rel} holds a secret and is {mode:o}");
    }
    sb.run(&["destroy", "--env", env]).expect(0);

    // 3. bake: capture the bake env's secrets while it lives (its env dir
    //    goes with it), then scan the image it made.
    let mut bake = sb
        .cmd(&["bake"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let bake_dir = sb.env_dir("bake");
    let mut bake_secrets = BTreeSet::new();
    let mut bake_cfg = String::new();
    while bake.try_wait().unwrap().is_none() {
        if bake_cfg.is_empty() {
            let (code, cfg) = podman(&[
                "exec",
                "shadowops-bake-host",
                "cat",
                "/etc/airflow/airflow.cfg",
            ]);
            if code == 0 && cfg.contains("jwt_secret = ") {
                bake_cfg = cfg;
            }
        }
        if bake_dir.join("ansible/secrets.yml").exists() {
            bake_secrets.extend(env_secrets(&bake_dir, &bake_cfg));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = bake.wait_with_output().unwrap();
    assert!(out.status.success(), "bake failed");
    bake_secrets.retain(|s| s.len() >= 8);
    assert!(
        !bake_cfg.is_empty() && bake_secrets.len() >= 5,
        "could not capture the bake env's secrets ({} found)",
        bake_secrets.len()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let tag = stdout.trim().lines().last().unwrap_or("").to_string();
    assert!(tag.starts_with("localhost/shadowops-host-baked:"), "{tag}");
    let (code, root) = podman(&["image", "mount", &tag]);
    assert_eq!(code, 0, "{root}");
    let root = PathBuf::from(root.trim());
    let patterns = sb.dir.path().join("bake-secrets.txt");
    std::fs::write(
        &patterns,
        bake_secrets.iter().cloned().collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    std::fs::set_permissions(&patterns, std::fs::Permissions::from_mode(0o600)).unwrap();
    let grep = Command::new("grep")
        .args(["-rlF", "-f"])
        .arg(&patterns)
        .arg(&root)
        .output()
        .unwrap();
    let leaks = String::from_utf8_lossy(&grep.stdout).into_owned();
    let present: Vec<&str> = ENV_FILES
        .iter()
        .copied()
        .filter(|f| root.join(f.trim_start_matches('/')).exists())
        .collect();
    podman(&["image", "unmount", &tag]);
    assert!(
        leaks.trim().is_empty(),
        "the baked image holds the bake env's secrets in:\n{leaks}"
    );
    assert!(present.is_empty(), "the baked image still has {present:?}");

    // 4. A host made from that image gets its own env's files and secrets.
    let r = sb.run(&["up", "--env", "hsecb", "--ttl", "30m", "--image", "baked"]);
    r.expect(0);
    assert!(r.stdout.contains("e-mail: received"), "{}", r.stdout);
    let tasks = run_statuses(&sb.latest_run("hsecb"));
    for t in [
        "airflow : Write Airflow's settings",
        "airflow : Write the pipeline's connections and variables",
        "pipeline : Write the warehouse settings for R and psql",
    ] {
        assert_status(&tasks, t, &["changed"]);
    }
    let (_, cfg) = host_sh(&sb, "hsecb", "cat /etc/airflow/airflow.cfg");
    let own = env_secrets(&sb.env_dir("hsecb"), &cfg);
    assert!(
        own.is_disjoint(&bake_secrets),
        "hsecb shares a secret with the bake env"
    );
    sb.run(&["destroy", "--env", "hsecb"]).expect(0);
}

/// `ansible-playbook` by hand, as `shadowops inventory --write` prints it,
/// with the project's JSONL callback and extra arguments; its events.
fn play_by_hand(sb: &Sandbox, env: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    sb.run(&["inventory", "--env", env, "--write"]).expect(0);
    let a = sb.env_dir(env).join("ansible");
    let out = Command::new(repo().join(".venv/bin/ansible-playbook"))
        .arg("-i")
        .arg(a.join("inventory.yml"))
        .arg("-e")
        .arg(format!("@{}", a.join("vars.yml").display()))
        .arg("-e")
        .arg(format!("@{}", a.join("secrets.yml").display()))
        .args(extra)
        .arg(repo().join("ansible/site.yml"))
        .env("ANSIBLE_CONFIG", repo().join("ansible/ansible.cfg"))
        .env("ANSIBLE_STDOUT_CALLBACK", "shadowops_jsonl")
        .env(
            "ANSIBLE_CALLBACK_PLUGINS",
            repo().join("ansible/plugins/callback"),
        )
        .env("PATH", path_with_venv())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ansible-playbook {extra:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    events(&stdout)
}

fn airflow_token(sb: &Sandbox, env: &str) -> (String, String) {
    let c = json(&std::fs::read_to_string(sb.env_dir(env).join("contract.json")).unwrap());
    let url = c["airflow"]["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let pw = std::fs::read_to_string(sb.env_dir(env).join("secrets/airflow-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    let token: serde_json::Value = ureq::post(&format!("{url}/auth/token"))
        .send_json(serde_json::json!({"username": "admin", "password": pw}))
        .unwrap()
        .into_json()
        .unwrap();
    (url, token["access_token"].as_str().unwrap().to_string())
}

fn dag_is_paused(url: &str, token: &str, dag: &str) -> Option<bool> {
    let start = Instant::now();
    loop {
        if let Ok(r) = ureq::get(&format!("{url}/api/v2/dags/{dag}"))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
        {
            let v: serde_json::Value = r.into_json().unwrap();
            return v["is_paused"].as_bool();
        }
        if start.elapsed() > Duration::from_secs(60) {
            return None;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_the_converge_shortcut_sees_every_change() {
    let sb = Sandbox::real();
    let env = "hconv";
    let _cleanup = sb.cleanup(vec![env]);
    // A pipeline whose R/analysis.R is a symlink to a file outside it, and
    // with a second, scheduled DAG that must stay paused.
    let pipeline = sb.dir.path().join("pipeline");
    copy_tree(&repo().join("pipeline/example"), &pipeline);
    let outside = sb.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.join("analysis.R");
    std::fs::rename(pipeline.join("R/analysis.R"), &target).unwrap();
    symlink(&target, pipeline.join("R/analysis.R")).unwrap();
    std::fs::write(
        pipeline.join("dags/other_scheduled.py"),
        "from airflow.providers.standard.operators.bash import BashOperator\n\
         from airflow.sdk import DAG\n\
         with DAG(dag_id=\"other_scheduled\", schedule=\"@hourly\", catchup=False):\n\
         \x20   BashOperator(task_id=\"noop\", bash_command=\"true\")\n",
    )
    .unwrap();
    let p = pipeline.to_str().unwrap();
    let up = |what: &str| {
        let r = sb.run(&["up", "--env", env, "--ttl", "45m", "--pipeline", p]);
        r.expect(0);
        assert!(
            r.stdout.contains("e-mail: received") || r.stderr.contains("unchanged since DAG run"),
            "{what}: {}",
            r.stdout
        );
        r
    };
    up("first up");
    let sha = |f: &str| {
        host_sh(
            &sb,
            env,
            &format!("test -f {f} && ! test -L {f} && sha256sum < {f}"),
        )
    };
    let want = |p: &Path| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    let (code, got) = sha("/opt/shadowops/pipeline/R/analysis.R");
    assert_eq!(code, 0, "the symlink was not deployed as a file: {got}");
    assert!(got.starts_with(&want(&target)), "{got}");
    // Only the DAG under test runs: the other DAG stays paused.
    let (url, token) = airflow_token(&sb, env);
    assert_eq!(dag_is_paused(&url, &token, "shadow_pipeline"), Some(false));
    assert_eq!(dag_is_paused(&url, &token, "other_scheduled"), Some(true));

    // 1. The symlink's target changes, and a DAG file is removed.
    let mut text = std::fs::read_to_string(&target).unwrap();
    text.push_str("\n# changed through the symlink's target\n");
    std::fs::write(&target, text).unwrap();
    std::fs::remove_file(pipeline.join("dags/other_scheduled.py")).unwrap();
    up("after changing the symlink's target");
    let tasks = run_statuses(&sb.latest_run(env));
    assert_status(
        &tasks,
        "pipeline : Unpack the pipeline code on the host",
        &["changed"],
    );
    assert_status(
        &tasks,
        "pipeline : Unpack the DAGs on the host",
        &["changed"],
    );
    let (_, got) = sha("/opt/shadowops/pipeline/R/analysis.R");
    assert!(got.starts_with(&want(&target)), "{got}");
    let (code, _) = host_sh(&sb, env, "test -e /opt/airflow/dags/other_scheduled.py");
    assert_ne!(
        code, 0,
        "a DAG removed from the pipeline is still on the host"
    );

    // 2. An -e value of a role default (no driver option passes -e: by hand).
    let e = play_by_hand(&sb, env, &["-e", "airflow_parallelism=2"]);
    let tasks = task_statuses(&e);
    assert_status(&tasks, "airflow : Write Airflow's settings", &["changed"]);
    assert!(
        e.iter().any(|e| e["event"] == "task_start"
            && e["task"]
                .as_str()
                .is_some_and(|t| t.ends_with("Restart Airflow"))),
        "Airflow was not restarted"
    );
    let (_, cfg) = host_sh(&sb, env, "grep '^parallelism' /etc/airflow/airflow.cfg");
    assert_eq!(cfg.trim(), "parallelism = 2");
    // The same again: nothing to do, the shortcut ends the play.
    let e = play_by_hand(&sb, env, &["-e", "airflow_parallelism=2"]);
    assert!(
        e.iter().any(|e| e["event"] == "task_start"
            && e["task"] == "End here when nothing changed since the last full run"),
        "{e:?}"
    );
    assert_status(
        &task_statuses(&e),
        "airflow : Write Airflow's settings",
        &["(not run)"],
    );

    // 3. An extra CRAN package (one Debian already ships: no network needed):
    //    the software shortcut is not taken and the CRAN check runs.
    let e = play_by_hand(
        &sb,
        env,
        &[
            "-e",
            r#"{"airflow_parallelism": 2, "r_extra_cran_packages": ["DBI"]}"#,
        ],
    );
    let tasks = task_statuses(&e);
    assert_status(
        &tasks,
        "r : Find the extra CRAN packages R cannot load",
        &["ok"],
    );
    assert_status(
        &tasks,
        "r : Install the missing extra CRAN packages",
        &["skipped"],
    );
    assert_status(
        &tasks,
        "airflow : Install Airflow and its providers",
        &["ok"],
    );

    // 4. Back to the driver's inputs: the hand runs' stamps do not fool it.
    up("back to the driver's inputs");
    let tasks = run_statuses(&sb.latest_run(env));
    assert_status(&tasks, "airflow : Write Airflow's settings", &["changed"]);
    let (_, cfg) = host_sh(&sb, env, "grep '^parallelism' /etc/airflow/airflow.cfg");
    assert_eq!(cfg.trim(), "parallelism = 4");
    sb.run(&["destroy", "--env", env]).expect(0);
}

/// Waits until the newest run of `env` started `task`; false if `up`
/// ended first or `limit` passed.
fn wait_task_start(
    sb: &Sandbox,
    env: &str,
    before: usize,
    task: &str,
    child: &mut std::process::Child,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let all = runs(sb, env);
        if all.len() > before {
            let text = std::fs::read_to_string(all.last().unwrap().join("ansible-playbook.jsonl"))
                .unwrap_or_default();
            if events(&text)
                .iter()
                .any(|e| e["event"] == "task_start" && e["task"] == task)
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// SIGKILL to the driver's process group and to that of every
/// ansible-playbook this env runs (the driver may give its children groups
/// of their own): everything on the controller dies at once.
fn kill_everything(child: &mut std::process::Child, inventory: &Path) {
    let mut groups = vec![child.id() as i32];
    let needle = inventory.display().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("ansible-playbook") && cmdline.contains(&needle) {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid pgrp ...
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_string()) {
                if let Some(pgrp) = rest.split_whitespace().nth(2).and_then(|s| s.parse().ok()) {
                    if !groups.contains(&pgrp) && pgrp > 1 {
                        groups.push(pgrp);
                    }
                }
            }
        }
    }
    for g in groups {
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{g}")])
            .status();
    }
    let _ = child.wait();
}

#[test]
#[ignore = "end to end on podman (minutes); run by `make test`"]
fn e2e_killed_in_the_middle_of_installs_a_second_up_converges() {
    let sb = Sandbox::real();
    let env = "hkill";
    let _cleanup = sb.cleanup(vec![env]);
    let spawn = || {
        sb.cmd(&["up", "--env", env, "--ttl", "45m"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let inventory = sb.env_dir(env).join("ansible/inventory.yml");

    // 1. Killed while the Airflow venv is being made and filled.
    let before = runs(&sb, env).len();
    let mut up = spawn();
    assert!(
        wait_task_start(
            &sb,
            env,
            before,
            "airflow : Install Airflow and its providers",
            &mut up,
            Duration::from_secs(300)
        ),
        "up never reached the Airflow install"
    );
    std::thread::sleep(Duration::from_millis(1500));
    kill_everything(&mut up, &inventory);
    let host = format!("shadowops-{env}-host");
    let marker = |when: &str| {
        let (code, _) = podman(&[
            "exec",
            &host,
            "test",
            "-f",
            "/opt/airflow/venv/.shadowops-complete",
        ]);
        eprintln!("Airflow venv complete {when}: {}", code == 0);
    };
    marker("right after the kill");

    // 2. Killed while R and Java install in the background (the longest
    //    install), and the host's dpkg killed too: an interrupted dpkg run.
    let before = runs(&sb, env).len();
    let mut up = spawn();
    assert!(
        wait_task_start(
            &sb,
            env,
            before,
            "Wait for R and Java",
            &mut up,
            Duration::from_secs(300)
        ),
        "up never reached the R install"
    );
    kill_everything(&mut up, &inventory);
    // dpkg unpacking or configuring (not apt's quick `dpkg --print-...` calls).
    let kill_dpkg = "for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = dpkg ] || continue; \
                     tr '\\0' ' ' < $d/cmdline | grep -qE -- '--(unpack|configure)' && kill -9 ${d#/proc/} && echo killed; done; true";
    let start = Instant::now();
    let mut interrupted = false;
    while start.elapsed() < Duration::from_secs(120) && !interrupted {
        interrupted = podman(&["exec", &host, "sh", "-c", kill_dpkg])
            .1
            .contains("killed");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("dpkg interrupted on the host: {interrupted}");

    // 3. A plain up converges to the e-mail; a second one changes nothing.
    let r = sb.run(&["up", "--env", env, "--ttl", "45m"]);
    r.expect(0);
    assert!(r.stdout.contains("e-mail: received"), "{}", r.stdout);
    let tasks = run_statuses(&sb.latest_run(env));
    for t in [
        "Finish an interrupted dpkg run",
        "airflow : Install uv",
        "airflow : Install Airflow and its providers",
    ] {
        eprintln!("third up: {t}: {:?}", tasks.get(t));
    }
    if interrupted {
        assert_status(&tasks, "Finish an interrupted dpkg run", &["changed"]);
    }
    let (code, out) = host_sh(
        &sb,
        env,
        "dpkg --audit; /opt/airflow/venv/bin/python -c 'import airflow'",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.trim().is_empty(), "dpkg still reports: {out}");
    sb.run(&["up", "--env", env, "--ttl", "45m", "--from", "configure"])
        .expect(0);
    let stats =
        json(&std::fs::read_to_string(sb.latest_run(env).join("ansible-stats.json")).unwrap());
    assert_eq!(stats["shadow"]["changed"], 0, "{stats}");
    sb.run(&["destroy", "--env", env]).expect(0);
    assert!(podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=shadowops.env={env}"),
        "--format",
        "{{.Names}}"
    ])
    .1
    .trim()
    .is_empty());
}
