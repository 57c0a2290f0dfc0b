//! `shadowops doctor` against this machine's real podman: every engine
//! choice is checked, and a CNI backend (what a new Debian 12 machine falls
//! back to without netavark) is named with its fix.

use std::path::Path;
use std::process::Command;

fn podman_ready() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn doctor(assets: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowops"))
        .args(["doctor", "--json"])
        .env("SHADOWOPS_ASSETS", assets)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["engine"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no engine check {name}: {v:#}"))
}

#[test]
#[ignore = "needs podman and the local base image; run by `make test`"]
fn doctor_checks_every_engine_choice_and_names_a_cni_backend() {
    if !podman_ready() {
        panic!("podman is not installed: run scripts/setup-local.sh");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, v) = doctor(repo);
    for name in [
        "network backend",
        "OCI runtime",
        "cgroup manager",
        "events logger",
        "ulimits",
        "internal network",
    ] {
        assert_eq!(check(&v, name)["ok"], true, "{name}: {:#}", check(&v, name));
    }
    assert_eq!(code, 0, "{v:#}");

    // The same assets with a containers.conf that names no network backend:
    // podman falls back to what it recorded, CNI on a machine like a new one.
    let t = tempfile::tempdir().unwrap();
    for d in ["terraform", "ansible", "images"] {
        std::os::unix::fs::symlink(repo.join(d), t.path().join(d)).unwrap();
    }
    std::fs::create_dir(t.path().join("podman")).unwrap();
    let conf = std::fs::read_to_string(repo.join("podman/containers.conf")).unwrap();
    let cni = conf.split("[network]").next().unwrap().to_string()
        + "[network]\nnetwork_backend = \"cni\"\n";
    std::fs::write(t.path().join("podman/containers.conf"), cni).unwrap();
    let (code, v) = doctor(t.path());
    assert_eq!(code, 1, "{v:#}");
    let backend = check(&v, "network backend");
    assert_eq!(backend["ok"], false);
    assert_eq!(backend["found"], "cni");
    assert!(backend["fix"].as_str().unwrap().contains("netavark"));
    let net = check(&v, "internal network");
    assert_eq!(net["ok"], false, "{net:#}");
    // The throwaway network and container are gone again.
    let nets = Command::new("podman")
        .args(["network", "ls", "--format", "{{.Name}}"])
        .env("CONTAINERS_CONF", t.path().join("podman/containers.conf"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&nets.stdout).contains("shadowops-doctor-"));
}
